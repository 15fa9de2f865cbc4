//! The audit events of orgid's own work: each account change of a run (with the run as actor and
//! the fields before and after), the run's end, approvals, directory repairs and purges, config
//! reloads, key rotations and audit purges. Pure: the store writes them in the transaction that
//! makes the change.

use chrono::{DateTime, Utc};

use super::event::{Actor, AuditEvent, AuditOutcome, EventKind};
use crate::plan::FieldChange;
use crate::target::ldap::reconcile::Drift;
use crate::{AccountChange, CompanyCode, Op, Plan, RunId, RunOutcome, RunStatus};

pub fn op_kind(op: Op) -> EventKind {
    match op {
        Op::Open => EventKind::AccountOpen,
        Op::Reopen => EventKind::AccountReopen,
        Op::Adjust => EventKind::AccountAdjust,
        Op::Move => EventKind::AccountMove,
        Op::Close => EventKind::AccountClose,
        Op::PendingApproval => EventKind::AccountPendingApproval,
    }
}

/// One account change, done by `actor` at `at`: the status change first, then the HR fields.
pub fn change_event(actor: &Actor, change: &AccountChange, at: DateTime<Utc>) -> AuditEvent {
    let mut fields = Vec::with_capacity(change.fields.len() + 1);
    let before = change.before_status.map(|s| s.as_str()).unwrap_or_default();
    if before != change.account.status.as_str() {
        fields.push(FieldChange {
            field: "status".into(),
            before: before.into(),
            after: change.account.status.as_str().into(),
        });
    }
    fields.extend(change.fields.iter().cloned());
    AuditEvent::new(at, op_kind(change.op), AuditOutcome::Success, actor.clone())
        .subject(&change.account.login, Some(&change.company))
        .reason(change.reason.clone())
        .attr("employee_number", change.employee_number.clone())
        .attr("rule", change.account.rule.clone())
        .changes(fields)
}

fn counts_attrs(e: AuditEvent, plan: &Plan) -> AuditEvent {
    let c = &plan.counts;
    e.attr("open", c.open.to_string())
        .attr("reopen", c.reopen.to_string())
        .attr("adjust", c.adjust.to_string())
        .attr("move", c.moved.to_string())
        .attr("close", c.close.to_string())
        .attr("pending_approval", c.pending_approval.to_string())
}

/// The events of `finish_run`: for an applied run, one per account change and then the run's
/// end; for a held or failed run, the run's end only (nothing else happened).
pub fn run_events(run: RunId, outcome: &RunOutcome<'_>) -> Vec<AuditEvent> {
    run_event_iter(run, outcome).collect()
}

/// `run_events` made one at a time, in the same order: the store chains and writes a first
/// load's 100,000 of them a statement's worth at a time instead of holding them all.
pub fn run_event_iter<'a>(run: RunId, outcome: &'a RunOutcome<'_>) -> impl Iterator<Item = AuditEvent> + Send + 'a {
    let actor = Actor::Run(run);
    let at = outcome.finished_at;
    let applied = matches!(outcome.status, RunStatus::Ok | RunStatus::Partial);
    let changes = if applied { outcome.plan.changes.as_slice() } else { &[] };
    let end = {
        let actor = actor.clone();
        move || {
            let (kind, result) = match outcome.status {
                RunStatus::Held => (EventKind::SyncHeld, AuditOutcome::Success),
                RunStatus::Failed => (EventKind::SyncFinished, AuditOutcome::Failure),
                _ => (EventKind::SyncFinished, AuditOutcome::Success),
            };
            let reason = match &outcome.message {
                Some(m) => format!("{}: {m}", outcome.status),
                None => outcome.status.to_string(),
            };
            let e = AuditEvent::new(at, kind, result, actor)
                .reason(reason)
                .attr("rejected_rows", outcome.rejected.len().to_string())
                .attr("active_people", outcome.active_people.to_string());
            counts_attrs(e, outcome.plan)
        }
    };
    changes.iter().map(move |c| change_event(&actor, c, at)).chain(std::iter::once_with(end))
}

/// The events of `approve_run`: the kept plan's changes, done by the approving run, then the
/// approval itself.
pub fn approval_events(held: RunId, by: RunId, plan: &Plan, at: DateTime<Utc>) -> Vec<AuditEvent> {
    approval_event_iter(held, by, plan, at).collect()
}

/// `approval_events` made one at a time, in the same order (see `run_event_iter`).
pub fn approval_event_iter(
    held: RunId,
    by: RunId,
    plan: &Plan,
    at: DateTime<Utc>,
) -> impl Iterator<Item = AuditEvent> + Send + '_ {
    let actor = Actor::Run(by);
    let end = {
        let actor = actor.clone();
        move || {
            let e = AuditEvent::new(at, EventKind::SyncApproved, AuditOutcome::Success, actor)
                .reason(format!("held run {held} approved and applied by run {by}"))
                .attr("held_run", held.to_string());
            counts_attrs(e, plan)
        }
    };
    plan.changes.iter().map(move |c| change_event(&actor, c, at)).chain(std::iter::once_with(end))
}

/// The login in a `uid=LOGIN,…` DN.
fn uid_of(dn: &str) -> Option<&str> {
    let first = dn.split(',').next()?;
    let (attr, value) = first.split_once('=')?;
    attr.trim().eq_ignore_ascii_case("uid").then_some(value.trim())
}

/// One event per repaired drift.
pub fn reconcile_events(drift: &[Drift], actor: &Actor, at: DateTime<Utc>) -> Vec<AuditEvent> {
    drift
        .iter()
        .map(|d| {
            let (what, dn, attrs, edited_by) = match d {
                Drift::Missing { dn } => ("missing", dn, None, None),
                Drift::Extra { dn } => ("extra", dn, None, None),
                Drift::Differs { dn, attributes, edited_by } => {
                    ("differs", dn, Some(attributes.join(",")), edited_by.as_ref())
                }
                Drift::Members { dn, missing, extra, edited_by } => {
                    ("memberships", dn, Some(format!("{missing} missing, {extra} extra")), edited_by.as_ref())
                }
            };
            let mut e = AuditEvent::new(at, EventKind::ReconcileRepair, AuditOutcome::Success, actor.clone())
                .reason(format!("directory entry {what}: repaired"))
                .attr("dn", dn.clone());
            e.login = uid_of(dn).map(str::to_string);
            if let Some(a) = attrs {
                e = e.attr("drift", a);
            }
            if let Some(by) = edited_by {
                e = e.attr("edited_by", by.clone());
            }
            e
        })
        .collect()
}

/// One event per WeCom drift that reconcile repairs (departments and members orgid did not create
/// are only reported, so they get none).
pub fn wecom_reconcile_events(
    drift: &[crate::target::wecom::reconcile::Drift],
    actor: &Actor,
    at: DateTime<Utc>,
) -> Vec<AuditEvent> {
    use crate::target::wecom::reconcile::Drift;
    drift
        .iter()
        .filter_map(|d| {
            let (what, entry, login, fields) = match d {
                Drift::MissingDepartment { id, name } => ("department missing", format!("{id} {name}"), None, None),
                Drift::DifferentDepartment { id, name, fields } => {
                    ("department differs", format!("{id} {name}"), None, Some(fields.join(",")))
                }
                Drift::MissingMember { userid } => ("member missing", userid.clone(), Some(userid), None),
                Drift::DifferentMember { userid, fields } => {
                    ("member differs", userid.clone(), Some(userid), Some(fields.join(",")))
                }
                Drift::ExtraDepartment { .. } | Drift::ExtraMember { .. } => return None,
            };
            let mut e = AuditEvent::new(at, EventKind::ReconcileRepair, AuditOutcome::Success, actor.clone())
                .reason(format!("WeCom {what}: repaired"))
                .attr("target", "wecom")
                .attr("entry", entry);
            e.login = login.cloned();
            if let Some(f) = fields {
                e = e.attr("drift", f);
            }
            Some(e)
        })
        .collect()
}

/// The directory entry of a long-disabled account was deleted.
pub fn purge_event(
    login: &str,
    company: &CompanyCode,
    dn: &str,
    closed_at: Option<DateTime<Utc>>,
    days: u32,
    actor: &Actor,
    at: DateTime<Utc>,
) -> AuditEvent {
    let mut e = AuditEvent::new(at, EventKind::AccountPurge, AuditOutcome::Success, actor.clone())
        .subject(login, Some(company))
        .reason(format!("disabled for more than {days} days: directory entry deleted"))
        .attr("dn", dn);
    if let Some(c) = closed_at {
        e = e.attr("closed_at", c.to_rfc3339());
    }
    e
}

/// The lockout that a failed login caused: same subject, request and time as the failed
/// `attempt`, done by the idp's lockout policy.
pub fn lockout_event(attempt: &AuditEvent, failed_count: u32, locked_until: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        kind: EventKind::Lockout,
        outcome: AuditOutcome::Success,
        actor: Actor::System("idp".into()),
        reason: Some(format!("{failed_count} failed logins")),
        details: Default::default(),
        ..attempt.clone()
    }
    .attr("locked_until", locked_until.to_rfc3339())
}

/// A configuration reload: `Ok(())` applied or accepted, `Err(why)` refused.
pub fn config_reload_event(result: Result<&str, &str>, actor: &Actor, at: DateTime<Utc>) -> AuditEvent {
    let (outcome, reason) = match result {
        Ok(r) => (AuditOutcome::Success, r),
        Err(r) => (AuditOutcome::Failure, r),
    };
    AuditEvent::new(at, EventKind::ConfigReload, outcome, actor.clone()).reason(reason)
}

/// A signing key was replaced: `key` names which (`audit_checkpoint`, `oidc`), the fingerprints
/// identify the old and new public keys.
pub fn key_rotation_event(key: &str, old: Option<&str>, new: &str, actor: &Actor, at: DateTime<Utc>) -> AuditEvent {
    let mut e = AuditEvent::new(at, EventKind::KeyRotation, AuditOutcome::Success, actor.clone())
        .reason(format!("{key} signing key replaced"))
        .attr("key", key)
        .attr("new_key", new);
    if let Some(o) = old {
        e = e.attr("old_key", o);
    }
    e
}

/// Records older than `cutoff` were purged up to `through` (`chain:position`, …), vouched for by
/// the signed checkpoints there.
pub fn audit_purge_event(
    through: &str,
    records: u64,
    cutoff: DateTime<Utc>,
    retention_days: u32,
    actor: &Actor,
    at: DateTime<Utc>,
) -> AuditEvent {
    AuditEvent::new(at, EventKind::AuditPurge, AuditOutcome::Success, actor.clone())
        .reason(format!(
            "{records} records older than {retention_days} days purged; signed checkpoints anchor the rest"
        ))
        .attr("through", through)
        .attr("records", records.to_string())
        .attr("cutoff", cutoff.to_rfc3339())
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
