//! Applying approved requests: a partial run of the request's one record through the sync's plan
//! machinery (like `orgid import`), so the store, the ledger, the audit trail and the LDAP outbox
//! change exactly as a sync would. The safety limits do not hold it: it was approved.

use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::plan::Scope;
use orgid_directory::workflow::{Request, RequestFilter, RequestKind, RequestState, Step, approve_pending};
use orgid_directory::{Employment, PersonRecord, RunKind, WorkflowStore};
use tracing::{info, warn};

use super::{Result, WorkflowError, companies};
use crate::app::App;
use crate::output::progress::Progress;
use crate::services::ledger::{RunReport, begin};
use crate::services::run::{Planned, compute, conclude_with};

fn record(app: &App, r: &Request) -> PersonRecord {
    let leaving = r.kind == RequestKind::Close;
    PersonRecord {
        key: r.person_key.clone(),
        profile: r.profile.clone(),
        employment: if leaving { Employment::Left } else { Employment::Active },
        leave_date: if leaving { Some(r.effective_date.unwrap_or_else(|| app.today())) } else { None },
        source: format!("request {}", r.id),
    }
}

/// How applying ended.
enum Outcome {
    Applied,
    /// Failed; retried later.
    Failed(String),
    /// Overtaken by HR facts: cancelled, never retried.
    Void(String),
}

/// Runs the request's record.
async fn run(app: &App, r: &Request) -> anyhow::Result<Outcome> {
    let index = companies(app).await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let stored = app.store.person_by_key(&r.person_key).await?;
    if r.kind != RequestKind::Close
        && let Some(sp) = stored
        && sp.person.employment == Employment::Left
        && sp.person.updated_at > r.requested_at
    {
        let message = format!(
            "the person left (HR record of {}) after the request was made; submit a new one if they return",
            sp.person.updated_at.date_naive()
        );
        return Ok(Outcome::Void(message));
    }
    let run = begin(app, RunKind::Import, vec![format!("request {}", r.id)], &format!("request:{}", r.id)).await?;
    let records = [record(app, r)];
    let (mut plan, current) = compute(app, &index, &records, Scope::Partial).await?;
    if r.chain.contains(&Step::StrategyOffice) {
        approve_pending(&mut plan, &current, &r.person_key, app.clock.now());
    }
    let active = u64::from(r.kind != RequestKind::Close);
    let report = conclude_with(
        app,
        Some(run),
        Planned { plan, current, index, order: Default::default() },
        Vec::new(),
        Vec::new(),
        active,
        &Progress::hidden(),
        false,
    )
    .await?;
    Ok(match report {
        RunReport::Applied { .. } => Outcome::Applied,
        RunReport::Failed { message, .. } => Outcome::Failed(message),
        RunReport::Held { reason, .. } => Outcome::Failed(format!("held: {reason}")),
        RunReport::DryRun { .. } => Outcome::Failed("not applied (dry run)".into()),
    })
}

/// Applies an approved (or failed, for a retry) request and records the outcome: `Applied`;
/// `Failed` with the error (retried later by `serve`); or `Cancelled` with the reason when the
/// person has left since the request.
pub async fn apply_request(app: &App, mut r: Request) -> Result<Request> {
    let before = r.state;
    if !matches!(before, RequestState::Approved | RequestState::Failed) {
        return Err(WorkflowError::Invalid(format!("request {} is {before}, not approved", r.id)));
    }
    let outcome = match run(app, &r).await {
        Ok(o) => o,
        Err(e) => Outcome::Failed(format!("{e:#}")),
    };
    let now = app.clock.now();
    let actor = Actor::System("workflow".into());
    let mut e = match &outcome {
        Outcome::Applied => {
            r.state = RequestState::Applied;
            r.done_at = Some(now);
            r.error = None;
            info!(request = r.id, "request applied");
            AuditEvent::new(now, EventKind::RequestApply, AuditOutcome::Success, actor)
        }
        Outcome::Void(why) => {
            r.state = RequestState::Cancelled;
            r.done_at = Some(now);
            r.error = Some(why.clone());
            warn!(request = r.id, "request cancelled: {why}");
            AuditEvent::new(now, EventKind::RequestCancel, AuditOutcome::Failure, actor).reason(why.clone())
        }
        Outcome::Failed(why) => {
            r.state = RequestState::Failed;
            r.error = Some(why.clone());
            warn!(request = r.id, "request failed: {why}");
            AuditEvent::new(now, EventKind::RequestFail, AuditOutcome::Failure, actor).reason(why.clone())
        }
    }
    .attr("request", r.id.to_string())
    .attr("kind", r.kind.as_str())
    .attr("employee_number", r.employee_number.clone());
    e.company = Some(r.company.clone());
    app.store.update_request(&r, before, &[e]).await?;
    Ok(r)
}

/// Applies every approved request, and retries the failed ones. Returns them as they ended.
pub async fn apply_approved(app: &App) -> Result<Vec<Request>> {
    let mut out = Vec::new();
    for state in [RequestState::Approved, RequestState::Failed] {
        let mut waiting = app.store.requests(&RequestFilter { state: Some(state), ..RequestFilter::default() }).await?;
        waiting.reverse(); // oldest first
        for r in waiting {
            out.push(apply_request(app, r).await?);
        }
    }
    Ok(out)
}
