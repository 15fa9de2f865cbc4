//! OpenLDAP, the first target: a run's delta (written with the run), push (connect and drain the
//! outbox), health, reconcile and purge. The store is the source of truth; LDAP catches up
//! whenever it is reachable.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use orgid_connectors::ldap::{LdapSink, LockCheck, SinkError};
use orgid_directory::AuditStore;
use orgid_directory::store::{LdapStore, OutboxStore};
use orgid_directory::target::TargetId;
use orgid_directory::target::ldap::{self as dit, DirOp, DitDelta, Layout};
use orgid_directory::{CompanyIndex, PersonKey, Plan, Profile, StoredPerson};
use tracing::{info, warn};

use crate::app::App;
use crate::output::local;
use crate::services::targets::DrainReport;
use crate::services::targets::outbox::{self, Fresh};

/// The directory delta of a plan, or `None` when no `[ldap]` is configured.
pub async fn delta_for(
    app: &App,
    plan: &Plan,
    current: &[StoredPerson],
    companies: &CompanyIndex,
) -> anyhow::Result<Option<DitDelta>> {
    let Some(cfg) = &app.config.ldap else { return Ok(None) };
    if plan.changes.is_empty() {
        return Ok(Some(DitDelta::default()));
    }
    let layout = Layout::new(cfg).map_err(anyhow::Error::msg)?;
    let nodes = app.store.tracked_nodes().await?;
    let mut tracked: HashMap<PersonKey, _> = HashMap::new();
    // An entry is tracked for a person the store holds: a store without people (a first load)
    // tracks none, and its 100,000 keys are not looked up.
    if !current.is_empty() {
        let keys: Vec<PersonKey> = plan.changes.iter().map(|c| c.person_key.clone()).collect();
        tracked.extend(app.store.tracked_users(&keys).await?);
        let parents = dit::affected_parents(&layout, companies, &nodes, &plan.changes);
        if !parents.is_empty() {
            tracked.extend(app.store.tracked_users_under(&parents).await?);
        }
    }
    let changed: HashSet<&PersonKey> = plan.changes.iter().map(|c| &c.person_key).collect();
    let mut profiles: HashMap<&PersonKey, &Profile> = HashMap::with_capacity(changed.len());
    profiles.extend(
        current.iter().filter(|sp| changed.contains(&sp.person.key)).map(|sp| (&sp.person.key, &sp.person.profile)),
    );
    profiles.extend(plan.people.iter().filter(|p| changed.contains(&p.key)).map(|p| (&p.key, &p.profile)));
    Ok(Some(dit::delta(&dit::DeltaInput {
        layout: &layout,
        companies,
        changes: &plan.changes,
        profiles: &profiles,
        nodes: &nodes,
        tracked: &tracked,
    })))
}

/// Connects and applies the outbox until every item has been tried once, or the server goes away
/// (a server that cannot be reached leaves the outbox waiting).
pub async fn push(app: &App) -> anyhow::Result<DrainReport> {
    push_with(app, None, None).await
}

/// Applies the outbox over an open connection (see [`outbox::drain`]).
pub async fn drain(app: &App, sink: &LdapSink) -> anyhow::Result<DrainReport> {
    outbox::drain(app, sink, None).await
}

/// Connects and drains (see [`drain`]); a server that cannot be reached leaves the outbox waiting.
/// `connected` is a connection attempt already made (a sync connects while it writes the store).
pub async fn push_with(
    app: &App,
    connected: Option<Result<LdapSink, SinkError>>,
    fresh: Option<Fresh<DirOp>>,
) -> anyhow::Result<DrainReport> {
    let Some(cfg) = &app.config.ldap else { return Ok(DrainReport::default()) };
    let connected = match connected {
        Some(c) => c,
        None => {
            if fresh.is_none() && app.store.outbox_stats(TargetId::Ldap, app.clock.now()).await?.due == 0 {
                return Ok(DrainReport::default());
            }
            LdapSink::connect(cfg).await
        }
    };
    let sink = match connected {
        Ok(s) => s,
        Err(e) => {
            warn!("directory not reachable, changes wait in the outbox: {e}");
            return Ok(DrainReport { unavailable: Some(e.to_string()), ..DrainReport::default() });
        }
    };
    let report = outbox::drain(app, &sink, fresh).await;
    sink.unbind().await;
    report
}

/// How the directory answers: a connection as configured, and (with `ldap.lock_check`) whether
/// a locked entry really cannot bind.
#[derive(Debug)]
pub struct Health {
    pub connection: Result<(), String>,
    pub locks: Option<Result<LockCheck, String>>,
}

/// Connects, checks lock enforcement if configured, and disconnects.
pub async fn health(cfg: &orgid_config::LdapConfig) -> Health {
    match LdapSink::connect(cfg).await {
        Ok(sink) => {
            let locks =
                if cfg.lock_check { Some(lock_check(cfg, &sink).await.map_err(|e| e.to_string())) } else { None };
            sink.unbind().await;
            Health { connection: Ok(()), locks }
        }
        Err(e) => Health { connection: Err(e.to_string()), locks: None },
    }
}

/// The lock probe lives directly under the base DN and is removed again.
pub async fn lock_check(cfg: &orgid_config::LdapConfig, sink: &LdapSink) -> Result<LockCheck, SinkError> {
    let layout = Layout::new(cfg).map_err(SinkError::Config)?;
    sink.lock_check(&layout.base).await
}

/// The directory as the store says it should be: everything orgid tracks, and every active
/// account it does not track yet (LDAP configured after the fact, a lost directory, a directory
/// loaded from `orgid ldap export`) placed as a sync would place it (`placed`: the tracking of
/// those, not written yet).
struct DesiredState {
    desired: Vec<dit::reconcile::Desired>,
    nodes: Vec<dit::Node>,
    placed: DitDelta,
}

async fn desired_state(app: &App, layout: &Layout) -> anyhow::Result<DesiredState> {
    use orgid_directory::{AccountChange, AccountStatus, CompanyStore, Op, PersonStore};

    let companies = CompanyIndex::new(app.store.companies().await?).map_err(anyhow::Error::msg)?;
    let people = app.store.people().await?;
    let mut nodes = app.store.tracked_nodes().await?;
    let mut tracked = app.store.all_tracked_users().await?;
    let known: HashSet<&PersonKey> = tracked.iter().map(|(k, _)| k).collect();
    let untracked: Vec<AccountChange> = people
        .iter()
        .filter_map(|sp| {
            let a =
                sp.account.as_ref().filter(|a| a.status == AccountStatus::Active && !known.contains(&sp.person.key))?;
            Some(AccountChange {
                op: Op::Open,
                person_key: sp.person.key.clone(),
                account: a.clone(),
                employee_number: sp.person.profile.employee_number.clone(),
                name: sp.person.profile.name.clone(),
                company: sp.person.profile.company.clone(),
                before_status: Some(a.status),
                fields: Vec::new(),
                reason: "active account missing from the directory".into(),
            })
        })
        .collect();
    let wanted: HashSet<&PersonKey> = untracked.iter().map(|c| &c.person_key).collect();
    let profiles: HashMap<&PersonKey, &Profile> = people
        .iter()
        .filter(|sp| wanted.contains(&sp.person.key))
        .map(|sp| (&sp.person.key, &sp.person.profile))
        .collect();
    let placed = dit::delta(&dit::DeltaInput {
        layout,
        companies: &companies,
        changes: &untracked,
        profiles: &profiles,
        nodes: &nodes,
        tracked: &HashMap::new(),
    });
    if !placed.nodes.is_empty() {
        let new: HashSet<&str> = placed.nodes.iter().map(|n| n.key.as_str()).collect();
        nodes.retain(|x| !new.contains(x.key.as_str()));
        nodes.extend(placed.nodes.iter().cloned());
    }
    tracked.extend(placed.users.iter().filter_map(|(k, t)| t.clone().map(|t| (k.clone(), t))));
    let desired = dit::reconcile::desired(layout, &companies, &people, &nodes, &tracked);
    // Only the operations' tracking is kept: the delta's operations are reconcile's to make.
    Ok(DesiredState { desired, nodes, placed: DitDelta { ops: Vec::new(), ..placed } })
}

/// `orgid ldap reconcile`: reads orgid's subtrees, reports drift and (unless `dry_run`) repairs
/// it through the outbox. Active accounts orgid does not track yet (LDAP configured after the
/// fact, a lost directory, a directory loaded with `slapadd` from `orgid ldap export`) are placed
/// as a sync would place them, and tracked from then on. Exit 0: no drift or repaired; 3: drift
/// found in a dry run; 1: the directory could not be read or repaired.
pub async fn reconcile(app: &App, dry_run: bool, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    use orgid_directory::target::ldap::reconcile::{self, Observed};

    let Some(cfg) = &app.config.ldap else { anyhow::bail!("no [ldap] section is configured") };
    let layout = Layout::new(cfg).map_err(anyhow::Error::msg)?;
    let bind_dn: orgid_directory::target::ldap::Dn = cfg.bind_dn.parse().map_err(anyhow::Error::msg)?;
    let sink = LdapSink::connect(cfg).await?;
    if !dry_run {
        // Drift is measured against a directory that has every queued change.
        let r = drain(app, &sink).await?;
        if let Some(e) = r.unavailable {
            anyhow::bail!("the directory went away while catching up: {e}");
        }
    }
    let DesiredState { desired, nodes, placed } = desired_state(app, &layout).await?;
    let roots = reconcile::managed_roots(&layout, &nodes);
    let mut observed = Vec::new();
    for root in &roots {
        let entries = sink.search_subtree(root, "(objectClass=*)", &["*", dit::LOCK_ATTR, "modifiersName"]).await?;
        observed.extend(entries.into_iter().map(|e| Observed { dn: e.dn, attrs: e.attrs }));
    }
    let repair = reconcile::diff(&layout, &desired, &observed, &roots, &bind_dn);
    writeln!(out, "read {} entries under {} subtrees; {} desired", observed.len(), roots.len(), desired.len())?;
    drop((observed, desired));
    let summary = reconcile::summary(&repair.drift);
    let (now, actor) = (app.clock.now(), orgid_directory::audit::Actor::System("reconcile".into()));
    if repair.drift.is_empty() {
        if !dry_run && !placed.is_empty() {
            // Entries that were there already (a directory loaded with slapadd): tracked now.
            app.store.enqueue_directory(&placed, now).await?;
            let (users, nodes) = (placed.users.len(), placed.nodes.len());
            writeln!(out, "{users} accounts and {nodes} OUs and groups found in place are tracked now")?;
        }
        writeln!(out, "no drift: the directory matches the store")?;
        sink.unbind().await;
        return Ok(0);
    }
    writeln!(out, "drift: {}", summary.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "))?;
    for d in repair.drift.iter().take(200) {
        writeln!(out, "  {}", serde_json::to_string(d)?)?;
    }
    if repair.drift.len() > 200 {
        writeln!(out, "  … and {} more", repair.drift.len() - 200)?;
    }
    if dry_run {
        sink.unbind().await;
        return Ok(3);
    }
    let fix = DitDelta { ops: repair.ops, ..placed };
    let events = orgid_directory::audit::lifecycle::reconcile_events(&repair.drift, &actor, now);
    app.store.enqueue_directory_audited(&fix, now, &events).await?;
    let r = drain(app, &sink).await?;
    sink.unbind().await;
    info!(drift = repair.drift.len(), applied = r.applied, refused = r.refused, "directory reconciled");
    writeln!(out, "repaired: {} operations applied, {} refused", r.applied, r.refused)?;
    Ok(if r.refused == 0 && r.unavailable.is_none() { 0 } else { 1 })
}

/// `orgid ldap export --ldif FILE`: the whole tree orgid manages, as the store says it should be
/// (see [`reconcile`]), in LDIF for `slapadd`: parents before children, every account with its
/// attributes, every group with its members. The way to load a large new directory: export,
/// `slapadd -q` with slapd stopped, start it, then `orgid ldap reconcile`, which finds no drift
/// and tracks what it found. Writes nothing to the store or the directory. Returns the number of
/// entries.
pub async fn export_ldif(app: &App, out: &mut (dyn Write + Send)) -> anyhow::Result<usize> {
    let Some(cfg) = &app.config.ldap else { anyhow::bail!("no [ldap] section is configured") };
    let layout = Layout::new(cfg).map_err(anyhow::Error::msg)?;
    let DesiredState { mut desired, .. } = desired_state(app, &layout).await?;
    // Parents first: a DN's depth orders them (stable, so siblings keep the store's order).
    desired.sort_by_key(|d| d.dn().len());
    for d in &desired {
        crate::output::ldif::write_entry(out, &d.dn().to_string(), d.attrs())?;
    }
    out.flush()?;
    Ok(desired.len())
}

/// `orgid ldap purge`: deletes the entries of accounts disabled longer than
/// `safety.purge_after_days` (the store keeps the account and its history).
pub async fn purge(app: &App, dry_run: bool, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    use orgid_directory::{AccountStatus, PersonStore};

    let Some(_) = &app.config.ldap else { anyhow::bail!("no [ldap] section is configured") };
    let days = i64::from(app.config.safety.purge_after_days);
    let cutoff = app.clock.now() - chrono::Duration::days(days);
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
    let tracked: HashMap<PersonKey, _> = app.store.tracked_users(&keys).await?.into_iter().collect();
    let nodes: HashMap<String, _> = app.store.tracked_nodes().await?.into_iter().map(|n| (n.key.clone(), n)).collect();
    let mut delta = DitDelta::default();
    let (now, actor) = (app.clock.now(), orgid_directory::audit::Actor::System("purge".into()));
    let mut events = Vec::new();
    for sp in due {
        let (Some(t), Some(a)) = (tracked.get(&sp.person.key), &sp.account) else { continue };
        let Some(parent) = nodes.get(&t.parent) else { continue };
        let dn = parent.dn.child("uid", &t.login);
        let closed = local(a.closed_at, app.tz);
        writeln!(out, "purge {dn} ({}, closed {closed})", sp.person.profile.employee_number)?;
        let days = app.config.safety.purge_after_days;
        let company = &sp.person.profile.company;
        let dn_text = dn.to_string();
        events.push(orgid_directory::audit::lifecycle::purge_event(
            &a.login,
            company,
            &dn_text,
            a.closed_at,
            days,
            &actor,
            now,
        ));
        delta.ops.push(dit::QueuedOp {
            key: format!("user:{}", sp.person.key),
            phase: dit::PHASE_ACCOUNTS,
            op: dit::DirOp::Delete { dn },
        });
        delta.users.push((sp.person.key.clone(), None));
    }
    writeln!(out, "{} entries disabled for more than {days} days", delta.users.len())?;
    if dry_run || delta.is_empty() {
        return Ok(0);
    }
    for op in &delta.ops {
        if let dit::DirOp::Delete { dn } = &op.op {
            info!(%dn, "purging a long-disabled account's directory entry");
        }
    }
    app.store.enqueue_directory_audited(&delta, now, &events).await?;
    let r = push(app).await?;
    writeln!(out, "{} operations applied, {} refused", r.applied, r.refused)?;
    Ok(if r.unavailable.is_none() && r.refused == 0 { 0 } else { 1 })
}

/// How many OUs and groups orgid tracks in the directory.
pub async fn tracked_nodes(app: &App) -> anyhow::Result<usize> {
    Ok(app.store.tracked_nodes().await?.len())
}

/// Queues every membership the tracking records again, for the directory to apply (adding a
/// member that is there already changes nothing). Run when a run that died is marked abandoned:
/// a first load written in parts tracks each part's accounts in their groups, but adds them to
/// the groups only with its last part. Returns how many operations it queued.
pub async fn reassert_memberships(app: &App) -> anyhow::Result<usize> {
    if app.config.ldap.is_none() {
        return Ok(0);
    }
    let nodes = app.store.tracked_nodes().await?;
    let tracked = app.store.all_tracked_users().await?;
    let delta = dit::memberships(&nodes, &tracked);
    app.store.enqueue_directory(&delta, app.clock.now()).await?;
    Ok(delta.ops.len())
}
