//! Authorization codes, grants and tokens (`GrantStore`): spending a code or a refresh token is
//! one conditional `UPDATE … RETURNING`; a replay revokes the grant.

use orgid_directory::StoreError;
use orgid_directory::idp::{CodeRecord, GrantRecord, TokenKind, TokenRecord};

use super::list;
use crate::error::corrupt;
use crate::rows::{opt_time, time};

pub(crate) fn token_kind(s: &str) -> Result<TokenKind, StoreError> {
    match s {
        "access" => Ok(TokenKind::Access),
        "refresh" => Ok(TokenKind::Refresh),
        o => Err(corrupt("token kind", o)),
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CodeDb {
    code_hash: String,
    client_id: String,
    login: String,
    session_hash: String,
    redirect_uri: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    auth_time: i64,
    amr: String,
    expires_at: i64,
    grant_id: Option<String>,
    actor: Option<String>,
}

impl CodeDb {
    pub(crate) fn into_domain(self) -> Result<CodeRecord, StoreError> {
        Ok(CodeRecord {
            code_hash: self.code_hash,
            client_id: self.client_id,
            login: self.login,
            session_hash: self.session_hash,
            redirect_uri: self.redirect_uri,
            scope: self.scope,
            nonce: self.nonce,
            code_challenge: self.code_challenge,
            auth_time: time(self.auth_time)?,
            amr: list("code amr", &self.amr)?,
            expires_at: time(self.expires_at)?,
            grant_id: self.grant_id,
            actor: self.actor,
        })
    }
}

/// A spent code's trace, for `take_code`.
#[derive(sqlx::FromRow)]
pub(crate) struct CodeUseDb {
    pub(crate) used_at: Option<i64>,
    pub(crate) grant_id: Option<String>,
    pub(crate) login: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct GrantDb {
    id: String,
    client_id: String,
    login: Option<String>,
    scope: String,
    session_hash: Option<String>,
    auth_time: Option<i64>,
    amr: String,
    created_at: i64,
    revoked_at: Option<i64>,
    actor: Option<String>,
}

impl GrantDb {
    pub(crate) fn into_domain(self) -> Result<GrantRecord, StoreError> {
        Ok(GrantRecord {
            id: self.id,
            client_id: self.client_id,
            login: self.login,
            scope: self.scope,
            session_hash: self.session_hash,
            auth_time: opt_time(self.auth_time)?,
            amr: list("grant amr", &self.amr)?,
            created_at: time(self.created_at)?,
            revoked_at: opt_time(self.revoked_at)?,
            actor: self.actor,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenDb {
    id: String,
    kind: String,
    grant_id: String,
    client_id: String,
    login: Option<String>,
    scope: String,
    issued_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenDb {
    pub(crate) fn into_domain(self) -> Result<TokenRecord, StoreError> {
        Ok(TokenRecord {
            id: self.id,
            kind: token_kind(&self.kind)?,
            grant_id: self.grant_id,
            client_id: self.client_id,
            login: self.login,
            scope: self.scope,
            issued_at: time(self.issued_at)?,
            expires_at: time(self.expires_at)?,
            used_at: opt_time(self.used_at)?,
            revoked_at: opt_time(self.revoked_at)?,
        })
    }
}

/// A refresh token found by `rotate_refresh` after it could not be spent.
#[derive(sqlx::FromRow)]
pub(crate) struct RefreshUseDb {
    pub(crate) grant_id: String,
    pub(crate) used_at: Option<i64>,
}

macro_rules! code_columns {
    () => {
        "code_hash, client_id, login, session_hash, redirect_uri, scope, nonce, code_challenge, auth_time, amr, \
         expires_at, grant_id, actor"
    };
}

macro_rules! grant_columns {
    () => {
        "id, client_id, login, scope, session_hash, auth_time, amr, created_at, revoked_at, actor"
    };
}

pub(crate) use {code_columns, grant_columns};

macro_rules! grants_impl {
    ($store:ident, $db:ty) => {
        impl $store {
            async fn revoke_grant_tx(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                id: &str,
                at: i64,
            ) -> Result<(), StoreError> {
                Self::revoke_grants_where(
                    tx,
                    "UPDATE idp_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
                    "UPDATE idp_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    id,
                    at,
                )
                .await
                .map(drop)
            }

            /// A grant and its tokens in a group's transaction (`create_grant`, through
            /// `group.rs`): the code it spends, if any, is linked first, which locks the code's
            /// row against a concurrent replay (`take_code`); a replayed code's grant is stored
            /// revoked.
            async fn grant_write(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                grant: &orgid_directory::idp::GrantRecord,
                tokens: &[orgid_directory::idp::TokenRecord],
                code_hash: Option<&str>,
            ) -> Result<(), StoreError> {
                let mut revoked_at = opt_millis(grant.revoked_at);
                if let Some(code_hash) = code_hash {
                    let linked = ::sqlx::query_scalar::<_, Option<i64>>(
                        "UPDATE idp_codes SET grant_id = $2 WHERE code_hash = $1 AND used_at IS NOT NULL \
                         AND grant_id IS NULL RETURNING reused_at",
                    )
                    .bind(code_hash)
                    .bind(grant.id.as_str())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db)?;
                    match linked {
                        None => {
                            return Err(StoreError::Conflict(
                                "the authorization code is unknown, unspent or already exchanged".into(),
                            ));
                        }
                        Some(Some(replayed)) => revoked_at = revoked_at.or(Some(replayed)),
                        Some(None) => {}
                    }
                }
                ::sqlx::query(concat!(
                    "INSERT INTO idp_grants (",
                    $crate::idp::grants::grant_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ))
                .bind(grant.id.as_str())
                .bind(grant.client_id.as_str())
                .bind(grant.login.as_deref())
                .bind(grant.scope.as_str())
                .bind(grant.session_hash.as_deref())
                .bind(opt_millis(grant.auth_time))
                .bind($crate::idp::list_json("grant amr", &grant.amr)?)
                .bind(millis(grant.created_at))
                .bind(revoked_at)
                .bind(grant.actor.as_deref())
                .execute(&mut **tx)
                .await
                .map_err(db)?;
                Self::insert_tokens(tx, tokens, revoked_at).await
            }

            /// New grants (none revoked, none spending a code) and their tokens, in multi-row
            /// inserts: the folded grants of a group (`group.rs`).
            async fn insert_grants(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                grants: &[(&orgid_directory::idp::GrantRecord, &[orgid_directory::idp::TokenRecord])],
            ) -> Result<(), StoreError> {
                for chunk in grants.chunks(chunk_rows(10)) {
                    let mut q = QueryBuilder::<$db>::new(concat!(
                        "INSERT INTO idp_grants (",
                        $crate::idp::grants::grant_columns!(),
                        ") "
                    ));
                    let mut amr = Vec::with_capacity(chunk.len());
                    for (g, _) in chunk {
                        amr.push($crate::idp::list_json("grant amr", &g.amr)?);
                    }
                    q.push_values(chunk.iter().zip(amr), |mut b, ((g, _), amr)| {
                        b.push_bind(g.id.as_str())
                            .push_bind(g.client_id.as_str())
                            .push_bind(g.login.as_deref())
                            .push_bind(g.scope.as_str())
                            .push_bind(g.session_hash.as_deref())
                            .push_bind(opt_millis(g.auth_time))
                            .push_bind(amr)
                            .push_bind(millis(g.created_at))
                            .push_bind(opt_millis(g.revoked_at))
                            .push_bind(g.actor.as_deref());
                    });
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }
                let tokens: Vec<orgid_directory::idp::TokenRecord> =
                    grants.iter().flat_map(|(_, t)| t.iter().cloned()).collect();
                Self::insert_tokens(tx, &tokens, None).await
            }

            async fn insert_tokens(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                tokens: &[orgid_directory::idp::TokenRecord],
                revoked_at: Option<i64>,
            ) -> Result<(), StoreError> {
                for chunk in tokens.chunks(chunk_rows(10)) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO idp_tokens (id, kind, grant_id, client_id, login, scope, issued_at, expires_at, \
                         used_at, revoked_at) ",
                    );
                    q.push_values(chunk, |mut b, t| {
                        b.push_bind(t.id.as_str())
                            .push_bind(t.kind.as_str())
                            .push_bind(t.grant_id.as_str())
                            .push_bind(t.client_id.as_str())
                            .push_bind(t.login.as_deref())
                            .push_bind(t.scope.as_str())
                            .push_bind(millis(t.issued_at))
                            .push_bind(millis(t.expires_at))
                            .push_bind(opt_millis(t.used_at))
                            .push_bind(opt_millis(t.revoked_at).or(revoked_at));
                    });
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl orgid_directory::idp::GrantStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn save_code(&self, code: &orgid_directory::idp::CodeRecord) -> Result<(), StoreError> {
                ::sqlx::query(concat!(
                    "INSERT INTO idp_codes (",
                    $crate::idp::grants::code_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                ))
                .bind(code.code_hash.as_str())
                .bind(code.client_id.as_str())
                .bind(code.login.as_str())
                .bind(code.session_hash.as_str())
                .bind(code.redirect_uri.as_str())
                .bind(code.scope.as_str())
                .bind(code.nonce.as_deref())
                .bind(code.code_challenge.as_deref())
                .bind(millis(code.auth_time))
                .bind($crate::idp::list_json("code amr", &code.amr)?)
                .bind(millis(code.expires_at))
                .bind(code.grant_id.as_deref())
                .bind(code.actor.as_deref())
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err)]
            async fn take_code(
                &self,
                code_hash: &str,
                at: DateTime<Utc>,
                reuse: &orgid_directory::audit::AuditEvent,
            ) -> Result<orgid_directory::idp::CodeTake, StoreError> {
                use orgid_directory::idp::CodeTake;
                let now = millis(at);
                let mut tx = self.pool.begin().await.map_err(db)?;
                let fresh = ::sqlx::query_as::<_, $crate::idp::grants::CodeDb>(concat!(
                    "UPDATE idp_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                     RETURNING ",
                    $crate::idp::grants::code_columns!()
                ))
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                let take = match fresh {
                    Some(code) => CodeTake::Fresh(code.into_domain()?),
                    None => {
                        // Marks a spent code as replayed, so that an exchange still in flight
                        // stores its grant revoked (see the module doc).
                        let spent = ::sqlx::query_as::<_, $crate::idp::grants::CodeUseDb>(
                            "UPDATE idp_codes SET reused_at = COALESCE(reused_at, $2) \
                             WHERE code_hash = $1 AND used_at IS NOT NULL RETURNING used_at, grant_id, login",
                        )
                        .bind(code_hash)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db)?;
                        match spent {
                            Some(s) if s.used_at.is_some() => {
                                let mut event = reuse.clone();
                                if event.login.is_none() {
                                    event.login = Some(s.login);
                                }
                                if let Some(g) = &s.grant_id {
                                    event = event.attr("grant_id", g.as_str());
                                }
                                $crate::audit::append_tx(&mut tx, &[event]).await?;
                                CodeTake::Reused { grant_id: s.grant_id }
                            }
                            _ => CodeTake::Missing,
                        }
                    }
                };
                tx.commit().await.map_err(db)?;
                Ok(take)
            }

            #[tracing::instrument(skip_all, err)]
            async fn create_grant(
                &self,
                grant: &orgid_directory::idp::GrantRecord,
                tokens: &[orgid_directory::idp::TokenRecord],
                code_hash: Option<&str>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                // Through the group commit of `group.rs`: concurrent grants share a transaction.
                let write = $crate::group::LoginWrite::Grant {
                    grant: grant.clone(),
                    tokens: tokens.to_vec(),
                    code_hash: code_hash.map(str::to_string),
                    audit: audit.to_vec(),
                };
                self.logins.write(self, write).await.map(drop)
            }

            #[tracing::instrument(skip_all, err)]
            async fn session_clients(&self, session_hash: &str) -> Result<Vec<String>, StoreError> {
                ::sqlx::query_scalar::<_, String>(
                    "SELECT client_id FROM idp_codes WHERE session_hash = $1 \
                     UNION SELECT client_id FROM idp_grants WHERE session_hash = $1 ORDER BY 1",
                )
                .bind(session_hash)
                .fetch_all(&self.pool)
                .await
                .map_err(db)
            }

            #[tracing::instrument(skip_all, err)]
            async fn grant(&self, id: &str) -> Result<Option<orgid_directory::idp::GrantRecord>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::grants::GrantDb>(concat!(
                    "SELECT ",
                    $crate::idp::grants::grant_columns!(),
                    " FROM idp_grants WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::grants::GrantDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn token(&self, id: &str) -> Result<Option<orgid_directory::idp::TokenRecord>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::grants::TokenDb>(
                    "SELECT t.id, t.kind, t.grant_id, t.client_id, t.login, t.scope, t.issued_at, t.expires_at, \
                     t.used_at, COALESCE(t.revoked_at, g.revoked_at) AS revoked_at \
                     FROM idp_tokens t JOIN idp_grants g ON g.id = t.grant_id WHERE t.id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::grants::TokenDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn rotate_refresh(
                &self,
                old: &str,
                new: &[orgid_directory::idp::TokenRecord],
                at: DateTime<Utc>,
                issued: &orgid_directory::audit::AuditEvent,
                reused: &orgid_directory::audit::AuditEvent,
            ) -> Result<orgid_directory::idp::Rotation, StoreError> {
                use orgid_directory::idp::Rotation;
                let now = millis(at);
                let mut tx = self.pool.begin().await.map_err(db)?;
                // The grant's row first, as every revocation takes it: rotations and revocations
                // of one grant then queue there instead of locking its tokens in different
                // orders (a PostgreSQL deadlock). It is also the write SQLite begins with.
                ::sqlx::query(
                    "UPDATE idp_grants SET revoked_at = revoked_at \
                     WHERE id = (SELECT grant_id FROM idp_tokens WHERE id = $1)",
                )
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                // One statement spends the token: of two concurrent rotations, the second finds
                // it used.
                let spent = ::sqlx::query_scalar::<_, String>(
                    "UPDATE idp_tokens SET used_at = $2 WHERE id = $1 AND kind = 'refresh' AND used_at IS NULL \
                     AND revoked_at IS NULL AND expires_at > $2 \
                     AND grant_id IN (SELECT id FROM idp_grants WHERE revoked_at IS NULL) RETURNING grant_id",
                )
                .bind(old)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                if let Some(grant_id) = spent {
                    if new.iter().any(|t| t.grant_id != grant_id) {
                        return Err(StoreError::Backend("rotated tokens must belong to the old token's grant".into()));
                    }
                    Self::insert_tokens(&mut tx, new, None).await?;
                    Self::commit_audited(tx, std::slice::from_ref(issued)).await?;
                    return Ok(Rotation::Rotated);
                }
                let found = ::sqlx::query_as::<_, $crate::idp::grants::RefreshUseDb>(
                    "SELECT grant_id, used_at FROM idp_tokens WHERE id = $1 AND kind = 'refresh'",
                )
                .bind(old)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                let rotation = match found {
                    Some($crate::idp::grants::RefreshUseDb { grant_id, used_at: Some(_) }) => {
                        Self::revoke_grant_tx(&mut tx, &grant_id, now).await?;
                        $crate::audit::append_tx(&mut tx, std::slice::from_ref(reused)).await?;
                        Rotation::Reused { grant_id }
                    }
                    _ => Rotation::Invalid,
                };
                tx.commit().await.map_err(db)?;
                Ok(rotation)
            }

            #[tracing::instrument(skip_all, err)]
            async fn revoke_grant(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                Self::revoke_grant_tx(&mut tx, id, millis(at)).await?;
                tx.commit().await.map_err(db)
            }

            #[tracing::instrument(skip_all, err)]
            async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
                ::sqlx::query("UPDATE idp_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(millis(at))
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(())
            }

            async fn record_issued(&self, audit: &orgid_directory::audit::AuditEvent) -> Result<(), StoreError> {
                // Through the group commit of `group.rs`, merged with the group's other ones.
                let write = $crate::group::LoginWrite::Issued { audit: audit.clone() };
                self.logins.write(self, write).await.map(drop)
            }

            #[tracing::instrument(skip_all, err)]
            async fn revoke_access(
                &self,
                jti: &str,
                client_id: &str,
                expires_at: DateTime<Utc>,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                ::sqlx::query(
                    "INSERT INTO idp_revoked_access (jti, client_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (jti) DO NOTHING",
                )
                .bind(jti)
                .bind(client_id)
                .bind(millis(expires_at))
                .bind(millis(at))
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err)]
            async fn access_standing(
                &self,
                jti: &str,
                client_id: &str,
            ) -> Result<orgid_directory::idp::AccessStanding, StoreError> {
                let (revoked, removed) = ::sqlx::query_as::<_, (bool, Option<i64>)>(
                    "SELECT EXISTS (SELECT 1 FROM idp_revoked_access WHERE jti = $1), \
                     (SELECT removed_at FROM idp_client_removals WHERE client_id = $2)",
                )
                .bind(jti)
                .bind(client_id)
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
                Ok(orgid_directory::idp::AccessStanding {
                    revoked,
                    client_removed_at: removed.and_then(DateTime::from_timestamp_millis),
                })
            }
        }
    };
}

pub(crate) use grants_impl;
