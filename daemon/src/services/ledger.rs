//! The run ledger's ends: a run begins, and fails with its message; how a sync or import ended
//! ([`RunReport`]), for the CLI, the API, metrics and the jobs alike.

use orgid_directory::{
    CompanyIndex, CompanyStore, NewRun, Plan, RowError, RunId, RunKind, RunOutcome, RunStatus, RunStore,
};
use tracing::warn;

use crate::app::App;
use crate::services::targets::DrainReport;

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

/// The companies the store knows, as an index (for imports, which carry no company list).
pub async fn stored_companies(app: &App) -> anyhow::Result<CompanyIndex> {
    CompanyIndex::new(app.store.companies().await?).map_err(|e| anyhow::anyhow!(e))
}
