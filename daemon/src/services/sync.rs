//! The sync runner: read the configured sources, plan against the store, check the safety limits,
//! then apply, hold or fail, and record the run in the ledger either way.

use std::time::Instant;

use orgid_config::{LimitsConfig, SourceConfig};
use orgid_connectors::source::{self, SourceError};
use orgid_directory::plan::Scope;
use orgid_directory::safety::check_source_size;
use orgid_directory::target::wecom::{DeptOrder, roster_order};
use orgid_directory::{
    Company, CompanyIndex, HeldBack, PersonKeyer, PersonRecord, PersonStore, Plan, RowError, RunId, RunKind, RunStatus,
    RunStore, StoreError,
};
use tracing::info;

use crate::app::App;
use crate::output::progress::Progress;
use crate::services::ledger::{RunReport, begin, fail};
use crate::services::run::{Planned, conclude, plan_owned};
use crate::services::targets::ldap::push;
use crate::services::workflow::roster;

/// What the sources delivered, merged.
pub struct SourceData {
    pub names: Vec<String>,
    pub companies: Vec<Company>,
    pub records: Vec<PersonRecord>,
    pub rejected: Vec<RowError>,
    /// The people behind rejected roster rows: left as they were.
    pub held: HeldBack,
}

/// Reads every configured source. A missing column or unreadable file stops everything.
pub fn read_sources(app: &App, progress: &Progress) -> Result<SourceData, String> {
    read_sources_with(&app.config.sources, &app.config.limits, &app.keyer, progress)
}

/// [`read_sources`] of these sources, within `limits`, keyed with `keyer`.
fn read_sources_with(
    sources: &[SourceConfig],
    limits: &LimitsConfig,
    keyer: &PersonKeyer,
    progress: &Progress,
) -> Result<SourceData, String> {
    if sources.is_empty() {
        return Err("no [[sources]] are configured; see `orgid config-example`".into());
    }
    let mut companies: Vec<Company> = Vec::new();
    let mut rejected = Vec::new();
    for s in sources {
        progress.stage(&format!("reading companies of {}", s.name));
        let read = source::read_companies(&s.companies, limits).map_err(|e| source_error(&s.name, e))?;
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
    let mut held = HeldBack::default();
    for s in sources {
        progress.stage(&format!("reading roster of {}", s.name));
        let read =
            source::read_roster(&s.roster, &s.name, keyer, &index, limits).map_err(|e| source_error(&s.name, e))?;
        rejected.extend(read.rejected);
        // The first source's table is taken as it is: extending an empty one would copy a
        // million records to a new table while the old one is still held.
        if records.is_empty() {
            records = read.records;
        } else {
            records.extend(read.records);
        }
        held.extend(read.held);
    }
    Ok(SourceData { names: sources.iter().map(|s| s.name.clone()).collect(), companies, records, rejected, held })
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
        let (sources, limits, keyer) = (app.config.sources.clone(), app.config.limits.clone(), app.keyer.clone());
        std::thread::spawn(move || {
            done.send(Box::new(read_sources_with(&sources, &limits, &keyer, &Progress::hidden())))
        });
    }
    let read_span = progress.span("read");
    let load = async {
        let _load = progress.span("load");
        app.store.people().await
    };
    let (read, current) = tokio::join!(reading, load);
    drop(read_span);
    let mut data = match read.map_or_else(|_| Err("reading the sources stopped unexpectedly".into()), |r| *r) {
        Ok(d) => d,
        Err(message) => return fail(app, run, message, Vec::new()).await,
    };
    let current = current?;
    roster::override_modes(app, &mut data.companies).await?;
    let active_people = data.records.iter().filter(|r| !r.has_left(app.today())).count() as u64;
    let last = app.store.last_applied_run().await?.map(|r| r.active_people);
    if let Err(message) = check_source_size(active_people, last, &app.config.safety) {
        return fail(app, run, message, data.rejected).await;
    }
    let index = CompanyIndex::new(data.companies.clone()).map_err(|e| anyhow::anyhow!(e))?;
    progress.stage("planning");
    let plan_span = progress.span("plan");
    // WeCom's department order, from the whole roster before it moves: one entry a department.
    let order = match app.config.wecom {
        Some(_) => roster_order(
            &data.companies,
            data.records.iter().map(|r| (r.profile.company.0.as_str(), r.profile.department.as_str())),
        ),
        None => DeptOrder::new(),
    };
    // The records move into the plan: a first load holds each person once.
    let records = std::mem::take(&mut data.records);
    let mut plan = plan_owned(app, &index, records, &data.held, &current, Scope::Full);
    let follow_up = roster::route(app, &mut plan, &current, &index);
    drop(plan_span);
    let kept = index.clone();
    let report = conclude(
        app,
        run,
        Planned { plan, current, index, order },
        data.companies,
        data.rejected,
        active_people,
        progress,
    )
    .await?;
    if matches!(report, RunReport::Applied { .. }) {
        roster::follow_up(app, &kept, follow_up).await?;
    }
    info!(status = report.status(), elapsed_ms = started.elapsed().as_millis() as u64, "sync finished");
    Ok(report)
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
    crate::services::targets::wecom::follow_approved(app, &plan).await?;
    Ok(RunReport::Applied { run, status: RunStatus::Ok, plan, rejected: Vec::new(), directory })
}

fn source_names(app: &App) -> Vec<String> {
    app.config.sources.iter().map(|s| s.name.clone()).collect()
}
