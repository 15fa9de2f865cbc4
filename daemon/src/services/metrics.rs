//! Prometheus metrics of the daemon, rendered in the text exposition format.

use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;

use crate::services::ledger::RunReport;

#[derive(Default)]
struct Inner {
    runs: std::collections::BTreeMap<&'static str, u64>,
    changes: std::collections::BTreeMap<&'static str, u64>,
    last_run: Option<i64>,
    last_success: Option<i64>,
    last_duration: Option<f64>,
    directory_applied: u64,
    directory_refused: u64,
    directory_up: Option<bool>,
    leader: bool,
    backups_ok: u64,
    backups_failed: u64,
    last_backup: Option<i64>,
}

#[derive(Default)]
pub struct Metrics(Mutex<Inner>);

impl Metrics {
    pub fn record_run(&self, report: &RunReport, took: Duration) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *m.runs.entry(report.status()).or_default() += 1;
        let now = Utc::now().timestamp();
        m.last_run = Some(now);
        m.last_duration = Some(took.as_secs_f64());
        if let RunReport::Applied { plan, .. } = report {
            m.last_success = Some(now);
            let c = plan.counts;
            for (op, n) in [
                ("open", c.open),
                ("reopen", c.reopen),
                ("adjust", c.adjust),
                ("move", c.moved),
                ("close", c.close),
                ("pending_approval", c.pending_approval),
            ] {
                *m.changes.entry(op).or_default() += n;
            }
        }
    }

    /// A scheduled backup ended, written or not.
    pub fn record_backup(&self, ok: bool) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            m.backups_ok += 1;
            m.last_backup = Some(Utc::now().timestamp());
        } else {
            m.backups_failed += 1;
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).leader = leader;
    }

    pub fn record_directory(&self, r: &crate::services::targets::DrainReport) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.directory_applied += r.applied;
        m.directory_refused += r.refused;
        if r.unavailable.is_some() {
            m.directory_up = Some(false);
        } else if r.applied > 0 || r.refused > 0 {
            m.directory_up = Some(true);
        }
    }

    pub fn record_error(&self, took: Duration) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *m.runs.entry("error").or_default() += 1;
        m.last_run = Some(Utc::now().timestamp());
        m.last_duration = Some(took.as_secs_f64());
    }

    pub fn render(&self) -> String {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = String::new();
        let _ = writeln!(s, "# HELP orgid_build_info Version of the running orgid.\n# TYPE orgid_build_info gauge");
        let _ = writeln!(s, "orgid_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(
            s,
            "# HELP orgid_leader Whether this replica holds the leader lease (runs the scheduled jobs).\n# TYPE orgid_leader gauge\norgid_leader {}",
            u8::from(m.leader)
        );
        let _ = writeln!(
            s,
            "# HELP orgid_sync_runs_total Scheduled sync runs by outcome.\n# TYPE orgid_sync_runs_total counter"
        );
        for status in ["ok", "partial", "held", "failed", "error"] {
            let _ = writeln!(
                s,
                "orgid_sync_runs_total{{status=\"{status}\"}} {}",
                m.runs.get(status).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            s,
            "# HELP orgid_sync_account_changes_total Account changes applied by scheduled syncs.\n# TYPE orgid_sync_account_changes_total counter"
        );
        for op in ["open", "reopen", "adjust", "move", "close", "pending_approval"] {
            let _ = writeln!(
                s,
                "orgid_sync_account_changes_total{{op=\"{op}\"}} {}",
                m.changes.get(op).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            s,
            "# HELP orgid_directory_operations_total LDAP operations by outcome.\n# TYPE orgid_directory_operations_total counter"
        );
        let _ = writeln!(s, "orgid_directory_operations_total{{outcome=\"applied\"}} {}", m.directory_applied);
        let _ = writeln!(s, "orgid_directory_operations_total{{outcome=\"refused\"}} {}", m.directory_refused);
        if let Some(up) = m.directory_up {
            let _ = writeln!(
                s,
                "# HELP orgid_directory_up Whether the last push reached the directory.\n# TYPE orgid_directory_up gauge\norgid_directory_up {}",
                u8::from(up)
            );
        }
        let _ = writeln!(
            s,
            "# HELP orgid_backups_total Scheduled backups by outcome.\n# TYPE orgid_backups_total counter\n\
             orgid_backups_total{{outcome=\"ok\"}} {}\norgid_backups_total{{outcome=\"failed\"}} {}",
            m.backups_ok, m.backups_failed
        );
        for (name, help, v) in [
            (
                "orgid_backup_last_success_timestamp_seconds",
                "When the last scheduled backup was written.",
                m.last_backup.map(|v| v as f64),
            ),
            (
                "orgid_sync_last_run_timestamp_seconds",
                "When the last scheduled sync ended.",
                m.last_run.map(|v| v as f64),
            ),
            (
                "orgid_sync_last_success_timestamp_seconds",
                "When the last scheduled sync was applied.",
                m.last_success.map(|v| v as f64),
            ),
            ("orgid_sync_last_duration_seconds", "How long the last scheduled sync took.", m.last_duration),
        ] {
            if let Some(v) = v {
                let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
            }
        }
        s
    }
}

/// The store's login writes (failures, refusals, successes with their audit records), its grant
/// writes (each token response's grant, tokens and audit record) and the transactions both were
/// committed in together: the ratio is how much group commit is saving.
pub fn render_login_writes(s: &mut String, stats: orgid_store::LoginWriteStats) {
    for (name, help, v) in [
        ("orgid_login_writes_total", "Login writes (with their audit records) committed or failed.", stats.writes),
        (
            "orgid_token_writes_total",
            "Token responses' writes (grant, tokens, audit record) committed or failed.",
            stats.grants,
        ),
        ("orgid_login_write_groups_total", "Transactions the login and token writes were grouped in.", stats.groups),
    ] {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    }
}
