//! The sync plan: what to change so that the store matches the HR data under the rules. Pure:
//! inputs in, plan out; the store applies it in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use orgid_config::LoginScheme;
use serde::{Deserialize, Serialize};

use crate::eligibility::{Outcome, Rule};
use crate::login::{LoginAllocator, stem};
use crate::{
    Account, AccountStatus, CompanyCode, CompanyIndex, OpCounts, PersonKey, PersonRecord, Profile, Rules, StoredPerson,
};

/// What a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A full roster: anyone of a covered company who is missing from it has gone.
    Full,
    /// A request file (form 1/2): only the people in it are considered.
    Partial,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// A new account, or a pending one activated.
    Open,
    /// A disabled account activated again (rehire, re-qualified).
    Reopen,
    /// Same company: department, post, grade or contact details changed.
    Adjust,
    /// Cross-company move, account kept.
    Move,
    /// Disabled (never deleted).
    Close,
    /// Waits for approval (unrated company).
    PendingApproval,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Open => "open",
            Op::Reopen => "reopen",
            Op::Adjust => "adjust",
            Op::Move => "move",
            Op::Close => "close",
            Op::PendingApproval => "pending_approval",
        }
    }
}

/// One field that changed, as text for the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// One account change, with the account's new state and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChange {
    pub op: Op,
    pub person_key: PersonKey,
    pub account: Account,
    pub employee_number: String,
    pub name: String,
    pub company: CompanyCode,
    pub before_status: Option<AccountStatus>,
    pub fields: Vec<FieldChange>,
    pub reason: String,
}

/// The plan of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// People to insert or update, in their new state (written at the run's time), in the
    /// roster's order.
    pub people: Vec<PersonRecord>,
    pub changes: Vec<AccountChange>,
    pub counts: OpCounts,
    /// Accounts active before the run (the base of the close share).
    pub active_before: u64,
    /// Things worth telling that are not row errors (duplicates across sources, …).
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.people.is_empty() && self.changes.is_empty()
    }
}

/// The people behind rows a source rejected, as far as each row tells who they are. A full
/// roster does not close their accounts as absent: a typo must never lock anyone out, so they are
/// left exactly as they were until their row is fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldBack {
    /// Rows whose ID number could be keyed.
    pub keys: HashSet<PersonKey>,
    /// Rows whose employee number could be read.
    pub employee_numbers: HashSet<String>,
    /// Rows that told neither, by the company they named.
    pub companies: HashSet<CompanyCode>,
    /// A row that told nothing at all (no ID number, employee number or company): nobody absent
    /// is closed.
    pub anyone: bool,
}

impl HeldBack {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.employee_numbers.is_empty() && self.companies.is_empty() && !self.anyone
    }

    /// Whether a rejected row may be this person's.
    pub fn holds(&self, sp: &StoredPerson) -> bool {
        self.anyone
            || self.keys.contains(&sp.person.key)
            || self.employee_numbers.contains(&sp.person.profile.employee_number)
            || self.companies.contains(&sp.person.profile.company)
    }

    pub fn extend(&mut self, other: HeldBack) {
        self.keys.extend(other.keys);
        self.employee_numbers.extend(other.employee_numbers);
        self.companies.extend(other.companies);
        self.anyone |= other.anyone;
    }
}

pub struct PlanInput<'a> {
    pub companies: &'a CompanyIndex,
    pub records: &'a [PersonRecord],
    /// The people behind rejected rows (a full roster's): never closed as absent.
    pub held: &'a HeldBack,
    pub current: &'a [StoredPerson],
    pub rules: &'a Rules,
    pub login_scheme: LoginScheme,
    pub scope: Scope,
    pub today: NaiveDate,
    pub now: DateTime<Utc>,
}

impl Plan {
    pub fn compute(input: &PlanInput<'_>) -> Plan {
        Self::compute_owned(&PlanInput { records: &[], ..*input }, input.records.to_vec())
    }

    /// [`compute`](Self::compute) of `records` given up (`input.records` is not read): the
    /// records of people who change stay where they are and the roster's own allocation becomes
    /// the plan's people, so that a first load of a million people never holds them twice (nor
    /// a second, emptied, table of them: 250 MB at a million).
    pub fn compute_owned(input: &PlanInput<'_>, mut records: Vec<PersonRecord>) -> Plan {
        let current: HashMap<&PersonKey, &StoredPerson> = input.current.iter().map(|sp| (&sp.person.key, sp)).collect();
        let mut plan = Plan {
            active_before: input
                .current
                .iter()
                .filter(|sp| sp.account.as_ref().is_some_and(|a| a.status == AccountStatus::Active))
                .count() as u64,
            ..Plan::default()
        };
        let order = merge_duplicates(&records, &mut plan.warnings);
        // Sized up front: a first load's 100,000 changes are never copied to grow. Room that
        // stays unused costs no memory.
        plan.changes.reserve(order.len());
        // Whether each record goes into the plan as a person.
        let mut keep = vec![false; records.len()];
        let mut logins =
            LoginAllocator::new(input.current.iter().filter_map(|sp| sp.account.as_ref().map(|a| a.login.clone())));
        let mut seen: HashSet<PersonKey> = HashSet::with_capacity(order.len());

        for i in order {
            let record = &records[i];
            seen.insert(record.key.clone());
            let Some(company) = input.companies.get(&record.profile.company) else {
                plan.warnings.push(format!(
                    "employee {} names company `{}`, which is not in the company list; skipped",
                    record.profile.employee_number, record.profile.company
                ));
                continue;
            };
            let stored = current.get(&record.key).copied();
            let person_changed = stored.is_none_or(|sp| {
                sp.person.profile != record.profile
                    || sp.person.employment != record.employment
                    || sp.person.leave_date != record.leave_date
            });
            let decision = input.rules.decide(record, company, input.today);
            let before = stored.and_then(|sp| sp.account.as_ref());
            let before_profile = stored.map(|sp| &sp.person.profile);
            let moved = before_profile.is_some_and(|p| p.company != record.profile.company);
            let fields = before_profile.map(|p| diff(p, &record.profile)).unwrap_or_default();

            let op = match (decision.outcome, before.map(|a| a.status)) {
                (Outcome::Eligible, None | Some(AccountStatus::PendingApproval)) => Some(Op::Open),
                (Outcome::Eligible, Some(AccountStatus::Disabled)) => Some(Op::Reopen),
                (Outcome::Eligible | Outcome::NeedsApproval, Some(AccountStatus::Active)) if moved => {
                    Some(if decision.outcome == Outcome::Eligible { Op::Move } else { Op::PendingApproval })
                }
                (Outcome::Eligible | Outcome::NeedsApproval, Some(AccountStatus::Active)) => {
                    (!fields.is_empty()).then_some(Op::Adjust)
                }
                (Outcome::NeedsApproval, None | Some(AccountStatus::Disabled)) => Some(Op::PendingApproval),
                (Outcome::NeedsApproval, Some(AccountStatus::PendingApproval)) => None,
                (Outcome::NotEligible, Some(AccountStatus::Active | AccountStatus::PendingApproval)) => Some(Op::Close),
                (Outcome::NotEligible, None | Some(AccountStatus::Disabled)) => None,
            };
            if person_changed && op.is_none() {
                plan.counts.people_updated += 1;
            }
            keep[i] = person_changed;
            let Some(op) = op else { continue };
            // An approved unrated account stays approved while it stays in its company.
            let rule = match (op, before) {
                (Op::Adjust, Some(a)) => a.rule.clone(),
                _ => decision.rule.code().to_string(),
            };
            let login = before.map(|a| a.login.clone()).unwrap_or_else(|| {
                logins.allocate(&stem(input.login_scheme, &record.profile.name, &record.profile.employee_number))
            });
            let mut reason = decision.explanation.clone();
            if moved {
                let from = before_profile.map(|p| p.company.0.as_str()).unwrap_or_default();
                reason = format!("moved from {from} to {}; {reason}", record.profile.company);
            }
            let account = next_account(op, before, login, rule, input.now);
            plan.counts.add(op);
            plan.changes.push(AccountChange {
                op,
                person_key: record.key.clone(),
                account,
                employee_number: record.profile.employee_number.clone(),
                name: record.profile.name.clone(),
                company: record.profile.company.clone(),
                before_status: before.map(|a| a.status),
                fields,
                reason,
            });
        }
        let mut at = 0;
        records.retain(|_| {
            at += 1;
            keep[at - 1]
        });
        if records.len() < records.capacity() / 2 {
            records.shrink_to_fit();
        }
        plan.people = records;

        if input.scope == Scope::Full && !input.held.is_empty() {
            // People of a company the run does not cover (its row was rejected) are never closed
            // as absent; those whose own rows were rejected are named as kept.
            let mut kept: Vec<&StoredPerson> = input
                .current
                .iter()
                .filter(|sp| !seen.contains(&sp.person.key) && !input.companies.contains(&sp.person.profile.company))
                .filter(|sp| sp.account.as_ref().is_some_and(|a| a.status != AccountStatus::Disabled))
                .filter(|sp| input.held.holds(sp))
                .collect();
            kept.sort_by(|a, b| a.person.profile.employee_number.cmp(&b.person.profile.employee_number));
            for sp in kept {
                plan.warnings.push(format!(
                    "employee {} ({}) is kept as they were: their row was rejected with their company's",
                    sp.person.profile.employee_number, sp.person.profile.name
                ));
            }
        }
        if input.scope == Scope::Full {
            let mut absent: Vec<&StoredPerson> = input
                .current
                .iter()
                .filter(|sp| !seen.contains(&sp.person.key) && input.companies.contains(&sp.person.profile.company))
                .filter(|sp| sp.account.as_ref().is_some_and(|a| a.status != AccountStatus::Disabled))
                .collect();
            absent.sort_by(|a, b| a.person.profile.employee_number.cmp(&b.person.profile.employee_number));
            for sp in absent {
                if input.held.holds(sp) {
                    plan.warnings.push(format!(
                        "employee {} ({}) is kept as they were: a rejected row may be theirs, so their account is not closed",
                        sp.person.profile.employee_number, sp.person.profile.name
                    ));
                    continue;
                }
                let Some(before) = sp.account.as_ref() else { continue };
                let account =
                    next_account(Op::Close, Some(before), before.login.clone(), Rule::Absent.code().into(), input.now);
                plan.counts.add(Op::Close);
                plan.changes.push(AccountChange {
                    op: Op::Close,
                    person_key: sp.person.key.clone(),
                    account,
                    employee_number: sp.person.profile.employee_number.clone(),
                    name: sp.person.profile.name.clone(),
                    company: sp.person.profile.company.clone(),
                    before_status: Some(before.status),
                    fields: Vec::new(),
                    reason: format!("no longer in the roster of {}", sp.person.profile.company),
                });
            }
        }
        plan
    }
}

fn next_account(op: Op, before: Option<&Account>, login: String, rule: String, now: DateTime<Utc>) -> Account {
    let (status, opened_at, closed_at) = match op {
        Op::Open | Op::Reopen => (AccountStatus::Active, Some(now), None),
        Op::Adjust | Op::Move => (AccountStatus::Active, before.and_then(|a| a.opened_at).or(Some(now)), None),
        Op::Close => (AccountStatus::Disabled, before.and_then(|a| a.opened_at), Some(now)),
        Op::PendingApproval => {
            (AccountStatus::PendingApproval, before.and_then(|a| a.opened_at), before.and_then(|a| a.closed_at))
        }
    };
    Account { login, status, rule, opened_at, closed_at, updated_at: now }
}

/// Several records of one person (e.g. the old company lists them as 离职, the new one as 在职):
/// the active one wins; two active ones keep the first and warn. Returns the indexes of the
/// records kept, in planning order.
fn merge_duplicates(records: &[PersonRecord], warnings: &mut Vec<String>) -> Vec<usize> {
    let mut by_key: HashMap<&PersonKey, usize> = HashMap::with_capacity(records.len());
    let mut out: Vec<usize> = Vec::with_capacity(records.len());
    for (n, r) in records.iter().enumerate() {
        match by_key.get(&r.key) {
            None => {
                by_key.insert(&r.key, out.len());
                out.push(n);
            }
            Some(&i) => {
                let kept = &records[out[i]];
                let kept_active = kept.employment == crate::Employment::Active;
                let new_active = r.employment == crate::Employment::Active;
                if new_active && !kept_active {
                    out[i] = n;
                } else if new_active && kept_active {
                    warnings.push(format!(
                        "one person is listed as active twice (employee {} in {} and employee {} in {}); kept the first",
                        kept.profile.employee_number, kept.source, r.profile.employee_number, r.source
                    ));
                }
            }
        }
    }
    // Deterministic order; among namesakes the longest-serving gets the plain login.
    let key = |i: &usize| {
        let r = &records[*i];
        (r.profile.hire_date.unwrap_or(NaiveDate::MAX), &r.profile.company, &r.profile.employee_number)
    };
    out.sort_by(|a, b| key(a).cmp(&key(b)));
    out
}

/// The account-relevant differences between two profiles.
fn diff(before: &Profile, after: &Profile) -> Vec<FieldChange> {
    let grade = |p: &Profile| p.grade.map(|g| g.to_string()).unwrap_or_default();
    let fields: [(&str, String, String); 9] = [
        ("employee_number", before.employee_number.clone(), after.employee_number.clone()),
        ("name", before.name.clone(), after.name.clone()),
        ("company", before.company.0.clone(), after.company.0.clone()),
        ("department", before.department.clone(), after.department.clone()),
        ("title", before.title.clone(), after.title.clone()),
        ("grade", grade(before), grade(after)),
        ("mobile", before.mobile.clone(), after.mobile.clone()),
        ("email", before.email.clone(), after.email.clone()),
        ("confidential", before.confidential.to_string(), after.confidential.to_string()),
    ];
    fields
        .into_iter()
        .filter(|(_, b, a)| b != a)
        .map(|(f, b, a)| FieldChange { field: f.to_string(), before: b, after: a })
        .collect()
}

#[cfg(test)]
mod tests;
