//! Files from HR: the company list, the full roster export and the two request forms (账号开通 /
//! 账号调整信息收集表), as .xlsx or CSV (UTF-8, with or without BOM, or GBK). Each reader returns the
//! rows it could validate and a `RowError` for every bad cell; a `SourceError` stops the whole run.
//!
//! ID numbers are turned into person keys as soon as they are validated and never appear in an
//! error, a log line or a `Debug` output.
//!
//! Every reader applies `[limits]` (`LimitsConfig`): a file too large, an .xlsx that would unpack
//! too large or a file with too many rows is refused before it is read in full; a cell too long
//! is its row's error. No message shows more than 200 characters of a value.

mod cells;
mod columns;
mod companies;
mod limits;
mod person;
mod quotes;
mod requests;
mod roster;
mod table;

#[cfg(test)]
mod tests;

use std::path::Path;

use chrono::NaiveDate;
use orgid_config::LimitsConfig;
use orgid_directory::{Company, CompanyCode, CompanyIndex, HeldBack, PersonKeyer, PersonRecord, RowError};

/// A problem with the file as a whole: nothing from it may be used.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{file}: cannot read: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("{file}: missing column {column} (expected one of: {aliases})")]
    MissingColumn { file: String, column: String, aliases: String },
    /// No header row, a company tree that cannot be built, …
    #[error("{file}: {reason}")]
    Invalid { file: String, reason: String },
    /// Beyond `[limits]` as a whole (its size, or an .xlsx's unpacked size): refused unread.
    #[error("{file}: {reason}")]
    TooLarge { file: String, reason: String },
    /// Something at one place that makes the rest of the file untrustworthy: a quote that never
    /// closes, a column twice, the first row over `limits.max_rows`.
    #[error("{file}: row {row}{}: {reason}", in_column(.column))]
    At { file: String, row: u64, column: Option<String>, reason: String },
}

fn in_column(column: &Option<String>) -> String {
    column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default()
}

/// The company list (公司编码, 公司名称, 上级公司编码, 企业级别, 运营模式).
#[derive(Debug, Clone)]
pub struct CompaniesRead {
    /// The accepted companies; together they form a valid tree (`CompanyIndex::new` succeeds).
    pub companies: Vec<Company>,
    pub rejected: Vec<RowError>,
    /// Data rows read (non-empty rows below the header).
    pub rows: u64,
}

/// A full roster export: form 1's columns plus 机要岗, 状态, 离职日期.
#[derive(Debug, Clone)]
pub struct RosterRead {
    pub records: Vec<PersonRecord>,
    pub rejected: Vec<RowError>,
    /// Who the rejected rows are about, as far as they tell: left as they were by the plan.
    pub held: HeldBack,
    /// Data rows read (non-empty rows below the header).
    pub rows: u64,
}

/// One row of form 1 (账号开通信息收集表).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// The spreadsheet row number.
    pub row: u64,
    pub record: PersonRecord,
}

/// One row of form 2 (账号调整信息收集表).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// The spreadsheet row number.
    pub row: u64,
    /// 异动前工号
    pub before_employee_number: String,
    /// 异动前公司
    pub before_company: CompanyCode,
    /// 异动日期
    pub move_date: Option<NaiveDate>,
    /// The state after the move (异动后…); `record.key` is the person key.
    pub record: PersonRecord,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requests {
    Opening(Vec<Opening>),
    Adjustment(Vec<Adjustment>),
}

#[derive(Debug, Clone)]
pub struct RequestsRead {
    pub requests: Requests,
    pub rejected: Vec<RowError>,
    /// Data rows read (non-empty rows below the header).
    pub rows: u64,
}

/// Reads a company list. Rows naming an unknown parent (or a rejected one) are rejected; a cycle
/// in the tree is a `SourceError::Invalid`.
pub fn read_companies(path: &Path, limits: &LimitsConfig) -> Result<CompaniesRead, SourceError> {
    companies::read(path, limits)
}

/// Reads a full roster export. `source` becomes `PersonRecord::source`.
pub fn read_roster(
    path: &Path,
    source: &str,
    keyer: &PersonKeyer,
    companies: &CompanyIndex,
    limits: &LimitsConfig,
) -> Result<RosterRead, SourceError> {
    roster::read(path, source, keyer, companies, limits)
}

/// Reads a request form. Detects form 1 vs form 2 from the headers (form 2 has 异动前/异动后
/// columns). `PersonRecord::source` is the file name.
pub fn read_requests(
    path: &Path,
    keyer: &PersonKeyer,
    companies: &CompanyIndex,
    limits: &LimitsConfig,
) -> Result<RequestsRead, SourceError> {
    requests::read(path, keyer, companies, limits)
}
