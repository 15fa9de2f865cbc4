//! The delegation and lifecycle workflow service: who may do what for which company, requests and
//! their approvals, applying approved requests through the sync's plan machinery, reports. Every
//! function takes the acting `Principal`, enforces the rules of `orgid_directory::workflow::rules`,
//! audits what it does and every refusal (`access.denied` with the refusal's code), and returns
//! `WorkflowError`. The CLI, the admin API and the console all call these.

mod apply;
mod people;
mod reports;
pub mod roster;

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use orgid_connectors::source::{self, Requests};
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::idp::CredentialStore;
use orgid_directory::workflow::rules::{self, Denied};
use orgid_directory::workflow::{
    Approval, Calendar, NewGrant, Origin, Principal, Request, RequestFilter, RequestKind, RequestState, Role,
    RoleGrant, SlaRules, Step, approval_chain, sla,
};
use orgid_directory::{
    AccountStatus, AuditStore, CompanyCode, CompanyIndex, CompanyStore, IdNumber, OperatingMode, PersonKey,
    PersonStore, Profile, StoreError, StoredPerson, WorkflowStore,
};
use orgid_directory::{PersonRecord, RowError};
use tracing::warn;

use crate::app::App;

pub use apply::{apply_approved, apply_request};
pub use people::{AccountQuery, Allowed, PersonRow, account, accounts, allowed, people, reset_password};
pub use reports::{roster_checks, sla_report};

/// Why a workflow call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// Refused by a rule (already audited).
    #[error("refused: {0}")]
    Denied(Denied),
    #[error("not found: {0}")]
    NotFound(String),
    /// The input is wrong, or the state does not allow it (a request no longer pending, …).
    #[error("{0}")]
    Invalid(String),
    /// The store or another part failed.
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<StoreError> for WorkflowError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => WorkflowError::NotFound(what),
            StoreError::Conflict(why) => WorkflowError::Invalid(why),
            e => WorkflowError::Store(e.into()),
        }
    }
}

/// The result of a workflow call.
pub type Result<T> = std::result::Result<T, WorkflowError>;

/// The principal of `login`: their unrevoked grants. A login without grants is a principal with
/// no roles (it may see and do nothing).
pub async fn principal(app: &App, login: &str) -> Result<Principal> {
    let grants = app.store.role_grants(Some(login), false).await?;
    Ok(Principal::new(login, grants))
}

/// The actor of the audit trail for `who`.
pub fn actor(who: &Principal) -> Actor {
    if who.is_admin() { Actor::Admin(who.login.clone()) } else { Actor::Delegate(who.login.clone()) }
}

fn event(app: &App, who: &Principal, kind: EventKind) -> AuditEvent {
    AuditEvent::new(app.clock.now(), kind, AuditOutcome::Success, actor(who))
}

/// Audits a refusal and returns it as the error.
pub async fn deny(app: &App, who: &Principal, action: &str, company: Option<&CompanyCode>, d: Denied) -> WorkflowError {
    let mut e = AuditEvent::new(app.clock.now(), EventKind::AccessDenied, AuditOutcome::Failure, actor(who))
        .reason(d.code)
        .attr("action", action)
        .attr("why", d.reason.clone());
    e.company = company.cloned();
    if let Err(err) = app.store.append_audit(&[e]).await {
        // The refusal stands either way; losing its record is worth an operator's attention.
        warn!("could not audit a refusal ({}): {err}", d.code);
    }
    WorkflowError::Denied(d)
}

/// Checks `check`, auditing a refusal.
async fn enforce(
    app: &App,
    who: &Principal,
    action: &str,
    company: Option<&CompanyCode>,
    check: std::result::Result<(), Denied>,
) -> Result<()> {
    match check {
        Ok(()) => Ok(()),
        Err(d) => Err(deny(app, who, action, company, d).await),
    }
}

pub(crate) async fn companies(app: &App) -> Result<CompanyIndex> {
    CompanyIndex::new(app.store.companies().await?).map_err(|e| WorkflowError::Store(anyhow::anyhow!(e)))
}

static UNCOVERED_WARNED: AtomicBool = AtomicBool::new(false);

/// The working-day calendar: the built-in one with `workflow.calendar` files over it.
pub fn calendar(app: &App) -> Result<Calendar> {
    let mut cal = Calendar::built_in();
    for path in &app.config.workflow.calendar {
        let text = std::fs::read_to_string(path)
            .map_err(|e| WorkflowError::Invalid(format!("workflow.calendar `{}`: {e}", path.display())))?;
        let extra = Calendar::from_toml(&text)
            .map_err(|e| WorkflowError::Invalid(format!("workflow.calendar `{}`: {e}", path.display())))?;
        cal.merge(extra);
    }
    let year = chrono::Datelike::year(&app.today());
    if !cal.covers(year) && !UNCOVERED_WARNED.swap(true, Ordering::Relaxed) {
        warn!(
            "the working-day calendar does not cover {year}: only weekends are rest days; add a workflow.calendar file"
        );
    }
    Ok(cal)
}

/// The SLA numbers of the configuration.
pub fn sla_rules(app: &App) -> SlaRules {
    let w = &app.config.workflow;
    SlaRules { working_days: w.sla_working_days, submission_day: w.submission_day, penalty_points: w.penalty_points }
}

/// When a request finally approved at `at` is due.
pub fn due_at(app: &App, at: DateTime<Utc>) -> Result<DateTime<Utc>> {
    Ok(sla::due(at, &app.tz, &calendar(app)?, &sla_rules(app)))
}

// ---- roles ----

/// Grants `role` for `company` to `login`: group IT only, never to oneself.
pub async fn grant_role(
    app: &App,
    who: &Principal,
    login: &str,
    role: Role,
    company: &CompanyCode,
    subtree: bool,
) -> Result<RoleGrant> {
    enforce(app, who, "role.grant", Some(company), rules::can_grant(who, login)).await?;
    let index = companies(app).await?;
    if !index.contains(company) {
        return Err(WorkflowError::Invalid(format!("there is no company `{company}`")));
    }
    if app.store.subject(login).await?.is_none() {
        return Err(WorkflowError::Invalid(format!("there is no account `{login}`")));
    }
    let grant = NewGrant {
        login: login.into(),
        role,
        company: company.clone(),
        subtree,
        granted_by: who.login.clone(),
        granted_at: app.clock.now(),
    };
    let e = event(app, who, EventKind::RoleGrant)
        .subject(login, Some(company))
        .reason(format!("{role} for {company}{}", if subtree { " and its subsidiaries" } else { "" }))
        .attr("role", role.as_str())
        .attr("subtree", subtree.to_string());
    Ok(app.store.add_role_grant(&grant, &[e]).await?)
}

/// Revokes grant `id`: group IT only, never one's own.
pub async fn revoke_role(app: &App, who: &Principal, id: i64) -> Result<RoleGrant> {
    let Some(grant) = app.store.role_grant(id).await? else {
        return Err(WorkflowError::NotFound(format!("role grant {id}")));
    };
    enforce(app, who, "role.revoke", Some(&grant.company), rules::can_grant(who, &grant.login)).await?;
    let at = app.clock.now();
    let e = event(app, who, EventKind::RoleRevoke)
        .subject(&grant.login, Some(&grant.company))
        .reason(format!("{} for {}", grant.role, grant.company))
        .attr("grant", id.to_string())
        .attr("role", grant.role.as_str());
    app.store.revoke_role_grant(id, at, &[e]).await?;
    Ok(RoleGrant { revoked_at: Some(at), ..grant })
}

/// Role grants: every one (with revoked ones) for group IT, one's own for everybody else.
pub async fn list_roles(app: &App, who: &Principal) -> Result<Vec<RoleGrant>> {
    if who.is_admin() {
        Ok(app.store.role_grants(None, true).await?)
    } else {
        Ok(app.store.role_grants(Some(&who.login), false).await?)
    }
}

/// The companies the principal's roles reach (all of them for group IT), parents first.
pub async fn list_companies(app: &App, who: &Principal) -> Result<Vec<orgid_directory::Company>> {
    let index = companies(app).await?;
    Ok(index.sorted().into_iter().filter(|c| who.sees(&c.code, &index)).cloned().collect())
}

/// Changes a company's operating mode (group IT). It stays so through later syncs, whatever the
/// company list says.
pub async fn set_company_mode(app: &App, who: &Principal, code: &CompanyCode, mode: OperatingMode) -> Result<()> {
    enforce(app, who, "company.mode", Some(code), rules::can_manage_companies(who)).await?;
    let mut e = event(app, who, EventKind::CompanyMode).reason(mode.as_str()).attr("mode", mode.as_str());
    e.company = Some(code.clone());
    Ok(app.store.set_company_mode(code, mode, &[e]).await?)
}

// ---- requests ----

/// Who a request is about.
#[derive(Clone, PartialEq, Eq)]
pub enum PersonRef {
    /// The 18-character resident ID number (form 1); only its key is kept.
    IdNumber(String),
    /// The current employee number of someone the store has.
    EmployeeNumber(String),
    /// A person key (a request file's row, already keyed).
    Key(PersonKey),
}

impl std::fmt::Debug for PersonRef {
    /// Never shows an ID number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PersonRef::IdNumber(_) => f.write_str("IdNumber(<redacted>)"),
            PersonRef::EmployeeNumber(n) => write!(f, "EmployeeNumber({n})"),
            PersonRef::Key(k) => write!(f, "Key({k})"),
        }
    }
}

/// A request as submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub kind: RequestKind,
    pub person: PersonRef,
    /// The person after the request (open and adjust); its company is the responsible one.
    pub profile: Option<Profile>,
    /// Hire, move or leaving date.
    pub effective_date: Option<NaiveDate>,
    pub origin: Origin,
}

async fn find_person(app: &App, person: &PersonRef) -> Result<(PersonKey, Option<StoredPerson>)> {
    match person {
        PersonRef::IdNumber(raw) => {
            let id = IdNumber::parse(raw).map_err(|e| WorkflowError::Invalid(format!("身份证号码: {e}")))?;
            let key = app.keyer.key(&id);
            let stored = app.store.person_by_key(&key).await?;
            Ok((key, stored))
        }
        PersonRef::EmployeeNumber(n) => match app.store.person_by_employee_number(n).await? {
            Some(sp) => Ok((sp.person.key.clone(), Some(sp))),
            None => Err(WorkflowError::NotFound(format!("employee {n}"))),
        },
        PersonRef::Key(k) => Ok((k.clone(), app.store.person_by_key(k).await?)),
    }
}

/// Submits a request. A request of an independent company's own delegate (rated company, post
/// not confidential) needs no approval and is applied at once; others wait for their chain.
pub async fn submit(app: &App, who: &Principal, s: Submission) -> Result<Request> {
    let index = companies(app).await?;
    let (key, stored) = find_person(app, &s.person).await?;
    let company_of = |code: &CompanyCode| {
        index.get(code).cloned().ok_or_else(|| WorkflowError::Invalid(format!("there is no company `{code}`")))
    };
    let action = format!("request.submit.{}", s.kind);
    let (company, profile, before) = match s.kind {
        RequestKind::Open => {
            let profile = s
                .profile
                .clone()
                .ok_or_else(|| WorkflowError::Invalid("an opening needs the person's details (form 1)".into()))?;
            let company = company_of(&profile.company)?;
            enforce(
                app,
                who,
                &action,
                Some(&company.code),
                rules::can_submit(who, &company, profile.confidential, &index),
            )
            .await?;
            enforce(
                app,
                who,
                &action,
                Some(&company.code),
                rules::can_open_person(who, stored.as_ref(), &company.code),
            )
            .await?;
            if let Some(sp) = &stored
                && sp.person.profile.company == company.code
                && sp.account.as_ref().is_some_and(|a| a.status == AccountStatus::Active)
            {
                return Err(WorkflowError::Invalid(
                    "this person already has an active account here; adjust it (form 2)".into(),
                ));
            }
            (company, profile, stored.map(|sp| sp.person.profile))
        }
        RequestKind::Adjust => {
            let Some(sp) = stored else {
                return Err(WorkflowError::Invalid(
                    "no such person in the store; an opening (form 1) is needed first".into(),
                ));
            };
            let profile = s.profile.clone().ok_or_else(|| {
                WorkflowError::Invalid("an adjustment needs the person's details after it (form 2)".into())
            })?;
            let from = company_of(&sp.person.profile.company)?;
            let to = company_of(&profile.company)?;
            // The person must be someone the requester may touch, on one side or the other.
            if !who.sees(&from.code, &index) && !who.sees(&to.code, &index) {
                return Err(deny(app, who, &action, Some(&from.code), rules::out_of_scope(who, &from.code)).await);
            }
            if from.code != to.code {
                enforce(app, who, &action, Some(&to.code), rules::can_move(who, &from, &to)).await?;
            }
            enforce(app, who, &action, Some(&to.code), rules::can_submit(who, &to, profile.confidential, &index))
                .await?;
            (to, profile, Some(sp.person.profile))
        }
        RequestKind::Close => {
            let Some(sp) = stored else { return Err(WorkflowError::NotFound("no such person in the store".into())) };
            let company = company_of(&sp.person.profile.company)?;
            enforce(
                app,
                who,
                &action,
                Some(&company.code),
                rules::can_submit(who, &company, sp.person.profile.confidential, &index),
            )
            .await?;
            if !sp.account.as_ref().is_some_and(|a| a.status != AccountStatus::Disabled) {
                return Err(WorkflowError::Invalid("this person has no open account to close".into()));
            }
            (company, sp.person.profile.clone(), Some(sp.person.profile))
        }
    };
    let busy = app.store.requests(&RequestFilter { person_key: Some(key.clone()), ..RequestFilter::default() }).await?;
    if let Some(r) = busy.iter().find(|r| !r.state.is_final()) {
        return Err(WorkflowError::Invalid(format!("request {} for this person is still {}", r.id, r.state)));
    }
    let chain = approval_chain(
        &company,
        profile.confidential,
        rules::acts_as_delegate(who, &company, &index),
        app.config.workflow.confidential_group_hr,
    );
    let now = app.clock.now();
    let mut req = Request {
        id: 0,
        kind: s.kind,
        company: company.code.clone(),
        person_key: key,
        employee_number: profile.employee_number.clone(),
        name: profile.name.clone(),
        profile,
        before,
        effective_date: s.effective_date,
        origin: s.origin,
        requested_by: who.login.clone(),
        requested_at: now,
        state: RequestState::Pending,
        chain,
        approvals: Vec::new(),
        approved_at: None,
        due: None,
        done_at: None,
        error: None,
    };
    if req.chain.is_empty() {
        req.state = RequestState::Approved;
        req.approved_at = Some(now);
        req.due = Some(due_at(app, now)?);
    }
    let e = request_event(app, who, EventKind::RequestSubmit, &req)
        .attr("chain", req.chain.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "));
    req.id = app.store.insert_request(&req, &[e]).await?;
    if req.state == RequestState::Approved {
        return apply_request(app, req).await;
    }
    Ok(req)
}

/// A row of a request file: row number, kind, record, effective date, and (form 2) the employee
/// number and company before.
type FileRow = (u64, RequestKind, PersonRecord, Option<NaiveDate>, Option<(String, CompanyCode)>);

/// Submits every row of a form-1 (opening) or form-2 (adjustment) file as a request, like
/// `submit` one by one (origin `import`). Rows that cannot be read, or that are refused (audited),
/// come back as row errors; the others as requests.
pub async fn submit_file(app: &App, who: &Principal, path: &std::path::Path) -> Result<(Vec<Request>, Vec<RowError>)> {
    let index = companies(app).await?;
    let file = path.display().to_string();
    let read = source::read_requests(path, &app.keyer, &index, &app.config.limits)
        .map_err(|e| WorkflowError::Invalid(e.to_string()))?;
    let mut rejected = read.rejected;
    let rows: Vec<FileRow> = match read.requests {
        Requests::Opening(rows) => rows
            .into_iter()
            .map(|o| (o.row, RequestKind::Open, o.record.clone(), o.record.profile.hire_date, None))
            .collect(),
        Requests::Adjustment(rows) => rows
            .into_iter()
            .map(|a| {
                (a.row, RequestKind::Adjust, a.record, a.move_date, Some((a.before_employee_number, a.before_company)))
            })
            .collect(),
    };
    let mut done = Vec::new();
    for (row, kind, record, effective_date, before) in rows {
        let error = |column: &str, reason: String| RowError { file: file.clone(), row, column: column.into(), reason };
        if let Some((number, company)) = before {
            match app.store.person_by_key(&record.key).await? {
                None => {}
                Some(sp) if sp.person.profile.employee_number != number => {
                    rejected
                        .push(error("异动前工号", format!("`{number}` is not this person's current employee number")));
                    continue;
                }
                Some(sp) if sp.person.profile.company != company => {
                    rejected.push(error("异动前公司", format!("`{company}` is not this person's current company")));
                    continue;
                }
                Some(_) => {}
            }
        }
        let s = Submission {
            kind,
            person: PersonRef::Key(record.key),
            profile: Some(record.profile),
            effective_date,
            origin: Origin::Import,
        };
        match submit(app, who, s).await {
            Ok(r) => done.push(r),
            Err(WorkflowError::Store(e)) => return Err(WorkflowError::Store(e)),
            Err(e) => rejected.push(error("", e.to_string())),
        }
    }
    rejected.sort_by_key(|r| r.row);
    Ok((done, rejected))
}

fn request_event(app: &App, who: &Principal, kind: EventKind, r: &Request) -> AuditEvent {
    let mut e = event(app, who, kind)
        .reason(format!("{} {} {}", r.kind, r.employee_number, r.name))
        .attr("request", r.id.to_string())
        .attr("kind", r.kind.as_str())
        .attr("employee_number", r.employee_number.clone())
        .attr("origin", r.origin.as_str());
    e.company = Some(r.company.clone());
    e
}

/// One request, if the principal's scope reaches its company.
pub async fn request(app: &App, who: &Principal, id: i64) -> Result<Request> {
    let Some(r) = app.store.request(id).await? else { return Err(WorkflowError::NotFound(format!("request {id}"))) };
    let index = companies(app).await?;
    enforce(app, who, "request.show", Some(&r.company), rules::can_view(who, &r.company, &index)).await?;
    Ok(r)
}

/// Which requests to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestQuery {
    pub state: Option<RequestState>,
    pub company: Option<CompanyCode>,
    /// Only those waiting for a step the principal may approve.
    pub inbox: bool,
    /// Only those the principal submitted.
    pub mine: bool,
}

/// The steps of `r` the principal may decide now.
pub fn decidable(who: &Principal, r: &Request, index: &CompanyIndex) -> Vec<Step> {
    if r.state != RequestState::Pending {
        return Vec::new();
    }
    r.open_steps().into_iter().filter(|s| rules::can_approve(who, r, *s, index).is_ok()).collect()
}

/// Requests in the principal's scope, newest first.
pub async fn requests(app: &App, who: &Principal, q: &RequestQuery) -> Result<Vec<Request>> {
    let index = companies(app).await?;
    if let Some(c) = &q.company {
        enforce(app, who, "request.list", Some(c), rules::can_view(who, c, &index)).await?;
    }
    let mut filter = RequestFilter { state: q.state, company: q.company.clone(), ..RequestFilter::default() };
    if q.inbox {
        filter.state = Some(RequestState::Pending);
    }
    let all = app.store.requests(&filter).await?;
    Ok(all
        .into_iter()
        .filter(|r| who.sees(&r.company, &index) || r.requested_by == who.login)
        .filter(|r| !q.mine || r.requested_by == who.login)
        .filter(|r| !q.inbox || !decidable(who, r, &index).is_empty())
        .collect())
}

/// Approves (or rejects) the first open step of request `id` the principal may decide. The
/// last approval is final: the request is then applied at once.
pub async fn approve(app: &App, who: &Principal, id: i64, approve: bool, comment: &str) -> Result<Request> {
    let Some(mut r) = app.store.request(id).await? else {
        return Err(WorkflowError::NotFound(format!("request {id}")));
    };
    let index = companies(app).await?;
    let action = if approve { "request.approve" } else { "request.reject" };
    enforce(
        app,
        who,
        action,
        Some(&r.company),
        rules::can_view(who, &r.company, &index).or_else(|d| {
            // An approver of the step reaches the company by definition; anyone else is out of scope.
            if r.open_steps().iter().any(|s| who.has(s.role(), &r.company, &index)) { Ok(()) } else { Err(d) }
        }),
    )
    .await?;
    if r.state != RequestState::Pending {
        return Err(WorkflowError::Invalid(format!("request {id} is {}, not pending", r.state)));
    }
    let open = r.open_steps();
    let Some(step) = open.iter().copied().find(|s| rules::can_approve(who, &r, *s, &index).is_ok()) else {
        let d =
            open.iter().map(|s| rules::can_approve(who, &r, *s, &index)).find_map(|c| c.err()).unwrap_or_else(|| {
                Denied::new(
                    "not_approver",
                    format!("request {id} has no step left"),
                    "no_step_left",
                    vec![("id", id.to_string())],
                )
            });
        return Err(deny(app, who, action, Some(&r.company), d).await);
    };
    let now = app.clock.now();
    let state = r.decide(Approval { step, by: who.login.clone(), at: now, approve, comment: comment.into() });
    if state == RequestState::Approved {
        r.due = Some(due_at(app, now)?);
    }
    let kind = if approve { EventKind::RequestApprove } else { EventKind::RequestReject };
    let mut e = request_event(app, who, kind, &r).attr("step", step.as_str()).attr("state", state.as_str());
    if !comment.is_empty() {
        e = e.attr("comment", comment);
    }
    app.store.update_request(&r, RequestState::Pending, &[e]).await?;
    if state == RequestState::Approved {
        return apply_request(app, r).await;
    }
    Ok(r)
}

/// Cancels a pending (or failed) request: its requester or group IT.
pub async fn cancel(app: &App, who: &Principal, id: i64) -> Result<Request> {
    let Some(mut r) = app.store.request(id).await? else {
        return Err(WorkflowError::NotFound(format!("request {id}")));
    };
    let allowed = r.requested_by == who.login || who.is_admin();
    let check = if allowed {
        Ok(())
    } else {
        Err(Denied::new(
            "not_requester",
            format!("only {} or the group IT center may cancel request {id}", r.requested_by),
            "not_requester",
            vec![("requester", r.requested_by.clone()), ("id", id.to_string())],
        ))
    };
    enforce(app, who, "request.cancel", Some(&r.company), check).await?;
    let before = r.state;
    if !matches!(before, RequestState::Pending | RequestState::Failed) {
        return Err(WorkflowError::Invalid(format!(
            "request {id} is {before}; only pending or failed ones can be cancelled"
        )));
    }
    r.state = RequestState::Cancelled;
    r.done_at = Some(app.clock.now());
    let e = request_event(app, who, EventKind::RequestCancel, &r);
    app.store.update_request(&r, before, &[e]).await?;
    Ok(r)
}
