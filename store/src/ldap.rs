//! The directory side of the store, written once like `sql.rs`: `ldap_impl!` expands to
//! `DirectoryStore` (the LDAP outbox and the tracking of what orgid has put in the directory) and to
//! `apply_delta`, which runs use to write their `DitDelta` in their own transaction.
//!
//! A delta that changes the tracking bumps the store revision like a plan does: later plans are
//! computed against the tracking, so a run that planned before it must not apply after it.

use orgid_directory::dit::{DitDelta, Node, QueuedOp, TrackedUser};
use orgid_directory::{PersonKey, StoreError};

use crate::error::json;
use crate::sql::{chunk_rows, last_per_key};

/// A delta ready to write, with repeated keys reduced to their last value (tracked users in key
/// order, see `by_key`). Node DNs are serialised before the write transaction begins; operations
/// and tracked users chunk by chunk while they are written, so a first load's 100,000 of each
/// never exist twice in memory.
pub(crate) struct DeltaRows<'a> {
    pub(crate) ops: &'a [QueuedOp],
    pub(crate) upserts: Vec<(&'a PersonKey, &'a TrackedUser)>,
    pub(crate) deletes: Vec<&'a PersonKey>,
    pub(crate) nodes: Vec<(&'a Node, String)>,
    pub(crate) renamed: Vec<(&'a str, &'a str)>,
}

impl<'a> DeltaRows<'a> {
    pub(crate) fn new(delta: &'a DitDelta) -> Result<Self, StoreError> {
        let ops = &delta.ops[..];
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for (key, user) in last_per_key(&delta.users, |u| &u.0) {
            match user {
                Some(u) => upserts.push((key, u)),
                None => deletes.push(key),
            }
        }
        upserts.sort_unstable_by(|a, b| a.0.cmp(b.0));
        deletes.sort_unstable();
        let nodes = last_per_key(&delta.nodes, |n| &n.key)
            .into_iter()
            .map(|n| serde_json::to_string(&n.dn).map(|j| (n, j)).map_err(|e| json("node DN", e)))
            .collect::<Result<_, _>>()?;
        let renamed = delta
            .renamed
            .iter()
            .filter(|(old, new)| old != new)
            .map(|(old, new)| (old.as_str(), new.as_str()))
            .collect();
        Ok(DeltaRows { ops, upserts, deletes, nodes, renamed })
    }

    /// Whether writing it changes the tracking (operations alone do not).
    pub(crate) fn changes_tracking(&self) -> bool {
        !self.upserts.is_empty() || !self.deletes.is_empty() || !self.nodes.is_empty() || !self.renamed.is_empty()
    }
}

/// Serialised operations in text per outbox insert: member lists of large groups make some
/// operations a hundred times larger than an account's. (A statement's text is held twice, as
/// text and as bound arguments, while the next is built: a first load's memberships at 4 MB a
/// statement made it the run's peak of memory, the directory writes running alongside.)
const OUTBOX_CHUNK_BYTES: usize = 1 << 20;

/// The next operations for one outbox insert, serialised: at most `chunk_rows(6)` of them and
/// about [`OUTBOX_CHUNK_BYTES`] of text.
pub(crate) fn outbox_chunk<'a>(
    ops: &mut std::iter::Peekable<std::slice::Iter<'a, QueuedOp>>,
) -> Result<Vec<(&'a QueuedOp, String)>, StoreError> {
    let (mut chunk, mut bytes) = (Vec::new(), 0);
    while chunk.len() < chunk_rows(6) && bytes < OUTBOX_CHUNK_BYTES {
        let Some(queued) = ops.next() else { break };
        let op = serde_json::to_string(&queued.op).map_err(|e| json("directory operation", e))?;
        bytes += op.len();
        chunk.push((queued, op));
    }
    Ok(chunk)
}

/// A held run's delta, as kept in `runs.delta` until approval.
pub(crate) fn kept_delta(delta: Option<&DitDelta>) -> Result<Option<String>, StoreError> {
    delta.filter(|d| !d.is_empty()).map(|d| serde_json::to_string(d).map_err(|e| json("held delta", e))).transpose()
}

macro_rules! ldap_impl {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Writes a delta: renames first (users under an old node key move to the new one, the
            /// old node goes), then nodes, tracked users, and the operations in order, queued with
            /// `run` at `at` and due at once. Returns the operations' outbox seqs, in their order.
            async fn apply_delta(
                tx: &mut sqlx::Transaction<'_, $db>,
                run: Option<RunId>,
                rows: &DeltaRows<'_>,
                at: DateTime<Utc>,
            ) -> Result<Vec<i64>, StoreError> {
                let now = millis(at);
                for (old, new) in &rows.renamed {
                    sqlx::query("UPDATE ldap_users SET parent = $1 WHERE parent = $2")
                        .bind(*new)
                        .bind(*old)
                        .execute(&mut **tx)
                        .await
                        .map_err(db)?;
                    sqlx::query("DELETE FROM ldap_nodes WHERE key = $1").bind(*old).execute(&mut **tx).await.map_err(db)?;
                }

                for chunk in rows.nodes.chunks(chunk_rows(3)) {
                    let mut q = QueryBuilder::<$db>::new("INSERT INTO ldap_nodes (key, dn, kind) ");
                    q.push_values(chunk, |mut b, (n, dn)| {
                        b.push_bind(n.key.as_str()).push_bind(dn.as_str()).push_bind(node_kind_text(n.kind));
                    });
                    q.push(" ON CONFLICT (key) DO UPDATE SET dn = excluded.dn, kind = excluded.kind");
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }

                for chunk in rows.deletes.chunks(MAX_BINDS) {
                    let mut q = QueryBuilder::<$db>::new("DELETE FROM ldap_users WHERE person_key IN (");
                    let mut list = q.separated(", ");
                    for key in chunk {
                        list.push_bind(key.as_str());
                    }
                    q.push(")");
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }

                Self::execute_chunks(tx, rows.upserts.chunks(chunk_rows(5)), |chunk| {
                    let chunk: Vec<(&PersonKey, &TrackedUser, String)> = chunk
                        .iter()
                        .map(|(key, u)| {
                            serde_json::to_string(&u.groups).map(|g| (*key, *u, g)).map_err(|e| json("tracked groups", e))
                        })
                        .collect::<Result<_, _>>()?;
                    let mut q =
                        QueryBuilder::<$db>::new("INSERT INTO ldap_users (person_key, parent, login, groups, locked) ");
                    q.push_values(chunk, |mut b, (key, u, groups)| {
                        b.push_bind(key.as_str())
                            .push_bind(u.parent.as_str())
                            .push_bind(u.login.as_str())
                            .push_bind(groups.as_str())
                            .push_bind(u.locked);
                    });
                    q.push(
                        " ON CONFLICT (person_key) DO UPDATE SET parent = excluded.parent, login = excluded.login, \
                         groups = excluded.groups, locked = excluded.locked",
                    );
                    Ok(q)
                })
                .await?;

                // Rows of one multi-row insert take their seq in VALUES order (RETURNING gives
                // them in no particular order: sorted, they are the chunk's in order).
                let mut seqs = Vec::with_capacity(rows.ops.len());
                let mut ops = rows.ops.iter().peekable();
                let build = |ops: &mut std::iter::Peekable<std::slice::Iter<'_, orgid_directory::dit::QueuedOp>>| {
                    if ops.peek().is_none() {
                        return Ok(None);
                    }
                    let chunk = outbox_chunk(ops)?;
                    let rows_in_chunk = chunk.len();
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO ldap_outbox (run_id, key, phase, op, created_at, next_attempt_at) ",
                    );
                    q.push_values(chunk, |mut b, (queued, op)| {
                        b.push_bind(run.map(|r| r.0))
                            .push_bind(queued.key.as_str())
                            .push_bind(i32::from(queued.phase))
                            .push_bind(op)
                            .push_bind(now)
                            .push_bind(now);
                    });
                    q.push(" RETURNING seq");
                    Ok::<_, StoreError>(Some((q, rows_in_chunk)))
                };
                // The next statement is built while the database runs this one (see `execute_chunks`).
                let mut current = build(&mut ops)?;
                while let Some((mut q, rows_in_chunk)) = current.take() {
                    let (fetched, next) = futures_util::future::join(
                        q.build_query_scalar::<i64>().fetch_all(&mut **tx),
                        async { build(&mut ops) },
                    )
                    .await;
                    let mut chunk_seqs = fetched.map_err(db)?;
                    if chunk_seqs.len() != rows_in_chunk {
                        return Err(StoreError::Backend(format!(
                            "the outbox took {} of {rows_in_chunk} operations",
                            chunk_seqs.len()
                        )));
                    }
                    chunk_seqs.sort_unstable();
                    seqs.extend(chunk_seqs);
                    current = next?;
                }
                Ok(seqs)
            }

            /// Tracked users whose `column` is one of `values`, by person key.
            async fn tracked_users_where(
                &self,
                column: &'static str,
                values: &[&str],
            ) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
                let mut values = values.to_vec();
                values.sort_unstable();
                values.dedup();
                let mut conn = self.pool.acquire().await.map_err(db)?;
                let mut out = Vec::new();
                for chunk in values.chunks(MAX_BINDS) {
                    let mut q = QueryBuilder::<$db>::new("SELECT person_key, parent, login, groups, locked FROM ldap_users WHERE ");
                    q.push(column).push(" IN (");
                    let mut list = q.separated(", ");
                    for v in chunk {
                        list.push_bind(*v);
                    }
                    q.push(")");
                    for row in q.build_query_as::<TrackedUserDb>().fetch_all(&mut *conn).await.map_err(db)? {
                        out.push(row.into_domain()?);
                    }
                }
                out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                Ok(out)
            }
        }

        #[async_trait]
        impl DirectoryStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn tracked_nodes(&self) -> Result<Vec<Node>, StoreError> {
                let mut nodes = sqlx::query_as::<_, NodeDb>("SELECT key, dn, kind FROM ldap_nodes")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?
                    .into_iter()
                    .map(NodeDb::into_domain)
                    .collect::<Result<Vec<_>, _>>()?;
                nodes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
                Ok(nodes)
            }

            #[tracing::instrument(skip_all, fields(keys = keys.len()), err)]
            async fn tracked_users(&self, keys: &[PersonKey]) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
                let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
                self.tracked_users_where("person_key", &keys).await
            }

            #[tracing::instrument(skip_all, fields(parents = parents.len()), err)]
            async fn tracked_users_under(
                &self,
                parents: &[String],
            ) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
                let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
                self.tracked_users_where("parent", &parents).await
            }

            #[tracing::instrument(skip_all, err)]
            async fn all_tracked_users(&self) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
                // Sorted here, as `people()`: a plain scan, the same bytewise order on both backends.
                let mut users =
                    sqlx::query_as::<_, TrackedUserDb>("SELECT person_key, parent, login, groups, locked FROM ldap_users")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db)?
                        .into_iter()
                        .map(TrackedUserDb::into_domain)
                        .collect::<Result<Vec<_>, _>>()?;
                users.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                Ok(users)
            }

            #[tracing::instrument(skip_all, fields(ops = delta.ops.len(), users = delta.users.len()), err)]
            async fn enqueue_directory(&self, delta: &DitDelta, at: DateTime<Utc>) -> Result<(), StoreError> {
                if delta.is_empty() {
                    return Ok(());
                }
                let rows = DeltaRows::new(delta)?;
                let mut tx = self.pool.begin().await.map_err(db)?;
                // A write first (see `sql.rs`), and serialised with the runs that apply plans.
                Self::lock_revision(&mut tx).await?;
                Self::apply_delta(&mut tx, None, &rows, at).await?;
                if rows.changes_tracking() {
                    Self::bump_revision(&mut tx).await?;
                }
                tx.commit().await.map_err(db)
            }

            #[tracing::instrument(skip_all, fields(limit), err)]
            async fn outbox_batch(&self, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
                self.outbox_batch_after(i64::MIN, limit).await
            }

            #[tracing::instrument(skip_all, fields(seq, limit), err)]
            async fn outbox_batch_after(&self, seq: i64, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
                sqlx::query_as::<_, OutboxDb>(
                    "SELECT seq, run_id, key, phase, op, attempts, next_attempt_at FROM ldap_outbox \
                     WHERE NOT parked AND seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map(OutboxDb::into_domain)
                .collect()
            }

            #[tracing::instrument(skip_all, fields(items = seqs.len()), err)]
            async fn outbox_ack(&self, seqs: &[i64]) -> Result<(), StoreError> {
                if seqs.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await.map_err(db)?;
                for chunk in seqs.chunks(MAX_BINDS) {
                    let mut q = QueryBuilder::<$db>::new("DELETE FROM ldap_outbox WHERE seq IN (");
                    let mut list = q.separated(", ");
                    for seq in chunk {
                        list.push_bind(*seq);
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await.map_err(db)?;
                }
                tx.commit().await.map_err(db)
            }

            #[tracing::instrument(skip_all, fields(seq, park_after), err)]
            async fn outbox_retry(
                &self,
                seq: i64,
                error: &str,
                next_attempt_at: DateTime<Utc>,
                park_after: u32,
            ) -> Result<(), StoreError> {
                // SET expressions see the row as it was: `attempts + 1` is the new count.
                sqlx::query(
                    "UPDATE ldap_outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
                     parked = (attempts + 1 >= $3) WHERE seq = $4",
                )
                .bind(error)
                .bind(millis(next_attempt_at))
                .bind(i32::try_from(park_after).unwrap_or(i32::MAX))
                .bind(seq)
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err)]
            async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats, StoreError> {
                let mut conn = self.pool.acquire().await.map_err(db)?;
                let c = sqlx::query_as::<_, OutboxCountsDb>(
                    "SELECT \
                       COALESCE(SUM(CASE WHEN NOT parked THEN 1 ELSE 0 END), 0) AS pending, \
                       COALESCE(SUM(CASE WHEN NOT parked AND next_attempt_at <= $1 THEN 1 ELSE 0 END), 0) AS due, \
                       COALESCE(SUM(CASE WHEN NOT parked AND attempts > 0 THEN 1 ELSE 0 END), 0) AS retrying, \
                       COALESCE(SUM(CASE WHEN parked THEN 1 ELSE 0 END), 0) AS parked, \
                       MIN(CASE WHEN NOT parked THEN created_at END) AS oldest \
                     FROM ldap_outbox",
                )
                .bind(millis(now))
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
                // The error blocking the queue: pending items before parked ones, then queue order.
                let last_error = sqlx::query_scalar::<_, String>(
                    "SELECT last_error FROM ldap_outbox WHERE last_error IS NOT NULL ORDER BY parked, seq LIMIT 1",
                )
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
                Ok(OutboxStats {
                    pending: count(c.pending),
                    due: count(c.due),
                    retrying: count(c.retrying),
                    parked: count(c.parked),
                    oldest: c.oldest.map(time).transpose()?,
                    last_error,
                })
            }

            #[tracing::instrument(skip_all, err)]
            async fn outbox_unpark(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE ldap_outbox SET parked = FALSE, attempts = 0, last_error = NULL, next_attempt_at = $1 \
                     WHERE parked",
                )
                .bind(millis(now))
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use ldap_impl;
