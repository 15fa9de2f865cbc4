#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::rules::*;
use super::sla::*;
use super::*;
use crate::{
    Account, AccountStatus, Company, CompanyIndex, Employment, OperatingMode, Person, PersonKey, Profile, StoredPerson,
    Tier,
};

fn co(code: &str, parent: Option<&str>, tier: Tier, mode: OperatingMode) -> Company {
    Company {
        code: CompanyCode(code.into()),
        name: code.into(),
        parent: parent.map(|p| CompanyCode(p.into())),
        tier,
        mode,
    }
}

/// HQ G; A group-operated tier 1 with child A1; B and C independent; U unrated group-operated.
fn index() -> CompanyIndex {
    use OperatingMode::*;
    CompanyIndex::new([
        co("G", None, Tier::Hq, GroupOperated),
        co("A", Some("G"), Tier::Tier1, GroupOperated),
        co("A1", Some("A"), Tier::Tier2, GroupOperated),
        co("B", Some("G"), Tier::Tier2, Independent),
        co("C", Some("G"), Tier::Tier2, Independent),
        co("U", Some("G"), Tier::Unrated, GroupOperated),
        co("V", Some("G"), Tier::Unrated, Independent),
    ])
    .unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn grant(login: &str, role: Role, company: &str, subtree: bool) -> RoleGrant {
    RoleGrant {
        id: 1,
        login: login.into(),
        role,
        company: CompanyCode(company.into()),
        subtree,
        granted_by: "cli".into(),
        granted_at: t("2026-01-05T00:00:00Z"),
        revoked_at: None,
    }
}

fn who(login: &str, grants: &[(Role, &str, bool)]) -> Principal {
    Principal::new(login, grants.iter().map(|(r, c, s)| grant(login, *r, c, *s)).collect())
}

fn c(code: &str) -> CompanyCode {
    CompanyCode(code.into())
}

#[test]
fn roles_parse_in_english_and_chinese() {
    for r in Role::ALL {
        assert_eq!(r.as_str().parse::<Role>(), Ok(*r));
        assert_eq!(r.label_zh().parse::<Role>(), Ok(*r));
    }
    assert_eq!("信息运维岗".parse::<Role>(), Ok(Role::CompanyIt));
    assert_eq!("机要室".parse::<Role>(), Ok(Role::ConfidentialOffice));
    assert!("boss".parse::<Role>().unwrap_err().contains("group_it_admin"));
}

#[test]
fn a_grant_reaches_its_company_and_with_subtree_its_descendants() {
    let idx = index();
    let hr_a = who("hr", &[(Role::CompanyHr, "A", false)]);
    assert!(hr_a.has(Role::CompanyHr, &c("A"), &idx));
    assert!(!hr_a.has(Role::CompanyHr, &c("A1"), &idx), "no subtree");
    assert!(!hr_a.has(Role::CompanyHr, &c("B"), &idx));
    let hr_tree = who("hr", &[(Role::CompanyHr, "A", true)]);
    assert!(hr_tree.has(Role::CompanyHr, &c("A1"), &idx));
    assert!(!hr_tree.has(Role::CompanyHr, &c("G"), &idx), "a subtree does not reach up");
    let group = who("ghr", &[(Role::GroupHr, "G", true)]);
    assert_eq!(group.companies(Role::GroupHr, &idx).len(), 7);
    assert_eq!(hr_tree.visible_companies(&idx), vec![c("A"), c("A1")]);
    let auditor = who("aud", &[(Role::SecurityAuditor, "G", true)]);
    assert!(auditor.visible_companies(&idx).is_empty(), "the auditor reads the audit trail only");
    let revoked = Principal::new(
        "x",
        vec![RoleGrant { revoked_at: Some(t("2026-02-01T00:00:00Z")), ..grant("x", Role::GroupHr, "G", true) }],
    );
    assert!(!revoked.has(Role::GroupHr, &c("A"), &idx), "revoked grants count for nothing");
    assert!(Principal::operator().has(Role::StrategyOffice, &c("U"), &idx));
}

#[test]
fn chains_follow_articles_11_and_12() {
    let idx = index();
    let get = |code: &str| idx.get(&c(code)).unwrap().clone();
    use Step::*;
    assert_eq!(approval_chain(&get("A"), false, false, false), vec![GroupHr], "group-operated: group HR confirms");
    assert_eq!(approval_chain(&get("U"), false, false, false), vec![StrategyOffice, GroupHr], "unrated");
    // Seed 000 art. 11(四): a confidential post goes through the confidential office alone.
    assert_eq!(approval_chain(&get("A"), true, false, false), vec![ConfidentialOffice], "confidential");
    assert_eq!(approval_chain(&get("U"), true, false, false), vec![ConfidentialOffice], "unrated, confidential");
    // Where a group has group HR confirm them too.
    assert_eq!(approval_chain(&get("A"), true, false, true), vec![GroupHr, ConfidentialOffice]);
    assert_eq!(approval_chain(&get("B"), true, true, true), vec![GroupHr, ConfidentialOffice]);
    assert_eq!(approval_chain(&get("B"), false, true, false), Vec::<Step>::new(), "independent delegate acts directly");
    assert_eq!(approval_chain(&get("B"), false, false, false), vec![GroupHr], "independent, but not its delegate");
    assert_eq!(approval_chain(&get("B"), true, true, false), vec![ConfidentialOffice], "confidential post");
    assert_eq!(approval_chain(&get("V"), false, true, false), vec![StrategyOffice, GroupHr], "unrated independent");
}

fn request(by: &str, company: &str, chain: Vec<Step>) -> Request {
    let profile = Profile {
        employee_number: "10001".into(),
        name: "张三".into(),
        gender: None,
        company: c(company),
        department: "财务部".into(),
        title: "经理".into(),
        grade: None,
        mobile: String::new(),
        email: String::new(),
        hire_date: None,
        confidential: false,
    };
    Request {
        id: 7,
        kind: RequestKind::Open,
        company: c(company),
        person_key: PersonKey("k".into()),
        employee_number: "10001".into(),
        name: "张三".into(),
        profile,
        before: None,
        effective_date: None,
        origin: Origin::Api,
        requested_by: by.into(),
        requested_at: t("2026-09-28T02:00:00Z"),
        state: RequestState::Pending,
        chain,
        approvals: Vec::new(),
        approved_at: None,
        due: None,
        done_at: None,
        error: None,
    }
}

#[test]
fn the_last_approval_is_final_and_one_rejection_rejects() {
    let mut r = request("hr", "U", vec![Step::StrategyOffice, Step::GroupHr]);
    let ok = |step, at: &str| Approval { step, by: "x".into(), at: t(at), approve: true, comment: String::new() };
    // Any order: group HR first.
    assert_eq!(r.decide(ok(Step::GroupHr, "2026-09-28T03:00:00Z")), RequestState::Pending);
    assert_eq!(r.open_steps(), vec![Step::StrategyOffice]);
    assert_eq!(r.decide(ok(Step::StrategyOffice, "2026-09-29T03:00:00Z")), RequestState::Approved);
    assert_eq!(r.approved_at, Some(t("2026-09-29T03:00:00Z")));
    let mut r = request("hr", "U", vec![Step::StrategyOffice, Step::GroupHr]);
    let no = Approval {
        step: Step::StrategyOffice,
        by: "s".into(),
        at: t("2026-09-28T03:00:00Z"),
        approve: false,
        comment: "no".into(),
    };
    assert_eq!(r.decide(no), RequestState::Rejected);
    assert!(r.state.is_final() && r.approved_at.is_none());
}

#[test]
fn submitting_needs_the_company_role() {
    let idx = index();
    let get = |code: &str| idx.get(&c(code)).unwrap().clone();
    let hr_a = who("hr", &[(Role::CompanyHr, "A", false)]);
    assert!(can_submit(&hr_a, &get("A"), false, &idx).is_ok());
    assert_eq!(can_submit(&hr_a, &get("B"), false, &idx).unwrap_err().code, "out_of_scope");
    let it_b = who("itb", &[(Role::CompanyIt, "B", false)]);
    assert!(can_submit(&it_b, &get("B"), false, &idx).is_ok());
    assert!(acts_as_delegate(&it_b, &get("B"), &idx));
    assert_eq!(can_submit(&it_b, &get("C"), false, &idx).unwrap_err().code, "out_of_scope");
    let it_a = who("ita", &[(Role::CompanyIt, "A", false)]);
    assert_eq!(can_submit(&it_a, &get("A"), false, &idx).unwrap_err().code, "not_delegate");
    let ghr = who("ghr", &[(Role::GroupHr, "G", true)]);
    assert!(can_submit(&ghr, &get("C"), false, &idx).is_ok());
    let conf = who("conf", &[(Role::ConfidentialOffice, "G", true)]);
    assert!(can_submit(&conf, &get("A"), true, &idx).is_ok());
    assert_eq!(can_submit(&conf, &get("A"), false, &idx).unwrap_err().code, "out_of_scope");
}

#[test]
fn moves_with_an_independent_side_are_split_into_close_and_open() {
    let idx = index();
    let get = |code: &str| idx.get(&c(code)).unwrap().clone();
    let any = who("x", &[(Role::GroupHr, "G", true)]);
    assert!(can_move(&any, &get("A"), &get("U")).is_ok());
    assert_eq!(can_move(&any, &get("A"), &get("B")).unwrap_err().code, "move_into_scope");
    assert_eq!(can_move(&any, &get("B"), &get("C")).unwrap_err().code, "move_into_scope");
    assert_eq!(can_move(&any, &get("B"), &get("A")).unwrap_err().code, "move_into_scope");
    assert!(can_move(&Principal::operator(), &get("B"), &get("C")).is_ok());
}

fn stored(company: &str, status: AccountStatus) -> StoredPerson {
    let r = request("x", company, vec![]);
    StoredPerson {
        person: Person {
            key: r.person_key,
            profile: r.profile,
            employment: Employment::Active,
            leave_date: None,
            source: "t".into(),
            updated_at: t("2026-01-01T00:00:00Z"),
        },
        account: Some(Account {
            login: "zhangsan".into(),
            status,
            rule: "ELIG-2".into(),
            opened_at: None,
            closed_at: None,
            updated_at: t("2026-01-01T00:00:00Z"),
        }),
    }
}

#[test]
fn opening_someone_active_elsewhere_is_refused_but_a_closed_account_reopens() {
    let it_c = who("itc", &[(Role::CompanyIt, "C", false)]);
    let active_b = stored("B", AccountStatus::Active);
    assert_eq!(can_open_person(&it_c, Some(&active_b), &c("C")).unwrap_err().code, "person_elsewhere");
    assert!(can_open_person(&it_c, Some(&stored("B", AccountStatus::Disabled)), &c("C")).is_ok());
    assert!(can_open_person(&it_c, None, &c("C")).is_ok());
    assert!(can_open_person(&it_c, Some(&stored("C", AccountStatus::Active)), &c("C")).is_ok());
}

#[test]
fn approving_needs_the_step_role_and_never_ones_own_request() {
    let idx = index();
    let ghr = who("ghr", &[(Role::GroupHr, "G", true), (Role::CompanyHr, "A", false)]);
    let mine = request("ghr", "A", vec![Step::GroupHr]);
    assert_eq!(can_approve(&ghr, &mine, Step::GroupHr, &idx).unwrap_err().code, "own_request");
    let theirs = request("hr", "A", vec![Step::GroupHr]);
    assert!(can_approve(&ghr, &theirs, Step::GroupHr, &idx).is_ok());
    let hr_a = who("hr2", &[(Role::CompanyHr, "A", false)]);
    assert_eq!(can_approve(&hr_a, &theirs, Step::GroupHr, &idx).unwrap_err().code, "not_approver");
    // Holding both offices' roles does not make one person both confirmations.
    let both = who("both", &[(Role::GroupHr, "G", true), (Role::StrategyOffice, "G", true)]);
    let mut unrated = request("hr", "U", vec![Step::StrategyOffice, Step::GroupHr]);
    assert!(can_approve(&both, &unrated, Step::StrategyOffice, &idx).is_ok());
    unrated.decide(Approval {
        step: Step::StrategyOffice,
        by: "both".into(),
        at: t("2026-09-28T03:00:00Z"),
        approve: true,
        comment: String::new(),
    });
    assert_eq!(can_approve(&both, &unrated, Step::GroupHr, &idx).unwrap_err().code, "already_decided");
    let strat_a1 = who("s", &[(Role::StrategyOffice, "A1", false)]);
    let unrated = request("hr", "U", vec![Step::StrategyOffice, Step::GroupHr]);
    assert_eq!(can_approve(&strat_a1, &unrated, Step::StrategyOffice, &idx).unwrap_err().code, "not_approver");
}

#[test]
fn only_group_it_grants_and_never_to_itself() {
    let admin = who("root", &[(Role::GroupItAdmin, "G", true)]);
    assert!(can_grant(&admin, "someone").is_ok());
    assert_eq!(can_grant(&admin, "root").unwrap_err().code, "grant_roles");
    let it_b = who("itb", &[(Role::CompanyIt, "B", false)]);
    assert_eq!(can_grant(&it_b, "someone").unwrap_err().code, "grant_roles");
    assert_eq!(can_grant(&it_b, "itb").unwrap_err().code, "grant_roles");
    assert!(can_grant(&Principal::operator(), "cli").is_ok());
}

#[test]
fn viewing_and_resetting_stay_in_scope() {
    let idx = index();
    let it_b = who("itb", &[(Role::CompanyIt, "B", false)]);
    assert!(can_view(&it_b, &c("B"), &idx).is_ok());
    assert_eq!(can_view(&it_b, &c("C"), &idx).unwrap_err().code, "out_of_scope");
    assert!(can_reset_password(&it_b, &c("B"), &idx).is_ok());
    assert_eq!(can_reset_password(&it_b, &c("A"), &idx).unwrap_err().code, "out_of_scope");
    let hr_a = who("hr", &[(Role::CompanyHr, "A", false)]);
    assert_eq!(can_reset_password(&hr_a, &c("A"), &idx).unwrap_err().code, "not_delegate");
}

fn shanghai() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).unwrap()
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[test]
fn due_dates_are_end_of_day_two_working_days_later_across_national_day() {
    let cal = Calendar::built_in();
    let rules = SlaRules::default();
    // Approved Wednesday 30 September 2026, 10:00 in Shanghai: due Friday 9 October, 23:59:59.
    let due_at = due(t("2026-09-30T02:00:00Z"), &shanghai(), &cal, &rules);
    assert_eq!(due_at, shanghai().with_ymd_and_hms(2026, 10, 9, 23, 59, 59).unwrap().with_timezone(&Utc));
    // Approved Thursday 8 October at 23:30 local (15:30 UTC): 9 October, then Saturday 10 (a working day).
    let due_at = due(t("2026-10-08T15:30:00Z"), &shanghai(), &cal, &rules);
    assert_eq!(local_date(due_at, &shanghai()), d("2026-10-10"));
}

#[test]
fn submission_deadline_is_the_next_15th() {
    assert_eq!(submission_deadline(d("2026-03-02"), 15), d("2026-03-15"));
    assert_eq!(submission_deadline(d("2026-03-15"), 15), d("2026-03-15"));
    assert_eq!(submission_deadline(d("2026-03-16"), 15), d("2026-04-15"));
    assert_eq!(submission_deadline(d("2026-12-20"), 15), d("2027-01-15"));
}

#[test]
fn late_cases_name_the_responsible_role_and_points() {
    let idx = index();
    let cal = Calendar::built_in();
    let rules = SlaRules::default();
    let tz = shanghai();
    // Group-operated A: approved 30 Sep, due 9 Oct, applied Tuesday 13 Oct: 3 working days late
    // (Saturday 10 October is an adjusted working day, then 12 and 13).
    let mut late = request("hr", "A", vec![Step::GroupHr]);
    late.state = RequestState::Applied;
    late.approved_at = Some(t("2026-09-30T02:00:00Z"));
    late.due = Some(due(t("2026-09-30T02:00:00Z"), &tz, &cal, &rules));
    late.done_at = Some(t("2026-10-13T02:00:00Z"));
    // Hired 1 September, submitted 28 September: 9 working days past the 15 September deadline
    // (Sunday 20 September is a working day, Friday 25 September a holiday).
    late.effective_date = Some(d("2026-09-01"));
    // On time: hired 20 September, deadline 15 October; applied the day it was approved.
    let mut fine = request("hr", "A", vec![Step::GroupHr]);
    fine.id = 8;
    fine.state = RequestState::Applied;
    fine.effective_date = Some(d("2026-09-20"));
    fine.due = late.due;
    fine.done_at = Some(t("2026-09-30T03:00:00Z"));
    // Still approved and not applied on 12 October: overdue, 2 working days (10 and 12 Oct) so far.
    let mut waiting = request("hr", "A", vec![Step::GroupHr]);
    waiting.id = 9;
    waiting.state = RequestState::Approved;
    waiting.due = late.due;
    // Independent B: a missing account seen 28 September, unresolved on 12 October.
    let check = RosterCheck {
        id: 3,
        company: c("B"),
        person_key: PersonKey("k2".into()),
        employee_number: "20001".into(),
        name: "李四".into(),
        kind: CheckKind::Missing,
        detail: String::new(),
        detail_zh: String::new(),
        first_seen: t("2026-09-28T02:00:00Z"),
        last_seen: t("2026-09-28T02:00:00Z"),
        resolved_at: None,
    };
    let rows = late_cases(&[late, fine, waiting], &[check], &idx, &cal, &tz, t("2026-10-12T04:00:00Z"), &rules);
    let summary: Vec<(Role, &str, &str, u32, u32)> =
        rows.iter().map(|r| (r.role, r.company.0.as_str(), r.case, r.late_days, r.points)).collect();
    assert_eq!(
        summary,
        vec![
            (Role::CompanyHr, "A", "late_submission", 9, 10),
            // Seen Monday 28 Sep: deadline Wednesday 30 Sep; 8, 9, 10 (Saturday, working) and 12 October.
            (Role::CompanyIt, "B", "roster_check", 4, 10),
            (Role::GroupItAdmin, "A", "overdue", 3, 10),
            (Role::GroupItAdmin, "A", "overdue", 2, 10),
        ]
    );
    assert_eq!(rows[0].deadline, d("2026-09-15"));
    let sums = totals(&rows);
    let sums: Vec<(Role, &str, u32, u32)> =
        sums.iter().map(|t| (t.role, t.company.0.as_str(), t.cases, t.points)).collect();
    assert_eq!(
        sums,
        vec![(Role::GroupItAdmin, "A", 2, 20), (Role::CompanyHr, "A", 1, 10), (Role::CompanyIt, "B", 1, 10)]
    );
    assert_eq!(rows[2].deadline, d("2026-10-09"));
}
