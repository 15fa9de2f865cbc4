//! Row types shared by both backends (the derived `FromRow` is generic over the database) and
//! their conversions to and from the domain types.

use chrono::{DateTime, NaiveDate, Utc};
use orgid_directory::target::ldap::{Node, NodeKind, TrackedUser};
use orgid_directory::target::{OutboxItem, Queued, TargetOp};
use orgid_directory::{
    Account, AccountRow, AccountStatus, Company, CompanyCode, Employment, Gender, OpCounts, Person, PersonKey, Profile,
    RowError, RunId, RunSummary, StoreError, StoredPerson,
};

use crate::error::{corrupt, json};

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn opt_millis(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(millis)
}

pub(crate) fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("timestamp", ms))
}

pub(crate) fn opt_time(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(time).transpose()
}

pub(crate) fn date_text(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%d").to_string())
}

fn date(s: Option<String>) -> Result<Option<NaiveDate>, StoreError> {
    s.map(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| corrupt("date", e))).transpose()
}

pub(crate) fn gender_text(g: Option<Gender>) -> Option<&'static str> {
    g.map(|g| match g {
        Gender::Male => "male",
        Gender::Female => "female",
    })
}

pub(crate) fn employment_text(e: Employment) -> &'static str {
    match e {
        Employment::Active => "active",
        Employment::Left => "left",
    }
}

pub(crate) fn employment(s: &str) -> Result<Employment, StoreError> {
    match s {
        "active" => Ok(Employment::Active),
        "left" => Ok(Employment::Left),
        o => Err(corrupt("employment", o)),
    }
}

pub(crate) fn parse<T: std::str::FromStr<Err = String>>(what: &str, s: &str) -> Result<T, StoreError> {
    s.parse().map_err(|e: String| corrupt(what, e))
}

#[derive(sqlx::FromRow)]
pub(crate) struct CompanyDb {
    code: String,
    name: String,
    parent: Option<String>,
    tier: String,
    mode: String,
}

impl CompanyDb {
    pub(crate) fn into_domain(self) -> Result<Company, StoreError> {
        Ok(Company {
            code: CompanyCode(self.code),
            name: self.name,
            parent: self.parent.map(CompanyCode),
            tier: parse("tier", &self.tier)?,
            mode: parse("operating mode", &self.mode)?,
        })
    }
}

/// A person LEFT JOIN their account.
#[derive(sqlx::FromRow)]
pub(crate) struct PersonDb {
    person_key: String,
    employee_number: String,
    name: String,
    gender: Option<String>,
    company: String,
    department: String,
    title: String,
    grade: Option<String>,
    mobile: String,
    email: String,
    hire_date: Option<String>,
    confidential: bool,
    employment: String,
    leave_date: Option<String>,
    source: String,
    updated_at: i64,
    login: Option<String>,
    status: Option<String>,
    rule: Option<String>,
    opened_at: Option<i64>,
    closed_at: Option<i64>,
    account_updated_at: Option<i64>,
}

impl PersonDb {
    pub(crate) fn into_domain(self) -> Result<StoredPerson, StoreError> {
        let account = match (self.login, self.status, self.rule, self.account_updated_at) {
            (Some(login), Some(status), Some(rule), Some(updated_at)) => Some(Account {
                login,
                status: parse("account status", &status)?,
                rule,
                opened_at: opt_time(self.opened_at)?,
                closed_at: opt_time(self.closed_at)?,
                updated_at: time(updated_at)?,
            }),
            _ => None,
        };
        let profile = Profile {
            employee_number: self.employee_number,
            name: self.name,
            gender: self.gender.as_deref().map(|g| parse("gender", g)).transpose()?,
            company: CompanyCode(self.company),
            department: self.department,
            title: self.title,
            grade: self.grade.as_deref().map(|g| parse("grade", g)).transpose()?,
            mobile: self.mobile,
            email: self.email,
            hire_date: date(self.hire_date)?,
            confidential: self.confidential,
        };
        Ok(StoredPerson {
            person: Person {
                key: PersonKey::from(self.person_key),
                profile,
                employment: employment(&self.employment)?,
                leave_date: date(self.leave_date)?,
                source: self.source,
                updated_at: time(self.updated_at)?,
            },
            account,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountDb {
    login: String,
    employee_number: String,
    name: String,
    company: String,
    department: String,
    title: String,
    grade: Option<String>,
    status: String,
    rule: String,
    opened_at: Option<i64>,
    closed_at: Option<i64>,
    updated_at: i64,
}

impl AccountDb {
    pub(crate) fn into_domain(self) -> Result<AccountRow, StoreError> {
        Ok(AccountRow {
            login: self.login,
            employee_number: self.employee_number,
            name: self.name,
            company: CompanyCode(self.company),
            department: self.department,
            title: self.title,
            grade: self.grade,
            status: parse::<AccountStatus>("account status", &self.status)?,
            rule: self.rule,
            opened_at: opt_time(self.opened_at)?,
            closed_at: opt_time(self.closed_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RunDb {
    id: i64,
    kind: String,
    sources: String,
    actor: String,
    started_at: i64,
    finished_at: Option<i64>,
    status: String,
    counts: String,
    active_people: i64,
    rejected_rows: i64,
    message: Option<String>,
    approval_of: Option<i64>,
}

impl RunDb {
    pub(crate) fn into_domain(self) -> Result<RunSummary, StoreError> {
        Ok(RunSummary {
            id: RunId(self.id),
            kind: parse("run kind", &self.kind)?,
            sources: serde_json::from_str(&self.sources).map_err(|e| json("run sources", e))?,
            actor: self.actor,
            started_at: time(self.started_at)?,
            finished_at: opt_time(self.finished_at)?,
            status: parse("run status", &self.status)?,
            counts: serde_json::from_str::<OpCounts>(&self.counts).map_err(|e| json("run counts", e))?,
            active_people: u64::try_from(self.active_people).map_err(|e| corrupt("active people", e))?,
            rejected_rows: u64::try_from(self.rejected_rows).map_err(|e| corrupt("rejected rows", e))?,
            message: self.message,
            approval_of: self.approval_of.map(RunId),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RejectionDb {
    file: String,
    source_row: i64,
    column_name: String,
    reason: String,
}

impl RejectionDb {
    pub(crate) fn into_domain(self) -> Result<RowError, StoreError> {
        Ok(RowError {
            file: self.file,
            row: u64::try_from(self.source_row).map_err(|e| corrupt("rejected row number", e))?,
            column: self.column_name,
            reason: self.reason,
        })
    }
}

/// Run state needed to finish or approve it.
#[derive(sqlx::FromRow)]
pub(crate) struct RunStateDb {
    pub(crate) status: String,
    pub(crate) base_revision: i64,
    pub(crate) plan: Option<String>,
    pub(crate) delta: Option<String>,
    pub(crate) active_people: i64,
}

pub(crate) fn node_kind_text(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Ou => "ou",
        NodeKind::Group => "group",
    }
}

fn node_kind(s: &str) -> Result<NodeKind, StoreError> {
    match s {
        "ou" => Ok(NodeKind::Ou),
        "group" => Ok(NodeKind::Group),
        o => Err(corrupt("node kind", o)),
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OutboxDb {
    seq: i64,
    run_id: Option<i64>,
    key: String,
    phase: i32,
    op: String,
    attempts: i32,
    next_attempt_at: i64,
}

impl OutboxDb {
    pub(crate) fn into_domain<Op: TargetOp>(self) -> Result<OutboxItem<Op>, StoreError> {
        Ok(OutboxItem {
            seq: self.seq,
            run: self.run_id.map(RunId),
            op: Queued {
                key: self.key,
                phase: u8::try_from(self.phase).map_err(|e| corrupt("outbox phase", e))?,
                op: serde_json::from_str(&self.op).map_err(|e| json("outbox operation", e))?,
            },
            attempts: u32::try_from(self.attempts).map_err(|e| corrupt("outbox attempts", e))?,
            next_attempt_at: time(self.next_attempt_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TrackedUserDb {
    person_key: String,
    parent: String,
    login: String,
    groups: String,
    locked: bool,
}

impl TrackedUserDb {
    pub(crate) fn into_domain(self) -> Result<(PersonKey, TrackedUser), StoreError> {
        let groups = serde_json::from_str(&self.groups).map_err(|e| json("tracked groups", e))?;
        Ok((
            PersonKey::from(self.person_key),
            TrackedUser { parent: self.parent, login: self.login, groups, locked: self.locked },
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct NodeDb {
    key: String,
    dn: String,
    kind: String,
}

impl NodeDb {
    pub(crate) fn into_domain(self) -> Result<Node, StoreError> {
        Ok(Node {
            key: self.key,
            dn: serde_json::from_str(&self.dn).map_err(|e| json("node DN", e))?,
            kind: node_kind(&self.kind)?,
        })
    }
}

/// `outbox_stats` counts, in one scan.
#[derive(sqlx::FromRow)]
pub(crate) struct OutboxCountsDb {
    pub(crate) pending: i64,
    pub(crate) due: i64,
    pub(crate) retrying: i64,
    pub(crate) parked: i64,
    pub(crate) oldest: Option<i64>,
}

/// Saturating: counts are far below `i64::MAX`, and the database has no unsigned type.
pub(crate) fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count read back: never negative.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
