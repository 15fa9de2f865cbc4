//! The security review of a period, computed from the login and lockout records of the period,
//! the accounts as they are, and each account's last login and password change. Pure: the caller
//! streams the records in (`ReportBuilder::add`) and renders the result (HTML, JSON).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use serde::Serialize;

use super::event::{AuditFields, AuditOutcome, EventKind};
use crate::{AccountStatus, Employment, StoredPerson};

/// Lists in the report are cut at this length (their totals are not).
pub const LIST_LIMIT: usize = 200;
/// Entries of the "top" tables.
pub const TOP: usize = 10;

/// Office hours in local time; logins outside them are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub days: Vec<Weekday>,
}

impl WorkingHours {
    pub fn contains(&self, local: NaiveDateTime) -> bool {
        self.days.contains(&local.weekday()) && local.time() >= self.start && local.time() < self.end
    }
}

/// What the report is about, besides the records.
pub struct ReportParams<'a> {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// Local wall-clock time of an instant (the configured zone).
    pub local: &'a dyn Fn(DateTime<Utc>) -> NaiveDateTime,
    pub working_hours: &'a WorkingHours,
    /// Active accounts without a login for this many days are dormant.
    pub dormant_days: u32,
    /// Passwords older than this are expired; 0: passwords never expire.
    pub password_max_age_days: u32,
}

/// Every account with its person, and its last successful login and password change (all time).
pub struct AccountState<'a> {
    pub people: &'a [StoredPerson],
    pub last_login: &'a HashMap<String, DateTime<Utc>>,
    pub last_password_change: &'a HashMap<String, DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub key: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginEntry {
    pub at: DateTime<Utc>,
    pub login: String,
    pub source_ip: Option<String>,
    /// Why it is listed.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountEntry {
    pub login: String,
    pub company: String,
    pub since: Option<DateTime<Utc>>,
    pub days: Option<i64>,
}

/// A list and how long it really is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed<T> {
    pub total: u64,
    pub items: Vec<T>,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed { total: 0, items: Vec::new() }
    }
}

impl<T> Listed<T> {
    fn push(&mut self, item: T) {
        self.total += 1;
        if self.items.len() < LIST_LIMIT {
            self.items.push(item);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub dormant_days: u32,
    pub password_max_age_days: u32,
    pub logins_succeeded: u64,
    pub logins_failed: u64,
    /// Failed logins per local day of the period, every day listed.
    pub failed_per_day: Vec<(NaiveDate, u64)>,
    pub failures_by_reason: Vec<Count>,
    pub top_failing_accounts: Vec<Count>,
    pub top_failing_ips: Vec<Count>,
    pub outside_working_hours: Listed<LoginEntry>,
    pub disabled_or_departed_logins: Listed<LoginEntry>,
    pub lockouts: Listed<LoginEntry>,
    pub dormant_accounts: Listed<AccountEntry>,
    pub expired_passwords: Listed<AccountEntry>,
}

/// Accumulates the period's records one at a time.
#[derive(Default)]
pub struct ReportBuilder {
    succeeded: u64,
    failed: u64,
    per_day: BTreeMap<NaiveDate, u64>,
    reasons: HashMap<String, u64>,
    accounts: HashMap<String, u64>,
    ips: HashMap<String, u64>,
    /// Successful logins, for the checks against the accounts (done at the end).
    successes: Vec<(DateTime<Utc>, String, Option<String>)>,
    lockouts: Listed<LoginEntry>,
}

/// The record kinds a report reads.
pub const REPORT_KINDS: [EventKind; 2] = [EventKind::Login, EventKind::Lockout];

fn top(counts: HashMap<String, u64>) -> Vec<Count> {
    let mut v: Vec<Count> = counts.into_iter().map(|(key, count)| Count { key, count }).collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    v.truncate(TOP);
    v
}

impl ReportBuilder {
    pub fn add(&mut self, r: &AuditFields, local: &dyn Fn(DateTime<Utc>) -> NaiveDateTime) {
        let login = r.login.clone().unwrap_or_default();
        match r.kind() {
            Some(EventKind::Login) if r.outcome == AuditOutcome::Success.as_str() => {
                self.succeeded += 1;
                self.successes.push((r.at, login, r.source_ip.clone()));
            }
            Some(EventKind::Login) => {
                self.failed += 1;
                *self.per_day.entry(local(r.at).date()).or_default() += 1;
                *self.reasons.entry(r.reason.clone().unwrap_or_else(|| "unknown".into())).or_default() += 1;
                *self.accounts.entry(login).or_default() += 1;
                if let Some(ip) = &r.source_ip {
                    *self.ips.entry(ip.clone()).or_default() += 1;
                }
            }
            Some(EventKind::Lockout) => self.lockouts.push(LoginEntry {
                at: r.at,
                login,
                source_ip: r.source_ip.clone(),
                note: r.reason.clone().unwrap_or_default(),
            }),
            _ => {}
        }
    }

    pub fn finish(self, p: &ReportParams<'_>, state: &AccountState<'_>) -> AuditReport {
        let mut failed_per_day = Vec::new();
        let (first, last) = (((p.local)(p.since)).date(), ((p.local)(p.until - Duration::milliseconds(1))).date());
        let mut day = first;
        while day <= last && failed_per_day.len() < 3_660 {
            failed_per_day.push((day, self.per_day.get(&day).copied().unwrap_or(0)));
            day = day.succ_opt().unwrap_or(NaiveDate::MAX);
        }

        let by_login: HashMap<&str, &StoredPerson> =
            state.people.iter().filter_map(|sp| sp.account.as_ref().map(|a| (a.login.as_str(), sp))).collect();
        let mut outside = Listed::default();
        let mut departed = Listed::default();
        for (at, login, ip) in &self.successes {
            let local = (p.local)(*at);
            if !p.working_hours.contains(local) {
                outside.push(LoginEntry {
                    at: *at,
                    login: login.clone(),
                    source_ip: ip.clone(),
                    note: local.format("%a %H:%M").to_string(),
                });
            }
            let Some(sp) = by_login.get(login.as_str()) else { continue };
            let closed = sp.account.as_ref().filter(|a| a.status == AccountStatus::Disabled).and_then(|a| a.closed_at);
            let note = match (closed, sp.person.leave_date) {
                (Some(c), _) if c <= *at => Some(format!("account disabled since {}", (p.local)(c).format("%Y-%m-%d"))),
                (_, Some(d)) if d <= local.date() => Some(format!("left the company on {d}")),
                _ if sp.person.employment == Employment::Left => Some("left the company".to_string()),
                _ => None,
            };
            if let Some(note) = note {
                departed.push(LoginEntry { at: *at, login: login.clone(), source_ip: ip.clone(), note });
            }
        }

        let mut dormant = Listed::default();
        let mut expired = Listed::default();
        let mut active: Vec<&StoredPerson> = state
            .people
            .iter()
            .filter(|sp| sp.account.as_ref().is_some_and(|a| a.status == AccountStatus::Active))
            .collect();
        active.sort_by(|a, b| {
            (&a.person.profile.company, a.account.as_ref().map(|x| &x.login))
                .cmp(&(&b.person.profile.company, b.account.as_ref().map(|x| &x.login)))
        });
        let age = |t: DateTime<Utc>| (p.now - t).num_days();
        for sp in active {
            let Some(a) = &sp.account else { continue };
            let company = sp.person.profile.company.0.clone();
            let last = state.last_login.get(&a.login).copied();
            let idle_since = last.or(a.opened_at);
            if idle_since.is_none_or(|t| age(t) >= i64::from(p.dormant_days)) {
                dormant.push(AccountEntry {
                    login: a.login.clone(),
                    company: company.clone(),
                    since: last,
                    days: last.map(age),
                });
            }
            let changed = state.last_password_change.get(&a.login).copied().or(a.opened_at);
            if let Some(c) = changed
                && p.password_max_age_days > 0
                && age(c) > i64::from(p.password_max_age_days)
            {
                expired.push(AccountEntry { login: a.login.clone(), company, since: Some(c), days: Some(age(c)) });
            }
        }

        AuditReport {
            since: p.since,
            until: p.until,
            generated_at: p.now,
            dormant_days: p.dormant_days,
            password_max_age_days: p.password_max_age_days,
            logins_succeeded: self.succeeded,
            logins_failed: self.failed,
            failed_per_day,
            failures_by_reason: top(self.reasons),
            top_failing_accounts: top(self.accounts),
            top_failing_ips: top(self.ips),
            outside_working_hours: outside,
            disabled_or_departed_logins: departed,
            lockouts: self.lockouts,
            dormant_accounts: dormant,
            expired_passwords: expired,
        }
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
