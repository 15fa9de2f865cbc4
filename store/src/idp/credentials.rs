//! Accounts as the provider sees them and their credentials (`CredentialStore`): the subject
//! join, passwords and their history (the holder's change is conditional on the credential's
//! version), failures and lockouts (login writes go through
//! the group commit of `group.rs`), TOTP secrets.

use orgid_directory::idp::{Credential, Subject};
use orgid_directory::{CompanyCode, Employment, PersonKey, StoreError};

use crate::error::corrupt;
use crate::rows::{employment, opt_time, parse, time};

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
    version: i64,
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
            version: self.version,
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

macro_rules! credential_columns {
    () => {
        "login, hash, changed_at, must_change, failed_count, locked_until, totp_secret, last_login_at, version"
    };
}

pub(crate) use credential_columns;

macro_rules! credentials_impl {
    ($store:ident, $db:ty) => {
        impl $store {
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
                        let row = ::sqlx::query_as::<_, $crate::idp::credentials::FailureDb>(
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
                    LoginWrite::Refusal { attempt } | LoginWrite::Issued { audit: attempt } => {
                        events.push(attempt.clone());
                        Ok(None)
                    }
                    LoginWrite::Grant { grant, tokens, code_hash, audit } => {
                        Self::grant_write(tx, grant, tokens, code_hash.as_deref()).await?;
                        events.extend_from_slice(audit);
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

            /// Moves a replaced hash to the login's history.
            async fn retire_hash(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                login: &str,
                previous: &str,
                at: i64,
            ) -> Result<(), StoreError> {
                ::sqlx::query("INSERT INTO idp_password_history (login, hash, retired_at) VALUES ($1, $2, $3)")
                    .bind(login)
                    .bind(previous)
                    .bind(at)
                    .execute(&mut **tx)
                    .await
                    .map_err(db)
                    .map(drop)
            }

            /// Keeps the newest `keep` entries of the login's history.
            async fn trim_history(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                login: &str,
                keep: u32,
            ) -> Result<(), StoreError> {
                ::sqlx::query(
                    "DELETE FROM idp_password_history WHERE login = $1 AND id NOT IN (SELECT id FROM \
                     idp_password_history WHERE login = $1 ORDER BY retired_at DESC, id DESC LIMIT $2)",
                )
                .bind(login)
                .bind(i64::from(keep))
                .execute(&mut **tx)
                .await
                .map_err(db)
                .map(drop)
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
                let mut held = self.group_conn().await.map_err(Group)?;
                let mut tx = ::sqlx::Acquire::begin(&mut *held).await.map_err(db).map_err(Group)?;
                // Every group writes (its audit records at least): the write lock comes first. A
                // group of audit records alone takes it with its first statement (the chain head's).
                if let Some(lock) = <$db as LoginDialect>::LOCK_WRITES
                    && !writes.iter().all(|w| w.audit_only())
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
                let mut grants = Vec::new();
                let mut issued = Vec::new();
                for (i, (write, alone)) in writes.iter().zip(&plan.alone).enumerate() {
                    if *alone {
                        answers.push(Self::login_write(&mut tx, write, &mut events).await.map_err(|e| Write(i, e))?);
                    } else {
                        match write {
                            $crate::group::LoginWrite::Success { audit, .. } => events.extend_from_slice(audit),
                            $crate::group::LoginWrite::Grant { grant, tokens, audit, .. } => {
                                grants.push((grant, tokens.as_slice()));
                                events.extend_from_slice(audit);
                            }
                            $crate::group::LoginWrite::Issued { audit } => issued.push(audit.clone()),
                            _ => {}
                        }
                        answers.push(None);
                    }
                }
                if !plan.batched.is_empty() {
                    Self::login_successes(&mut tx, &plan.batched).await.map_err(Folded)?;
                }
                if !grants.is_empty() {
                    Self::insert_grants(&mut tx, &grants).await.map_err(Folded)?;
                }
                events.extend(orgid_directory::audit::merge_issued(issued));
                $crate::audit::append_tx(&mut tx, &events).await.map_err(Group)?;
                tx.commit().await.map_err(db).map_err(Commit)?;
                Ok(answers)
            }
        }

        #[async_trait]
        impl orgid_directory::idp::CredentialStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn subject(&self, login: &str) -> Result<Option<orgid_directory::idp::Subject>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::credentials::SubjectDb>(
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
                .map($crate::idp::credentials::SubjectDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn credential(&self, login: &str) -> Result<Option<orgid_directory::idp::Credential>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::credentials::CredentialDb>(concat!(
                    "SELECT ",
                    $crate::idp::credentials::credential_columns!(),
                    " FROM idp_credentials WHERE login = $1"
                ))
                .bind(login)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::credentials::CredentialDb::into_domain)
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
                    Self::retire_hash(&mut tx, login, &previous, now).await?;
                    ::sqlx::query(
                        "UPDATE idp_credentials SET hash = $2, changed_at = $3, must_change = $4, failed_count = 0, \
                         locked_until = NULL, version = version + 1 WHERE login = $1",
                    )
                    .bind(login)
                    .bind(hash)
                    .bind(now)
                    .bind(must_change)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                }
                Self::trim_history(&mut tx, login, keep_history).await?;
                Self::commit_audited(tx, audit).await
            }

            #[tracing::instrument(skip_all, err)]
            async fn change_password(
                &self,
                login: &str,
                hash: &str,
                version: i64,
                at: DateTime<Utc>,
                keep_history: u32,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<orgid_directory::idp::PasswordChange, StoreError> {
                use orgid_directory::idp::PasswordChange;
                let now = millis(at);
                let mut tx = self.pool.begin().await.map_err(db)?;
                // The row first (a write: SQLite's write lock, PostgreSQL's row lock): of two
                // concurrent changes from one version, the second waits here, then finds the
                // version moved.
                let current = ::sqlx::query_as::<_, (String, i64)>(
                    "UPDATE idp_credentials SET failed_count = failed_count WHERE login = $1 RETURNING hash, version",
                )
                .bind(login)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                let Some((previous, _)) = current.filter(|(_, v)| *v == version) else {
                    return Ok(PasswordChange::Refused);
                };
                Self::retire_hash(&mut tx, login, &previous, now).await?;
                let version = ::sqlx::query_scalar::<_, i64>(
                    "UPDATE idp_credentials SET hash = $2, changed_at = $3, must_change = FALSE, failed_count = 0, \
                     locked_until = NULL, version = version + 1 WHERE login = $1 RETURNING version",
                )
                .bind(login)
                .bind(hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
                Self::trim_history(&mut tx, login, keep_history).await?;
                Self::commit_audited(tx, audit).await?;
                Ok(PasswordChange::Changed { version })
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
    };
}

pub(crate) use credentials_impl;
