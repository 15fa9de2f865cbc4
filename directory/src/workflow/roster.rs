//! What the HR sync does with independent companies (their roster is checked, not applied) and
//! with approved requests (their pending accounts open).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::event::text_enum;
use crate::eligibility::Rule;
use crate::plan::{AccountChange, Op, Plan};
use crate::{AccountStatus, CompanyCode, CompanyIndex, OpCounts, OperatingMode, PersonKey, StoredPerson};

/// One difference between group HR's roster and an independent company's accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterCheck {
    /// 0 until stored.
    pub id: i64,
    pub company: CompanyCode,
    pub person_key: PersonKey,
    pub employee_number: String,
    pub name: String,
    pub kind: CheckKind,
    pub detail: String,
    /// The same in Chinese ('' for checks recorded before it was kept).
    #[serde(default)]
    pub detail_zh: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

text_enum!(
    /// The kind of a roster difference.
    CheckKind {
        /// In the roster and eligible, but without an active account.
        Missing = "missing",
        /// An account the roster no longer lists.
        Extra = "extra",
        /// The account's person differs from the roster (department, post, grade, company …).
        Differs = "differs",
        /// The roster says the person has left or is no longer eligible; the account is still open.
        ShouldClose = "should_close",
    }
);

/// A difference's reason in Chinese: the rule that decided (by its code) and what changed.
fn detail_zh(c: &AccountChange) -> String {
    let rule = Rule::ALL.into_iter().find(|r| r.code() == c.account.rule);
    let mut out = match rule {
        Some(r) => format!("{}（{}）", r.label_zh(), r.code()),
        None => c.account.rule.clone(),
    };
    let yes_no = |v: &str| match v {
        "true" => "是".to_string(),
        "false" => "否".to_string(),
        v => v.to_string(),
    };
    let fields: Vec<String> = c
        .fields
        .iter()
        .map(|f| {
            let label = match f.field.as_str() {
                "employee_number" => "工号",
                "name" => "姓名",
                "company" => "所属企业",
                "department" => "部门",
                "title" => "职务",
                "grade" => "职级",
                "mobile" => "手机号",
                "email" => "公司邮箱",
                "confidential" => "机要岗",
                other => other,
            };
            format!("{label}：{} → {}", yes_no(&f.before), yes_no(&f.after))
        })
        .collect();
    if !fields.is_empty() {
        out = format!("{out}；{}", fields.join("，"));
    }
    out
}

/// Takes out of `plan` every change that concerns an independent company (the person's new
/// company or the one the store has), with the people updates of those companies, and returns
/// them as roster differences seen at `now`. The counts are recomputed.
pub fn split_independent(
    plan: &mut Plan,
    current: &[StoredPerson],
    index: &CompanyIndex,
    now: DateTime<Utc>,
) -> Vec<RosterCheck> {
    let independent = |c: &CompanyCode| index.get(c).is_some_and(|c| c.mode == OperatingMode::Independent);
    // Looked up once per change and per person: a map, not a scan of everyone stored (a
    // 100,000-person store made a no-change sync quadratic).
    let stored: HashMap<&PersonKey, &CompanyCode> =
        current.iter().map(|sp| (&sp.person.key, &sp.person.profile.company)).collect();
    let stored_company = |k: &PersonKey| stored.get(k).copied();
    let concerns =
        |c: &AccountChange| independent(&c.company) || stored_company(&c.person_key).is_some_and(independent);
    let mut checks = Vec::new();
    let mut kept = Vec::with_capacity(plan.changes.len());
    let mut taken: HashSet<PersonKey> = HashSet::new();
    for c in std::mem::take(&mut plan.changes) {
        if !concerns(&c) {
            kept.push(c);
            continue;
        }
        let kind = match c.op {
            Op::Open | Op::Reopen | Op::PendingApproval => CheckKind::Missing,
            Op::Adjust | Op::Move => CheckKind::Differs,
            Op::Close if c.account.rule == Rule::Absent.code() => CheckKind::Extra,
            Op::Close => CheckKind::ShouldClose,
        };
        let mut detail = c.reason.clone();
        if !c.fields.is_empty() {
            let f: Vec<String> = c.fields.iter().map(|f| format!("{}: {} → {}", f.field, f.before, f.after)).collect();
            detail = format!("{detail}; {}", f.join(", "));
        }
        let detail_zh = detail_zh(&c);
        // The company whose delegate acts: the one the account is in, for a close; else the new one.
        let company = match c.op {
            Op::Close => stored_company(&c.person_key).cloned().unwrap_or_else(|| c.company.clone()),
            _ => c.company.clone(),
        };
        taken.insert(c.person_key.clone());
        checks.push(RosterCheck {
            id: 0,
            company,
            person_key: c.person_key,
            employee_number: c.employee_number,
            name: c.name,
            kind,
            detail,
            detail_zh,
            first_seen: now,
            last_seen: now,
            resolved_at: None,
        });
    }
    plan.changes = kept;
    plan.people.retain(|p| {
        !(taken.contains(&p.key) || independent(&p.profile.company) || stored_company(&p.key).is_some_and(independent))
    });
    let mut counts = OpCounts::default();
    let changed: HashSet<&PersonKey> = plan.changes.iter().map(|c| &c.person_key).collect();
    for c in &plan.changes {
        counts.add(c.op);
    }
    counts.people_updated = plan.people.iter().filter(|p| !changed.contains(&p.key)).count() as u64;
    plan.counts = counts;
    checks
}

/// Turns the pending-approval change of `key` into an opening (or a move) by rule `APPROVED`:
/// the request was approved by the strategy office and group HR. A person whose account already
/// waits (the plan has no change for them) gets an opening of it. Returns whether it did.
pub fn approve_pending(plan: &mut Plan, current: &[StoredPerson], key: &PersonKey, now: DateTime<Utc>) -> bool {
    if !plan.changes.iter().any(|c| &c.person_key == key) {
        let Some(sp) = current.iter().find(|sp| &sp.person.key == key) else { return false };
        let Some(account) = sp.account.as_ref().filter(|a| a.status == AccountStatus::PendingApproval) else {
            return false;
        };
        let profile = plan.people.iter().find(|p| &p.key == key).map_or(&sp.person.profile, |p| &p.profile);
        plan.changes.push(AccountChange {
            op: Op::PendingApproval,
            person_key: key.clone(),
            account: account.clone(),
            employee_number: profile.employee_number.clone(),
            name: profile.name.clone(),
            company: profile.company.clone(),
            before_status: Some(AccountStatus::PendingApproval),
            fields: Vec::new(),
            reason: "waiting for approval".into(),
        });
        if plan.people.iter().any(|p| &p.key == key) {
            plan.counts.people_updated = plan.counts.people_updated.saturating_sub(1);
        }
        plan.counts.pending_approval += 1;
    }
    let Some(c) = plan.changes.iter_mut().find(|c| &c.person_key == key && c.op == Op::PendingApproval) else {
        return false;
    };
    let op = match c.before_status {
        Some(AccountStatus::Active) => Op::Move,
        Some(AccountStatus::Disabled) => Op::Reopen,
        None | Some(AccountStatus::PendingApproval) => Op::Open,
    };
    c.op = op;
    c.account.status = AccountStatus::Active;
    c.account.rule = Rule::Approved.code().into();
    c.account.closed_at = None;
    c.account.updated_at = now;
    if op != Op::Move || c.account.opened_at.is_none() {
        c.account.opened_at = Some(now);
    }
    c.reason = format!("{}; approved by request", c.reason);
    plan.counts.pending_approval = plan.counts.pending_approval.saturating_sub(1);
    plan.counts.add(op);
    true
}
