//! What the identity provider keeps: credentials, clients, signing keys, SSO sessions,
//! authorization codes, grants and tokens, the login flow's spent forms and the budgets of failed
//! logins, and the store traits behind them (one per aggregate, all of them together
//! [`IdpStore`]).
//!
//! Nothing secret is stored in a form that can be replayed: session ids, codes and refresh tokens
//! are kept as SHA-256 hashes (hex), passwords as argon2 PHC strings, client secrets as SHA-256
//! hashes. Signing keys are the exception (PKCS#8, the provider must sign with them): the
//! database must be protected like the keys themselves.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::{AccountStatus, CompanyCode, PersonKey, StoreError, Tier};

mod delegation;
pub use delegation::{DelegatedAct, Delegation, DelegationRefusal, DelegationStore, check_new};

/// An account as the provider sees it: who logs in, and the claims about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub login: String,
    /// Stable across moves (the same person keeps one account); the `sub` claim is derived from it.
    pub person_key: PersonKey,
    pub status: AccountStatus,
    pub name: String,
    pub employee_number: String,
    pub email: String,
    pub mobile: String,
    pub company: CompanyCode,
    pub company_name: String,
    pub company_tier: Tier,
    pub department: String,
    pub title: String,
    pub grade: Option<String>,
    pub confidential: bool,
    /// Whether the person has left (status aside): a departed person's login is refused.
    pub departed: bool,
}

/// A login's password state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub login: String,
    /// argon2id PHC string.
    pub hash: String,
    pub changed_at: DateTime<Utc>,
    /// An initial or reset password: it must be changed before any token is issued.
    pub must_change: bool,
    /// Consecutive failures since the last success (or unlock).
    pub failed_count: u32,
    pub locked_until: Option<DateTime<Utc>>,
    /// Base32 TOTP secret once enrolled.
    pub totp_secret: Option<String>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// Goes up with every new password (change or reset): what a login form sealed for a password
    /// is bound to, so that it cannot act once the password has changed.
    pub version: i64,
}

/// What `change_password` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordChange {
    /// Set; the credential is now at this version.
    Changed { version: i64 },
    /// Nothing changed: the credential is not at the expected version (or there is none).
    Refused,
}

/// The outcome of recording a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    pub failed_count: u32,
    /// Set when this failure reached the threshold (or the lock was already on).
    pub locked_until: Option<DateTime<Utc>>,
}

/// A client registered with `orgid clients add` (clients from the configuration file are not
/// stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredClient {
    pub id: String,
    pub name: String,
    /// SHA-256 (hex) of the secret; `None`: a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grants: Vec<String>,
    /// The scopes the client may ask for.
    pub scopes: Vec<String>,
    /// `RS256`, `ES256` or `EdDSA`.
    pub id_token_alg: String,
    /// How its access tokens are signed; `None`: the provider's default.
    pub access_token_alg: Option<String>,
    pub require_totp: bool,
    pub created_at: DateTime<Utc>,
    /// `oidc` or `cas`.
    #[serde(default = "oidc")]
    pub protocol: String,
    /// CAS: its service URLs and anchored patterns.
    #[serde(default)]
    pub services: Vec<String>,
    /// OIDC: where its back-channel logout tokens go.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
}

fn oidc() -> String {
    "oidc".into()
}

/// A CAS service ticket (stored by its SHA-256), single-use and bound to its service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasTicket {
    pub ticket_hash: String,
    pub client_id: String,
    /// The service URL exactly as the login asked (validation must name the same).
    pub service: String,
    pub login: String,
    pub session_hash: String,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    /// Issued from a login that presented credentials (not from an existing session): what
    /// `renew=true` at validation asks for.
    pub from_credentials: bool,
    pub expires_at: DateTime<Utc>,
    /// The delegate acting for `login` (delegation by authorization), if any.
    pub actor: Option<String>,
}

/// A client that got a ticket or a token in an SSO session: told (once) when the session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutNotice {
    /// Random id of this notice.
    pub id: String,
    pub session_hash: String,
    pub login: String,
    pub client_id: String,
    /// `cas` (a logout request to `target`, naming `ticket`), `oidc` (a logout token to
    /// `target`, its back-channel URI) or `saml` (a LogoutRequest to `target`, the SP's
    /// HTTP-Redirect SingleLogoutService, through the browser's logout page).
    pub protocol: String,
    pub target: String,
    /// CAS: the service ticket the service's own session was opened with (spent already).
    pub ticket: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Deliveries tried so far.
    pub attempts: u32,
}

/// Why a session's clients are told it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Ended (a logout, a password reset, an administrator, a new login in the browser).
    Ended,
    /// Past its absolute or idle limit.
    Expired,
    /// Its account is no longer active (closed, disabled, its person departed).
    AccountClosed,
}

/// CAS service tickets. (See [`IdpStore`] for transactions and audit.)
#[async_trait]
pub trait CasStore: Send + Sync {
    async fn save_ticket(&self, ticket: &CasTicket) -> Result<(), StoreError>;
    /// Spends a ticket atomically: the first call gets it (expired or not: the caller checks),
    /// every later one `None`, as an unknown ticket does.
    async fn take_ticket(&self, ticket_hash: &str, at: DateTime<Utc>) -> Result<Option<CasTicket>, StoreError>;
}

/// The clients of each SSO session, for single logout: a notice per client (per service ticket
/// for CAS), delivered once the session has ended, retried until it is.
#[async_trait]
pub trait LogoutStore: Send + Sync {
    /// Adds a notice unless one for the same session, client and ticket exists.
    async fn add_notice(&self, notice: &LogoutNotice) -> Result<(), StoreError>;
    /// Notices due at `now` (not delivered, not given up, their retry time reached) of
    /// sessions that ended, expired (absolute, or last seen before `idle_before`) or whose
    /// account can no longer sign in; each claimed until `claim_until` (another replica skips
    /// it until then). At most `limit`.
    async fn logouts_due(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(LogoutNotice, SessionEnd)>, StoreError>;
    /// The notices of one session and protocol not yet delivered nor given up (the SAML SPs its
    /// logout page tells through the browser).
    async fn session_notices(&self, session_hash: &str, protocol: &str) -> Result<Vec<LogoutNotice>, StoreError>;
    /// The notice was delivered, or failed and is tried again at `retry_at` (given up without
    /// one). `audit` (the outcome) is written with it.
    async fn logout_tried(
        &self,
        id: &str,
        delivered: bool,
        retry_at: Option<DateTime<Utc>>,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError>;
}

/// A SAML service provider registered with `orgid clients add --protocol saml`: its client row
/// (id, name, second-factor rule) and this, removed with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSamlSp {
    /// The client id.
    pub id: String,
    /// The SP's metadata document, as given.
    pub metadata: String,
    /// `persistent` or `login`.
    pub name_id: String,
    /// `assertion`, `response` or `both`.
    pub sign: String,
    /// The attributes released to it.
    pub attributes: Vec<String>,
}

/// A signing key. It signs from `created_at` until `retire_at`, and stays published (for
/// verifying the tokens it signed) until `expires_at`.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    /// PKCS#8 DER of the private key.
    pub private_pkcs8: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retire_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retire_at", &self.retire_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An SSO session (the cookie holds the id; the store its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: String,
    pub login: String,
    pub auth_time: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end; the idle end is `last_seen_at` + the configured idle time.
    pub expires_at: DateTime<Utc>,
    /// Authentication methods (`pwd`, `otp`).
    pub amr: Vec<String>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// An authorization code (stored by its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub code_hash: String,
    pub client_id: String,
    pub login: String,
    pub session_hash: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    /// S256 code challenge.
    pub code_challenge: Option<String>,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub expires_at: DateTime<Utc>,
    /// The grant this code was exchanged for, once used.
    pub grant_id: Option<String>,
    /// The delegate acting for `login` (delegation by authorization), if any.
    pub actor: Option<String>,
}

/// What `take_code` found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum CodeTake {
    /// First use: the code is now spent.
    Fresh(CodeRecord),
    /// Already used: the caller revokes what it issued (`grant_id`, if the exchange completed).
    Reused { grant_id: Option<String> },
    /// Unknown.
    Missing,
}

/// A grant: what one authorization (or client-credentials request) issued, revoked as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub id: String,
    pub client_id: String,
    /// `None` for client credentials.
    pub login: Option<String>,
    pub scope: String,
    pub session_hash: Option<String>,
    pub auth_time: Option<DateTime<Utc>>,
    pub amr: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The delegate acting for `login` (delegation by authorization), if any.
    pub actor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

/// An issued token: access tokens by their `jti`, refresh tokens by their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub kind: TokenKind,
    pub grant_id: String,
    pub client_id: String,
    pub login: Option<String>,
    pub scope: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// A refresh token that was exchanged for a new one.
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What `rotate_refresh` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is spent and the new ones are stored.
    Rotated,
    /// The old token had been used before: its whole grant is now revoked.
    Reused { grant_id: String },
    /// Unknown, revoked or expired.
    Invalid,
}

/// A budget of failed attempts for one key (a source address, a typed login): `burst` at once,
/// then one more every `interval`. The generic cell rate algorithm: a key's whole state is one
/// time, its theoretical arrival time (`tat`), which each attempt moves `interval` later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRule {
    /// What is counted; a hash, so that the store keeps neither addresses nor typed logins.
    pub key: String,
    pub burst: u32,
    pub interval: chrono::Duration,
}

impl ThrottleRule {
    /// One more attempt at `now` on a key at `tat` (`None`: a key with no attempts in force):
    /// `Ok` with the key's new time, or `Err` with how long until the budget allows one.
    pub fn charge(&self, tat: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<DateTime<Utc>, chrono::Duration> {
        let next = tat.map_or(now, |t| t.max(now)) + self.interval;
        let window = self.interval * i32::try_from(self.burst).unwrap_or(i32::MAX);
        if next - now > window { Err(next - window - now) } else { Ok(next) }
    }

    /// The key's time once an attempt is given back; `None` when none is left in force.
    pub fn refund(&self, tat: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let back = tat - self.interval;
        (back > now).then_some(back)
    }
}

/// The identity provider's storage: every aggregate's trait at once, for code that uses several
/// (the provider holds an `Arc<dyn IdpStore>`); any store that implements them all is one.
///
/// In all of these traits every method is one transaction; the login writes (`record_failure`,
/// `record_refusal`, `record_success`) may share theirs with concurrent logins (group commit),
/// each still committed with its own records before the call returns.
///
/// Audit: each method that changes what the provider knows takes the audit records of that change
/// and writes them in the same transaction, after the change: if they cannot be written, the
/// change does not happen (`StoreError`). The caller describes the request (who, from where);
/// the store adds only what the caller cannot know, as each method says.
pub trait IdpStore:
    CredentialStore
    + ClientStore
    + SamlSpStore
    + SigningKeyStore
    + SessionStore
    + GrantStore
    + FormStore
    + ThrottleStore
    + IdpUpkeepStore
    + CasStore
    + LogoutStore
    + DelegationStore
{
}

impl<T> IdpStore for T where
    T: CredentialStore
        + ClientStore
        + SamlSpStore
        + SigningKeyStore
        + SessionStore
        + GrantStore
        + FormStore
        + ThrottleStore
        + IdpUpkeepStore
        + CasStore
        + LogoutStore
        + DelegationStore
        + ?Sized
{
}

/// Accounts as the provider sees them, and their credentials: passwords and their history,
/// failures and lockouts, TOTP secrets. (See [`IdpStore`] for transactions and audit.)
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// The account with this login (any status), with its person and company.
    async fn subject(&self, login: &str) -> Result<Option<Subject>, StoreError>;
    async fn credential(&self, login: &str) -> Result<Option<Credential>, StoreError>;
    /// Sets the password hash (creating the credential if needed): failures and lock are cleared,
    /// the previous hash goes to the history, which keeps the newest `keep_history` entries.
    /// `audit`: the password change or reset.
    async fn set_password(
        &self,
        login: &str,
        hash: &str,
        must_change: bool,
        at: DateTime<Utc>,
        keep_history: u32,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError>;
    /// The account holder's new password, from a login form sealed for the credential at
    /// `version`: set as `set_password` sets it (not to be changed again, failures and lock
    /// cleared, history kept to `keep_history`) only if the credential is still at `version`, in
    /// one transaction (of two concurrent calls for one version, one changes the password).
    /// `audit`: the password change, written only if the password changed.
    async fn change_password(
        &self,
        login: &str,
        hash: &str,
        version: i64,
        at: DateTime<Utc>,
        keep_history: u32,
        audit: &[AuditEvent],
    ) -> Result<PasswordChange, StoreError>;
    /// The newest `n` previous password hashes (not counting the current one), newest first.
    async fn password_history(&self, login: &str, n: u32) -> Result<Vec<String>, StoreError>;
    /// One more failed attempt, atomically: at `threshold` failures the login is locked until
    /// `lock_until`. A login without a credential is not counted (returns zero).
    ///
    /// `attempt` (the failed login, at its time) is recorded in every case, an unknown login's
    /// too; when this failure locked the login (no lock in force at `attempt.at` before it, one
    /// after), the lockout is recorded after it (`audit::lifecycle::lockout_event`).
    async fn record_failure(
        &self,
        login: &str,
        threshold: u32,
        lock_until: DateTime<Utc>,
        attempt: &AuditEvent,
    ) -> Result<FailureCount, StoreError>;
    /// A login refused without counting a failure (the account is locked, disabled, or its
    /// person has left): only its record is written.
    async fn record_refusal(&self, attempt: &AuditEvent) -> Result<(), StoreError>;
    /// A successful login: failures cleared, `last_login_at` set. `audit`: the login.
    async fn record_success(&self, login: &str, at: DateTime<Utc>, audit: &[AuditEvent]) -> Result<(), StoreError>;
    /// Clears failures and the lock. `NotFound` without a credential (nothing is recorded).
    async fn unlock(&self, login: &str, audit: &[AuditEvent]) -> Result<(), StoreError>;
    async fn set_totp(&self, login: &str, secret: Option<&str>) -> Result<(), StoreError>;
}

/// Clients registered with `orgid clients add`. (See [`IdpStore`] for transactions and audit.)
#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn clients(&self) -> Result<Vec<StoredClient>, StoreError>;
    /// `Conflict` if the id is taken (nothing is recorded).
    async fn add_client(&self, client: &StoredClient, audit: &[AuditEvent]) -> Result<(), StoreError>;
    /// Removes the client and revokes its grants. `NotFound` if there is none (nothing is
    /// recorded).
    async fn remove_client(&self, id: &str, at: DateTime<Utc>, audit: &[AuditEvent]) -> Result<(), StoreError>;
}

/// SAML service providers registered in the store. (See [`IdpStore`] for transactions and
/// audit.) Removing the client (`ClientStore::remove_client`) removes its SAML data.
#[async_trait]
pub trait SamlSpStore: Send + Sync {
    async fn saml_sps(&self) -> Result<Vec<StoredSamlSp>, StoreError>;
    /// Adds the client and its SAML data together. `Conflict` if the id is taken (nothing is
    /// recorded).
    async fn add_saml_sp(
        &self,
        client: &StoredClient,
        sp: &StoredSamlSp,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError>;
}

/// The provider's signing keys, shared by replicas. (See [`IdpStore`] for transactions and
/// audit.)
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every key not yet expired at `now`, newest first.
    async fn signing_keys(&self, now: DateTime<Utc>) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Adds a key unless another replica added one created after `unless_newer_than` (then the
    /// call does nothing, records nothing and returns false). `audit`: the key rotation.
    async fn add_signing_key(
        &self,
        key: &SigningKeyRecord,
        unless_newer_than: DateTime<Utc>,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError>;
}

/// SSO sessions; ending one revokes the grants issued through it. (See [`IdpStore`] for
/// transactions and audit.)
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Ends the session and revokes the grants issued through it. `audit` (the logout) is
    /// recorded only if this call ended the session or revoked a grant.
    async fn end_session(&self, id_hash: &str, at: DateTime<Utc>, audit: &[AuditEvent]) -> Result<(), StoreError>;
    /// Ends every session of a login and revokes all its grants (account closed, password reset).
    /// `audit` is recorded only if this call ended a session or revoked a grant.
    async fn end_sessions_of(&self, login: &str, at: DateTime<Utc>, audit: &[AuditEvent]) -> Result<(), StoreError>;
}

/// Authorization codes, the grants they (or client credentials) open, and the tokens a grant
/// issues. (See [`IdpStore`] for transactions and audit.)
#[async_trait]
pub trait GrantStore: Send + Sync {
    async fn save_code(&self, code: &CodeRecord) -> Result<(), StoreError>;
    /// Spends a code atomically (see `CodeTake`). An expired code is `Missing`.
    ///
    /// `reuse` is recorded when the code is `Reused` (and only then), with the code's login as
    /// subject when it names none and the grant it issued (`grant_id` attribute) when there is
    /// one.
    async fn take_code(&self, code_hash: &str, at: DateTime<Utc>, reuse: &AuditEvent) -> Result<CodeTake, StoreError>;
    /// Stores a grant with its first tokens; with `code_hash`, links the spent code to it.
    /// `audit`: the tokens issued.
    async fn create_grant(
        &self,
        grant: &GrantRecord,
        tokens: &[TokenRecord],
        code_hash: Option<&str>,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError>;
    async fn grant(&self, id: &str) -> Result<Option<GrantRecord>, StoreError>;
    /// The clients that got a code or a grant in the SSO session `session_hash`, each once.
    async fn session_clients(&self, session_hash: &str) -> Result<Vec<String>, StoreError>;
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Spends refresh token `old` and stores `new` (same grant), atomically; see `Rotation`.
    /// `issued` is recorded when `Rotated`, `reused` when `Reused`, nothing when `Invalid`.
    async fn rotate_refresh(
        &self,
        old: &str,
        new: &[TokenRecord],
        at: DateTime<Utc>,
        issued: &AuditEvent,
        reused: &AuditEvent,
    ) -> Result<Rotation, StoreError>;
    async fn revoke_grant(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records the issue of a self-contained access token (client credentials: no grant, no
    /// token record): `audit` names its `jti`. Returns once that record has committed; records
    /// committed together are merged (see [`crate::audit::merge_issued`]).
    async fn record_issued(&self, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Revokes a self-contained access token by its `jti` until it expires anyway.
    async fn revoke_access(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Whether a self-contained access token was revoked (`Revoked`), or its client removed
    /// since it was issued (the time of the removal).
    async fn access_standing(&self, jti: &str, client_id: &str) -> Result<AccessStanding, StoreError>;
}

/// What the store knows of a self-contained access token (see `GrantStore::access_standing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccessStanding {
    /// Revoked by its `jti`.
    pub revoked: bool,
    /// When its client was last removed: tokens issued until then are dead.
    pub client_removed_at: Option<DateTime<Utc>>,
}

/// The login flow's forms, spent: each form token (a pending login, a logout confirmation) acts
/// once. Kept by the SHA-256 of the token's id until the token has expired anyway.
#[async_trait]
pub trait FormStore: Send + Sync {
    /// Spends the form `form_hash`: true the first time, false if it was spent already (also by
    /// a concurrent call: exactly one of them gets true).
    async fn spend_form(&self, form_hash: &str, expires_at: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// Budgets of failed logins, shared by replicas (see [`ThrottleRule`]).
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Charges one attempt at `at` to every rule's key, atomically: all of them, or none when a
    /// key's budget is spent (then `Some` with the longest wait any spent key asks for).
    async fn charge_attempt(
        &self,
        rules: &[ThrottleRule],
        at: DateTime<Utc>,
    ) -> Result<Option<chrono::Duration>, StoreError>;
    /// Gives back an attempt charged to each rule's key (a login that succeeded, or was never
    /// checked).
    async fn refund_attempt(&self, rules: &[ThrottleRule], at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// Housekeeping across the aggregates: what expired goes, in one transaction.
#[async_trait]
pub trait IdpUpkeepStore: Send + Sync {
    /// Deletes expired codes, tokens, sessions, keys, spent forms and throttle budgets back to
    /// full; returns how many rows went.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{Duration, TimeZone};

    use super::*;

    #[test]
    fn a_throttle_allows_its_burst_then_one_per_interval_and_refunds() {
        let rule = ThrottleRule { key: "k".into(), burst: 3, interval: Duration::seconds(100) };
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut tat = None;
        for i in 1..=3 {
            tat = Some(rule.charge(tat, t0).unwrap());
            assert_eq!(tat, Some(t0 + Duration::seconds(100 * i)));
        }
        assert_eq!(rule.charge(tat, t0), Err(Duration::seconds(100)), "the fourth waits one interval");
        assert_eq!(rule.charge(tat, t0 + Duration::seconds(40)), Err(Duration::seconds(60)));
        let later = t0 + Duration::seconds(100);
        assert_eq!(rule.charge(tat, later), Ok(t0 + Duration::seconds(400)), "one more after an interval");
        // A refund gives one back; none is left in force once the time has passed.
        assert_eq!(rule.refund(t0 + Duration::seconds(300), t0), Some(t0 + Duration::seconds(200)));
        assert_eq!(rule.refund(t0 + Duration::seconds(100), t0), None);
        // Long after, a key starts from a full budget again.
        assert_eq!(rule.charge(tat, t0 + Duration::hours(1)), Ok(t0 + Duration::hours(1) + Duration::seconds(100)));
    }
}
