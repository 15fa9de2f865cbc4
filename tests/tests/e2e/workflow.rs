//! Delegation and the lifecycle workflow end to end: a synced group, roles granted, requests
//! submitted, approved and applied through the service (`orgid::workflow`), against SQLite and a
//! real PostgreSQL; refusals are checked to be audited.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use orgid::app::App;
use orgid::workflow::{self as wf, AccountQuery, PersonRef, Submission, WorkflowError};
use orgid_directory::audit::{AuditFilter, AuditScope, EventKind, Order, PageRequest};
use orgid_directory::workflow::{Origin, Principal, Request, RequestKind, RequestState, Role, Step};
use orgid_directory::{AccountStatus, AuditStore, CompanyCode, FixedClock, Gender, Grade, PersonStore, Profile};
use tempfile::TempDir;

use crate::hr::{Hr, Row, id_number};
use crate::sync::{Backend, orgid, store_url};

/// HQ G000; C010 tier 1 and its C020 tier 2, group-operated; C021 (under C010) and C022
/// independent; N001 unrated.
pub const COMPANIES: &str = "公司编码,公司名称,上级公司编码,企业级别,运营模式
G000,测试集团,,集团,集团统一运营
C010,测试一级公司,G000,1,集团统一运营
C020,测试二级公司,C010,2,集团统一运营
C021,测试独立公司甲,C010,2,独立运营
C022,测试独立公司乙,G000,2,独立运营
N001,测试新加入公司,G000,未定级,集团统一运营
";

pub fn staff() -> Vec<Row> {
    vec![
        Row::new(1, "G000", "G1", "张伟", ""),     // group IT admin: zhangwei
        Row::new(2, "G000", "G2", "李娜", ""),     // group HR: lina
        Row::new(3, "G000", "G3", "王磊", ""),     // strategy office: wanglei
        Row::new(4, "G000", "G4", "赵敏", ""),     // confidential office: zhaomin
        Row::new(5, "C010", "A1", "王芳", "M12"),  // HR of C010 (and N001): wangfang
        Row::new(6, "C021", "B1", "杨洋", "M11"),  // IT delegate of C021: yangyang
        Row::new(7, "C022", "D1", "周杰", "M11"),  // IT delegate of C022: zhoujie
        Row::new(8, "C021", "B2", "刘强", "M12"),  // liuqiang, in C021
        Row::new(9, "C022", "D2", "陈静", "M12"),  // chenjing, in C022
        Row::new(10, "N001", "N1", "孙浩", "M15"), // unrated: pending approval
        Row::new(11, "G000", "G5", "吴刚", ""),    // security auditor: wugang
    ]
}

pub struct Env {
    pub _dir: TempDir,
    pub hr: Hr,
    pub cfg: PathBuf,
    pub app: App,
    pub clock: Arc<FixedClock>,
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
}

impl Env {
    /// The group synced (with `extra` configuration), roles granted by the operator; the clock
    /// at Monday 28 September 2026, 10:00 in Shanghai.
    pub async fn new(backend: Backend, extra: &str) -> Env {
        let dir = TempDir::new().expect("tempdir");
        let hr = Hr::new(dir.path());
        std::fs::write(dir.path().join("companies.csv"), COMPANIES).expect("companies");
        hr.write(&staff(), false);
        let url = store_url(backend, dir.path()).await;
        let cfg = hr.config(&url, extra);
        let (code, out) = orgid(&cfg, &["sync"]).await;
        assert_eq!(code, 0, "{out}");
        let config = orgid::cli::load_config(Some(&cfg), Vec::new()).expect("config");
        let clock = Arc::new(FixedClock::new(t("2026-09-28T02:00:00Z")));
        let app = App::open_with_clock(config, clock.clone()).await.expect("open");
        let env = Env { _dir: dir, hr, cfg, app, clock };
        let op = Principal::operator();
        for (login, role, company, subtree) in [
            ("zhangwei", Role::GroupItAdmin, "G000", true),
            ("lina", Role::GroupHr, "G000", true),
            ("wanglei", Role::StrategyOffice, "G000", true),
            ("zhaomin", Role::ConfidentialOffice, "G000", true),
            ("wangfang", Role::CompanyHr, "C010", false),
            ("wangfang", Role::CompanyHr, "N001", false),
            ("yangyang", Role::CompanyIt, "C021", false),
            ("zhoujie", Role::CompanyIt, "C022", false),
            ("wugang", Role::SecurityAuditor, "G000", true),
        ] {
            wf::grant_role(&env.app, &op, login, role, &CompanyCode(company.into()), subtree)
                .await
                .unwrap_or_else(|e| panic!("grant {role} to {login}: {e}"));
        }
        env
    }

    pub async fn who(&self, login: &str) -> Principal {
        wf::principal(&self.app, login).await.expect("principal")
    }

    /// The store's status of `login`'s account and its company.
    pub async fn account(&self, login: &str) -> Option<(AccountStatus, String, String)> {
        let rows = wf::accounts(&self.app, &Principal::operator(), &AccountQuery::default()).await.expect("accounts");
        rows.into_iter().find(|r| r.login == login).map(|r| (r.status, r.company.0, r.rule))
    }

    /// How many refusals with `code` the audit trail holds.
    pub async fn denials(&self, code: &str) -> usize {
        let filter = AuditFilter { kinds: vec![EventKind::AccessDenied], ..AuditFilter::default() };
        let page = self
            .app
            .store
            .audit_query(&AuditScope::All, &filter, PageRequest::first(Order::NewestFirst, 500))
            .await
            .expect("audit");
        page.records.iter().filter(|r| r.fields.reason.as_deref() == Some(code)).count()
    }
}

pub fn profile(employee_number: &str, name: &str, company: &str, grade: &str, confidential: bool) -> Profile {
    Profile {
        employee_number: employee_number.into(),
        name: name.into(),
        gender: Some(Gender::Male),
        company: CompanyCode(company.into()),
        department: "综合部".into(),
        title: "经理".into(),
        grade: (!grade.is_empty()).then(|| grade.parse::<Grade>().expect("grade")),
        mobile: "13800000000".into(),
        email: format!("{}@example.com", employee_number.to_lowercase()),
        hire_date: NaiveDate::from_ymd_opt(2026, 9, 1),
        confidential,
    }
}

pub fn open(n: u32, p: Profile) -> Submission {
    Submission {
        kind: RequestKind::Open,
        person: PersonRef::IdNumber(id_number(n)),
        effective_date: p.hire_date,
        profile: Some(p),
        origin: Origin::Api,
    }
}

fn code(e: WorkflowError) -> &'static str {
    match e {
        WorkflowError::Denied(d) => d.code,
        other => panic!("expected a refusal, got {other}"),
    }
}

/// Independent companies applied by the sync, so every role holder has an account.
const APPLY: &str = "[workflow]\nindependent_roster = \"apply\"";

both_workflow!(
    group_operated_open_needs_group_hr_and_only_group_hr,
    unrated_needs_strategy_office_and_group_hr,
    confidential_post_needs_the_confidential_office,
    independent_delegate_acts_directly,
    scope_escapes_are_refused_and_audited,
    cross_company_move_between_independent_companies,
    sla_due_dates_follow_the_calendar_and_late_submissions_are_reported,
);

async fn group_operated_open_needs_group_hr_and_only_group_hr(env: Env) {
    let hr = env.who("wangfang").await;
    let r = wf::submit(&env.app, &hr, open(20, profile("A20", "郑爽", "C010", "M13", false))).await.expect("submit");
    assert_eq!((r.state, r.chain.clone()), (RequestState::Pending, vec![Step::GroupHr]));
    assert!(env.account("zhengshuang").await.is_none(), "nothing opens before the approval");
    // The strategy office, the requester and a delegate cannot approve it.
    for login in ["wanglei", "yangyang"] {
        let e = wf::approve(&env.app, &env.who(login).await, r.id, true, "").await.expect_err(login);
        assert!(matches!(code(e), "not_approver" | "out_of_scope"), "{login}");
    }
    assert_eq!(code(wf::approve(&env.app, &hr, r.id, true, "").await.unwrap_err()), "own_request");
    // Group HR approves: the last approval is final and the account opens at once.
    let ghr = env.who("lina").await;
    let inbox = wf::requests(&env.app, &ghr, &wf::RequestQuery { inbox: true, ..Default::default() }).await.unwrap();
    assert_eq!(inbox.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r.id]);
    let done = wf::approve(&env.app, &ghr, r.id, true, "确认").await.expect("approve");
    assert_eq!(done.state, RequestState::Applied, "{:?}", done.error);
    assert_eq!(env.account("zhengshuang").await, Some((AccountStatus::Active, "C010".into(), "ELIG-1".into())));
    // Group HR's own request: refused, whoever else holds the role may approve.
    let own = wf::submit(&env.app, &ghr, open(21, profile("A21", "钱多", "C010", "M12", false))).await.unwrap();
    assert_eq!(code(wf::approve(&env.app, &ghr, own.id, true, "").await.unwrap_err()), "own_request");
    assert!(env.denials("own_request").await >= 1, "the refusal is audited");
    // A rejection ends it.
    let rejected = wf::approve(&env.app, &env.who("zhangwei").await, own.id, false, "no").await;
    assert_eq!(code(rejected.unwrap_err()), "not_approver", "group IT does not confirm for group HR");
    let stored = wf::request(&env.app, &ghr, own.id).await.unwrap();
    assert_eq!(stored.state, RequestState::Pending);
}

async fn unrated_needs_strategy_office_and_group_hr(env: Env) {
    assert_eq!(env.account("sunhao").await.map(|a| a.0), Some(AccountStatus::PendingApproval));
    let hr = env.who("wangfang").await;
    let mut s = open(10, profile("N1", "孙浩", "N001", "M15", false));
    s.origin = Origin::Console;
    let r = wf::submit(&env.app, &hr, s).await.expect("submit");
    assert_eq!(r.chain, vec![Step::StrategyOffice, Step::GroupHr]);
    // Any order: group HR first, then the strategy office's approval is the final one.
    let r1 = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
    assert_eq!(r1.state, RequestState::Pending);
    assert_eq!(env.account("sunhao").await.map(|a| a.0), Some(AccountStatus::PendingApproval));
    let r2 = wf::approve(&env.app, &env.who("wanglei").await, r.id, true, "").await.unwrap();
    assert_eq!(r2.state, RequestState::Applied, "{:?}", r2.error);
    assert_eq!(env.account("sunhao").await, Some((AccountStatus::Active, "N001".into(), "APPROVED".into())));
    assert_eq!(
        r2.approvals.iter().map(|a| (a.step, a.by.as_str())).collect::<Vec<_>>(),
        vec![(Step::GroupHr, "lina"), (Step::StrategyOffice, "wanglei")]
    );
}

async fn confidential_post_needs_the_confidential_office(env: Env) {
    let hr = env.who("wangfang").await;
    // P5 is far below tier 1's M12/P12, but a confidential post always gets an account.
    let r = wf::submit(&env.app, &hr, open(30, profile("A30", "冯军", "C010", "P5", true))).await.unwrap();
    assert_eq!(r.chain, vec![Step::GroupHr, Step::ConfidentialOffice]);
    let r = wf::approve(&env.app, &env.who("zhaomin").await, r.id, true, "").await.unwrap();
    assert_eq!(r.state, RequestState::Pending);
    let r = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
    assert_eq!(r.state, RequestState::Applied, "{:?}", r.error);
    assert_eq!(env.account("fengjun").await, Some((AccountStatus::Active, "C010".into(), "ELIG-3".into())));
    // The confidential office may itself submit for a confidential post, not for others.
    let conf = env.who("zhaomin").await;
    let e = wf::submit(&env.app, &conf, open(31, profile("A31", "何平", "C010", "M12", false))).await.unwrap_err();
    assert_eq!(code(e), "out_of_scope");
    assert!(wf::submit(&env.app, &conf, open(32, profile("A32", "何安", "C010", "P3", true))).await.is_ok());
}

async fn independent_delegate_acts_directly(env: Env) {
    let it = env.who("yangyang").await;
    let r = wf::submit(&env.app, &it, open(40, profile("B40", "林峰", "C021", "M11", false))).await.unwrap();
    assert!(r.chain.is_empty());
    assert_eq!(r.state, RequestState::Applied, "{:?}", r.error);
    assert_eq!(env.account("linfeng").await.map(|a| a.0), Some(AccountStatus::Active));
    // And closes directly.
    let close = Submission {
        kind: RequestKind::Close,
        person: PersonRef::EmployeeNumber("B40".into()),
        profile: None,
        effective_date: NaiveDate::from_ymd_opt(2026, 9, 28),
        origin: Origin::Api,
    };
    let r = wf::submit(&env.app, &it, close).await.unwrap();
    assert_eq!(r.state, RequestState::Applied, "{:?}", r.error);
    assert_eq!(env.account("linfeng").await.map(|a| a.0), Some(AccountStatus::Disabled));
    // The delegate of an independent company cannot act for a group-operated one.
    let e = wf::submit(&env.app, &it, open(41, profile("A41", "林森", "C010", "M12", false))).await.unwrap_err();
    assert_eq!(code(e), "out_of_scope");
}

async fn scope_escapes_are_refused_and_audited(env: Env) {
    let it = env.who("yangyang").await;
    // Another company's person by id.
    assert_eq!(code(wf::account(&env.app, &it, "chenjing").await.unwrap_err()), "out_of_scope");
    // By search: nothing outside the scope comes back.
    let found =
        wf::accounts(&env.app, &it, &AccountQuery { search: Some("陈".into()), ..Default::default() }).await.unwrap();
    assert!(found.is_empty(), "{found:?}");
    let mine = wf::people(&env.app, &it, &AccountQuery::default()).await.unwrap();
    assert!(mine.iter().all(|p| p.company.0 == "C021") && mine.len() == 2, "{mine:?}");
    assert_eq!(
        code(
            wf::accounts(
                &env.app,
                &it,
                &AccountQuery { company: Some(CompanyCode("C022".into())), ..Default::default() }
            )
            .await
            .unwrap_err()
        ),
        "out_of_scope"
    );
    // By moving someone into scope (form 2 from C022 into C021).
    let mv = Submission {
        kind: RequestKind::Adjust,
        person: PersonRef::EmployeeNumber("D2".into()),
        profile: Some(profile("B9", "陈静", "C021", "M12", false)),
        effective_date: None,
        origin: Origin::Api,
    };
    assert_eq!(code(wf::submit(&env.app, &it, mv).await.unwrap_err()), "move_into_scope");
    // By closing another company's person.
    let close = Submission {
        kind: RequestKind::Close,
        person: PersonRef::EmployeeNumber("D2".into()),
        profile: None,
        effective_date: None,
        origin: Origin::Api,
    };
    assert_eq!(code(wf::submit(&env.app, &it, close).await.unwrap_err()), "out_of_scope");
    // By role self-assignment, or granting roles to someone else.
    let c022 = CompanyCode("C022".into());
    let e = wf::grant_role(&env.app, &it, "yangyang", Role::CompanyIt, &c022, false).await.unwrap_err();
    assert_eq!(code(e), "grant_roles");
    let e = wf::grant_role(&env.app, &it, "liuqiang", Role::CompanyIt, &c022, false).await.unwrap_err();
    assert_eq!(code(e), "grant_roles");
    let admin = env.who("zhangwei").await;
    let e = wf::grant_role(&env.app, &admin, "zhangwei", Role::GroupHr, &c022, false).await.unwrap_err();
    assert_eq!(code(e), "grant_roles", "not even group IT grants itself a role");
    // A password reset outside the scope.
    assert_eq!(code(wf::reset_password(&env.app, &it, "chenjing").await.unwrap_err()), "out_of_scope");
    // Requests of other companies are neither listed nor shown.
    let other = wf::submit(&env.app, &env.who("zhoujie").await, open(50, profile("D50", "宋佳", "C022", "M11", false)))
        .await
        .unwrap();
    assert!(wf::requests(&env.app, &it, &wf::RequestQuery::default()).await.unwrap().iter().all(|r| r.id != other.id));
    assert_eq!(code(wf::request(&env.app, &it, other.id).await.unwrap_err()), "out_of_scope");
    // Every refusal is in the audit trail with its code.
    assert_eq!(env.denials("out_of_scope").await, 5);
    assert_eq!(env.denials("move_into_scope").await, 1);
    assert_eq!(env.denials("grant_roles").await, 3);
    // The auditor sees no people.
    let auditor = env.who("wugang").await;
    assert!(wf::accounts(&env.app, &auditor, &AccountQuery::default()).await.unwrap().is_empty());
}

async fn cross_company_move_between_independent_companies(env: Env) {
    let before = env.app.store.person_by_employee_number("B2").await.unwrap().expect("刘强");
    let (old_it, new_it) = (env.who("yangyang").await, env.who("zhoujie").await);
    // The new company cannot open while the account is active in the old one.
    let reopen = || open(8, profile("D8", "刘强", "C022", "M12", false));
    assert_eq!(code(wf::submit(&env.app, &new_it, reopen()).await.unwrap_err()), "person_elsewhere");
    // The old company's delegate closes …
    let close = Submission {
        kind: RequestKind::Close,
        person: PersonRef::EmployeeNumber("B2".into()),
        profile: None,
        effective_date: NaiveDate::from_ymd_opt(2026, 9, 28),
        origin: Origin::Api,
    };
    let r = wf::submit(&env.app, &old_it, close).await.unwrap();
    assert_eq!((r.state, r.company.0.as_str()), (RequestState::Applied, "C021"), "{:?}", r.error);
    assert_eq!(env.account("liuqiang").await.map(|a| a.0), Some(AccountStatus::Disabled));
    // … and the new company's delegate opens: the same person, login and history.
    let r: Request = wf::submit(&env.app, &new_it, reopen()).await.unwrap();
    assert_eq!(r.state, RequestState::Applied, "{:?}", r.error);
    assert_eq!(r.person_key, before.person.key);
    assert_eq!(env.account("liuqiang").await.map(|a| (a.0, a.1)), Some((AccountStatus::Active, "C022".into())));
    let after = env.app.store.person_by_employee_number("D8").await.unwrap().expect("刘强 in C022");
    assert_eq!(after.person.key, before.person.key);
    assert_eq!(after.account.as_ref().map(|a| a.login.as_str()), Some("liuqiang"));
    assert_eq!(after.account.and_then(|a| a.opened_at), Some(env.clock_now()), "reopened now");
    let (code_, out) = orgid(&env.cfg, &["accounts", "explain", "D8"]).await;
    assert_eq!(code_, 0, "{out}");
}

impl Env {
    fn clock_now(&self) -> DateTime<Utc> {
        use orgid_directory::Clock;
        self.clock.now()
    }
}

async fn sla_due_dates_follow_the_calendar_and_late_submissions_are_reported(env: Env) {
    // Wednesday 30 September, 10:00 in Shanghai: due at the end of Friday 9 October (1–7 October
    // is the National Day holiday).
    env.clock.set(t("2026-09-30T02:00:00Z"));
    let hr = env.who("wangfang").await;
    let mut late = open(60, profile("A60", "罗兰", "C010", "M12", false));
    late.effective_date = NaiveDate::from_ymd_opt(2026, 9, 1); // deadline 15 September
    let r = wf::submit(&env.app, &hr, late).await.unwrap();
    let r = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
    assert_eq!(r.due, Some(t("2026-10-09T15:59:59Z")));
    // Approved Thursday 8 October at 23:30: due Saturday 10 October (an adjusted working day).
    env.clock.set(t("2026-10-08T15:30:00Z"));
    let mut on_time = open(61, profile("A61", "罗杰", "C010", "M12", false));
    on_time.effective_date = NaiveDate::from_ymd_opt(2026, 10, 8);
    let r = wf::submit(&env.app, &hr, on_time).await.unwrap();
    let r = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
    assert_eq!(r.due, Some(t("2026-10-10T15:59:59Z")));
    let rows = wf::sla_report(&env.app, &env.who("zhangwei").await, None).await.unwrap();
    let summary: Vec<_> = rows.iter().map(|r| (r.role, r.company.0.as_str(), r.case, r.late_days, r.points)).collect();
    // Submitted 30 September for a 15 September deadline: 16–18, 20 (a working Sunday), 21–24,
    // 28–30 September (25 September is a holiday).
    assert_eq!(summary, vec![(Role::CompanyHr, "C010", "late_submission", 11, 10)]);
    let month = wf::sla_report(&env.app, &hr, NaiveDate::from_ymd_opt(2026, 10, 1)).await.unwrap();
    assert!(month.is_empty(), "the deadline is in September");
    let delegate = wf::sla_report(&env.app, &env.who("yangyang").await, None).await.unwrap();
    assert!(delegate.is_empty(), "C010's lateness is outside C021's scope");
}
