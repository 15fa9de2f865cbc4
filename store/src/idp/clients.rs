//! Clients registered with `orgid clients add` (`ClientStore`); removing one revokes its grants.

use orgid_directory::StoreError;
use orgid_directory::idp::StoredClient;

use super::list;
use crate::rows::time;

#[derive(sqlx::FromRow)]
pub(crate) struct ClientDb {
    id: String,
    name: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grants: String,
    scopes: String,
    id_token_alg: String,
    access_token_alg: Option<String>,
    require_totp: bool,
    created_at: i64,
    protocol: String,
    services: String,
    backchannel_logout_uri: Option<String>,
}

impl ClientDb {
    pub(crate) fn into_domain(self) -> Result<StoredClient, StoreError> {
        Ok(StoredClient {
            id: self.id,
            name: self.name,
            secret_hash: self.secret_hash,
            redirect_uris: list("client redirect URIs", &self.redirect_uris)?,
            post_logout_redirect_uris: list("client logout URIs", &self.post_logout_redirect_uris)?,
            grants: list("client grants", &self.grants)?,
            scopes: list("client scopes", &self.scopes)?,
            id_token_alg: self.id_token_alg,
            access_token_alg: self.access_token_alg,
            require_totp: self.require_totp,
            created_at: time(self.created_at)?,
            protocol: self.protocol,
            services: list("client services", &self.services)?,
            backchannel_logout_uri: self.backchannel_logout_uri,
        })
    }
}

macro_rules! client_columns {
    () => {
        "id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grants, scopes, id_token_alg, require_totp, \
         created_at, access_token_alg, protocol, services, backchannel_logout_uri"
    };
}

pub(crate) use client_columns;

macro_rules! clients_impl {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl orgid_directory::idp::ClientStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn clients(&self) -> Result<Vec<orgid_directory::idp::StoredClient>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::clients::ClientDb>(concat!(
                    "SELECT ",
                    $crate::idp::clients::client_columns!(),
                    " FROM idp_clients ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::idp::clients::ClientDb::into_domain)
                .collect()
            }

            #[tracing::instrument(skip_all, err)]
            async fn add_client(
                &self,
                client: &orgid_directory::idp::StoredClient,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                Self::insert_client(&mut tx, client).await?;
                Self::commit_audited(tx, audit).await
            }

            #[tracing::instrument(skip_all, err)]
            async fn remove_client(
                &self,
                id: &str,
                at: DateTime<Utc>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let done = ::sqlx::query("DELETE FROM idp_clients WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("client {id}")));
                }
                Self::revoke_grants_where(
                    &mut tx,
                    "UPDATE idp_tokens SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
                    "UPDATE idp_grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
                    id,
                    millis(at),
                )
                .await?;
                // Its self-contained tokens (client credentials) have no record to revoke.
                ::sqlx::query(
                    "INSERT INTO idp_client_removals (client_id, removed_at) VALUES ($1, $2) \
                     ON CONFLICT (client_id) DO UPDATE SET removed_at = excluded.removed_at",
                )
                .bind(id)
                .bind(millis(at))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                Self::commit_audited(tx, audit).await
            }
        }

        impl $store {
            /// Inserts `client`'s row in `tx` (an OIDC or CAS client, or a SAML SP's client row).
            pub(crate) async fn insert_client(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                client: &orgid_directory::idp::StoredClient,
            ) -> Result<(), StoreError> {
                ::sqlx::query(concat!(
                    "INSERT INTO idp_clients (",
                    $crate::idp::clients::client_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                ))
                .bind(client.id.as_str())
                .bind(client.name.as_str())
                .bind(client.secret_hash.as_deref())
                .bind($crate::idp::list_json("client redirect URIs", &client.redirect_uris)?)
                .bind($crate::idp::list_json("client logout URIs", &client.post_logout_redirect_uris)?)
                .bind($crate::idp::list_json("client grants", &client.grants)?)
                .bind($crate::idp::list_json("client scopes", &client.scopes)?)
                .bind(client.id_token_alg.as_str())
                .bind(client.require_totp)
                .bind(millis(client.created_at))
                .bind(client.access_token_alg.as_deref())
                .bind(client.protocol.as_str())
                .bind($crate::idp::list_json("client services", &client.services)?)
                .bind(client.backchannel_logout_uri.as_deref())
                .execute(&mut **tx)
                .await
                .map_err(|e| match db(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("client {} already exists", client.id)),
                    e => e,
                })?;
                Ok(())
            }
        }
    };
}

pub(crate) use clients_impl;
