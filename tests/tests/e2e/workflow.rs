//! Delegation and the lifecycle workflow end to end: a synced group, roles granted, requests
//! submitted, approved and applied through the service (`orgid::services::workflow`), against SQLite and a
//! real PostgreSQL; refusals are checked to be audited.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use orgid::app::App;
use orgid::services::workflow::{self as wf, AccountQuery, PersonRef, Submission, WorkflowError};
use orgid_directory::audit::{AuditFilter, AuditScope, EventKind, Order, PageRequest};
use orgid_directory::workflow::{Origin, Principal, Request, RequestKind, RequestState, Role, Step};
use orgid_directory::{
    AccountStatus, AuditStore, CompanyCode, FixedClock, Gender, Grade, OperatingMode, PersonStore, Profile,
};
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
        Row::new(12, "C020", "E1", "黄磊", "M11"), // huanglei, in group-operated C020
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
pub const APPLY: &str = "[workflow]\nindependent_roster = \"apply\"";

both_workflow!(
    group_operated_open_needs_group_hr_and_only_group_hr,
    unrated_needs_strategy_office_and_group_hr,
    confidential_post_needs_the_confidential_office,
    independent_delegate_acts_directly,
    scope_escapes_are_refused_and_audited,
    cross_company_move_between_independent_companies,
    sla_due_dates_follow_the_calendar_and_late_submissions_are_reported,
    independent_rosters_are_checked_not_applied,
    move_into_a_group_operated_company_is_the_new_companys_request,
    password_resets_go_to_the_holder_through_the_notifier,
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
    // Group HR's inbox: this request and the sync's for 孙浩 of unrated N001.
    let waiting: Vec<_> = inbox.iter().map(|r| (r.employee_number.as_str(), r.origin)).collect();
    assert_eq!(waiting, vec![("A20", Origin::Api), ("N1", Origin::Sync)]);
    let done = wf::approve(&env.app, &ghr, r.id, true, "确认").await.expect("approve");
    assert_eq!(done.state, RequestState::Applied, "{:?}", done.error);
    assert_eq!(env.account("zhengshuang").await, Some((AccountStatus::Active, "C010".into(), "ELIG-1".into())));
    // The request's run covers one person: the sync's shrink check still compares with the last sync.
    use orgid_directory::RunStore;
    let last = env.app.store.last_applied_run().await.unwrap().expect("the first sync");
    assert_eq!((last.kind, last.active_people), (orgid_directory::RunKind::Sync, staff().len() as u64));
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
    // The sync made an opening request for 孙浩 of unrated N001; another sync makes no second one.
    sync(&env).await;
    let ghr = env.who("lina").await;
    let inbox = wf::requests(&env.app, &ghr, &wf::RequestQuery { inbox: true, ..Default::default() }).await.unwrap();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let r = inbox[0].clone();
    assert_eq!((r.employee_number.as_str(), r.origin, r.requested_by.as_str()), ("N1", Origin::Sync, "sync"));
    assert_eq!(r.chain, vec![Step::StrategyOffice, Step::GroupHr]);
    // Any order: group HR first, then the strategy office's approval is the final one.
    let r1 = wf::approve(&env.app, &ghr, r.id, true, "").await.unwrap();
    assert_eq!(r1.state, RequestState::Pending);
    assert_eq!(env.account("sunhao").await.map(|a| a.0), Some(AccountStatus::PendingApproval));
    let r2 = wf::approve(&env.app, &env.who("wanglei").await, r.id, true, "").await.unwrap();
    assert_eq!(r2.state, RequestState::Applied, "{:?}", r2.error);
    assert_eq!(env.account("sunhao").await, Some((AccountStatus::Active, "N001".into(), "APPROVED".into())));
    assert_eq!(
        r2.approvals.iter().map(|a| (a.step, a.by.as_str())).collect::<Vec<_>>(),
        vec![(Step::GroupHr, "lina"), (Step::StrategyOffice, "wanglei")]
    );
    // The approved account stays open through the next sync.
    sync(&env).await;
    assert_eq!(env.account("sunhao").await.map(|a| a.0), Some(AccountStatus::Active));
    // Company HR of N001 submits another one by hand: the same chain.
    let hr = env.who("wangfang").await;
    let r = wf::submit(&env.app, &hr, open(13, profile("N13", "马丽", "N001", "M11", false))).await.unwrap();
    assert_eq!(r.chain, vec![Step::StrategyOffice, Step::GroupHr]);
    // A rejection by either ends it; nothing opens.
    let r = wf::approve(&env.app, &env.who("wanglei").await, r.id, false, "未定级").await.unwrap();
    assert_eq!(r.state, RequestState::Rejected);
    assert!(env.account("mali").await.is_none());
}

/// The HR sync, in process, at the env's clock.
pub async fn sync(env: &Env) -> orgid::services::ledger::RunReport {
    let report = orgid::services::sync::sync(&env.app, false, "test", &orgid::output::progress::Progress::hidden())
        .await
        .expect("sync");
    assert!(matches!(report, orgid::services::ledger::RunReport::Applied { .. }), "{report:?}");
    report
}

async fn confidential_post_needs_the_confidential_office(env: Env) {
    let hr = env.who("wangfang").await;
    // P5 is far below tier 1's M12/P12, but a confidential post always gets an account.
    // Seed 000 art. 11(四): the confidential office alone, which hands it to the IT center.
    let r = wf::submit(&env.app, &hr, open(30, profile("A30", "冯军", "C010", "P5", true))).await.unwrap();
    assert_eq!(r.chain, vec![Step::ConfidentialOffice]);
    let e = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap_err();
    assert_eq!(code(e), "not_approver", "group HR is not in the chain");
    let r = wf::approve(&env.app, &env.who("zhaomin").await, r.id, true, "").await.unwrap();
    assert_eq!(r.state, RequestState::Applied, "{:?}", r.error);
    assert_eq!(env.account("fengjun").await, Some((AccountStatus::Active, "C010".into(), "ELIG-3".into())));
    // The confidential office may itself submit for a confidential post, not for others.
    let conf = env.who("zhaomin").await;
    let e = wf::submit(&env.app, &conf, open(31, profile("A31", "何平", "C010", "M12", false))).await.unwrap_err();
    assert_eq!(code(e), "out_of_scope");
    assert!(wf::submit(&env.app, &conf, open(32, profile("A32", "何安", "C010", "P3", true))).await.is_ok());
}

/// A group-operated company's confidential post that the roster qualifies is not opened by the
/// sync: it waits, with an opening request that the confidential office alone approves; a sync
/// while it waits changes nothing; the approval opens it. With `confidential_group_hr`, group HR
/// confirms first.
#[tokio::test]
async fn the_roster_opens_a_confidential_post_through_the_confidential_office() {
    for group_hr in [false, true] {
        let extra = format!(
            "[workflow]\nindependent_roster = \"apply\"\nconfidential_roster = \"request\"\nconfidential_group_hr = {group_hr}"
        );
        let env = Env::new(Backend::Sqlite, &extra).await;
        let mut rows = staff();
        let mut feng = Row::new(13, "C020", "E2", "冯军", "P5");
        feng.confidential = true;
        rows.push(feng);
        env.hr.write(&rows, false);
        for _ in 0..2 {
            let (code, out) = orgid(&env.cfg, &["sync", "--format", "json"]).await;
            assert_eq!(code, 0, "{out}");
            assert!(out.contains("\"pending_approval\": 1") || out.contains("\"pending_approval\": 0"), "{out}");
            assert_eq!(env.account("fengjun").await.map(|a| a.0), Some(AccountStatus::PendingApproval), "{out}");
        }
        let requests = wf::requests(&env.app, &env.who("zhaomin").await, &wf::RequestQuery::default()).await.unwrap();
        let open: Vec<_> = requests.iter().filter(|r| r.employee_number == "E2").collect();
        assert_eq!(open.len(), 1, "one request, not one per sync: {requests:?}");
        let want =
            if group_hr { vec![Step::GroupHr, Step::ConfidentialOffice] } else { vec![Step::ConfidentialOffice] };
        assert_eq!((open[0].kind, &open[0].chain, open[0].origin), (RequestKind::Open, &want, Origin::Sync));
        let mut r = open[0].clone();
        if group_hr {
            r = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
            assert_eq!(r.state, RequestState::Pending);
        }
        let r = wf::approve(&env.app, &env.who("zhaomin").await, r.id, true, "").await.unwrap();
        assert_eq!(r.state, RequestState::Applied, "{:?}", r.error);
        assert_eq!(env.account("fengjun").await.map(|a| a.0), Some(AccountStatus::Active));
        let (code, out) = orgid(&env.cfg, &["sync", "--format", "json"]).await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(env.account("fengjun").await.map(|a| a.0), Some(AccountStatus::Active), "stays open: {out}");
        if group_hr {
            continue;
        }
        // Adjusting and closing go through the confidential office too: the roster's change waits
        // (the store keeps him as he was, twice over), the approval applies it.
        let env = &env;
        let employee = |login: &'static str| async move {
            wf::people(&env.app, &Principal::operator(), &AccountQuery::default())
                .await
                .unwrap()
                .into_iter()
                .find(|p| p.login.as_deref() == Some(login))
                .expect("person")
        };
        for (kind, change) in [
            (RequestKind::Adjust, (|r: &mut Row| r.title = "机要主管".into()) as fn(&mut Row)),
            (RequestKind::Close, |r: &mut Row| r.left = true),
        ] {
            let mut changed = rows.clone();
            change(changed.last_mut().expect("feng"));
            env.hr.write(&changed, false);
            let before = employee("fengjun").await;
            for _ in 0..2 {
                let (code, out) = orgid(&env.cfg, &["sync", "--format", "json"]).await;
                assert_eq!(code, 0, "{out}");
                assert!(out.contains("waits for the confidential office"), "{out}");
                assert_eq!(employee("fengjun").await, before, "{kind:?}: kept as he was until approved");
            }
            let requests =
                wf::requests(&env.app, &env.who("zhaomin").await, &wf::RequestQuery::default()).await.unwrap();
            let held: Vec<_> = requests.iter().filter(|r| r.employee_number == "E2" && r.kind == kind).collect();
            assert_eq!(held.len(), 1, "{kind:?}: one request: {requests:?}");
            assert_eq!(held[0].chain, vec![Step::ConfidentialOffice]);
            let r = wf::approve(&env.app, &env.who("zhaomin").await, held[0].id, true, "").await.unwrap();
            assert_eq!(r.state, RequestState::Applied, "{kind:?}: {:?}", r.error);
            rows = changed;
        }
        assert_eq!(env.account("fengjun").await.map(|a| a.0), Some(AccountStatus::Disabled), "closed once approved");
        let (code, out) = orgid(&env.cfg, &["sync", "--format", "json"]).await;
        assert_eq!(code, 0, "{out}");
        assert!(!out.contains("waits for the confidential office"), "nothing left to ask: {out}");
    }
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
    // Companies: a delegate lists their own; only group IT changes an operating mode.
    let codes = |cs: Vec<orgid_directory::Company>| cs.into_iter().map(|c| c.code.0).collect::<Vec<_>>();
    assert_eq!(codes(wf::list_companies(&env.app, &it).await.unwrap()), ["C021"]);
    assert_eq!(codes(wf::list_companies(&env.app, &admin).await.unwrap()).len(), 6);
    let c021 = CompanyCode("C021".into());
    let e = wf::set_company_mode(&env.app, &it, &c021, OperatingMode::GroupOperated).await.unwrap_err();
    assert_eq!(code(e), "not_admin");
    wf::set_company_mode(&env.app, &admin, &c021, OperatingMode::GroupOperated).await.unwrap();
    sync(&env).await; // the company list still says 独立运营: the change made in orgid wins
    let modes = wf::list_companies(&env.app, &admin).await.unwrap();
    assert_eq!(modes.iter().find(|c| c.code == c021).map(|c| c.mode), Some(OperatingMode::GroupOperated));
    let e = wf::submit(&env.app, &it, open(51, profile("B51", "宋雨", "C021", "M11", false))).await.unwrap_err();
    assert_eq!(code(e), "not_delegate", "a group-operated company's IT no longer acts directly");
    wf::set_company_mode(&env.app, &admin, &c021, OperatingMode::Independent).await.unwrap();
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
    assert_eq!((env.denials("not_admin").await, env.denials("not_delegate").await), (1, 1));
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
    // One history: the close and the reopening are on the same login in the audit trail.
    let filter = AuditFilter { login: Some("liuqiang".into()), ..AuditFilter::default() };
    let page = env
        .app
        .store
        .audit_query(&AuditScope::All, &filter, PageRequest::first(Order::OldestFirst, 100))
        .await
        .unwrap();
    let kinds: Vec<&str> = page.records.iter().map(|r| r.fields.kind.as_str()).collect();
    assert!(kinds.contains(&"account_open"), "{kinds:?}"); // by the first sync, at the wall clock
    let lifecycle: Vec<&str> = kinds.into_iter().filter(|k| matches!(*k, "account_close" | "account_reopen")).collect();
    assert_eq!(lifecycle, ["account_close", "account_reopen"]);
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

async fn independent_rosters_are_checked_not_applied(mut env: Env) {
    env.app.config.workflow.independent_roster = orgid_config::IndependentRoster::Check;
    // Month two: 刘强 (C021) leaves, a joiner in C021, 陈静 (C022) changes post; 王芳 (C010,
    // group-operated) changes department.
    let mut m2 = staff();
    m2[7].left = true;
    m2[7].leave_date = "2026-09-25".into();
    m2[8].title = "总监".into();
    m2[4].department = "人力部".into();
    m2.push(Row::new(70, "C021", "B70", "高远", "M12"));
    env.hr.write(&m2, false);
    sync(&env).await;
    // The group-operated change is applied; the independent ones are not.
    let wang =
        wf::people(&env.app, &Principal::operator(), &AccountQuery { search: Some("A1".into()), ..Default::default() })
            .await
            .unwrap();
    assert_eq!(wang[0].department, "人力部");
    assert_eq!(env.account("liuqiang").await.map(|a| a.0), Some(AccountStatus::Active));
    assert!(env.account("gaoyuan").await.is_none());
    let chen =
        wf::people(&env.app, &Principal::operator(), &AccountQuery { search: Some("D2".into()), ..Default::default() })
            .await
            .unwrap();
    assert_eq!(chen[0].title, "经理");
    // Each delegate sees their company's differences.
    let kinds = |checks: &[orgid_directory::workflow::RosterCheck]| {
        checks.iter().map(|c| (c.company.0.clone(), c.kind.as_str(), c.employee_number.clone())).collect::<Vec<_>>()
    };
    let it21 = env.who("yangyang").await;
    let c21 = wf::roster_checks(&env.app, &it21, true).await.unwrap();
    assert_eq!(
        kinds(&c21),
        vec![("C021".into(), "should_close", "B2".into()), ("C021".into(), "missing", "B70".into())]
    );
    let c22 = wf::roster_checks(&env.app, &env.who("zhoujie").await, true).await.unwrap();
    assert_eq!(kinds(&c22), vec![("C022".into(), "differs", "D2".into())]);
    assert!(c22[0].detail.contains("title: 经理 → 总监"), "{}", c22[0].detail);
    // The same in Chinese, for the console: the rule by its code, the fields by their names.
    assert_eq!(c22[0].detail_zh, "二至四级企业，职级达到开通标准（ELIG-2）；职务：经理 → 总监");
    assert_eq!(c21[0].detail_zh, "已离职（LEAVER）", "{:?}", c21[0]);
    assert_eq!(c21[1].detail_zh, "二至四级企业，职级达到开通标准（ELIG-2）", "{:?}", c21[1]);
    // The same roster the next day: the same checks, not new ones.
    env.clock.set(t("2026-09-29T02:00:00Z"));
    sync(&env).await;
    let again = wf::roster_checks(&env.app, &Principal::operator(), true).await.unwrap();
    let mut ids = vec![c21[0].id, c21[1].id, c22[0].id];
    ids.sort();
    assert_eq!(again.iter().map(|c| c.id).collect::<Vec<_>>(), ids);
    assert!(again.iter().all(|c| c.first_seen == t("2026-09-28T02:00:00Z")));
    // The delegate closes 刘强; the next sync resolves that check.
    let close = Submission {
        kind: RequestKind::Close,
        person: PersonRef::EmployeeNumber("B2".into()),
        profile: None,
        effective_date: NaiveDate::from_ymd_opt(2026, 9, 25),
        origin: Origin::Console,
    };
    assert_eq!(wf::submit(&env.app, &it21, close).await.unwrap().state, RequestState::Applied);
    sync(&env).await;
    let open_now = wf::roster_checks(&env.app, &Principal::operator(), true).await.unwrap();
    assert_eq!(
        kinds(&open_now),
        vec![("C022".into(), "differs", "D2".into()), ("C021".into(), "missing", "B70".into())]
    );
    // On Monday 12 October the two left are late for their delegates: seen Monday 28 September,
    // due Wednesday 30 September; 8, 9, 10 (a working Saturday) and 12 October.
    env.clock.set(t("2026-10-12T02:00:00Z"));
    let rows = wf::sla_report(&env.app, &env.who("zhangwei").await, None).await.unwrap();
    let summary: Vec<_> = rows.iter().map(|r| (r.role, r.company.0.as_str(), r.case, r.late_days, r.points)).collect();
    assert_eq!(
        summary,
        vec![(Role::CompanyIt, "C021", "roster_check", 4, 10), (Role::CompanyIt, "C022", "roster_check", 4, 10)]
    );
    let mine = wf::sla_report(&env.app, &it21, None).await.unwrap();
    assert_eq!(mine.len(), 1, "a delegate sees their own company's rows");
    let auditor = wf::sla_report(&env.app, &env.who("wugang").await, None).await.unwrap();
    assert_eq!(auditor.len(), 2, "the security auditor sees every row");
}

async fn password_resets_go_to_the_holder_through_the_notifier(mut env: Env) {
    let it = env.who("yangyang").await;
    // Without a notifier nothing changes and no password is shown to anyone.
    let e = wf::reset_password(&env.app, &it, "liuqiang").await.unwrap_err();
    assert!(matches!(&e, WorkflowError::Invalid(m) if m.contains("notifier")), "{e}");
    use orgid_directory::idp::CredentialStore;
    assert!(env.app.store.credential("liuqiang").await.unwrap().is_none());
    // With one, the password goes to the notifier's stdin; the call returns nothing of it.
    let dir = env.cfg.parent().unwrap().to_path_buf();
    let got = dir.join("delivered.txt");
    let script = dir.join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncat > '{}'\necho \"$ORGID_LOGIN\" >> '{}'\n", got.display(), got.display()),
    )
    .unwrap();
    env.app.config.notifier.command = vec!["/bin/sh".into(), script.display().to_string()];
    let () = wf::reset_password(&env.app, &it, "liuqiang").await.expect("reset");
    let delivered = std::fs::read_to_string(&got).unwrap();
    let (password, login) = delivered.split_at(delivered.find("liuqiang").expect("the login follows"));
    assert!(password.len() >= 10, "a one-time password went to the notifier");
    assert_eq!(login.trim(), "liuqiang");
    let cred = env.app.store.credential("liuqiang").await.unwrap().expect("a credential");
    assert!(cred.must_change, "it must be changed at first login");
    // Out of scope, or by someone who is not the delegate: refused.
    assert_eq!(code(wf::reset_password(&env.app, &it, "chenjing").await.unwrap_err()), "out_of_scope");
    let hr = env.who("wangfang").await;
    assert_eq!(code(wf::reset_password(&env.app, &hr, "wangfang").await.unwrap_err()), "not_delegate");
}

#[tokio::test]
async fn approved_request_reaches_ldap() {
    let slapd = orgid_tests::Slapd::start().await;
    let ldap = format!(
        "{APPLY}\n[ldap]\nurl = \"{}\"\nbind_dn = \"{}\"\nbind_password = \"{}\"\nbase_dn = \"{}\"\n",
        slapd.url(),
        slapd.bind_dn(),
        slapd.bind_password(),
        slapd.base_dn()
    );
    let env = Env::new(Backend::Sqlite, &ldap).await;
    let hr = env.who("wangfang").await;
    let r = wf::submit(&env.app, &hr, open(80, profile("A80", "谢文", "C010", "M12", false))).await.unwrap();
    assert!(slapd.search(slapd.base_dn(), "sub", "(uid=xiewen)").await.trim().is_empty(), "not before approval");
    let r = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
    assert_eq!(r.state, RequestState::Applied, "{:?}", r.error);
    let entry = slapd.search(slapd.base_dn(), "sub", "(uid=xiewen)").await;
    assert!(entry.contains("uid=xiewen,ou=综合部,ou=C010,ou=G000") || entry.contains("dn:: "), "{entry}");
    assert!(entry.contains("employeeNumber: A80"), "{entry}");
    // A delegate's close of an independent company's account reaches the directory too.
    let it = env.who("yangyang").await;
    let close = Submission {
        kind: RequestKind::Close,
        person: PersonRef::EmployeeNumber("B2".into()),
        profile: None,
        effective_date: None,
        origin: Origin::Api,
    };
    assert_eq!(wf::submit(&env.app, &it, close).await.unwrap().state, RequestState::Applied);
    let locked = slapd.search(slapd.base_dn(), "sub", "(&(uid=liuqiang)(pwdAccountLockedTime=*))").await;
    assert!(!locked.trim().is_empty(), "the closed account is locked in LDAP");
}

#[tokio::test]
async fn a_failed_request_is_retried_and_reported_overdue() {
    let env = Env::new(Backend::Sqlite, APPLY).await;
    env.clock.set(t("2026-09-30T02:00:00Z"));
    let db = format!("sqlite://{}", env.cfg.parent().unwrap().join("orgid.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    // The store refuses to write this person: applying fails, and the request keeps the error.
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON people WHEN NEW.employee_number = 'A90' \
         BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let hr = env.who("wangfang").await;
    let mut s = open(90, profile("A90", "韩梅", "C010", "M12", false));
    s.effective_date = NaiveDate::from_ymd_opt(2026, 9, 28); // submitted in time (by 15 October)
    let r = wf::submit(&env.app, &hr, s).await.unwrap();
    let r = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
    assert_eq!(r.state, RequestState::Failed);
    assert!(r.error.as_deref().unwrap_or_default().contains("disk quota exceeded"), "{:?}", r.error);
    assert!(env.account("hanmei").await.is_none());
    // Due Friday 9 October; on Monday 12 October still failed: overdue for the IT center.
    env.clock.set(t("2026-10-12T02:00:00Z"));
    let rows = wf::sla_report(&env.app, &Principal::operator(), None).await.unwrap();
    let summary: Vec<_> = rows.iter().map(|r| (r.role, r.case, r.late_days, r.done)).collect();
    assert_eq!(summary, vec![(Role::GroupItAdmin, "overdue", 2, None)]);
    // Fixed on Tuesday 13 October; the retry applies it: 3 working days late.
    sqlx::query("DROP TRIGGER refuse").execute(&pool).await.unwrap();
    env.clock.set(t("2026-10-13T02:00:00Z"));
    let done = wf::apply_approved(&env.app).await.unwrap();
    assert_eq!(done.iter().map(|r| (r.id, r.state)).collect::<Vec<_>>(), vec![(r.id, RequestState::Applied)]);
    assert_eq!(env.account("hanmei").await.map(|a| a.0), Some(AccountStatus::Active));
    let rows = wf::sla_report(&env.app, &Principal::operator(), NaiveDate::from_ymd_opt(2026, 10, 1)).await.unwrap();
    let summary: Vec<_> = rows.iter().map(|r| (r.role, r.case, r.late_days, r.points)).collect();
    assert_eq!(summary, vec![(Role::GroupItAdmin, "overdue", 3, 10)]);
    // The same from the command line (the CLI's clock is the wall clock: the case is long past).
    let (c, out) = orgid(&env.cfg, &["reports", "sla", "--month", "2026-10", "--format", "json"]).await;
    assert_eq!(c, 0, "{out}");
    let cases: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (cases[0]["role"].as_str(), cases[0]["case"].as_str(), cases[0]["points"].as_u64()),
        (Some("group_it_admin"), Some("overdue"), Some(10))
    );
    let (_, out) = orgid(&env.cfg, &["reports", "sla", "--totals", "--format", "csv"]).await;
    assert_eq!(out.trim(), "\u{feff}role,company,cases,points\ngroup_it_admin,C010,1,10");
}

#[tokio::test]
async fn the_command_line_grants_submits_approves_and_reports() {
    let env = Env::new(Backend::Sqlite, APPLY).await;
    let cfg = &env.cfg;
    // Roles: group IT grants, a delegate may not.
    let (c, out) = orgid(
        cfg,
        &["roles", "grant", "--login", "liuqiang", "--role", "企业人力", "--company", "C021", "--as", "zhangwei"],
    )
    .await;
    assert_eq!(c, 0, "{out}");
    let err = crate::sync::orgid_err(
        cfg,
        &["roles", "grant", "--login", "yangyang", "--role", "group_hr", "--company", "G000", "--as", "yangyang"],
    )
    .await;
    assert!(err.contains("refused (grant_roles)"), "{err}");
    let (_, out) = orgid(cfg, &["roles", "list", "--format", "json"]).await;
    let grants: serde_json::Value = serde_json::from_str(&out).unwrap();
    let liu = grants.as_array().unwrap().iter().find(|g| g["login"] == "liuqiang").expect("granted");
    assert_eq!((liu["role"].as_str(), liu["company"].as_str()), (Some("company_hr"), Some("C021")));
    // A form-1 file submitted by C010's HR waits for group HR.
    let form = cfg.parent().unwrap().join("form1.csv");
    std::fs::write(
        &form,
        format!(
            "公司名称,部门,入职日期,工号,姓名,性别,身份证号码,职务,职级,手机号,公司邮箱\n\
             测试一级公司,综合部,2026-09-01,A95,邓超,男,{},经理,M12,13800000095,a95@example.com\n\
             测试独立公司乙,综合部,2026-09-01,D96,邓伦,男,{},经理,M12,13800000096,d96@example.com\n",
            id_number(95),
            id_number(96)
        ),
    )
    .unwrap();
    let (c, out) = orgid(cfg, &["requests", "submit", form.to_str().unwrap(), "--as", "wangfang"]).await;
    assert_eq!(c, 4, "one row is outside C010's HR scope: {out}");
    assert!(out.contains("A95") && out.contains("pending"), "{out}");
    assert!(out.contains("row 3 rejected") && out.contains("out_of_scope"), "{out}");
    let (_, out) = orgid(cfg, &["requests", "list", "--inbox", "--as", "lina", "--format", "json"]).await;
    let inbox: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = inbox.as_array().unwrap().iter().find(|r| r["employee_number"] == "A95").expect("in the inbox")["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let err = crate::sync::orgid_err(cfg, &["requests", "approve", &id, "--as", "wangfang"]).await;
    assert!(err.contains("own_request"), "{err}");
    let (c, out) = orgid(cfg, &["requests", "approve", &id, "--as", "lina", "--comment", "ok"]).await;
    assert_eq!((c, out.trim()), (0, format!("request {id} is applied").as_str()));
    let (_, out) = orgid(cfg, &["accounts", "list", "--company", "C010", "--format", "json"]).await;
    assert!(out.contains("\"dengchao\""), "{out}");
    // The SLA report (nothing late: submitted on time, applied at once).
    let (c, out) = orgid(cfg, &["reports", "sla", "--month", "2026-11", "--format", "json"]).await;
    assert_eq!((c, out.trim()), (0, "[]"));
    let (c, err) = orgid(cfg, &["reports", "sla", "--month", "2026-13"]).await;
    assert!(c == 2 && err.contains("not a month"), "{err}");
    let (c, out) = orgid(cfg, &["reports", "roster-checks"]).await;
    assert_eq!(c, 0, "{out}");
    // A delegate closes directly from the command line; another company's person is refused.
    let (c, out) = orgid(cfg, &["requests", "close", "B2", "--date", "2026-11-30", "--as", "yangyang"]).await;
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("is applied"), "{out}");
    let err = crate::sync::orgid_err(cfg, &["requests", "close", "D2", "--as", "yangyang"]).await;
    assert!(err.contains("refused (out_of_scope)"), "{err}");
    let (c, out) = orgid(cfg, &["requests", "apply"]).await;
    assert_eq!((c, out.trim()), (0, "0 requests applied, 0 failed"));
}

async fn move_into_a_group_operated_company_is_the_new_companys_request(env: Env) {
    let before = env.app.store.person_by_employee_number("E1").await.unwrap().expect("黄磊");
    let hr = env.who("wangfang").await;
    // 黄磊 moves from C020 to C010 (both group-operated): C010's HR submits form 2, group HR confirms.
    let mv = Submission {
        kind: RequestKind::Adjust,
        person: PersonRef::EmployeeNumber("E1".into()),
        profile: Some(profile("A12", "黄磊", "C010", "M12", false)),
        effective_date: NaiveDate::from_ymd_opt(2026, 9, 28),
        origin: Origin::Console,
    };
    let r = wf::submit(&env.app, &hr, mv).await.unwrap();
    assert_eq!((r.kind, r.company.0.as_str(), r.chain.clone()), (RequestKind::Adjust, "C010", vec![Step::GroupHr]));
    assert!(r.is_move());
    let r = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
    assert_eq!(r.state, RequestState::Applied, "{:?}", r.error);
    let after = env.app.store.person_by_employee_number("A12").await.unwrap().expect("moved");
    assert_eq!(after.person.key, before.person.key);
    assert_eq!(after.account.as_ref().map(|a| (a.login.as_str(), a.status)), Some(("huanglei", AccountStatus::Active)));
    assert_eq!(
        after.account.and_then(|a| a.opened_at),
        before.account.and_then(|a| a.opened_at),
        "the account is kept"
    );
    // A delegate of an independent company cannot pull someone of a group-operated one in.
    let pull = Submission {
        kind: RequestKind::Adjust,
        person: PersonRef::EmployeeNumber("A12".into()),
        profile: Some(profile("B12", "黄磊", "C021", "M12", false)),
        effective_date: None,
        origin: Origin::Api,
    };
    assert_eq!(code(wf::submit(&env.app, &env.who("yangyang").await, pull).await.unwrap_err()), "move_into_scope");
}

#[tokio::test]
async fn a_request_overtaken_by_a_departure_is_cancelled_not_applied() {
    let env = Env::new(Backend::Sqlite, &format!("{APPLY}\n[safety]\nmax_close_share = 0.5\n")).await;
    // After the sync's opening request for 孙浩 (N001), HR reports him gone.
    env.clock.set(t("2027-01-04T02:00:00Z"));
    let mut roster = staff();
    roster[9].left = true;
    roster[9].leave_date = "2027-01-01".into();
    env.hr.write(&roster, false);
    sync(&env).await;
    let ghr = env.who("lina").await;
    let r = wf::requests(&env.app, &ghr, &wf::RequestQuery { inbox: true, ..Default::default() }).await.unwrap();
    let id = r.iter().find(|r| r.employee_number == "N1").expect("the sync's request").id;
    wf::approve(&env.app, &ghr, id, true, "").await.unwrap();
    let r = wf::approve(&env.app, &env.who("wanglei").await, id, true, "").await.unwrap();
    assert_eq!(r.state, RequestState::Cancelled);
    assert!(r.error.as_deref().unwrap_or_default().contains("left"), "{:?}", r.error);
    assert_eq!(env.account("sunhao").await.map(|a| a.0), Some(AccountStatus::Disabled));
    assert!(wf::apply_approved(&env.app).await.unwrap().is_empty(), "nothing to retry");
}

#[tokio::test]
async fn serve_retries_failed_requests_on_its_schedule() {
    let env = Env::new(Backend::Sqlite, &format!("{APPLY}\nretry_schedule = \"* * * * * *\"")).await;
    let db = format!("sqlite://{}", env.cfg.parent().unwrap().join("orgid.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON people WHEN NEW.employee_number = 'A91' \
         BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let r = wf::submit(&env.app, &env.who("wangfang").await, open(91, profile("A91", "韩雪", "C010", "M12", false)))
        .await
        .unwrap();
    let r = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
    assert_eq!(r.state, RequestState::Failed);
    sqlx::query("DROP TRIGGER refuse").execute(&pool).await.unwrap();
    // `serve` (retry every second) applies it without anyone asking.
    let config = orgid::cli::load_config(Some(&env.cfg), Vec::new()).unwrap();
    let app = App::open(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(orgid::cli::serve::serve_on(app, listener, async {
        let _ = rx.await;
    }));
    use orgid_directory::WorkflowStore;
    let mut state = RequestState::Failed;
    for _ in 0..100 {
        state = env.app.store.request(r.id).await.unwrap().expect("request").state;
        if state == RequestState::Applied {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    assert_eq!(state, RequestState::Applied);
    assert_eq!(env.account("hanxue").await.map(|a| a.0), Some(AccountStatus::Active));
}

#[tokio::test]
async fn a_calendar_file_adds_the_next_year() {
    let extra = TempDir::new().unwrap();
    let file = extra.path().join("cn-2027.toml");
    std::fs::write(&file, "[[year]]\nyear = 2027\nsource = \"test\"\nholidays = [\"2027-01-01..2027-01-03\"]\n")
        .unwrap();
    let config = format!("{APPLY}\ncalendar = [\"{}\"]", file.display());
    let env = Env::new(Backend::Sqlite, &config).await;
    // Approved Thursday 31 December 2026: 1 January 2027 is a holiday by the file, so due Tuesday 5
    // January (without the file it would be Monday 4 January).
    env.clock.set(t("2026-12-31T02:00:00Z"));
    let r = wf::submit(&env.app, &env.who("wangfang").await, open(92, profile("A92", "袁林", "C010", "M12", false)))
        .await
        .unwrap();
    let r = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
    assert_eq!(r.due, Some(t("2027-01-05T15:59:59Z")));
    let plain = Env::new(Backend::Sqlite, APPLY).await;
    plain.clock.set(t("2026-12-31T02:00:00Z"));
    assert_eq!(wf::due_at(&plain.app, plain.clock_now()).unwrap(), t("2027-01-04T15:59:59Z"));
}
