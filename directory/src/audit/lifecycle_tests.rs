#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeZone;

use super::*;
use crate::{Account, AccountStatus, OpCounts, PersonKey, RowError};

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 2, 30, 0).single().unwrap()
}

fn change(op: Op, login: &str, company: &str, before: Option<AccountStatus>, after: AccountStatus) -> AccountChange {
    AccountChange {
        op,
        person_key: PersonKey::from(format!("k-{login}")),
        account: Account {
            login: login.into(),
            status: after,
            rule: "ELIG-1".into(),
            opened_at: Some(at()),
            closed_at: None,
            updated_at: at(),
        },
        employee_number: format!("E-{login}"),
        name: "张三".into(),
        company: CompanyCode(company.into()),
        before_status: before,
        fields: Vec::new(),
        reason: "grade M12 ≥ 12".into(),
    }
}

fn plan() -> Plan {
    let mut moved = change(Op::Move, "lisi", "B", Some(AccountStatus::Active), AccountStatus::Active);
    moved.fields = vec![FieldChange { field: "company".into(), before: "A".into(), after: "B".into() }];
    let changes = vec![
        change(Op::Open, "zhangsan", "A", None, AccountStatus::Active),
        moved,
        change(Op::Close, "wangwu", "A", Some(AccountStatus::Active), AccountStatus::Disabled),
    ];
    let mut counts = OpCounts::default();
    for c in &changes {
        counts.add(c.op);
    }
    Plan { changes, counts, ..Plan::default() }
}

fn outcome<'a>(status: RunStatus, plan: &'a Plan, rejected: &'a [RowError]) -> RunOutcome<'a> {
    RunOutcome {
        status,
        finished_at: at(),
        companies: &[],
        plan,
        rejected,
        active_people: 10,
        message: (status == RunStatus::Held).then(|| "would close 3 accounts".to_string()),
        directory: None,
        wecom: None,
    }
}

#[test]
fn an_applied_run_records_each_change_with_before_and_after_then_itself() {
    let plan = plan();
    let events = run_events(RunId(7), &outcome(RunStatus::Ok, &plan, &[]));
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::AccountOpen, EventKind::AccountMove, EventKind::AccountClose, EventKind::SyncFinished]
    );
    assert!(events.iter().all(|e| e.actor == Actor::Run(RunId(7)) && e.at == at()));

    let open = &events[0];
    assert_eq!(open.login.as_deref(), Some("zhangsan"));
    assert_eq!(open.company, Some(CompanyCode("A".into())));
    assert_eq!(
        open.details.changes[0],
        FieldChange { field: "status".into(), before: "".into(), after: "active".into() }
    );

    let moved = &events[1];
    assert_eq!(moved.company, Some(CompanyCode("B".into())), "the company after the move");
    assert_eq!(
        moved.details.changes,
        vec![FieldChange { field: "company".into(), before: "A".into(), after: "B".into() }]
    );

    let close = &events[2];
    assert_eq!(close.details.changes[0].before, "active");
    assert_eq!(close.details.changes[0].after, "disabled");

    let run = &events[3];
    assert_eq!((run.outcome, run.reason.as_deref()), (AuditOutcome::Success, Some("ok")));
    assert_eq!(run.details.attrs.get("close").map(String::as_str), Some("1"));
}

#[test]
fn a_held_or_failed_run_records_only_its_end() {
    let plan = plan();
    let held = run_events(RunId(8), &outcome(RunStatus::Held, &plan, &[]));
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].kind, EventKind::SyncHeld);
    assert_eq!(held[0].reason.as_deref(), Some("held: would close 3 accounts"));

    let rejected = [RowError { file: "r.csv".into(), row: 3, column: "grade".into(), reason: "bad".into() }];
    let failed = run_events(RunId(9), &outcome(RunStatus::Failed, &plan, &rejected));
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].kind, failed[0].outcome), (EventKind::SyncFinished, AuditOutcome::Failure));
    assert_eq!(failed[0].details.attrs.get("rejected_rows").map(String::as_str), Some("1"));
}

#[test]
fn an_approval_records_the_changes_by_the_approving_run() {
    let events = approval_events(RunId(8), RunId(10), &plan(), at());
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e.actor == Actor::Run(RunId(10))));
    let last = events.last().unwrap();
    assert_eq!(last.kind, EventKind::SyncApproved);
    assert_eq!(last.details.attrs.get("held_run").map(String::as_str), Some("8"));
}

#[test]
fn repairs_name_the_entry_and_its_login() {
    let drift = vec![
        Drift::Differs {
            dn: "uid=zhangsan,ou=A,dc=example,dc=com".into(),
            attributes: vec!["title".into(), "mail".into()],
            edited_by: Some("cn=someone".into()),
        },
        Drift::Extra { dn: "ou=stray,dc=example,dc=com".into() },
    ];
    let events = reconcile_events(&drift, &Actor::System("reconcile".into()), at());
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].login.as_deref(), Some("zhangsan"));
    assert_eq!(events[0].details.attrs.get("drift").map(String::as_str), Some("title,mail"));
    assert_eq!(events[0].details.attrs.get("edited_by").map(String::as_str), Some("cn=someone"));
    assert_eq!(events[1].login, None);
}

#[test]
fn a_lockout_follows_the_attempt_that_caused_it() {
    use crate::audit::{LoginFailure, RequestContext};
    let ctx = RequestContext { source_ip: Some("192.0.2.1".parse().unwrap()), ..RequestContext::default() };
    let attempt =
        AuditEvent::login_failed(at(), "zhangsan", Some(&CompanyCode("A".into())), LoginFailure::BadPassword, &ctx);
    let lock = lockout_event(&attempt, 5, at() + chrono::Duration::minutes(15));
    assert_eq!((lock.kind, lock.outcome), (EventKind::Lockout, AuditOutcome::Success));
    assert_eq!(lock.actor, Actor::System("idp".into()));
    assert_eq!((lock.login.as_deref(), lock.source_ip, lock.at), (Some("zhangsan"), ctx.source_ip, at()));
    assert_eq!(lock.reason.as_deref(), Some("5 failed logins"));
    assert!(lock.details.attrs.contains_key("locked_until"));
}

#[test]
fn system_events_carry_their_reason() {
    let sys = Actor::System("serve".into());
    let ok = config_reload_event(Ok("valid; restart to apply"), &sys, at());
    let bad = config_reload_event(Err("sync.schedule: not a cron expression"), &sys, at());
    assert_eq!((ok.kind, ok.outcome), (EventKind::ConfigReload, AuditOutcome::Success));
    assert_eq!(bad.outcome, AuditOutcome::Failure);
    let rot = key_rotation_event("audit_checkpoint", Some("aa"), "bb", &sys, at());
    assert_eq!(rot.details.attrs.get("old_key").map(String::as_str), Some("aa"));
    let purge = purge_event("wangwu", &CompanyCode("A".into()), "uid=wangwu,ou=A", None, 180, &sys, at());
    assert_eq!((purge.kind, purge.login.as_deref()), (EventKind::AccountPurge, Some("wangwu")));
    let ap = audit_purge_event("1:99,2:5", 104, at(), 180, &Actor::Admin("cli".into()), at());
    assert_eq!(ap.details.attrs.get("through").map(String::as_str), Some("1:99,2:5"));
}
