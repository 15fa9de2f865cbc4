//! The daemon's metrics in Prometheus conventions, kept and encoded by `prometheus-client`: the
//! scheduled syncs and backups, the directory pushes, the HTTP surfaces (`http::health::track`, a
//! layer over every route `serve` mounts), the provider's logins and tokens (told through
//! `orgid_idp::Observer`), the targets' outboxes (read from the store at each scrape), and the
//! process itself (`process.rs`). `/metrics` answers OpenMetrics to a scraper that asks for it
//! (Prometheus does) and the classic text format (0.0.4) otherwise.
//!
//! Every family is listed in the README's Metrics section; the dashboard and alert rules in
//! `packaging/` use only names a scrape has (an e2e test checks it).

mod process;

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use orgid_directory::audit::LoginFailure;
use orgid_directory::target::{OutboxStats, TargetId};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::services::ledger::RunReport;

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the classic Prometheus text format.
pub const TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The run statuses shown even before a run had them (a query finds a zero, not nothing).
const RUN_STATUSES: [&str; 6] = ["ok", "partial", "incomplete", "held", "failed", "error"];
const CHANGE_OPS: [&str; 6] = ["open", "reopen", "adjust", "move", "close", "pending_approval"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    target: &'static str,
}

/// An HTTP request's route template (`unmatched` for none), method and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: u16,
}

/// A login's outcome (`success`, `failure`) and, for a failure, the reason its audit record has.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    client: String,
    grant: String,
}

/// What is known only once it happened: shown from then on (a timestamp of 0 would read as 1970).
#[derive(Debug, Default)]
struct Since {
    last_run: Option<i64>,
    last_success: Option<i64>,
    last_duration: Option<f64>,
    last_backup: Option<i64>,
    directory_up: Option<bool>,
}

#[derive(Debug, Default)]
struct SinceCollector(std::sync::Arc<Mutex<Since>>);

impl Collector for SinceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(up) = m.directory_up {
            let g = ConstGauge::new(i64::from(up));
            g.encode(encoder.encode_descriptor(
                "orgid_directory_up",
                "Whether the last push reached the directory",
                None,
                g.metric_type(),
            )?)?;
        }
        for (name, help, v) in [
            (
                "orgid_backup_last_success_timestamp_seconds",
                "When the last scheduled backup was written",
                m.last_backup,
            ),
            ("orgid_sync_last_run_timestamp_seconds", "When the last scheduled sync ended", m.last_run),
            ("orgid_sync_last_success_timestamp_seconds", "When the last scheduled sync was applied", m.last_success),
        ] {
            if let Some(v) = v {
                let g = ConstGauge::new(v);
                g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
            }
        }
        if let Some(v) = m.last_duration {
            let g = ConstGauge::new(v);
            let help = "How long the last scheduled sync took";
            g.encode(encoder.encode_descriptor("orgid_sync_last_duration_seconds", help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

/// The daemon's metrics: one per `serve`, shared by the HTTP layer, the provider and the jobs.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    since: std::sync::Arc<Mutex<Since>>,
    leader: Gauge,
    runs: Family<StatusLabel, Counter>,
    changes: Family<OpLabel, Counter>,
    rows_rejected: Counter,
    directory: Family<OutcomeLabel, Counter>,
    wecom: Family<OutcomeLabel, Counter>,
    backups: Family<OutcomeLabel, Counter>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram, fn() -> Histogram>,
    logins: Family<LoginLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    login_writes: Counter,
    token_writes: Counter,
    write_groups: Counter,
    outbox_pending: Family<TargetLabel, Gauge>,
    outbox_retrying: Family<TargetLabel, Gauge>,
    outbox_parked: Family<TargetLabel, Gauge>,
    outbox_oldest: Family<TargetLabel, Gauge>,
    last_reconcile: Family<TargetLabel, Gauge>,
}

fn latency() -> Histogram {
    // 5 ms to about 20 s: a token answer, a login's password hash, a slow console report.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            since: Default::default(),
            leader: Gauge::default(),
            runs: Family::default(),
            changes: Family::default(),
            rows_rejected: Counter::default(),
            directory: Family::default(),
            wecom: Family::default(),
            backups: Family::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency),
            logins: Family::default(),
            tokens: Family::default(),
            login_writes: Counter::default(),
            token_writes: Counter::default(),
            write_groups: Counter::default(),
            outbox_pending: Family::default(),
            outbox_retrying: Family::default(),
            outbox_parked: Family::default(),
            outbox_oldest: Family::default(),
            last_reconcile: Family::default(),
        };
        r.register("orgid_build", "Version of the running orgid", Info::new([("version", env!("CARGO_PKG_VERSION"))]));
        r.register(
            "orgid_leader",
            "Whether this replica holds the leader lease (runs the scheduled jobs)",
            m.leader.clone(),
        );
        r.register("orgid_sync_runs", "Scheduled sync runs by outcome", m.runs.clone());
        r.register("orgid_sync_account_changes", "Account changes applied by scheduled syncs", m.changes.clone());
        r.register(
            "orgid_sync_rows_rejected",
            "Source rows scheduled syncs rejected (each run's rejected rows)",
            m.rows_rejected.clone(),
        );
        r.register("orgid_directory_operations", "LDAP operations by outcome", m.directory.clone());
        r.register("orgid_wecom_operations", "WeCom operations by outcome (the worker's pushes)", m.wecom.clone());
        r.register("orgid_backups", "Scheduled backups by outcome", m.backups.clone());
        r.register(
            "orgid_http_requests",
            "HTTP requests by route template, method and status",
            m.http_requests.clone(),
        );
        r.register(
            "orgid_http_request_duration_seconds",
            "HTTP request latency by route template, method and status",
            m.http_duration.clone(),
        );
        r.register("orgid_logins", "Logins by outcome and, for a refusal, the reason audited", m.logins.clone());
        r.register("orgid_tokens_issued", "Token responses by client and grant type", m.tokens.clone());
        r.register(
            "orgid_login_writes",
            "Login writes (with their audit records) committed or failed",
            m.login_writes.clone(),
        );
        r.register(
            "orgid_token_writes",
            "Token responses' writes (grant and tokens with their audit record; for client credentials the audit record alone) committed or failed",
            m.token_writes.clone(),
        );
        r.register(
            "orgid_login_write_groups",
            "Transactions the login and token writes were grouped in",
            m.write_groups.clone(),
        );
        r.register(
            "orgid_outbox_pending",
            "Operations waiting in a target's outbox (not parked)",
            m.outbox_pending.clone(),
        );
        r.register(
            "orgid_outbox_retrying",
            "Pending operations a target refused at least once",
            m.outbox_retrying.clone(),
        );
        r.register(
            "orgid_outbox_parked",
            "Operations given up on until an operator unparks them",
            m.outbox_parked.clone(),
        );
        r.register(
            "orgid_outbox_oldest_pending_timestamp_seconds",
            "When a target's oldest pending operation was queued (0: none pending)",
            m.outbox_oldest.clone(),
        );
        r.register(
            "orgid_target_last_reconcile_timestamp_seconds",
            "When a target's last scheduled reconcile left it matching the store",
            m.last_reconcile.clone(),
        );
        r.register_collector(Box::new(SinceCollector(m.since.clone())));
        r.register_collector(Box::new(process::Process));
        // The known label values from the start: a query finds a zero, not nothing.
        for status in RUN_STATUSES {
            m.runs.get_or_create_owned(&StatusLabel { status });
        }
        for op in CHANGE_OPS {
            m.changes.get_or_create_owned(&OpLabel { op });
        }
        for outcome in ["applied", "refused"] {
            m.directory.get_or_create_owned(&OutcomeLabel { outcome });
            m.wecom.get_or_create_owned(&OutcomeLabel { outcome });
        }
        for outcome in ["ok", "failed"] {
            m.backups.get_or_create_owned(&OutcomeLabel { outcome });
        }
        m.logins.get_or_create_owned(&LoginLabels { outcome: "success", reason: "" });
        for why in LoginFailure::ALL {
            m.logins.get_or_create_owned(&LoginLabels { outcome: "failure", reason: why.as_str() });
        }
        Metrics { registry: r, ..m }
    }

    fn since(&self) -> std::sync::MutexGuard<'_, Since> {
        self.since.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record_run(&self, report: &RunReport, took: Duration) {
        self.runs.get_or_create(&StatusLabel { status: report.status() }).inc();
        let rejected = match report {
            RunReport::DryRun { rejected, .. }
            | RunReport::Applied { rejected, .. }
            | RunReport::Held { rejected, .. }
            | RunReport::Failed { rejected, .. } => rejected.len(),
        };
        self.rows_rejected.inc_by(rejected as u64);
        let now = Utc::now().timestamp();
        let mut since = self.since();
        since.last_run = Some(now);
        since.last_duration = Some(took.as_secs_f64());
        if let RunReport::Applied { plan, .. } = report {
            since.last_success = Some(now);
            let c = plan.counts;
            for (op, n) in [
                ("open", c.open),
                ("reopen", c.reopen),
                ("adjust", c.adjust),
                ("move", c.moved),
                ("close", c.close),
                ("pending_approval", c.pending_approval),
            ] {
                self.changes.get_or_create(&OpLabel { op }).inc_by(n);
            }
        }
    }

    /// A scheduled backup ended, written or not.
    pub fn record_backup(&self, ok: bool) {
        self.backups.get_or_create(&OutcomeLabel { outcome: if ok { "ok" } else { "failed" } }).inc();
        if ok {
            self.since().last_backup = Some(Utc::now().timestamp());
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn record_wecom(&self, r: &crate::services::targets::DrainReport) {
        self.wecom.get_or_create(&OutcomeLabel { outcome: "applied" }).inc_by(r.applied);
        self.wecom.get_or_create(&OutcomeLabel { outcome: "refused" }).inc_by(r.refused);
    }

    pub fn record_directory(&self, r: &crate::services::targets::DrainReport) {
        self.directory.get_or_create(&OutcomeLabel { outcome: "applied" }).inc_by(r.applied);
        self.directory.get_or_create(&OutcomeLabel { outcome: "refused" }).inc_by(r.refused);
        let mut since = self.since();
        if r.unavailable.is_some() {
            since.directory_up = Some(false);
        } else if r.applied > 0 || r.refused > 0 {
            since.directory_up = Some(true);
        }
    }

    pub fn record_error(&self, took: Duration) {
        self.runs.get_or_create(&StatusLabel { status: "error" }).inc();
        let mut since = self.since();
        since.last_run = Some(Utc::now().timestamp());
        since.last_duration = Some(took.as_secs_f64());
    }

    /// A target's scheduled reconcile left it matching the store (no drift, or all repaired).
    pub fn record_reconcile(&self, target: TargetId) {
        self.last_reconcile.get_or_create(&TargetLabel { target: target.as_str() }).set(Utc::now().timestamp());
    }

    /// A target's outbox as the store has it now.
    pub fn set_outbox(&self, target: TargetId, s: &OutboxStats) {
        let t = TargetLabel { target: target.as_str() };
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.outbox_pending.get_or_create(&t).set(clamp(s.pending));
        self.outbox_retrying.get_or_create(&t).set(clamp(s.retrying));
        self.outbox_parked.get_or_create(&t).set(clamp(s.parked));
        self.outbox_oldest.get_or_create(&t).set(s.oldest.map_or(0, |t| t.timestamp()));
    }

    /// The store's login writes (failures, refusals, successes with their audit records), its
    /// grant writes (each token response's grant, tokens and audit record) and the transactions
    /// both were committed in together: the ratio is how much group commit is saving.
    pub fn set_login_writes(&self, stats: orgid_store::LoginWriteStats) {
        for (c, v) in
            [(&self.login_writes, stats.writes), (&self.token_writes, stats.grants), (&self.write_groups, stats.groups)]
        {
            c.inner().store(v, Ordering::Relaxed);
        }
    }

    /// One HTTP request answered: `route` is the matched route's template (never the raw path,
    /// so that the series stay bounded).
    pub fn record_http(&self, route: &str, method: &str, status: u16, took: Duration) {
        let labels = HttpLabels { route: route.to_string(), method: method.to_string(), status };
        self.http_duration.get_or_create(&labels).observe(took.as_secs_f64());
        self.http_requests.get_or_create(&labels).inc();
    }

    /// Every family, in OpenMetrics (ending with `# EOF`) or in the classic text format.
    pub fn render(&self, openmetrics: bool) -> String {
        let mut s = String::new();
        let done = if openmetrics {
            prometheus_client::encoding::text::encode(&mut s, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut s, &self.registry)
        };
        if let Err(e) = done {
            tracing::error!("metrics: encoding failed: {e}");
        }
        s
    }
}

impl orgid_idp::Observer for Metrics {
    fn login(&self, failure: Option<LoginFailure>) {
        let labels = match failure {
            None => LoginLabels { outcome: "success", reason: "" },
            Some(why) => LoginLabels { outcome: "failure", reason: why.as_str() },
        };
        self.logins.get_or_create(&labels).inc();
    }

    fn token(&self, client_id: &str, grant: &str) {
        self.tokens.get_or_create(&TokenLabels { client: client_id.to_string(), grant: grant.to_string() }).inc();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use orgid_idp::Observer;

    #[test]
    fn the_classic_text_keeps_the_old_names_and_openmetrics_ends_with_eof() {
        let m = Metrics::new();
        m.set_leader(true);
        m.login(Some(LoginFailure::BadPassword));
        m.token("portal", "client_credentials");
        m.set_outbox(TargetId::Ldap, &OutboxStats { pending: 3, parked: 1, ..Default::default() });
        m.set_login_writes(orgid_store::LoginWriteStats { writes: 5, grants: 2, groups: 4 });
        m.record_wecom(&crate::services::targets::DrainReport { applied: 7, refused: 2, ..Default::default() });
        let text = m.render(false);
        for line in [
            "# TYPE orgid_sync_runs_total counter",
            "orgid_sync_runs_total{status=\"ok\"} 0",
            "orgid_leader 1",
            "orgid_build_info{version=\"",
            "orgid_logins_total{outcome=\"failure\",reason=\"bad_password\"} 1",
            "orgid_logins_total{outcome=\"success\",reason=\"\"} 0",
            "orgid_tokens_issued_total{client=\"portal\",grant=\"client_credentials\"} 1",
            "orgid_outbox_pending{target=\"ldap\"} 3",
            "orgid_outbox_parked{target=\"ldap\"} 1",
            "orgid_login_writes_total 5",
            "orgid_wecom_operations_total{outcome=\"applied\"} 7",
            "orgid_wecom_operations_total{outcome=\"refused\"} 2",
            "orgid_directory_operations_total{outcome=\"applied\"} 0",
            "orgid_token_writes_total 2",
            "orgid_login_write_groups_total 4",
            "process_resident_memory_bytes ",
            "process_open_fds ",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            !text.lines().any(|l| l.starts_with("# HELP") && l.ends_with("..")),
            "the crate ends helps with a dot: {text}"
        );
        assert!(!text.contains("orgid_sync_last_success_timestamp_seconds"), "not before a run: {text}");
        let om = m.render(true);
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("# TYPE orgid_sync_runs counter\n"), "{om}");
        assert!(om.contains("orgid_sync_runs_total{status=\"ok\"} 0"), "{om}");
    }

    #[test]
    fn http_requests_are_counted_by_route_template() {
        let m = Metrics::new();
        m.record_http("/api/v1/people/{id}", "GET", 200, Duration::from_millis(30));
        m.record_http("/api/v1/people/{id}", "GET", 200, Duration::from_millis(3));
        let text = m.render(false);
        let series = "{route=\"/api/v1/people/{id}\",method=\"GET\",status=\"200\"";
        assert!(text.contains(&format!("orgid_http_requests_total{series}}} 2")), "{text}");
        assert!(text.contains(&format!("orgid_http_request_duration_seconds_count{series}}} 2")), "{text}");
        assert!(
            text.contains(&format!("orgid_http_request_duration_seconds_bucket{series},le=\"0.005\"}} 1")),
            "{text}"
        );
    }
}
