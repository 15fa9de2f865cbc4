//! The workflow's store, written once like `sql.rs`: `workflow_impl!` expands to `WorkflowStore`
//! for one backend (invoked in `backend.rs`). Tables are in the `0005_workflow` migrations.
//!
//! Every transaction begins with a write (SQLite takes its write lock up front) and ends with
//! its audit records (`audit::append_tx`, last). Requests keep profiles and the approval chain as
//! JSON; approvals are rows, appended in order and never changed.

use chrono::NaiveDate;
use orgid_directory::workflow::{Approval, CheckKind, Request, RoleGrant, RosterCheck, Step};
use orgid_directory::{CompanyCode, PersonKey, Profile, StoreError};

use crate::error::{corrupt, json};
use crate::rows::{opt_time, parse, time};

#[derive(sqlx::FromRow)]
pub(crate) struct GrantDb {
    id: i64,
    login: String,
    role: String,
    company: String,
    subtree: bool,
    granted_by: String,
    granted_at: i64,
    revoked_at: Option<i64>,
}

impl GrantDb {
    pub(crate) fn into_domain(self) -> Result<RoleGrant, StoreError> {
        Ok(RoleGrant {
            id: self.id,
            login: self.login,
            role: parse("role", &self.role)?,
            company: CompanyCode(self.company),
            subtree: self.subtree,
            granted_by: self.granted_by,
            granted_at: time(self.granted_at)?,
            revoked_at: opt_time(self.revoked_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RequestDb {
    pub(crate) id: i64,
    kind: String,
    company: String,
    person_key: String,
    employee_number: String,
    name: String,
    profile: String,
    before_profile: Option<String>,
    effective_date: Option<String>,
    origin: String,
    requested_by: String,
    requested_at: i64,
    state: String,
    chain: String,
    approved_at: Option<i64>,
    due: Option<i64>,
    done_at: Option<i64>,
    error: Option<String>,
}

impl RequestDb {
    pub(crate) fn into_domain(self, approvals: Vec<Approval>) -> Result<Request, StoreError> {
        let profile: Profile = serde_json::from_str(&self.profile).map_err(|e| json("request profile", e))?;
        let before: Option<Profile> = self
            .before_profile
            .map(|b| serde_json::from_str(&b).map_err(|e| json("request profile", e)))
            .transpose()?;
        let chain: Vec<Step> = serde_json::from_str(&self.chain).map_err(|e| json("request chain", e))?;
        let effective_date = self
            .effective_date
            .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|e| corrupt("date", e)))
            .transpose()?;
        Ok(Request {
            id: self.id,
            kind: parse("request kind", &self.kind)?,
            company: CompanyCode(self.company),
            person_key: PersonKey::from(self.person_key),
            employee_number: self.employee_number,
            name: self.name,
            profile,
            before,
            effective_date,
            origin: parse("request origin", &self.origin)?,
            requested_by: self.requested_by,
            requested_at: time(self.requested_at)?,
            state: parse("request state", &self.state)?,
            chain,
            approvals,
            approved_at: opt_time(self.approved_at)?,
            due: opt_time(self.due)?,
            done_at: opt_time(self.done_at)?,
            error: self.error,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApprovalDb {
    pub(crate) request_id: i64,
    step: String,
    by_login: String,
    at: i64,
    approve: bool,
    comment: String,
}

impl ApprovalDb {
    pub(crate) fn into_domain(self) -> Result<Approval, StoreError> {
        Ok(Approval {
            step: parse("approval step", &self.step)?,
            by: self.by_login,
            at: time(self.at)?,
            approve: self.approve,
            comment: self.comment,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CheckDb {
    id: i64,
    company: String,
    person_key: String,
    employee_number: String,
    name: String,
    kind: String,
    detail: String,
    detail_zh: String,
    first_seen: i64,
    last_seen: i64,
    resolved_at: Option<i64>,
}

impl CheckDb {
    pub(crate) fn into_domain(self) -> Result<RosterCheck, StoreError> {
        Ok(RosterCheck {
            id: self.id,
            company: CompanyCode(self.company),
            person_key: PersonKey::from(self.person_key),
            employee_number: self.employee_number,
            name: self.name,
            kind: parse::<CheckKind>("roster check kind", &self.kind)?,
            detail: self.detail,
            detail_zh: self.detail_zh,
            first_seen: time(self.first_seen)?,
            last_seen: time(self.last_seen)?,
            resolved_at: opt_time(self.resolved_at)?,
        })
    }
}

pub(crate) fn to_json<T: serde::Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| json(what, e))
}

macro_rules! grant_columns {
    () => {
        "id, login, role, company, subtree, granted_by, granted_at, revoked_at"
    };
}

macro_rules! request_columns {
    () => {
        "id, kind, company, person_key, employee_number, name, profile, before_profile, effective_date, origin, \
         requested_by, requested_at, state, chain, approved_at, due, done_at, error"
    };
}

macro_rules! check_columns {
    () => {
        "id, company, person_key, employee_number, name, kind, detail, detail_zh, first_seen, last_seen, resolved_at"
    };
}

macro_rules! workflow_impl {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Requests with their approvals.
            async fn with_approvals(
                &self,
                rows: Vec<$crate::workflow::RequestDb>,
            ) -> Result<Vec<orgid_directory::workflow::Request>, StoreError> {
                let mut by_id: std::collections::HashMap<i64, Vec<orgid_directory::workflow::Approval>> =
                    std::collections::HashMap::new();
                for chunk in rows.chunks(500) {
                    let mut q = ::sqlx::QueryBuilder::<$db>::new(
                        "SELECT request_id, step, by_login, at, approve, comment FROM request_approvals \
                         WHERE request_id IN (",
                    );
                    let mut ids = q.separated(", ");
                    for r in chunk {
                        ids.push_bind(r.id);
                    }
                    q.push(") ORDER BY request_id, seq");
                    let approvals = q
                        .build_query_as::<$crate::workflow::ApprovalDb>()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db)?;
                    for a in approvals {
                        let id = a.request_id;
                        by_id.entry(id).or_default().push(a.into_domain()?);
                    }
                }
                rows.into_iter()
                    .map(|r| {
                        let approvals = by_id.remove(&r.id).unwrap_or_default();
                        r.into_domain(approvals)
                    })
                    .collect()
            }

            async fn insert_approvals(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                id: i64,
                from: usize,
                approvals: &[orgid_directory::workflow::Approval],
            ) -> Result<(), StoreError> {
                for (i, a) in approvals.iter().enumerate().skip(from) {
                    ::sqlx::query(
                        "INSERT INTO request_approvals (request_id, seq, step, by_login, at, approve, comment) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(id)
                    .bind(i as i32)
                    .bind(a.step.as_str())
                    .bind(a.by.as_str())
                    .bind(millis(a.at))
                    .bind(a.approve)
                    .bind(a.comment.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(db)?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl orgid_directory::WorkflowStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn role_grants(
                &self,
                login: Option<&str>,
                include_revoked: bool,
            ) -> Result<Vec<orgid_directory::workflow::RoleGrant>, StoreError> {
                ::sqlx::query_as::<_, $crate::workflow::GrantDb>(concat!(
                    "SELECT ",
                    $crate::workflow::grant_columns!(),
                    " FROM role_grants WHERE ($1 IS NULL OR login = $1) AND ($2 OR revoked_at IS NULL) ORDER BY id"
                ))
                .bind(login)
                .bind(include_revoked)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::workflow::GrantDb::into_domain)
                .collect()
            }

            #[tracing::instrument(skip_all, err)]
            async fn role_grant(&self, id: i64) -> Result<Option<orgid_directory::workflow::RoleGrant>, StoreError> {
                ::sqlx::query_as::<_, $crate::workflow::GrantDb>(concat!(
                    "SELECT ",
                    $crate::workflow::grant_columns!(),
                    " FROM role_grants WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::workflow::GrantDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn add_role_grant(
                &self,
                grant: &orgid_directory::workflow::NewGrant,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<orgid_directory::workflow::RoleGrant, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let row = ::sqlx::query_as::<_, $crate::workflow::GrantDb>(concat!(
                    "INSERT INTO role_grants (login, role, company, subtree, granted_by, granted_at) \
                     SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM role_grants \
                     WHERE login = $1 AND role = $2 AND company = $3 AND revoked_at IS NULL) RETURNING ",
                    $crate::workflow::grant_columns!()
                ))
                .bind(grant.login.as_str())
                .bind(grant.role.as_str())
                .bind(grant.company.0.as_str())
                .bind(grant.subtree)
                .bind(grant.granted_by.as_str())
                .bind(millis(grant.granted_at))
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                let Some(row) = row else {
                    return Err(StoreError::Conflict(format!(
                        "{} already holds {} for {}",
                        grant.login, grant.role, grant.company
                    )));
                };
                $crate::audit::append_tx(&mut tx, audit).await?;
                tx.commit().await.map_err(db)?;
                row.into_domain()
            }

            #[tracing::instrument(skip_all, err)]
            async fn revoke_role_grant(
                &self,
                id: i64,
                at: DateTime<Utc>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let done = ::sqlx::query("UPDATE role_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(millis(at))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("role grant {id}")));
                }
                $crate::audit::append_tx(&mut tx, audit).await?;
                tx.commit().await.map_err(db)
            }

            #[tracing::instrument(skip_all, err)]
            async fn insert_request(
                &self,
                r: &orgid_directory::workflow::Request,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<i64, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let before = r.before.as_ref().map(|b| $crate::workflow::to_json("request profile", b)).transpose()?;
                let id: i64 = ::sqlx::query_scalar(
                    "INSERT INTO requests (kind, company, person_key, employee_number, name, profile, before_profile, \
                     effective_date, origin, requested_by, requested_at, state, chain, approved_at, due, done_at, error) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
                )
                .bind(r.kind.as_str())
                .bind(r.company.0.as_str())
                .bind(r.person_key.as_str())
                .bind(r.employee_number.as_str())
                .bind(r.name.as_str())
                .bind($crate::workflow::to_json("request profile", &r.profile)?)
                .bind(before)
                .bind(r.effective_date.map(|d| d.format("%Y-%m-%d").to_string()))
                .bind(r.origin.as_str())
                .bind(r.requested_by.as_str())
                .bind(millis(r.requested_at))
                .bind(r.state.as_str())
                .bind($crate::workflow::to_json("request chain", &r.chain)?)
                .bind(opt_millis(r.approved_at))
                .bind(opt_millis(r.due))
                .bind(opt_millis(r.done_at))
                .bind(r.error.as_deref())
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
                Self::insert_approvals(&mut tx, id, 0, &r.approvals).await?;
                $crate::audit::append_tx(&mut tx, audit).await?;
                tx.commit().await.map_err(db)?;
                Ok(id)
            }

            #[tracing::instrument(skip_all, err)]
            async fn update_request(
                &self,
                r: &orgid_directory::workflow::Request,
                expected: orgid_directory::workflow::RequestState,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let done = ::sqlx::query(
                    "UPDATE requests SET state = $1, approved_at = $2, due = $3, done_at = $4, error = $5 \
                     WHERE id = $6 AND state = $7",
                )
                .bind(r.state.as_str())
                .bind(opt_millis(r.approved_at))
                .bind(opt_millis(r.due))
                .bind(opt_millis(r.done_at))
                .bind(r.error.as_deref())
                .bind(r.id)
                .bind(expected.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                if done.rows_affected() == 0 {
                    let state: Option<String> = ::sqlx::query_scalar("SELECT state FROM requests WHERE id = $1")
                        .bind(r.id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db)?;
                    return Err(match state {
                        None => StoreError::NotFound(format!("request {}", r.id)),
                        Some(s) => StoreError::Conflict(format!("request {} is {s} now, no longer {expected}", r.id)),
                    });
                }
                let stored: i64 = ::sqlx::query_scalar("SELECT COUNT(*) FROM request_approvals WHERE request_id = $1")
                    .bind(r.id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?;
                Self::insert_approvals(&mut tx, r.id, stored as usize, &r.approvals).await?;
                $crate::audit::append_tx(&mut tx, audit).await?;
                tx.commit().await.map_err(db)
            }

            #[tracing::instrument(skip_all, err)]
            async fn request(&self, id: i64) -> Result<Option<orgid_directory::workflow::Request>, StoreError> {
                let rows = ::sqlx::query_as::<_, $crate::workflow::RequestDb>(concat!(
                    "SELECT ",
                    $crate::workflow::request_columns!(),
                    " FROM requests WHERE id = $1"
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
                Ok(self.with_approvals(rows).await?.pop())
            }

            #[tracing::instrument(skip_all, err)]
            async fn requests(
                &self,
                f: &orgid_directory::workflow::RequestFilter,
            ) -> Result<Vec<orgid_directory::workflow::Request>, StoreError> {
                let rows = ::sqlx::query_as::<_, $crate::workflow::RequestDb>(concat!(
                    "SELECT ",
                    $crate::workflow::request_columns!(),
                    " FROM requests WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR company = $2) \
                     AND ($3 IS NULL OR person_key = $3) AND ($4 IS NULL OR kind = $4) ORDER BY id DESC"
                ))
                .bind(f.state.map(|s| s.as_str()))
                .bind(f.company.as_ref().map(|c| c.0.as_str()))
                .bind(f.person_key.as_ref().map(|k| k.as_str()))
                .bind(f.kind.map(|k| k.as_str()))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
                self.with_approvals(rows).await
            }

            #[tracing::instrument(skip_all, err)]
            async fn record_roster_checks(
                &self,
                companies: &[orgid_directory::CompanyCode],
                seen: &[orgid_directory::workflow::RosterCheck],
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                // One read of the open checks, then statements per chunk, not per check: an
                // independent company's roster of thousands is re-checked at every sync.
                let now = millis(at);
                let covered: std::collections::HashSet<&str> = companies.iter().map(|c| c.0.as_str()).collect();
                let mut tx = self.pool.begin().await.map_err(db)?;
                type Open = (i64, String, String, String, String, String, String, String);
                let open: Vec<Open> = ::sqlx::query_as(
                    "SELECT id, company, person_key, kind, detail, detail_zh, employee_number, name FROM roster_checks \
                     WHERE resolved_at IS NULL",
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
                type Seen = (i64, String, String, String, String);
                let mut by_key: std::collections::HashMap<(String, String, String), Seen> = open
                    .into_iter()
                    .map(|(id, c, k, kind, d, dz, e, n)| ((c, k, kind), (id, d, dz, e, n)))
                    .collect();
                let mut kept: Vec<i64> = Vec::new();
                let mut fresh: Vec<&orgid_directory::workflow::RosterCheck> = Vec::new();
                let mut named = std::collections::HashSet::new();
                for c in seen {
                    let key = (c.company.0.clone(), c.person_key.as_str().to_string(), c.kind.as_str().to_string());
                    if !named.insert(key.clone()) {
                        continue;
                    }
                    let Some((id, detail, detail_zh, employee_number, name)) = by_key.remove(&key) else {
                        fresh.push(c);
                        continue;
                    };
                    if detail != c.detail
                        || detail_zh != c.detail_zh
                        || employee_number != c.employee_number
                        || name != c.name
                    {
                        ::sqlx::query(
                            "UPDATE roster_checks SET detail = $1, employee_number = $2, name = $3, detail_zh = $5 \
                             WHERE id = $4",
                        )
                        .bind(c.detail.as_str())
                        .bind(c.employee_number.as_str())
                        .bind(c.name.as_str())
                        .bind(id)
                        .bind(c.detail_zh.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    }
                    kept.push(id);
                }
                // Open checks of a covered company that this roster no longer shows are resolved.
                let gone: Vec<i64> = by_key
                    .into_iter()
                    .filter(|((company, _, _), _)| covered.contains(company.as_str()))
                    .map(|(_, (id, ..))| id)
                    .collect();
                for (ids, set) in [(&gone, "resolved_at"), (&kept, "last_seen")] {
                    for chunk in ids.chunks(500) {
                        let mut q = ::sqlx::QueryBuilder::<$db>::new(format!("UPDATE roster_checks SET {set} = "));
                        q.push_bind(now).push(" WHERE id IN (");
                        let mut list = q.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        q.push(")");
                        q.build().execute(&mut *tx).await.map_err(db)?;
                    }
                }
                for chunk in fresh.chunks($crate::sql::chunk_rows(9)) {
                    let mut q = ::sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO roster_checks (company, person_key, employee_number, name, kind, detail, \
                         detail_zh, first_seen, last_seen) ",
                    );
                    q.push_values(chunk, |mut b, c| {
                        b.push_bind(c.company.0.as_str())
                            .push_bind(c.person_key.as_str())
                            .push_bind(c.employee_number.as_str())
                            .push_bind(c.name.as_str())
                            .push_bind(c.kind.as_str())
                            .push_bind(c.detail.as_str())
                            .push_bind(c.detail_zh.as_str())
                            .push_bind(now)
                            .push_bind(now);
                    });
                    q.build().execute(&mut *tx).await.map_err(db)?;
                }
                tx.commit().await.map_err(db)
            }

            #[tracing::instrument(skip_all, err)]
            async fn roster_checks(
                &self,
                open_only: bool,
            ) -> Result<Vec<orgid_directory::workflow::RosterCheck>, StoreError> {
                ::sqlx::query_as::<_, $crate::workflow::CheckDb>(concat!(
                    "SELECT ",
                    $crate::workflow::check_columns!(),
                    " FROM roster_checks WHERE (NOT $1 OR resolved_at IS NULL) ORDER BY id"
                ))
                .bind(open_only)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::workflow::CheckDb::into_domain)
                .collect()
            }

            #[tracing::instrument(skip_all, err)]
            async fn person_by_key(
                &self,
                key: &orgid_directory::PersonKey,
            ) -> Result<Option<orgid_directory::StoredPerson>, StoreError> {
                ::sqlx::query_as::<_, $crate::rows::PersonDb>(concat!(
                    "SELECT ",
                    $crate::sql::person_columns!(),
                    " FROM people p LEFT JOIN accounts a ON a.person_key = p.person_key WHERE p.person_key = $1"
                ))
                .bind(key.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::rows::PersonDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn set_company_mode(
                &self,
                code: &orgid_directory::CompanyCode,
                mode: orgid_directory::OperatingMode,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let done = ::sqlx::query("UPDATE companies SET mode = $1 WHERE code = $2")
                    .bind(mode.as_str())
                    .bind(code.0.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("company {code}")));
                }
                ::sqlx::query(
                    "INSERT INTO company_modes (code, mode) VALUES ($1, $2) \
                     ON CONFLICT (code) DO UPDATE SET mode = excluded.mode",
                )
                .bind(code.0.as_str())
                .bind(mode.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                $crate::audit::append_tx(&mut tx, audit).await?;
                tx.commit().await.map_err(db)
            }

            #[tracing::instrument(skip_all, err)]
            async fn company_modes(
                &self,
            ) -> Result<Vec<(orgid_directory::CompanyCode, orgid_directory::OperatingMode)>, StoreError> {
                let rows: Vec<(String, String)> = ::sqlx::query_as("SELECT code, mode FROM company_modes ORDER BY code")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
                rows.into_iter()
                    .map(|(code, mode)| Ok((orgid_directory::CompanyCode(code), $crate::rows::parse("operating mode", &mode)?)))
                    .collect()
            }
        }
    };
}

pub(crate) use {check_columns, grant_columns, request_columns, workflow_impl};
