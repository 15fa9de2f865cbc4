//! Who may do what, for which company. Every check returns `Denied` with a stable code; the
//! service audits every refusal.

use serde::Serialize;

use super::{Principal, Request, Role, Step};
use crate::{AccountStatus, Company, CompanyCode, CompanyIndex, OperatingMode, StoredPerson};

/// A refusal: a stable code for programs, a reason in English (the API and the audit trail keep
/// it), and for people a message key with its values: the console reads the text of
/// `denied.<message>` from its catalogues (zh-CN first) and fills in `args` (an arg named `role`
/// holds a role's code, shown in the page's words).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct Denied {
    pub code: &'static str,
    pub reason: String,
    #[serde(skip)]
    pub message: &'static str,
    #[serde(skip)]
    pub args: Vec<(&'static str, String)>,
}

impl Denied {
    pub fn new(
        code: &'static str,
        reason: impl Into<String>,
        message: &'static str,
        args: Vec<(&'static str, String)>,
    ) -> Self {
        Denied { code, reason: reason.into(), message, args }
    }
}

/// The company is outside everything the principal's roles reach.
pub fn out_of_scope(who: &Principal, company: &CompanyCode) -> Denied {
    Denied::new(
        "out_of_scope",
        format!("{} has no role for company {company}", who.login),
        "out_of_scope",
        vec![("login", who.login.clone()), ("company", company.to_string())],
    )
}

/// Whether a role with group-wide duties (group HR, group IT) reaches `company`.
fn group_role(who: &Principal, company: &CompanyCode, index: &CompanyIndex) -> bool {
    who.has(Role::GroupHr, company, index) || who.has(Role::GroupItAdmin, company, index)
}

/// Submitting a request for `company`: its HR; its IT delegate if it is independent; group HR or
/// group IT over it; the confidential office for confidential posts.
pub fn can_submit(who: &Principal, company: &Company, confidential: bool, index: &CompanyIndex) -> Result<(), Denied> {
    let c = &company.code;
    if who.has(Role::CompanyHr, c, index)
        || (company.mode == OperatingMode::Independent && who.has(Role::CompanyIt, c, index))
        || group_role(who, c, index)
        || (confidential && who.has(Role::ConfidentialOffice, c, index))
    {
        return Ok(());
    }
    if who.has(Role::CompanyIt, c, index) {
        return Err(Denied::new(
            "not_delegate",
            format!("company {c} is group-operated: its HR submits and the group IT center acts"),
            "group_operated",
            vec![("company", c.to_string())],
        ));
    }
    Err(out_of_scope(who, c))
}

/// Whether the requester acts as the company's own IT delegate (no approvals for an independent company).
pub fn acts_as_delegate(who: &Principal, company: &Company, index: &CompanyIndex) -> bool {
    company.mode == OperatingMode::Independent && who.has(Role::CompanyIt, &company.code, index)
}

/// A cross-company adjustment from `from` to `to`. Into a group-operated company it is the new
/// company's request (checked by `can_submit`); with an independent company on either side the
/// old company's delegate closes and the new one's opens (seed 000 article 12).
pub fn can_move(who: &Principal, from: &Company, to: &Company) -> Result<(), Denied> {
    if who.operator || (from.mode == OperatingMode::GroupOperated && to.mode == OperatingMode::GroupOperated) {
        return Ok(());
    }
    Err(Denied::new(
        "move_into_scope",
        format!(
            "a move from {} to {} involves an independent company: {}'s side closes the account, then {}'s side opens it",
            from.code, to.code, from.code, to.code
        ),
        "move_into_scope",
        vec![("from", from.code.to_string()), ("to", to.code.to_string())],
    ))
}

/// Opening for someone: refused while their account is active in another company (it must be
/// closed there first, or moved with form 2). A closed account elsewhere is reopened.
pub fn can_open_person(who: &Principal, stored: Option<&StoredPerson>, company: &CompanyCode) -> Result<(), Denied> {
    let Some(sp) = stored else { return Ok(()) };
    let active = sp.account.as_ref().is_some_and(|a| a.status == AccountStatus::Active);
    if who.operator || !active || &sp.person.profile.company == company {
        return Ok(());
    }
    Err(Denied::new(
        "person_elsewhere",
        format!(
            "this person's account is active in company {}: it must be closed there first (or moved with form 2)",
            sp.person.profile.company
        ),
        "person_elsewhere",
        vec![("company", sp.person.profile.company.to_string())],
    ))
}

/// Approving (or rejecting) `step` of `req`: the step's role over the request's company, never
/// one's own request, and one step per person (two offices confirm, not one login twice).
pub fn can_approve(who: &Principal, req: &Request, step: Step, index: &CompanyIndex) -> Result<(), Denied> {
    if req.requested_by == who.login && !who.operator {
        return Err(Denied::new(
            "own_request",
            format!("request {} was submitted by {}", req.id, who.login),
            "own_request",
            vec![("id", req.id.to_string()), ("login", who.login.clone())],
        ));
    }
    if !who.operator && req.approvals.iter().any(|a| a.by == who.login) {
        return Err(Denied::new(
            "already_decided",
            format!("{} already decided a step of request {}: each step needs another person", who.login, req.id),
            "already_decided",
            vec![("login", who.login.clone()), ("id", req.id.to_string())],
        ));
    }
    if !who.has(step.role(), &req.company, index) {
        return Err(Denied::new(
            "not_approver",
            format!("step {step} of request {} needs the {} role for company {}", req.id, step.role(), req.company),
            "not_approver",
            vec![
                ("id", req.id.to_string()),
                ("company", req.company.to_string()),
                ("role", step.role().as_str().to_string()),
            ],
        ));
    }
    Ok(())
}

/// Seeing people, accounts and requests of `company`.
pub fn can_view(who: &Principal, company: &CompanyCode, index: &CompanyIndex) -> Result<(), Denied> {
    if who.sees(company, index) { Ok(()) } else { Err(out_of_scope(who, company)) }
}

/// Granting or revoking roles: group IT only, never to oneself.
pub fn can_grant(who: &Principal, target: &str) -> Result<(), Denied> {
    if !who.is_admin() {
        return Err(Denied::new(
            "grant_roles",
            format!("{} may not grant or revoke roles", who.login),
            "grant_roles",
            vec![("login", who.login.clone())],
        ));
    }
    if !who.operator && who.login == target {
        return Err(Denied::new("grant_roles", "nobody grants or revokes their own roles", "own_roles", vec![]));
    }
    Ok(())
}

/// Resetting a password of an account of `company`: its IT delegate or group IT.
pub fn can_reset_password(who: &Principal, company: &CompanyCode, index: &CompanyIndex) -> Result<(), Denied> {
    if who.has(Role::CompanyIt, company, index) || who.has(Role::GroupItAdmin, company, index) {
        return Ok(());
    }
    if who.sees(company, index) {
        return Err(Denied::new(
            "not_delegate",
            format!("resetting passwords of {company} is the IT delegate's"),
            "reset_delegate",
            vec![("company", company.to_string())],
        ));
    }
    Err(out_of_scope(who, company))
}

/// Changing a company's operating mode: group IT.
pub fn can_manage_companies(who: &Principal) -> Result<(), Denied> {
    if who.is_admin() {
        Ok(())
    } else {
        Err(Denied::new("not_admin", "only the group IT center manages companies", "not_admin", vec![]))
    }
}
