//! The identity provider's store, written once like `sql.rs`: `idp_impl!` expands to the
//! `IdpStore` traits for one backend (invoked in `backend.rs`), one file per aggregate with its
//! rows: `credentials`, `clients`, `saml` (SAML SPs), `keys`, `sessions`, `grants`, `guards` (spent
//! forms and failed-login budgets), `cas` (service tickets, single-logout notices), `delegations` (grants of delegation); here what they
//! share and the purge across them. Tables are in the
//! `0003_idp` and `0008_idp_guards` migrations.
//!
//! Concurrency: every transaction begins with a write (SQLite then takes its write lock up front;
//! PostgreSQL locks the rows it updates), and everything that must not race is one conditional
//! `UPDATE … RETURNING`: failure counting, spending a code, spending a refresh token. Key
//! rotation serialises replicas on the `idp_locks` row `signing_keys`.
//!
//! Choices the trait leaves open:
//! - `token` reports a token as revoked (`revoked_at`) when its grant is revoked, with the
//!   grant's time if the token itself was not.
//! - `record_failure` never shortens a lock: at the threshold `locked_until` becomes the later of
//!   the current lock and `lock_until` (so a lock that has run out is set again by the next
//!   failure); under the threshold a lock is left as it is.
//! - `record_success` clears the failures and a lock that has run out at `at`, but keeps a lock
//!   still running (a success can only get there by a caller bug).
//! - `take_code` on a spent code marks it reused; `create_grant` for a code marked reused stores
//!   the grant and its tokens already revoked (the replay raced the exchange: RFC 6749 §4.1.2).
//!   A spent code stays `Reused` after it expires, until `purge_expired` deletes it.
//! - `charge_attempt` with no rules does nothing; a refused charge writes nothing (not even the
//!   rows of new keys). `refund_attempt` never takes a key below a full budget.
//! - `touch_session` and `revoke_*` on a missing row do nothing; `unlock` and `set_totp` without
//!   a credential are `NotFound`.
//! - `subject.departed` is `people.employment = 'left'` (a leaving date takes effect through the
//!   sync, which changes the account's status).
//!
//! - Audit records go last in each transaction (`audit::append_tx`, see its module doc). An
//!   `end_session*` call that ended nothing records nothing; `take_code` records its `reuse`
//!   event only for a reused code, `rotate_refresh` one of its two events by outcome.
//!
//! Values are never logged: spans record no fields of these calls.

pub(crate) mod cas;
pub(crate) mod clients;
pub(crate) mod credentials;
pub(crate) mod delegations;
pub(crate) mod grants;
pub(crate) mod guards;
pub(crate) mod keys;
pub(crate) mod saml;
pub(crate) mod sessions;

use orgid_directory::StoreError;

use crate::error::json;

/// A list column (JSON array of strings).
pub(crate) fn list_json(what: &str, items: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| json(what, e))
}

/// A list column read back.
pub(crate) fn list(what: &str, s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| json(what, e))
}

macro_rules! idp_impl {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Revokes grants and their tokens: `grants_sql` and `tokens_sql` are the two
            /// `UPDATE`s, binding `$1` to the time and `$2` to `key`.
            async fn revoke_grants_where(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                tokens_sql: &'static str,
                grants_sql: &'static str,
                key: &str,
                at: i64,
            ) -> Result<u64, StoreError> {
                // Grants first: their row locks queue concurrent revocations of the same grant
                // (say, several replays of one refresh token), which would otherwise lock the
                // grant's tokens in different orders and deadlock on PostgreSQL.
                let done = ::sqlx::query(grants_sql).bind(at).bind(key).execute(&mut **tx).await.map_err(db)?;
                ::sqlx::query(tokens_sql).bind(at).bind(key).execute(&mut **tx).await.map_err(db)?;
                Ok(done.rows_affected())
            }

            /// Writes `audit` as the last statement of `tx`, then commits.
            async fn commit_audited(
                mut tx: ::sqlx::Transaction<'_, $db>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                $crate::audit::append_tx(&mut tx, audit).await?;
                tx.commit().await.map_err(db)
            }
        }

        $crate::idp::credentials::credentials_impl!($store, $db);
        $crate::idp::clients::clients_impl!($store, $db);
        $crate::idp::keys::keys_impl!($store, $db);
        $crate::idp::saml::saml_impl!($store, $db);
        $crate::idp::sessions::sessions_impl!($store, $db);
        $crate::idp::grants::grants_impl!($store, $db);
        $crate::idp::guards::guards_impl!($store, $db);
        $crate::idp::cas::cas_impl!($store, $db);
        $crate::idp::delegations::delegations_impl!($store, $db);

        #[async_trait]
        impl orgid_directory::idp::IdpUpkeepStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let now = millis(now);
                let mut tx = self.pool.begin().await.map_err(db)?;
                let mut gone = 0;
                for sql in [
                    "DELETE FROM idp_codes WHERE expires_at <= $1",
                    "DELETE FROM idp_tokens WHERE expires_at <= $1",
                    "DELETE FROM idp_revoked_access WHERE expires_at <= $1",
                    "DELETE FROM idp_sessions WHERE expires_at <= $1 OR ended_at IS NOT NULL",
                    // A grant without tokens can issue nothing more (tokens go in the statement
                    // above, or never existed; `create_grant` stores a grant and its tokens at once).
                    "DELETE FROM idp_grants WHERE created_at <= $1 \
                     AND NOT EXISTS (SELECT 1 FROM idp_tokens t WHERE t.grant_id = idp_grants.id)",
                    "DELETE FROM idp_signing_keys WHERE expires_at <= $1",
                    "DELETE FROM idp_spent_forms WHERE expires_at <= $1",
                    "DELETE FROM idp_throttle WHERE tat <= $1",
                    "DELETE FROM idp_cas_tickets WHERE expires_at <= $1",
                    "DELETE FROM idp_logout_notices WHERE done_at IS NOT NULL",
                ] {
                    gone += ::sqlx::query(sql).bind(now).execute(&mut *tx).await.map_err(db)?.rows_affected();
                }
                tx.commit().await.map_err(db)?;
                Ok(gone)
            }
        }
    };
}

pub(crate) use idp_impl;
