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
use crate::progress::Progress;
use crate::sync::{Planned, RunReport, begin, compute, conclude_with};

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

/// Runs the request's record; `Ok(None)` when applied, `Ok(Some(why))` when the run failed.
async fn run(app: &App, r: &Request) -> anyhow::Result<Option<String>> {
    let run = begin(app, RunKind::Import, vec![format!("request {}", r.id)], &format!("request:{}", r.id)).await?;
    let index = companies(app).await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let records = [record(app, r)];
    let (mut plan, current) = compute(app, &index, &records, Scope::Partial).await?;
    if r.chain.contains(&Step::StrategyOffice) {
        approve_pending(&mut plan, &current, &r.person_key, app.clock.now());
    }
    let active = u64::from(r.kind != RequestKind::Close);
    let report = conclude_with(
        app,
        Some(run),
        Planned { plan, current, index },
        Vec::new(),
        Vec::new(),
        active,
        &Progress::hidden(),
        false,
    )
    .await?;
    Ok(match report {
        RunReport::Applied { .. } => None,
        RunReport::Failed { message, .. } => Some(message),
        RunReport::Held { reason, .. } => Some(format!("held: {reason}")),
        RunReport::DryRun { .. } => Some("not applied (dry run)".into()),
    })
}

/// Applies an approved (or failed, for a retry) request and records the outcome: `Applied`, or
/// `Failed` with the error (retried later by `serve`).
pub async fn apply_request(app: &App, mut r: Request) -> Result<Request> {
    let before = r.state;
    if !matches!(before, RequestState::Approved | RequestState::Failed) {
        return Err(WorkflowError::Invalid(format!("request {} is {before}, not approved", r.id)));
    }
    let outcome = match run(app, &r).await {
        Ok(o) => o,
        Err(e) => Some(format!("{e:#}")),
    };
    let now = app.clock.now();
    let actor = Actor::System("workflow".into());
    let mut e = match &outcome {
        None => {
            r.state = RequestState::Applied;
            r.done_at = Some(now);
            r.error = None;
            info!(request = r.id, "request applied");
            AuditEvent::new(now, EventKind::RequestApply, AuditOutcome::Success, actor)
        }
        Some(why) => {
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
