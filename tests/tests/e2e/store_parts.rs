//! A run written in parts (a large first load) against both backends: each part commits on its
//! own with its outbox operations and ledger changes, the run stays running until `finish_run`,
//! and a part after another run's write is a conflict that leaves the parts before it.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::str::FromStr;

use orgid_directory::store::{LdapStore, OutboxStore};
use orgid_directory::target::ldap::{DirOp, DitDelta, Dn, QueuedOp, TrackedUser};
use orgid_directory::{PersonStore, Plan, RunPart, RunStatus, RunStore};

use super::store::{Env, at, conflict, first_plan, group, new_run, ok, person, plan_of};

both_backends!(
    parts_commit_one_by_one_and_the_finish_ends_the_run,
    a_part_after_another_run_conflicts_and_the_parts_before_stay
);

/// The directory side of changes `changes` of `plan`: an add and the tracking of each account.
fn delta_of(plan: &Plan, changes: std::ops::Range<usize>) -> DitDelta {
    let changes = &plan.changes[changes];
    DitDelta {
        ops: changes
            .iter()
            .map(|c| QueuedOp {
                key: format!("user:{}", c.person_key),
                phase: 50,
                op: DirOp::Delete { dn: Dn::from_str(&format!("uid={},dc=example,dc=com", c.account.login)).unwrap() },
            })
            .collect(),
        users: changes
            .iter()
            .map(|c| {
                let user = TrackedUser {
                    parent: "ou:a".into(),
                    login: c.account.login.clone(),
                    groups: vec![],
                    locked: false,
                };
                (c.person_key.clone(), Some(user))
            })
            .collect(),
        ..DitDelta::default()
    }
}

fn part<'a>(
    plan: &'a Plan,
    companies: &'a [orgid_directory::Company],
    range: std::ops::Range<usize>,
    delta: &'a DitDelta,
) -> RunPart<'a> {
    RunPart {
        at: at(2),
        companies,
        people: &plan.people[range.clone()],
        changes: &plan.changes[range.clone()],
        changes_before: range.start,
        directory: delta,
    }
}

async fn parts_commit_one_by_one_and_the_finish_ends_the_run(e: Env) {
    let (plan, companies) = (first_plan(), group());
    let id = e.store.begin_run(&new_run(at(1))).await.expect("begin");
    let (d1, d2) = (delta_of(&plan, 0..2), delta_of(&plan, 2..3));
    let s1 = e.store.apply_run_part(id, part(&plan, &companies, 0..2, &d1)).await.expect("part 1");
    assert_eq!(e.store.people().await.expect("people").len(), 2, "the first part is committed");
    let queued = e.store.outbox_batch::<DirOp>(100).await.expect("outbox");
    assert_eq!(queued.iter().map(|i| i.seq).collect::<Vec<_>>(), s1);
    assert_eq!(e.store.all_tracked_users().await.expect("tracked").len(), 2);
    let running = e.store.run(id).await.expect("run").expect("there");
    assert_eq!(running.summary.status, RunStatus::Running, "a part does not end the run");
    assert_eq!(running.changes, plan.changes[..2]);

    let s2 =
        e.store.apply_run_part(id, part(&plan, &companies, 2..3, &d2)).await.expect("part 2 after the run's own part");
    assert!(s2.len() == 1 && s2[0] > s1[1], "later parts queue after earlier ones");
    let finished = Plan { counts: plan.counts, ..Plan::default() };
    let none = e.store.finish_run(id, ok(&companies, &finished, at(3))).await.expect("finish");
    assert!(none.is_empty());
    let done = e.store.run(id).await.expect("run").expect("there");
    assert_eq!(done.summary.status, RunStatus::Ok);
    assert_eq!(done.summary.counts, plan.counts);
    assert_eq!(done.changes, plan.changes, "the ledger numbers the parts' changes one after the other");
    assert_eq!(e.store.people().await.expect("people").len(), 3);
    assert_eq!(e.store.outbox_batch::<DirOp>(100).await.expect("outbox").len(), 3);
}

async fn a_part_after_another_run_conflicts_and_the_parts_before_stay(e: Env) {
    let (plan, companies) = (first_plan(), group());
    let id = e.store.begin_run(&new_run(at(1))).await.expect("begin");
    let (d1, d2) = (delta_of(&plan, 0..2), delta_of(&plan, 2..3));
    e.store.apply_run_part(id, part(&plan, &companies, 0..2, &d1)).await.expect("part 1");
    // Another run is applied between the parts.
    let other = plan_of(vec![person("k9", "9001", "赵六", "A", at(2))], vec![]);
    e.apply(&companies, &other, at(2), at(2)).await;
    let why = conflict(e.store.apply_run_part(id, part(&plan, &companies, 2..3, &d2)).await);
    assert!(why.contains(&format!("run {id}")), "{why}");
    let people = e.store.people().await.expect("people");
    assert_eq!(people.len(), 3, "part 1's two people and the other run's one, not part 2's");
    assert!(!people.iter().any(|p| p.person.key == plan.people[2].key));
    assert_eq!(e.store.outbox_batch::<DirOp>(100).await.expect("outbox").len(), 2);
    let detail = e.store.run(id).await.expect("run").expect("there");
    assert_eq!(detail.changes, plan.changes[..2], "the ledger holds exactly the committed changes");
}
