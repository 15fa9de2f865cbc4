//! Storage of orgid: the directory's store traits over SQLite (default, one file) and PostgreSQL
//! (shared by replicas), with their migrations. The behaviour is written once (`sql.rs`) and
//! expanded for both backends; no business rules live here.
//!
//! Callers start a run (`begin_run`) *before* loading the state they plan against: the run
//! remembers the store revision, and applying fails with `Conflict` if another run changed the
//! store in between.

mod audit;
mod backend;
pub mod backup;
mod error;
mod group;
mod idp;
mod ldap;
mod lease;
mod notice;
mod outbox;
mod rows;
mod sql;
mod wecom;
mod workflow;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orgid_directory::audit::{
    AuditEvent, AuditFilter, AuditOutcome, AuditPage, AuditRecord, AuditScope, ChainHead, Checkpoint, EventKind,
    PageRequest,
};
use orgid_directory::idp::{
    ClientStore, CodeRecord, CodeTake, Credential, CredentialStore, FailureCount, FormStore, GrantRecord, GrantStore,
    IdpUpkeepStore, PasswordChange, Rotation, SamlSpStore, SessionRecord, SessionStore, SigningKeyRecord,
    SigningKeyStore, StoredClient, StoredSamlSp, Subject, ThrottleRule, ThrottleStore, TokenRecord,
};
use orgid_directory::store::{LdapStore, OutboxStore, WecomStore};
use orgid_directory::target::ldap::{DitDelta, Node, TrackedUser};
use orgid_directory::target::wecom::{TrackedDept, TrackedMember, WecomDelta};
use orgid_directory::target::{OutboxItem, OutboxStats, TargetId, TargetOp};
use orgid_directory::{
    AccountFilter, AccountRow, AuditStore, Company, CompanyStore, NewRun, PersonKey, PersonStore, RunDetail, RunId,
    RunOutcome, RunPart, RunStore, RunSummary, SettingStore, StoreError, StoredPerson,
};

pub use backend::{PgStore, SqliteStore};
pub use group::LoginWriteStats;
pub use lease::LeaderLease;

/// Opens the store named by `url` and brings its schema up to date. `sqlite:PATH` (created if
/// missing; WAL, synchronous=NORMAL, foreign keys, 5 s busy timeout), `sqlite::memory:`, or
/// `postgres://…` / `postgresql://…`. Errors never repeat the URL (it may hold a password).
#[tracing::instrument(skip_all, err)]
pub async fn connect(url: &str, max_connections: u32) -> Result<AnyStore, StoreError> {
    let store = if url.starts_with("sqlite:") {
        AnyStore::Sqlite(SqliteStore::open(url, max_connections).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        AnyStore::Pg(PgStore::open(url, max_connections).await?)
    } else {
        return Err(StoreError::Backend(
            "unsupported database URL: expected sqlite:PATH, postgres:// or postgresql://".into(),
        ));
    };
    store.migrate().await?;
    tracing::debug!(backend = store.backend(), "store ready");
    Ok(store)
}

/// The store the configuration chose.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Pg(PgStore),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $e,
            AnyStore::Pg($s) => $e,
        }
    };
}

impl AnyStore {
    pub fn backend(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Pg(_) => "postgres",
        }
    }

    /// Applies pending migrations (idempotent; `connect` already does it).
    #[tracing::instrument(skip_all, fields(backend = self.backend()), err)]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        each!(self, s => s.migrate().await)
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        each!(self, s => s.ping().await)
    }

    /// Login writes (`CredentialStore::record_*`) so far and the transactions they were grouped in.
    pub fn login_write_stats(&self) -> LoginWriteStats {
        each!(self, s => s.logins.stats())
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        each!(self, s => s.close().await)
    }
}

#[async_trait]
impl SettingStore for AnyStore {
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        each!(self, s => s.setting(key).await)
    }
    async fn init_setting(&self, key: &str, value: &str) -> Result<String, StoreError> {
        each!(self, s => s.init_setting(key, value).await)
    }
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        each!(self, s => s.set_setting(key, value).await)
    }
}

#[async_trait]
impl CompanyStore for AnyStore {
    async fn companies(&self) -> Result<Vec<Company>, StoreError> {
        each!(self, s => s.companies().await)
    }
}

#[async_trait]
impl PersonStore for AnyStore {
    async fn people(&self) -> Result<Vec<StoredPerson>, StoreError> {
        each!(self, s => s.people().await)
    }
    async fn people_in(&self, companies: &[orgid_directory::CompanyCode]) -> Result<Vec<StoredPerson>, StoreError> {
        each!(self, s => s.people_in(companies).await)
    }
    async fn person_by_employee_number(&self, employee_number: &str) -> Result<Option<StoredPerson>, StoreError> {
        each!(self, s => s.person_by_employee_number(employee_number).await)
    }
    async fn accounts(&self, filter: &AccountFilter) -> Result<Vec<AccountRow>, StoreError> {
        each!(self, s => s.accounts(filter).await)
    }
}

#[async_trait]
impl RunStore for AnyStore {
    async fn begin_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
        each!(self, s => s.begin_run(run).await)
    }
    async fn finish_run(&self, run: RunId, outcome: RunOutcome<'_>) -> Result<Vec<i64>, StoreError> {
        each!(self, s => s.finish_run(run, outcome).await)
    }
    async fn apply_run_part(&self, run: RunId, part: RunPart<'_>) -> Result<Vec<i64>, StoreError> {
        each!(self, s => s.apply_run_part(run, part).await)
    }
    async fn approve_run(&self, held: RunId, by: RunId, at: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.approve_run(held, by, at).await)
    }
    async fn runs(&self, limit: u32) -> Result<Vec<RunSummary>, StoreError> {
        each!(self, s => s.runs(limit).await)
    }
    async fn run(&self, id: RunId) -> Result<Option<RunDetail>, StoreError> {
        each!(self, s => s.run(id).await)
    }
    async fn last_applied_run(&self) -> Result<Option<RunSummary>, StoreError> {
        each!(self, s => s.last_applied_run().await)
    }
    async fn running_runs(&self) -> Result<Vec<(RunId, Option<String>)>, StoreError> {
        each!(self, s => s.running_runs().await)
    }
    async fn abandon_run(&self, run: RunId, at: DateTime<Utc>, message: &str) -> Result<bool, StoreError> {
        each!(self, s => s.abandon_run(run, at, message).await)
    }
}

#[async_trait]
impl LdapStore for AnyStore {
    async fn tracked_nodes(&self) -> Result<Vec<Node>, StoreError> {
        each!(self, s => s.tracked_nodes().await)
    }
    async fn tracked_users(&self, keys: &[PersonKey]) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
        each!(self, s => s.tracked_users(keys).await)
    }
    async fn tracked_users_under(&self, parents: &[String]) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
        each!(self, s => s.tracked_users_under(parents).await)
    }
    async fn all_tracked_users(&self) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
        each!(self, s => s.all_tracked_users().await)
    }
    async fn enqueue_directory(&self, delta: &DitDelta, at: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.enqueue_directory(delta, at).await)
    }
}

#[async_trait]
impl WecomStore for AnyStore {
    async fn wecom_departments(&self) -> Result<Vec<TrackedDept>, StoreError> {
        each!(self, s => s.wecom_departments().await)
    }
    async fn wecom_members(&self, keys: &[PersonKey]) -> Result<Vec<(PersonKey, TrackedMember)>, StoreError> {
        each!(self, s => s.wecom_members(keys).await)
    }
    async fn wecom_members_in(&self, depts: &[String]) -> Result<Vec<(PersonKey, TrackedMember)>, StoreError> {
        each!(self, s => s.wecom_members_in(depts).await)
    }
    async fn all_wecom_members(&self) -> Result<Vec<(PersonKey, TrackedMember)>, StoreError> {
        each!(self, s => s.all_wecom_members().await)
    }
    async fn enqueue_wecom(
        &self,
        delta: &WecomDelta,
        at: DateTime<Utc>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        each!(self, s => s.enqueue_wecom(delta, at, events).await)
    }
}

#[async_trait]
impl orgid_directory::notice::NoticeStore for AnyStore {
    async fn queue_notices(
        &self,
        notices: &[orgid_directory::notice::Notice],
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        each!(self, s => s.queue_notices(notices, at).await)
    }
    async fn due_notices(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<orgid_directory::notice::Notice>, StoreError> {
        each!(self, s => s.due_notices(now, limit).await)
    }
    async fn notice_sent(&self, key: &str, channel: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.notice_sent(key, channel, at).await)
    }
    async fn notice_failed(
        &self,
        key: &str,
        channel: &str,
        error: &str,
        next_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        each!(self, s => s.notice_failed(key, channel, error, next_at).await)
    }
    async fn password_dates(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        each!(self, s => s.password_dates().await)
    }
}

#[async_trait]
impl OutboxStore for AnyStore {
    async fn outbox_batch_after<Op: TargetOp>(&self, seq: i64, limit: u32) -> Result<Vec<OutboxItem<Op>>, StoreError> {
        each!(self, s => s.outbox_batch_after(seq, limit).await)
    }
    async fn outbox_ack(&self, target: TargetId, seqs: &[i64]) -> Result<(), StoreError> {
        each!(self, s => s.outbox_ack(target, seqs).await)
    }
    async fn outbox_retry(
        &self,
        target: TargetId,
        seq: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        park_after: u32,
    ) -> Result<(), StoreError> {
        each!(self, s => s.outbox_retry(target, seq, error, next_attempt_at, park_after).await)
    }
    async fn outbox_stats(&self, target: TargetId, now: DateTime<Utc>) -> Result<OutboxStats, StoreError> {
        each!(self, s => s.outbox_stats(target, now).await)
    }
    async fn outbox_unpark(&self, target: TargetId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        each!(self, s => s.outbox_unpark(target, now).await)
    }
    async fn outbox_hurry(&self, target: TargetId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        each!(self, s => s.outbox_hurry(target, now).await)
    }
}

#[async_trait]
impl AuditStore for AnyStore {
    async fn append_audit(&self, events: &[AuditEvent]) -> Result<ChainHead, StoreError> {
        each!(self, s => s.append_audit(events).await)
    }
    async fn audit_query(
        &self,
        scope: &AuditScope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<AuditPage, StoreError> {
        each!(self, s => s.audit_query(scope, filter, page).await)
    }
    async fn audit_chain(
        &self,
        chain: i32,
        after: i64,
        through: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        each!(self, s => s.audit_chain(chain, after, through, limit).await)
    }
    async fn audit_heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        each!(self, s => s.audit_heads().await)
    }
    async fn audit_latest(
        &self,
        kinds: &[EventKind],
        outcome: AuditOutcome,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        each!(self, s => s.audit_latest(kinds, outcome).await)
    }
    async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        each!(self, s => s.audit_checkpoints().await)
    }
    async fn add_audit_checkpoints(&self, checkpoints: &[Checkpoint], events: &[AuditEvent]) -> Result<(), StoreError> {
        each!(self, s => s.add_audit_checkpoints(checkpoints, events).await)
    }
    async fn audit_purge_points(&self, cutoff: DateTime<Utc>) -> Result<Vec<ChainHead>, StoreError> {
        each!(self, s => s.audit_purge_points(cutoff).await)
    }
    async fn purge_audit(&self, anchors: &[Checkpoint], event: &AuditEvent) -> Result<u64, StoreError> {
        each!(self, s => s.purge_audit(anchors, event).await)
    }
    async fn enqueue_directory_audited(
        &self,
        delta: &DitDelta,
        at: DateTime<Utc>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        each!(self, s => s.enqueue_directory_audited(delta, at, events).await)
    }
}

#[async_trait]
impl CredentialStore for AnyStore {
    async fn subject(&self, login: &str) -> Result<Option<Subject>, StoreError> {
        each!(self, s => s.subject(login).await)
    }
    async fn credential(&self, login: &str) -> Result<Option<Credential>, StoreError> {
        each!(self, s => s.credential(login).await)
    }
    async fn set_password(
        &self,
        login: &str,
        hash: &str,
        must_change: bool,
        at: DateTime<Utc>,
        keep_history: u32,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        each!(self, s => s.set_password(login, hash, must_change, at, keep_history, audit).await)
    }
    async fn change_password(
        &self,
        login: &str,
        hash: &str,
        version: i64,
        at: DateTime<Utc>,
        keep_history: u32,
        audit: &[AuditEvent],
    ) -> Result<PasswordChange, StoreError> {
        each!(self, s => s.change_password(login, hash, version, at, keep_history, audit).await)
    }
    async fn password_history(&self, login: &str, n: u32) -> Result<Vec<String>, StoreError> {
        each!(self, s => s.password_history(login, n).await)
    }
    async fn record_failure(
        &self,
        login: &str,
        threshold: u32,
        lock_until: DateTime<Utc>,
        attempt: &AuditEvent,
    ) -> Result<FailureCount, StoreError> {
        each!(self, s => s.record_failure(login, threshold, lock_until, attempt).await)
    }
    async fn record_refusal(&self, attempt: &AuditEvent) -> Result<(), StoreError> {
        each!(self, s => s.record_refusal(attempt).await)
    }
    async fn record_success(&self, login: &str, at: DateTime<Utc>, audit: &[AuditEvent]) -> Result<(), StoreError> {
        each!(self, s => s.record_success(login, at, audit).await)
    }
    async fn unlock(&self, login: &str, audit: &[AuditEvent]) -> Result<(), StoreError> {
        each!(self, s => s.unlock(login, audit).await)
    }
    async fn set_totp(&self, login: &str, secret: Option<&str>) -> Result<(), StoreError> {
        each!(self, s => s.set_totp(login, secret).await)
    }
}

#[async_trait]
impl ClientStore for AnyStore {
    async fn clients(&self) -> Result<Vec<StoredClient>, StoreError> {
        each!(self, s => s.clients().await)
    }
    async fn add_client(&self, client: &StoredClient, audit: &[AuditEvent]) -> Result<(), StoreError> {
        each!(self, s => s.add_client(client, audit).await)
    }
    async fn remove_client(&self, id: &str, at: DateTime<Utc>, audit: &[AuditEvent]) -> Result<(), StoreError> {
        each!(self, s => s.remove_client(id, at, audit).await)
    }
}

#[async_trait]
impl SamlSpStore for AnyStore {
    async fn saml_sps(&self) -> Result<Vec<StoredSamlSp>, StoreError> {
        each!(self, s => s.saml_sps().await)
    }
    async fn add_saml_sp(
        &self,
        client: &StoredClient,
        sp: &StoredSamlSp,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        each!(self, s => s.add_saml_sp(client, sp, audit).await)
    }
}

#[async_trait]
impl SigningKeyStore for AnyStore {
    async fn signing_keys(&self, now: DateTime<Utc>) -> Result<Vec<SigningKeyRecord>, StoreError> {
        each!(self, s => s.signing_keys(now).await)
    }
    async fn add_signing_key(
        &self,
        key: &SigningKeyRecord,
        unless_newer_than: DateTime<Utc>,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        each!(self, s => s.add_signing_key(key, unless_newer_than, audit).await)
    }
}

#[async_trait]
impl SessionStore for AnyStore {
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        each!(self, s => s.create_session(session).await)
    }
    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        each!(self, s => s.session(id_hash).await)
    }
    async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.touch_session(id_hash, at).await)
    }
    async fn end_session(&self, id_hash: &str, at: DateTime<Utc>, audit: &[AuditEvent]) -> Result<(), StoreError> {
        each!(self, s => s.end_session(id_hash, at, audit).await)
    }
    async fn end_sessions_of(&self, login: &str, at: DateTime<Utc>, audit: &[AuditEvent]) -> Result<(), StoreError> {
        each!(self, s => s.end_sessions_of(login, at, audit).await)
    }
}

#[async_trait]
impl GrantStore for AnyStore {
    async fn save_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        each!(self, s => s.save_code(code).await)
    }
    async fn take_code(&self, code_hash: &str, at: DateTime<Utc>, reuse: &AuditEvent) -> Result<CodeTake, StoreError> {
        each!(self, s => s.take_code(code_hash, at, reuse).await)
    }
    async fn create_grant(
        &self,
        grant: &GrantRecord,
        tokens: &[TokenRecord],
        code_hash: Option<&str>,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        each!(self, s => s.create_grant(grant, tokens, code_hash, audit).await)
    }
    async fn grant(&self, id: &str) -> Result<Option<GrantRecord>, StoreError> {
        each!(self, s => s.grant(id).await)
    }
    async fn session_clients(&self, session_hash: &str) -> Result<Vec<String>, StoreError> {
        each!(self, s => s.session_clients(session_hash).await)
    }
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        each!(self, s => s.token(id).await)
    }
    async fn rotate_refresh(
        &self,
        old: &str,
        new: &[TokenRecord],
        at: DateTime<Utc>,
        issued: &AuditEvent,
        reused: &AuditEvent,
    ) -> Result<Rotation, StoreError> {
        each!(self, s => s.rotate_refresh(old, new, at, issued, reused).await)
    }
    async fn revoke_grant(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.revoke_grant(id, at).await)
    }
    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.revoke_token(id, at).await)
    }
    async fn record_issued(&self, audit: &AuditEvent) -> Result<(), StoreError> {
        each!(self, s => s.record_issued(audit).await)
    }
    async fn revoke_access(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        each!(self, s => s.revoke_access(jti, client_id, expires_at, at).await)
    }
    async fn access_standing(
        &self,
        jti: &str,
        client_id: &str,
    ) -> Result<orgid_directory::idp::AccessStanding, StoreError> {
        each!(self, s => s.access_standing(jti, client_id).await)
    }
}

#[async_trait]
impl orgid_directory::idp::CasStore for AnyStore {
    async fn save_ticket(&self, ticket: &orgid_directory::idp::CasTicket) -> Result<(), StoreError> {
        each!(self, s => s.save_ticket(ticket).await)
    }
    async fn take_ticket(
        &self,
        ticket_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<orgid_directory::idp::CasTicket>, StoreError> {
        each!(self, s => s.take_ticket(ticket_hash, at).await)
    }
}

#[async_trait]
impl orgid_directory::idp::LogoutStore for AnyStore {
    async fn add_notice(&self, notice: &orgid_directory::idp::LogoutNotice) -> Result<(), StoreError> {
        each!(self, s => s.add_notice(notice).await)
    }
    async fn logouts_due(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(orgid_directory::idp::LogoutNotice, orgid_directory::idp::SessionEnd)>, StoreError> {
        each!(self, s => s.logouts_due(now, idle_before, claim_until, limit).await)
    }
    async fn session_notices(
        &self,
        session_hash: &str,
        protocol: &str,
    ) -> Result<Vec<orgid_directory::idp::LogoutNotice>, StoreError> {
        each!(self, s => s.session_notices(session_hash, protocol).await)
    }
    async fn logout_tried(
        &self,
        id: &str,
        delivered: bool,
        retry_at: Option<DateTime<Utc>>,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        each!(self, s => s.logout_tried(id, delivered, retry_at, audit).await)
    }
}

#[async_trait]
impl orgid_directory::idp::DelegationStore for AnyStore {
    async fn add_delegation(
        &self,
        d: &orgid_directory::idp::Delegation,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        each!(self, s => s.add_delegation(d, audit).await)
    }
    async fn revoke_delegation(
        &self,
        id: &str,
        by: &str,
        at: DateTime<Utc>,
        audit: &[AuditEvent],
    ) -> Result<Option<orgid_directory::idp::Delegation>, StoreError> {
        each!(self, s => s.revoke_delegation(id, by, at, audit).await)
    }
    async fn delegations(&self, login: Option<&str>) -> Result<Vec<orgid_directory::idp::Delegation>, StoreError> {
        each!(self, s => s.delegations(login).await)
    }
    async fn delegation(&self, id: &str) -> Result<Option<orgid_directory::idp::Delegation>, StoreError> {
        each!(self, s => s.delegation(id).await)
    }
    async fn delegated_acts(
        &self,
        principal: &str,
        limit: u32,
    ) -> Result<Vec<orgid_directory::idp::DelegatedAct>, StoreError> {
        each!(self, s => s.delegated_acts(principal, limit).await)
    }
}

#[async_trait]
impl FormStore for AnyStore {
    async fn spend_form(&self, form_hash: &str, expires_at: DateTime<Utc>) -> Result<bool, StoreError> {
        each!(self, s => s.spend_form(form_hash, expires_at).await)
    }
}

#[async_trait]
impl ThrottleStore for AnyStore {
    async fn charge_attempt(
        &self,
        rules: &[ThrottleRule],
        at: DateTime<Utc>,
    ) -> Result<Option<chrono::Duration>, StoreError> {
        each!(self, s => s.charge_attempt(rules, at).await)
    }
    async fn refund_attempt(&self, rules: &[ThrottleRule], at: DateTime<Utc>) -> Result<(), StoreError> {
        each!(self, s => s.refund_attempt(rules, at).await)
    }
}

#[async_trait]
impl IdpUpkeepStore for AnyStore {
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        each!(self, s => s.purge_expired(now).await)
    }
}

#[async_trait]
impl orgid_directory::WorkflowStore for AnyStore {
    async fn role_grants(
        &self,
        login: Option<&str>,
        include_revoked: bool,
    ) -> Result<Vec<orgid_directory::workflow::RoleGrant>, StoreError> {
        each!(self, s => s.role_grants(login, include_revoked).await)
    }
    async fn role_grant(&self, id: i64) -> Result<Option<orgid_directory::workflow::RoleGrant>, StoreError> {
        each!(self, s => s.role_grant(id).await)
    }
    async fn add_role_grant(
        &self,
        grant: &orgid_directory::workflow::NewGrant,
        audit: &[AuditEvent],
    ) -> Result<orgid_directory::workflow::RoleGrant, StoreError> {
        each!(self, s => s.add_role_grant(grant, audit).await)
    }
    async fn revoke_role_grant(&self, id: i64, at: DateTime<Utc>, audit: &[AuditEvent]) -> Result<(), StoreError> {
        each!(self, s => s.revoke_role_grant(id, at, audit).await)
    }
    async fn insert_request(
        &self,
        request: &orgid_directory::workflow::Request,
        audit: &[AuditEvent],
    ) -> Result<i64, StoreError> {
        each!(self, s => s.insert_request(request, audit).await)
    }
    async fn update_request(
        &self,
        request: &orgid_directory::workflow::Request,
        expected: orgid_directory::workflow::RequestState,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        each!(self, s => s.update_request(request, expected, audit).await)
    }
    async fn request(&self, id: i64) -> Result<Option<orgid_directory::workflow::Request>, StoreError> {
        each!(self, s => s.request(id).await)
    }
    async fn requests(
        &self,
        filter: &orgid_directory::workflow::RequestFilter,
    ) -> Result<Vec<orgid_directory::workflow::Request>, StoreError> {
        each!(self, s => s.requests(filter).await)
    }
    async fn record_roster_checks(
        &self,
        companies: &[orgid_directory::CompanyCode],
        seen: &[orgid_directory::workflow::RosterCheck],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        each!(self, s => s.record_roster_checks(companies, seen, at).await)
    }
    async fn roster_checks(&self, open_only: bool) -> Result<Vec<orgid_directory::workflow::RosterCheck>, StoreError> {
        each!(self, s => s.roster_checks(open_only).await)
    }
    async fn person_by_key(&self, key: &PersonKey) -> Result<Option<StoredPerson>, StoreError> {
        each!(self, s => s.person_by_key(key).await)
    }
    async fn set_company_mode(
        &self,
        code: &orgid_directory::CompanyCode,
        mode: orgid_directory::OperatingMode,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        each!(self, s => s.set_company_mode(code, mode, audit).await)
    }
    async fn company_modes(
        &self,
    ) -> Result<Vec<(orgid_directory::CompanyCode, orgid_directory::OperatingMode)>, StoreError> {
        each!(self, s => s.company_modes().await)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn in_memory_sqlite_keeps_its_data_across_calls() {
        let store = connect("sqlite::memory:", 8).await.expect("connect");
        assert_eq!(store.backend(), "sqlite");
        store.init_setting("a", "1").await.expect("init");
        store.ping().await.expect("ping");
        assert_eq!(store.setting("a").await.expect("read").as_deref(), Some("1"));
        store.set_setting("a", "2").await.expect("set");
        store.set_setting("b", "3").await.expect("set a new key");
        assert_eq!(store.setting("a").await.expect("read").as_deref(), Some("2"));
        assert_eq!(store.init_setting("b", "4").await.expect("init").as_str(), "3");
        store.migrate().await.expect("migrations are idempotent");
    }

    #[tokio::test]
    async fn errors_never_repeat_the_url() {
        let err = connect("mysql://root:hunter2@db/orgid", 1).await.expect_err("unsupported");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = connect("postgres://u:hunter2@127.0.0.1:1/x?sslmode=bogus", 1).await.expect_err("bad url");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = connect("postgres://u:hunter2@127.0.0.1:1/x", 1).await.expect_err("nothing listens on port 1");
        assert!(err.to_string().contains("refused"), "{err}");
        let err = connect("sqlite:/nonexistent-dir/orgid.db", 1).await.expect_err("no such directory");
        assert!(err.to_string().contains("unable to open"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn last_per_key_keeps_the_last_value_in_first_seen_order() {
        let items = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        let kept: Vec<_> = sql::last_per_key(&items, |i| i.0).into_iter().copied().collect();
        assert_eq!(kept, [("a", 3), ("b", 5), ("c", 4)]);
        assert_eq!(sql::chunk_rows(16), 125);
        assert!(sql::chunk_rows(16) * 16 <= 32_766);
    }
}
