//! Who may do what, for which company. Every check returns `Denied` with a stable code; the
//! service audits every refusal.

use serde::Serialize;

use super::{Principal, Request, Role, Step};
use crate::{AccountStatus, Company, CompanyCode, CompanyIndex, OperatingMode, StoredPerson};

/// A refusal: a stable code for programs, a reason for people in English and in Chinese (the
/// console shows the one of its language; the API and the audit trail keep the English).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct Denied {
    pub code: &'static str,
    pub reason: String,
    #[serde(skip)]
    pub reason_zh: String,
}

impl Denied {
    pub fn new(code: &'static str, reason: impl Into<String>, reason_zh: impl Into<String>) -> Self {
        Denied { code, reason: reason.into(), reason_zh: reason_zh.into() }
    }

    /// The reason in Chinese (`zh`) or English.
    pub fn reason_in(&self, zh: bool) -> &str {
        if zh { &self.reason_zh } else { &self.reason }
    }
}

/// The company is outside everything the principal's roles reach.
pub fn out_of_scope(who: &Principal, company: &CompanyCode) -> Denied {
    Denied::new(
        "out_of_scope",
        format!("{} has no role for company {company}", who.login),
        format!("{} 在企业 {company} 没有任何角色", who.login),
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
            format!("企业 {c} 为集团统一运营：由该企业人力部门提交申请，集团信息管理中心办理"),
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
        format!(
            "从 {} 调动到 {} 涉及独立运营企业：先由 {} 注销账号，再由 {} 开通",
            from.code, to.code, from.code, to.code
        ),
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
        format!("此人的账号在企业 {} 仍在用：须先在该企业注销（或用表2调整）", sp.person.profile.company),
    ))
}

/// Approving (or rejecting) `step` of `req`: the step's role over the request's company, never
/// one's own request, and one step per person (two offices confirm, not one login twice).
pub fn can_approve(who: &Principal, req: &Request, step: Step, index: &CompanyIndex) -> Result<(), Denied> {
    if req.requested_by == who.login && !who.operator {
        return Err(Denied::new(
            "own_request",
            format!("request {} was submitted by {}", req.id, who.login),
            format!("申请 {} 由 {} 本人提交，不能自己审批", req.id, who.login),
        ));
    }
    if !who.operator && req.approvals.iter().any(|a| a.by == who.login) {
        return Err(Denied::new(
            "already_decided",
            format!("{} already decided a step of request {}: each step needs another person", who.login, req.id),
            format!("{} 已审批过申请 {} 的一个环节：每个环节须由不同的人审批", who.login, req.id),
        ));
    }
    if !who.has(step.role(), &req.company, index) {
        return Err(Denied::new(
            "not_approver",
            format!("step {step} of request {} needs the {} role for company {}", req.id, step.role(), req.company),
            format!("申请 {} 的这一环节须由企业 {} 的{}审批", req.id, req.company, step.role().label_zh()),
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
            format!("{} 无权授予或收回角色", who.login),
        ));
    }
    if !who.operator && who.login == target {
        return Err(Denied::new("grant_roles", "nobody grants or revokes their own roles", "不能授予或收回自己的角色"));
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
            format!("企业 {company} 的密码由其信息运维岗重置"),
        ));
    }
    Err(out_of_scope(who, company))
}

/// Changing a company's operating mode: group IT.
pub fn can_manage_companies(who: &Principal) -> Result<(), Denied> {
    if who.is_admin() {
        Ok(())
    } else {
        Err(Denied::new("not_admin", "only the group IT center manages companies", "只有集团信息管理中心可以管理企业"))
    }
}
