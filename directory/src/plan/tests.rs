#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeZone;
use orgid_config::EligibilityConfig;

use super::*;
use crate::{Company, Employment, Grade, OperatingMode, Tier};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 2, 30, 0).single().expect("time")
}

fn today() -> NaiveDate {
    now().date_naive()
}

fn companies() -> CompanyIndex {
    let co = |code: &str, parent: Option<&str>, tier| Company {
        code: CompanyCode(code.into()),
        name: format!("{code} 公司"),
        parent: parent.map(|p| CompanyCode(p.into())),
        tier,
        mode: OperatingMode::GroupOperated,
    };
    CompanyIndex::new([
        co("HQ", None, Tier::Hq),
        co("T1", Some("HQ"), Tier::Tier1),
        co("T2", Some("T1"), Tier::Tier2),
        co("UN", Some("HQ"), Tier::Unrated),
    ])
    .expect("tree")
}

fn rec(key: &str, emp: &str, name: &str, company: &str, grade: &str) -> PersonRecord {
    PersonRecord {
        key: PersonKey(key.into()),
        profile: Profile {
            employee_number: emp.into(),
            name: name.into(),
            gender: None,
            company: CompanyCode(company.into()),
            department: "综合部".into(),
            title: "专员".into(),
            grade: (!grade.is_empty()).then(|| grade.parse::<Grade>().expect("grade")),
            mobile: "13800000000".into(),
            email: format!("{emp}@example.com"),
            hire_date: None,
            confidential: false,
        },
        employment: Employment::Active,
        leave_date: None,
        source: "hr".into(),
    }
}

fn plan(records: &[PersonRecord], current: &[StoredPerson], scope: Scope) -> Plan {
    let companies = companies();
    let rules = Rules::new(EligibilityConfig::default());
    Plan::compute(&PlanInput {
        held: &Default::default(),
        companies: &companies,
        records,
        current,
        rules: &rules,
        login_scheme: LoginScheme::Pinyin,
        scope,
        today: today(),
        now: now(),
    })
}

/// The store after applying `plan` on top of `current` (what the store does, in memory).
fn apply(current: &[StoredPerson], plan: &Plan) -> Vec<StoredPerson> {
    let mut by_key: std::collections::BTreeMap<PersonKey, StoredPerson> =
        current.iter().map(|sp| (sp.person.key.clone(), sp.clone())).collect();
    for p in &plan.people {
        let person = p.clone().at(chrono::DateTime::UNIX_EPOCH);
        let entry =
            by_key.entry(p.key.clone()).or_insert_with(|| StoredPerson { person: person.clone(), account: None });
        entry.person = person;
    }
    for c in &plan.changes {
        if let Some(sp) = by_key.get_mut(&c.person_key) {
            sp.account = Some(c.account.clone());
        }
    }
    by_key.into_values().collect()
}

fn ops(plan: &Plan) -> Vec<(&str, Op)> {
    plan.changes.iter().map(|c| (c.employee_number.as_str(), c.op)).collect()
}

#[test]
fn first_sync_opens_eligible_and_leaves_others_without_account() {
    let p = plan(
        &[
            rec("k1", "E1", "张三", "T1", "M12"),
            rec("k2", "E2", "李四", "T1", "M11"),
            rec("k3", "E3", "王五", "T2", "P11"),
            rec("k4", "E4", "赵六", "HQ", ""),
            rec("k5", "E5", "孙七", "UN", "M13"),
        ],
        &[],
        Scope::Full,
    );
    assert_eq!(ops(&p), [("E4", Op::Open), ("E1", Op::Open), ("E3", Op::Open), ("E5", Op::PendingApproval)]);
    assert_eq!(p.people.len(), 5, "every person is kept, eligible or not");
    assert_eq!(p.counts.open, 3);
    assert_eq!(p.counts.pending_approval, 1);
    assert_eq!(p.counts.people_updated, 1, "E2 is stored without an account");
    let logins: Vec<_> = p.changes.iter().map(|c| c.account.login.as_str()).collect();
    assert_eq!(logins, ["zhaoliu", "zhangsan", "wangwu", "sunqi"]);
    assert_eq!(p.changes[0].account.status, AccountStatus::Active);
    assert_eq!(p.changes[0].account.rule, "ELIG-5");
    assert_eq!(p.changes[3].account.status, AccountStatus::PendingApproval);
}

#[test]
fn same_names_get_distinct_logins_deterministically() {
    let current = apply(&[], &plan(&[rec("k1", "E1", "张三", "T1", "M12")], &[], Scope::Full));
    let p = plan(
        &[
            rec("k1", "E1", "张三", "T1", "M12"),
            rec("k3", "E3", "张三", "T1", "M13"),
            rec("k2", "E2", "张三", "T1", "M12"),
        ],
        &current,
        Scope::Full,
    );
    let logins: Vec<_> = p.changes.iter().map(|c| (c.employee_number.as_str(), c.account.login.as_str())).collect();
    assert_eq!(logins, [("E2", "zhangsan2"), ("E3", "zhangsan3")]);
}

#[test]
fn the_longest_serving_namesake_gets_the_plain_login() {
    let mut junior = rec("k1", "A1", "张伟", "T1", "M12");
    junior.profile.hire_date = NaiveDate::from_ymd_opt(2020, 1, 1);
    let mut senior = rec("k2", "Z9", "张伟", "T2", "M12");
    senior.profile.hire_date = NaiveDate::from_ymd_opt(2008, 8, 8);
    let p = plan(&[junior, senior], &[], Scope::Full);
    let logins: Vec<_> = p.changes.iter().map(|c| (c.employee_number.as_str(), c.account.login.as_str())).collect();
    assert_eq!(logins, [("Z9", "zhangwei"), ("A1", "zhangwei2")]);
}

#[test]
fn second_run_without_changes_is_empty() {
    let records = [rec("k1", "E1", "张三", "T1", "M12"), rec("k2", "E2", "李四", "T1", "M11")];
    let current = apply(&[], &plan(&records, &[], Scope::Full));
    let p = plan(&records, &current, Scope::Full);
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(p.active_before, 1);
}

#[test]
fn in_company_move_and_detail_changes_adjust_with_field_list() {
    let current = apply(&[], &plan(&[rec("k1", "E1", "张三", "T1", "M12")], &[], Scope::Full));
    let mut r = rec("k1", "E1", "张三", "T1", "M13");
    r.profile.department = "财务部/一科".into();
    r.profile.title = "科长".into();
    let p = plan(&[r], &current, Scope::Full);
    assert_eq!(ops(&p), [("E1", Op::Adjust)]);
    let fields: Vec<_> =
        p.changes[0].fields.iter().map(|f| (f.field.as_str(), f.before.as_str(), f.after.as_str())).collect();
    assert_eq!(fields, [("department", "综合部", "财务部/一科"), ("title", "专员", "科长"), ("grade", "M12", "M13")]);
    assert_eq!(p.changes[0].account.login, "zhangsan", "login kept");
    assert_eq!(p.changes[0].account.rule, "ELIG-1");
}

#[test]
fn grade_drop_below_threshold_closes() {
    let current = apply(&[], &plan(&[rec("k1", "E1", "张三", "T1", "M12")], &[], Scope::Full));
    let p = plan(&[rec("k1", "E1", "张三", "T1", "M10")], &current, Scope::Full);
    assert_eq!(ops(&p), [("E1", Op::Close)]);
    assert_eq!(p.changes[0].account.status, AccountStatus::Disabled);
    assert_eq!(p.changes[0].account.closed_at, Some(now()));
    assert_eq!(p.changes[0].account.rule, "BELOW-GRADE");
}

#[test]
fn cross_company_move_keeps_the_account_when_still_eligible() {
    let current = apply(&[], &plan(&[rec("k1", "E1", "张三", "T1", "M12")], &[], Scope::Full));
    // New company, new employee number, same ID number (same key).
    let p = plan(&[rec("k1", "B77", "张三", "T2", "M11")], &current, Scope::Full);
    assert_eq!(ops(&p), [("B77", Op::Move)]);
    let c = &p.changes[0];
    assert_eq!(c.account.login, "zhangsan");
    assert_eq!(c.account.status, AccountStatus::Active);
    assert_eq!(c.account.opened_at, current[0].account.as_ref().and_then(|a| a.opened_at), "history kept");
    assert!(c.reason.starts_with("moved from T1 to T2"), "{}", c.reason);
    let changed: Vec<_> = c.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(changed, ["employee_number", "company", "grade", "email"]);
}

#[test]
fn cross_company_move_closes_when_no_longer_eligible() {
    let current = apply(&[], &plan(&[rec("k1", "E1", "张三", "T2", "M11")], &[], Scope::Full));
    let p = plan(&[rec("k1", "A9", "张三", "T1", "M11")], &current, Scope::Full);
    assert_eq!(ops(&p), [("A9", Op::Close)]);
    assert!(p.changes[0].reason.contains("moved from T2 to T1"), "{}", p.changes[0].reason);
}

#[test]
fn move_into_an_unrated_company_waits_for_approval_again() {
    let current = apply(&[], &plan(&[rec("k1", "E1", "张三", "T1", "M12")], &[], Scope::Full));
    let p = plan(&[rec("k1", "U1", "张三", "UN", "M12")], &current, Scope::Full);
    assert_eq!(ops(&p), [("U1", Op::PendingApproval)]);
}

#[test]
fn leavers_are_disabled_never_deleted() {
    let records = [rec("k1", "E1", "张三", "T1", "M12"), rec("k2", "E2", "李四", "T1", "M12")];
    let current = apply(&[], &plan(&records, &[], Scope::Full));
    let mut left = records[0].clone();
    left.employment = Employment::Left;
    left.leave_date = today().pred_opt();
    let p = plan(&[left, records[1].clone()], &current, Scope::Full);
    assert_eq!(ops(&p), [("E1", Op::Close)]);
    assert_eq!(p.changes[0].account.rule, "LEAVER");
    let after = apply(&current, &p);
    assert_eq!(after.len(), 2, "the person and the account are kept");
    assert_eq!(after[0].account.as_ref().map(|a| a.status), Some(AccountStatus::Disabled));
}

#[test]
fn future_leaving_date_closes_on_that_day() {
    let current = apply(&[], &plan(&[rec("k1", "E1", "张三", "T1", "M12")], &[], Scope::Full));
    let mut r = rec("k1", "E1", "张三", "T1", "M12");
    r.leave_date = today().succ_opt();
    let p = plan(std::slice::from_ref(&r), &current, Scope::Full);
    assert!(p.changes.is_empty(), "still employed today");
    assert_eq!(p.people.len(), 1, "the leaving date is recorded");
    r.leave_date = Some(today());
    assert_eq!(ops(&plan(&[r], &current, Scope::Full)), [("E1", Op::Close)]);
}

#[test]
fn rehire_reopens_the_same_account() {
    let current = apply(&[], &plan(&[rec("k1", "E1", "张三", "T1", "M12")], &[], Scope::Full));
    let mut left = rec("k1", "E1", "张三", "T1", "M12");
    left.employment = Employment::Left;
    let closed = apply(&current, &plan(&[left], &current, Scope::Full));
    let p = plan(&[rec("k1", "E1", "张三", "T1", "M12")], &closed, Scope::Full);
    assert_eq!(ops(&p), [("E1", Op::Reopen)]);
    assert_eq!(p.changes[0].account.login, "zhangsan");
    assert_eq!(p.changes[0].account.closed_at, None);
}

#[test]
fn absent_from_a_full_roster_closes_only_in_covered_companies() {
    let records = [rec("k1", "E1", "张三", "T1", "M12"), rec("k2", "E2", "李四", "T1", "M12")];
    let mut current = apply(&[], &plan(&records, &[], Scope::Full));
    // Someone in a company the sources do not cover.
    let mut outsider = current[0].clone();
    outsider.person.key = PersonKey("k9".into());
    outsider.person.profile.company = CompanyCode("OTHER".into());
    outsider.person.profile.employee_number = "X9".into();
    if let Some(a) = outsider.account.as_mut() {
        a.login = "outsider".into();
    }
    current.push(outsider);
    let p = plan(&records[1..], &current, Scope::Full);
    assert_eq!(ops(&p), [("E1", Op::Close)]);
    assert_eq!(p.changes[0].account.rule, "ABSENT");
    assert_eq!(p.active_before, 3);
    // A request file touches only the people in it.
    assert!(plan(&records[1..], &current, Scope::Partial).is_empty());
}

#[test]
fn unrated_pending_until_approved_then_kept_active() {
    let current = apply(&[], &plan(&[rec("k1", "U1", "孙七", "UN", "M13")], &[], Scope::Full));
    // Still pending: no change on the next run.
    assert!(plan(&[rec("k1", "U1", "孙七", "UN", "M13")], &current, Scope::Full).is_empty());
    // An operator approves (the store sets the account active with rule APPROVED).
    let mut approved = current.clone();
    if let Some(a) = approved[0].account.as_mut() {
        a.status = AccountStatus::Active;
        a.rule = "APPROVED".into();
    }
    assert!(plan(&[rec("k1", "U1", "孙七", "UN", "M13")], &approved, Scope::Full).is_empty(), "approval sticks");
    let mut promoted = rec("k1", "U1", "孙七", "UN", "M14");
    promoted.profile.title = "总监".into();
    let p = plan(&[promoted], &approved, Scope::Full);
    assert_eq!(ops(&p), [("U1", Op::Adjust)]);
    assert_eq!(p.changes[0].account.rule, "APPROVED", "an adjustment keeps the approval");
}

#[test]
fn pending_becomes_open_when_the_company_gets_a_tier() {
    let current = apply(&[], &plan(&[rec("k1", "U1", "孙七", "UN", "M13")], &[], Scope::Full));
    let p = plan(&[rec("k1", "U1", "孙七", "T2", "M13")], &current, Scope::Full);
    assert_eq!(ops(&p), [("U1", Op::Open)]);
    assert_eq!(p.changes[0].account.login, "sunqi");
}

#[test]
fn confidential_post_opens_whatever_grade() {
    let mut r = rec("k1", "E1", "周八", "T1", "P2");
    r.profile.confidential = true;
    let p = plan(&[r], &[], Scope::Full);
    assert_eq!(ops(&p), [("E1", Op::Open)]);
    assert_eq!(p.changes[0].account.rule, "ELIG-3");
}

#[test]
fn duplicate_person_across_sources_prefers_the_active_record() {
    let current = apply(&[], &plan(&[rec("k1", "E1", "张三", "T1", "M12")], &[], Scope::Full));
    let mut old = rec("k1", "E1", "张三", "T1", "M12");
    old.employment = Employment::Left;
    let new = rec("k1", "B2", "张三", "T2", "M12");
    let p = plan(&[old, new.clone()], &current, Scope::Full);
    assert_eq!(ops(&p), [("B2", Op::Move)]);
    assert!(p.warnings.is_empty());
    let p = plan(&[rec("k1", "E1", "张三", "T1", "M12"), new], &current, Scope::Full);
    assert_eq!(p.warnings.len(), 1, "two active records of one person are reported");
    assert!(!p.warnings[0].contains("k1"), "no person key in messages: {}", p.warnings[0]);
}

#[test]
fn records_of_unknown_companies_are_skipped_with_a_warning() {
    let p = plan(&[rec("k1", "E1", "张三", "NOPE", "M12")], &[], Scope::Full);
    assert!(p.changes.is_empty() && p.people.is_empty());
    assert!(p.warnings[0].contains("`NOPE`"), "{:?}", p.warnings);
}
