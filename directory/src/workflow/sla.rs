//! Deadlines and lateness (seed 000 articles 8, 11 and 14): 2 working days from the final
//! approval to done; monthly submissions by the 15th; independent companies' roster differences
//! resolved within 2 working days. Each late case is a penalty on the responsible role.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use super::{Calendar, Origin, Request, RequestState, Role, RosterCheck};
use crate::{CompanyIndex, OperatingMode};

/// The numbers of the SLA rules (configuration `[workflow]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaRules {
    /// Working days from the final approval to done.
    pub working_days: u32,
    /// Day of the month by which company HR submits (the 15th).
    pub submission_day: u32,
    /// Points per late case.
    pub penalty_points: u32,
}

impl Default for SlaRules {
    fn default() -> Self {
        SlaRules { working_days: 2, submission_day: 15, penalty_points: 10 }
    }
}

/// The local date of an instant.
pub fn local_date<Tz: TimeZone>(t: DateTime<Utc>, tz: &Tz) -> NaiveDate {
    t.with_timezone(tz).date_naive()
}

/// The last second of `d` in `tz`.
pub fn end_of_day<Tz: TimeZone>(d: NaiveDate, tz: &Tz) -> DateTime<Utc> {
    let next = (d + Days::new(1)).and_hms_opt(0, 0, 0).unwrap_or_default();
    let start = tz.from_local_datetime(&next).earliest().map(|t| t.with_timezone(&Utc));
    start.unwrap_or_else(|| next.and_utc()) - chrono::Duration::seconds(1)
}

/// The due time of a request finally approved at `approved_at`: the end of the day that is
/// `rules.working_days` working days later.
pub fn due<Tz: TimeZone>(approved_at: DateTime<Utc>, tz: &Tz, calendar: &Calendar, rules: &SlaRules) -> DateTime<Utc> {
    end_of_day(calendar.add_working_days(local_date(approved_at, tz), rules.working_days), tz)
}

/// The submission deadline of a change effective on `effective`: the first `day` of a month on or
/// after it.
pub fn submission_deadline(effective: NaiveDate, day: u32) -> NaiveDate {
    let this = effective.with_day(day);
    match this {
        Some(d) if d >= effective => d,
        _ => {
            let first = effective.with_day(1).unwrap_or(effective);
            let next = first + Months::new(1);
            next.with_day(day).unwrap_or(next)
        }
    }
}

/// What a late case is about: a request or a roster check (`what`: `request` or
/// `roster_check`), its number, its kind's code, the person.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlaSubject {
    pub what: &'static str,
    pub id: i64,
    pub kind: String,
    pub employee_number: String,
    pub name: String,
}

/// One late case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaRow {
    /// Who answers for it: `group_it_admin` (IT center late to act), `company_hr` (late
    /// submission), `company_it` (independent company late to act).
    pub role: Role,
    pub company: crate::CompanyCode,
    /// What was late: `request 12 (open 10001 张三)`, `roster check 3 (missing 10002 李四)`.
    pub item: String,
    /// The same, in parts, for a page to say in its language.
    #[serde(skip)]
    pub subject: SlaSubject,
    /// The kind of lateness: `overdue`, `late_submission`, `roster_check`.
    pub case: &'static str,
    pub deadline: NaiveDate,
    /// When it was done, if it was.
    pub done: Option<NaiveDate>,
    /// Working days past the deadline (at least 1).
    pub late_days: u32,
    pub points: u32,
}

/// Every late case among `requests` and `checks` as of `now`, by deadline.
pub fn late_cases<Tz: TimeZone>(
    requests: &[Request],
    checks: &[RosterCheck],
    index: &CompanyIndex,
    calendar: &Calendar,
    tz: &Tz,
    now: DateTime<Utc>,
    rules: &SlaRules,
) -> Vec<SlaRow> {
    let today = local_date(now, tz);
    let independent = |c: &crate::CompanyCode| index.get(c).is_some_and(|c| c.mode == OperatingMode::Independent);
    let late = |deadline: NaiveDate, done: NaiveDate| calendar.working_days_between(deadline, done).max(1);
    let mut rows = Vec::new();
    for r in requests {
        let what = format!("request {} ({} {} {})", r.id, r.kind, r.employee_number, r.name);
        let subject = SlaSubject {
            what: "request",
            id: r.id,
            kind: r.kind.to_string(),
            employee_number: r.employee_number.clone(),
            name: r.name.clone(),
        };
        if let Some(due) = r.due
            && matches!(r.state, RequestState::Approved | RequestState::Failed | RequestState::Applied)
        {
            let done = r.done_at.filter(|_| r.state == RequestState::Applied);
            let end = done.unwrap_or(now);
            if end > due {
                let role = if independent(&r.company) { Role::CompanyIt } else { Role::GroupItAdmin };
                let deadline = local_date(due, tz);
                rows.push(SlaRow {
                    role,
                    company: r.company.clone(),
                    item: what.clone(),
                    subject: subject.clone(),
                    case: "overdue",
                    deadline,
                    done: done.map(|d| local_date(d, tz)),
                    late_days: late(deadline, local_date(end, tz)),
                    points: rules.penalty_points,
                });
            }
        }
        if let Some(eff) = r.effective_date
            && r.origin != Origin::Sync
            && !independent(&r.company)
        {
            let deadline = submission_deadline(eff, rules.submission_day);
            let submitted = local_date(r.requested_at, tz);
            if submitted > deadline {
                rows.push(SlaRow {
                    role: Role::CompanyHr,
                    company: r.company.clone(),
                    item: what,
                    subject,
                    case: "late_submission",
                    deadline,
                    done: Some(submitted),
                    late_days: late(deadline, submitted),
                    points: rules.penalty_points,
                });
            }
        }
    }
    for c in checks.iter().filter(|c| independent(&c.company)) {
        let deadline = calendar.add_working_days(local_date(c.first_seen, tz), rules.working_days);
        let done = c.resolved_at.map(|t| local_date(t, tz));
        let end = done.unwrap_or(today);
        if end > deadline {
            rows.push(SlaRow {
                role: Role::CompanyIt,
                company: c.company.clone(),
                item: format!("roster check {} ({} {} {})", c.id, c.kind, c.employee_number, c.name),
                subject: SlaSubject {
                    what: "roster_check",
                    id: c.id,
                    kind: c.kind.to_string(),
                    employee_number: c.employee_number.clone(),
                    name: c.name.clone(),
                },
                case: "roster_check",
                deadline,
                done,
                late_days: late(deadline, end),
                points: rules.penalty_points,
            });
        }
    }
    rows.sort_by(|a, b| (a.deadline, &a.company, &a.item).cmp(&(b.deadline, &b.company, &b.item)));
    rows
}

/// Penalty points per responsible role and company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PenaltyTotal {
    pub role: Role,
    pub company: crate::CompanyCode,
    pub cases: u32,
    pub points: u32,
}

/// Sums `rows` per role and company, by role then company.
pub fn totals(rows: &[SlaRow]) -> Vec<PenaltyTotal> {
    let mut by: std::collections::BTreeMap<(Role, &crate::CompanyCode), (u32, u32)> = std::collections::BTreeMap::new();
    for r in rows {
        let e = by.entry((r.role, &r.company)).or_default();
        e.0 += 1;
        e.1 += r.points;
    }
    by.into_iter()
        .map(|((role, company), (cases, points))| PenaltyTotal { role, company: company.clone(), cases, points })
        .collect()
}
