//! The identity provider's store, written once like `sql.rs`: `idp_impl!` expands to `IdpStore`
//! for one backend (invoked in `backend.rs`). Tables are in the `0003_idp` migrations.
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

use orgid_directory::idp::{
    CodeRecord, Credential, GrantRecord, SessionRecord, SigningKeyRecord, StoredClient, Subject, TokenKind, TokenRecord,
};
use orgid_directory::{CompanyCode, Employment, PersonKey, StoreError};

use crate::error::{corrupt, json};
use crate::rows::{employment, opt_time, parse, time};

pub(crate) fn token_kind(s: &str) -> Result<TokenKind, StoreError> {
    match s {
        "access" => Ok(TokenKind::Access),
        "refresh" => Ok(TokenKind::Refresh),
        o => Err(corrupt("token kind", o)),
    }
}

/// A list column (JSON array of strings).
pub(crate) fn list_json(what: &str, items: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| json(what, e))
}

fn list(what: &str, s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| json(what, e))
}

fn unsigned(what: &str, n: i32) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|e| corrupt(what, e))
}

/// An account joined with its person and company.
#[derive(sqlx::FromRow)]
pub(crate) struct SubjectDb {
    login: String,
    person_key: String,
    status: String,
    name: String,
    employee_number: String,
    email: String,
    mobile: String,
    company: String,
    company_name: Option<String>,
    company_tier: Option<String>,
    department: String,
    title: String,
    grade: Option<String>,
    confidential: bool,
    employment: String,
}

impl SubjectDb {
    pub(crate) fn into_domain(self) -> Result<Subject, StoreError> {
        let (Some(company_name), Some(tier)) = (self.company_name, self.company_tier) else {
            return Err(corrupt("account's company", "no such company"));
        };
        Ok(Subject {
            login: self.login,
            person_key: PersonKey::from(self.person_key),
            status: parse("account status", &self.status)?,
            name: self.name,
            employee_number: self.employee_number,
            email: self.email,
            mobile: self.mobile,
            company: CompanyCode(self.company),
            company_name,
            company_tier: parse("tier", &tier)?,
            department: self.department,
            title: self.title,
            grade: self.grade,
            confidential: self.confidential,
            departed: employment(&self.employment)? == Employment::Left,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialDb {
    login: String,
    hash: String,
    changed_at: i64,
    must_change: bool,
    failed_count: i32,
    locked_until: Option<i64>,
    totp_secret: Option<String>,
    last_login_at: Option<i64>,
}

impl CredentialDb {
    pub(crate) fn into_domain(self) -> Result<Credential, StoreError> {
        Ok(Credential {
            login: self.login,
            hash: self.hash,
            changed_at: time(self.changed_at)?,
            must_change: self.must_change,
            failed_count: unsigned("failure count", self.failed_count)?,
            locked_until: opt_time(self.locked_until)?,
            totp_secret: self.totp_secret,
            last_login_at: opt_time(self.last_login_at)?,
        })
    }
}

/// `record_failure`'s result row.
#[derive(sqlx::FromRow)]
pub(crate) struct FailureDb {
    pub(crate) failed_count: i32,
    pub(crate) locked_until: Option<i64>,
}

impl FailureDb {
    pub(crate) fn into_domain(self) -> Result<orgid_directory::idp::FailureCount, StoreError> {
        Ok(orgid_directory::idp::FailureCount {
            failed_count: unsigned("failure count", self.failed_count)?,
            locked_until: opt_time(self.locked_until)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClientDb {
    id: String,
    name: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grants: String,
    id_token_alg: String,
    require_totp: bool,
    created_at: i64,
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
            id_token_alg: self.id_token_alg,
            require_totp: self.require_totp,
            created_at: time(self.created_at)?,
        })
    }
}

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

macro_rules! credential_columns {
    () => {
        "login, hash, changed_at, must_change, failed_count, locked_until, totp_secret, last_login_at"
    };
}

macro_rules! client_columns {
    () => {
        "id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grants, id_token_alg, require_totp, created_at"
    };
}

macro_rules! code_columns {
    () => {
        "code_hash, client_id, login, session_hash, redirect_uri, scope, nonce, code_challenge, auth_time, amr, \
         expires_at, grant_id"
    };
}

macro_rules! grant_columns {
    () => {
        "id, client_id, login, scope, session_hash, auth_time, amr, created_at, revoked_at"
    };
}

macro_rules! session_columns {
    () => {
        "id_hash, login, auth_time, last_seen_at, expires_at, amr, ended_at"
    };
}

pub(crate) use {client_columns, code_columns, credential_columns, grant_columns, session_columns};

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
                let ended =
                    ::sqlx::query(sessions_sql).bind(now).bind(key).execute(&mut *tx).await.map_err(db)?.rows_affected();
                let revoked = Self::revoke_grants_where(&mut tx, tokens_sql, grants_sql, key, now).await?;
                if ended + revoked > 0 {
                    $crate::audit::append_tx(&mut tx, audit).await?;
                }
                tx.commit().await.map_err(db)
            }

            /// One login write of a group (`group.rs`) in the group's transaction: its credential
            /// row now, its audit records into `events`, which the group appends last. Answers
            /// the failure count of a `Failure` (zero without a credential).
            async fn login_write(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                write: &$crate::group::LoginWrite,
                events: &mut Vec<orgid_directory::audit::AuditEvent>,
            ) -> Result<Option<orgid_directory::idp::FailureCount>, StoreError> {
                use $crate::group::LoginWrite;
                match write {
                    LoginWrite::Failure { login, threshold, lock_until, attempt } => {
                        // The lock as it was, taking the row (PostgreSQL) or the write lock
                        // (SQLite) first: concurrent failures queue here (or follow each other
                        // in one group), so exactly one of them sees the login unlocked before
                        // and locked after.
                        let before = ::sqlx::query_scalar::<_, Option<i64>>(
                            "UPDATE idp_credentials SET failed_count = failed_count WHERE login = $1 \
                             RETURNING locked_until",
                        )
                        .bind(login.as_str())
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(db)?;
                        // SET expressions see the row as it was.
                        let row = ::sqlx::query_as::<_, $crate::idp::FailureDb>(
                            "UPDATE idp_credentials SET failed_count = failed_count + 1, locked_until = CASE \
                               WHEN failed_count + 1 >= $2 AND (locked_until IS NULL OR locked_until < $3) THEN $3 \
                               ELSE locked_until END \
                             WHERE login = $1 RETURNING failed_count, locked_until",
                        )
                        .bind(login.as_str())
                        .bind(i32::try_from(*threshold).unwrap_or(i32::MAX))
                        .bind(millis(*lock_until))
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(db)?;
                        let count = match row {
                            Some(row) => row.into_domain()?,
                            None => orgid_directory::idp::FailureCount { failed_count: 0, locked_until: None },
                        };
                        events.push(attempt.clone());
                        let locked_before = before.flatten().is_some_and(|t| t > millis(attempt.at));
                        if let Some(until) = count.locked_until.filter(|u| *u > attempt.at && !locked_before) {
                            events.push(orgid_directory::audit::lifecycle::lockout_event(
                                attempt,
                                count.failed_count,
                                until,
                            ));
                        }
                        Ok(Some(count))
                    }
                    LoginWrite::Refusal { attempt } => {
                        events.push(attempt.clone());
                        Ok(None)
                    }
                    LoginWrite::Success { login, at, audit } => {
                        Self::login_successes(tx, &[(login.as_str(), millis(*at), millis(*at))]).await?;
                        events.extend_from_slice(audit);
                        Ok(None)
                    }
                }
            }

            /// Successful logins: failures cleared, `last_login_at` set, a lock that has run out
            /// cleared. Each row is (login, time for `last_login_at`, time a lock must outlast to
            /// be kept), in milliseconds; a login without a credential is left alone. VALUES'
            /// columns are column1… in both dialects.
            async fn login_successes(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                rows: &[(&str, i64, i64)],
            ) -> Result<(), StoreError> {
                let mut q = ::sqlx::QueryBuilder::<$db>::new(
                    "UPDATE idp_credentials SET failed_count = 0, last_login_at = v.column2, locked_until = CASE \
                     WHEN idp_credentials.locked_until > v.column3 THEN idp_credentials.locked_until ELSE NULL END \
                     FROM (",
                );
                q.push_values(rows, |mut b, (login, last, latest)| {
                    b.push_bind(*login).push_bind(*last).push_bind(*latest);
                });
                q.push(") AS v WHERE idp_credentials.login = v.column1");
                q.build().execute(&mut **tx).await.map_err(db).map(drop)
            }

            /// Writes `audit` as the last statement of `tx`, then commits.
            async fn commit_audited(
                mut tx: ::sqlx::Transaction<'_, $db>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                $crate::audit::append_tx(&mut tx, audit).await?;
                tx.commit().await.map_err(db)
            }

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

            /// Locks the credential row (PostgreSQL) / takes the write lock (SQLite) and returns
            /// the current hash, if there is a credential.
            async fn lock_credential(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                login: &str,
            ) -> Result<Option<String>, StoreError> {
                ::sqlx::query_scalar::<_, String>(
                    "UPDATE idp_credentials SET failed_count = failed_count WHERE login = $1 RETURNING hash",
                )
                .bind(login)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)
            }
        }

        impl $crate::group::WriteGroup for $store {
            async fn write_group(
                &self,
                writes: Vec<&$crate::group::LoginWrite>,
            ) -> Result<Vec<Option<orgid_directory::idp::FailureCount>>, $crate::group::GroupError> {
                use $crate::group::GroupError::{Commit, Folded, Group, Write};
                use $crate::group::LoginDialect;
                let plan = $crate::group::plan(&writes);
                let mut tx = self.pool.begin().await.map_err(db).map_err(Group)?;
                if let Some(lock) = <$db as LoginDialect>::LOCK_WRITES
                    && !plan.logins.is_empty()
                {
                    ::sqlx::query(lock).execute(&mut *tx).await.map_err(db).map_err(Group)?;
                }
                if <$db as LoginDialect>::LOCK_ROWS && !plan.logins.is_empty() {
                    let mut q = ::sqlx::QueryBuilder::<$db>::new("SELECT login FROM idp_credentials WHERE login IN (");
                    let mut list = q.separated(", ");
                    for login in &plan.logins {
                        list.push_bind(*login);
                    }
                    q.push(") ORDER BY login FOR UPDATE");
                    q.build().execute(&mut *tx).await.map_err(db).map_err(Group)?;
                }
                let mut events = Vec::with_capacity(writes.len() + 1);
                let mut answers = Vec::with_capacity(writes.len());
                for (i, (write, alone)) in writes.iter().zip(&plan.alone).enumerate() {
                    if *alone {
                        answers.push(Self::login_write(&mut tx, write, &mut events).await.map_err(|e| Write(i, e))?);
                    } else {
                        if let $crate::group::LoginWrite::Success { audit, .. } = write {
                            events.extend_from_slice(audit);
                        }
                        answers.push(None);
                    }
                }
                if !plan.batched.is_empty() {
                    Self::login_successes(&mut tx, &plan.batched).await.map_err(Folded)?;
                }
                $crate::audit::append_tx(&mut tx, &events).await.map_err(Group)?;
                tx.commit().await.map_err(db).map_err(Commit)?;
                Ok(answers)
            }
        }

        #[async_trait]
        impl orgid_directory::idp::CredentialStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn subject(&self, login: &str) -> Result<Option<orgid_directory::idp::Subject>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::SubjectDb>(
                    "SELECT a.login, a.person_key, a.status, p.name, p.employee_number, p.email, p.mobile, \
                     p.company, c.name AS company_name, c.tier AS company_tier, p.department, p.title, p.grade, \
                     p.confidential, p.employment \
                     FROM accounts a JOIN people p ON p.person_key = a.person_key \
                     LEFT JOIN companies c ON c.code = p.company WHERE a.login = $1",
                )
                .bind(login)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::SubjectDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn credential(&self, login: &str) -> Result<Option<orgid_directory::idp::Credential>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::CredentialDb>(concat!(
                    "SELECT ",
                    $crate::idp::credential_columns!(),
                    " FROM idp_credentials WHERE login = $1"
                ))
                .bind(login)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::CredentialDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn set_password(
                &self,
                login: &str,
                hash: &str,
                must_change: bool,
                at: DateTime<Utc>,
                keep_history: u32,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let now = millis(at);
                let mut tx = self.pool.begin().await.map_err(db)?;
                let mut previous = Self::lock_credential(&mut tx, login).await?;
                if previous.is_none() {
                    let created = ::sqlx::query(
                        "INSERT INTO idp_credentials (login, hash, changed_at, must_change, failed_count) \
                         VALUES ($1, $2, $3, $4, 0) ON CONFLICT (login) DO NOTHING",
                    )
                    .bind(login)
                    .bind(hash)
                    .bind(now)
                    .bind(must_change)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    if created.rows_affected() == 0 {
                        // Created by a concurrent call since the lock attempt: now it is there.
                        previous = Self::lock_credential(&mut tx, login).await?;
                    }
                }
                if let Some(previous) = previous {
                    ::sqlx::query("INSERT INTO idp_password_history (login, hash, retired_at) VALUES ($1, $2, $3)")
                        .bind(login)
                        .bind(previous)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    ::sqlx::query(
                        "UPDATE idp_credentials SET hash = $2, changed_at = $3, must_change = $4, failed_count = 0, \
                         locked_until = NULL WHERE login = $1",
                    )
                    .bind(login)
                    .bind(hash)
                    .bind(now)
                    .bind(must_change)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                }
                ::sqlx::query(
                    "DELETE FROM idp_password_history WHERE login = $1 AND id NOT IN (SELECT id FROM \
                     idp_password_history WHERE login = $1 ORDER BY retired_at DESC, id DESC LIMIT $2)",
                )
                .bind(login)
                .bind(i64::from(keep_history))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                Self::commit_audited(tx, audit).await
            }

            #[tracing::instrument(skip_all, err)]
            async fn password_history(&self, login: &str, n: u32) -> Result<Vec<String>, StoreError> {
                ::sqlx::query_scalar::<_, String>(
                    "SELECT hash FROM idp_password_history WHERE login = $1 ORDER BY retired_at DESC, id DESC LIMIT $2",
                )
                .bind(login)
                .bind(i64::from(n))
                .fetch_all(&self.pool)
                .await
                .map_err(db)
            }

            #[tracing::instrument(skip_all, err)]
            async fn record_failure(
                &self,
                login: &str,
                threshold: u32,
                lock_until: DateTime<Utc>,
                attempt: &orgid_directory::audit::AuditEvent,
            ) -> Result<orgid_directory::idp::FailureCount, StoreError> {
                let write = $crate::group::LoginWrite::Failure {
                    login: login.to_string(),
                    threshold,
                    lock_until,
                    attempt: attempt.clone(),
                };
                let count = self.logins.write(self, write).await?;
                Ok(count.unwrap_or(orgid_directory::idp::FailureCount { failed_count: 0, locked_until: None }))
            }

            #[tracing::instrument(skip_all, err)]
            async fn record_refusal(&self, attempt: &orgid_directory::audit::AuditEvent) -> Result<(), StoreError> {
                let write = $crate::group::LoginWrite::Refusal { attempt: attempt.clone() };
                self.logins.write(self, write).await.map(drop)
            }

            #[tracing::instrument(skip_all, err)]
            async fn record_success(
                &self,
                login: &str,
                at: DateTime<Utc>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let write =
                    $crate::group::LoginWrite::Success { login: login.to_string(), at, audit: audit.to_vec() };
                self.logins.write(self, write).await.map(drop)
            }

            #[tracing::instrument(skip_all, err)]
            async fn unlock(&self, login: &str, audit: &[orgid_directory::audit::AuditEvent]) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let done =
                    ::sqlx::query("UPDATE idp_credentials SET failed_count = 0, locked_until = NULL WHERE login = $1")
                        .bind(login)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("no password is set for {login}")));
                }
                Self::commit_audited(tx, audit).await
            }

            #[tracing::instrument(skip_all, err)]
            async fn set_totp(&self, login: &str, secret: Option<&str>) -> Result<(), StoreError> {
                let done = ::sqlx::query("UPDATE idp_credentials SET totp_secret = $2 WHERE login = $1")
                    .bind(login)
                    .bind(secret)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("no password is set for {login}")));
                }
                Ok(())
            }
        }

        #[async_trait]
        impl orgid_directory::idp::ClientStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn clients(&self) -> Result<Vec<orgid_directory::idp::StoredClient>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::ClientDb>(concat!(
                    "SELECT ",
                    $crate::idp::client_columns!(),
                    " FROM idp_clients ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::idp::ClientDb::into_domain)
                .collect()
            }

            #[tracing::instrument(skip_all, err)]
            async fn add_client(
                &self,
                client: &orgid_directory::idp::StoredClient,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                ::sqlx::query(concat!(
                    "INSERT INTO idp_clients (",
                    $crate::idp::client_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .bind(client.id.as_str())
                .bind(client.name.as_str())
                .bind(client.secret_hash.as_deref())
                .bind($crate::idp::list_json("client redirect URIs", &client.redirect_uris)?)
                .bind($crate::idp::list_json("client logout URIs", &client.post_logout_redirect_uris)?)
                .bind($crate::idp::list_json("client grants", &client.grants)?)
                .bind(client.id_token_alg.as_str())
                .bind(client.require_totp)
                .bind(millis(client.created_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| match db(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("client {} already exists", client.id)),
                    e => e,
                })?;
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
                let done =
                    ::sqlx::query("DELETE FROM idp_clients WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(db)?;
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
                Self::commit_audited(tx, audit).await
            }
        }

        #[async_trait]
        impl orgid_directory::idp::SigningKeyStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn signing_keys(
                &self,
                now: DateTime<Utc>,
            ) -> Result<Vec<orgid_directory::idp::SigningKeyRecord>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::SigningKeyDb>(
                    "SELECT kid, alg, private_pkcs8, created_at, retire_at, expires_at FROM idp_signing_keys \
                     WHERE expires_at > $1 ORDER BY created_at DESC, kid DESC",
                )
                .bind(millis(now))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::idp::SigningKeyDb::into_domain)
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

        #[async_trait]
        impl orgid_directory::idp::SessionStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn create_session(&self, session: &orgid_directory::idp::SessionRecord) -> Result<(), StoreError> {
                ::sqlx::query(concat!(
                    "INSERT INTO idp_sessions (",
                    $crate::idp::session_columns!(),
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
                ::sqlx::query_as::<_, $crate::idp::SessionDb>(concat!(
                    "SELECT ",
                    $crate::idp::session_columns!(),
                    " FROM idp_sessions WHERE id_hash = $1"
                ))
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::SessionDb::into_domain)
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

        #[async_trait]
        impl orgid_directory::idp::GrantStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn save_code(&self, code: &orgid_directory::idp::CodeRecord) -> Result<(), StoreError> {
                ::sqlx::query(concat!(
                    "INSERT INTO idp_codes (",
                    $crate::idp::code_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
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
                let fresh = ::sqlx::query_as::<_, $crate::idp::CodeDb>(concat!(
                    "UPDATE idp_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                     RETURNING ",
                    $crate::idp::code_columns!()
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
                        let spent = ::sqlx::query_as::<_, $crate::idp::CodeUseDb>(
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
                let mut tx = self.pool.begin().await.map_err(db)?;
                let mut revoked_at = opt_millis(grant.revoked_at);
                if let Some(code_hash) = code_hash {
                    // First: locks the code row against a concurrent replay (`take_code`).
                    let linked = ::sqlx::query_scalar::<_, Option<i64>>(
                        "UPDATE idp_codes SET grant_id = $2 WHERE code_hash = $1 AND used_at IS NOT NULL \
                         AND grant_id IS NULL RETURNING reused_at",
                    )
                    .bind(code_hash)
                    .bind(grant.id.as_str())
                    .fetch_optional(&mut *tx)
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
                    $crate::idp::grant_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
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
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                Self::insert_tokens(&mut tx, tokens, revoked_at).await?;
                Self::commit_audited(tx, audit).await
            }

            #[tracing::instrument(skip_all, err)]
            async fn grant(&self, id: &str) -> Result<Option<orgid_directory::idp::GrantRecord>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::GrantDb>(concat!(
                    "SELECT ",
                    $crate::idp::grant_columns!(),
                    " FROM idp_grants WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::GrantDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn token(&self, id: &str) -> Result<Option<orgid_directory::idp::TokenRecord>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::TokenDb>(
                    "SELECT t.id, t.kind, t.grant_id, t.client_id, t.login, t.scope, t.issued_at, t.expires_at, \
                     t.used_at, COALESCE(t.revoked_at, g.revoked_at) AS revoked_at \
                     FROM idp_tokens t JOIN idp_grants g ON g.id = t.grant_id WHERE t.id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::TokenDb::into_domain)
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
                let found = ::sqlx::query_as::<_, $crate::idp::RefreshUseDb>(
                    "SELECT grant_id, used_at FROM idp_tokens WHERE id = $1 AND kind = 'refresh'",
                )
                .bind(old)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                let rotation = match found {
                    Some($crate::idp::RefreshUseDb { grant_id, used_at: Some(_) }) => {
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
        }

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
                    "DELETE FROM idp_sessions WHERE expires_at <= $1 OR ended_at IS NOT NULL",
                    // A grant without tokens can issue nothing more (tokens go in the statement
                    // above, or never existed; `create_grant` stores a grant and its tokens at once).
                    "DELETE FROM idp_grants WHERE created_at <= $1 \
                     AND NOT EXISTS (SELECT 1 FROM idp_tokens t WHERE t.grant_id = idp_grants.id)",
                    "DELETE FROM idp_signing_keys WHERE expires_at <= $1",
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
