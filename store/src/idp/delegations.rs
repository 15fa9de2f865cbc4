//! Grants of delegation (`DelegationStore`). Table in the `0018_delegations` migration; the
//! OIDC grants issued under one carry its delegate in `idp_grants.actor`, so revoking it revokes
//! them (and their tokens) in the same transaction.

use orgid_directory::StoreError;
use orgid_directory::idp::Delegation;

use super::list;
use crate::rows::{opt_time, time};

#[derive(sqlx::FromRow)]
pub(crate) struct DelegationDb {
    id: String,
    principal: String,
    delegate: String,
    clients: String,
    starts_at: i64,
    ends_at: i64,
    created_at: i64,
    created_by: String,
    revoked_at: Option<i64>,
    revoked_by: Option<String>,
}

impl DelegationDb {
    pub(crate) fn into_domain(self) -> Result<Delegation, StoreError> {
        Ok(Delegation {
            id: self.id,
            principal: self.principal,
            delegate: self.delegate,
            clients: list("delegation clients", &self.clients)?,
            starts_at: time(self.starts_at)?,
            ends_at: time(self.ends_at)?,
            created_at: time(self.created_at)?,
            created_by: self.created_by,
            revoked_at: opt_time(self.revoked_at)?,
            revoked_by: self.revoked_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ActDb {
    at: i64,
    kind: String,
    outcome: String,
    actor: String,
    client_id: Option<String>,
}

impl ActDb {
    pub(crate) fn into_domain(self) -> Result<orgid_directory::idp::DelegatedAct, StoreError> {
        Ok(orgid_directory::idp::DelegatedAct {
            at: time(self.at)?,
            kind: self.kind,
            outcome: self.outcome,
            delegate: self.actor,
            client_id: self.client_id,
        })
    }
}

macro_rules! delegation_columns {
    () => {
        "id, principal, delegate, clients, starts_at, ends_at, created_at, created_by, revoked_at, revoked_by"
    };
}

macro_rules! delegations_impl {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl orgid_directory::idp::DelegationStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn add_delegation(
                &self,
                d: &orgid_directory::idp::Delegation,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                ::sqlx::query(concat!(
                    "INSERT INTO idp_delegations (",
                    $crate::idp::delegations::delegation_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ))
                .bind(d.id.as_str())
                .bind(d.principal.as_str())
                .bind(d.delegate.as_str())
                .bind($crate::idp::list_json("delegation clients", &d.clients)?)
                .bind(millis(d.starts_at))
                .bind(millis(d.ends_at))
                .bind(millis(d.created_at))
                .bind(d.created_by.as_str())
                .bind(opt_millis(d.revoked_at))
                .bind(d.revoked_by.as_deref())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                Self::commit_audited(tx, audit).await
            }

            #[tracing::instrument(skip_all, err)]
            async fn revoke_delegation(
                &self,
                id: &str,
                by: &str,
                at: DateTime<Utc>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<Option<orgid_directory::idp::Delegation>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let row = ::sqlx::query_as::<_, $crate::idp::delegations::DelegationDb>(concat!(
                    "UPDATE idp_delegations SET revoked_at = $2, revoked_by = $3 \
                     WHERE id = $1 AND revoked_at IS NULL RETURNING ",
                    $crate::idp::delegations::delegation_columns!()
                ))
                .bind(id)
                .bind(millis(at))
                .bind(by)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                let Some(row) = row else { return Ok(None) };
                let d = row.into_domain()?;
                // What was issued under it: the principal's grants with its delegate as actor.
                let grants = ::sqlx::query(
                    "UPDATE idp_grants SET revoked_at = $1 WHERE login = $2 AND actor = $3 AND revoked_at IS NULL",
                )
                .bind(millis(at))
                .bind(d.principal.as_str())
                .bind(d.delegate.as_str());
                grants.execute(&mut *tx).await.map_err(db)?;
                ::sqlx::query(
                    "UPDATE idp_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND grant_id IN \
                     (SELECT id FROM idp_grants WHERE login = $2 AND actor = $3)",
                )
                .bind(millis(at))
                .bind(d.principal.as_str())
                .bind(d.delegate.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                Self::commit_audited(tx, audit).await?;
                Ok(Some(d))
            }

            #[tracing::instrument(skip_all, err)]
            async fn delegations(
                &self,
                login: Option<&str>,
            ) -> Result<Vec<orgid_directory::idp::Delegation>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::delegations::DelegationDb>(concat!(
                    "SELECT ",
                    $crate::idp::delegations::delegation_columns!(),
                    " FROM idp_delegations WHERE $1 IS NULL OR principal = $1 OR delegate = $1 \
                     ORDER BY created_at DESC, id DESC"
                ))
                .bind(login)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::idp::delegations::DelegationDb::into_domain)
                .collect()
            }

            #[tracing::instrument(skip_all, err)]
            async fn delegation(&self, id: &str) -> Result<Option<orgid_directory::idp::Delegation>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::delegations::DelegationDb>(concat!(
                    "SELECT ",
                    $crate::idp::delegations::delegation_columns!(),
                    " FROM idp_delegations WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::delegations::DelegationDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn delegated_acts(
                &self,
                principal: &str,
                limit: u32,
            ) -> Result<Vec<orgid_directory::idp::DelegatedAct>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::delegations::ActDb>(
                    "SELECT at, kind, outcome, actor, client_id FROM audit_log                      WHERE login = $1 AND actor_kind = 'user' AND actor <> $1                      AND kind IN ('delegation.act', 'token_issued', 'cas.validate')                      ORDER BY at DESC, seq DESC LIMIT $2",
                )
                .bind(principal)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::idp::delegations::ActDb::into_domain)
                .collect()
            }
        }
    };
}

pub(crate) use {delegation_columns, delegations_impl};
