//! The provider's signing keys (`SigningKeyStore`): rotation serialises replicas on the
//! `idp_locks` row `signing_keys`.

use orgid_directory::StoreError;
use orgid_directory::idp::SigningKeyRecord;

use crate::rows::time;

#[derive(sqlx::FromRow)]
pub(crate) struct SigningKeyDb {
    kid: String,
    alg: String,
    private_pkcs8: Vec<u8>,
    created_at: i64,
    retire_at: i64,
    expires_at: i64,
}

impl SigningKeyDb {
    pub(crate) fn into_domain(self) -> Result<SigningKeyRecord, StoreError> {
        Ok(SigningKeyRecord {
            kid: self.kid,
            alg: self.alg,
            private_pkcs8: self.private_pkcs8,
            created_at: time(self.created_at)?,
            retire_at: time(self.retire_at)?,
            expires_at: time(self.expires_at)?,
        })
    }
}

macro_rules! keys_impl {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl orgid_directory::idp::SigningKeyStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn signing_keys(
                &self,
                now: DateTime<Utc>,
            ) -> Result<Vec<orgid_directory::idp::SigningKeyRecord>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::keys::SigningKeyDb>(
                    "SELECT kid, alg, private_pkcs8, created_at, retire_at, expires_at FROM idp_signing_keys \
                     WHERE expires_at > $1 ORDER BY created_at DESC, kid DESC",
                )
                .bind(millis(now))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::idp::keys::SigningKeyDb::into_domain)
                .collect()
            }

            #[tracing::instrument(skip_all, err)]
            async fn add_signing_key(
                &self,
                key: &orgid_directory::idp::SigningKeyRecord,
                unless_newer_than: DateTime<Utc>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                // Replicas rotating at once queue here; the one after sees the other's key.
                ::sqlx::query("UPDATE idp_locks SET name = name WHERE name = 'signing_keys'")
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                let done = ::sqlx::query(
                    "INSERT INTO idp_signing_keys (kid, alg, private_pkcs8, created_at, retire_at, expires_at) \
                     SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
                     (SELECT 1 FROM idp_signing_keys WHERE created_at > $7)",
                )
                .bind(key.kid.as_str())
                .bind(key.alg.as_str())
                .bind(key.private_pkcs8.as_slice())
                .bind(millis(key.created_at))
                .bind(millis(key.retire_at))
                .bind(millis(key.expires_at))
                .bind(millis(unless_newer_than))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                let added = done.rows_affected() == 1;
                Self::commit_audited(tx, if added { audit } else { &[] }).await?;
                Ok(added)
            }
        }
    };
}

pub(crate) use keys_impl;
