//! The store's directory side against both backends (as `store.rs`): the LDAP outbox written in the
//! run's transaction, the tracking of users and nodes, and the worker's outbox calls.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use orgid_directory::store::{LdapStore, OutboxStore};
use orgid_directory::target::ldap::{Attrs, DirOp, DitDelta, Dn, Node, NodeKind, QueuedOp, TrackedUser};
use orgid_directory::target::{OutboxStats, TargetId};

use orgid_directory::{NewRun, PersonKey, PersonStore, Plan, RunId, RunOutcome, RunStatus, RunStore, StoreError};

use super::store::{Env, at, conflict, group, new_run, ok, person, plan_of};

const LDAP: TargetId = TargetId::Ldap;
type OutboxItem = orgid_directory::target::OutboxItem<DirOp>;

both_backends!(
    run_delta_writes_outbox_in_order_and_tracking,
    failed_run_writes_no_delta,
    held_delta_waits_for_approval_and_carries_the_approving_run,
    renamed_moves_users_and_drops_the_old_node,
    users_none_deletes_tracking,
    outbox_batch_orders_limits_and_skips_parked,
    outbox_ack_deletes_items,
    outbox_retry_counts_and_parks_at_park_after,
    outbox_stats_with_an_injected_now,
    outbox_unpark_makes_parked_items_due,
    enqueue_directory_outside_any_run,
    conflict_writes_neither_plan_nor_delta,
    bulk_delta_round_trips,
);

// ---- data -------------------------------------------------------------------------------------

const BASE: &str = "dc=example,dc=com";

fn dn(s: &str) -> Dn {
    Dn::from_str(s).expect("dn")
}

fn attrs(pairs: &[(&str, &str)]) -> Attrs {
    pairs.iter().map(|(k, v)| (k.to_string(), vec![v.to_string()])).collect()
}

fn queued(key: &str, phase: u8, op: DirOp) -> QueuedOp {
    QueuedOp { key: key.into(), phase, op }
}

fn add_user(login: &str, ou: &str) -> DirOp {
    DirOp::Add {
        dn: dn(&format!("uid={login},ou={ou},{BASE}")),
        attrs: attrs(&[("objectClass", "inetOrgPerson"), ("cn", login), ("sn", "张")]),
    }
}

fn ou(key: &str, name: &str) -> Node {
    Node { key: key.into(), dn: dn(&format!("ou={name},{BASE}")), kind: NodeKind::Ou }
}

fn user(parent: &str, login: &str, groups: &[&str], locked: bool) -> TrackedUser {
    TrackedUser {
        parent: parent.into(),
        login: login.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        locked,
    }
}

fn key(k: &str) -> PersonKey {
    PersonKey(k.into())
}

/// People `keys` (tracking refers to people), with no accounts.
fn people(keys: &[&str]) -> Plan {
    plan_of(keys.iter().enumerate().map(|(i, k)| person(k, &format!("{i:04}"), "张三", "A", at(0))).collect(), vec![])
}

fn with<'a>(outcome: RunOutcome<'a>, delta: &'a DitDelta) -> RunOutcome<'a> {
    RunOutcome { directory: Some(delta), ..outcome }
}

/// A delta that sets up OUs `a` and `c`, a group, and tracks k1, k2 under `a` and k3 under `c`.
fn setup_delta() -> DitDelta {
    let group = Node { key: "g:staff".into(), dn: dn(&format!("cn=staff,ou=groups,{BASE}")), kind: NodeKind::Group };
    DitDelta {
        ops: vec![
            queued("ou:a", 0, DirOp::Add { dn: ou("a", "A").dn, attrs: attrs(&[("ou", "A")]) }),
            queued("k1", 1, add_user("zhangsan", "A")),
            queued("k2", 1, add_user("lisi", "A")),
            queued("k3", 1, add_user("wangwu", "C")),
            queued(
                "g:staff",
                2,
                DirOp::AddMembers { group: group.dn.clone(), members: vec![dn(&format!("uid=zhangsan,ou=A,{BASE}"))] },
            ),
        ],
        users: vec![
            (key("k1"), Some(user("ou:a", "zhangsan", &["g:staff"], false))),
            (key("k2"), Some(user("ou:a", "lisi", &[], false))),
            (key("k3"), Some(user("ou:c", "wangwu", &[], true))),
        ],
        nodes: vec![ou("ou:a", "A"), ou("ou:c", "C"), group],
        renamed: vec![],
    }
}

/// Begins a run at `start` and finishes it `ok` at `end` with people `plan` and `delta`.
async fn apply_delta(e: &Env, plan: &Plan, delta: &DitDelta, start: DateTime<Utc>, end: DateTime<Utc>) -> RunId {
    apply_delta_seqs(e, plan, delta, start, end).await.0
}

/// Also returns the outbox seqs `finish_run` reports for the delta's operations.
async fn apply_delta_seqs(
    e: &Env,
    plan: &Plan,
    delta: &DitDelta,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> (RunId, Vec<i64>) {
    let id = e.store.begin_run(&new_run(start)).await.expect("begin");
    let seqs = e.store.finish_run(id, with(ok(&group(), plan, end), delta)).await.expect("finish");
    (id, seqs)
}

async fn outbox(e: &Env) -> Vec<OutboxItem> {
    e.store.outbox_batch::<DirOp>(u32::MAX).await.expect("outbox")
}

fn ops(items: &[OutboxItem]) -> Vec<QueuedOp> {
    items.iter().map(|i| i.op.clone()).collect()
}

fn tracked(delta: &DitDelta) -> Vec<(PersonKey, TrackedUser)> {
    let mut users: Vec<_> = delta.users.iter().filter_map(|(k, u)| u.clone().map(|u| (k.clone(), u))).collect();
    users.sort_by(|a, b| a.0.cmp(&b.0));
    users
}

fn sorted_nodes(mut nodes: Vec<Node>) -> Vec<Node> {
    nodes.sort_by(|a, b| a.key.cmp(&b.key));
    nodes
}

/// Queues `n` operations outside any run at `at`, returning their seqs.
async fn enqueue_ops(e: &Env, n: usize, at: DateTime<Utc>) -> Vec<i64> {
    let ops = (0..n).map(|i| queued(&format!("k{i}"), 1, DirOp::Delete { dn: dn(&format!("uid=u{i},{BASE}")) }));
    let before = outbox(e).await.len();
    e.store.enqueue_directory(&DitDelta { ops: ops.collect(), ..DitDelta::default() }, at).await.expect("enqueue");
    outbox(e).await[before..].iter().map(|i| i.seq).collect()
}

fn entry(login: &str) -> orgid_directory::target::ldap::AccountEntry {
    orgid_directory::target::ldap::AccountEntry {
        login: login.into(),
        name: "张三".into(),
        employee_number: "E1".into(),
        mail: String::new(),
        mobile: "13800000000".into(),
        title: "经理".into(),
        grade: "M12".into(),
        company_name: "测试公司".into(),
        department: "财务部/一科".into(),
    }
}

// ---- tests --------------------------------------------------------------------------------------

async fn run_delta_writes_outbox_in_order_and_tracking(e: Env) {
    let plan = people(&["k1", "k2", "k3"]);
    let mut delta = setup_delta();
    // Every kind of operation round-trips; order is the delta's, not the phases'.
    delta.ops.extend([
        queued("k2", 1, DirOp::Replace { dn: dn(&format!("uid=lisi,ou=A,{BASE}")), attrs: attrs(&[("title", "")]) }),
        queued("ou:a", 0, DirOp::Move { dn: dn(&format!("ou=A,{BASE}")), to: dn(&format!("ou=A\\, Ltd,{BASE}")) }),
        queued(
            "g:staff",
            2,
            DirOp::RemoveMembers {
                group: dn(&format!("cn=staff,ou=groups,{BASE}")),
                members: vec![dn(&format!("uid=lisi,ou=A,{BASE}"))],
            },
        ),
        queued("k3", 3, DirOp::Delete { dn: dn(&format!("uid=wangwu,ou=C,{BASE}")) }),
        queued("k1", 1, DirOp::AddAccount { dn: dn(&format!("uid=zhangsan,ou=A,{BASE}")), entry: entry("zhangsan") }),
        queued(
            "k1",
            1,
            DirOp::UpdateAccount {
                dn: dn(&format!("uid=zhangsan,ou=A,{BASE}")),
                entry: entry("zhangsan"),
                unlock: true,
            },
        ),
    ]);
    let (id, seqs) = apply_delta_seqs(&e, &plan, &delta, at(0), at(2)).await;

    let items = outbox(&e).await;
    assert_eq!(ops(&items), delta.ops);
    assert_eq!(items.iter().map(|i| i.seq).collect::<Vec<_>>(), seqs, "finish_run reports the seqs, in op order");
    assert!(items.windows(2).all(|w| w[0].seq < w[1].seq), "seqs ascend");
    assert!(items.iter().all(|i| i.run == Some(id) && i.attempts == 0 && i.next_attempt_at == at(2)));
    assert_eq!(e.store.all_tracked_users().await.expect("users"), tracked(&delta));
    assert_eq!(e.store.tracked_nodes().await.expect("nodes"), sorted_nodes(delta.nodes.clone()));
    let some = e.store.tracked_users(&[key("k3"), key("nope"), key("k1"), key("k3")]).await.expect("users");
    assert_eq!(some, [tracked(&delta)[0].clone(), tracked(&delta)[2].clone()], "known ones, once, by key");
    assert!(e.store.tracked_users(&[]).await.expect("users").is_empty());
    let under = e.store.tracked_users_under(&["ou:a".into(), "ou:x".into()]).await.expect("under");
    assert_eq!(under.iter().map(|u| u.0.as_str()).collect::<Vec<_>>(), ["k1", "k2"]);

    // A partial run applies its delta too, and a run without one leaves the outbox as it is.
    let more = DitDelta { ops: vec![queued("k1", 1, add_user("zhangsan", "A"))], ..DitDelta::default() };
    let r2 = e.store.begin_run(&new_run(at(3))).await.expect("begin");
    e.store
        .finish_run(r2, RunOutcome { status: RunStatus::Partial, ..with(ok(&group(), &plan, at(4)), &more) })
        .await
        .expect("partial");
    let r3 = e.store.begin_run(&new_run(at(5))).await.expect("begin");
    let none = e.store.finish_run(r3, ok(&group(), &plan, at(6))).await.expect("finish");
    assert!(none.is_empty(), "no delta, no seqs");
    let items = outbox(&e).await;
    assert_eq!(items.len(), delta.ops.len() + 1);
    assert_eq!((items.last().unwrap().run, &items.last().unwrap().op), (Some(r2), &more.ops[0]));
}

async fn failed_run_writes_no_delta(e: Env) {
    let plan = people(&["k1", "k2", "k3"]);
    let delta = setup_delta();
    let id = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    e.store
        .finish_run(
            id,
            RunOutcome {
                status: RunStatus::Failed,
                message: Some("no".into()),
                ..with(ok(&group(), &plan, at(1)), &delta)
            },
        )
        .await
        .expect("fail");
    assert!(outbox(&e).await.is_empty());
    assert!(e.store.all_tracked_users().await.expect("users").is_empty());
    assert!(e.store.tracked_nodes().await.expect("nodes").is_empty());
}

async fn held_delta_waits_for_approval_and_carries_the_approving_run(e: Env) {
    let plan = people(&["k1", "k2", "k3"]);
    let delta = setup_delta();
    let held = e.store.begin_run(&new_run(at(0))).await.expect("begin");
    e.store
        .finish_run(held, RunOutcome { status: RunStatus::Held, ..with(ok(&group(), &plan, at(1)), &delta) })
        .await
        .expect("hold");
    assert!(outbox(&e).await.is_empty());
    assert!(e.store.all_tracked_users().await.expect("users").is_empty());
    assert!(e.store.tracked_nodes().await.expect("nodes").is_empty());

    let by = e.store.begin_run(&NewRun { actor: "admin".into(), ..new_run(at(30)) }).await.expect("begin");
    e.store.approve_run(held, by, at(31)).await.expect("approve");
    let items = outbox(&e).await;
    assert_eq!(ops(&items), delta.ops);
    assert!(items.iter().all(|i| i.run == Some(by) && i.next_attempt_at == at(31)));
    assert_eq!(e.store.all_tracked_users().await.expect("users"), tracked(&delta));
    assert_eq!(e.store.tracked_nodes().await.expect("nodes"), sorted_nodes(delta.nodes.clone()));

    // A held run without a delta approves as before.
    let held2 = e.store.begin_run(&new_run(at(40))).await.expect("begin");
    e.store
        .finish_run(held2, RunOutcome { status: RunStatus::Held, ..ok(&group(), &Plan::default(), at(41)) })
        .await
        .expect("hold");
    let by2 = e.store.begin_run(&new_run(at(42))).await.expect("begin");
    e.store.approve_run(held2, by2, at(43)).await.expect("approve");
    assert_eq!(outbox(&e).await.len(), delta.ops.len());
}

async fn renamed_moves_users_and_drops_the_old_node(e: Env) {
    let plan = people(&["k1", "k2", "k3"]);
    apply_delta(&e, &plan, &setup_delta(), at(0), at(1)).await;
    let rename = DitDelta {
        ops: vec![queued(
            "ou:a2",
            0,
            DirOp::Move { dn: dn(&format!("ou=A,{BASE}")), to: dn(&format!("ou=A2,{BASE}")) },
        )],
        nodes: vec![ou("ou:a2", "A2")],
        renamed: vec![("ou:a".into(), "ou:a2".into())],
        users: vec![],
    };
    apply_delta(&e, &Plan::default(), &rename, at(2), at(3)).await;

    let users = e.store.all_tracked_users().await.expect("users");
    let parents: Vec<(&str, &str)> = users.iter().map(|(k, u)| (k.as_str(), u.parent.as_str())).collect();
    assert_eq!(parents, [("k1", "ou:a2"), ("k2", "ou:a2"), ("k3", "ou:c")]);
    assert_eq!(users[0].1, user("ou:a2", "zhangsan", &["g:staff"], false), "only the parent changed");
    let keys: Vec<String> = e.store.tracked_nodes().await.expect("nodes").into_iter().map(|n| n.key).collect();
    assert_eq!(keys, ["g:staff", "ou:a2", "ou:c"]);
    assert!(e.store.tracked_users_under(&["ou:a".into()]).await.expect("under").is_empty());
    assert_eq!(e.store.tracked_users_under(&["ou:a2".into()]).await.expect("under").len(), 2);
}

async fn users_none_deletes_tracking(e: Env) {
    let plan = people(&["k1", "k2", "k3"]);
    apply_delta(&e, &plan, &setup_delta(), at(0), at(1)).await;
    let delta = DitDelta {
        users: vec![
            (key("k1"), None),
            (key("k2"), Some(user("ou:c", "lisi", &["g:staff"], true))),
            (key("k3"), Some(user("ou:c", "wangwu", &[], false))),
            (key("k3"), None),
        ],
        ..DitDelta::default()
    };
    apply_delta(&e, &Plan::default(), &delta, at(2), at(3)).await;
    let users = e.store.all_tracked_users().await.expect("users");
    assert_eq!(users, [(key("k2"), user("ou:c", "lisi", &["g:staff"], true))], "the last entry of a key wins");
    assert_eq!(e.store.tracked_users(&[key("k1"), key("k3")]).await.expect("users"), []);
}

async fn outbox_batch_orders_limits_and_skips_parked(e: Env) {
    assert!(outbox(&e).await.is_empty());
    let seqs = enqueue_ops(&e, 5, at(0)).await;
    let first = e.store.outbox_batch::<DirOp>(3).await.expect("batch");
    assert_eq!(first.iter().map(|i| i.seq).collect::<Vec<_>>(), seqs[..3]);
    assert_eq!(first.iter().map(|i| i.op.key.as_str()).collect::<Vec<_>>(), ["k0", "k1", "k2"]);
    assert!(first.iter().all(|i| i.run.is_none()));
    assert!(e.store.outbox_batch::<DirOp>(0).await.expect("batch").is_empty());

    e.store.outbox_retry(LDAP, seqs[1], "refused", at(10), 1).await.expect("park");
    // Not due yet but not parked: still listed (the worker decides).
    e.store.outbox_retry(LDAP, seqs[2], "busy", at(60), 5).await.expect("retry");
    let rest = e.store.outbox_batch::<DirOp>(3).await.expect("batch");
    assert_eq!(rest.iter().map(|i| i.seq).collect::<Vec<_>>(), [seqs[0], seqs[2], seqs[3]]);
    assert_eq!((rest[1].attempts, rest[1].next_attempt_at), (1, at(60)));
    // The worker's next batch: after a seq, parked items still left out.
    let after = e.store.outbox_batch_after::<DirOp>(seqs[0], 2).await.expect("after");
    assert_eq!(after.iter().map(|i| i.seq).collect::<Vec<_>>(), [seqs[2], seqs[3]]);
    assert_eq!(after, rest[1..], "the same items as from the head");
    assert!(e.store.outbox_batch_after::<DirOp>(seqs[4], 10).await.expect("after").is_empty());
}

async fn outbox_ack_deletes_items(e: Env) {
    let seqs = enqueue_ops(&e, 4, at(0)).await;
    e.store.outbox_ack(LDAP, &[seqs[0], seqs[2], 999_999]).await.expect("ack");
    assert_eq!(outbox(&e).await.iter().map(|i| i.seq).collect::<Vec<_>>(), [seqs[1], seqs[3]]);
    e.store.outbox_ack(LDAP, &[]).await.expect("nothing to ack");
    e.store.outbox_ack(LDAP, &[seqs[0]]).await.expect("acked twice");
    e.store.outbox_ack(LDAP, &[seqs[1], seqs[3]]).await.expect("ack");
    assert!(outbox(&e).await.is_empty());
    let more = enqueue_ops(&e, 1, at(1)).await;
    assert!(more[0] > seqs[3], "seqs are never reused");
}

async fn outbox_retry_counts_and_parks_at_park_after(e: Env) {
    let seqs = enqueue_ops(&e, 2, at(0)).await;
    let s = seqs[0];
    e.store.outbox_retry(LDAP, s, "first", at(1), 3).await.expect("retry");
    e.store.outbox_retry(LDAP, s, "second", at(5), 3).await.expect("retry");
    let item = outbox(&e).await.into_iter().find(|i| i.seq == s).expect("still pending");
    assert_eq!((item.attempts, item.next_attempt_at), (2, at(5)));
    let stats = e.store.outbox_stats(LDAP, at(0)).await.expect("stats");
    assert_eq!((stats.retrying, stats.parked, stats.last_error.as_deref()), (1, 0, Some("second")));

    e.store.outbox_retry(LDAP, s, "third", at(20), 3).await.expect("retry");
    assert_eq!(outbox(&e).await.iter().map(|i| i.seq).collect::<Vec<_>>(), [seqs[1]], "parked at the third failure");
    let stats = e.store.outbox_stats(LDAP, at(0)).await.expect("stats");
    assert_eq!((stats.pending, stats.retrying, stats.parked, stats.last_error.as_deref()), (1, 0, 1, Some("third")));
    e.store.outbox_retry(LDAP, 999_999, "gone", at(1), 3).await.expect("a missing item is ignored");
}

async fn outbox_stats_with_an_injected_now(e: Env) {
    assert_eq!(e.store.outbox_stats(LDAP, at(0)).await.expect("stats"), OutboxStats::default());
    let early = enqueue_ops(&e, 2, at(0)).await;
    let late = enqueue_ops(&e, 3, at(10)).await;
    e.store.outbox_retry(LDAP, early[0], "parked error", at(100), 1).await.expect("park");
    e.store.outbox_retry(LDAP, early[1], "retry error", at(30), 5).await.expect("retry");
    e.store.outbox_retry(LDAP, late[2], "later error", at(12), 5).await.expect("retry");

    let stats = e.store.outbox_stats(LDAP, at(11)).await.expect("stats");
    assert_eq!(
        stats,
        OutboxStats {
            pending: 4,
            due: 2,
            retrying: 2,
            parked: 1,
            oldest: Some(at(0)),
            last_error: Some("retry error".into()),
        }
    );
    assert_eq!(e.store.outbox_stats(LDAP, at(12)).await.expect("stats").due, 3, "due is inclusive");
    assert_eq!(e.store.outbox_stats(LDAP, at(30)).await.expect("stats").due, 4);
    e.store.outbox_ack(LDAP, &[early[1]]).await.expect("ack");
    let stats = e.store.outbox_stats(LDAP, at(30)).await.expect("stats");
    assert_eq!((stats.pending, stats.oldest, stats.last_error.as_deref()), (3, Some(at(10)), Some("later error")));
    e.store.outbox_ack(LDAP, &late).await.expect("ack");
    let stats = e.store.outbox_stats(LDAP, at(30)).await.expect("stats");
    assert_eq!(
        stats,
        OutboxStats { parked: 1, last_error: Some("parked error".into()), ..OutboxStats::default() },
        "only parked items left: no oldest pending"
    );
}

async fn outbox_unpark_makes_parked_items_due(e: Env) {
    let seqs = enqueue_ops(&e, 3, at(0)).await;
    assert_eq!(e.store.outbox_unpark(LDAP, at(1)).await.expect("unpark"), 0);
    e.store.outbox_retry(LDAP, seqs[0], "no such object", at(10), 2).await.expect("retry");
    e.store.outbox_retry(LDAP, seqs[0], "no such object", at(20), 2).await.expect("park");
    e.store.outbox_retry(LDAP, seqs[2], "insufficient access", at(10), 1).await.expect("park");
    e.store.outbox_retry(LDAP, seqs[1], "busy", at(10), 5).await.expect("retry");
    assert_eq!(e.store.outbox_stats(LDAP, at(0)).await.expect("stats").parked, 2);

    assert_eq!(e.store.outbox_unpark(LDAP, at(50)).await.expect("unpark"), 2);
    let items = outbox(&e).await;
    assert_eq!(items.iter().map(|i| i.seq).collect::<Vec<_>>(), seqs, "back in queue order");
    assert_eq!((items[0].attempts, items[0].next_attempt_at), (0, at(50)));
    assert_eq!((items[2].attempts, items[2].next_attempt_at), (0, at(50)));
    assert_eq!((items[1].attempts, items[1].next_attempt_at), (1, at(10)), "a pending item is left alone");
    let stats = e.store.outbox_stats(LDAP, at(50)).await.expect("stats");
    assert_eq!((stats.parked, stats.due, stats.last_error.as_deref()), (0, 3, Some("busy")));
    assert_eq!(e.store.outbox_unpark(LDAP, at(51)).await.expect("unpark"), 0);
}

async fn enqueue_directory_outside_any_run(e: Env) {
    let plan = people(&["k1", "k2", "k3"]);
    e.apply(&group(), &plan, at(0), at(1)).await;
    e.store.enqueue_directory(&DitDelta::default(), at(2)).await.expect("nothing to do");
    let delta = setup_delta();
    e.store.enqueue_directory(&delta, at(3)).await.expect("enqueue");
    let items = outbox(&e).await;
    assert_eq!(ops(&items), delta.ops);
    assert!(items.iter().all(|i| i.run.is_none() && i.next_attempt_at == at(3)));
    assert_eq!(e.store.all_tracked_users().await.expect("users"), tracked(&delta));
    assert_eq!(e.store.tracked_nodes().await.expect("nodes").len(), 3);

    // Operations alone (re-sends) leave a running plan valid; a change of tracking does not.
    let a = e.store.begin_run(&new_run(at(4))).await.expect("begin");
    e.store
        .enqueue_directory(&DitDelta { ops: delta.ops.clone(), ..DitDelta::default() }, at(5))
        .await
        .expect("resend");
    e.store.finish_run(a, ok(&group(), &people(&["k4"]), at(6))).await.expect("still valid");
    let b = e.store.begin_run(&new_run(at(7))).await.expect("begin");
    let purge = DitDelta { users: vec![(key("k3"), None)], ..DitDelta::default() };
    e.store.enqueue_directory(&purge, at(8)).await.expect("purge");
    let msg = conflict(e.store.finish_run(b, ok(&group(), &people(&["k5"]), at(9))).await);
    assert!(msg.contains(&format!("run {b}")), "{msg}");
    assert_eq!(e.store.all_tracked_users().await.expect("users").len(), 2);

    // Tracking refers to people: an unknown person is refused and nothing is written.
    let unknown = DitDelta {
        ops: vec![queued("zz", 1, add_user("zz", "A"))],
        users: vec![(key("zz"), Some(user("ou:a", "zz", &[], false)))],
        ..DitDelta::default()
    };
    assert!(matches!(e.store.enqueue_directory(&unknown, at(10)).await, Err(StoreError::Backend(_))));
    assert_eq!(outbox(&e).await.len(), 2 * delta.ops.len());
}

async fn conflict_writes_neither_plan_nor_delta(e: Env) {
    let plan_a = people(&["k1", "k2", "k3"]);
    let plan_b = people(&["k1"]);
    let delta_b = DitDelta {
        ops: vec![queued("k1", 1, add_user("zhangsan", "A"))],
        users: vec![(key("k1"), Some(user("ou:a", "zhangsan", &[], false)))],
        ..DitDelta::default()
    };
    let a = e.store.begin_run(&new_run(at(0))).await.expect("begin a");
    let b = apply_delta(&e, &plan_b, &delta_b, at(0), at(1)).await;
    let msg = conflict(e.store.finish_run(a, with(ok(&group(), &plan_a, at(2)), &setup_delta())).await);
    assert!(msg.contains(&format!("run {a}")), "{msg}");
    let items = outbox(&e).await;
    assert_eq!(ops(&items), delta_b.ops);
    assert!(items.iter().all(|i| i.run == Some(b)));
    assert_eq!(e.store.all_tracked_users().await.expect("users"), tracked(&delta_b));
    assert!(e.store.tracked_nodes().await.expect("nodes").is_empty());
    assert_eq!(e.store.people().await.expect("people").len(), 1, "nothing of run a's plan either");

    // A run whose only change is a delta of tracking invalidates runs planned before it.
    let c = e.store.begin_run(&new_run(at(10))).await.expect("begin c");
    let d = e.store.begin_run(&new_run(at(10))).await.expect("begin d");
    let retrack =
        DitDelta { users: vec![(key("k1"), Some(user("ou:c", "zhangsan", &[], true)))], ..DitDelta::default() };
    e.store.finish_run(d, with(ok(&group(), &Plan::default(), at(11)), &retrack)).await.expect("d");
    conflict(e.store.finish_run(c, with(ok(&group(), &Plan::default(), at(12)), &delta_b)).await);
    assert_eq!(e.store.all_tracked_users().await.expect("users"), tracked(&retrack));
}

/// Correctness at scale (many statements per table); speed is measured by benchmarks, not here.
async fn bulk_delta_round_trips(e: Env) {
    const N: usize = 3_000;
    let keys: Vec<String> =
        (0..N).map(|i| format!("{:064x}", (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect();
    let plan = people(&keys.iter().map(String::as_str).collect::<Vec<_>>());
    let nodes: Vec<Node> = (0..50).map(|d| ou(&format!("ou:d{d:02}"), &format!("部门{d:02}"))).collect();
    let mut delta = DitDelta { nodes: nodes.clone(), ..DitDelta::default() };
    for (i, k) in keys.iter().enumerate() {
        let login = format!("user{i}");
        let parent = format!("ou:d{:02}", i % 50);
        delta.users.push((key(k), Some(user(&parent, &login, &["g:all", &format!("g:{}", i % 7)], i % 11 == 0))));
        let user_dn = dn(&format!("uid={login},ou=部门{:02},{BASE}", i % 50));
        delta.ops.push(queued(k, 1, add_user(&login, &format!("部门{:02}", i % 50))));
        delta.ops.push(queued(
            "g:all",
            2,
            DirOp::AddMembers { group: dn(&format!("cn=all,{BASE}")), members: vec![user_dn.clone()] },
        ));
        delta.ops.push(queued(k, 1, DirOp::Replace { dn: user_dn, attrs: attrs(&[("title", &format!("T{i}"))]) }));
    }
    assert_eq!(delta.ops.len(), 3 * N);
    let (id, seqs) = apply_delta_seqs(&e, &plan, &delta, at(0), at(1)).await;

    let items = outbox(&e).await;
    assert_eq!(items.len(), 3 * N);
    assert!(ops(&items) == delta.ops, "every operation, in order");
    assert!(items.iter().map(|i| i.seq).eq(seqs.iter().copied()), "the reported seqs, across statements");
    assert!(items.iter().all(|i| i.run == Some(id)));
    assert!(e.store.all_tracked_users().await.expect("users") == tracked(&delta));
    assert_eq!(e.store.tracked_nodes().await.expect("nodes"), nodes);

    // More keys than one statement binds, most of them untracked.
    let mut wanted: Vec<PersonKey> = keys.iter().map(|k| key(k)).collect();
    wanted.extend((0..9_000).map(|i| key(&format!("missing{i}"))));
    assert!(e.store.tracked_users(&wanted).await.expect("users") == tracked(&delta));
    let parents: Vec<String> = (0..10).map(|d| format!("ou:d{d:02}")).collect();
    assert_eq!(e.store.tracked_users_under(&parents).await.expect("under").len(), N / 5);

    let mut acked = 0;
    loop {
        let batch = e.store.outbox_batch::<DirOp>(2_000).await.expect("batch");
        if batch.is_empty() {
            break;
        }
        let seqs: Vec<i64> = batch.iter().map(|i| i.seq).collect();
        e.store.outbox_ack(LDAP, &seqs).await.expect("ack");
        acked += seqs.len();
    }
    assert_eq!(acked, 3 * N);
    let stats = e.store.outbox_stats(LDAP, at(2) + Duration::minutes(1)).await.expect("stats");
    assert_eq!(stats, OutboxStats::default());
    // 9,000 seqs in one ack span two statements.
    enqueue_ops(&e, 9_000, at(3)).await;
    let seqs: Vec<i64> = outbox(&e).await.iter().map(|i| i.seq).collect();
    assert_eq!(seqs.len(), 9_000);
    e.store.outbox_ack(LDAP, &seqs).await.expect("ack");
    assert!(outbox(&e).await.is_empty());

    // Member lists of large groups: operations far larger than an account's still go in order,
    // over several statements, and come back whole.
    let members: Vec<Dn> = (0..1_000).map(|i| dn(&format!("uid=user{i},ou=部门{:02},{BASE}", i % 50))).collect();
    let big: Vec<QueuedOp> = (0..120)
        .map(|g| {
            let group = dn(&format!("cn=g{g},ou=groups,{BASE}"));
            queued(&format!("g:{g}"), 2, DirOp::AddMembers { group, members: members.clone() })
        })
        .collect();
    e.store.enqueue_directory(&DitDelta { ops: big.clone(), ..DitDelta::default() }, at(4)).await.expect("enqueue");
    let items = outbox(&e).await;
    assert!(ops(&items) == big, "large operations, in order");
    assert!(items.windows(2).all(|w| w[0].seq < w[1].seq));
}
