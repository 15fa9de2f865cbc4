//! The store against both backends: every body below runs once on SQLite (a temp file) and once
//! on PostgreSQL (a fresh database on the shared test server), as `store::sqlite::<name>` and
//! `store::postgres::<name>`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use chrono::{DateTime, NaiveDate, Utc};
use orgid_config::{EligibilityConfig, LoginScheme};
use orgid_directory::plan::FieldChange;
use orgid_directory::{
    Account, AccountChange, AccountFilter, AccountStatus, Company, CompanyCode, CompanyIndex, CompanyStore, Employment,
    Gender, NewRun, Op, OperatingMode, Person, PersonKey, PersonRecord, PersonStore, Plan, PlanInput, Profile,
    RowError, Rules, RunId, RunKind, RunOutcome, RunStatus, RunStore, Scope, SettingStore, StoreError, StoredPerson,
    Tier,
};
use orgid_store::AnyStore;
use orgid_tests::{Backend, TestDatabase};

both_backends!(
    migrations_are_idempotent,
    init_setting_keeps_the_first_value,
    ok_run_applies_companies_people_accounts_and_changes,
    second_run_updates_people_accounts_and_companies,
    accounts_filter_by_company_status_and_employee_number,
    person_by_employee_number_prefers_the_employed_holder,
    run_detail_keeps_rejections_and_changes_in_order,
    last_applied_run_is_the_newest_ok_or_partial,
    held_run_keeps_its_plan_and_applies_nothing,
    approve_run_applies_the_kept_plan,
    approve_requires_a_held_run_and_a_running_approver,
    finish_conflicts_when_another_run_was_applied,
    approve_conflicts_when_the_store_changed_since_the_hold,
    failed_run_records_message_and_rejections,
    duplicate_login_is_a_conflict_and_applies_nothing,
    computed_plan_round_trips,
    bulk_apply_spans_many_statements,
);

pub(crate) struct Env {
    pub(crate) db: TestDatabase,
    pub(crate) store: AnyStore,
}

impl Env {
    pub(crate) async fn new(backend: Backend) -> Self {
        let db = TestDatabase::new(backend).await;
        let store = orgid_store::connect(&db.url, 4).await.expect("connect");
        Env { db, store }
    }

    /// Begins a run at `start` and applies `plan` (status ok) at `end`.
    pub(crate) async fn apply(
        &self,
        companies: &[Company],
        plan: &Plan,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> RunId {
        let id = self.store.begin_run(&new_run(start)).await.expect("begin");
        self.store.finish_run(id, ok(companies, plan, end)).await.expect("finish ok");
        id
    }
}

// ---- data -------------------------------------------------------------------------------------

/// Minutes after 2024-05-01 00:00 UTC (whole milliseconds, as the store keeps them).
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_714_521_600 + minutes * 60, 0).expect("time")
}

pub(crate) fn company(code: &str, parent: Option<&str>, tier: Tier) -> Company {
    Company {
        code: CompanyCode(code.into()),
        name: format!("{code} 有限公司"),
        parent: parent.map(|p| CompanyCode(p.into())),
        tier,
        mode: OperatingMode::GroupOperated,
    }
}

pub(crate) fn group() -> Vec<Company> {
    vec![
        company("G", None, Tier::Hq),
        company("A", Some("G"), Tier::Tier1),
        Company { mode: OperatingMode::Independent, ..company("B", Some("A"), Tier::Unrated) },
    ]
}

pub(crate) fn person(key: &str, number: &str, name: &str, company: &str, updated_at: DateTime<Utc>) -> Person {
    Person {
        key: PersonKey(key.into()),
        profile: Profile {
            employee_number: number.into(),
            name: name.into(),
            gender: Some(Gender::Female),
            company: CompanyCode(company.into()),
            department: "财务部/一科".into(),
            title: "经理".into(),
            grade: Some("M12".parse().expect("grade")),
            mobile: "13800000000".into(),
            email: format!("{number}@example.com"),
            hire_date: NaiveDate::from_ymd_opt(2020, 3, 1),
            confidential: false,
        },
        employment: Employment::Active,
        leave_date: None,
        source: "roster.xlsx".into(),
        updated_at,
    }
}

fn account(
    login: &str,
    status: AccountStatus,
    rule: &str,
    opened: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Account {
    Account { login: login.into(), status, rule: rule.into(), opened_at: opened, closed_at: None, updated_at: now }
}

fn change(op: Op, p: &Person, account: Account, before: Option<AccountStatus>) -> AccountChange {
    AccountChange {
        op,
        person_key: p.key.clone(),
        account,
        employee_number: p.profile.employee_number.clone(),
        name: p.profile.name.clone(),
        company: p.profile.company.clone(),
        before_status: before,
        fields: Vec::new(),
        reason: format!("{} by the test", op.as_str()),
    }
}

pub(crate) fn plan_of(people: Vec<Person>, changes: Vec<AccountChange>) -> Plan {
    let people = people.into_iter().map(Person::record).collect();
    let mut plan = Plan { people, changes, ..Plan::default() };
    for c in &plan.changes {
        plan.counts.add(c.op);
    }
    plan
}

/// Three people: two opened in A (1002 listed first), one unusual record in B waiting for approval.
pub(crate) fn first_plan() -> Plan {
    let t = at(1);
    let p2 = person("k2", "1002", "李四", "A", t);
    let p1 = person("k1", "1001", "张三", "A", t);
    let mut p3 = person("k3", "2001", "王五", "B", t);
    p3.profile.gender = None;
    p3.profile.grade = None;
    p3.profile.hire_date = None;
    p3.profile.confidential = true;
    p3.leave_date = NaiveDate::from_ymd_opt(2024, 12, 31);
    let changes = vec![
        change(Op::Open, &p2, account("lisi", AccountStatus::Active, "ELIG-1", Some(t), t), None),
        change(Op::Open, &p1, account("zhangsan", AccountStatus::Active, "ELIG-1", Some(t), t), None),
        change(Op::PendingApproval, &p3, account("wangwu", AccountStatus::PendingApproval, "ELIG-4", None, t), None),
    ];
    plan_of(vec![p2, p1, p3], changes)
}

/// What `people()` returns after `plan` was applied to an empty store at `at` (ordered by person
/// key).
fn stored(plan: &Plan, at: DateTime<Utc>) -> Vec<StoredPerson> {
    let mut out: Vec<StoredPerson> = plan
        .people
        .iter()
        .map(|p| StoredPerson {
            person: p.clone().at(at),
            account: plan.changes.iter().find(|c| c.person_key == p.key).map(|c| c.account.clone()),
        })
        .collect();
    out.sort_by(|a, b| a.person.key.cmp(&b.person.key));
    out
}

fn sorted(mut companies: Vec<Company>) -> Vec<Company> {
    companies.sort_by(|a, b| a.code.cmp(&b.code));
    companies
}

pub(crate) fn new_run(start: DateTime<Utc>) -> NewRun {
    NewRun {
        kind: RunKind::Sync,
        sources: vec!["hr-roster".into(), "forms/2024-05.xlsx".into()],
        started_at: start,
        actor: "cli".into(),
        owner: None,
    }
}

pub(crate) fn ok<'a>(companies: &'a [Company], plan: &'a Plan, end: DateTime<Utc>) -> RunOutcome<'a> {
    RunOutcome {
        status: RunStatus::Ok,
        finished_at: end,
        companies,
        plan,
        rejected: &[],
        active_people: plan.people.len() as u64,
        message: None,
        directory: None,
        wecom: None,
    }
}

fn rejection(row: u64, column: &str, reason: &str) -> RowError {
    RowError { file: "roster.xlsx".into(), row, column: column.into(), reason: reason.into() }
}

pub(crate) fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

// ---- tests --------------------------------------------------------------------------------------

async fn migrations_are_idempotent(e: Env) {
    let expected = match e.db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(e.store.backend(), expected);
    e.store.init_setting("person_key_check", "abc").await.expect("init");
    e.store.migrate().await.expect("migrate again");
    let again = orgid_store::connect(&e.db.url, 2).await.expect("second connect migrates again");
    again.ping().await.expect("ping");
    assert_eq!(again.setting("person_key_check").await.expect("setting").as_deref(), Some("abc"));
    again.close().await;
    e.store.ping().await.expect("first store still usable");
}

async fn init_setting_keeps_the_first_value(e: Env) {
    assert_eq!(e.store.setting("secret_check").await.expect("setting"), None);
    assert_eq!(e.store.init_setting("secret_check", "first").await.expect("init"), "first");
    assert_eq!(e.store.init_setting("secret_check", "second").await.expect("init"), "first");
    assert_eq!(e.store.setting("secret_check").await.expect("setting").as_deref(), Some("first"));
    assert_eq!(e.store.init_setting("other", "x").await.expect("init"), "x");
}

async fn ok_run_applies_companies_people_accounts_and_changes(e: Env) {
    let companies = group();
    let plan = first_plan();
    let id = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    let running = e.store.run(id).await.expect("run").expect("exists");
    assert_eq!(running.summary.status, RunStatus::Running);
    assert_eq!(running.summary.finished_at, None);

    e.store.finish_run(id, RunOutcome { active_people: 3, ..ok(&companies, &plan, at(2)) }).await.expect("finish");

    assert_eq!(e.store.companies().await.expect("companies"), sorted(group()));
    assert_eq!(e.store.people().await.expect("people"), stored(&plan, at(2)));
    let detail = e.store.run(id).await.expect("run").expect("exists");
    let s = &detail.summary;
    assert_eq!(s.id, id);
    assert_eq!(s.kind, RunKind::Sync);
    assert_eq!(s.sources, ["hr-roster", "forms/2024-05.xlsx"]);
    assert_eq!(s.actor, "cli");
    assert_eq!(s.started_at, at(0));
    assert_eq!(s.finished_at, Some(at(2)));
    assert_eq!(s.status, RunStatus::Ok);
    assert_eq!((s.counts.open, s.counts.pending_approval, s.counts.account_changes()), (2, 1, 3));
    assert_eq!(s.counts, plan.counts);
    assert_eq!(s.active_people, 3);
    assert_eq!(s.rejected_rows, 0);
    assert_eq!(s.message, None);
    assert_eq!(s.approval_of, None);
    assert_eq!(detail.changes, plan.changes);
    assert!(detail.rejected.is_empty());
    assert_eq!(e.store.runs(10).await.expect("runs"), vec![detail.summary.clone()]);
}

async fn second_run_updates_people_accounts_and_companies(e: Env) {
    let first = first_plan();
    let r1 = e.apply(&group(), &first, at(0), at(2)).await;

    let t = at(60);
    let mut p1 = first.people[1].clone().at(at(61));
    p1.profile.department = "财务部/二科".into();
    p1.profile.grade = Some("M13".parse().expect("grade"));
    let p2 = first.people[0].clone().at(at(2));
    let mut adjust = change(
        Op::Adjust,
        &p1,
        account("zhangsan", AccountStatus::Active, "ELIG-1", Some(at(1)), t),
        Some(AccountStatus::Active),
    );
    adjust.fields =
        vec![FieldChange {
            field: "department".into(), before: "财务部/一科".into(), after: "财务部/二科".into()
        }];
    let mut closed = account("lisi", AccountStatus::Disabled, "ABSENT", Some(at(1)), t);
    closed.closed_at = Some(t);
    let close = change(Op::Close, &p2, closed.clone(), Some(AccountStatus::Active));
    let second = plan_of(vec![p1.clone()], vec![adjust.clone(), close.clone()]);
    let mut companies = group();
    companies[1].name = "A 集团股份有限公司".into();
    companies[1].tier = Tier::Tier2;
    companies.push(company("C", Some("G"), Tier::Tier3));
    let r2 = e.apply(&companies, &second, at(59), at(61)).await;

    assert_eq!(e.store.companies().await.expect("companies"), sorted(companies));
    let people = e.store.people().await.expect("people");
    let mut expected = stored(&first, at(2));
    expected[0] = StoredPerson { person: p1, account: Some(adjust.account.clone()) };
    expected[1].account = Some(closed);
    assert_eq!(people, expected);

    let runs = e.store.runs(10).await.expect("runs");
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [r2, r1]);
    assert_eq!((runs[0].counts.adjust, runs[0].counts.close, runs[0].counts.open), (1, 1, 0));
    assert_eq!(e.store.runs(1).await.expect("runs").len(), 1);
    let detail = e.store.run(r2).await.expect("run").expect("exists");
    assert_eq!(detail.changes, [adjust, close]);
}

async fn accounts_filter_by_company_status_and_employee_number(e: Env) {
    e.apply(&group(), &first_plan(), at(0), at(2)).await;
    let logins = |rows: Vec<orgid_directory::AccountRow>| rows.into_iter().map(|r| r.login).collect::<Vec<_>>();

    let all = e.store.accounts(&AccountFilter::default()).await.expect("accounts");
    assert_eq!(logins(all.clone()), ["zhangsan", "lisi", "wangwu"], "ordered by company, then employee number");
    let zs = &all[0];
    assert_eq!(
        (
            zs.employee_number.as_str(),
            zs.name.as_str(),
            zs.company.0.as_str(),
            zs.department.as_str(),
            zs.title.as_str()
        ),
        ("1001", "张三", "A", "财务部/一科", "经理")
    );
    assert_eq!(zs.grade.as_deref(), Some("M12"));
    assert_eq!(
        (zs.status, zs.rule.as_str(), zs.opened_at, zs.closed_at, zs.updated_at),
        (AccountStatus::Active, "ELIG-1", Some(at(1)), None, at(1))
    );
    assert_eq!(all[2].grade, None);

    let by_company = AccountFilter { company: Some(CompanyCode("A".into())), ..AccountFilter::default() };
    assert_eq!(logins(e.store.accounts(&by_company).await.expect("accounts")), ["zhangsan", "lisi"]);
    let pending = AccountFilter { status: Some(AccountStatus::PendingApproval), ..AccountFilter::default() };
    assert_eq!(logins(e.store.accounts(&pending).await.expect("accounts")), ["wangwu"]);
    let number = AccountFilter { employee_number: Some("1002".into()), ..AccountFilter::default() };
    assert_eq!(logins(e.store.accounts(&number).await.expect("accounts")), ["lisi"]);
    let none = AccountFilter {
        company: Some(CompanyCode("A".into())),
        status: Some(AccountStatus::Disabled),
        employee_number: None,
    };
    assert!(e.store.accounts(&none).await.expect("accounts").is_empty());
    let all_three = AccountFilter {
        company: Some(CompanyCode("B".into())),
        status: Some(AccountStatus::PendingApproval),
        employee_number: Some("2001".into()),
    };
    assert_eq!(logins(e.store.accounts(&all_three).await.expect("accounts")), ["wangwu"]);
}

async fn person_by_employee_number_prefers_the_employed_holder(e: Env) {
    let plan = first_plan();
    e.apply(&group(), &plan, at(0), at(2)).await;
    let found = e.store.person_by_employee_number("1001").await.expect("lookup").expect("found");
    assert_eq!(found, stored(&plan, at(2))[0]);
    assert_eq!(e.store.person_by_employee_number("9999").await.expect("lookup"), None);

    // 3001 was a leaver's number in B (updated later), and is now an employee's in A.
    let mut gone = person("k8", "3001", "赵六", "B", at(100));
    gone.employment = Employment::Left;
    let now = person("k9", "3001", "钱七", "A", at(50));
    e.apply(&group(), &plan_of(vec![gone, now.clone()], vec![]), at(99), at(101)).await;
    let holder = e.store.person_by_employee_number("3001").await.expect("lookup").expect("found");
    assert_eq!(holder.person, Person { updated_at: at(101), ..now }, "written at the run's time");
    assert_eq!(holder.account, None);
}

async fn run_detail_keeps_rejections_and_changes_in_order(e: Env) {
    // More changes than one multi-row statement holds, listed against key order.
    let t = at(1);
    let people: Vec<Person> = (0..1000)
        .map(|i| person(&format!("key{i:04}"), &format!("{:05}", 99_999 - i), &format!("员工{i}"), "A", t))
        .collect();
    let changes: Vec<AccountChange> = people
        .iter()
        .rev()
        .enumerate()
        .map(|(i, p)| {
            change(Op::Open, p, account(&format!("user{i}"), AccountStatus::Active, "ELIG-1", Some(t), t), None)
        })
        .collect();
    let plan = plan_of(people, changes);
    let rejected = vec![
        rejection(7, "身份证号码", "check character does not match (GB 11643)"),
        rejection(3, "", "the row is empty"),
        rejection(12, "职级", "`M17` is not a grade (M1–M16 or P1–P16)"),
    ];
    let id = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    e.store
        .finish_run(
            id,
            RunOutcome {
                status: RunStatus::Partial,
                rejected: &rejected,
                active_people: 1003,
                ..ok(&[], &plan, at(2))
            },
        )
        .await
        .expect("finish");

    let detail = e.store.run(id).await.expect("run").expect("exists");
    assert_eq!(detail.summary.status, RunStatus::Partial);
    assert_eq!(detail.summary.rejected_rows, 3);
    assert_eq!(detail.summary.active_people, 1003);
    assert_eq!(detail.summary.counts.open, 1000);
    assert_eq!(detail.rejected, rejected);
    assert_eq!(detail.changes.len(), 1000);
    assert!(detail.changes == plan.changes, "changes come back in plan order");
    assert_eq!(e.store.people().await.expect("people").len(), 1000);
    assert_eq!(e.store.run(RunId(id.0 + 1)).await.expect("run"), None);
}

async fn last_applied_run_is_the_newest_ok_or_partial(e: Env) {
    assert_eq!(e.store.last_applied_run().await.expect("last"), None);
    let empty = Plan::default();
    let failed = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    e.store
        .finish_run(
            failed,
            RunOutcome { status: RunStatus::Failed, message: Some("source is empty".into()), ..ok(&[], &empty, at(1)) },
        )
        .await
        .expect("finish");
    assert_eq!(e.store.last_applied_run().await.expect("last"), None);

    let plan = first_plan();
    let r1 = e.store.begin_run(&new_run(at(2))).await.expect("begin");
    e.store.finish_run(r1, RunOutcome { active_people: 42, ..ok(&group(), &plan, at(3)) }).await.expect("finish");
    let last = e.store.last_applied_run().await.expect("last").expect("some");
    assert_eq!((last.id, last.status, last.active_people), (r1, RunStatus::Ok, 42));

    let held = e.store.begin_run(&new_run(at(4))).await.expect("begin");
    e.store
        .finish_run(
            held,
            RunOutcome {
                status: RunStatus::Held,
                message: Some("too many closes".into()),
                ..ok(&group(), &plan, at(5))
            },
        )
        .await
        .expect("finish");
    assert_eq!(e.store.last_applied_run().await.expect("last").map(|r| r.id), Some(r1));

    let r3 = e.store.begin_run(&new_run(at(6))).await.expect("begin");
    let rejected = [rejection(2, "工号", "missing")];
    e.store
        .finish_run(
            r3,
            RunOutcome {
                status: RunStatus::Partial,
                rejected: &rejected,
                active_people: 41,
                ..ok(&group(), &empty, at(7))
            },
        )
        .await
        .expect("finish");
    e.store.begin_run(&new_run(at(8))).await.expect("a running run is not applied");
    let last = e.store.last_applied_run().await.expect("last").expect("some");
    assert_eq!((last.id, last.status, last.active_people, last.rejected_rows), (r3, RunStatus::Partial, 41, 1));
}

async fn held_run_keeps_its_plan_and_applies_nothing(e: Env) {
    let plan = first_plan();
    let rejected = [rejection(9, "手机", "not a mobile number")];
    let id = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    e.store
        .finish_run(
            id,
            RunOutcome {
                status: RunStatus::Held,
                rejected: &rejected,
                message: Some("would close 2 of 3 accounts (67%), above the 20% limit".into()),
                ..ok(&group(), &plan, at(1))
            },
        )
        .await
        .expect("finish");

    assert!(e.store.companies().await.expect("companies").is_empty());
    assert!(e.store.people().await.expect("people").is_empty());
    assert!(e.store.accounts(&AccountFilter::default()).await.expect("accounts").is_empty());
    let detail = e.store.run(id).await.expect("run").expect("exists");
    assert_eq!(detail.summary.status, RunStatus::Held);
    assert_eq!(detail.summary.message.as_deref(), Some("would close 2 of 3 accounts (67%), above the 20% limit"));
    assert_eq!(detail.summary.counts, plan.counts);
    assert_eq!(detail.summary.finished_at, Some(at(1)));
    assert_eq!(detail.summary.rejected_rows, 1);
    assert_eq!(detail.rejected, rejected);
    assert!(detail.changes.is_empty(), "a held run changed nothing");
    assert_eq!(e.store.last_applied_run().await.expect("last"), None);
}

async fn approve_run_applies_the_kept_plan(e: Env) {
    let plan = first_plan();
    let held = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    e.store
        .finish_run(
            held,
            RunOutcome {
                status: RunStatus::Held,
                message: Some("held".into()),
                active_people: 3,
                ..ok(&group(), &plan, at(1))
            },
        )
        .await
        .expect("hold");

    let by = e.store.begin_run(&NewRun { actor: "admin".into(), ..new_run(at(30)) }).await.expect("begin");
    e.store.approve_run(held, by, at(31)).await.expect("approve");

    assert_eq!(e.store.companies().await.expect("companies"), sorted(group()));
    assert_eq!(e.store.people().await.expect("people"), stored(&plan, at(31)));
    let approving = e.store.run(by).await.expect("run").expect("exists");
    assert_eq!(approving.summary.status, RunStatus::Ok);
    assert_eq!(approving.summary.approval_of, Some(held));
    assert_eq!(approving.summary.actor, "admin");
    assert_eq!(approving.summary.finished_at, Some(at(31)));
    assert_eq!(approving.summary.counts, plan.counts);
    assert_eq!(approving.summary.active_people, 3);
    assert_eq!(approving.changes, plan.changes);
    let approved = e.store.run(held).await.expect("run").expect("exists");
    assert_eq!(approved.summary.status, RunStatus::Approved);
    assert_eq!(approved.summary.approval_of, Some(by));
    assert_eq!(approved.summary.message.as_deref(), Some("held"));
    assert!(approved.changes.is_empty());
    assert_eq!(e.store.last_applied_run().await.expect("last").map(|r| r.id), Some(by));

    let again = e.store.begin_run(&new_run(at(40))).await.expect("begin");
    let msg = conflict(e.store.approve_run(held, again, at(41)).await);
    assert!(msg.contains("approved") && msg.contains("not held"), "{msg}");
}

async fn approve_requires_a_held_run_and_a_running_approver(e: Env) {
    let r1 = e.apply(&group(), &first_plan(), at(0), at(1)).await;
    let by = e.store.begin_run(&new_run(at(2))).await.expect("begin");
    let msg = conflict(e.store.approve_run(r1, by, at(3)).await);
    assert!(msg.contains(&format!("run {r1} is ok, not held")), "{msg}");
    match e.store.approve_run(RunId(999), by, at(3)).await {
        Err(StoreError::NotFound(m)) => assert!(m.contains("999"), "{m}"),
        other => panic!("expected not found, got {other:?}"),
    }

    let held = e.store.begin_run(&new_run(at(4))).await.expect("begin");
    e.store
        .finish_run(held, RunOutcome { status: RunStatus::Held, ..ok(&group(), &Plan::default(), at(5)) })
        .await
        .expect("hold");
    assert!(matches!(e.store.approve_run(held, RunId(998), at(6)).await, Err(StoreError::NotFound(_))));
    let msg = conflict(e.store.approve_run(held, r1, at(6)).await);
    assert!(msg.contains("already finished"), "{msg}");

    assert_eq!(e.store.run(held).await.expect("run").expect("exists").summary.status, RunStatus::Held);
    assert_eq!(e.store.run(by).await.expect("run").expect("exists").summary.status, RunStatus::Running);
    e.store.approve_run(held, by, at(7)).await.expect("a proper approval still works");
}

async fn finish_conflicts_when_another_run_was_applied(e: Env) {
    let plan_a = first_plan();
    let plan_b = plan_of(vec![person("k5", "5001", "孙八", "A", at(1))], vec![]);
    let a = e.store.begin_run(&new_run(at(0))).await.expect("begin a");
    let b = e.store.begin_run(&new_run(at(0))).await.expect("begin b");
    e.store.finish_run(b, ok(&group(), &plan_b, at(1))).await.expect("b applies");
    let msg = conflict(e.store.finish_run(a, ok(&group(), &plan_a, at(2))).await);
    assert!(msg.contains(&format!("run {a}")), "{msg}");
    assert_eq!(e.store.people().await.expect("people"), stored(&plan_b, at(1)), "nothing of run a was applied");
    assert_eq!(e.store.run(a).await.expect("run").expect("exists").summary.status, RunStatus::Running);
    e.store
        .finish_run(
            a,
            RunOutcome { status: RunStatus::Failed, message: Some(msg.clone()), ..ok(&[], &Plan::default(), at(3)) },
        )
        .await
        .expect("record the failure");
    assert_eq!(e.store.run(a).await.expect("run").expect("exists").summary.status, RunStatus::Failed);

    // A run that changed nothing does not invalidate the others.
    let c = e.store.begin_run(&new_run(at(10))).await.expect("begin c");
    let d = e.store.begin_run(&new_run(at(10))).await.expect("begin d");
    e.store.finish_run(d, ok(&group(), &Plan::default(), at(11))).await.expect("d changes nothing");
    e.store.finish_run(c, ok(&group(), &plan_a, at(12))).await.expect("c applies");
    assert_eq!(e.store.people().await.expect("people").len(), 4);
}

async fn approve_conflicts_when_the_store_changed_since_the_hold(e: Env) {
    let held = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    e.store
        .finish_run(held, RunOutcome { status: RunStatus::Held, ..ok(&group(), &first_plan(), at(1)) })
        .await
        .expect("hold");
    let other = plan_of(vec![person("k5", "5001", "孙八", "A", at(2))], vec![]);
    e.apply(&group(), &other, at(2), at(3)).await;

    let by = e.store.begin_run(&new_run(at(4))).await.expect("begin");
    let msg = conflict(e.store.approve_run(held, by, at(5)).await);
    assert_eq!(msg, format!("the store changed since run {held} was held; run the sync again"));
    assert_eq!(e.store.people().await.expect("people"), stored(&other, at(3)));
    assert_eq!(e.store.run(held).await.expect("run").expect("exists").summary.status, RunStatus::Held);
    assert_eq!(e.store.run(by).await.expect("run").expect("exists").summary.status, RunStatus::Running);
}

async fn failed_run_records_message_and_rejections(e: Env) {
    let plan = first_plan();
    let rejected = [rejection(2, "工号", "missing"), rejection(5, "", "duplicate row")];
    let id = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    e.store
        .finish_run(
            id,
            RunOutcome {
                status: RunStatus::Failed,
                rejected: &rejected,
                message: Some("source `hr` returned 0 people; the last run had 3".into()),
                ..ok(&group(), &plan, at(1))
            },
        )
        .await
        .expect("finish");
    assert!(e.store.people().await.expect("people").is_empty());
    assert!(e.store.companies().await.expect("companies").is_empty());
    let detail = e.store.run(id).await.expect("run").expect("exists");
    assert_eq!(detail.summary.status, RunStatus::Failed);
    assert_eq!(detail.summary.message.as_deref(), Some("source `hr` returned 0 people; the last run had 3"));
    assert_eq!(detail.summary.finished_at, Some(at(1)));
    assert_eq!(detail.summary.rejected_rows, 2);
    assert_eq!(detail.rejected, rejected);
    assert!(detail.changes.is_empty());

    let msg = conflict(e.store.finish_run(id, ok(&group(), &plan, at(2))).await);
    assert!(msg.contains("already finished (failed)"), "{msg}");
    assert!(matches!(
        e.store.finish_run(id, RunOutcome { status: RunStatus::Failed, ..ok(&[], &plan, at(2)) }).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(e.store.finish_run(RunId(777), ok(&[], &plan, at(2))).await, Err(StoreError::NotFound(_))));
}

async fn duplicate_login_is_a_conflict_and_applies_nothing(e: Env) {
    let mut plan = first_plan();
    plan.changes[1].account.login = "lisi".into();
    let id = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    let msg = conflict(e.store.finish_run(id, ok(&group(), &plan, at(1))).await);
    assert!(msg.contains("already exists"), "{msg}");
    assert!(!msg.contains("lisi"), "no values in errors: {msg}");
    assert!(e.store.people().await.expect("people").is_empty());
    assert!(e.store.companies().await.expect("companies").is_empty());
    assert_eq!(e.store.run(id).await.expect("run").expect("exists").summary.status, RunStatus::Running);
}

/// The store keeps exactly what the planner needs: planning again against what was stored
/// finds nothing to do.
async fn computed_plan_round_trips(e: Env) {
    let companies = group();
    let index = CompanyIndex::new(companies.clone()).expect("tree");
    let rules = Rules::new(EligibilityConfig::default());
    let record = |key: &str, number: &str, name: &str, company: &str, grade: &str| PersonRecord {
        key: PersonKey(key.into()),
        profile: Profile {
            grade: Some(grade.parse().expect("grade")),
            ..person(key, number, name, company, at(0)).profile
        },
        employment: Employment::Active,
        leave_date: None,
        source: "hr".into(),
    };
    let records = vec![
        record("k1", "1001", "张三", "A", "M12"),
        record("k2", "1002", "张三", "A", "P14"),
        record("k3", "1003", "李四", "A", "M3"),
        record("k4", "2001", "王五", "B", "M12"),
        record("k5", "0001", "Zhao Liu", "G", "P1"),
    ];
    let compute = |current: &[StoredPerson], now: DateTime<Utc>| {
        Plan::compute(&PlanInput {
            held: &Default::default(),
            companies: &index,
            records: &records,
            current,
            rules: &rules,
            login_scheme: LoginScheme::Pinyin,
            scope: Scope::Full,
            today: now.date_naive(),
            now,
        })
    };
    let id = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    let current = e.store.people().await.expect("people");
    let plan = compute(&current, at(1));
    assert_eq!(plan.people.len(), 5);
    assert!(plan.counts.open >= 2 && plan.counts.pending_approval == 1, "{:?}", plan.counts);
    e.store.finish_run(id, ok(&companies, &plan, at(1))).await.expect("finish");
    let logins: Vec<String> =
        e.store.accounts(&AccountFilter::default()).await.expect("accounts").into_iter().map(|a| a.login).collect();
    assert!(logins.contains(&"zhangsan".to_string()) && logins.contains(&"zhangsan2".to_string()), "{logins:?}");

    let again = compute(&e.store.people().await.expect("people"), at(60));
    assert!(again.is_empty(), "nothing to do: {again:?}");
    assert_eq!(again.counts.account_changes(), 0);
}

/// Bulk writes span many statements (500 rows each); speed is measured by `bench/sync.sh`, not here.
async fn bulk_apply_spans_many_statements(e: Env) {
    const N: usize = 3_000;
    let t = at(1);
    let companies: Vec<Company> = std::iter::once(company("G", None, Tier::Hq))
        .chain((0..50).map(|i| company(&format!("C{i:02}"), Some("G"), Tier::Tier2)))
        .collect();
    let people: Vec<Person> = (0..N)
        .map(|i| {
            person(
                &format!("{:064x}", (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                &format!("{i:07}"),
                &format!("员工{i}"),
                &format!("C{:02}", i % 50),
                t,
            )
        })
        .collect();
    let changes: Vec<AccountChange> = people
        .iter()
        .enumerate()
        .map(|(i, p)| {
            change(Op::Open, p, account(&format!("user{i}"), AccountStatus::Active, "ELIG-1", Some(t), t), None)
        })
        .collect();
    let plan = plan_of(people, changes);

    let id = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    e.store.finish_run(id, ok(&companies, &plan, at(2))).await.expect("finish");
    let loaded = e.store.people().await.expect("people");
    let id2 = e.store.begin_run(&new_run(at(3))).await.expect("begin");
    e.store.finish_run(id2, ok(&companies, &Plan::default(), at(4))).await.expect("finish");

    assert_eq!(loaded.len(), N);
    assert!(loaded.iter().all(|sp| sp.account.as_ref().is_some_and(|a| a.status == AccountStatus::Active)));
    assert_eq!(e.store.run(id).await.expect("run").expect("exists").changes.len(), N);
    assert_eq!(e.store.run(id2).await.expect("run").expect("exists").changes.len(), 0);
}
