//! What the domain needs from storage. Implemented by `orgid-store` for SQLite and PostgreSQL.
//! Every method that changes state does so in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{
    AuditEvent, AuditFilter, AuditOutcome, AuditPage, AuditRecord, AuditScope, ChainHead, Checkpoint, EventKind,
    PageRequest,
};
use crate::target::ldap::{DitDelta, Node, TrackedUser};
use crate::target::wecom::{TrackedDept, TrackedMember, WecomDelta};
use crate::target::{OutboxItem, OutboxStats, TargetId, TargetOp};
use crate::workflow::{NewGrant, Request, RequestFilter, RequestState, RoleGrant, RosterCheck};
use crate::{
    AccountChange, AccountStatus, Company, CompanyCode, NewRun, OperatingMode, PersonKey, PersonRecord, Plan, RowError,
    RunDetail, RunId, RunStatus, RunSummary, StoredPerson,
};

/// A storage failure, already stripped of anything secret. The domain does not look inside.
#[derive(Debug, Clone, thiserror::Error)]
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

/// How a run ends. `plan` and `directory` are applied only for `Ok`/`Partial`; for `Held` both are
/// kept for approval; for `Failed` both are ignored.
#[derive(Debug, Clone)]
pub struct RunOutcome<'a> {
    pub status: RunStatus,
    pub finished_at: DateTime<Utc>,
    pub companies: &'a [Company],
    pub plan: &'a Plan,
    pub rejected: &'a [RowError],
    pub active_people: u64,
    pub message: Option<String>,
    /// The directory side of the run (outbox operations and tracking), if LDAP provisioning is on.
    pub directory: Option<&'a DitDelta>,
    /// The WeCom side of the run, if `[wecom]` is configured (applied for `Ok`/`Partial` only).
    pub wecom: Option<&'a WecomDelta>,
}

/// One part of a run written in parts (a large first load, see `RunStore::apply_run_part`).
#[derive(Debug, Clone)]
pub struct RunPart<'a> {
    pub at: DateTime<Utc>,
    /// Companies to upsert (those of the run, with its first part).
    pub companies: &'a [Company],
    /// The part's people and account changes.
    pub people: &'a [PersonRecord],
    pub changes: &'a [AccountChange],
    /// How many of the run's changes earlier parts wrote (the ledger numbers this part's after them).
    pub changes_before: usize,
    /// The part's outbox operations and tracking.
    pub directory: &'a DitDelta,
}

#[async_trait]
pub trait SettingStore: Send + Sync {
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Stores `value` unless the key already has one; returns the value in force.
    async fn init_setting(&self, key: &str, value: &str) -> Result<String, StoreError>;
    /// Stores `value`, replacing the key's value (a job's progress, such as where the alert job
    /// has read the audit trail to).
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CompanyStore: Send + Sync {
    async fn companies(&self) -> Result<Vec<Company>, StoreError>;
}

#[async_trait]
pub trait PersonStore: Send + Sync {
    /// Every person with their account, for planning.
    async fn people(&self) -> Result<Vec<StoredPerson>, StoreError>;
    /// The people of these companies (with their accounts), in key order.
    async fn people_in(&self, companies: &[CompanyCode]) -> Result<Vec<StoredPerson>, StoreError>;
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
    /// approval. For `Failed`, records only the message and rejected rows. Returns the outbox
    /// sequence numbers of the queued directory operations, one per op of `outcome.directory`
    /// and in its order (empty when nothing was queued), so that the caller can apply them
    /// without reading them back.
    async fn finish_run(&self, run: RunId, outcome: RunOutcome<'_>) -> Result<Vec<i64>, StoreError>;
    /// Writes one part of running run `run`, atomically: the companies, people, accounts, ledger
    /// changes, outbox operations, tracking and the changes' audit records, as `finish_run` does for
    /// a whole run, failing with `Conflict` if another run was applied since `run` began (or since
    /// its last part). The run stays running, its base moved past its own write; `finish_run` ends
    /// it (with an empty plan carrying the counts). Returns the outbox seqs as `finish_run` does.
    async fn apply_run_part(&self, run: RunId, part: RunPart<'_>) -> Result<Vec<i64>, StoreError>;
    /// Applies a held run's kept plan as a new run `by` (which then ends `Ok`), marking the held run
    /// `Approved`. `Conflict` if anything was applied after the held run began.
    async fn approve_run(&self, held: RunId, by: RunId, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn runs(&self, limit: u32) -> Result<Vec<RunSummary>, StoreError>;
    async fn run(&self, id: RunId) -> Result<Option<RunDetail>, StoreError>;
    /// The most recent sync run that was applied (ok, partial or approved): the shrink check's
    /// base (imports and applied requests, which cover a few people, are not).
    async fn last_applied_run(&self) -> Result<Option<RunSummary>, StoreError>;
    /// Runs still `running`, with their owner (`NewRun::owner`).
    async fn running_runs(&self) -> Result<Vec<(RunId, Option<String>)>, StoreError>;
    /// Marks a `running` run whose process died `abandoned` at `at` with `message`, and audits
    /// it; `false` if it was not running any more.
    async fn abandon_run(&self, run: RunId, at: DateTime<Utc>, message: &str) -> Result<bool, StoreError>;
}

/// What orgid has put (or queued) in OpenLDAP: the tracking its deltas are computed against, and
/// deltas outside any run. Runs write both through `RunStore::finish_run`/`approve_run`.
#[async_trait]
pub trait LdapStore: Send + Sync {
    /// Every tracked OU and group, by key.
    async fn tracked_nodes(&self) -> Result<Vec<Node>, StoreError>;
    /// The tracking of these people (those not tracked are left out), by person key.
    async fn tracked_users(&self, keys: &[PersonKey]) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError>;
    /// The tracked users under these node keys, by person key.
    async fn tracked_users_under(&self, parents: &[String]) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError>;
    async fn all_tracked_users(&self) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError>;
    /// A delta outside any run (reconcile repairs, purges): one transaction; run_id NULL.
    async fn enqueue_directory(&self, delta: &DitDelta, at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// What orgid has put (or queued) in WeCom: departments and members. Runs write their delta
/// through `RunStore::finish_run` (`RunOutcome::wecom`).
#[async_trait]
pub trait WecomStore: Send + Sync {
    /// Every tracked department, by key.
    async fn wecom_departments(&self) -> Result<Vec<TrackedDept>, StoreError>;
    /// The tracking of these people (those not tracked are left out), by person key.
    async fn wecom_members(&self, keys: &[PersonKey]) -> Result<Vec<(PersonKey, TrackedMember)>, StoreError>;
    /// The tracked members of these department keys, by person key.
    async fn wecom_members_in(&self, depts: &[String]) -> Result<Vec<(PersonKey, TrackedMember)>, StoreError>;
    async fn all_wecom_members(&self) -> Result<Vec<(PersonKey, TrackedMember)>, StoreError>;
    /// A delta outside any run (reconcile repairs, purges) with the audit records of what it
    /// repairs or purges: one transaction; run_id NULL.
    async fn enqueue_wecom(
        &self,
        delta: &WecomDelta,
        at: DateTime<Utc>,
        events: &[crate::audit::AuditEvent],
    ) -> Result<(), StoreError>;
}

/// The outbox every target's operations wait in, keyed by target: written in the transaction that
/// decided them, read in queue order, acknowledged when applied, retried with backoff, parked.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// The first `limit` non-parked items of `Op`'s target by seq (due or not: the worker keeps
    /// per-key order and skips keys whose first item is not due).
    async fn outbox_batch<Op: TargetOp>(&self, limit: u32) -> Result<Vec<OutboxItem<Op>>, StoreError> {
        self.outbox_batch_after(i64::MIN, limit).await
    }
    /// As [`outbox_batch`](Self::outbox_batch), the items after `seq` only: the worker reads its
    /// next batch while the target applies the current one.
    async fn outbox_batch_after<Op: TargetOp>(&self, seq: i64, limit: u32) -> Result<Vec<OutboxItem<Op>>, StoreError>;
    /// Applied: delete these items of `target` (missing ones are ignored).
    async fn outbox_ack(&self, target: TargetId, seqs: &[i64]) -> Result<(), StoreError>;
    /// Refused by the target: attempts += 1, last_error, next_attempt_at; parked = true when
    /// attempts reaches `park_after`. A missing item (already acknowledged) is ignored.
    async fn outbox_retry(
        &self,
        target: TargetId,
        seq: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        park_after: u32,
    ) -> Result<(), StoreError>;
    async fn outbox_stats(&self, target: TargetId, now: DateTime<Utc>) -> Result<OutboxStats, StoreError>;
    /// Parked items of `target` back to pending (after an operator fixed the cause): attempts 0,
    /// no error, due `now`. Returns how many.
    async fn outbox_unpark(&self, target: TargetId, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Every pending item of `target` due `now`, whatever its backoff (an operator's push after
    /// fixing the cause). Returns how many were waiting for a later attempt.
    async fn outbox_hurry(&self, target: TargetId, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The audit trail: append-only hash chains (see `crate::audit`). Store methods that change
/// state write their own records in their transaction (`finish_run`, `approve_run`,
/// `enqueue_directory_audited`); `append_audit` is for events that change nothing else.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `events`, in order, to one chain, in one transaction; returns that chain's new
    /// head. Concurrent appenders (replicas included) take different chains, or wait.
    async fn append_audit(&self, events: &[AuditEvent]) -> Result<ChainHead, StoreError>;
    /// One page of the records in `scope` that match `filter`.
    async fn audit_query(
        &self,
        scope: &AuditScope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<AuditPage, StoreError>;
    /// The records of `chain` at positions `after + 1 ..= through`, in order, at most `limit`:
    /// the walk of `orgid audit verify`.
    async fn audit_chain(
        &self,
        chain: i32,
        after: i64,
        through: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// The head of every chain, by chain.
    async fn audit_heads(&self) -> Result<Vec<ChainHead>, StoreError>;
    /// The latest time of a record of one of `kinds` with `outcome`, per subject login (the last
    /// successful login, the last password change).
    async fn audit_latest(
        &self,
        kinds: &[EventKind],
        outcome: AuditOutcome,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
    /// Every signed checkpoint, by chain and position.
    async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;
    /// Stores checkpoints (one already stored at a position stays) and appends `events` (a key
    /// rotation) in one transaction. `Conflict` if a checkpointed record does not have its hash.
    async fn add_audit_checkpoints(&self, checkpoints: &[Checkpoint], events: &[AuditEvent]) -> Result<(), StoreError>;
    /// Per chain, the last record that, with every record before it, is older than `cutoff`: how
    /// far a retention purge may go. Chains with nothing that old are left out.
    async fn audit_purge_points(&self, cutoff: DateTime<Utc>) -> Result<Vec<ChainHead>, StoreError>;
    /// The retention purge, in one transaction: stores `anchors` (a checkpoint of the last record
    /// to delete of each chain), deletes every record up to them, and appends `event`. Returns
    /// how many records were deleted.
    async fn purge_audit(&self, anchors: &[Checkpoint], event: &AuditEvent) -> Result<u64, StoreError>;
    /// `LdapStore::enqueue_directory` with the audit records of what it repairs or purges,
    /// in the same transaction.
    async fn enqueue_directory_audited(
        &self,
        delta: &DitDelta,
        at: DateTime<Utc>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError>;
}

/// Delegation and the lifecycle workflow (`crate::workflow`): role grants, requests with their
/// approvals, independent companies' roster checks. Every call that changes something writes its
/// `audit` records in the same transaction.
#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// Grants of `login` (all logins when `None`), by id; revoked ones only with `include_revoked`.
    async fn role_grants(&self, login: Option<&str>, include_revoked: bool) -> Result<Vec<RoleGrant>, StoreError>;
    async fn role_grant(&self, id: i64) -> Result<Option<RoleGrant>, StoreError>;
    /// Stores a grant. `Conflict` if the login already holds the same role for the same company.
    async fn add_role_grant(&self, grant: &NewGrant, audit: &[AuditEvent]) -> Result<RoleGrant, StoreError>;
    /// Ends a grant (it stays, with `revoked_at`). `NotFound` if there is no such unrevoked grant.
    async fn revoke_role_grant(&self, id: i64, at: DateTime<Utc>, audit: &[AuditEvent]) -> Result<(), StoreError>;
    /// Stores a new request with its approvals; returns its id.
    async fn insert_request(&self, request: &Request, audit: &[AuditEvent]) -> Result<i64, StoreError>;
    /// Writes a request's state, dates, error and new approvals. `Conflict` if its stored state is
    /// no longer `expected` (someone else decided meanwhile); `NotFound` if there is no such request.
    async fn update_request(
        &self,
        request: &Request,
        expected: RequestState,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError>;
    async fn request(&self, id: i64) -> Result<Option<Request>, StoreError>;
    /// Requests matching `filter`, newest first.
    async fn requests(&self, filter: &RequestFilter) -> Result<Vec<Request>, StoreError>;
    /// A sync's roster differences for `companies`: known unresolved ones (same company, person
    /// and kind) get `last_seen`/`detail`, new ones are added, and unresolved ones of those
    /// companies that are not in `seen` are resolved at `at`.
    async fn record_roster_checks(
        &self,
        companies: &[CompanyCode],
        seen: &[RosterCheck],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Roster checks by id; only the unresolved ones with `open_only`.
    async fn roster_checks(&self, open_only: bool) -> Result<Vec<RosterCheck>, StoreError>;
    /// One person with their account, by key.
    async fn person_by_key(&self, key: &PersonKey) -> Result<Option<StoredPerson>, StoreError>;
    /// Changes a company's operating mode, and keeps it as an override of the company list's
    /// (see `company_modes`). `NotFound` for an unknown company.
    async fn set_company_mode(
        &self,
        code: &CompanyCode,
        mode: OperatingMode,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError>;
    /// The operating modes set with `set_company_mode`, by code: they win over the company list's.
    async fn company_modes(&self) -> Result<Vec<(CompanyCode, OperatingMode)>, StoreError>;
}

/// Everything the daemon needs, in one object.
pub trait Store:
    SettingStore + CompanyStore + PersonStore + RunStore + LdapStore + WecomStore + OutboxStore + AuditStore + WorkflowStore
{
}

impl<
    T: SettingStore
        + CompanyStore
        + PersonStore
        + RunStore
        + LdapStore
        + WecomStore
        + OutboxStore
        + AuditStore
        + WorkflowStore,
> Store for T
{
}
