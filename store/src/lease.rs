//! The leader lease. With PostgreSQL several `orgid serve` replicas share one store; only the
//! holder of a session-level advisory lock runs scheduled jobs (syncs, directory pushes, purges,
//! reconciles). With SQLite there is one process, and the lease is always granted.

use sqlx::{Connection, PgConnection};

use crate::{AnyStore, StoreError, error::db};

/// Arbitrary, fixed: the advisory lock key of orgid's leader lease ("orgid" in ASCII).
const LEASE_KEY: i64 = 0x006f_7267_6964;

/// Held while it lives. With PostgreSQL it owns the connection that holds the lock: dropping it
/// closes that connection, which releases the lock on the server.
pub struct LeaderLease {
    conn: Option<PgConnection>,
}

impl std::fmt::Debug for LeaderLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.conn.is_some() { "LeaderLease(postgres)" } else { "LeaderLease(sqlite)" })
    }
}

impl LeaderLease {
    /// Whether the lease is still held (the lock's connection is alive).
    pub async fn still_held(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(c) => c.ping().await.is_ok(),
        }
    }
}

impl AnyStore {
    /// Takes the leader lease if no other process holds it.
    pub async fn try_lease(&self) -> Result<Option<LeaderLease>, StoreError> {
        let AnyStore::Pg(pg) = self else { return Ok(Some(LeaderLease { conn: None })) };
        let mut conn = pg.pool().acquire().await.map_err(db)?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEASE_KEY)
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
        // Detached: the lock must never go back to the pool with a borrowed connection.
        Ok(got.then(|| LeaderLease { conn: Some(conn.detach()) }))
    }
}
