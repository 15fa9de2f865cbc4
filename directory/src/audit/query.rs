//! Reading the trail: who may see what (`AuditScope`), which records (`AuditFilter`) and one page
//! at a time. Pages are in time order (then position) and keyed on the last record shown, so
//! page 1,000 costs what page 1 costs and every filter walks an index in its order.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chain::AuditRecord;
use super::event::{AuditOutcome, EventKind};
use crate::CompanyCode;

/// Whose records a caller may read: a delegate only their company's, the security-auditor role
/// (and the operator's command line) everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditScope {
    All,
    Company(CompanyCode),
}

impl AuditScope {
    /// Whether a filter asks for records outside the scope (a delegate naming another company).
    pub fn excludes(&self, filter: &AuditFilter) -> bool {
        match (self, &filter.company) {
            (AuditScope::Company(mine), Some(asked)) => mine != asked,
            _ => false,
        }
    }
}

/// Every condition must hold; empty means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The subject account's login.
    pub login: Option<String>,
    pub company: Option<CompanyCode>,
    /// Any of these types.
    pub kinds: Vec<EventKind>,
    pub outcome: Option<AuditOutcome>,
    pub source_ip: Option<String>,
    pub client_id: Option<String>,
    /// From this time on (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Before this time (exclusive).
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Most recent first (screens).
    #[default]
    NewestFirst,
    /// In the order written (exports, reports).
    OldestFirst,
}

/// Where a page ended: the time (unix ms) and position of its last record. Shown as `MS-SEQ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    pub at_ms: i64,
    pub seq: i64,
}

impl Cursor {
    pub fn of(r: &AuditRecord) -> Cursor {
        Cursor { at_ms: r.fields.at.timestamp_millis(), seq: r.seq }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.at_ms, self.seq)
    }
}

impl FromStr for Cursor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || "not a page cursor (the `next` value of a previous page)".to_string();
        let (at, seq) = s.trim().rsplit_once('-').ok_or_else(bad)?;
        Ok(Cursor { at_ms: at.parse().map_err(|_| bad())?, seq: seq.parse().map_err(|_| bad())? })
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which page: records strictly after the cursor in `order`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub order: Order,
    /// The `next` of the previous page.
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl PageRequest {
    /// The largest page served.
    pub const MAX_LIMIT: u32 = 10_000;

    pub fn first(order: Order, limit: u32) -> Self {
        PageRequest { order, after: None, limit: limit.clamp(1, Self::MAX_LIMIT) }
    }
}

/// One page; `next` is the cursor of the following page, absent on the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    pub next: Option<Cursor>,
}

impl AuditPage {
    /// A page of at most `limit` records from `fetched` (fetched with `limit + 1` to learn
    /// whether there is more).
    pub fn from_fetched(mut fetched: Vec<AuditRecord>, limit: u32) -> Self {
        let more = fetched.len() > limit as usize;
        fetched.truncate(limit as usize);
        let next = if more { fetched.last().map(Cursor::of) } else { None };
        AuditPage { records: fetched, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delegate_asking_for_another_company_is_out_of_scope() {
        let mine = AuditScope::Company(CompanyCode("A".into()));
        let other = AuditFilter { company: Some(CompanyCode("B".into())), ..AuditFilter::default() };
        let own = AuditFilter { company: Some(CompanyCode("A".into())), ..AuditFilter::default() };
        assert!(mine.excludes(&other));
        assert!(!mine.excludes(&own));
        assert!(!mine.excludes(&AuditFilter::default()));
        assert!(!AuditScope::All.excludes(&other));
    }

    #[test]
    fn page_limits_are_bounded() {
        assert_eq!(PageRequest::first(Order::NewestFirst, 0).limit, 1);
        assert_eq!(PageRequest::first(Order::NewestFirst, 1_000_000).limit, PageRequest::MAX_LIMIT);
        let empty = AuditPage::from_fetched(Vec::new(), 10);
        assert_eq!(empty.next, None);
    }

    #[test]
    fn a_page_knows_whether_another_follows() {
        use crate::audit::{Actor, AuditEvent, ChainHead, chain};
        let at = DateTime::from_timestamp(1_714_521_600, 0).unwrap_or_default();
        let fields = (0..3)
            .map(|_| AuditEvent::new(at, EventKind::Logout, AuditOutcome::Success, Actor::User("u".into())).fields());
        let (mut records, _) = chain(ChainHead::empty(1), fields.collect());
        for r in &mut records {
            r.seq = r.pos;
        }
        let full = AuditPage::from_fetched(records.clone(), 2);
        assert_eq!(full.records.len(), 2);
        assert_eq!(full.next, Some(Cursor { at_ms: 1_714_521_600_000, seq: 2 }), "the last record shown is the cursor");
        assert_eq!(full.next.map(|c| c.to_string()).as_deref(), Some("1714521600000-2"));
        assert_eq!("1714521600000-2".parse::<Cursor>(), Ok(Cursor { at_ms: 1_714_521_600_000, seq: 2 }));
        assert_eq!("-5-2".parse::<Cursor>(), Ok(Cursor { at_ms: -5, seq: 2 }), "times before 1970 parse");
        assert!("x".parse::<Cursor>().is_err());
        let last = AuditPage::from_fetched(records, 3);
        assert_eq!((last.records.len(), last.next), (3, None));
    }
}
