//! Alerts: the audit trail read as it is written (every chain from where the last read ended),
//! its records fed to the rules of `orgid_directory::audit::alert` and checked to chain
//! (`ChainWatch`), each alert mailed once through the notifier and recorded in the trail (type
//! `alert`; failure if the notice could not go).
//!
//! Sent once, across restarts too: where the reading stands is kept in the store (the setting
//! `alerts.tail`, written after each round's alerts are recorded), and a restarted job goes on
//! from there, so what was written while `serve` was down is still evaluated. Each alert record
//! carries its identity (`alert_id`: rule, key, time of the record that completed it); the ids of
//! the latest alert records are loaded at start, so a round cut short between its mail and the
//! saved position is not mailed again.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use orgid_config::AlertsConfig;
use orgid_connectors::notify::{CommandNotifier, Mailer, Notifier};
use orgid_directory::audit::alert::{Alert, AlertRule, AlertRules, AlertState, ChainWatch, WorkingHours};
use orgid_directory::audit::{
    Actor, AuditEvent, AuditFilter, AuditOutcome, AuditScope, ChainHead, EventKind, Order, PageRequest,
};
use orgid_directory::{AuditStore, SettingStore};

use crate::app::App;

/// Records read per round trip.
const BATCH: u32 = 1_000;
/// Where the alert job has read the audit trail to: JSON of the chain heads it has read.
pub const TAIL_SETTING: &str = "alerts.tail";
/// Alert records whose ids are remembered at start.
const RECENT_ALERTS: u32 = 1_000;

fn rules(app: &App) -> AlertRules {
    let c = &app.config.alerts;
    let off_hours_admin = match (c.off_hours_admin, c.working_minutes()) {
        (true, Some((start, end))) => {
            let calendar = crate::services::workflow::calendar(app).unwrap_or_else(|e| {
                tracing::warn!("alerts: {e}; working days from the built-in calendar");
                orgid_directory::workflow::Calendar::built_in()
            });
            Some(WorkingHours { calendar, tz: app.tz, start, end })
        }
        _ => None,
    };
    AlertRules {
        failures_per_ip: c.failures_per_ip,
        failures_per_login: c.failures_per_login,
        disabled_logins: c.disabled_logins,
        sync_problems: c.sync_problems,
        off_hours_admin,
        parked_operations: c.parked_operations,
        window: chrono::Duration::seconds(i64::from(c.window_secs)),
    }
}

/// What the rules are built from: rebuilt (the calendar files read again) only when it changes.
fn rules_source(app: &App) -> (AlertsConfig, Vec<PathBuf>, chrono_tz::Tz) {
    (app.config.alerts.clone(), app.config.workflow.calendar.clone(), app.tz)
}

/// The identity of an alert: the same records give the same id. A break of the chain is one
/// alert whoever finds it (the tail or the periodic verification) and however often.
fn alert_id(a: &Alert) -> String {
    match a.rule {
        AlertRule::AuditChain => format!("{}|{}", a.rule.as_str(), a.key),
        _ => format!("{}|{}|{}", a.rule.as_str(), a.key, a.last.timestamp_millis()),
    }
}

/// The ids of the latest alert records.
async fn recorded_ids(app: &App) -> anyhow::Result<HashSet<String>> {
    let filter = AuditFilter { kinds: vec![EventKind::Alert], ..AuditFilter::default() };
    let page = PageRequest { order: Order::NewestFirst, after: None, limit: RECENT_ALERTS };
    let recent = app.store.audit_query(&AuditScope::All, &filter, page).await?;
    Ok(recent
        .records
        .iter()
        .filter_map(|r| r.fields.details().and_then(|d| d.attrs.get("alert_id").cloned()))
        .collect())
}

/// The periodic verification (`alerts.verify_schedule`): the whole trail walked as `orgid audit
/// verify` does; each chain's first problem is alerted once (not again at the next run, nor
/// after a restart). Returns how many alerts were sent.
pub async fn verify_round(app: &App) -> anyhow::Result<usize> {
    if !app.config.alerts.enabled() || !app.config.alerts.audit_chain {
        return Ok(0);
    }
    let sent = recorded_ids(app).await?;
    let now = app.clock.now();
    let alerts: Vec<Alert> = crate::services::audit::chain_problems(app)
        .await?
        .into_iter()
        .map(|(chain, pos, what)| Alert {
            rule: AlertRule::AuditChain,
            key: format!("chain {chain} record {pos}"),
            count: 1,
            first: now,
            last: now,
            detail: Some(format!("定期校验发现（audit verify）：{what}")),
        })
        .filter(|a| !sent.contains(&alert_id(a)))
        .collect();
    deliver(app, &alerts).await?;
    Ok(alerts.len())
}

/// Where the reading of each chain stands, and the rules' windows.
pub struct AlertTail {
    state: AlertState,
    source: (AlertsConfig, Vec<PathBuf>, chrono_tz::Tz),
    watch: ChainWatch,
    /// The position last saved in the store.
    saved: Vec<ChainHead>,
    /// Alerts already recorded (the latest at start, and those sent since).
    sent: HashSet<String>,
}

impl AlertTail {
    /// Goes on from the position saved in the store; the first time, from the chains' current
    /// heads (what was written before alerts existed is not evaluated).
    pub async fn start(app: &App) -> anyhow::Result<AlertTail> {
        let heads = app.store.audit_heads().await?;
        let saved: Option<Vec<ChainHead>> =
            app.store.setting(TAIL_SETTING).await?.and_then(|s| serde_json::from_str(&s).ok());
        let from: Vec<ChainHead> = match &saved {
            None => heads.clone(),
            Some(saved) => {
                let by_chain: HashMap<i32, ChainHead> = saved.iter().map(|h| (h.chain, *h)).collect();
                heads
                    .iter()
                    .map(|h| match by_chain.get(&h.chain) {
                        // A store put back from an older snapshot: its own heads.
                        Some(s) if s.pos <= h.pos => *s,
                        Some(_) => *h,
                        // A chain begun after the position was saved: all of it.
                        None => ChainHead::empty(h.chain),
                    })
                    .collect()
            }
        };
        let sent = recorded_ids(app).await?;
        Ok(AlertTail {
            state: AlertState::new(rules(app)),
            source: rules_source(app),
            watch: ChainWatch::new(from.iter().copied()),
            saved: if saved.is_some() { from } else { Vec::new() },
            sent,
        })
    }

    /// Reads what was written since the last call and returns the alerts it completes (not
    /// those already recorded).
    pub async fn poll(&mut self, app: &App) -> anyhow::Result<Vec<Alert>> {
        if rules_source(app) != self.source {
            self.state.set_rules(rules(app));
            self.source = rules_source(app);
        }
        let mut fresh = Vec::new();
        let mut broken = Vec::new();
        let at: HashMap<i32, i64> = self.watch.heads().iter().map(|h| (h.chain, h.pos)).collect();
        for head in app.store.audit_heads().await? {
            let mut after = at.get(&head.chain).copied().unwrap_or(0);
            while after < head.pos {
                let batch = app.store.audit_chain(head.chain, after, head.pos, BATCH).await?;
                let Some(last) = batch.last() else { break };
                after = last.pos;
                for r in &batch {
                    if let Some(a) = self.watch.check(r)
                        && app.config.alerts.audit_chain
                    {
                        broken.push(a);
                    }
                }
                fresh.extend(batch.into_iter().map(|r| r.fields));
            }
        }
        // Chains are written side by side (PostgreSQL): the rules see one timeline.
        fresh.sort_by_key(|f| f.at);
        broken.extend(fresh.iter().flat_map(|f| self.state.observe(f)));
        broken.retain(|a| !self.sent.contains(&alert_id(a)));
        Ok(broken)
    }

    /// Keeps where the reading stands in the store (after the round's alerts are recorded).
    pub async fn save(&mut self, app: &App) -> anyhow::Result<()> {
        let heads = self.watch.heads();
        if heads != self.saved {
            app.store.set_setting(TAIL_SETTING, &serde_json::to_string(&heads)?).await?;
            self.saved = heads;
        }
        Ok(())
    }

    /// Remembers alerts recorded, so that they are never sent twice by this job.
    pub fn recorded(&mut self, alerts: &[Alert]) {
        self.sent.extend(alerts.iter().map(alert_id));
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
        AlertRule::SyncProblem => {
            (format!("a sync {}", a.key), 1, "--type sync_finished --type sync_held --type backup".into())
        }
        AlertRule::OffHoursAdmin => (
            format!("管理员 {} 在工作时间（{}，按工作日历）之外操作", a.key, c.working_hours),
            1,
            "--type password_reset --type role.grant --type client_add".into(),
        ),
        AlertRule::AuditChain => (format!("审计记录链断裂：{}；请运行 orgid audit verify", a.key), 1, "--all".into()),
        AlertRule::ParkedOperation => (
            format!(
                "目标系统多次拒绝一项操作，已搁置：{}；排除原因后运行 orgid {} retry",
                a.key,
                a.key.split(' ').next().filter(|t| *t == "wecom").unwrap_or("ldap")
            ),
            1,
            "--type outbox.park".into(),
        ),
    };
    let detail = a.detail.as_deref().map(|d| format!("\n{d}\n")).unwrap_or_default();
    format!(
        "{what}, between {first} and {last} (UTC); the rule {rule} fires at {threshold} within {window} s.\n{detail}\n\
         See: orgid audit query {query} --since {first}\n",
        rule = a.rule.as_str(),
        window = c.window_secs,
    )
}

/// Where `[alerts]` sends: the mail (with recipients), the command (if any), and WeCom members
/// (`wecom_to`, through `[wecom]`'s app).
fn notifiers(c: &AlertsConfig, wecom: Option<&orgid_config::WecomConfig>) -> Vec<Box<dyn Notifier>> {
    let mut out: Vec<Box<dyn Notifier>> = Vec::new();
    if let Some(m) = notifier(c) {
        out.push(Box::new(m));
    }
    if !c.command.is_empty() {
        out.push(Box::new(CommandNotifier { argv: c.command.clone(), timeout: Duration::from_secs(30) }));
    }
    if let Some(w) = wecom.filter(|_| !c.wecom_to.is_empty()) {
        match orgid_connectors::wecom::WecomNotifier::new(w, c.wecom_to.clone()) {
            Ok(n) => out.push(Box::new(n)),
            Err(e) => tracing::error!("alerts: the WeCom notifier cannot be made: {e}"),
        }
    }
    out
}

/// Sends each alert through every notifier and records it (with the delivery's outcome: a
/// failure if any notifier failed, naming each failure) in the audit trail.
pub async fn deliver(app: &App, alerts: &[Alert]) -> anyhow::Result<()> {
    let c = &app.config.alerts;
    let notifiers = notifiers(c, app.config.wecom.as_ref());
    for a in alerts {
        let sent = if notifiers.is_empty() {
            Err("no recipients configured (alerts.mail_to, alerts.command, alerts.wecom_to)".to_string())
        } else {
            let (subject, text) = (a.subject(), body(a, c));
            let mut failed = Vec::new();
            for n in &notifiers {
                if let Err(e) = n.send(&subject, &text).await {
                    failed.push(e.to_string());
                }
            }
            if failed.is_empty() { Ok(()) } else { Err(failed.join("; ")) }
        };
        let outcome = if sent.is_ok() { AuditOutcome::Success } else { AuditOutcome::Failure };
        let mut event = AuditEvent::new(app.clock.now(), EventKind::Alert, outcome, Actor::System("alerts".into()))
            .reason(a.rule.as_str())
            .attr("key", a.key.clone())
            .attr("count", a.count.to_string())
            .attr("first", a.first.to_rfc3339())
            .attr("last", a.last.to_rfc3339())
            .attr("alert_id", alert_id(a));
        if let Some(d) = &a.detail {
            event = event.attr("detail", d.clone());
        }
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
