//! Plain adds in LDAP transactions (RFC 5805), when `ldap.transactions` is on. A server that
//! supports them applies the adds of one transaction in one database transaction, which costs
//! OpenLDAP's back-mdb about a third less than a transaction per add: a first load's 100,000
//! entries go in batches of [`TXN_OPS`].
//!
//! A transaction is all or nothing, so it only ever carries adds of entries that should be new.
//! When the server refuses one (an entry already exists, a parent is missing), nothing of it is
//! applied and its adds are applied again one by one on the main connection, where each has its
//! own idempotent meaning (an add that finds the entry replaces its attributes).
//!
//! slapd 2.5.13 was seen to crash (segfault) soon after refusing a transaction into which adds
//! had been pipelined (about one run in ten of a test that makes it refuse one); with the adds of
//! a transaction queued one after the other it did not, in seventy runs. So adds are queued one
//! at a time, and two transactions run side by side on two connections of their own (one queues
//! while the server commits the other); a connection whose transaction was refused carries no
//! further request. A server without transactions is asked once; after that the sink does
//! without.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use futures_util::stream::{self, StreamExt};
use ldap3::Ldap;
use ldap3::controls::TxnSpec;
use ldap3::exop::{EndTxn, StartTxn};
use orgid_directory::target::ldap::{DirOp, QueuedOp};

use super::LdapSink;
use super::apply::NOT_ATTEMPTED;
use super::error::{SinkError, from_ldap_error, rc};

/// Adds per transaction.
pub const TXN_OPS: usize = 1000;
/// Fewer adds than this in a phase go one by one: a transaction costs a connection and two
/// extra round trips.
pub const TXN_MIN_OPS: usize = 32;

/// How a transaction ended.
enum Ended {
    Committed,
    /// Refused as a whole: nothing of it was applied.
    Refused,
    /// The server has no transactions: nothing was sent.
    Unsupported,
}

impl LdapSink {
    /// Whether `op` may go in a transaction: a plain add of a new entry.
    pub(crate) fn txn_candidate(op: &QueuedOp) -> bool {
        matches!(op.op, DirOp::Add { .. } | DirOp::AddAccount { .. })
    }

    /// Whether adds go in transactions (`ldap.transactions`, until the server turns them down).
    pub fn uses_transactions(&self) -> bool {
        self.txn.load(Ordering::SeqCst)
    }

    /// Applies `ops` (adds of distinct entries, see [`txn_candidate`](Self::txn_candidate)) in
    /// transactions; one result per op, same order. A transaction the server refuses is applied
    /// again op by op. Two transactions are under way at a time, on two connections: one queues
    /// its adds while the server commits the other.
    pub(crate) async fn apply_adds(&self, ops: &[&QueuedOp]) -> Vec<Result<(), SinkError>> {
        let batches: Vec<&[&QueuedOp]> = ops.chunks(TXN_OPS).collect();
        let (even, odd) = tokio::join!(self.txn_lane(&batches, 0), self.txn_lane(&batches, 1));
        let mut done: Vec<Option<Vec<Result<(), SinkError>>>> = batches.iter().map(|_| None).collect();
        for (i, results) in even.into_iter().chain(odd) {
            done[i] = Some(results);
        }
        done.into_iter()
            .zip(&batches)
            .flat_map(|(d, batch)| {
                d.unwrap_or_else(|| batch.iter().map(|_| Err(SinkError::Unavailable(NOT_ATTEMPTED.into()))).collect())
            })
            .collect()
    }

    /// Every other batch (`lane` 0 or 1), on a connection of its own; stops at a lost connection.
    async fn txn_lane(&self, batches: &[&[&QueuedOp]], lane: usize) -> Vec<(usize, Vec<Result<(), SinkError>>)> {
        let mut out = Vec::new();
        let mut conn: Option<Ldap> = None;
        for (i, batch) in batches.iter().enumerate().skip(lane).step_by(2) {
            let ended = if self.txn.load(Ordering::SeqCst) {
                self.add_in_txn(&mut conn, batch).await
            } else {
                Ok(Ended::Unsupported)
            };
            let results: Vec<Result<(), SinkError>> = match ended {
                Ok(Ended::Committed) => batch.iter().map(|_| Ok(())).collect(),
                Ok(Ended::Refused | Ended::Unsupported) => {
                    // Futures collected first: a closure in the stream's type trips up `Send`.
                    let adds: Vec<_> = batch.iter().map(|op| self.apply_one(&op.op)).collect();
                    stream::iter(adds).buffered(self.concurrency).collect().await
                }
                // Only a lost connection (or a timeout) ends a transaction without an answer.
                Err(e) => batch.iter().map(|_| Err(SinkError::Unavailable(e.to_string()))).collect(),
            };
            let lost = results.iter().any(|r| r.as_ref().is_err_and(SinkError::is_unavailable));
            out.push((i, results));
            if lost {
                break;
            }
        }
        if let Some(mut c) = conn {
            let _ = c.unbind().await;
        }
        out
    }

    /// One transaction on `conn` (opened if `None`): start, queue every add, commit. The adds are
    /// queued one after the other: pipelined into one transaction, slapd 2.5.13 was seen to crash
    /// after refusing it. A refused transaction drops the connection.
    async fn add_in_txn(&self, conn: &mut Option<Ldap>, batch: &[&QueuedOp]) -> Result<Ended, SinkError> {
        let mut ldap = match conn.take() {
            Some(c) => c,
            None => self.spec.open_bound(&self.bind_dn, self.bind_password.expose()).await?,
        };
        ldap.with_timeout(self.spec.timeout);
        let start = ldap.extended(StartTxn).await.map_err(|e| from_ldap_error("start transaction", "", e))?;
        let id = match (start.1.rc, start.0.val.map(String::from_utf8)) {
            (rc::SUCCESS, Some(Ok(id))) => id,
            (code, _) => {
                tracing::info!(rc = code, "the LDAP server does not take transactions; adding one entry at a time");
                self.txn.store(false, Ordering::SeqCst);
                *conn = Some(ldap);
                return Ok(Ended::Unsupported);
            }
        };
        let mut all_queued = true;
        for op in batch {
            all_queued &= queue_add(ldap.clone(), self, &op.op, &id).await?;
            if !all_queued {
                break;
            }
        }
        let end = ldap
            .extended(EndTxn { txn_id: &id, commit: all_queued })
            .await
            .map_err(|e| from_ldap_error("end transaction", "", e))?;
        if all_queued && end.1.rc == rc::SUCCESS {
            *conn = Some(ldap);
            return Ok(Ended::Committed);
        }
        if !all_queued {
            // The server would not even queue an add (a backend without transactions, say).
            tracing::info!("the LDAP server did not queue adds in a transaction; adding one entry at a time");
            self.txn.store(false, Ordering::SeqCst);
        } else {
            tracing::debug!(rc = end.1.rc, ops = batch.len(), "transaction refused; adding its entries one by one");
        }
        // Never another request on this connection (see the module doc): dropped here.
        Ok(Ended::Refused)
    }
}

/// Sends one add inside transaction `id`; `Ok(false)` if the server would not queue it.
async fn queue_add(mut ldap: Ldap, sink: &LdapSink, op: &DirOp, id: &str) -> Result<bool, SinkError> {
    let (dn, attrs) = match op {
        DirOp::Add { dn, attrs } => (dn, attrs.clone()),
        DirOp::AddAccount { dn, entry } => (dn, sink.layout.entry_attrs(entry)),
        _ => return Ok(false),
    };
    let dn_s = dn.to_string();
    let values: Vec<(String, HashSet<String>)> =
        attrs.into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k, v.into_iter().collect())).collect();
    let res = ldap
        .with_controls(TxnSpec { txn_id: id })
        .add(&dn_s, values)
        .await
        .map_err(|e| from_ldap_error("add", &dn_s, e))?;
    Ok(res.rc == rc::SUCCESS)
}
