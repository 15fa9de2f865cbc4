#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{FixedOffset, TimeZone};

use super::*;
use crate::audit::{Actor, AuditEvent, LoginFailure, RequestContext};
use crate::{Account, CompanyCode, Person, PersonKey, Profile};

/// Local time in UTC+8 at 2024-05-`day` `h`:`m`, as UTC.
fn t(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    FixedOffset::east_opt(8 * 3600).unwrap().with_ymd_and_hms(2024, 5, day, h, m, 0).single().unwrap().to_utc()
}

fn local(t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap()).naive_local()
}

fn person(login: &str, status: AccountStatus, opened: DateTime<Utc>, closed: Option<DateTime<Utc>>) -> StoredPerson {
    StoredPerson {
        person: Person {
            key: PersonKey(login.into()),
            profile: Profile {
                employee_number: format!("E-{login}"),
                name: login.into(),
                gender: None,
                company: CompanyCode("A".into()),
                department: "IT".into(),
                title: "engineer".into(),
                grade: None,
                mobile: String::new(),
                email: String::new(),
                hire_date: None,
                confidential: false,
            },
            employment: if closed.is_some() { Employment::Left } else { Employment::Active },
            leave_date: None,
            source: "hr".into(),
            updated_at: opened,
        },
        account: Some(Account {
            login: login.into(),
            status,
            rule: "ELIG-1".into(),
            opened_at: Some(opened),
            closed_at: closed,
            updated_at: opened,
        }),
    }
}

fn ctx(ip: &str) -> RequestContext {
    RequestContext { source_ip: Some(ip.parse().unwrap()), ..RequestContext::default() }
}

#[test]
fn the_report_counts_lists_and_ranks() {
    let hours = WorkingHours {
        start: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(19, 0, 0).unwrap(),
        days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
    };
    // 2024-05-06 is a Monday.
    let events = [
        AuditEvent::login_succeeded(t(6, 9, 0), "alice", None, &ctx("10.0.0.1")),
        AuditEvent::login_succeeded(t(6, 23, 30), "alice", None, &ctx("10.0.0.1")),
        AuditEvent::login_succeeded(t(11, 10, 0), "bob", None, &ctx("10.0.0.2")),
        AuditEvent::login_succeeded(t(7, 10, 0), "carol", None, &ctx("10.0.0.3")),
        AuditEvent::login_failed(t(6, 9, 5), "bob", None, LoginFailure::BadPassword, &ctx("192.0.2.9")),
        AuditEvent::login_failed(t(6, 9, 6), "bob", None, LoginFailure::BadPassword, &ctx("192.0.2.9")),
        AuditEvent::login_failed(t(8, 9, 6), "mallory", None, LoginFailure::UnknownUser, &ctx("192.0.2.9")),
        AuditEvent::login_failed(t(8, 9, 7), "alice", None, LoginFailure::Locked, &ctx("10.0.0.1")),
        AuditEvent::new(t(8, 9, 7), EventKind::Lockout, AuditOutcome::Success, Actor::System("idp".into()))
            .subject("alice", None)
            .reason("5 failed attempts"),
        AuditEvent::new(t(8, 9, 8), EventKind::AccountOpen, AuditOutcome::Success, Actor::System("x".into())),
    ];
    let people = [
        person("alice", AccountStatus::Active, t(1, 0, 0) - Duration::days(400), None),
        person("bob", AccountStatus::Active, t(1, 0, 0) - Duration::days(10), None),
        person("carol", AccountStatus::Disabled, t(1, 0, 0), Some(t(5, 12, 0))),
        person("dave", AccountStatus::Active, t(1, 0, 0) - Duration::days(200), None),
    ];
    let last_login: HashMap<String, DateTime<Utc>> =
        [("alice".to_string(), t(6, 23, 30)), ("bob".to_string(), t(11, 10, 0))].into();
    let last_password_change: HashMap<String, DateTime<Utc>> = [("alice".to_string(), t(2, 0, 0))].into();

    let mut b = ReportBuilder::default();
    for e in &events {
        b.add(&e.fields(), &local);
    }
    let now = t(12, 0, 0);
    let r = b.finish(
        &ReportParams {
            since: t(6, 0, 0),
            until: t(13, 0, 0),
            now,
            local: &local,
            working_hours: &hours,
            dormant_days: 90,
            password_max_age_days: 90,
        },
        &AccountState { people: &people, last_login: &last_login, last_password_change: &last_password_change },
    );
    assert_eq!((r.logins_succeeded, r.logins_failed), (4, 4));
    assert_eq!(r.failed_per_day.len(), 7, "every local day of the period");
    assert_eq!(r.failed_per_day[0], (NaiveDate::from_ymd_opt(2024, 5, 6).unwrap(), 2));
    assert_eq!(r.failed_per_day[2], (NaiveDate::from_ymd_opt(2024, 5, 8).unwrap(), 2));
    assert_eq!(r.top_failing_accounts[0], Count { key: "bob".into(), count: 2 });
    assert_eq!(r.top_failing_ips[0], Count { key: "192.0.2.9".into(), count: 3 });
    assert_eq!(r.failures_by_reason[0], Count { key: "bad_password".into(), count: 2 });

    let outside: Vec<(&str, &str)> =
        r.outside_working_hours.items.iter().map(|e| (e.login.as_str(), e.note.as_str())).collect();
    assert_eq!(outside, [("alice", "Mon 23:30"), ("bob", "Sat 10:00")]);

    assert_eq!(r.disabled_or_departed_logins.total, 1);
    assert_eq!(r.disabled_or_departed_logins.items[0].login, "carol");
    assert_eq!(r.disabled_or_departed_logins.items[0].note, "account disabled since 2024-05-05");

    assert_eq!(r.lockouts.total, 1);
    assert_eq!(r.lockouts.items[0].note, "5 failed attempts");

    let dormant: Vec<&str> = r.dormant_accounts.items.iter().map(|a| a.login.as_str()).collect();
    assert_eq!(dormant, ["dave"], "never logged in, opened 200 days ago; bob is new, alice logged in");
    let expired: Vec<(&str, Option<i64>)> =
        r.expired_passwords.items.iter().map(|a| (a.login.as_str(), a.days)).collect();
    assert_eq!(expired, [("dave", Some(211))], "alice changed hers; bob's initial one is 21 days old");
}

#[test]
fn long_lists_are_cut_but_counted() {
    let mut l = Listed::default();
    for i in 0..(LIST_LIMIT + 5) {
        l.push(i);
    }
    assert_eq!(l.total, (LIST_LIMIT + 5) as u64);
    assert_eq!(l.items.len(), LIST_LIMIT);
}

#[test]
fn passwords_never_expire_with_a_max_age_of_zero() {
    let hours = WorkingHours { start: NaiveTime::MIN, end: NaiveTime::MIN, days: Vec::new() };
    let people = [person("dave", AccountStatus::Active, t(1, 0, 0) - Duration::days(900), None)];
    let none = HashMap::new();
    let state = AccountState { people: &people, last_login: &none, last_password_change: &none };
    let params = |max_age| ReportParams {
        since: t(6, 0, 0),
        until: t(7, 0, 0),
        now: t(7, 0, 0),
        local: &local,
        working_hours: &hours,
        dormant_days: 90,
        password_max_age_days: max_age,
    };
    assert_eq!(ReportBuilder::default().finish(&params(90), &state).expired_passwords.total, 1);
    assert_eq!(ReportBuilder::default().finish(&params(0), &state).expired_passwords.total, 0);
}
