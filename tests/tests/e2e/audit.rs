//! The audit trail against both backends: every event type round-trips, filters, scopes and
//! pages agree with a reference filter, sync runs write their records in their own transaction,
//! a failed audit write blocks the change, the table refuses edits, and concurrent appenders
//! keep one chain. The command line (verify, tamper detection, purge, exports, report) and the
//! API handler are in `audit_cli.rs`.

use std::collections::BTreeSet;

use orgid_directory::audit::{
    self, Actor, AuditEvent, AuditFilter, AuditOutcome, AuditRecord, AuditScope, EventKind, LoginFailure, Order,
    PageRequest, RequestContext,
};
use orgid_directory::plan::FieldChange;
use orgid_directory::target::ldap::DitDelta;
use orgid_directory::{
    Account, AccountChange, AccountStatus, AuditStore, CompanyCode, Op, PersonStore, Plan, RunId, RunOutcome,
    RunStatus, RunStore, StoreError,
};
use orgid_store::AnyStore;
use orgid_tests::Backend;

use crate::store::{at, group, new_run, ok, person, plan_of};

#[path = "audit_cli.rs"]
mod cli;

both_backends!(
    every_event_type_round_trips_with_every_field,
    filters_scopes_and_pages_agree_with_a_reference_filter,
    sync_runs_write_their_records_in_the_same_transaction,
    a_large_run_chains_its_records_across_statements,
    a_failed_audit_write_blocks_the_change,
    the_table_refuses_updates_and_deletes,
    concurrent_appenders_keep_one_chain,
);

/// The store tests' environment: a fresh database of the backend and its store.
pub(crate) use crate::store::Env;

/// Runs SQL on the database behind the store's back, as an administrator (or an attacker) could.
pub(crate) async fn raw(url: &str, sql: &str) -> Result<(), String> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.map_err(|e| e.to_string())?;
        let r = sqlx::raw_sql(sql).execute(&pool).await.map(drop).map_err(|e| e.to_string());
        pool.close().await;
        r
    } else {
        let pool = sqlx::PgPool::connect(url).await.map_err(|e| e.to_string())?;
        let r = sqlx::raw_sql(sql).execute(&pool).await.map(drop).map_err(|e| e.to_string());
        pool.close().await;
        r
    }
}

/// Every record, chain by chain, each in chain order.
pub(crate) async fn all_records(store: &AnyStore) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    for head in store.audit_heads().await.expect("heads") {
        out.extend(store.audit_chain(head.chain, 0, head.pos, u32::MAX).await.expect("chain"));
    }
    out
}

/// Every chain verifies; returns how many hold records.
pub(crate) async fn assert_intact(store: &AnyStore) -> usize {
    let mut used = 0;
    for head in store.audit_heads().await.expect("heads") {
        let records = store.audit_chain(head.chain, 0, head.pos, u32::MAX).await.expect("chain");
        let report = audit::verify(&records, head, []);
        assert_eq!(report.problem, None, "{report:?}");
        assert_eq!(report.records, records.len() as u64);
        used += usize::from(!records.is_empty());
    }
    used
}

async fn total(store: &AnyStore) -> i64 {
    store.audit_heads().await.expect("heads").iter().map(|h| h.pos).sum()
}

/// An event of `kind` with every field set.
pub(crate) fn sample(kind: EventKind, i: i64) -> AuditEvent {
    let ctx = RequestContext {
        source_ip: Some(format!("10.0.0.{}", i % 4).parse().expect("ip")),
        user_agent: Some(format!("Mozilla/5.0 (test {i})")),
        session_id: Some(format!("sid-{i}")),
        client_id: Some(if i % 2 == 0 { "oa" } else { "mail" }.into()),
    };
    let outcome = if i % 4 == 0 { AuditOutcome::Failure } else { AuditOutcome::Success };
    let actor = match i % 5 {
        0 => Actor::User(format!("user{i}")),
        1 => Actor::Run(RunId(i)),
        2 => Actor::Delegate("delegate-a".into()),
        3 => Actor::Admin("root".into()),
        _ => Actor::System("schedule".into()),
    };
    AuditEvent::new(at(i), kind, outcome, actor)
        .subject(&format!("user{i}"), Some(&CompanyCode(if i % 3 == 0 { "B" } else { "A" }.into())))
        .context(&ctx)
        .reason(format!("reason {i}"))
        .changes(vec![FieldChange { field: "title".into(), before: "工程师".into(), after: "经理".into() }])
        .attr("grant", "authorization_code")
}

async fn every_event_type_round_trips_with_every_field(e: Env) {
    let mut events: Vec<AuditEvent> =
        EventKind::ALL.iter().enumerate().map(|(i, k)| sample(*k, i as i64 + 1)).collect();
    let n = events.len() as i64;
    let ctx = RequestContext { source_ip: Some("192.0.2.7".parse().expect("ip")), ..RequestContext::default() };
    for (i, why) in LoginFailure::ALL.iter().enumerate() {
        events.push(AuditEvent::login_failed(at(n + 1 + i as i64), "zhangsan", None, *why, &ctx));
    }
    // Half in one transaction, the rest one per transaction (as a login writes them).
    let (batch, singles) = events.split_at(events.len() / 2);
    e.store.append_audit(batch).await.expect("append batch");
    for ev in singles {
        e.store.append_audit(std::slice::from_ref(ev)).await.expect("append one");
    }
    assert_eq!(total(&e.store).await, events.len() as i64);

    let page = e
        .store
        .audit_query(&AuditScope::All, &AuditFilter::default(), PageRequest::first(Order::OldestFirst, 1_000))
        .await
        .expect("query");
    assert_eq!(page.records.len(), events.len());
    for (r, ev) in page.records.iter().zip(&events) {
        assert_eq!(r.fields, ev.fields(), "record {} round-trips", r.seq);
        assert_eq!(r.fields.kind(), Some(ev.kind));
    }
    let kinds: BTreeSet<EventKind> = page.records.iter().filter_map(|r| r.fields.kind()).collect();
    assert_eq!(kinds, EventKind::ALL.iter().copied().collect(), "every type is stored");
    let reasons: BTreeSet<String> = page
        .records
        .iter()
        .filter(|r| r.fields.login.as_deref() == Some("zhangsan"))
        .filter_map(|r| r.fields.reason.clone())
        .collect();
    assert_eq!(reasons, LoginFailure::ALL.iter().map(|r| r.as_str().to_string()).collect());
    let details = page.records[0].fields.details().expect("details parse");
    assert_eq!(details.changes[0].after, "经理");
    assert_intact(&e.store).await;
}

/// What `filter` (within `scope`) should select, decided on the records themselves, in time
/// order (then position).
fn expected(records: &[AuditRecord], scope: &AuditScope, f: &AuditFilter) -> Vec<i64> {
    let mut records: Vec<&AuditRecord> = records.iter().collect();
    records.sort_by_key(|r| (r.fields.at, r.seq));
    records
        .into_iter()
        .filter(|r| {
            let x = &r.fields;
            let company = |c: &CompanyCode| x.company.as_deref() == Some(c.0.as_str());
            (match scope {
                AuditScope::All => true,
                AuditScope::Company(c) => company(c),
            }) && f.login.as_ref().is_none_or(|l| x.login.as_ref() == Some(l))
                && f.company.as_ref().is_none_or(company)
                && (f.kinds.is_empty() || f.kinds.iter().any(|k| k.as_str() == x.kind))
                && f.outcome.is_none_or(|o| o.as_str() == x.outcome)
                && f.source_ip.as_ref().is_none_or(|ip| x.source_ip.as_ref() == Some(ip))
                && f.client_id.as_ref().is_none_or(|c| x.client_id.as_ref() == Some(c))
                && f.since.is_none_or(|t| x.at >= t)
                && f.until.is_none_or(|t| x.at < t)
        })
        .map(|r| r.seq)
        .collect()
}

/// Every matching record, page by page (`limit` per page), in `order`.
async fn paged(store: &AnyStore, scope: &AuditScope, f: &AuditFilter, order: Order, limit: u32) -> Vec<i64> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(order, limit);
    loop {
        let p = store.audit_query(scope, f, page).await.expect("query");
        assert!(p.records.len() <= limit as usize);
        out.extend(p.records.iter().map(|r| r.seq));
        match p.next {
            Some(n) => page.after = Some(n),
            None => return out,
        }
    }
}

async fn filters_scopes_and_pages_agree_with_a_reference_filter(e: Env) {
    let kinds =
        [EventKind::Login, EventKind::Login, EventKind::TokenIssued, EventKind::Lockout, EventKind::AccountMove];
    let logins = ["alice", "bob", "carol"];
    let mut events: Vec<AuditEvent> = (0..40)
        .map(|i| {
            let login = logins[i % 3];
            let company = if login == "carol" { "B" } else { "A" };
            let ctx = RequestContext {
                source_ip: Some(format!("10.0.0.{}", i % 4).parse().expect("ip")),
                client_id: Some(if i % 2 == 0 { "oa" } else { "mail" }.into()),
                ..RequestContext::default()
            };
            let outcome = if i % 4 == 0 { AuditOutcome::Failure } else { AuditOutcome::Success };
            // Several records share a time: pages must not lose or repeat them.
            let t = at(i as i64 / 3);
            AuditEvent::new(t, kinds[i % 5], outcome, Actor::User(login.into()))
                .subject(login, Some(&CompanyCode(company.into())))
                .context(&ctx)
        })
        .collect();
    events.push(AuditEvent::new(at(5), EventKind::ConfigReload, AuditOutcome::Success, Actor::System("serve".into())));
    for chunk in events.chunks(7) {
        e.store.append_audit(chunk).await.expect("append");
    }
    let records = all_records(&e.store).await;
    let a = AuditScope::Company(CompanyCode("A".into()));
    let filters = [
        AuditFilter::default(),
        AuditFilter { login: Some("alice".into()), ..AuditFilter::default() },
        AuditFilter { company: Some(CompanyCode("B".into())), ..AuditFilter::default() },
        AuditFilter { kinds: vec![EventKind::Lockout], ..AuditFilter::default() },
        AuditFilter { kinds: vec![EventKind::Login, EventKind::Lockout], ..AuditFilter::default() },
        AuditFilter { outcome: Some(AuditOutcome::Failure), ..AuditFilter::default() },
        AuditFilter { source_ip: Some("10.0.0.2".into()), ..AuditFilter::default() },
        AuditFilter { client_id: Some("mail".into()), ..AuditFilter::default() },
        AuditFilter { since: Some(at(3)), until: Some(at(9)), ..AuditFilter::default() },
        AuditFilter {
            login: Some("bob".into()),
            outcome: Some(AuditOutcome::Success),
            since: Some(at(2)),
            kinds: vec![EventKind::Login],
            ..AuditFilter::default()
        },
    ];
    for scope in [AuditScope::All, a.clone()] {
        for f in &filters {
            let want = expected(&records, &scope, f);
            let oldest = paged(&e.store, &scope, f, Order::OldestFirst, 4).await;
            assert_eq!(oldest, want, "{scope:?} {f:?}");
            let mut newest = paged(&e.store, &scope, f, Order::NewestFirst, 3).await;
            newest.reverse();
            assert_eq!(newest, want, "{scope:?} {f:?}, newest first");
            if matches!(scope, AuditScope::Company(_)) && f.login.is_none() && f.company.is_none() {
                assert!(!want.is_empty(), "the scope test is not vacuous: {f:?}");
            }
        }
    }
    // A delegate of A gets nothing of B, even when asking for it by name.
    let b_only = AuditFilter { company: Some(CompanyCode("B".into())), ..AuditFilter::default() };
    let page = e.store.audit_query(&a, &b_only, PageRequest::first(Order::NewestFirst, 100)).await.expect("query");
    assert!(page.records.is_empty());
    let carol = AuditFilter { login: Some("carol".into()), ..AuditFilter::default() };
    let page = e.store.audit_query(&a, &carol, PageRequest::first(Order::NewestFirst, 100)).await.expect("query");
    assert!(page.records.is_empty(), "carol is in B");
    assert!(
        paged(&e.store, &a, &AuditFilter::default(), Order::OldestFirst, 100)
            .await
            .iter()
            .all(|s| { records.iter().find(|r| r.seq == *s).and_then(|r| r.fields.company.as_deref()) == Some("A") }),
        "system records without a company are not a delegate's"
    );
}

pub(crate) fn change(
    op: Op,
    key: &str,
    login: &str,
    before: Option<AccountStatus>,
    after: AccountStatus,
) -> AccountChange {
    let p = person(key, &format!("E{key}"), "张三", "A", at(1));
    AccountChange {
        op,
        person_key: p.key.clone(),
        account: Account {
            login: login.into(),
            status: after,
            rule: "ELIG-1".into(),
            opened_at: Some(at(1)),
            closed_at: None,
            updated_at: at(1),
        },
        employee_number: p.profile.employee_number.clone(),
        name: p.profile.name.clone(),
        company: p.profile.company.clone(),
        before_status: before,
        fields: Vec::new(),
        reason: format!("{} by the test", op.as_str()),
    }
}

fn opening() -> Plan {
    let people = vec![person("k1", "Ek1", "张三", "A", at(1)), person("k2", "Ek2", "李四", "A", at(1))];
    plan_of(
        people,
        vec![
            change(Op::Open, "k1", "zhangsan", None, AccountStatus::Active),
            change(Op::Open, "k2", "lisi", None, AccountStatus::Active),
        ],
    )
}

async fn records_of(store: &AnyStore, kinds: &[EventKind]) -> Vec<AuditRecord> {
    let f = AuditFilter { kinds: kinds.to_vec(), ..AuditFilter::default() };
    store.audit_query(&AuditScope::All, &f, PageRequest::first(Order::OldestFirst, 1_000)).await.expect("query").records
}

/// A run's records go in several statements (they are chained and written a statement's worth
/// at a time): every one is there, in plan order, in one unbroken chain, the run's end last.
async fn a_large_run_chains_its_records_across_statements(e: Env) {
    const N: usize = 700;
    let keys: Vec<String> = (0..N).map(|i| format!("k{i:04}")).collect();
    let people = keys.iter().map(|k| person(k, &format!("E{k}"), "张三", "A", at(1))).collect();
    let changes = keys.iter().map(|k| change(Op::Open, k, &format!("u{k}"), None, AccountStatus::Active)).collect();
    let run = e.apply(&group(), &plan_of(people, changes), at(0), at(2)).await;
    let records = all_records(&e.store).await;
    assert_eq!(records.len(), N + 1);
    assert_eq!(assert_intact(&e.store).await, 1, "one chain");
    for (r, k) in records.iter().zip(&keys) {
        assert_eq!(
            (r.fields.kind.as_str(), r.fields.login.clone()),
            (EventKind::AccountOpen.as_str(), Some(format!("u{k}")))
        );
        assert_eq!(r.fields.actor, run.to_string());
    }
    assert_eq!(records[N].fields.kind, EventKind::SyncFinished.as_str());
}

async fn sync_runs_write_their_records_in_the_same_transaction(e: Env) {
    let companies = group();
    let first = e.apply(&companies, &opening(), at(0), at(2)).await;
    let opened = records_of(&e.store, &[EventKind::AccountOpen]).await;
    assert_eq!(opened.len(), 2);
    assert!(opened.iter().all(|r| r.fields.actor_kind == "run" && r.fields.actor == first.to_string()));
    assert_eq!(opened[0].fields.login.as_deref(), Some("zhangsan"));
    assert_eq!(opened[0].fields.company.as_deref(), Some("A"));
    let d = opened[0].fields.details().expect("details");
    assert_eq!(d.changes[0], FieldChange { field: "status".into(), before: String::new(), after: "active".into() });
    let finished = records_of(&e.store, &[EventKind::SyncFinished]).await;
    assert_eq!((finished.len(), finished[0].fields.outcome.as_str()), (1, "success"));

    // A move with its changed fields, and a close.
    let mut moved = change(Op::Move, "k1", "zhangsan", Some(AccountStatus::Active), AccountStatus::Active);
    moved.company = CompanyCode("B".into());
    moved.fields = vec![FieldChange { field: "company".into(), before: "A".into(), after: "B".into() }];
    let closed = change(Op::Close, "k2", "lisi", Some(AccountStatus::Active), AccountStatus::Disabled);
    let mut p1 = person("k1", "Ek1", "张三", "B", at(3));
    p1.profile.company = CompanyCode("B".into());
    let second = plan_of(vec![p1], vec![moved, closed]);
    let run2 = e.apply(&companies, &second, at(3), at(4)).await;
    let m = &records_of(&e.store, &[EventKind::AccountMove]).await[0];
    assert_eq!((m.fields.company.as_deref(), m.fields.actor.clone()), (Some("B"), run2.to_string()));
    assert_eq!(
        m.fields.details().expect("details").changes,
        [FieldChange { field: "company".into(), before: "A".into(), after: "B".into() }]
    );
    let c = &records_of(&e.store, &[EventKind::AccountClose]).await[0];
    let d = c.fields.details().expect("details");
    assert_eq!((d.changes[0].before.as_str(), d.changes[0].after.as_str()), ("active", "disabled"));

    // Held: only the hold is recorded; approving records the changes by the approving run.
    let reopen = plan_of(
        Vec::new(),
        vec![change(Op::Reopen, "k2", "lisi", Some(AccountStatus::Disabled), AccountStatus::Active)],
    );
    let held = e.store.begin_run(&new_run(at(5))).await.expect("begin");
    let outcome = RunOutcome {
        status: RunStatus::Held,
        message: Some("would reopen too many".into()),
        ..ok(&companies, &reopen, at(6))
    };
    e.store.finish_run(held, outcome).await.expect("held");
    assert!(records_of(&e.store, &[EventKind::AccountReopen]).await.is_empty(), "nothing applied yet");
    let hold = &records_of(&e.store, &[EventKind::SyncHeld]).await[0];
    assert_eq!(hold.fields.reason.as_deref(), Some("held: would reopen too many"));
    let by = e.store.begin_run(&new_run(at(7))).await.expect("begin");
    e.store.approve_run(held, by, at(8)).await.expect("approve");
    let reopened = records_of(&e.store, &[EventKind::AccountReopen]).await;
    assert_eq!((reopened.len(), reopened[0].fields.actor.clone()), (1, by.to_string()));
    let approved = &records_of(&e.store, &[EventKind::SyncApproved]).await[0];
    assert_eq!(approved.fields.details().expect("details").attrs["held_run"], held.to_string());

    // Failed: the failure, nothing else.
    let failed = e.store.begin_run(&new_run(at(9))).await.expect("begin");
    let outcome = RunOutcome {
        status: RunStatus::Failed,
        message: Some("source unreadable".into()),
        ..ok(&companies, &reopen, at(10))
    };
    e.store.finish_run(failed, outcome).await.expect("failed");
    let f = records_of(&e.store, &[EventKind::SyncFinished]).await;
    assert_eq!(f.last().map(|r| r.fields.outcome.as_str()), Some("failure"));
    assert_eq!(records_of(&e.store, &[EventKind::AccountReopen]).await.len(), 1);
    assert_intact(&e.store).await;
}

/// Makes every insert into the audit table fail, as a full disk or a broken table would.
pub(crate) async fn break_audit_writes(e: &Env) {
    let sql = match e.db.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER audit_log_broken BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit storage is broken'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'audit storage is broken'; END $$; \
             CREATE TRIGGER audit_log_broken BEFORE INSERT ON audit_log \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_broken();"
        }
    };
    raw(&e.db.url, sql).await.expect("break the audit table");
}

async fn a_failed_audit_write_blocks_the_change(e: Env) {
    let companies = group();
    // A held run to approve later, recorded while the audit still works.
    let held = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    let kept = opening();
    let outcome = RunOutcome { status: RunStatus::Held, message: Some("held".into()), ..ok(&companies, &kept, at(1)) };
    e.store.finish_run(held, outcome).await.expect("held");
    let heads = e.store.audit_heads().await.expect("heads");

    break_audit_writes(&e).await;
    let plan = opening();
    let run = e.store.begin_run(&new_run(at(2))).await.expect("begin");
    let err = e.store.finish_run(run, ok(&companies, &plan, at(3))).await.expect_err("the audit write fails");
    assert!(err.to_string().contains("audit storage is broken"), "{err}");
    assert!(e.store.people().await.expect("people").is_empty(), "no person written");
    let detail = e.store.run(run).await.expect("run").expect("exists");
    assert_eq!(detail.summary.status, RunStatus::Running, "the run did not finish");
    assert!(detail.changes.is_empty(), "no ledger changes");

    let by = e.store.begin_run(&new_run(at(4))).await.expect("begin");
    let err = e.store.approve_run(held, by, at(5)).await.expect_err("the audit write fails");
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
    assert!(e.store.people().await.expect("people").is_empty(), "the approval applied nothing");
    let held_now = e.store.run(held).await.expect("run").expect("exists");
    assert_eq!(held_now.summary.status, RunStatus::Held, "still waiting for approval");

    let delta = DitDelta {
        ops: vec![orgid_directory::target::ldap::QueuedOp {
            key: "user:k1".into(),
            phase: orgid_directory::target::ldap::PHASE_ACCOUNTS,
            op: orgid_directory::target::ldap::DirOp::Delete { dn: "uid=x,dc=example,dc=com".parse().expect("dn") },
        }],
        ..DitDelta::default()
    };
    let repair = [AuditEvent::new(at(6), EventKind::ReconcileRepair, AuditOutcome::Success, Actor::System("t".into()))];
    e.store.enqueue_directory_audited(&delta, at(6), &repair).await.expect_err("the audit write fails");
    use orgid_directory::store::OutboxStore;
    const LDAP: orgid_directory::target::TargetId = orgid_directory::target::TargetId::Ldap;
    assert_eq!(e.store.outbox_stats(LDAP, at(7)).await.expect("stats").pending, 0, "nothing queued for the directory");

    let err = e.store.append_audit(&repair).await.expect_err("a standalone append fails loudly");
    assert!(err.to_string().contains("audit storage is broken"), "{err}");
    assert_eq!(e.store.audit_heads().await.expect("heads"), heads, "no chain moved");
}

async fn the_table_refuses_updates_and_deletes(e: Env) {
    let events: Vec<AuditEvent> = (1..=3).map(|i| sample(EventKind::Login, i)).collect();
    e.store.append_audit(&events).await.expect("append");
    for sql in [
        "UPDATE audit_log SET reason = 'x' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 1",
        "DELETE FROM audit_log",
    ] {
        let err = raw(&e.db.url, sql).await.expect_err(sql);
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if e.db.backend == Backend::Postgres {
        let err = raw(&e.db.url, "TRUNCATE audit_log").await.expect_err("truncate");
        assert!(err.contains("append-only"), "{err}");
    }
    assert_eq!(all_records(&e.store).await.len(), 3);
    assert_intact(&e.store).await;
}

async fn concurrent_appenders_keep_one_chain(e: Env) {
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = e.store.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let ev = sample(EventKind::Login, t * 100 + i);
                    store.append_audit(&[ev]).await.expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(total(&e.store).await, 200);
    let records = all_records(&e.store).await;
    let seqs: BTreeSet<i64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), 200, "every record has its own row number");
    let used = assert_intact(&e.store).await;
    if e.db.backend == Backend::Sqlite {
        assert_eq!(used, 1, "SQLite keeps one chain");
    }
}

/// PostgreSQL: while one transaction holds chain 1 (a login not yet committed), another append
/// takes chain 2 at once instead of waiting for that commit.
#[tokio::test]
async fn postgres_appenders_skip_a_chain_another_transaction_holds() {
    let e = Env::new(Backend::Postgres).await;
    e.store.append_audit(&[sample(EventKind::Login, 1)]).await.expect("append");
    let pool = sqlx::PgPool::connect(&e.db.url).await.expect("connect");
    let mut holder = pool.begin().await.expect("begin");
    sqlx::query("SELECT pos FROM audit_head WHERE chain = 1 FOR UPDATE").execute(&mut *holder).await.expect("lock");
    let head =
        tokio::time::timeout(std::time::Duration::from_secs(5), e.store.append_audit(&[sample(EventKind::Login, 2)]))
            .await
            .expect("did not wait for the other transaction")
            .expect("append");
    assert_eq!((head.chain, head.pos), (2, 1), "the next free chain");
    holder.rollback().await.expect("rollback");
    let head = e.store.append_audit(&[sample(EventKind::Login, 3)]).await.expect("append");
    assert_eq!((head.chain, head.pos), (1, 2), "chain 1 again once it is free");
    assert_eq!(assert_intact(&e.store).await, 2);
    pool.close().await;
}
