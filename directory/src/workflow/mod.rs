//! Delegation and the account lifecycle workflow (seed 000 articles 8–14, `domain.md`): roles
//! scoped to companies, requests with their approval chains, permission checks, the working-day
//! calendar and the SLA with its penalties. Pure: the daemon's `workflow` service enforces it.

pub mod calendar;
pub mod request;
pub mod roles;
pub mod roster;
pub mod rules;
pub mod sla;

pub use calendar::{Calendar, CalendarError};
pub use request::{Approval, Origin, Request, RequestKind, RequestState, Step, approval_chain};
pub use roles::{Principal, Role, RoleGrant, is_descendant};
pub use roster::{CheckKind, RosterCheck, approve_pending, split_independent};
pub use rules::Denied;
pub use sla::{SlaRow, SlaRules};

use serde::{Deserialize, Serialize};

use crate::CompanyCode;

/// A role to grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewGrant {
    pub login: String,
    pub role: Role,
    pub company: CompanyCode,
    pub subtree: bool,
    pub granted_by: String,
    pub granted_at: chrono::DateTime<chrono::Utc>,
}

/// Which requests to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFilter {
    pub state: Option<RequestState>,
    pub company: Option<CompanyCode>,
    pub person_key: Option<crate::PersonKey>,
    pub kind: Option<RequestKind>,
}

impl RequestFilter {
    /// Whether `r` passes.
    pub fn matches(&self, r: &Request) -> bool {
        self.state.is_none_or(|s| s == r.state)
            && self.company.as_ref().is_none_or(|c| c == &r.company)
            && self.person_key.as_ref().is_none_or(|k| k == &r.person_key)
            && self.kind.is_none_or(|k| k == r.kind)
    }
}

#[cfg(test)]
mod tests;
