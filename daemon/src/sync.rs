//! The sync runner: read the configured sources, plan against the store, check the safety limits,
//! then apply, hold or fail, and record the run in the ledger either way.

use std::time::Instant;

use orgid_config::SourceConfig;
use orgid_connectors::ldap::LdapSink;
use orgid_connectors::source::{self, SourceError};
use orgid_directory::plan::Scope;
use orgid_directory::safety::{check_source_size, hold_reason};
use orgid_directory::{
    Company, CompanyIndex, CompanyStore, NewRun, PersonKeyer, PersonRecord, PersonStore, Plan, PlanInput, RowError,
    RunId, RunKind, RunOutcome, RunStatus, RunStore, StoreError, StoredPerson,
};
use tracing::{info, warn};

use crate::app::App;
use crate::ldap::{DrainReport, delta_for, push};
use crate::outbox::{Fresh, push_with};
use crate::progress::Progress;
use crate::sync_parts::{self, FIRST_PART_CHANGES, PART_CHANGES, PARTS_FROM, Whole, split};

/// How a sync or import ended.
#[derive(Debug)]
pub enum RunReport {
    /// `--dry-run`: nothing written, not even the ledger.
    DryRun {
        plan: Plan,
        rejected: Vec<RowError>,
        hold: Option<String>,
        directory_ops: Option<usize>,
    },
    Applied {
        run: RunId,
        status: RunStatus,
        plan: Plan,
        rejected: Vec<RowError>,
        directory: Option<DrainReport>,
    },
    Held {
        run: RunId,
        reason: String,
        plan: Plan,
        rejected: Vec<RowError>,
    },
    Failed {
        run: Option<RunId>,
        message: String,
        rejected: Vec<RowError>,
    },
}

impl RunReport {
    /// Exit code for scripts: 0 applied cleanly, 1 failed, 3 held, 4 applied with rejected rows.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunReport::DryRun { .. } => 0,
            RunReport::Applied { status: RunStatus::Partial, .. } => 4,
            RunReport::Applied { .. } => 0,
            RunReport::Held { .. } => 3,
            RunReport::Failed { .. } => 1,
        }
    }

    pub fn status(&self) -> &'static str {
        match self {
            RunReport::DryRun { .. } => "dry_run",
            RunReport::Applied { status, .. } => status.as_str(),
            RunReport::Held { .. } => "held",
            RunReport::Failed { .. } => "failed",
        }
    }
}

/// What the sources delivered, merged.
pub struct SourceData {
    pub names: Vec<String>,
    pub companies: Vec<Company>,
    pub records: Vec<PersonRecord>,
    pub rejected: Vec<RowError>,
}

/// Reads every configured source. A missing column or unreadable file stops everything.
pub fn read_sources(app: &App, progress: &Progress) -> Result<SourceData, String> {
    read_sources_with(&app.config.sources, &app.keyer, progress)
}

/// [`read_sources`] of these sources, keyed with `keyer`.
fn read_sources_with(sources: &[SourceConfig], keyer: &PersonKeyer, progress: &Progress) -> Result<SourceData, String> {
    if sources.is_empty() {
        return Err("no [[sources]] are configured; see `orgid config-example`".into());
    }
    let mut companies: Vec<Company> = Vec::new();
    let mut rejected = Vec::new();
    for s in sources {
        progress.stage(&format!("reading companies of {}", s.name));
        let read = source::read_companies(&s.companies).map_err(|e| source_error(&s.name, e))?;
        rejected.extend(read.rejected);
        for c in read.companies {
            match companies.iter().find(|x| x.code == c.code) {
                Some(existing) if *existing != c => {
                    return Err(format!(
                        "source {}: company `{}` differs from the same code in another source",
                        s.name, c.code
                    ));
                }
                Some(_) => {}
                None => companies.push(c),
            }
        }
    }
    let index = CompanyIndex::new(companies.clone()).map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    for s in sources {
        progress.stage(&format!("reading roster of {}", s.name));
        let read = source::read_roster(&s.roster, &s.name, keyer, &index).map_err(|e| source_error(&s.name, e))?;
        rejected.extend(read.rejected);
        records.extend(read.records);
    }
    Ok(SourceData { names: sources.iter().map(|s| s.name.clone()).collect(), companies, records, rejected })
}

fn source_error(name: &str, e: SourceError) -> String {
    format!("source {name}: {e}")
}

/// `orgid sync [--dry-run]`.
pub async fn sync(app: &App, dry_run: bool, actor: &str, progress: &Progress) -> anyhow::Result<RunReport> {
    let started = Instant::now();
    let run = if dry_run { None } else { Some(begin(app, RunKind::Sync, source_names(app), actor).await?) };
    // The sources are read on another thread while the store loads everyone it holds: a sync
    // that changes little spends most of its time on these two.
    progress.stage("reading the sources");
    // A thread of its own that ends with the reading: the allocator then hands its memory on
    // (a pooled thread would keep the records' memory to itself after they are freed here).
    let (done, reading) = tokio::sync::oneshot::channel();
    {
        let (sources, keyer) = (app.config.sources.clone(), app.keyer.clone());
        std::thread::spawn(move || done.send(read_sources_with(&sources, &keyer, &Progress::hidden())));
    }
    let (read, current) = tokio::join!(reading, app.store.people());
    let mut data = match read.unwrap_or_else(|_| Err("reading the sources stopped unexpectedly".into())) {
        Ok(d) => d,
        Err(message) => return fail(app, run, message, Vec::new()).await,
    };
    let current = current?;
    crate::workflow::sync::override_modes(app, &mut data.companies).await?;
    let active_people = data.records.iter().filter(|r| !r.has_left(app.today())).count() as u64;
    let last = app.store.last_applied_run().await?.map(|r| r.active_people);
    if let Err(message) = check_source_size(active_people, last, &app.config.safety) {
        return fail(app, run, message, data.rejected).await;
    }
    let index = CompanyIndex::new(data.companies.clone()).map_err(|e| anyhow::anyhow!(e))?;
    progress.stage("planning");
    let mut plan = plan_against(app, &index, &data.records, &current, Scope::Full);
    drop(data.records); // the plan holds what is needed from here on
    let follow_up = crate::workflow::sync::route(app, &mut plan, &current, &index);
    let kept = index.clone();
    let report =
        conclude(app, run, Planned { plan, current, index }, data.companies, data.rejected, active_people, progress)
            .await?;
    if matches!(report, RunReport::Applied { .. }) {
        crate::workflow::sync::follow_up(app, &kept, follow_up).await?;
    }
    info!(status = report.status(), elapsed_ms = started.elapsed().as_millis() as u64, "sync finished");
    Ok(report)
}

/// A plan with what it was computed against.
pub struct Planned {
    pub plan: Plan,
    pub current: Vec<StoredPerson>,
    pub index: CompanyIndex,
}

/// Plans `records` against everything the store holds; returns the plan and the people it saw.
pub async fn compute(
    app: &App,
    index: &CompanyIndex,
    records: &[PersonRecord],
    scope: Scope,
) -> anyhow::Result<(Plan, Vec<StoredPerson>)> {
    let current = app.store.people().await?;
    let plan = plan_against(app, index, records, &current, scope);
    Ok((plan, current))
}

/// Plans `records` against `current` (everyone the store holds).
fn plan_against(
    app: &App,
    index: &CompanyIndex,
    records: &[PersonRecord],
    current: &[StoredPerson],
    scope: Scope,
) -> Plan {
    let plan = Plan::compute(&PlanInput {
        companies: index,
        records,
        current,
        rules: &app.rules,
        login_scheme: app.config.accounts.login_scheme,
        scope,
        today: app.today(),
        now: app.clock.now(),
    });
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
    let Planned { mut plan, current, index } = planned;
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
    let mut delta = delta_for(app, &plan, &current, &index).await?;
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
        let whole = Whole { run, status, message, plan, companies, rejected, active_people };
        return sync_parts::conclude(app, whole, delta, parts, progress).await;
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
    };
    let (finished, connected) = tokio::join!(app.store.finish_run(run, outcome), connect);
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
            let directory =
                if app.config.ldap.is_some() { Some(push_with(app, connected, fresh).await?) } else { None };
            RunReport::Applied { run, status, plan, rejected, directory }
        }
    })
}

/// `orgid sync --approve RUN_ID`: applies exactly the plan that was held.
pub async fn approve(app: &App, held: RunId, actor: &str) -> anyhow::Result<RunReport> {
    let Some(detail) = app.store.run(held).await? else {
        anyhow::bail!("there is no run {held}; see `orgid runs list`");
    };
    if detail.summary.status != RunStatus::Held {
        anyhow::bail!("run {held} is {}, not held; only a held run can be approved", detail.summary.status);
    }
    let run = begin(app, RunKind::Sync, detail.summary.sources.clone(), actor).await?;
    match app.store.approve_run(held, run, app.clock.now()).await {
        Ok(()) => {}
        Err(StoreError::Conflict(why)) => return fail(app, Some(run), why, Vec::new()).await,
        Err(e) => return Err(e.into()),
    }
    let applied = app.store.run(run).await?.ok_or_else(|| anyhow::anyhow!("run {run} vanished"))?;
    let plan = Plan { changes: applied.changes, counts: applied.summary.counts, ..Plan::default() };
    let directory = if app.config.ldap.is_some() { Some(push(app).await?) } else { None };
    Ok(RunReport::Applied { run, status: RunStatus::Ok, plan, rejected: Vec::new(), directory })
}

pub async fn begin(app: &App, kind: RunKind, sources: Vec<String>, actor: &str) -> anyhow::Result<RunId> {
    let run = NewRun { kind, sources, started_at: app.clock.now(), actor: actor.to_string() };
    Ok(app.store.begin_run(&run).await?)
}

pub async fn fail(
    app: &App,
    run: Option<RunId>,
    message: String,
    rejected: Vec<RowError>,
) -> anyhow::Result<RunReport> {
    warn!(run = ?run.map(|r| r.0), "run failed: {message}");
    if let Some(run) = run {
        let empty = Plan::default();
        let outcome = RunOutcome {
            status: RunStatus::Failed,
            finished_at: app.clock.now(),
            companies: &[],
            plan: &empty,
            rejected: &rejected,
            active_people: 0,
            message: Some(message.clone()),
            directory: None,
        };
        app.store.finish_run(run, outcome).await?;
    }
    Ok(RunReport::Failed { run, message, rejected })
}

fn source_names(app: &App) -> Vec<String> {
    app.config.sources.iter().map(|s| s.name.clone()).collect()
}

/// The companies the store knows, as an index (for imports, which carry no company list).
pub async fn stored_companies(app: &App) -> anyhow::Result<CompanyIndex> {
    CompanyIndex::new(app.store.companies().await?).map_err(|e| anyhow::anyhow!(e))
}
