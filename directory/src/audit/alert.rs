//! Alert rules over the audit trail, pure: records go in as they are written, alerts come out.
//! A rule fires once when its count within the window reaches the threshold, and stays quiet for
//! that key (an address, a login, a kind of sync problem) until a whole window has passed without
//! a matching record: a burst is one alert, not one per record after the threshold. Rules: failed
//! logins per address and per login; attempts to log in to a disabled or departed person's
//! account; a sync that failed or was held, a backup that failed; an administrator's action
//! outside working hours; a target operation parked. `ChainWatch` raises the alert of a record
//! that does not chain to the one before it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Timelike, Utc};

use super::chain::{AuditRecord, ChainHead, Hash, record_hash};
use super::event::AuditFields;
use crate::workflow::Calendar;

/// When administrators are expected to act: working days of the calendar (holidays off), between
/// `start` and `end` (minutes after midnight, the end excluded), in `tz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    pub calendar: Calendar,
    pub tz: chrono_tz::Tz,
    pub start: u32,
    pub end: u32,
}

impl WorkingHours {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        let minute = local.hour() * 60 + local.minute();
        self.calendar.is_working_day(local.date_naive()) && minute >= self.start && minute < self.end
    }
}

/// The thresholds (0 = rule off) and their window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRules {
    pub failures_per_ip: u32,
    pub failures_per_login: u32,
    /// A login attempt on a disabled account or a departed person's.
    pub disabled_logins: bool,
    /// A sync (or import) that failed, or that a safety limit held; a backup that failed.
    pub sync_problems: bool,
    /// An administrator's action outside these hours (`None`: rule off).
    pub off_hours_admin: Option<WorkingHours>,
    /// A target operation parked after its retries.
    pub parked_operations: bool,
    pub window: Duration,
}

/// Which rule fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertRule {
    FailuresPerIp,
    FailuresPerLogin,
    DisabledLogin,
    SyncProblem,
    OffHoursAdmin,
    AuditChain,
    ParkedOperation,
}

impl AlertRule {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertRule::FailuresPerIp => "failures_per_ip",
            AlertRule::FailuresPerLogin => "failures_per_login",
            AlertRule::DisabledLogin => "disabled_logins",
            AlertRule::SyncProblem => "sync_problems",
            AlertRule::OffHoursAdmin => "off_hours_admin",
            AlertRule::AuditChain => "audit_chain",
            AlertRule::ParkedOperation => "parked_operations",
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
    /// What the record said: the action, the refusal, the break (no secrets: audit text).
    pub detail: Option<String>,
}

impl Alert {
    pub fn subject(&self) -> String {
        match self.rule {
            AlertRule::FailuresPerIp => format!("orgid alert: {} failed logins from {}", self.count, self.key),
            AlertRule::FailuresPerLogin => format!("orgid alert: {} failed logins for {}", self.count, self.key),
            AlertRule::DisabledLogin => format!("orgid alert: login attempt on the closed account {}", self.key),
            AlertRule::SyncProblem if self.key.starts_with("backup") => format!("orgid alert: a {}", self.key),
            AlertRule::SyncProblem => format!("orgid alert: a sync {}", self.key),
            AlertRule::OffHoursAdmin => format!("orgid 告警：管理员 {} 在非工作时间操作", self.key),
            AlertRule::AuditChain => format!("orgid 告警：审计记录链断裂（{}）", self.key),
            AlertRule::ParkedOperation => format!("orgid 告警：目标系统操作已搁置（{}）", self.key),
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
        let mut rules: Vec<(AlertRule, u32, Option<String>)> = Vec::new();
        let mut detail = None;
        let failed = r.outcome == "failure";
        if r.kind == "login" && failed {
            rules.push((AlertRule::FailuresPerIp, self.rules.failures_per_ip, r.source_ip.clone()));
            rules.push((AlertRule::FailuresPerLogin, self.rules.failures_per_login, r.login.clone()));
            if self.rules.disabled_logins && matches!(r.reason.as_deref(), Some("disabled" | "departed")) {
                rules.push((AlertRule::DisabledLogin, 1, r.login.clone()));
            }
        }
        if self.rules.sync_problems {
            let key = match r.kind.as_str() {
                "sync_held" => Some("was held by a safety limit"),
                "sync_finished" if failed => Some("failed"),
                "backup" if failed => Some("backup failed"),
                _ => None,
            };
            if let Some(key) = key {
                rules.push((AlertRule::SyncProblem, 1, Some(key.to_string())));
                detail = r.reason.clone();
            }
        }
        if let Some(hours) = &self.rules.off_hours_admin
            && r.actor_kind == "admin"
            && !hours.contains(r.at)
        {
            rules.push((AlertRule::OffHoursAdmin, 1, Some(r.actor.clone())));
            let local = r.at.with_timezone(&hours.tz);
            let day = if hours.calendar.is_working_day(local.date_naive()) { "工作日" } else { "休息日" };
            let subject = r.login.as_deref().map(|l| format!("，对象 {l}")).unwrap_or_default();
            detail = Some(format!(
                "{} {:02}:{:02}（{}，{day}）：{}{subject}",
                local.date_naive(),
                local.hour(),
                local.minute(),
                hours.tz.name(),
                r.kind
            ));
        }
        if self.rules.parked_operations && r.kind == "outbox.park" {
            // Every parked operation is its own key: one alert each.
            let attrs = r.details().map(|d| d.attrs).unwrap_or_default();
            let attr = |k: &str| attrs.get(k).cloned().unwrap_or_default();
            rules.push((
                AlertRule::ParkedOperation,
                1,
                Some(format!("{} {} #{}", attr("target"), attr("entry"), attr("seq"))),
            ));
            detail = r.reason.clone();
        }
        for (rule, threshold, key) in rules {
            let (Some(key), true) = (key, threshold > 0) else { continue };
            let w = self.windows.entry((rule, key.clone())).or_default();
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
                    count: w.times.len() as u32,
                    first: w.times[0],
                    last: r.at,
                    detail: matches!(
                        rule,
                        AlertRule::SyncProblem | AlertRule::OffHoursAdmin | AlertRule::ParkedOperation
                    )
                    .then(|| detail.clone())
                    .flatten(),
                    key,
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

/// Where each chain's reading stands: the last record read, to check that the next one chains to
/// it. A break raises one alert for its chain; the reading then goes on from the record that
/// broke it, so the chain's later records are checked again (a later, different break alerts too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainWatch {
    last: HashMap<i32, (i64, Hash)>,
}

impl ChainWatch {
    /// Reading resumes after these records.
    pub fn new(heads: impl IntoIterator<Item = ChainHead>) -> Self {
        ChainWatch { last: heads.into_iter().map(|h| (h.chain, (h.pos, h.hash))).collect() }
    }

    /// Where the reading of each chain stands.
    pub fn heads(&self) -> Vec<ChainHead> {
        let mut heads: Vec<ChainHead> =
            self.last.iter().map(|(c, (pos, hash))| ChainHead { chain: *c, pos: *pos, hash: *hash }).collect();
        heads.sort_by_key(|h| h.chain);
        heads
    }

    /// The next record of its chain, as read; an alert if it does not chain to the one before.
    pub fn check(&mut self, r: &AuditRecord) -> Option<Alert> {
        let (pos, prev) = self.last.get(&r.chain).copied().unwrap_or((0, Hash::GENESIS));
        self.last.insert(r.chain, (r.pos, r.hash));
        let problem = if r.pos != pos + 1 {
            format!(
                "第 {} 条之后读到的是第 {} 条（records {} to {} are missing or out of order）",
                pos,
                r.pos,
                pos + 1,
                r.pos
            )
        } else if r.prev_hash != prev {
            format!("第 {} 条不连接第 {} 条（record {} does not chain to record {pos}）", r.pos, pos, r.pos)
        } else if record_hash(r.chain, r.pos, &r.prev_hash, &r.fields) != r.hash {
            format!("第 {} 条的内容与其哈希不符（record {} was altered）", r.pos, r.pos)
        } else {
            return None;
        };
        Some(Alert {
            rule: AlertRule::AuditChain,
            key: format!("chain {} record {}", r.chain, r.pos),
            count: 1,
            first: r.fields.at,
            last: r.fields.at,
            detail: Some(problem),
        })
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
            off_hours_admin: None,
            parked_operations: false,
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
            off_hours_admin: None,
            parked_operations: false,
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
            off_hours_admin: None,
            parked_operations: false,
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

    fn admin_at(local: &str) -> AuditFields {
        let tz = chrono_tz::Asia::Shanghai;
        let at = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M")
            .unwrap_or_default()
            .and_local_timezone(tz)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let mut r = failure("10.0.0.1", "lina", at);
        (r.kind, r.outcome, r.actor_kind, r.actor, r.reason) =
            ("password_reset".into(), "success".into(), "admin".into(), "cli".into(), None);
        r
    }

    fn off_hours_rules() -> AlertRules {
        AlertRules {
            failures_per_ip: 0,
            failures_per_login: 0,
            disabled_logins: false,
            sync_problems: false,
            off_hours_admin: Some(WorkingHours {
                calendar: Calendar::built_in(),
                tz: chrono_tz::Asia::Shanghai,
                start: 9 * 60,
                end: 18 * 60,
            }),
            parked_operations: true,
            window: Duration::seconds(60),
        }
    }

    #[test]
    fn admin_actions_outside_working_hours_and_on_holidays_alert() {
        // Monday 12 October 2026, Beijing time: a working day.
        for inside in ["2026-10-12 09:00", "2026-10-12 17:59", "2026-10-10 11:00"] {
            let mut s = AlertState::new(off_hours_rules());
            assert!(s.observe(&admin_at(inside)).is_empty(), "{inside} is within working hours");
        }
        // Before 9, from 18 on, a Sunday, National Day (a Thursday) and the Sunday after it.
        for outside in ["2026-10-12 08:59", "2026-10-12 18:00", "2026-10-11 11:00", "2026-10-01 10:00"] {
            let mut s = AlertState::new(off_hours_rules());
            let fired = s.observe(&admin_at(outside));
            assert_eq!(fired.len(), 1, "{outside}");
            assert_eq!((fired[0].rule, fired[0].key.as_str()), (AlertRule::OffHoursAdmin, "cli"));
            assert_eq!(fired[0].subject(), "orgid 告警：管理员 cli 在非工作时间操作");
            let detail = fired[0].detail.clone().unwrap_or_default();
            assert!(detail.contains("Asia/Shanghai") && detail.contains("password_reset"), "{detail}");
        }
        let holiday = AlertState::new(off_hours_rules()).observe(&admin_at("2026-10-01 10:00"));
        assert!(holiday[0].detail.as_deref().unwrap_or_default().contains("休息日"), "{holiday:?}");
        // The same administrator within the window: one alert; a user's own action: none.
        let mut s = AlertState::new(off_hours_rules());
        assert_eq!(s.observe(&admin_at("2026-10-12 20:00")).len(), 1);
        assert!(s.observe(&admin_at("2026-10-12 20:00")).is_empty());
        let mut user = admin_at("2026-10-12 21:00");
        user.actor_kind = "user".into();
        assert!(AlertState::new(off_hours_rules()).observe(&user).is_empty());
    }

    #[test]
    fn each_parked_operation_alerts_once() {
        let mut s = AlertState::new(off_hours_rules());
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let parked = |seq: i64| {
            let e = crate::audit::AuditEvent::new(
                at,
                crate::audit::EventKind::OutboxPark,
                crate::audit::AuditOutcome::Failure,
                crate::audit::Actor::System("outbox".into()),
            )
            .reason("constraint violation (19)")
            .attr("target", "ldap")
            .attr("entry", "uid=lina,ou=C010,dc=example,dc=com")
            .attr("seq", seq.to_string());
            e.fields()
        };
        let a = s.observe(&parked(7));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].key, "ldap uid=lina,ou=C010,dc=example,dc=com #7");
        assert_eq!(a[0].detail.as_deref(), Some("constraint violation (19)"));
        assert_eq!(s.observe(&parked(8)).len(), 1, "another operation, another alert");
    }

    #[test]
    fn a_record_that_does_not_chain_alerts_once_for_its_break() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let fields: Vec<AuditFields> = (0..6).map(|i| failure("10.0.0.1", "a", t0 + Duration::seconds(i))).collect();
        let (records, _) = crate::audit::chain(ChainHead::empty(1), fields);
        let mut w = ChainWatch::new([ChainHead::empty(1)]);
        assert!(records.iter().all(|r| w.check(r).is_none()), "a sound chain");
        assert_eq!(w.heads()[0].pos, 6);
        // Resumed at record 2: records 3 on chain; a forged record 3 breaks it once.
        let mut w = ChainWatch::new([ChainHead { chain: 1, pos: 2, hash: records[1].hash }]);
        let mut forged = records[2].clone();
        forged.fields.reason = Some("forged".into());
        let alert = w.check(&forged).expect("an altered record");
        assert_eq!((alert.rule, alert.key.as_str()), (AlertRule::AuditChain, "chain 1 record 3"));
        assert!(alert.detail.unwrap_or_default().contains("altered"));
        assert!(records[3..].iter().all(|r| w.check(r).is_none()), "record 4 chains to the stored hash of 3");
        // A gap: record 6 missing, then 7 would be read after 5.
        let mut w = ChainWatch::new([ChainHead { chain: 1, pos: 4, hash: records[3].hash }]);
        assert!(w.check(&records[4]).is_none());
        let mut late = records[5].clone();
        late.pos = 7;
        assert!(w.check(&late).expect("a gap").detail.unwrap_or_default().contains("missing"));
    }
}
