//! The outbox of every target, written once like `sql.rs`: `outbox_impl!` expands to
//! `OutboxStore` and to `queue`, which a target's delta uses to put its operations in the outbox in
//! the transaction that decided them. Items carry their target (`outbox.target`); each target's
//! worker reads its own items in seq order.

use orgid_directory::StoreError;
use orgid_directory::target::Queued;
use serde::Serialize;

use crate::error::json;
use crate::sql::chunk_rows;

/// Serialised operations in text per outbox insert: member lists of large groups make some
/// operations a hundred times larger than an account's. (A statement's text is held twice, as
/// text and as bound arguments, while the next is built: a first load's memberships at 4 MB a
/// statement made it the run's peak of memory, the directory writes running alongside.)
const OUTBOX_CHUNK_BYTES: usize = 1 << 20;

/// The next operations for one outbox insert, serialised: at most `chunk_rows(6)` of them and
/// about [`OUTBOX_CHUNK_BYTES`] of text.
pub(crate) fn outbox_chunk<'a, Op: Serialize>(
    ops: &mut std::iter::Peekable<std::slice::Iter<'a, Queued<Op>>>,
) -> Result<Vec<(&'a Queued<Op>, String)>, StoreError> {
    let (mut chunk, mut bytes) = (Vec::new(), 0);
    while chunk.len() < chunk_rows(6) && bytes < OUTBOX_CHUNK_BYTES {
        let Some(queued) = ops.next() else { break };
        let op = serde_json::to_string(&queued.op).map_err(|e| json("outbox operation", e))?;
        bytes += op.len();
        chunk.push((queued, op));
    }
    Ok(chunk)
}

macro_rules! outbox_impl {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Queues `ops` for `target`, decided by `run` at `at` and due at once, in the
            /// transaction `tx`. Returns their outbox seqs, in their order.
            pub(crate) async fn queue<Op: TargetOp>(
                tx: &mut sqlx::Transaction<'_, $db>,
                target: TargetId,
                run: Option<RunId>,
                ops: &[Queued<Op>],
                at: DateTime<Utc>,
            ) -> Result<Vec<i64>, StoreError> {
                // Rows of one multi-row insert take their seq in VALUES order (RETURNING gives
                // them in no particular order: sorted, they are the chunk's in order).
                let now = millis(at);
                let mut seqs = Vec::with_capacity(ops.len());
                let mut ops = ops.iter().peekable();
                let build = |ops: &mut std::iter::Peekable<std::slice::Iter<'_, Queued<Op>>>| {
                    if ops.peek().is_none() {
                        return Ok(None);
                    }
                    let chunk = outbox_chunk(ops)?;
                    let rows_in_chunk = chunk.len();
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO outbox (target, run_id, key, phase, op, created_at, next_attempt_at) ",
                    );
                    q.push_values(chunk, |mut b, (queued, op)| {
                        b.push_bind(target.as_str())
                            .push_bind(run.map(|r| r.0))
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
        }

        #[async_trait]
        impl OutboxStore for $store {
            #[tracing::instrument(skip_all, fields(seq, limit), err)]
            async fn outbox_batch_after<Op: TargetOp>(
                &self,
                seq: i64,
                limit: u32,
            ) -> Result<Vec<OutboxItem<Op>>, StoreError> {
                sqlx::query_as::<_, OutboxDb>(
                    "SELECT seq, run_id, key, phase, op, attempts, next_attempt_at FROM outbox \
                     WHERE target = $1 AND NOT parked AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(Op::TARGET.as_str())
                .bind(seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map(OutboxDb::into_domain::<Op>)
                .collect()
            }

            #[tracing::instrument(skip_all, fields(items = seqs.len()), err)]
            async fn outbox_ack(&self, target: TargetId, seqs: &[i64]) -> Result<(), StoreError> {
                if seqs.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await.map_err(db)?;
                for chunk in seqs.chunks(MAX_BINDS) {
                    let mut q = QueryBuilder::<$db>::new("DELETE FROM outbox WHERE target = ");
                    q.push_bind(target.as_str()).push(" AND seq IN (");
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
                target: TargetId,
                seq: i64,
                error: &str,
                next_attempt_at: DateTime<Utc>,
                park_after: u32,
            ) -> Result<(), StoreError> {
                // SET expressions see the row as it was: `attempts + 1` is the new count.
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
                     parked = (attempts + 1 >= $3) WHERE target = $4 AND seq = $5",
                )
                .bind(error)
                .bind(millis(next_attempt_at))
                .bind(i32::try_from(park_after).unwrap_or(i32::MAX))
                .bind(target.as_str())
                .bind(seq)
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err)]
            async fn outbox_stats(&self, target: TargetId, now: DateTime<Utc>) -> Result<OutboxStats, StoreError> {
                let mut conn = self.pool.acquire().await.map_err(db)?;
                let c = sqlx::query_as::<_, OutboxCountsDb>(
                    "SELECT \
                       COALESCE(SUM(CASE WHEN NOT parked THEN 1 ELSE 0 END), 0) AS pending, \
                       COALESCE(SUM(CASE WHEN NOT parked AND next_attempt_at <= $1 THEN 1 ELSE 0 END), 0) AS due, \
                       COALESCE(SUM(CASE WHEN NOT parked AND attempts > 0 THEN 1 ELSE 0 END), 0) AS retrying, \
                       COALESCE(SUM(CASE WHEN parked THEN 1 ELSE 0 END), 0) AS parked, \
                       MIN(CASE WHEN NOT parked THEN created_at END) AS oldest \
                     FROM outbox WHERE target = $2",
                )
                .bind(millis(now))
                .bind(target.as_str())
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
                // The error blocking the queue: pending items before parked ones, then queue order.
                let last_error = sqlx::query_scalar::<_, String>(
                    "SELECT last_error FROM outbox WHERE target = $1 AND last_error IS NOT NULL ORDER BY parked, seq LIMIT 1",
                )
                .bind(target.as_str())
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
            async fn outbox_unpark(&self, target: TargetId, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE outbox SET parked = FALSE, attempts = 0, last_error = NULL, next_attempt_at = $1 \
                     WHERE target = $2 AND parked",
                )
                .bind(millis(now))
                .bind(target.as_str())
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all, err)]
            async fn outbox_hurry(&self, target: TargetId, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE outbox SET next_attempt_at = $1 WHERE target = $2 AND NOT parked AND next_attempt_at > $1",
                )
                .bind(millis(now))
                .bind(target.as_str())
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use outbox_impl;
