//! What the domain needs from storage. Implemented by `orgid-store` for SQLite and PostgreSQL.
//! Every method that changes state does so in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    AccountStatus, Company, CompanyCode, NewRun, Plan, RowError, RunDetail, RunId, RunStatus, RunSummary, StoredPerson,
};

/// A storage failure, already stripped of anything secret. The domain does not look inside.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    /// The state the caller planned against has changed (a concurrent run, a stale approval).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("storage: {0}")]
    Backend(String),
}

/// Filters of `orgid accounts list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub company: Option<CompanyCode>,
    pub status: Option<AccountStatus>,
    pub employee_number: Option<String>,
}

/// An account joined with its person, for listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub login: String,
    pub employee_number: String,
    pub name: String,
    pub company: CompanyCode,
    pub department: String,
    pub title: String,
    pub grade: Option<String>,
    pub status: AccountStatus,
    pub rule: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// How a run ends. `plan` is applied only for `Ok`/`Partial`; for `Held` it is kept for approval.
#[derive(Debug, Clone)]
pub struct RunOutcome<'a> {
    pub status: RunStatus,
    pub finished_at: DateTime<Utc>,
    pub companies: &'a [Company],
    pub plan: &'a Plan,
    pub rejected: &'a [RowError],
    pub active_people: u64,
    pub message: Option<String>,
}

#[async_trait]
pub trait SettingStore: Send + Sync {
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Stores `value` unless the key already has one; returns the value in force.
    async fn init_setting(&self, key: &str, value: &str) -> Result<String, StoreError>;
}

#[async_trait]
pub trait CompanyStore: Send + Sync {
    async fn companies(&self) -> Result<Vec<Company>, StoreError>;
}

#[async_trait]
pub trait PersonStore: Send + Sync {
    /// Every person with their account, for planning.
    async fn people(&self) -> Result<Vec<StoredPerson>, StoreError>;
    /// The person currently holding this employee number.
    async fn person_by_employee_number(&self, employee_number: &str) -> Result<Option<StoredPerson>, StoreError>;
    async fn accounts(&self, filter: &AccountFilter) -> Result<Vec<AccountRow>, StoreError>;
}

#[async_trait]
pub trait RunStore: Send + Sync {
    async fn begin_run(&self, run: &NewRun) -> Result<RunId, StoreError>;
    /// Ends a run. For `Ok`/`Partial`, atomically: upserts the companies, writes the plan's people
    /// and accounts, records the changes and rejected rows, and finishes the run, failing with
    /// `Conflict` if another run was applied since `run` began. For `Held`, keeps the plan for
    /// approval. For `Failed`, records only the message and rejected rows.
    async fn finish_run(&self, run: RunId, outcome: RunOutcome<'_>) -> Result<(), StoreError>;
    /// Applies a held run's kept plan as a new run `by` (which then ends `Ok`), marking the held run
    /// `Approved`. `Conflict` if anything was applied after the held run began.
    async fn approve_run(&self, held: RunId, by: RunId, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn runs(&self, limit: u32) -> Result<Vec<RunSummary>, StoreError>;
    async fn run(&self, id: RunId) -> Result<Option<RunDetail>, StoreError>;
    /// The most recent run that was applied (ok, partial or approved): the shrink check's base.
    async fn last_applied_run(&self) -> Result<Option<RunSummary>, StoreError>;
}

/// Everything the daemon needs, in one object.
pub trait Store: SettingStore + CompanyStore + PersonStore + RunStore {}

impl<T: SettingStore + CompanyStore + PersonStore + RunStore> Store for T {}
