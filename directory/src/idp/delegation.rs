//! Delegation by authorization: a person (the principal) lets a colleague (the delegate) act for
//! them in named clients, or in all, for a period. The delegate signs in as themselves and
//! chooses to act for the principal; what is issued then names the principal as its subject and
//! the delegate as its actor (RFC 8693 `act`).
//!
//! A grant ends on its date, on revocation, or when either account can no longer sign in (the
//! last is checked where it is used: the provider asks whether both accounts are active).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::StoreError;
use crate::audit::AuditEvent;

/// One grant of delegation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delegation {
    /// Random id (what revocation names).
    pub id: String,
    /// Whose rights are delegated (a login).
    pub principal: String,
    /// Who may act for them (a login).
    pub delegate: String,
    /// The client ids it covers; empty: every client.
    pub clients: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Who granted it: the principal's login, or `admin:NAME` for an operator.
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

impl Delegation {
    /// In force at `now` (started, not ended, not revoked); the accounts are the caller's check.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.starts_at <= now && now < self.ends_at
    }

    /// Covers `client_id` (named, or every client).
    pub fn covers(&self, client_id: &str) -> bool {
        self.clients.is_empty() || self.clients.iter().any(|c| c == client_id)
    }

    /// Lets its delegate act for its principal in `client_id` at `now`.
    pub fn allows(&self, client_id: &str, now: DateTime<Utc>) -> bool {
        self.in_force(now) && self.covers(client_id)
    }
}

/// Why a grant of delegation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DelegationRefusal {
    #[error("a person cannot delegate to themselves")]
    ToSelf,
    #[error("the period ends before it starts")]
    EmptyPeriod,
    #[error("the period is longer than a year")]
    TooLong,
}

/// The checks of a new grant (the accounts' existence is the caller's).
pub fn check_new(d: &Delegation) -> Result<(), DelegationRefusal> {
    if d.principal == d.delegate {
        return Err(DelegationRefusal::ToSelf);
    }
    if d.ends_at <= d.starts_at {
        return Err(DelegationRefusal::EmptyPeriod);
    }
    if d.ends_at - d.starts_at > chrono::Duration::days(366) {
        return Err(DelegationRefusal::TooLong);
    }
    Ok(())
}

/// Something done in a principal's name by a delegate, as the audit trail has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DelegatedAct {
    pub at: DateTime<Utc>,
    /// The audit kind (`delegation.act`, `token_issued`, `cas.validate`).
    pub kind: String,
    pub outcome: String,
    /// The delegate's login.
    pub delegate: String,
    pub client_id: Option<String>,
}

/// Grants of delegation. (See [`super::IdpStore`] for transactions and audit.)
#[async_trait]
pub trait DelegationStore: Send + Sync {
    /// `audit`: the grant.
    async fn add_delegation(&self, d: &Delegation, audit: &[AuditEvent]) -> Result<(), StoreError>;
    /// Revokes a grant in force and every OIDC grant (and its tokens) issued under it (those of
    /// its principal with its delegate as actor). `Ok(None)` if there is no such grant, or it
    /// was revoked already (nothing is recorded). `audit`: the revocation.
    async fn revoke_delegation(
        &self,
        id: &str,
        by: &str,
        at: DateTime<Utc>,
        audit: &[AuditEvent],
    ) -> Result<Option<Delegation>, StoreError>;
    /// The grants where `login` is principal or delegate (every grant when `None`), newest first.
    async fn delegations(&self, login: Option<&str>) -> Result<Vec<Delegation>, StoreError>;
    async fn delegation(&self, id: &str) -> Result<Option<Delegation>, StoreError>;
    /// The newest `limit` records of the audit trail of what others did as `principal` (its
    /// subject, a user other than them the actor), newest first.
    async fn delegated_acts(&self, principal: &str, limit: u32) -> Result<Vec<DelegatedAct>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(start: i64, end: i64) -> Delegation {
        Delegation {
            id: "d".into(),
            principal: "wangfang".into(),
            delegate: "lina".into(),
            clients: vec!["oa".into()],
            starts_at: DateTime::from_timestamp(start, 0).unwrap_or_default(),
            ends_at: DateTime::from_timestamp(end, 0).unwrap_or_default(),
            created_at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            created_by: "wangfang".into(),
            revoked_at: None,
            revoked_by: None,
        }
    }

    #[test]
    fn a_grant_allows_its_clients_in_its_period_until_revoked() {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let g = d(100, 200);
        assert!(g.allows("oa", at(100)) && g.allows("oa", at(199)));
        assert!(!g.allows("oa", at(99)) && !g.allows("oa", at(200)), "not before, not at its end");
        assert!(!g.allows("hr", at(150)), "another client");
        assert!(Delegation { clients: vec![], ..g.clone() }.allows("hr", at(150)), "every client");
        assert!(!Delegation { revoked_at: Some(at(120)), ..g }.allows("oa", at(150)));
    }

    #[test]
    fn new_grants_are_checked() {
        assert_eq!(check_new(&d(0, 100)), Ok(()));
        assert_eq!(check_new(&d(100, 100)), Err(DelegationRefusal::EmptyPeriod));
        assert_eq!(check_new(&d(0, 400 * 86_400)), Err(DelegationRefusal::TooLong));
        assert_eq!(check_new(&Delegation { delegate: "wangfang".into(), ..d(0, 100) }), Err(DelegationRefusal::ToSelf));
    }
}
