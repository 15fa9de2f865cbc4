//! What the HR sync hands to the workflow: independent companies' differences become roster
//! checks instead of changes (`workflow.independent_roster = "check"`), and unrated companies'
//! people waiting for approval get an opening request each (strategy office, then group HR).

use std::collections::{HashMap, HashSet};

use orgid_config::{ConfidentialRoster, IndependentRoster};
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::plan::Op;
use orgid_directory::workflow::{
    Origin, Request, RequestFilter, RequestKind, RequestState, RosterCheck, approval_chain, split_independent,
};
use orgid_directory::{
    AccountStatus, CompanyCode, CompanyIndex, OperatingMode, PersonKey, Plan, Profile, StoredPerson, WorkflowStore,
};
use tracing::info;

use crate::app::App;

/// The login that sync-made requests are "requested by" (no account has it: logins are pinyin or
/// employee numbers, and this is not a valid one of either for a person).
pub const SYNC_REQUESTER: &str = "sync";

/// What a sync leaves for the workflow once its run is applied.
#[derive(Debug, Default)]
pub struct FollowUp {
    /// The independent companies the roster covered, and their differences.
    checks: Option<(Vec<CompanyCode>, Vec<RosterCheck>)>,
    /// Openings now waiting for approval (unrated companies, confidential posts).
    pending: Vec<HeldChange>,
    /// Confidential posts' adjustments and closings, held for the confidential office.
    held: Vec<HeldChange>,
}

/// A change the roster asks for that waits for approval: the request the sync makes for it.
#[derive(Debug)]
struct HeldChange {
    kind: RequestKind,
    key: orgid_directory::PersonKey,
    company: CompanyCode,
    profile: Profile,
    before: Option<Profile>,
    effective: Option<chrono::NaiveDate>,
    confidential: bool,
}

/// Takes independent companies' changes out of `plan` (in `check` mode) and notes the pending
/// approvals. Called before the plan is applied, dry runs included (the plan shown is the plan
/// applied).
pub fn route(app: &App, plan: &mut Plan, current: &[StoredPerson], index: &CompanyIndex) -> FollowUp {
    let mut out = FollowUp::default();
    if app.config.workflow.independent_roster == IndependentRoster::Check {
        let checks = split_independent(plan, current, index, app.clock.now());
        let companies = index
            .sorted()
            .into_iter()
            .filter(|c| c.mode == OperatingMode::Independent)
            .map(|c| c.code.clone())
            .collect();
        out.checks = Some((companies, checks));
    }
    if app.config.workflow.confidential_roster == ConfidentialRoster::Request {
        hold_confidential_openings(plan, current, index);
        out.held = hold_confidential_changes(plan, current, index);
    }
    // By key: a search of everyone for each of a large group's thousands of waiting openings
    // made this quadratic (a million people: three thousand scans of a million).
    let waiting: HashSet<&PersonKey> =
        plan.changes.iter().filter(|c| c.op == Op::PendingApproval).map(|c| &c.person_key).collect();
    let mut profiles: HashMap<&PersonKey, &Profile> = HashMap::with_capacity(waiting.len());
    if !waiting.is_empty() {
        let stored = current.iter().map(|sp| &sp.person).filter(|p| waiting.contains(&p.key));
        profiles.extend(stored.map(|p| (&p.key, &p.profile)));
        // The plan's update wins over the store's.
        profiles.extend(plan.people.iter().filter(|p| waiting.contains(&p.key)).map(|p| (&p.key, &p.profile)));
    }
    for c in plan.changes.iter().filter(|c| c.op == Op::PendingApproval) {
        let profile = profiles.get(&c.person_key).map(|p| (*p).clone());
        if let Some(p) = profile {
            out.pending.push(HeldChange {
                kind: RequestKind::Open,
                key: c.person_key.clone(),
                company: p.company.clone(),
                effective: p.hire_date,
                confidential: p.confidential,
                profile: p,
                before: None,
            });
        }
    }
    out
}

/// Seed 000 art. 11(四): a group-operated company's confidential post (机要岗) is opened through
/// the confidential office, not by the roster. Its opening waits for approval instead (as an
/// unrated company's does: an opening request follows); one already waiting is left as it is.
fn hold_confidential_openings(plan: &mut Plan, current: &[StoredPerson], index: &CompanyIndex) {
    // The person as the run leaves them: the plan's update, else the store's (a person the run
    // does not change is not among the plan's people).
    let updated: std::collections::HashMap<&orgid_directory::PersonKey, bool> =
        plan.people.iter().map(|p| (&p.key, p.profile.confidential)).collect();
    let stored: std::collections::HashMap<&orgid_directory::PersonKey, &StoredPerson> =
        current.iter().map(|sp| (&sp.person.key, sp)).collect();
    let is_confidential = |k: &orgid_directory::PersonKey| {
        updated.get(k).copied().or_else(|| stored.get(k).map(|sp| sp.person.profile.confidential)).unwrap_or(false)
    };
    let group_operated = |code: &CompanyCode| index.get(code).is_some_and(|c| c.mode == OperatingMode::GroupOperated);
    let mut counts = plan.counts;
    plan.changes.retain_mut(|c| {
        if !matches!(c.op, Op::Open | Op::Reopen) || !is_confidential(&c.person_key) || !group_operated(&c.company) {
            return true;
        }
        match c.op {
            Op::Open => counts.open -= 1,
            _ => counts.reopen -= 1,
        }
        if c.before_status == Some(AccountStatus::PendingApproval) {
            return false; // waiting already: its request is there
        }
        counts.add(Op::PendingApproval);
        c.op = Op::PendingApproval;
        c.account.status = AccountStatus::PendingApproval;
        // As a waiting account keeps its history (`next_account`).
        let before = stored.get(&c.person_key).and_then(|sp| sp.account.as_ref());
        (c.account.opened_at, c.account.closed_at) =
            (before.and_then(|a| a.opened_at), before.and_then(|a| a.closed_at));
        c.reason =
            format!("a confidential post: opened through the confidential office (seed 000 art. 11); {}", c.reason);
        true
    });
    plan.counts = counts;
}

/// Seed 000 art. 11(四), the rest of it: a group-operated company's confidential post is also
/// adjusted and closed through the confidential office. The roster's adjustment (a move, a new
/// post or grade) or closing (a leaver, someone absent) of one is taken out of the plan, the
/// person's record with it (the store keeps them as they were), and becomes a request that the
/// confidential office approves; approved, it is applied like any request.
fn hold_confidential_changes(plan: &mut Plan, current: &[StoredPerson], index: &CompanyIndex) -> Vec<HeldChange> {
    let stored: std::collections::HashMap<&orgid_directory::PersonKey, &StoredPerson> =
        current.iter().map(|sp| (&sp.person.key, sp)).collect();
    let group_operated = |code: &CompanyCode| index.get(code).is_some_and(|c| c.mode == OperatingMode::GroupOperated);
    let mut held = Vec::new();
    let mut counts = plan.counts;
    let people: HashMap<&PersonKey, &orgid_directory::PersonRecord> = plan.people.iter().map(|p| (&p.key, p)).collect();
    plan.changes.retain(|c| {
        let kind = match c.op {
            Op::Adjust | Op::Move => RequestKind::Adjust,
            Op::Close => RequestKind::Close,
            _ => return true,
        };
        let Some(sp) = stored.get(&c.person_key) else { return true };
        let after = people.get(&c.person_key).copied();
        let confidential = sp.person.profile.confidential || after.is_some_and(|p| p.profile.confidential);
        if !confidential || !(group_operated(&sp.person.profile.company) || group_operated(&c.company)) {
            return true;
        }
        match c.op {
            Op::Adjust => counts.adjust -= 1,
            Op::Move => counts.moved -= 1,
            _ => counts.close -= 1,
        }
        let profile = after.map_or_else(|| sp.person.profile.clone(), |p| p.profile.clone());
        let effective = after.and_then(|p| p.leave_date).or(sp.person.leave_date);
        // Closing is asked by the old company, adjusting by the new one (domain.md, MOVE).
        let company = if kind == RequestKind::Close { sp.person.profile.company.clone() } else { c.company.clone() };
        held.push(HeldChange {
            kind,
            key: c.person_key.clone(),
            company,
            profile,
            before: Some(sp.person.profile.clone()),
            effective,
            confidential: true,
        });
        false
    });
    plan.counts = counts;
    let keys: std::collections::HashSet<&orgid_directory::PersonKey> = held.iter().map(|h| &h.key).collect();
    plan.people.retain(|p| !keys.contains(&p.key));
    for h in &held {
        plan.warnings.push(format!(
            "employee {} ({}): a confidential post's {} waits for the confidential office (seed 000 art. 11)",
            h.before.as_ref().unwrap_or(&h.profile).employee_number,
            h.before.as_ref().unwrap_or(&h.profile).name,
            h.kind.as_str()
        ));
    }
    held
}

/// Operating modes set by group IT win over the company list's.
pub async fn override_modes(app: &App, companies: &mut [orgid_directory::Company]) -> anyhow::Result<()> {
    let modes = app.store.company_modes().await?;
    for c in companies.iter_mut() {
        if let Some((_, mode)) = modes.iter().find(|(code, _)| code == &c.code) {
            c.mode = *mode;
        }
    }
    Ok(())
}

/// Records the roster checks and creates the opening requests, after the run was applied.
pub async fn follow_up(app: &App, index: &CompanyIndex, f: FollowUp) -> anyhow::Result<()> {
    let now = app.clock.now();
    if let Some((companies, checks)) = f.checks {
        app.store.record_roster_checks(&companies, &checks, now).await?;
        if !checks.is_empty() {
            info!(differences = checks.len(), "independent companies' roster differences recorded as roster checks");
        }
    }
    for r in f.held.into_iter().chain(f.pending) {
        submit(app, index, r, now).await?;
    }
    Ok(())
}

/// Makes the request a sync asks for, unless one of its kind is still open for the person.
async fn submit(
    app: &App,
    index: &CompanyIndex,
    h: HeldChange,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let Some(company) = index.get(&h.company) else { return Ok(()) };
    let known =
        app.store.requests(&RequestFilter { person_key: Some(h.key.clone()), ..RequestFilter::default() }).await?;
    if known.iter().any(|r| r.kind == h.kind && !matches!(r.state, RequestState::Cancelled | RequestState::Applied)) {
        return Ok(());
    }
    let req = Request {
        id: 0,
        kind: h.kind,
        company: company.code.clone(),
        person_key: h.key,
        employee_number: h.profile.employee_number.clone(),
        name: h.profile.name.clone(),
        effective_date: h.effective,
        chain: approval_chain(company, h.confidential, false, app.config.workflow.confidential_group_hr),
        profile: h.profile,
        before: h.before,
        origin: Origin::Sync,
        requested_by: SYNC_REQUESTER.into(),
        requested_at: now,
        state: RequestState::Pending,
        approvals: Vec::new(),
        approved_at: None,
        due: None,
        done_at: None,
        error: None,
    };
    let kind = req.kind.as_str();
    let mut e = AuditEvent::new(now, EventKind::RequestSubmit, AuditOutcome::Success, Actor::System("sync".into()))
        .reason(format!("{kind} {} {}", req.employee_number, req.name))
        .attr("kind", kind)
        .attr("origin", "sync")
        .attr("employee_number", req.employee_number.clone())
        .attr("chain", req.chain.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "));
    e.company = Some(req.company.clone());
    app.store.insert_request(&req, &[e]).await?;
    Ok(())
}
