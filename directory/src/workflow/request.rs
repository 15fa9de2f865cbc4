//! Requests (open / adjust / close), their approval chain and their states.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Role;
use crate::audit::event::text_enum;
use crate::{Company, OperatingMode, PersonKey, Profile, Tier};

text_enum!(
    /// What a request asks for.
    RequestKind {
        /// Form 1 (账号开通信息收集表).
        Open = "open",
        /// Form 2 (账号调整信息收集表): in-company or cross-company move.
        Adjust = "adjust",
        /// A departure or a move out of eligibility.
        Close = "close",
    }
);

text_enum!(
    /// Where a request came from.
    Origin {
        Import = "import",
        Sync = "sync",
        Api = "api",
        Console = "console",
        Cli = "cli",
    }
);

text_enum!(
    /// Where a request is in its life.
    RequestState {
        /// Waiting for one or more approvals.
        Pending = "pending",
        /// Finally approved, not applied yet.
        Approved = "approved",
        Rejected = "rejected",
        /// Applied to the store (and queued for the directory).
        Applied = "applied",
        /// Applying failed; kept with its error and retried.
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

text_enum!(
    /// One approval a request needs.
    Step {
        StrategyOffice = "strategy_office",
        GroupHr = "group_hr",
        ConfidentialOffice = "confidential_office",
    }
);

impl Step {
    /// The role that approves this step.
    pub fn role(self) -> Role {
        match self {
            Step::StrategyOffice => Role::StrategyOffice,
            Step::GroupHr => Role::GroupHr,
            Step::ConfidentialOffice => Role::ConfidentialOffice,
        }
    }
}

impl RequestState {
    /// Whether nothing more will happen to the request.
    pub fn is_final(self) -> bool {
        matches!(self, RequestState::Rejected | RequestState::Applied | RequestState::Cancelled)
    }
}

/// One decision on one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub step: Step,
    pub by: String,
    pub at: DateTime<Utc>,
    pub approve: bool,
    pub comment: String,
}

/// A request. It never holds the ID number: only the person key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// 0 until stored.
    pub id: i64,
    pub kind: RequestKind,
    /// The responsible company: the new one for open/adjust, the old one for close.
    pub company: crate::CompanyCode,
    pub person_key: PersonKey,
    pub employee_number: String,
    pub name: String,
    /// The person after the request.
    pub profile: Profile,
    /// The person before (adjust, close).
    pub before: Option<Profile>,
    /// Hire, move or leaving date.
    pub effective_date: Option<NaiveDate>,
    pub origin: Origin,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub state: RequestState,
    pub chain: Vec<Step>,
    pub approvals: Vec<Approval>,
    /// The final approval.
    pub approved_at: Option<DateTime<Utc>>,
    /// When it must be applied by (the SLA).
    pub due: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl Request {
    /// The steps nobody has approved yet.
    pub fn open_steps(&self) -> Vec<Step> {
        self.chain.iter().copied().filter(|s| !self.approvals.iter().any(|a| a.step == *s && a.approve)).collect()
    }

    /// Whether the move changes the company.
    pub fn is_move(&self) -> bool {
        self.before.as_ref().is_some_and(|b| b.company != self.profile.company)
    }

    /// Records a decision; returns the new state (`Approved` when it was the last step, `Rejected`
    /// for a rejection). The caller has checked the principal may decide `step`.
    pub fn decide(&mut self, approval: Approval) -> RequestState {
        let approve = approval.approve;
        let at = approval.at;
        self.approvals.push(approval);
        if !approve {
            self.state = RequestState::Rejected;
            self.done_at = Some(at);
        } else if self.open_steps().is_empty() {
            self.state = RequestState::Approved;
            self.approved_at = Some(at);
        }
        self.state
    }
}

/// The approvals a request of `company` needs (`domain.md`, seed 000 articles 11–12):
/// - a confidential post: the confidential office, which hands it to the IT center (art. 11(四));
///   group HR too only when `confidential_group_hr` (another group's rule);
/// - an independent company's delegate acting there, for a rated company: none (the delegate acts
///   directly);
/// - otherwise group HR, plus the strategy office first for an unrated company.
pub fn approval_chain(
    company: &Company,
    confidential: bool,
    requester_is_company_it: bool,
    confidential_group_hr: bool,
) -> Vec<Step> {
    if confidential {
        return if confidential_group_hr {
            vec![Step::GroupHr, Step::ConfidentialOffice]
        } else {
            vec![Step::ConfidentialOffice]
        };
    }
    let unrated = company.tier == Tier::Unrated;
    if company.mode == OperatingMode::Independent && requester_is_company_it && !unrated {
        return Vec::new();
    }
    let mut chain = Vec::with_capacity(2);
    if unrated {
        chain.push(Step::StrategyOffice);
    }
    chain.push(Step::GroupHr);
    chain
}
