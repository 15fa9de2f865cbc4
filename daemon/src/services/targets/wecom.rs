//! WeCom (企业微信), the mobile office: a run's delta (written with the run), push (drain the
//! outbox through the contacts API), health, reconcile and purge. The store is the source of
//! truth; WeCom catches up whenever it answers.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use orgid_connectors::wecom::WecomClient;
use orgid_directory::store::{OutboxStore, WecomStore};
use orgid_directory::target::TargetId;
use orgid_directory::target::wecom::reconcile::{self, ObservedMember};
use orgid_directory::target::wecom::{self as wc, DeltaInput, DeptOrder, Member, Settings, WecomDelta, WecomOp};
use orgid_directory::{
    AccountChange, AccountStatus, CompanyIndex, CompanyStore, Op, PersonKey, PersonStore, Plan, Profile, StoredPerson,
};
use tracing::{info, warn};

use crate::app::App;
use crate::services::targets::DrainReport;
use crate::services::targets::outbox;

/// The WeCom delta of a plan, or `None` when no `[wecom]` is configured. `order` is the
/// departments' order from the run's whole roster (empty without one: orders stay as they are).
pub async fn delta_for(
    app: &App,
    plan: &Plan,
    current: &[StoredPerson],
    companies: &CompanyIndex,
    order: &DeptOrder,
) -> anyhow::Result<Option<WecomDelta>> {
    let Some(cfg) = &app.config.wecom else { return Ok(None) };
    if plan.changes.is_empty() && order.is_empty() {
        return Ok(Some(WecomDelta::default()));
    }
    let departments = app.store.wecom_departments().await?;
    let mut tracked: HashMap<PersonKey, _> = HashMap::new();
    if !current.is_empty() && !plan.changes.is_empty() {
        let keys: Vec<PersonKey> = plan.changes.iter().map(|c| c.person_key.clone()).collect();
        tracked.extend(app.store.wecom_members(&keys).await?);
        let left = wc::left_departments(&plan.changes);
        if !left.is_empty() {
            tracked.extend(app.store.wecom_members_in(&left).await?);
        }
    }
    let changed: HashSet<&PersonKey> = plan.changes.iter().map(|c| &c.person_key).collect();
    let mut profiles: HashMap<&PersonKey, &Profile> = HashMap::with_capacity(changed.len());
    profiles.extend(
        current.iter().filter(|sp| changed.contains(&sp.person.key)).map(|sp| (&sp.person.key, &sp.person.profile)),
    );
    profiles.extend(plan.people.iter().filter(|p| changed.contains(&p.key)).map(|p| (&p.key, &p.profile)));
    let settings = Settings::new(cfg);
    let delta = wc::delta(&DeltaInput {
        settings: &settings,
        companies,
        changes: &plan.changes,
        profiles: &profiles,
        departments: &departments,
        tracked: &tracked,
        order,
    });
    for w in &delta.warnings {
        warn!("{w}");
    }
    Ok(Some(delta))
}

/// A held run's changes, once approved (a held run keeps only the directory's delta): WeCom's
/// delta of them against the store as approved, queued right after the approval and pushed. A
/// crash in between leaves them to `orgid wecom reconcile`.
pub async fn follow_approved(app: &App, plan: &Plan) -> anyhow::Result<()> {
    if app.config.wecom.is_none() || plan.changes.is_empty() {
        return Ok(());
    }
    let companies = CompanyIndex::new(app.store.companies().await?).map_err(anyhow::Error::msg)?;
    let people = app.store.people().await?;
    let Some(delta) = delta_for(app, plan, &people, &companies, &DeptOrder::new()).await? else { return Ok(()) };
    // The approval's own records say what changed; the queueing adds none.
    app.store.enqueue_wecom(&delta, app.clock.now(), &[]).await?;
    push(app).await?;
    Ok(())
}

fn client(app: &App) -> anyhow::Result<WecomClient> {
    let Some(cfg) = &app.config.wecom else { anyhow::bail!("no [wecom] section is configured") };
    Ok(WecomClient::new(cfg)?)
}

/// Applies the outbox until every item has been tried once, or WeCom stops answering (the
/// outbox then waits).
pub async fn push(app: &App) -> anyhow::Result<DrainReport> {
    if app.config.wecom.is_none() || app.store.outbox_stats(TargetId::Wecom, app.clock.now()).await?.due == 0 {
        return Ok(DrainReport::default());
    }
    let report = outbox::drain(app, &client(app)?, None).await?;
    if let Some(e) = &report.unavailable {
        warn!("WeCom not reachable, changes wait in the outbox: {e}");
    }
    Ok(report)
}

/// Whether WeCom takes the corp id and the contacts secret and lists orgid's root department.
pub async fn health(app: &App) -> Result<usize, String> {
    let c = client(app).map_err(|e| e.to_string())?;
    let root = app.config.wecom.as_ref().map_or(1, |w| w.root_department);
    c.departments(root).await.map(|d| d.len()).map_err(|e| e.to_string())
}

/// Every member orgid keeps in WeCom as the store says it should be, with the departments and
/// tracking that placing untracked accounts adds (WeCom configured after the fact).
async fn desired(app: &App) -> anyhow::Result<(Vec<wc::TrackedDept>, Vec<(String, Member)>, WecomDelta)> {
    let Some(cfg) = &app.config.wecom else { anyhow::bail!("no [wecom] section is configured") };
    let companies = CompanyIndex::new(app.store.companies().await?).map_err(anyhow::Error::msg)?;
    let people = app.store.people().await?;
    let departments = app.store.wecom_departments().await?;
    let tracked: HashMap<PersonKey, wc::TrackedMember> = app.store.all_wecom_members().await?.into_iter().collect();
    let changes: Vec<AccountChange> = people
        .iter()
        .filter_map(|sp| {
            let a = sp.account.as_ref()?;
            (a.status == AccountStatus::Active || tracked.contains_key(&sp.person.key)).then(|| AccountChange {
                op: Op::Open,
                person_key: sp.person.key.clone(),
                account: a.clone(),
                employee_number: sp.person.profile.employee_number.clone(),
                name: sp.person.profile.name.clone(),
                company: sp.person.profile.company.clone(),
                before_status: Some(a.status),
                fields: Vec::new(),
                reason: "reconcile".into(),
            })
        })
        .collect();
    let profiles: HashMap<&PersonKey, &Profile> =
        people.iter().map(|sp| (&sp.person.key, &sp.person.profile)).collect();
    let settings = Settings::new(cfg);
    let placed = wc::delta(&DeltaInput {
        settings: &settings,
        companies: &companies,
        changes: &changes,
        profiles: &profiles,
        departments: &departments,
        tracked: &tracked,
        // The orders sent are the desired ones: a differing one in WeCom is drift.
        order: &DeptOrder::new(),
    });
    let mut depts: HashMap<String, wc::TrackedDept> = departments.into_iter().map(|d| (d.key.clone(), d)).collect();
    for d in &placed.departments {
        depts.insert(d.key.clone(), d.clone());
    }
    let members = placed
        .ops
        .iter()
        .filter_map(|q| match &q.op {
            WecomOp::PutMember { member, .. } => Some((q.key.clone(), member.clone())),
            _ => None,
        })
        .collect();
    // Only tracking that changes is kept: the members' operations are reconcile's to make.
    let new_members: Vec<_> = placed.members.iter().filter(|(k, m)| tracked.get(k) != m.as_ref()).cloned().collect();
    let keep = WecomDelta { ops: Vec::new(), members: new_members, ..placed };
    Ok((depts.into_values().collect(), members, keep))
}

/// `orgid wecom reconcile`: reads WeCom's departments and the members of orgid's departments,
/// reports what is missing, differing or not orgid's (never touched), and (unless `dry_run`)
/// repairs through the outbox. Exit 0: nothing to repair or repaired; 3: drift found in a dry
/// run; 1: WeCom could not be read or repaired.
pub async fn reconcile(app: &App, dry_run: bool, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    let c = client(app)?;
    let root = app.config.wecom.as_ref().map_or(1, |w| w.root_department);
    if !dry_run {
        let r = push(app).await?;
        if let Some(e) = r.unavailable {
            anyhow::bail!("WeCom went away while catching up: {e}");
        }
    }
    let (depts, members, placed) = desired(app).await?;
    let observed_depts = c.departments(root).await?;
    let present: HashSet<i64> = observed_depts.iter().map(|d| d.id).collect();
    let mut observed: Vec<ObservedMember> = Vec::new();
    let mut ids: Vec<i64> = depts.iter().map(|d| d.id).filter(|id| present.contains(id)).collect();
    ids.sort_unstable();
    for id in ids {
        observed.extend(c.members(id).await?);
    }
    let seen: HashSet<String> = observed.iter().map(|m| m.userid.to_ascii_lowercase()).collect();
    for (_, m) in &members {
        if !seen.contains(&m.userid.to_ascii_lowercase())
            && let Some(found) = c.member(&m.userid).await?
        {
            observed.push(found);
        }
    }
    let repair = reconcile::diff(&depts, &members, &observed_depts, &observed);
    writeln!(
        out,
        "read {} departments and {} members; {} departments and {} members desired",
        observed_depts.len(),
        observed.len(),
        depts.len(),
        members.len()
    )?;
    let to_repair = repair.drift.iter().filter(|d| d.repaired()).count();
    if repair.drift.is_empty() {
        writeln!(out, "no drift: WeCom matches the store")?;
    } else {
        let summary = reconcile::summary(&repair.drift);
        writeln!(out, "drift: {}", summary.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "))?;
        for d in repair.drift.iter().take(200) {
            writeln!(out, "  {}", serde_json::to_string(d)?)?;
        }
        if repair.drift.len() > 200 {
            writeln!(out, "  … and {} more", repair.drift.len() - 200)?;
        }
    }
    if dry_run {
        return Ok(if to_repair == 0 { 0 } else { 3 });
    }
    let fix = WecomDelta { ops: repair.ops, ..placed };
    if fix.is_empty() {
        return Ok(0);
    }
    let (now, actor) = (app.clock.now(), orgid_directory::audit::Actor::System("reconcile".into()));
    let events = orgid_directory::audit::lifecycle::wecom_reconcile_events(&repair.drift, &actor, now);
    app.store.enqueue_wecom(&fix, now, &events).await?;
    let r = push(app).await?;
    info!(drift = to_repair, applied = r.applied, refused = r.refused, "WeCom reconciled");
    writeln!(out, "repaired: {} operations applied, {} refused", r.applied, r.refused)?;
    Ok(if r.refused == 0 && r.unavailable.is_none() { 0 } else { 1 })
}

/// `orgid wecom purge`: deletes the members of accounts disabled longer than
/// `safety.purge_after_days` (the store keeps the account and its history).
pub async fn purge(app: &App, dry_run: bool, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    if app.config.wecom.is_none() {
        anyhow::bail!("no [wecom] section is configured");
    }
    let days = app.config.safety.purge_after_days;
    let cutoff = app.clock.now() - chrono::Duration::days(i64::from(days));
    let people = app.store.people().await?;
    let due: Vec<&StoredPerson> = people
        .iter()
        .filter(|sp| {
            sp.account
                .as_ref()
                .is_some_and(|a| a.status == AccountStatus::Disabled && a.closed_at.is_some_and(|c| c < cutoff))
        })
        .collect();
    let keys: Vec<PersonKey> = due.iter().map(|sp| sp.person.key.clone()).collect();
    let tracked: HashMap<PersonKey, wc::TrackedMember> = app.store.wecom_members(&keys).await?.into_iter().collect();
    let mut delta = WecomDelta::default();
    let (now, actor) = (app.clock.now(), orgid_directory::audit::Actor::System("purge".into()));
    let mut events = Vec::new();
    for sp in due {
        let Some(t) = tracked.get(&sp.person.key) else { continue };
        writeln!(out, "purge {} ({})", t.userid, sp.person.profile.employee_number)?;
        let closed_at = sp.account.as_ref().and_then(|a| a.closed_at);
        let login = sp.account.as_ref().map_or(t.userid.as_str(), |a| a.login.as_str());
        let entry = format!("wecom userid {}", t.userid);
        let company = &sp.person.profile.company;
        events
            .push(orgid_directory::audit::lifecycle::purge_event(login, company, &entry, closed_at, days, &actor, now));
        delta.ops.push(wc::QueuedOp {
            key: format!("user:{}", sp.person.key),
            phase: wc::PHASE_MEMBERS,
            op: WecomOp::DeleteMember { userid: t.userid.clone() },
        });
        delta.members.push((sp.person.key.clone(), None));
    }
    writeln!(out, "{} members disabled for more than {days} days", delta.members.len())?;
    if dry_run || delta.is_empty() {
        return Ok(0);
    }
    app.store.enqueue_wecom(&delta, now, &events).await?;
    let r = push(app).await?;
    writeln!(out, "{} operations applied, {} refused", r.applied, r.refused)?;
    Ok(if r.unavailable.is_none() && r.refused == 0 { 0 } else { 1 })
}

/// How many departments and members orgid tracks in WeCom.
pub async fn tracked(app: &App) -> anyhow::Result<(usize, usize)> {
    Ok((app.store.wecom_departments().await?.len(), app.store.all_wecom_members().await?.len()))
}
