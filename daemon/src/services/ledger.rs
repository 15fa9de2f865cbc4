//! The run ledger's ends: a run begins, and fails with its message; how a sync or import ended
//! ([`RunReport`]), for the CLI, the API, metrics and the jobs alike.

use orgid_directory::{
    CompanyIndex, CompanyStore, NewRun, Plan, RowError, RunId, RunKind, RunOutcome, RunStatus, RunStore,
};
use tracing::{info, warn};

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
    /// Exit code for scripts: 0 applied cleanly, 1 failed, 3 held, 4 applied with rejected rows,
    /// 5 applied to the store while the directory went away (or could not be reached) before it
    /// had every change: not done yet, the outbox holds the rest for the next push. A dry run
    /// exits as its run would have: 3 when it would be held, 4 with rejected rows, else 0.
    pub fn exit_code(&self) -> u8 {
        match self {
            // A preview answers as the run it previews would: a script checks a file with
            // `--dry-run` before it runs it.
            RunReport::DryRun { hold: Some(_), .. } => 3,
            RunReport::DryRun { rejected, .. } if !rejected.is_empty() => 4,
            RunReport::DryRun { .. } => 0,
            _ if self.directory_incomplete() => 5,
            RunReport::Applied { status: RunStatus::Partial, .. } => 4,
            RunReport::Applied { .. } => 0,
            RunReport::Held { .. } => 3,
            RunReport::Failed { .. } => 1,
        }
    }

    /// Whether the run was applied to the store but the directory was unavailable (a cron job
    /// must notice: `ok` would hide that the directory lags).
    pub fn directory_incomplete(&self) -> bool {
        matches!(self, RunReport::Applied { directory: Some(d), .. } if d.unavailable.is_some())
    }

    pub fn status(&self) -> &'static str {
        match self {
            RunReport::DryRun { .. } => "dry_run",
            _ if self.directory_incomplete() => "incomplete",
            RunReport::Applied { status, .. } => status.as_str(),
            RunReport::Held { .. } => "held",
            RunReport::Failed { .. } => "failed",
        }
    }
}

pub async fn begin(app: &App, kind: RunKind, sources: Vec<String>, actor: &str) -> anyhow::Result<RunId> {
    abandon_dead(app).await?;
    let run = NewRun { kind, sources, started_at: app.clock.now(), actor: actor.to_string(), owner: owner::this() };
    Ok(app.store.begin_run(&run).await?)
}

/// Marks `abandoned` every run still `running` whose process is known to be gone (it ran on this
/// host and its process no longer exists); returns how many. Runs of other hosts (replicas on
/// PostgreSQL) are left to their own host.
pub async fn abandon_dead(app: &App) -> anyhow::Result<usize> {
    let mut n = 0;
    for (run, who) in app.store.running_runs().await? {
        if who.as_deref().is_some_and(owner::is_dead) {
            let why = "its process stopped before it ended (killed or crashed); what it had committed \
                       stays, and the next sync completes the rest";
            if app.store.abandon_run(run, app.clock.now(), why).await? {
                warn!(run = run.0, "a run left running by a dead process is marked abandoned");
                n += 1;
            }
        }
    }
    if n > 0 {
        // A run may have died between its parts' tracking and its memberships.
        let queued = crate::services::targets::ldap::reassert_memberships(app).await?;
        info!(operations = queued, "directory memberships queued again after an abandoned run");
    }
    Ok(n)
}

/// Who runs a run: `host/boot/pid/start`, from `/proc` (Linux). Elsewhere there is no owner, and
/// such runs are never taken for dead.
mod owner {
    fn read(path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
    }

    /// The start time (clock ticks since boot) of process `pid`: field 22 of its `stat`, read after
    /// the command name, which may hold spaces and parentheses.
    fn started(pid: &str) -> Option<String> {
        let stat = read(&format!("/proc/{pid}/stat"))?;
        stat.rsplit_once(')')?.1.split_whitespace().nth(19).map(str::to_string)
    }

    pub(super) fn this() -> Option<String> {
        let pid = std::process::id().to_string();
        Some(format!(
            "{}/{}/{pid}/{}",
            read("/proc/sys/kernel/hostname")?,
            read("/proc/sys/kernel/random/boot_id")?,
            started(&pid)?
        ))
    }

    /// Whether the owner ran on this host and is gone: the host rebooted since, or its process
    /// no longer exists (or its pid now belongs to a process started later).
    pub(super) fn is_dead(owner: &str) -> bool {
        let mut parts = owner.splitn(4, '/');
        let (Some(host), Some(boot), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        if read("/proc/sys/kernel/hostname").as_deref() != Some(host) {
            return false;
        }
        read("/proc/sys/kernel/random/boot_id").as_deref() != Some(boot) || started(pid).as_deref() != Some(start)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn this_process_is_alive_and_a_finished_one_is_dead() {
            let me = super::this().expect("an owner on Linux");
            assert!(!super::is_dead(&me), "{me}");
            let mut child = std::process::Command::new("true").spawn().expect("spawn");
            let pid = child.id().to_string();
            let start = super::started(&pid);
            child.wait().expect("wait");
            let parts: Vec<&str> = me.split('/').collect();
            let gone = format!("{}/{}/{pid}/{}", parts[0], parts[1], start.unwrap_or_default());
            assert!(super::is_dead(&gone), "{gone}");
            assert!(!super::is_dead(&format!("another-host/{}/{pid}/1", parts[1])), "other hosts are not judged");
            assert!(!super::is_dead("garbage"));
        }
    }
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
            wecom: None,
        };
        app.store.finish_run(run, outcome).await?;
    }
    Ok(RunReport::Failed { run, message, rejected })
}

/// The companies the store knows, as an index (for imports, which carry no company list).
pub async fn stored_companies(app: &App) -> anyhow::Result<CompanyIndex> {
    CompanyIndex::new(app.store.companies().await?).map_err(|e| anyhow::anyhow!(e))
}
