//! Personal notices (`NoticeStore`), written once like `wecom.rs`: `notice_impl!` expands for
//! each backend. A notice is queued once per key and channel (`ON CONFLICT DO NOTHING`), so a
//! sweep that runs again, on any replica or after a restart, adds nothing.

use orgid_directory::notice::Notice;

#[derive(sqlx::FromRow)]
pub(crate) struct NoticeDb {
    key: String,
    channel: String,
    recipient: String,
    subject: String,
    body: String,
    attempts: i32,
}

impl NoticeDb {
    pub(crate) fn into_domain(self) -> Notice {
        Notice {
            key: self.key,
            channel: self.channel,
            recipient: self.recipient,
            subject: self.subject,
            body: self.body,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
        }
    }
}

macro_rules! notice_impl {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl orgid_directory::notice::NoticeStore for $store {
            #[tracing::instrument(skip_all, fields(notices = notices.len()), err)]
            async fn queue_notices(
                &self,
                notices: &[orgid_directory::notice::Notice],
                at: DateTime<Utc>,
            ) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let mut added = 0;
                for n in notices {
                    let done = sqlx::query(
                        "INSERT INTO notices (key, channel, recipient, subject, body, created_at, next_at, attempts) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6, 0) ON CONFLICT (key, channel) DO NOTHING",
                    )
                    .bind(n.key.as_str())
                    .bind(n.channel.as_str())
                    .bind(n.recipient.as_str())
                    .bind(n.subject.as_str())
                    .bind(n.body.as_str())
                    .bind(millis(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    added += done.rows_affected();
                }
                tx.commit().await.map_err(db)?;
                Ok(added)
            }

            #[tracing::instrument(skip_all, err)]
            async fn due_notices(
                &self,
                now: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<orgid_directory::notice::Notice>, StoreError> {
                let rows = sqlx::query_as::<_, crate::notice::NoticeDb>(
                    "SELECT key, channel, recipient, subject, body, attempts FROM notices \
                     WHERE sent_at IS NULL AND next_at <= $1 ORDER BY next_at, key, channel LIMIT $2",
                )
                .bind(millis(now))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
                Ok(rows.into_iter().map(crate::notice::NoticeDb::into_domain).collect())
            }

            #[tracing::instrument(skip_all, err)]
            async fn notice_sent(&self, key: &str, channel: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("UPDATE notices SET sent_at = $3, last_error = NULL WHERE key = $1 AND channel = $2")
                    .bind(key)
                    .bind(channel)
                    .bind(millis(at))
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err)]
            async fn notice_failed(
                &self,
                key: &str,
                channel: &str,
                error: &str,
                next_at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE notices SET attempts = attempts + 1, next_at = $3, last_error = $4 \
                     WHERE key = $1 AND channel = $2",
                )
                .bind(key)
                .bind(channel)
                .bind(millis(next_at))
                .bind(error.chars().take(500).collect::<String>())
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err)]
            async fn password_dates(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT c.login, c.changed_at FROM idp_credentials c JOIN accounts a ON a.login = c.login \
                     WHERE a.status = 'active' ORDER BY c.login",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
                rows.into_iter().map(|(l, t)| Ok((l, time(t)?))).collect()
            }
        }
    };
}

pub(crate) use notice_impl;
