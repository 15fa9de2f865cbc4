//! Alerts: the audit trail read as it is written (every chain from where the last read ended),
//! its records fed to the rules of `orgid_directory::audit::alert`, each alert mailed once through
//! the notifier and recorded in the trail (type `alert`; failure if the notice could not go).

use std::collections::HashMap;
use std::time::Duration;

use orgid_config::AlertsConfig;
use orgid_connectors::notify::{Mailer, Notifier};
use orgid_directory::AuditStore;
use orgid_directory::audit::alert::{Alert, AlertRule, AlertRules, AlertState};
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};

use crate::app::App;

/// Records read per round trip.
const BATCH: u32 = 1_000;

fn rules(c: &AlertsConfig) -> AlertRules {
    AlertRules {
        failures_per_ip: c.failures_per_ip,
        failures_per_login: c.failures_per_login,
        disabled_logins: c.disabled_logins,
        sync_problems: c.sync_problems,
        window: chrono::Duration::seconds(i64::from(c.window_secs)),
    }
}

/// Where the reading of each chain stands, and the rules' windows.
pub struct AlertTail {
    state: AlertState,
    after: HashMap<i32, i64>,
}

impl AlertTail {
    /// Starts at the chains' current heads: what was written before (before a restart, too) is
    /// not evaluated again, so no alert goes out twice.
    pub async fn start(app: &App) -> anyhow::Result<AlertTail> {
        let after = app.store.audit_heads().await?.into_iter().map(|h| (h.chain, h.pos)).collect();
        Ok(AlertTail { state: AlertState::new(rules(&app.config.alerts)), after })
    }

    /// Reads what was written since the last call and returns the alerts it completes.
    pub async fn poll(&mut self, app: &App) -> anyhow::Result<Vec<Alert>> {
        self.state.set_rules(rules(&app.config.alerts));
        let mut fresh = Vec::new();
        for head in app.store.audit_heads().await? {
            let mut after = self.after.get(&head.chain).copied().unwrap_or(0);
            while after < head.pos {
                let batch = app.store.audit_chain(head.chain, after, head.pos, BATCH).await?;
                let Some(last) = batch.last() else { break };
                after = last.pos;
                fresh.extend(batch.into_iter().map(|r| r.fields));
            }
            self.after.insert(head.chain, after);
        }
        // Chains are written side by side (PostgreSQL): the rules see one timeline.
        fresh.sort_by_key(|f| f.at);
        Ok(fresh.iter().flat_map(|f| self.state.observe(f)).collect())
    }
}

/// The notifier of `[alerts]`, if recipients are configured.
pub fn notifier(c: &AlertsConfig) -> Option<Mailer> {
    let addr = c.smtp_addr()?;
    (!c.mail_to.is_empty()).then(|| Mailer {
        addr: addr.to_string(),
        from: c.mail_from.clone(),
        to: c.mail_to.clone(),
        timeout: Duration::from_secs(30),
    })
}

fn body(a: &Alert, c: &AlertsConfig) -> String {
    let (first, last) = (
        a.first.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        a.last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    let (what, threshold, query) = match a.rule {
        AlertRule::FailuresPerIp => {
            (format!("{} failed logins from {}", a.count, a.key), c.failures_per_ip, format!("--ip {}", a.key))
        }
        AlertRule::FailuresPerLogin => {
            (format!("{} failed logins for {}", a.count, a.key), c.failures_per_login, format!("--login {}", a.key))
        }
        AlertRule::DisabledLogin => {
            (format!("a login attempt on the closed account {}", a.key), 1, format!("--login {}", a.key))
        }
        AlertRule::SyncProblem => (format!("a sync {}", a.key), 1, "--type sync_finished --type sync_held".into()),
    };
    format!(
        "{what}, between {first} and {last} (UTC); the rule {rule} fires at {threshold} within {window} s.\n\n\
         See: orgid audit query {query} --since {first}\n",
        rule = a.rule.as_str(),
        window = c.window_secs,
    )
}

/// Sends each alert and records it (with the delivery's outcome) in the audit trail.
pub async fn deliver(app: &App, alerts: &[Alert]) -> anyhow::Result<()> {
    let c = &app.config.alerts;
    let notifier = notifier(c);
    for a in alerts {
        let sent = match &notifier {
            Some(n) => n.send(&a.subject(), &body(a, c)).await.map_err(|e| e.to_string()),
            None => Err("no recipients configured (alerts.mail_to)".to_string()),
        };
        let outcome = if sent.is_ok() { AuditOutcome::Success } else { AuditOutcome::Failure };
        let mut event = AuditEvent::new(app.clock.now(), EventKind::Alert, outcome, Actor::System("alerts".into()))
            .reason(a.rule.as_str())
            .attr("key", a.key.clone())
            .attr("count", a.count.to_string())
            .attr("first", a.first.to_rfc3339())
            .attr("last", a.last.to_rfc3339());
        if let AlertRule::FailuresPerIp = a.rule {
            event.source_ip = a.key.parse().ok();
        }
        match &sent {
            Ok(()) => tracing::warn!(rule = a.rule.as_str(), key = %a.key, count = a.count, "alert sent"),
            Err(e) => {
                tracing::error!(rule = a.rule.as_str(), key = %a.key, "alert not delivered: {e}");
                event = event.attr("error", e.clone());
            }
        }
        app.store.append_audit(&[event]).await?;
    }
    Ok(())
}
