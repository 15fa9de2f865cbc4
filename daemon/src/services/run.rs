//! Planning against the store and concluding a plan: apply, hold or (dry run) report, with the
//! run's directory delta written in the same transaction and handed to the target right after.

use orgid_connectors::ldap::LdapSink;
use orgid_directory::plan::Scope;
use orgid_directory::safety::hold_reason;
use orgid_directory::target::wecom::DeptOrder;
use orgid_directory::{
    Company, CompanyIndex, HeldBack, PersonRecord, PersonStore, Plan, PlanInput, RowError, RunId, RunOutcome,
    RunStatus, RunStore, StoreError, StoredPerson,
};
use tracing::warn;

use crate::app::App;
use crate::output::progress::Progress;
use crate::services::ledger::{RunReport, fail};
use crate::services::parts::{self, FIRST_PART_CHANGES, PART_CHANGES, PARTS_FROM, Whole, split};
use crate::services::targets::ldap::{delta_for, push_with};
use crate::services::targets::outbox::Fresh;

/// A plan with what it was computed against.
pub struct Planned {
    pub plan: Plan,
    pub current: Vec<StoredPerson>,
    pub index: CompanyIndex,
    /// WeCom's department order from the whole roster (empty when the run has none).
    pub order: DeptOrder,
}

/// Plans `records` against everything the store holds; returns the plan and the people it saw.
pub async fn compute(
    app: &App,
    index: &CompanyIndex,
    records: &[PersonRecord],
    scope: Scope,
) -> anyhow::Result<(Plan, Vec<StoredPerson>)> {
    let current = app.store.people().await?;
    let plan = plan_against(app, index, records, &HeldBack::default(), &current, scope);
    Ok((plan, current))
}

/// Plans `records` against `current` (everyone the store holds).
pub(crate) fn plan_against(
    app: &App,
    index: &CompanyIndex,
    records: &[PersonRecord],
    held: &HeldBack,
    current: &[StoredPerson],
    scope: Scope,
) -> Plan {
    plan_owned(app, index, records.to_vec(), held, current, scope)
}

/// [`plan_against`] of records given up: their profiles move into the plan (see
/// `Plan::compute_owned`).
pub(crate) fn plan_owned(
    app: &App,
    index: &CompanyIndex,
    records: Vec<PersonRecord>,
    held: &HeldBack,
    current: &[StoredPerson],
    scope: Scope,
) -> Plan {
    let input = PlanInput {
        companies: index,
        records: &[],
        held,
        current,
        rules: &app.rules,
        login_scheme: app.config.accounts.login_scheme,
        scope,
        today: app.today(),
        now: app.clock.now(),
    };
    let plan = Plan::compute_owned(&input, records);
    for w in &plan.warnings {
        warn!("{w}");
    }
    plan
}

/// Applies, holds or (for a dry run) only reports a computed plan.
pub async fn conclude(
    app: &App,
    run: Option<RunId>,
    planned: Planned,
    companies: Vec<Company>,
    rejected: Vec<RowError>,
    active_people: u64,
    progress: &Progress,
) -> anyhow::Result<RunReport> {
    conclude_with(app, run, planned, companies, rejected, active_people, progress, true).await
}

/// `conclude`, with the safety limits checked only when `safety` (an approved request already
/// had its approvals).
#[allow(clippy::too_many_arguments)]
pub async fn conclude_with(
    app: &App,
    run: Option<RunId>,
    planned: Planned,
    companies: Vec<Company>,
    rejected: Vec<RowError>,
    active_people: u64,
    progress: &Progress,
    safety: bool,
) -> anyhow::Result<RunReport> {
    let Planned { mut plan, current, index, order } = planned;
    let hold = if safety { hold_reason(&plan, &app.config.safety) } else { None };
    // A large first load is written in parts, the directory starting on the first (see
    // `sync_parts`). Its changes go in the order of their keys: each part then adds to the end of
    // the key indexes, where a part in the roster's order would rewrite pages all over them.
    let in_parts = current.is_empty()
        && hold.is_none()
        && run.is_some()
        && plan.changes.len() >= PARTS_FROM
        && app.config.ldap.is_some();
    if in_parts {
        plan.changes.sort_by(|a, b| a.person_key.cmp(&b.person_key));
    }
    progress.stage("planning the directory");
    let delta_span = progress.span("delta");
    let mut delta = delta_for(app, &plan, &current, &index).await?;
    // WeCom's delta beside the directory's, written in the same transaction (see `targets::wecom`).
    let wecom = crate::services::targets::wecom::delta_for(app, &plan, &current, &index, &order).await?;
    drop(delta_span);
    drop(current);
    let Some(run) = run else {
        return Ok(RunReport::DryRun { plan, rejected, hold, directory_ops: delta.map(|d| d.ops.len()) });
    };
    let (status, message) = match &hold {
        Some(reason) => (RunStatus::Held, Some(format!("{reason}; approve with `orgid sync --approve {run}`"))),
        None if rejected.is_empty() => (RunStatus::Ok, None),
        None => (RunStatus::Partial, Some(format!("{} rows rejected", rejected.len()))),
    };
    if in_parts
        && let Some(parts) = delta.as_ref().and_then(|d| split(&mut plan, d, FIRST_PART_CHANGES, PART_CHANGES))
        && let Some(delta) = delta.take()
    {
        let whole = Whole { run, status, message, plan, companies, rejected, active_people, wecom };
        return parts::conclude(app, whole, delta, parts, progress).await;
    }
    progress.stage(if hold.is_some() { "holding" } else { "writing" });
    // The directory is the slow part of a large run: connect while the store is written, so that
    // the first write goes out as soon as the run has committed.
    let connect = async {
        match (&app.config.ldap, &delta) {
            (Some(cfg), Some(d)) if hold.is_none() && !d.ops.is_empty() => Some(LdapSink::connect(cfg).await),
            _ => None,
        }
    };
    let finished_at = app.clock.now();
    let outcome = RunOutcome {
        status,
        finished_at,
        companies: &companies,
        plan: &plan,
        rejected: &rejected,
        active_people,
        message: message.clone(),
        directory: delta.as_ref(),
        wecom: wecom.as_ref(),
    };
    let store_span = progress.span("store");
    let (finished, connected) = tokio::join!(app.store.finish_run(run, outcome), connect);
    drop(store_span);
    let seqs = match finished {
        Ok(seqs) => seqs,
        Err(StoreError::Conflict(why)) => {
            if let Some(Ok(sink)) = connected {
                sink.unbind().await;
            }
            return fail(
                app,
                Some(run),
                format!("another run changed the store meanwhile ({why}); run again"),
                rejected,
            )
            .await;
        }
        Err(e) => {
            if let Some(Ok(sink)) = connected {
                sink.unbind().await;
            }
            return Err(e.into());
        }
    };
    // Only the operations go on: the tracking is in the store.
    let fresh = delta.and_then(|d| Fresh::new(run, finished_at, seqs, d.ops));
    Ok(match hold {
        Some(reason) => RunReport::Held { run, reason, plan, rejected },
        None => {
            progress.stage("writing the directory");
            let _directory = progress.span("directory");
            let directory =
                if app.config.ldap.is_some() { Some(push_with(app, connected, fresh).await?) } else { None };
            if wecom.is_some_and(|w| !w.ops.is_empty()) {
                // WeCom's own outbox: what it does not take now, its worker and `orgid wecom push` retry.
                drop(_directory);
                let _wecom = progress.span("wecom");
                crate::services::targets::wecom::push(app).await?;
            }
            RunReport::Applied { run, status, plan, rejected, directory }
        }
    })
}
