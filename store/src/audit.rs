//! The audit trail in the store, written once like `sql.rs`: `audit_impl!` expands to
//! `AuditStore` and to `AuditTx` for the backend's transactions.
//!
//! Any store method that changes state records it in its own transaction with
//! `audit::append_tx(&mut tx, &events)`: ONE call per transaction, as its LAST statement before
//! commit. The append locks the head of one chain until commit (on PostgreSQL the first chain no
//! other transaction holds, so concurrent transactions of any replica use different chains and
//! commit together; on SQLite the one chain). Taking it last keeps it short and keeps the lock
//! order (the caller's rows, then a chain head) the same everywhere. If the append fails, the
//! transaction and so the change fail with it.

use async_trait::async_trait;
use orgid_directory::audit::{AuditEvent, AuditFields, AuditRecord, ChainHead, Checkpoint, Hash, PublicKey, lifecycle};
use orgid_directory::{AccountChange, Plan, RunId, RunOutcome, StoreError};
use ring::digest;

use crate::error::corrupt;
use crate::rows::time;

/// Appending to a chain inside a transaction the caller owns.
#[async_trait]
pub(crate) trait AuditTx: Send {
    /// Chains the events' `fields` after the head of a chain (locking it until the transaction
    /// ends) and returns its new head. Nothing is written (and `None` returned) for no events.
    /// They are taken a statement's worth at a time, so that a first load's 100,000 records are
    /// never all in memory.
    async fn append_audit(
        &mut self,
        fields: &mut (dyn Iterator<Item = AuditFields> + Send),
    ) -> Result<Option<ChainHead>, StoreError>;
}

/// How each dialect takes a chain head.
pub(crate) trait AuditDialect {
    /// Locks a free chain head and returns (chain, pos, hash); no row if every one is taken.
    const LOCK_FREE_HEAD: &'static str;
    /// Locks one chain head, waiting for it.
    const LOCK_SOME_HEAD: &'static str;
}

impl AuditDialect for sqlx::Sqlite {
    // One chain; the UPDATE makes the transaction a writer at once (see `sql.rs`).
    const LOCK_FREE_HEAD: &'static str = "UPDATE audit_head SET pos = pos WHERE chain = 1 RETURNING chain, pos, hash";
    const LOCK_SOME_HEAD: &'static str = "UPDATE audit_head SET pos = pos WHERE chain = 1 RETURNING chain, pos, hash";
}

impl AuditDialect for sqlx::Postgres {
    // The lowest chain nobody holds: quiet stores fill chain 1; busy ones spread.
    const LOCK_FREE_HEAD: &'static str =
        "SELECT chain, pos, hash FROM audit_head ORDER BY chain LIMIT 1 FOR UPDATE SKIP LOCKED";
    // Every chain busy: queue on one, picked by the connection so that waiters spread.
    const LOCK_SOME_HEAD: &'static str = "SELECT chain, pos, hash FROM audit_head ORDER BY chain \
         OFFSET (SELECT pg_backend_pid() % count(*) FROM audit_head) LIMIT 1 FOR UPDATE";
}

/// Appends `events` in the caller's transaction `tx`; see the module doc for where to call it.
/// Returns the head of the chain they went to (`None` for no events).
pub(crate) async fn append_tx<T: AuditTx + ?Sized>(
    tx: &mut T,
    events: &[AuditEvent],
) -> Result<Option<ChainHead>, StoreError> {
    tx.append_audit(&mut events.iter().map(AuditEvent::fields)).await
}

/// `finish_run`'s records: each applied change, then the run's end.
pub(crate) async fn record_run<T: AuditTx + ?Sized>(
    tx: &mut T,
    run: RunId,
    outcome: &RunOutcome<'_>,
) -> Result<(), StoreError> {
    tx.append_audit(&mut lifecycle::run_event_iter(run, outcome).map(|e| e.fields())).await.map(drop)
}

/// `apply_run_part`'s records: each of the part's changes, by its run (the run's end comes with
/// `finish_run`).
pub(crate) async fn record_changes<T: AuditTx + ?Sized>(
    tx: &mut T,
    run: RunId,
    changes: &[AccountChange],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    let actor = orgid_directory::audit::Actor::Run(run);
    tx.append_audit(&mut changes.iter().map(|c| lifecycle::change_event(&actor, c, at).fields())).await.map(drop)
}

/// `approve_run`'s records: the kept plan's changes by the approving run, then the approval.
pub(crate) async fn record_approval<T: AuditTx + ?Sized>(
    tx: &mut T,
    held: RunId,
    by: RunId,
    plan: &Plan,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    tx.append_audit(&mut lifecycle::approval_event_iter(held, by, plan, at).map(|e| e.fields())).await.map(drop)
}

/// A hash column as stored. A value of the wrong length (a hand-edited row) becomes a hash that
/// matches nothing, so verification reports the record instead of failing to read it.
pub(crate) fn stored_hash(b: &[u8]) -> Hash {
    Hash::from_slice(b).unwrap_or_else(|| {
        let d = digest::digest(&digest::SHA256, &[b"not a hash:".as_slice(), b].concat());
        Hash::from_slice(d.as_ref()).unwrap_or_default()
    })
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditDb {
    seq: i64,
    chain: i32,
    pos: i64,
    at: i64,
    kind: String,
    outcome: String,
    actor_kind: String,
    actor: String,
    login: Option<String>,
    company: Option<String>,
    client_id: Option<String>,
    source_ip: Option<String>,
    user_agent: Option<String>,
    session_id: Option<String>,
    reason: Option<String>,
    details: Option<String>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

/// The columns of a record as written (the store numbers `seq`).
macro_rules! audit_insert_columns {
    () => {
        "chain, pos, at, kind, outcome, actor_kind, actor, login, company, client_id, source_ip, user_agent, \
         session_id, reason, details, prev_hash, hash"
    };
}

macro_rules! audit_columns {
    () => {
        concat!("seq, ", audit_insert_columns!())
    };
}

impl AuditDb {
    pub(crate) fn into_domain(self) -> Result<AuditRecord, StoreError> {
        Ok(AuditRecord {
            seq: self.seq,
            chain: self.chain,
            pos: self.pos,
            fields: AuditFields {
                at: time(self.at)?,
                kind: self.kind,
                outcome: self.outcome,
                actor_kind: self.actor_kind,
                actor: self.actor,
                login: self.login,
                company: self.company,
                client_id: self.client_id,
                source_ip: self.source_ip,
                user_agent: self.user_agent,
                session_id: self.session_id,
                reason: self.reason,
                details: self.details,
            },
            prev_hash: stored_hash(&self.prev_hash),
            hash: stored_hash(&self.hash),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CheckpointDb {
    chain: i32,
    pos: i64,
    hash: Vec<u8>,
    at: i64,
    public_key: Vec<u8>,
    signature: Vec<u8>,
}

impl CheckpointDb {
    pub(crate) fn into_domain(self) -> Result<Checkpoint, StoreError> {
        let key = <[u8; 32]>::try_from(self.public_key.as_slice()).map_err(|_| {
            corrupt(
                "checkpoint key",
                format!("the checkpoint of chain {} at {} has no Ed25519 key", self.chain, self.pos),
            )
        })?;
        Ok(Checkpoint {
            chain: self.chain,
            pos: self.pos,
            hash: stored_hash(&self.hash),
            at: time(self.at)?,
            public_key: PublicKey(key),
            signature: self.signature,
        })
    }
}

pub(crate) fn head_of(row: (i32, i64, Vec<u8>)) -> ChainHead {
    ChainHead { chain: row.0, pos: row.1, hash: stored_hash(&row.2) }
}

macro_rules! audit_impl {
    ($store:ident, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::audit::AuditTx for sqlx::Transaction<'_, $db> {
            async fn append_audit(
                &mut self,
                fields: &mut (dyn Iterator<Item = orgid_directory::audit::AuditFields> + Send),
            ) -> Result<Option<orgid_directory::audit::ChainHead>, StoreError> {
                use orgid_directory::audit::chain;
                use $crate::audit::AuditDialect;
                let rows = chunk_rows(17);
                let mut fields = fields.peekable();
                if fields.peek().is_none() {
                    return Ok(None);
                }
                let free: Option<(i32, i64, Vec<u8>)> = sqlx::query_as(<$db as AuditDialect>::LOCK_FREE_HEAD)
                    .fetch_optional(&mut **self)
                    .await
                    .map_err(db)?;
                let row = match free {
                    Some(row) => row,
                    None => sqlx::query_as(<$db as AuditDialect>::LOCK_SOME_HEAD)
                        .fetch_one(&mut **self)
                        .await
                        .map_err(db)?,
                };
                let mut head = $crate::audit::head_of(row);
                while fields.peek().is_some() {
                    let (chunk, next) = chain(head, fields.by_ref().take(rows).collect());
                    head = next;
                    let mut q =
                        QueryBuilder::<$db>::new(concat!("INSERT INTO audit_log (", audit_insert_columns!(), ") "));
                    q.push_values(&chunk, |mut b, r| {
                        let f = &r.fields;
                        b.push_bind(r.chain)
                            .push_bind(r.pos)
                            .push_bind(millis(f.at))
                            .push_bind(f.kind.as_str())
                            .push_bind(f.outcome.as_str())
                            .push_bind(f.actor_kind.as_str())
                            .push_bind(f.actor.as_str())
                            .push_bind(f.login.as_deref())
                            .push_bind(f.company.as_deref())
                            .push_bind(f.client_id.as_deref())
                            .push_bind(f.source_ip.as_deref())
                            .push_bind(f.user_agent.as_deref())
                            .push_bind(f.session_id.as_deref())
                            .push_bind(f.reason.as_deref())
                            .push_bind(f.details.as_deref())
                            .push_bind(r.prev_hash.0.to_vec())
                            .push_bind(r.hash.0.to_vec());
                    });
                    q.build().execute(&mut **self).await.map_err(db)?;
                }
                sqlx::query("UPDATE audit_head SET pos = $1, hash = $2 WHERE chain = $3")
                    .bind(head.pos)
                    .bind(head.hash.0.to_vec())
                    .bind(head.chain)
                    .execute(&mut **self)
                    .await
                    .map_err(db)?;
                Ok(Some(head))
            }
        }

        impl $store {
            /// The SELECT of `audit_query`, with every condition bound.
            fn audit_select(
                scope: &orgid_directory::audit::AuditScope,
                filter: &orgid_directory::audit::AuditFilter,
                page: &orgid_directory::audit::PageRequest,
            ) -> QueryBuilder<$db> {
                use orgid_directory::audit::{AuditScope, Order};
                let mut q = QueryBuilder::<$db>::new("SELECT ");
                q.push(audit_columns!()).push(" FROM audit_log WHERE 1 = 1");
                if let AuditScope::Company(c) = scope {
                    q.push(" AND company = ").push_bind(c.0.clone());
                }
                if let Some(v) = &filter.login {
                    q.push(" AND login = ").push_bind(v.clone());
                }
                if let Some(v) = &filter.company {
                    q.push(" AND company = ").push_bind(v.0.clone());
                }
                if !filter.kinds.is_empty() {
                    q.push(" AND kind IN (");
                    let mut list = q.separated(", ");
                    for k in &filter.kinds {
                        list.push_bind(k.as_str());
                    }
                    q.push(")");
                }
                if let Some(v) = filter.outcome {
                    q.push(" AND outcome = ").push_bind(v.as_str());
                }
                if let Some(v) = &filter.source_ip {
                    q.push(" AND source_ip = ").push_bind(v.clone());
                }
                if let Some(v) = &filter.client_id {
                    q.push(" AND client_id = ").push_bind(v.clone());
                }
                if let Some(t) = filter.since {
                    q.push(" AND at >= ").push_bind(millis(t));
                }
                if let Some(t) = filter.until {
                    q.push(" AND at < ").push_bind(millis(t));
                }
                // The keyset condition as a range on `at` (which every index can use) plus the tie.
                let (cmp, dir) = match page.order {
                    Order::NewestFirst => ("<", "DESC"),
                    Order::OldestFirst => (">", "ASC"),
                };
                if let Some(c) = page.after {
                    q.push(format_args!(" AND at {cmp}= ")).push_bind(c.at_ms);
                    q.push(format_args!(" AND (at {cmp} ")).push_bind(c.at_ms);
                    q.push(format_args!(" OR seq {cmp} ")).push_bind(c.seq).push(")");
                }
                q.push(format_args!(" ORDER BY at {dir}, seq {dir} LIMIT "));
                q.push_bind(i64::from(page.limit) + 1);
                q
            }
        }

        #[async_trait::async_trait]
        impl orgid_directory::AuditStore for $store {
            #[tracing::instrument(skip_all, fields(events = events.len()), err)]
            async fn append_audit(
                &self,
                events: &[orgid_directory::audit::AuditEvent],
            ) -> Result<orgid_directory::audit::ChainHead, StoreError> {
                if events.is_empty() {
                    return Err(StoreError::Backend("no audit events to append".into()));
                }
                let mut tx = self.pool.begin().await.map_err(db)?;
                let head = $crate::audit::append_tx(&mut tx, events).await?;
                tx.commit().await.map_err(db)?;
                head.ok_or_else(|| StoreError::Backend("no audit events to append".into()))
            }

            #[tracing::instrument(skip_all, err)]
            async fn audit_query(
                &self,
                scope: &orgid_directory::audit::AuditScope,
                filter: &orgid_directory::audit::AuditFilter,
                page: orgid_directory::audit::PageRequest,
            ) -> Result<orgid_directory::audit::AuditPage, StoreError> {
                let page = orgid_directory::audit::PageRequest {
                    limit: page.limit.clamp(1, orgid_directory::audit::PageRequest::MAX_LIMIT),
                    ..page
                };
                if scope.excludes(filter) {
                    return Ok(orgid_directory::audit::AuditPage { records: Vec::new(), next: None });
                }
                let rows = Self::audit_select(scope, filter, &page)
                    .build_query_as::<$crate::audit::AuditDb>()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?
                    .into_iter()
                    .map($crate::audit::AuditDb::into_domain)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(orgid_directory::audit::AuditPage::from_fetched(rows, page.limit))
            }

            #[tracing::instrument(skip_all, fields(chain, after, through), err)]
            async fn audit_chain(
                &self,
                chain: i32,
                after: i64,
                through: i64,
                limit: u32,
            ) -> Result<Vec<orgid_directory::audit::AuditRecord>, StoreError> {
                sqlx::query_as::<_, $crate::audit::AuditDb>(concat!(
                    "SELECT ",
                    audit_columns!(),
                    " FROM audit_log WHERE chain = $1 AND pos > $2 AND pos <= $3 ORDER BY pos LIMIT $4"
                ))
                .bind(chain)
                .bind(after)
                .bind(through)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::audit::AuditDb::into_domain)
                .collect()
            }

            #[tracing::instrument(skip_all, err)]
            async fn audit_heads(&self) -> Result<Vec<orgid_directory::audit::ChainHead>, StoreError> {
                let rows: Vec<(i32, i64, Vec<u8>)> =
                    sqlx::query_as("SELECT chain, pos, hash FROM audit_head ORDER BY chain")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db)?;
                Ok(rows.into_iter().map($crate::audit::head_of).collect())
            }

            #[tracing::instrument(skip_all, err)]
            async fn audit_latest(
                &self,
                kinds: &[orgid_directory::audit::EventKind],
                outcome: orgid_directory::audit::AuditOutcome,
            ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
                if kinds.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = QueryBuilder::<$db>::new(
                    "SELECT login, MAX(at) FROM audit_log WHERE login IS NOT NULL AND outcome = ",
                );
                q.push_bind(outcome.as_str()).push(" AND kind IN (");
                let mut list = q.separated(", ");
                for k in kinds {
                    list.push_bind(k.as_str());
                }
                q.push(") GROUP BY login");
                q.build_query_as::<(String, i64)>()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?
                    .into_iter()
                    .map(|(login, at)| time(at).map(|t| (login, t)))
                    .collect()
            }

            #[tracing::instrument(skip_all, err)]
            async fn audit_checkpoints(&self) -> Result<Vec<orgid_directory::audit::Checkpoint>, StoreError> {
                sqlx::query_as::<_, $crate::audit::CheckpointDb>(
                    "SELECT chain, pos, hash, at, public_key, signature FROM audit_checkpoints ORDER BY chain, pos",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::audit::CheckpointDb::into_domain)
                .collect()
            }

            #[tracing::instrument(skip_all, fields(checkpoints = checkpoints.len()), err)]
            async fn add_audit_checkpoints(
                &self,
                checkpoints: &[orgid_directory::audit::Checkpoint],
                events: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                for c in checkpoints {
                    Self::insert_checkpoint(&mut tx, c).await?;
                }
                $crate::audit::append_tx(&mut tx, events).await?;
                tx.commit().await.map_err(db)
            }

            #[tracing::instrument(skip_all, err)]
            async fn audit_purge_points(
                &self,
                cutoff: DateTime<Utc>,
            ) -> Result<Vec<orgid_directory::audit::ChainHead>, StoreError> {
                // Only a prefix of each chain may go: stop before its first record that is not old.
                let rows: Vec<(i32, i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT l.chain, l.pos, l.hash FROM audit_head h JOIN audit_log l ON l.chain = h.chain \
                     AND l.pos = COALESCE( \
                       (SELECT MIN(n.pos) FROM audit_log n WHERE n.chain = h.chain AND n.at >= $1) - 1, h.pos) \
                     ORDER BY l.chain",
                )
                .bind(millis(cutoff))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
                Ok(rows.into_iter().map($crate::audit::head_of).collect())
            }

            #[tracing::instrument(skip_all, fields(chains = anchors.len()), err)]
            async fn purge_audit(
                &self,
                anchors: &[orgid_directory::audit::Checkpoint],
                event: &orgid_directory::audit::AuditEvent,
            ) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                // A write first (see `sql.rs`); appenders only add past the heads, so they go on.
                sqlx::query("UPDATE audit_gate SET purging = TRUE WHERE id = 1").execute(&mut *tx).await.map_err(db)?;
                let mut deleted = 0;
                for anchor in anchors {
                    Self::insert_checkpoint(&mut tx, anchor).await?;
                    deleted += sqlx::query("DELETE FROM audit_log WHERE chain = $1 AND pos <= $2")
                        .bind(anchor.chain)
                        .bind(anchor.pos)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?
                        .rows_affected();
                }
                sqlx::query("UPDATE audit_gate SET purging = FALSE WHERE id = 1")
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                let mut event = event.clone();
                event.details.attrs.insert("records".into(), deleted.to_string());
                $crate::audit::append_tx(&mut tx, std::slice::from_ref(&event)).await?;
                tx.commit().await.map_err(db)?;
                Ok(deleted)
            }

            #[tracing::instrument(skip_all, fields(ops = delta.ops.len(), events = events.len()), err)]
            async fn enqueue_directory_audited(
                &self,
                delta: &orgid_directory::target::ldap::DitDelta,
                at: DateTime<Utc>,
                events: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let rows = DeltaRows::new(delta)?;
                let mut tx = self.pool.begin().await.map_err(db)?;
                Self::lock_revision(&mut tx).await?;
                Self::apply_delta(&mut tx, None, &rows, at).await?;
                if rows.changes_tracking() {
                    Self::bump_revision(&mut tx).await?;
                }
                $crate::audit::append_tx(&mut tx, events).await?;
                tx.commit().await.map_err(db)
            }
        }

        impl $store {
            /// Stores a checkpoint of a record that has its hash; one already at its position stays.
            async fn insert_checkpoint(
                tx: &mut sqlx::Transaction<'_, $db>,
                c: &orgid_directory::audit::Checkpoint,
            ) -> Result<(), StoreError> {
                let matches: Option<i64> =
                    sqlx::query_scalar("SELECT pos FROM audit_log WHERE chain = $1 AND pos = $2 AND hash = $3")
                        .bind(c.chain)
                        .bind(c.pos)
                        .bind(c.hash.0.to_vec())
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(db)?;
                if matches.is_none() {
                    return Err(StoreError::Conflict(format!(
                        "record {} of chain {} does not have the hash the checkpoint vouches for",
                        c.pos, c.chain
                    )));
                }
                sqlx::query(
                    "INSERT INTO audit_checkpoints (chain, pos, hash, at, public_key, signature) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain, pos) DO NOTHING",
                )
                .bind(c.chain)
                .bind(c.pos)
                .bind(c.hash.0.to_vec())
                .bind(millis(c.at))
                .bind(c.public_key.0.to_vec())
                .bind(c.signature.clone())
                .execute(&mut **tx)
                .await
                .map_err(db)?;
                Ok(())
            }
        }
    };
}

pub(crate) use {audit_columns, audit_impl, audit_insert_columns};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_column_of_the_wrong_length_matches_nothing() {
        let h = Hash([5; 32]);
        assert_eq!(stored_hash(&h.0), h);
        assert_ne!(stored_hash(&[0; 31]), Hash::GENESIS);
        assert_ne!(stored_hash(&[]), Hash::GENESIS);
        assert_ne!(stored_hash(&[0; 31]), stored_hash(&[0; 33]));
    }
}
