//! The two backends: their pools, how they connect and migrate. Their store behaviour is the one
//! in `sql.rs`, expanded for each.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgid_directory::store::{LdapStore, OutboxStore, WecomStore};
use orgid_directory::target::ldap::{DitDelta, Node, TrackedUser};
use orgid_directory::target::wecom::{TrackedDept, TrackedMember, WecomDelta};
use orgid_directory::target::{OutboxItem, OutboxStats, Queued, TargetId, TargetOp};
use orgid_directory::{
    AccountChange, AccountFilter, AccountRow, Company, CompanyStore, NewRun, OpCounts, PersonKey, PersonRecord,
    PersonStore, RowError, RunDetail, RunId, RunOutcome, RunPart, RunStatus, RunStore, RunSummary, SettingStore,
    StoreError, StoredPerson,
};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder};

use crate::audit::{audit_columns, audit_impl, audit_insert_columns};
use crate::error::{corrupt, db, json, migrate};
use crate::group::LoginWriter;
use crate::idp::idp_impl;
use crate::ldap::{DeltaRows, kept_delta, ldap_impl};
use crate::notice::notice_impl;
use crate::outbox::{outbox_chunk, outbox_impl};
use crate::rows::{
    AccountDb, CompanyDb, NodeDb, OutboxCountsDb, OutboxDb, PersonDb, RejectionDb, RunDb, RunStateDb, TrackedUserDb,
    count, date_text, employment_text, gender_text, int, millis, node_kind_text, opt_millis, time,
};
use crate::sql::{
    KeptPlan, KeptPlanRef, LARGE_RUN, MAX_BINDS, PEOPLE_INDEXES, account_columns, by_key, changes_json, chunk_rows,
    last_per_key, person_columns, run_columns, store_impl,
};
use crate::wecom::{WecomDeptDb, WecomMemberDb, WecomRows, wecom_impl};
use crate::workflow::workflow_impl;

pub(crate) static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
pub(crate) static PG_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The store in one SQLite file (or in memory, for tests).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    /// Login writes, committed in groups (`group.rs`): one committer, as SQLite has one writer.
    pub(crate) logins: LoginWriter,
    /// The connection a run written in parts keeps from its first part to its end (see
    /// `part_conn`).
    parts: Arc<tokio::sync::Mutex<Option<KeptConn>>>,
    /// The connection the group commit writes through (see `group_conn`); `None` for an
    /// in-memory database, whose one connection cannot be kept aside.
    group: Option<Arc<tokio::sync::Mutex<Option<sqlx::SqliteConnection>>>>,
}

/// A connection kept for the parts of the run with this id.
type KeptConn = (i64, PoolConnection<sqlx::Sqlite>);

/// The page cache of the connection that writes a run's parts. A part inserts into indexes in
/// key order (people, accounts) and all over others (logins, employee numbers, parents, the
/// audit indexes: some 30 MB of index pages for 100,000 people). With SQLite's 2 MB, a part
/// writes pages out to the log before its commit and reads them back, again and again: with
/// 16 MB on one connection kept for every part, a 100,000-person first load's parts took
/// 7.2–7.4 s instead of 9.6–10.7 s, with about 2 s less system time (`bench/ldap.sh` set-up,
/// the directory unreachable so that only the store is measured, 2 cores).
const PART_CACHE: &str = "PRAGMA cache_size = -16384";
/// [`PART_CACHE`] in KiB, the least a part's connection has.
const PART_CACHE_KIB: i64 = 16_384;
/// The most a part's connection's page cache grows to (see `part_cache_grow`).
const PART_CACHE_MAX_KIB: i64 = 196_608;

/// Pages of write-ahead log after which a commit folds it back into the database (SQLite's
/// default is 1,000). Login writes touch a few pages of each audit index per login: with 16 MB
/// between checkpoints, a page written by many groups is copied back once, not once per 4 MB
/// (`audit_bench --logins-only`, 2 cores, empty store, two runs each, records/s at 16 / 64 / 256
/// logins in flight: 4,583–5,681 / 4,860–6,691 / 7,428–7,973 with 1,000; 6,668–7,928 /
/// 7,854–7,941 / 8,058–10,534 with 4,000).
macro_rules! wal_autocheckpoint {
    () => {
        "4000"
    };
}
const WAL_AUTOCHECKPOINT: &str = wal_autocheckpoint!();

/// How often [`checkpoints`] folds the write-ahead log back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Folds the write-ahead log back into the database every [`CHECKPOINT_EVERY`], for as long as
/// the group commit's connection (`group`) lives, on a connection of its own.
///
/// A commit that crosses `wal_autocheckpoint` pages runs the checkpoint itself, fsync included,
/// before its caller hears that it committed: every login and token of that group waited for
/// it. Under `bench/oidc.sh` (2 cores, client-credentials tokens at 16 connections) such
/// checkpoints came several times a second, their fsyncs took up to 75 ms, and the tokens' p99
/// was 160–290 ms against a p50 of 3 ms. A passive checkpoint beside the writer copies what has
/// committed without holding the write lock, so the group's commits go on meanwhile.
async fn checkpoints(
    pool: sqlx::SqlitePool,
    group: std::sync::Weak<tokio::sync::Mutex<Option<sqlx::SqliteConnection>>>,
) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if group.strong_count() == 0 || pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            tracing::warn!(error = %e, "checkpoint of the write-ahead log failed; the next one retries");
        }
    }
}

/// Loading a whole 100,000-person roster takes 1–3 s and is normal; a statement this slow is not.
const SLOW_STATEMENT: Duration = Duration::from_secs(10);

impl SqliteStore {
    pub(crate) fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }

    /// Opens (creating if missing) the database at a `sqlite:` URL. Does not migrate.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::Backend("invalid SQLite URL (expected sqlite:PATH or sqlite::memory:)".into()))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // Statement journals (a multi-row statement inside a transaction keeps one, to undo
            // just that statement) stay in memory instead of spilling to a temporary file.
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT)
            .log_slow_statements(log::LevelFilter::Warn, SLOW_STATEMENT);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            // A pool retries until its timeout and then reports only that; one plain connection
            // first gives the real reason (a missing directory, a read-only file) at once.
            options.connect().await.map_err(db)?.close().await.map_err(db)?;
        }
        let pool = if in_memory {
            // An in-memory database lives as long as a connection to it: keep exactly one.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
        } else {
            SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .connect_with(options.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal))
                .await
        }
        .map_err(db)?;
        let group = (!in_memory).then(Arc::default);
        Ok(Self { pool, logins: LoginWriter::new(1), parts: Arc::default(), group })
    }

    /// The connection every group of login and token writes (`group.rs`) goes through: always
    /// the same one, with the parts' 16 MB cache. SQLite empties a connection's page cache
    /// whenever another connection has written since its last transaction, and a pool hands its
    /// connections out in turn: through the pool, each group began with a cold cache and read the
    /// pages of every index it wrote back from the file (`pread` was a fifth of the writer's time
    /// under `bench/oidc.sh`).
    pub(crate) async fn group_conn(&self) -> Result<crate::group::GroupConn<'_, sqlx::Sqlite>, StoreError> {
        let Some(kept) = &self.group else {
            return Ok(crate::group::GroupConn::Pooled(self.pool.acquire().await.map_err(db)?));
        };
        let mut slot = kept.lock().await;
        if slot.is_none() {
            // Detached: the pool opens another in its place, and closing the pool does not wait
            // for this one (it closes when the store is dropped).
            let mut conn = self.pool.acquire().await.map_err(db)?.detach();
            sqlx::query(PART_CACHE).execute(&mut conn).await.map_err(db)?;
            // Its commits never fold the log back themselves: `checkpoints` does, beside them.
            sqlx::query("PRAGMA wal_autocheckpoint = 0").execute(&mut conn).await.map_err(db)?;
            *slot = Some(conn);
            tokio::spawn(checkpoints(self.pool.clone(), Arc::downgrade(kept)));
        }
        tokio::sync::MutexGuard::try_map(slot, Option::as_mut)
            .map(crate::group::GroupConn::Kept)
            .map_err(|_| StoreError::Backend("the group commit's connection is gone".into()))
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        SQLITE_MIGRATOR.run(&self.pool).await.map_err(migrate)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db).map(drop)
    }

    /// Sets `conn` up for a large write transaction (`large`) or back to the store's usual
    /// settings. A large one gets an 8 MB page cache instead of 2 MB, which holds the key indexes'
    /// pages it keeps returning to (with 2 MB a first load writes many of them out and reads them
    /// back, several times), and its commit does not fold the write-ahead log back into the
    /// database: the next commit elsewhere (or closing the store) does, so that a run's directory
    /// writes start sooner. (Its statement journals stay in memory, as on every connection of the
    /// store: `temp_store = memory` at open.)
    async fn large_write(conn: &mut sqlx::SqliteConnection, large: bool) -> Result<(), StoreError> {
        let pragmas: [&'static str; 2] = if large {
            ["PRAGMA cache_size = -8192", "PRAGMA wal_autocheckpoint = 0"]
        } else {
            ["PRAGMA cache_size = -2000", concat!("PRAGMA wal_autocheckpoint = ", wal_autocheckpoint!())]
        };
        for pragma in pragmas {
            sqlx::query(pragma).execute(&mut *conn).await.map_err(db)?;
        }
        Ok(())
    }

    /// Sets `conn` up for the parts of a run written in parts (`on`) or back to the store's usual
    /// settings: like a large write, with a larger page cache still ([`PART_CACHE`]).
    async fn part_write(conn: &mut sqlx::SqliteConnection, on: bool) -> Result<(), StoreError> {
        let pragmas: [&'static str; 2] = if on {
            [PART_CACHE, "PRAGMA wal_autocheckpoint = 0"]
        } else {
            ["PRAGMA cache_size = -2000", concat!("PRAGMA wal_autocheckpoint = ", wal_autocheckpoint!())]
        };
        for pragma in pragmas {
            sqlx::query(pragma).execute(&mut *conn).await.map_err(db)?;
        }
        Ok(())
    }

    /// The connection for a part of `run`: the one its earlier parts used, whose cache holds the
    /// pages they touched, or a new one set up for parts. One connection for all of a run's parts
    /// also keeps one large cache, where the pool would hand each part the next connection (each
    /// on a thread of its own, each keeping its cache). An in-memory store has one connection,
    /// which is never kept from the pool.
    async fn part_conn(&self, run: RunId) -> Result<PoolConnection<sqlx::Sqlite>, StoreError> {
        let held = self.parts.lock().await.take();
        let mut conn = match held {
            Some((id, conn)) if id == run.0 => conn,
            other => {
                if let Some((_, conn)) = other {
                    Self::part_release(conn).await;
                }
                let mut conn = self.pool.acquire().await.map_err(db)?;
                if let Err(e) = Self::part_write(&mut conn, true).await {
                    Self::part_release(conn).await;
                    return Err(e);
                }
                conn
            }
        };
        if let Err(e) = Self::part_cache_grow(&mut conn).await {
            Self::part_release(conn).await;
            return Err(e);
        }
        Ok(conn)
    }

    /// Grows a part connection's page cache with the store: a tenth of the database file, from
    /// [`PART_CACHE`]'s 16 MB up to [`PART_CACHE_MAX_KIB`]. The indexes a part inserts into all
    /// over grow with the people held; with 16 MB, a first load of a million people spent most
    /// of its parts writing index pages out to the log and reading them back (its store phase
    /// took 15 times the 100,000 one's). The cache is the connection's and goes with it when the
    /// run ends ([`part_release`](Self::part_release)).
    async fn part_cache_grow(conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
        let (pages, page_size): (i64, i64) =
            sqlx::query_as("SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()")
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
        let kib = (pages.saturating_mul(page_size) / 10 / 1024).clamp(PART_CACHE_KIB, PART_CACHE_MAX_KIB);
        if kib > PART_CACHE_KIB {
            // A number the code computed, not input: no injection.
            let pragma = sqlx::AssertSqlSafe(format!("PRAGMA cache_size = -{kib}"));
            sqlx::query(pragma).execute(&mut *conn).await.map_err(db)?;
        }
        Ok(())
    }

    /// A part of `run` is done with `conn`: kept for the next part if the part was `written`,
    /// else (and for an in-memory store) back to the pool with the usual settings.
    async fn part_done(&self, run: RunId, conn: PoolConnection<sqlx::Sqlite>, written: bool) {
        if written && self.pool.options().get_max_connections() > 1 {
            let earlier = self.parts.lock().await.replace((run.0, conn));
            if let Some((_, conn)) = earlier {
                Self::part_release(conn).await;
            }
        } else {
            Self::part_release(conn).await;
        }
    }

    /// `run` is ending (finishing or failing): the connection its parts kept goes back to the pool.
    async fn parts_end(&self, run: RunId) {
        let mut held = self.parts.lock().await;
        if held.as_ref().is_some_and(|(id, _)| *id == run.0)
            && let Some((_, conn)) = held.take()
        {
            drop(held);
            Self::part_release(conn).await;
        }
    }

    /// Back to the pool with the store's usual settings, or closed if they cannot be restored.
    async fn part_release(mut conn: PoolConnection<sqlx::Sqlite>) {
        if Self::part_write(&mut conn, false).await.is_err() {
            conn.close_on_drop();
        }
    }

    /// Folds the write-ahead log back into the database before closing, so that the cost of a
    /// large run's log is paid by that run and not by the next one to write.
    pub async fn close(&self) {
        // A connection still kept for a run's parts (a run that never ended) would hold the
        // pool's close up.
        let held = self.parts.lock().await.take();
        if let Some((_, conn)) = held {
            Self::part_release(conn).await;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await {
            tracing::debug!("checkpoint on close: {e}");
        }
        self.pool.close().await;
    }
}

/// Login-write groups (`group.rs`) one PostgreSQL store commits at once: one executes its
/// statements while the other waits for its commit's flush. More make smaller groups and more
/// flushes (`bench/audit.sh` on 2 cores, empty store, one run each: 2 committers 7,439 records/s at
/// 64 logins in flight, 4 committers 5,322, 1 committer 6,396).
const PG_LOGIN_COMMITTERS: usize = 2;

/// The store in PostgreSQL, shared by several `orgid serve` replicas.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: sqlx::PgPool,
    /// Login writes, committed in groups (`group.rs`) by up to `PG_LOGIN_COMMITTERS` at once.
    pub(crate) logins: LoginWriter,
}

impl PgStore {
    pub(crate) fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// Connects to a `postgres://` URL. Does not migrate.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Backend("invalid PostgreSQL URL (expected postgres://USER@HOST/DB)".into()))?
            .log_slow_statements(log::LevelFilter::Warn, SLOW_STATEMENT);
        // A pool retries until its timeout and then reports only that; one plain connection first
        // gives the real reason (refused, bad password, no such database) at once.
        options.connect().await.map_err(db)?.close().await.map_err(db)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(db)?;
        Ok(Self { pool, logins: LoginWriter::new(PG_LOGIN_COMMITTERS) })
    }

    /// Any of the pool's connections: PostgreSQL keeps one cache for all of them.
    pub(crate) async fn group_conn(&self) -> Result<crate::group::GroupConn<'_, sqlx::Postgres>, StoreError> {
        Ok(crate::group::GroupConn::Pooled(self.pool.acquire().await.map_err(db)?))
    }

    /// Concurrent replicas are safe: the migrator holds an advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        PG_MIGRATOR.run(&self.pool).await.map_err(migrate)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db).map(drop)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Nothing to set up for a large write on PostgreSQL (see the SQLite store).
    async fn large_write(_conn: &mut sqlx::PgConnection, _large: bool) -> Result<(), StoreError> {
        Ok(())
    }

    /// A part's connection: any (PostgreSQL keeps no per-connection cache worth keeping).
    async fn part_conn(&self, _run: RunId) -> Result<PoolConnection<sqlx::Postgres>, StoreError> {
        self.pool.acquire().await.map_err(db)
    }

    async fn part_done(&self, _run: RunId, _conn: PoolConnection<sqlx::Postgres>, _written: bool) {}

    async fn parts_end(&self, _run: RunId) {}
}

store_impl!(SqliteStore, sqlx::Sqlite);
store_impl!(PgStore, sqlx::Postgres);
ldap_impl!(SqliteStore, sqlx::Sqlite);
ldap_impl!(PgStore, sqlx::Postgres);
outbox_impl!(SqliteStore, sqlx::Sqlite);
outbox_impl!(PgStore, sqlx::Postgres);
wecom_impl!(SqliteStore, sqlx::Sqlite);
wecom_impl!(PgStore, sqlx::Postgres);
notice_impl!(SqliteStore, sqlx::Sqlite);
notice_impl!(PgStore, sqlx::Postgres);
audit_impl!(SqliteStore, sqlx::Sqlite);
audit_impl!(PgStore, sqlx::Postgres);
idp_impl!(SqliteStore, sqlx::Sqlite);
idp_impl!(PgStore, sqlx::Postgres);
workflow_impl!(SqliteStore, sqlx::Sqlite);
workflow_impl!(PgStore, sqlx::Postgres);
