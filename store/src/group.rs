//! Group commit of the login path's and the token endpoint's writes.
//!
//! A login writes one small transaction: its credential row (failures, lock, last login) and its
//! audit record; a token response, its grant, its token records and its audit record. Committed one by one, every login waits for a commit of its own (an fsync on
//! PostgreSQL, the write lock on SQLite), which caps a store at a few thousand logins a second on
//! an ordinary disk. Here concurrent logins share transactions instead:
//!
//! - each call queues its write and waits for the answer;
//! - a committer takes every queued write (up to `MAX_GROUP`), applies them in one transaction in
//!   login order (so that two committers lock credential rows in the same order), appends all
//!   their audit records last, as `audit::append_tx` wants, commits, and answers each caller.
//!
//! Every write still commits together with its audit records, and no call returns before that
//! commit: if the audit records cannot be written, no write of the group happens. A lone login
//! is a group of one, so a quiet store adds only a task hop; under load a group holds what
//! queued while the previous commit ran.
//!
//! Waiting for other transactions happens first, in the group's own locking statements (SQLite's
//! write lock, PostgreSQL's credential rows in login order): if that fails (say, a sync holds
//! SQLite's lock past the busy timeout), the whole group fails at once rather than write by write.
//! After that, a write whose own statement fails fails alone, and the group is written again
//! without it; if the statement that folds the successes fails, they are written one by one. A
//! group whose audit records cannot be written fails as a whole, and so does one whose commit
//! itself fails: whether it committed is then unknown, and writing it again could count a failed
//! attempt twice.
//!
//! Committers are tasks that run while writes are queued, at most `committers` at once: one on
//! SQLite, whose writers queue for one lock anyway; several on PostgreSQL, where each takes a
//! chain head of its own.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use orgid_directory::StoreError;
use orgid_directory::audit::AuditEvent;
use orgid_directory::idp::{FailureCount, GrantRecord, TokenRecord};
use tokio::sync::oneshot;

/// The most writes one transaction takes: a few milliseconds of statements, one audit insert.
pub(crate) const MAX_GROUP: usize = 512;

/// One login's write, as the `IdpStore` methods of the same names describe it.
#[derive(Debug)]
pub(crate) enum LoginWrite {
    Failure {
        login: String,
        threshold: u32,
        lock_until: DateTime<Utc>,
        attempt: AuditEvent,
    },
    Refusal {
        attempt: AuditEvent,
    },
    Success {
        login: String,
        at: DateTime<Utc>,
        audit: Vec<AuditEvent>,
    },
    /// A grant and the tokens of the response (`GrantStore::create_grant`): it touches no
    /// credential row, and the response is sent only once this has committed, so a client never
    /// holds a token that a crash could lose or that revocation could miss.
    Grant {
        grant: GrantRecord,
        tokens: Vec<TokenRecord>,
        code_hash: Option<String>,
        audit: Vec<AuditEvent>,
    },
    /// A self-contained access token's issue (`GrantStore::record_issued`): only its audit
    /// record, merged with the group's others (`audit::merge_issued`) and committed before the
    /// client gets the token.
    Issued {
        audit: AuditEvent,
    },
}

impl LoginWrite {
    /// A write of audit records alone (a refusal, a self-contained token's issue): it touches no
    /// other row.
    pub(crate) fn audit_only(&self) -> bool {
        matches!(self, LoginWrite::Refusal { .. } | LoginWrite::Issued { .. })
    }

    /// A grant that can go into the group's multi-row inserts: it spends no code (whose row a
    /// statement of its own must lock and check) and is not born revoked.
    pub(crate) fn foldable(&self) -> bool {
        matches!(self, LoginWrite::Grant { grant, code_hash: None, .. } if grant.revoked_at.is_none())
    }

    /// The credential row the write locks (none for a refusal).
    fn login(&self) -> &str {
        match self {
            LoginWrite::Failure { login, .. } | LoginWrite::Success { login, .. } => login,
            LoginWrite::Refusal { .. } | LoginWrite::Grant { .. } | LoginWrite::Issued { .. } => "",
        }
    }
}

/// How a group's writes are executed: the successes of logins that have no failure in the group
/// are folded into one statement (`batched`, per login in login order: the last success's time,
/// for its `last_login_at`, and the latest time, which a lock must outlast to be kept); so are the
/// new grants that spend no code (`Grant::foldable`: one multi-row insert of the grants, one of
/// their tokens); every other write runs on its own, in order. `logins`: every credential row the group touches, in
/// the order PostgreSQL locks them first, so that concurrent groups never wait on each other in
/// a circle.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GroupPlan<'a> {
    pub(crate) batched: Vec<(&'a str, i64, i64)>,
    pub(crate) alone: Vec<bool>,
    pub(crate) logins: Vec<&'a str>,
}

/// Plans `writes` (in the order the group holds them); times are milliseconds.
pub(crate) fn plan<'a>(writes: &[&'a LoginWrite]) -> GroupPlan<'a> {
    let failing: std::collections::HashSet<&str> = writes
        .iter()
        .filter_map(|w| match w {
            LoginWrite::Failure { login, .. } => Some(login.as_str()),
            _ => None,
        })
        .collect();
    let mut batched: std::collections::BTreeMap<&str, (i64, i64)> = std::collections::BTreeMap::new();
    let mut alone = Vec::with_capacity(writes.len());
    for w in writes {
        match w {
            LoginWrite::Grant { .. } if w.foldable() => alone.push(false),
            LoginWrite::Issued { .. } => alone.push(false),
            LoginWrite::Success { login, at, .. } if !failing.contains(login.as_str()) => {
                let at = at.timestamp_millis();
                let e = batched.entry(login.as_str()).or_insert((at, at));
                *e = (at, e.1.max(at));
                alone.push(false);
            }
            _ => alone.push(true),
        }
    }
    let mut logins: Vec<&str> = failing.into_iter().chain(batched.keys().copied()).collect();
    logins.sort_unstable();
    GroupPlan { batched: batched.into_iter().map(|(l, (last, latest))| (l, last, latest)).collect(), alone, logins }
}

/// How a dialect takes a group's locks before writing anything, so that waiting for another
/// transaction (a sync holding SQLite's write lock, a login's row on PostgreSQL) happens in a
/// statement of the group, never in one write's: a write's own statement then fails only for a
/// reason of its own.
pub(crate) trait LoginDialect {
    /// Lock the group's credential rows in login order (PostgreSQL).
    const LOCK_ROWS: bool;
    /// A statement that takes the database's write lock (SQLite).
    const LOCK_WRITES: Option<&'static str>;
}

impl LoginDialect for sqlx::Sqlite {
    // One writer at a time: the transaction's write lock covers every row. The statement is the
    // audit append's own first one (see `audit.rs`), taken early.
    const LOCK_ROWS: bool = false;
    const LOCK_WRITES: Option<&'static str> = Some("UPDATE audit_head SET pos = pos WHERE chain = 1");
}

impl LoginDialect for sqlx::Postgres {
    const LOCK_ROWS: bool = true;
    const LOCK_WRITES: Option<&'static str> = None;
}

/// The connection a group is written through: on SQLite always the same one, kept for the
/// store's life outside its pool (`SqliteStore::group_conn`), elsewhere any of the pool's.
pub(crate) enum GroupConn<'a, DB: sqlx::Database> {
    Kept(tokio::sync::MappedMutexGuard<'a, DB::Connection>),
    Pooled(sqlx::pool::PoolConnection<DB>),
}

impl<DB: sqlx::Database> std::ops::Deref for GroupConn<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &Self::Target {
        match self {
            GroupConn::Kept(c) => c,
            GroupConn::Pooled(c) => c,
        }
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for GroupConn<'_, DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            GroupConn::Kept(c) => c,
            GroupConn::Pooled(c) => c,
        }
    }
}

/// What a write answers: the failure count for `Failure`, nothing for the others.
pub(crate) type Written = Result<Option<FailureCount>, StoreError>;

/// Why a group's transaction failed (nothing of it was written unless at `Commit`).
pub(crate) enum GroupError {
    /// Taking its locks, or writing the audit records: every write of the group fails.
    Group(StoreError),
    /// The write at this index (in the order given), written on its own: it fails alone and the
    /// others are written again without it.
    Write(usize, StoreError),
    /// The statement that folds the successes: the writes are written again one by one.
    Folded(StoreError),
    /// At the commit: the outcome is unknown, every write of the group fails.
    Commit(StoreError),
}

/// A queued write and where its answer goes.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) write: LoginWrite,
    reply: oneshot::Sender<Written>,
}

/// A backend that writes a group of login writes in one transaction: `Ok` holds one answer per
/// write, in order.
pub(crate) trait WriteGroup: Clone + Send + Sync + 'static {
    fn write_group(
        &self,
        writes: Vec<&LoginWrite>,
    ) -> impl Future<Output = Result<Vec<Option<FailureCount>>, GroupError>> + Send;
}

#[derive(Debug, Default)]
struct Queue {
    jobs: VecDeque<Job>,
    committers: usize,
}

/// How many login and grant writes a store has committed, in how many transactions, since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginWriteStats {
    /// Login writes taken off the queue (each then committed or failed).
    pub writes: u64,
    /// Grant writes (token responses) taken off the queue.
    pub grants: u64,
    /// Groups taken off the queue (a group written again after a failure counts once).
    pub groups: u64,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    writes: AtomicU64,
    grants: AtomicU64,
    groups: AtomicU64,
}

/// The queue of a store's login writes, shared by its clones.
#[derive(Debug, Clone)]
pub(crate) struct LoginWriter {
    shared: Arc<Shared>,
    committers: usize,
}

impl LoginWriter {
    /// A queue served by at most `committers` transactions at once.
    pub(crate) fn new(committers: usize) -> Self {
        Self { shared: Arc::default(), committers: committers.max(1) }
    }

    pub(crate) fn stats(&self) -> LoginWriteStats {
        LoginWriteStats {
            writes: self.shared.writes.load(Ordering::Relaxed),
            grants: self.shared.grants.load(Ordering::Relaxed),
            groups: self.shared.groups.load(Ordering::Relaxed),
        }
    }

    /// Queues `write`, starting a committer if fewer than allowed are running, and waits until
    /// the group it went in has committed (or failed).
    pub(crate) async fn write<S: WriteGroup>(&self, store: &S, write: LoginWrite) -> Written {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = lock(&self.shared.queue);
            queue.jobs.push_back(Job { write, reply });
            let start = queue.committers < self.committers;
            if start {
                queue.committers += 1;
            }
            start
        };
        if start {
            tokio::spawn(commit_while_queued(Committer { shared: self.shared.clone(), done: false }, store.clone()));
        }
        answer.await.unwrap_or_else(|_| Err(StoreError::Backend("the login writer stopped before committing".into())))
    }
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running committer; it leaves the count when the queue is empty, or when it is dropped
/// (a panic), so that the next write starts another.
struct Committer {
    shared: Arc<Shared>,
    done: bool,
}

impl Drop for Committer {
    fn drop(&mut self) {
        if !self.done {
            lock(&self.shared.queue).committers -= 1;
        }
    }
}

/// Takes groups off the queue until it is empty. The empty check and leaving the count happen
/// under one lock, so that a write queued meanwhile either is taken here or starts a committer.
async fn commit_while_queued<S: WriteGroup>(mut committer: Committer, store: S) {
    loop {
        gather(&committer.shared).await;
        let group: Vec<Job> = {
            let mut queue = lock(&committer.shared.queue);
            if queue.jobs.is_empty() {
                queue.committers -= 1;
                committer.done = true;
                return;
            }
            let n = queue.jobs.len().min(MAX_GROUP);
            queue.jobs.drain(..n).collect()
        };
        committer.shared.groups.fetch_add(1, Ordering::Relaxed);
        let grants =
            group.iter().filter(|j| matches!(j.write, LoginWrite::Grant { .. } | LoginWrite::Issued { .. })).count();
        committer.shared.grants.fetch_add(grants as u64, Ordering::Relaxed);
        committer.shared.writes.fetch_add((group.len() - grants) as u64, Ordering::Relaxed);
        commit(&store, group).await;
    }
}

/// Writes queued by requests that are already running join the group about to be taken: while
/// fewer than [`GATHER_UNTIL`] are queued, the committer steps back behind the tasks that are
/// ready (at most [`GATHER_YIELDS`] times), and those that reach their write queue it first. A
/// lone write costs nothing more (no task is ready, the committer runs on at once); under load a
/// transaction carries more writes, and each pays less of its statements and its log write
/// (client-credentials tokens at 16 connections, 2 cores: about 7 per group without this).
async fn gather(shared: &Shared) {
    for _ in 0..GATHER_YIELDS {
        if lock(&shared.queue).jobs.len() >= GATHER_UNTIL {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Queued writes after which a committer stops gathering.
const GATHER_UNTIL: usize = 32;
/// How many times a committer steps back to gather writes.
const GATHER_YIELDS: usize = 2;

/// Writes `group` in one transaction and answers each job; see the module doc for failures.
async fn commit<S: WriteGroup>(store: &S, mut group: Vec<Job>) {
    // Stable: one login's writes keep their order.
    group.sort_by(|a, b| a.write.login().cmp(b.write.login()));
    loop {
        let result = store.write_group(group.iter().map(|j| &j.write).collect()).await;
        match result {
            Ok(answers) => {
                for (job, answer) in group.into_iter().zip(answers) {
                    // A caller that stopped waiting no longer needs its answer.
                    let _ = job.reply.send(Ok(answer));
                }
                return;
            }
            Err(GroupError::Write(i, e)) if group.len() > 1 && i < group.len() => {
                tracing::debug!(writes = group.len(), "a login write failed; writing its group again without it: {e}");
                let _ = group.remove(i).reply.send(Err(e));
            }
            Err(GroupError::Folded(e)) if group.len() > 1 => {
                tracing::debug!(writes = group.len(), "a group of login writes failed, writing them one by one: {e}");
                for job in group {
                    let answer = match store.write_group(vec![&job.write]).await {
                        Ok(mut answers) => Ok(answers.pop().flatten()),
                        Err(e) => Err(e.into_error()),
                    };
                    let _ = job.reply.send(answer);
                }
                return;
            }
            Err(e) => {
                let e = e.into_error();
                for job in group {
                    let _ = job.reply.send(Err(e.clone()));
                }
                return;
            }
        }
    }
}

impl GroupError {
    fn into_error(self) -> StoreError {
        match self {
            GroupError::Group(e) | GroupError::Write(_, e) | GroupError::Folded(e) | GroupError::Commit(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use orgid_directory::audit::{Actor, AuditOutcome, EventKind};

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
    }

    fn ev() -> AuditEvent {
        AuditEvent::new(at(0), EventKind::Login, AuditOutcome::Success, Actor::System("test".into()))
    }

    fn success(login: &str, ms: i64) -> LoginWrite {
        LoginWrite::Success { login: login.into(), at: at(ms), audit: vec![ev()] }
    }

    fn failure(login: &str) -> LoginWrite {
        LoginWrite::Failure { login: login.into(), threshold: 5, lock_until: at(99), attempt: ev() }
    }

    #[test]
    fn successes_are_folded_per_login_unless_the_login_also_failed() {
        let writes = [
            success("b", 20),
            success("a", 30),
            failure("c"),
            success("b", 10),
            success("c", 40),
            LoginWrite::Refusal { attempt: ev() },
        ];
        let refs: Vec<&LoginWrite> = writes.iter().collect();
        let p = plan(&refs);
        // b: the last success (10) sets last_login_at; the latest (20) decides the lock.
        assert_eq!(p.batched, [("a", 30, 30), ("b", 10, 20)]);
        assert_eq!(p.alone, [false, false, true, false, true, true], "c's success follows its failure, alone");
        assert_eq!(p.logins, ["a", "b", "c"], "every row touched, each once, in login order");
    }

    fn grant(code: Option<&str>) -> LoginWrite {
        let g = GrantRecord {
            id: "g".into(),
            client_id: "c".into(),
            login: None,
            scope: String::new(),
            session_hash: None,
            auth_time: None,
            amr: vec![],
            created_at: at(0),
            revoked_at: None,
            actor: None,
        };
        LoginWrite::Grant { grant: g, tokens: vec![], code_hash: code.map(String::from), audit: vec![ev()] }
    }

    #[test]
    fn new_grants_are_folded_unless_they_spend_a_code() {
        let writes = [grant(None), success("a", 1), grant(Some("code")), grant(None)];
        let refs: Vec<&LoginWrite> = writes.iter().collect();
        let p = plan(&refs);
        assert_eq!(p.alone, [false, false, true, false], "the code's grant checks its code on its own");
        assert_eq!(p.logins, ["a"], "grants lock no credential row");
    }

    #[test]
    fn a_group_of_refusals_touches_no_row() {
        let writes = [LoginWrite::Refusal { attempt: ev() }];
        let p = plan(&[&writes[0]]);
        assert_eq!((p.batched.len(), p.alone.as_slice(), p.logins.len()), (0, [true].as_slice(), 0));
    }
}
