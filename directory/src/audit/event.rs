//! The audit event: what happened, to whom, by whom, from where, and what changed. Typed where it
//! is built (`AuditEvent`), plain text where it is stored and hashed (`AuditFields`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::text::{self, MAX_LONG, MAX_SHORT};
use crate::plan::FieldChange;
use crate::{CompanyCode, RunId};

/// An enum stored as text: `ALL`, `as_str`, `Display`, `FromStr` (with the valid values in its
/// error) and snake_case serde. Used by the audit and workflow models.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),* }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim() {
                    $($s => Ok($name::$v),)*
                    o => Err(format!(
                        "unknown {} `{}` (one of: {})",
                        stringify!($name),
                        $crate::audit::text::clean(o, $crate::audit::text::MAX_SHORT),
                        [$($s),*].join(", ")
                    )),
                }
            }
        }
    };
}

pub(crate) use text_enum;

text_enum!(
    /// The type of an event.
    EventKind {
        /// An interactive login; the outcome says whether it succeeded, the reason why not.
        Login = "login",
        Logout = "logout",
        /// An OIDC token endpoint grant: the client and the grant type.
        TokenIssued = "token_issued",
        /// A CAS service ticket presented for validation: success (the service got the user)
        /// or failure (the CAS error code as the reason).
        CasValidate = "cas.validate",
        /// A single-logout notice (CAS logout request, OIDC logout token) delivered to a client,
        /// or given up after its retries.
        SingleLogout = "single_logout",
        /// A person let a colleague act for them (delegation by authorization).
        DelegationGrant = "delegation.grant",
        /// A grant of delegation was revoked before its end.
        DelegationRevoke = "delegation.revoke",
        /// A delegate chose to act for a principal in a client (actor: the delegate; subject:
        /// the principal); or was refused (the reason).
        DelegationAct = "delegation.act",
        /// A refresh token presented again after it was used: the family is revoked.
        RefreshReuse = "refresh_reuse",
        /// An authorization code presented a second time: its grant is revoked.
        CodeReuse = "code_reuse",
        /// The account holder changed their password.
        PasswordChange = "password_change",
        /// An administrator or delegate set a new password.
        PasswordReset = "password_reset",
        Lockout = "lockout",
        Unlock = "unlock",
        AccountOpen = "account_open",
        AccountReopen = "account_reopen",
        AccountAdjust = "account_adjust",
        AccountMove = "account_move",
        AccountClose = "account_close",
        /// The account waits for the approval of an unrated company's people.
        AccountPendingApproval = "account_pending_approval",
        /// The directory entry of a long-disabled account was deleted.
        AccountPurge = "account_purge",
        AccountApproval = "account_approval",
        AccountRejection = "account_rejection",
        /// A sync or import ended (applied or failed); the reason is its status.
        SyncFinished = "sync_finished",
        /// A safety limit held a run for approval.
        SyncHeld = "sync_held",
        /// A held run was approved and applied.
        SyncApproved = "sync_approved",
        /// Directory drift found and repaired.
        ReconcileRepair = "reconcile_repair",
        ConfigReload = "config_reload",
        /// An administrator registered an OIDC client.
        ClientAdd = "client_add",
        /// An administrator removed an OIDC client (its grants are revoked).
        ClientRemove = "client_remove",
        /// A signing key (OIDC or audit checkpoints) was replaced.
        KeyRotation = "key_rotation",
        /// Audit records past their retention were deleted.
        AuditPurge = "audit_purge",
        /// A role was granted to a login for a company.
        RoleGrant = "role.grant",
        RoleRevoke = "role.revoke",
        /// An open / adjust / close request was submitted.
        RequestSubmit = "request.submit",
        /// One step of a request was approved.
        RequestApprove = "request.approve",
        RequestReject = "request.reject",
        RequestCancel = "request.cancel",
        /// An approved request was applied to the store (and queued for the directory).
        RequestApply = "request.apply",
        /// Applying a request failed; it is retried.
        RequestFail = "request.fail",
        /// A company's operating mode was changed.
        CompanyMode = "company.mode",
        /// A workflow action was refused; the reason is the refusal's code.
        AccessDenied = "access.denied",
        /// A snapshot of the store was written (`orgid backup`, the schedule) or could not be.
        Backup = "backup",
        /// An alert rule fired and its notice was sent (success) or could not be (failure).
        Alert = "alert",
        /// A target refused an operation too many times: it waits, parked, for an operator.
        OutboxPark = "outbox.park",
    }
);

text_enum!(
    AuditOutcome {
        Success = "success",
        Failure = "failure",
    }
);

text_enum!(
    /// Why a login failed.
    LoginFailure {
        UnknownUser = "unknown_user",
        BadPassword = "bad_password",
        Locked = "locked",
        Disabled = "disabled",
        /// The person has left the company (the account may not be closed yet).
        Departed = "departed",
        /// The account has no password yet.
        NoPassword = "no_password",
        PasswordExpired = "password_expired",
        /// The initial password must be changed before the first login.
        InitialPassword = "initial_password",
        SecondFactorFailed = "second_factor_failed",
        /// Refused before the password was checked: too many failures from the address or for
        /// the login typed.
        Throttled = "throttled",
        /// A sign-in through another platform (WeCom) that it did not vouch for: a code it calls
        /// invalid, spent or expired, or a sign-in state forged, replayed or from another browser.
        ExternalRefused = "external_refused",
    }
);

text_enum!(
    /// The kind of actor; see `Actor`.
    ActorKind {
        User = "user",
        Run = "run",
        Delegate = "delegate",
        Admin = "admin",
        System = "system",
    }
);

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Actor {
    /// The account holder (or whoever typed that login), acting for themselves.
    User(String),
    /// A sync or import run of the ledger.
    Run(RunId),
    /// A delegate of a company, by login.
    Delegate(String),
    /// An administrator, by login (or `cli` for the operator's command line).
    Admin(String),
    /// A job of orgid itself: `schedule`, `reconcile`, `purge`, `idp`, …
    System(String),
}

impl Actor {
    pub fn kind(&self) -> ActorKind {
        match self {
            Actor::User(_) => ActorKind::User,
            Actor::Run(_) => ActorKind::Run,
            Actor::Delegate(_) => ActorKind::Delegate,
            Actor::Admin(_) => ActorKind::Admin,
            Actor::System(_) => ActorKind::System,
        }
    }

    pub fn id(&self) -> String {
        match self {
            Actor::User(s) | Actor::Delegate(s) | Actor::Admin(s) | Actor::System(s) => s.clone(),
            Actor::Run(r) => r.to_string(),
        }
    }
}

/// Where a request came from, as the idp sees it. `session_id` is the public session identifier
/// (the OIDC `sid`), never the cookie value that proves the session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub client_id: Option<String>,
}

/// What changed and anything else worth keeping. Values whose name says secret are never kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

impl Details {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.attrs.is_empty()
    }

    /// The cleaned copy that is stored: secret values redacted, text cleaned and bounded.
    fn cleaned(&self) -> Details {
        let value = |name: &str, v: &str| {
            if text::is_secret_name(name) { text::REDACTED.into() } else { text::clean(v, MAX_LONG) }
        };
        Details {
            changes: self
                .changes
                .iter()
                .map(|c| FieldChange {
                    field: text::clean(&c.field, MAX_SHORT),
                    before: value(&c.field, &c.before),
                    after: value(&c.field, &c.after),
                })
                .collect(),
            attrs: self.attrs.iter().map(|(k, v)| (text::clean(k, MAX_SHORT), value(k, v))).collect(),
        }
    }
}

/// One event, as the code that observed it describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub outcome: AuditOutcome,
    pub actor: Actor,
    /// The subject account's login.
    pub login: Option<String>,
    /// The subject account's company (a delegate sees the records of their company).
    pub company: Option<CompanyCode>,
    pub client_id: Option<String>,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub reason: Option<String>,
    pub details: Details,
}

impl AuditEvent {
    pub fn new(at: DateTime<Utc>, kind: EventKind, outcome: AuditOutcome, actor: Actor) -> Self {
        AuditEvent {
            at,
            kind,
            outcome,
            actor,
            login: None,
            company: None,
            client_id: None,
            source_ip: None,
            user_agent: None,
            session_id: None,
            reason: None,
            details: Details::default(),
        }
    }

    /// The subject account.
    pub fn subject(mut self, login: &str, company: Option<&CompanyCode>) -> Self {
        self.login = Some(login.to_string());
        self.company = company.cloned();
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn context(mut self, ctx: &RequestContext) -> Self {
        self.source_ip = ctx.source_ip;
        self.user_agent = ctx.user_agent.clone();
        self.session_id = ctx.session_id.clone();
        self.client_id = ctx.client_id.clone().or(self.client_id);
        self
    }

    pub fn client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_string());
        self
    }

    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.details.attrs.insert(name.to_string(), value.into());
        self
    }

    pub fn changes(mut self, changes: Vec<FieldChange>) -> Self {
        self.details.changes = changes;
        self
    }

    /// A successful login of `login`.
    pub fn login_succeeded(
        at: DateTime<Utc>,
        login: &str,
        company: Option<&CompanyCode>,
        ctx: &RequestContext,
    ) -> Self {
        AuditEvent::new(at, EventKind::Login, AuditOutcome::Success, Actor::User(login.into()))
            .subject(login, company)
            .context(ctx)
    }

    /// A failed login. For `UnknownUser`, `login` is the name that was typed and `company` `None`.
    pub fn login_failed(
        at: DateTime<Utc>,
        login: &str,
        company: Option<&CompanyCode>,
        why: LoginFailure,
        ctx: &RequestContext,
    ) -> Self {
        AuditEvent::new(at, EventKind::Login, AuditOutcome::Failure, Actor::User(login.into()))
            .subject(login, company)
            .reason(why.as_str())
            .context(ctx)
    }

    /// A token endpoint grant (`authorization_code`, `refresh_token`, `client_credentials`).
    pub fn token_issued(
        at: DateTime<Utc>,
        login: Option<&str>,
        company: Option<&CompanyCode>,
        client_id: &str,
        grant: &str,
        ctx: &RequestContext,
    ) -> Self {
        let actor = login.map_or_else(|| Actor::System(format!("client:{client_id}")), |l| Actor::User(l.into()));
        let mut e =
            AuditEvent::new(at, EventKind::TokenIssued, AuditOutcome::Success, actor).context(ctx).client(client_id);
        e.login = login.map(str::to_string);
        e.company = company.cloned();
        e.attr("grant", grant)
    }

    /// Done by `delegate` acting for the subject (delegation by authorization): the delegate is
    /// the actor, and the `act` attribute names them. `None` changes nothing.
    pub fn acted_by(mut self, delegate: Option<&str>) -> Self {
        if let Some(d) = delegate {
            self.actor = Actor::User(d.into());
            self = self.attr("act", d);
        }
        self
    }

    /// The text form that is stored and hashed: cleaned, bounded, secrets and ID numbers removed,
    /// the time in whole milliseconds (as the store keeps it).
    pub fn fields(&self) -> AuditFields {
        let short = |s: &Option<String>| text::clean_opt(s.as_deref(), MAX_SHORT);
        let details = self.details.cleaned();
        AuditFields {
            at: DateTime::from_timestamp_millis(self.at.timestamp_millis()).unwrap_or(self.at),
            kind: self.kind.as_str().into(),
            outcome: self.outcome.as_str().into(),
            actor_kind: self.actor.kind().as_str().into(),
            actor: text::clean(&self.actor.id(), MAX_SHORT),
            login: short(&self.login),
            company: text::clean_opt(self.company.as_ref().map(|c| c.0.as_str()), MAX_SHORT),
            client_id: short(&self.client_id),
            source_ip: self.source_ip.map(|ip| ip.to_canonical().to_string()),
            user_agent: text::clean_opt(self.user_agent.as_deref(), MAX_LONG),
            session_id: short(&self.session_id),
            reason: text::clean_opt(self.reason.as_deref(), MAX_LONG),
            // Serialising a struct of strings cannot fail; an empty value is stored as none.
            details: (!details.is_empty()).then(|| serde_json::to_string(&details).unwrap_or_default()),
        }
    }
}

/// An event as stored: every field text (or none), exactly the bytes the hash covers. Serialised
/// for exports with `type` for the kind and the details as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFields {
    pub at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: String,
    pub outcome: String,
    pub actor_kind: String,
    pub actor: String,
    pub login: Option<String>,
    pub company: Option<String>,
    pub client_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub reason: Option<String>,
    /// JSON of `Details`, or none.
    #[serde(serialize_with = "details_as_json")]
    pub details: Option<String>,
}

/// The stored JSON as JSON (a hand-edited value that does not parse, as a string).
fn details_as_json<S: serde::Serializer>(d: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match d.as_deref().map(|d| serde_json::from_str::<serde_json::Value>(d).map_err(|_| d)) {
        None => s.serialize_none(),
        Some(Ok(v)) => v.serialize(s),
        Some(Err(raw)) => s.serialize_str(raw),
    }
}

impl AuditFields {
    /// The details, if they parse (a hand-edited row may not).
    pub fn details(&self) -> Option<Details> {
        self.details.as_deref().and_then(|d| serde_json::from_str(d).ok())
    }

    pub fn kind(&self) -> Option<EventKind> {
        self.kind.parse().ok()
    }

    pub fn is_failure(&self) -> bool {
        self.outcome == AuditOutcome::Failure.as_str()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn t() -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_714_521_600_123_456).unwrap()
    }

    #[test]
    fn every_kind_outcome_reason_and_actor_round_trips_as_text() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(*k));
        }
        for o in AuditOutcome::ALL {
            assert_eq!(o.as_str().parse::<AuditOutcome>(), Ok(*o));
        }
        for r in LoginFailure::ALL {
            assert_eq!(r.as_str().parse::<LoginFailure>(), Ok(*r));
        }
        for a in ActorKind::ALL {
            assert_eq!(a.as_str().parse::<ActorKind>(), Ok(*a));
        }
        let e = "nope\n".parse::<EventKind>().unwrap_err();
        assert!(e.contains("unknown EventKind `nope`") && e.contains("login"), "{e}");
    }

    #[test]
    fn fields_are_cleaned_and_keep_milliseconds() {
        let ctx = RequestContext {
            source_ip: Some("::ffff:10.1.2.3".parse().unwrap()),
            user_agent: Some("Mozilla/5.0\r\nX-Injected: 1".into()),
            session_id: Some("sid-1".into()),
            client_id: Some("oa".into()),
        };
        let f = AuditEvent::login_failed(t(), "zhangsan\n", Some(&CompanyCode("A".into())), LoginFailure::Locked, &ctx)
            .fields();
        assert_eq!(f.at.timestamp_millis(), 1_714_521_600_123);
        assert_eq!(f.at.timestamp_subsec_micros(), 123_000);
        assert_eq!(f.kind, "login");
        assert_eq!(f.outcome, "failure");
        assert_eq!((f.actor_kind.as_str(), f.actor.as_str()), ("user", "zhangsan"));
        assert_eq!(f.login.as_deref(), Some("zhangsan"));
        assert_eq!(f.source_ip.as_deref(), Some("10.1.2.3"), "IPv4-mapped addresses are shown as IPv4");
        assert_eq!(f.user_agent.as_deref(), Some("Mozilla/5.0 X-Injected: 1"));
        assert_eq!(f.reason.as_deref(), Some("locked"));
        assert_eq!(f.details, None);
    }

    #[test]
    fn secrets_and_id_numbers_never_reach_the_fields() {
        let f = AuditEvent::new(t(), EventKind::PasswordReset, AuditOutcome::Success, Actor::Admin("root".into()))
            .subject("lisi", None)
            .attr("new_password", "hunter2")
            .attr("note", "id 110105194912310021 checked")
            .changes(vec![FieldChange { field: "client_secret".into(), before: "a".into(), after: "b".into() }])
            .fields();
        let d = f.details.unwrap();
        assert!(!d.contains("hunter2") && !d.contains("110105194912310021"), "{d}");
        assert!(d.contains(text::REDACTED) && d.contains(text::ID_REMOVED), "{d}");
    }

    #[test]
    fn token_grants_name_the_client_and_grant() {
        let e = AuditEvent::token_issued(t(), None, None, "reports", "client_credentials", &RequestContext::default());
        let f = e.fields();
        assert_eq!((f.actor_kind.as_str(), f.actor.as_str()), ("system", "client:reports"));
        assert_eq!(f.client_id.as_deref(), Some("reports"));
        assert_eq!(e.details.attrs.get("grant").map(String::as_str), Some("client_credentials"));
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["type"], "token_issued");
        assert_eq!(json["details"]["attrs"]["grant"], "client_credentials", "details export as JSON");
        let raw = AuditFields { details: Some("{not json".into()), ..f };
        assert_eq!(serde_json::to_value(&raw).unwrap()["details"], "{not json", "a hand-edited value as it is");
    }
}
