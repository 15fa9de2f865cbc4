//! Alert rules over the audit trail, pure: records go in as they are written, alerts come out.
//! A rule fires once when its count within the window reaches the threshold, and stays quiet for
//! that key (an address, a login, a kind of sync problem) until a whole window has passed without
//! a matching record: a burst is one alert, not one per record after the threshold. Rules: failed
//! logins per address and per login; attempts to log in to a disabled or departed person's
//! account; a sync that failed or was held.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::event::AuditFields;

/// The thresholds (0 = rule off) and their window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertRules {
    pub failures_per_ip: u32,
    pub failures_per_login: u32,
    /// A login attempt on a disabled account or a departed person's.
    pub disabled_logins: bool,
    /// A sync (or import) that failed, or that a safety limit held; a backup that failed.
    pub sync_problems: bool,
    pub window: Duration,
}

/// Which rule fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertRule {
    FailuresPerIp,
    FailuresPerLogin,
    DisabledLogin,
    SyncProblem,
}

impl AlertRule {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertRule::FailuresPerIp => "failures_per_ip",
            AlertRule::FailuresPerLogin => "failures_per_login",
            AlertRule::DisabledLogin => "disabled_logins",
            AlertRule::SyncProblem => "sync_problems",
        }
    }
}

/// One alert: the rule, what it is about, how many records and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub rule: AlertRule,
    /// The address or login.
    pub key: String,
    pub count: u32,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

impl Alert {
    pub fn subject(&self) -> String {
        match self.rule {
            AlertRule::FailuresPerIp => format!("orgid alert: {} failed logins from {}", self.count, self.key),
            AlertRule::FailuresPerLogin => format!("orgid alert: {} failed logins for {}", self.count, self.key),
            AlertRule::DisabledLogin => format!("orgid alert: login attempt on the closed account {}", self.key),
            AlertRule::SyncProblem if self.key.starts_with("backup") => format!("orgid alert: a {}", self.key),
            AlertRule::SyncProblem => format!("orgid alert: a sync {}", self.key),
        }
    }
}

#[derive(Debug, Default)]
struct Window {
    times: Vec<DateTime<Utc>>,
    /// Fired for the burst that is still going on.
    fired: bool,
}

/// The windows of every key, fed one record at a time.
#[derive(Debug)]
pub struct AlertState {
    rules: AlertRules,
    windows: HashMap<(AlertRule, String), Window>,
}

impl AlertState {
    pub fn new(rules: AlertRules) -> Self {
        AlertState { rules, windows: HashMap::new() }
    }

    /// New thresholds (a reload); the windows so far are kept.
    pub fn set_rules(&mut self, rules: AlertRules) {
        self.rules = rules;
    }

    /// A record as written; returns the alerts it completes.
    pub fn observe(&mut self, r: &AuditFields) -> Vec<Alert> {
        let mut out = Vec::new();
        let mut rules: Vec<(AlertRule, u32, Option<&str>)> = Vec::new();
        let failed = r.outcome == "failure";
        if r.kind == "login" && failed {
            rules.push((AlertRule::FailuresPerIp, self.rules.failures_per_ip, r.source_ip.as_deref()));
            rules.push((AlertRule::FailuresPerLogin, self.rules.failures_per_login, r.login.as_deref()));
            if self.rules.disabled_logins && matches!(r.reason.as_deref(), Some("disabled" | "departed")) {
                rules.push((AlertRule::DisabledLogin, 1, r.login.as_deref()));
            }
        }
        if self.rules.sync_problems {
            if r.kind == "sync_held" {
                rules.push((AlertRule::SyncProblem, 1, Some("was held by a safety limit")));
            } else if r.kind == "sync_finished" && failed {
                rules.push((AlertRule::SyncProblem, 1, Some("failed")));
            } else if r.kind == "backup" && failed {
                rules.push((AlertRule::SyncProblem, 1, Some("backup failed")));
            }
        }
        for (rule, threshold, key) in rules {
            let (Some(key), true) = (key, threshold > 0) else { continue };
            let w = self.windows.entry((rule, key.to_string())).or_default();
            let since = r.at - self.rules.window;
            if w.times.last().is_some_and(|last| *last < since) {
                // A whole window without a failure: the burst is over.
                w.fired = false;
            }
            w.times.retain(|t| *t >= since);
            w.times.push(r.at);
            if !w.fired && w.times.len() >= threshold as usize {
                w.fired = true;
                out.push(Alert {
                    rule,
                    key: key.to_string(),
                    count: w.times.len() as u32,
                    first: w.times[0],
                    last: r.at,
                });
            }
        }
        // Keys idle for a window are forgotten, so that memory follows the active ones.
        let now = r.at;
        let window = self.rules.window;
        self.windows.retain(|_, w| w.times.last().is_some_and(|t| *t >= now - window));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(ip: &str, login: &str, at: DateTime<Utc>) -> AuditFields {
        AuditFields {
            at,
            kind: "login".into(),
            outcome: "failure".into(),
            actor_kind: "user".into(),
            actor: login.into(),
            login: Some(login.into()),
            company: None,
            client_id: None,
            source_ip: Some(ip.into()),
            user_agent: None,
            session_id: None,
            reason: Some("bad_password".into()),
            details: None,
        }
    }

    #[test]
    fn a_burst_from_one_address_is_one_alert() {
        let rules = AlertRules {
            failures_per_ip: 20,
            failures_per_login: 0,
            disabled_logins: false,
            sync_problems: false,
            window: Duration::seconds(60),
        };
        let mut s = AlertState::new(rules);
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let mut alerts = Vec::new();
        for i in 0..45 {
            alerts.extend(s.observe(&failure("10.0.0.9", &format!("u{i}"), t0 + Duration::seconds(i))));
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!((alerts[0].key.as_str(), alerts[0].count), ("10.0.0.9", 20));
        assert_eq!(alerts[0].last, t0 + Duration::seconds(19));
        // Another address, and the same one after a quiet window: new bursts.
        for i in 0..19 {
            assert!(s.observe(&failure("10.0.0.8", "x", t0 + Duration::seconds(50 + i))).is_empty());
        }
        let later = t0 + Duration::seconds(200);
        let again: Vec<_> =
            (0..20).flat_map(|i| s.observe(&failure("10.0.0.9", "y", later + Duration::seconds(i)))).collect();
        assert_eq!(again.len(), 1);
        // Successes and other kinds do not count.
        let mut ok = failure("10.0.0.7", "z", later);
        ok.outcome = "success".into();
        assert!((0..30).all(|_| s.observe(&ok).is_empty()));
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_fire() {
        let rules = AlertRules {
            failures_per_ip: 3,
            failures_per_login: 3,
            disabled_logins: false,
            sync_problems: false,
            window: Duration::seconds(10),
        };
        let mut s = AlertState::new(rules);
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        for i in 0..10 {
            assert!(s.observe(&failure("10.0.0.1", "a", t0 + Duration::seconds(6 * i))).is_empty());
        }
        let fired = [0, 1, 2]
            .iter()
            .flat_map(|i| s.observe(&failure("10.0.0.2", "b", t0 + Duration::seconds(100 + i))))
            .count();
        assert_eq!(fired, 2, "one per rule: the address and the login");
    }

    #[test]
    fn closed_accounts_and_sync_problems_alert_at_once() {
        let rules = AlertRules {
            failures_per_ip: 0,
            failures_per_login: 0,
            disabled_logins: true,
            sync_problems: true,
            window: Duration::seconds(60),
        };
        let mut s = AlertState::new(rules);
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let mut closed = failure("10.0.0.1", "wangfang", t0);
        closed.reason = Some("disabled".into());
        let fired = s.observe(&closed);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].subject(), "orgid alert: login attempt on the closed account wangfang");
        assert!(s.observe(&failure("10.0.0.1", "wangfang", t0)).is_empty(), "a wrong password is not this rule");
        let mut held = failure("10.0.0.1", "x", t0);
        held.kind = "sync_held".into();
        held.outcome = "success".into();
        assert_eq!(s.observe(&held)[0].subject(), "orgid alert: a sync was held by a safety limit");
        let mut ok = held.clone();
        ok.kind = "sync_finished".into();
        assert!(s.observe(&ok).is_empty());
        ok.outcome = "failure".into();
        assert_eq!(s.observe(&ok)[0].rule, AlertRule::SyncProblem);
        ok.kind = "backup".into();
        assert_eq!(s.observe(&ok)[0].subject(), "orgid alert: a backup failed");
    }
}
