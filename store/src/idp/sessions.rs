//! SSO sessions (`SessionStore`): ending one (or all of a login's) revokes the grants issued
//! through it, in the same transaction.

use orgid_directory::StoreError;
use orgid_directory::idp::SessionRecord;

use super::list;
use crate::rows::{opt_time, time};

#[derive(sqlx::FromRow)]
pub(crate) struct SessionDb {
    id_hash: String,
    login: String,
    auth_time: i64,
    last_seen_at: i64,
    expires_at: i64,
    amr: String,
    ended_at: Option<i64>,
}

impl SessionDb {
    pub(crate) fn into_domain(self) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            id_hash: self.id_hash,
            login: self.login,
            auth_time: time(self.auth_time)?,
            last_seen_at: time(self.last_seen_at)?,
            expires_at: time(self.expires_at)?,
            amr: list("session amr", &self.amr)?,
            ended_at: opt_time(self.ended_at)?,
        })
    }
}

macro_rules! session_columns {
    () => {
        "id_hash, login, auth_time, last_seen_at, expires_at, amr, ended_at"
    };
}

pub(crate) use session_columns;

macro_rules! sessions_impl {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Ends sessions and revokes grants with their tokens, in one transaction: the three
            /// `UPDATE`s bind `$1` to the time and `$2` to `key`.
            async fn end_sessions_where(
                &self,
                sessions_sql: &'static str,
                grants_sql: &'static str,
                tokens_sql: &'static str,
                key: &str,
                at: DateTime<Utc>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let now = millis(at);
                let mut tx = self.pool.begin().await.map_err(db)?;
                let ended = ::sqlx::query(sessions_sql)
                    .bind(now)
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?
                    .rows_affected();
                let revoked = Self::revoke_grants_where(&mut tx, tokens_sql, grants_sql, key, now).await?;
                if ended + revoked > 0 {
                    $crate::audit::append_tx(&mut tx, audit).await?;
                }
                tx.commit().await.map_err(db)
            }
        }

        #[async_trait]
        impl orgid_directory::idp::SessionStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn create_session(&self, session: &orgid_directory::idp::SessionRecord) -> Result<(), StoreError> {
                ::sqlx::query(concat!(
                    "INSERT INTO idp_sessions (",
                    $crate::idp::sessions::session_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .bind(session.id_hash.as_str())
                .bind(session.login.as_str())
                .bind(millis(session.auth_time))
                .bind(millis(session.last_seen_at))
                .bind(millis(session.expires_at))
                .bind($crate::idp::list_json("session amr", &session.amr)?)
                .bind(opt_millis(session.ended_at))
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err)]
            async fn session(&self, id_hash: &str) -> Result<Option<orgid_directory::idp::SessionRecord>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::sessions::SessionDb>(concat!(
                    "SELECT ",
                    $crate::idp::sessions::session_columns!(),
                    " FROM idp_sessions WHERE id_hash = $1"
                ))
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::sessions::SessionDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
                ::sqlx::query(
                    "UPDATE idp_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND ended_at IS NULL \
                     AND last_seen_at < $2",
                )
                .bind(id_hash)
                .bind(millis(at))
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err)]
            async fn end_session(
                &self,
                id_hash: &str,
                at: DateTime<Utc>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                self.end_sessions_where(
                    "UPDATE idp_sessions SET ended_at = $1 WHERE id_hash = $2 AND ended_at IS NULL",
                    "UPDATE idp_grants SET revoked_at = $1 WHERE session_hash = $2 AND revoked_at IS NULL",
                    "UPDATE idp_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND grant_id IN \
                     (SELECT id FROM idp_grants WHERE session_hash = $2)",
                    id_hash,
                    at,
                    audit,
                )
                .await
            }

            #[tracing::instrument(skip_all, err)]
            async fn end_sessions_of(
                &self,
                login: &str,
                at: DateTime<Utc>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                self.end_sessions_where(
                    "UPDATE idp_sessions SET ended_at = $1 WHERE login = $2 AND ended_at IS NULL",
                    "UPDATE idp_grants SET revoked_at = $1 WHERE login = $2 AND revoked_at IS NULL",
                    "UPDATE idp_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND grant_id IN \
                     (SELECT id FROM idp_grants WHERE login = $2)",
                    login,
                    at,
                    audit,
                )
                .await
            }
        }
    };
}

pub(crate) use sessions_impl;
