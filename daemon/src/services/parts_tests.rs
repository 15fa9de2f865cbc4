use chrono::{TimeZone, Utc};
use orgid_directory::target::ldap::{DirOp, Dn, Node, NodeKind, TrackedUser};
use orgid_directory::{
    Account, AccountChange, AccountStatus, CompanyCode, Employment, Op, PersonKey, PersonRecord, Profile,
};

use super::*;

fn key(i: usize) -> PersonKey {
    PersonKey::from(format!("k{i}"))
}

fn person(i: usize) -> PersonRecord {
    PersonRecord {
        key: key(i),
        profile: Profile {
            employee_number: format!("E{i}"),
            name: format!("P{i}"),
            gender: None,
            company: CompanyCode("hq".into()),
            department: "ops".into(),
            title: String::new(),
            grade: None,
            mobile: String::new(),
            email: String::new(),
            hire_date: None,
            confidential: false,
        },
        employment: Employment::Active,
        leave_date: None,
        source: "s".into(),
    }
}

fn change(i: usize) -> AccountChange {
    AccountChange {
        op: Op::Open,
        person_key: key(i),
        account: Account {
            login: format!("u{i}"),
            status: AccountStatus::Active,
            rule: "ELIG-1".into(),
            opened_at: None,
            closed_at: None,
            updated_at: Utc.timestamp_opt(0, 0).unwrap(),
        },
        employee_number: format!("E{i}"),
        name: format!("P{i}"),
        company: CompanyCode("hq".into()),
        before_status: None,
        fields: Vec::new(),
        reason: String::new(),
    }
}

fn op(key: &str, phase: u8, dn: &str) -> QueuedOp {
    QueuedOp { key: key.into(), phase, op: DirOp::Delete { dn: dn.parse::<Dn>().unwrap() } }
}

fn user(i: usize) -> (PersonKey, Option<TrackedUser>) {
    (key(i), Some(TrackedUser { parent: "ou:hq".into(), login: format!("u{i}"), groups: Vec::new(), locked: false }))
}

/// Five account changes, six people (person 5 without a change), structure, accounts, memberships.
fn run() -> (Plan, DitDelta) {
    let plan =
        Plan { people: (0..6).rev().map(person).collect(), changes: (0..5).map(change).collect(), ..Plan::default() };
    let mut ops = vec![op("ou:hq", 2, "ou=hq,dc=x"), op("group:hq", 3, "cn=hq,ou=hq,dc=x")];
    ops.extend((0..5).map(|i| op(&format!("user:k{i}"), PHASE_ACCOUNTS, &format!("uid=u{i},ou=hq,dc=x"))));
    ops.push(op("group:hq", PHASE_MEMBERS, "cn=hq,ou=hq,dc=x"));
    let node = Node { key: "ou:hq".into(), dn: "ou=hq,dc=x".parse().unwrap(), kind: NodeKind::Ou };
    let delta = DitDelta { ops, users: (0..5).map(user).collect(), nodes: vec![node], renamed: Vec::new() };
    (plan, delta)
}

#[test]
fn parts_keep_the_queue_order_and_put_each_person_with_their_change() {
    let (mut plan, delta) = run();
    let parts = split(&mut plan, &delta, 2, 2).expect("three parts");
    assert_eq!(parts.len(), 3);
    assert_eq!(parts.iter().map(|p| p.changes.clone()).collect::<Vec<_>>(), vec![0..2, 2..4, 4..5]);
    // One after the other, the parts' operations and users are all of the delta's, in its order.
    assert_eq!(parts.iter().map(|p| p.ops.clone()).collect::<Vec<_>>(), vec![0..4, 4..6, 6..8]);
    assert_eq!(parts.iter().map(|p| p.users.clone()).collect::<Vec<_>>(), vec![0..2, 2..4, 4..5]);
    // Structure first, memberships last.
    let phases = |p: &Part| delta.ops[p.ops.clone()].iter().map(|o| o.phase).collect::<Vec<_>>();
    assert_eq!(phases(&parts[0]), vec![2, 3, 50, 50]);
    assert_eq!(phases(&parts[2]), vec![50, 60]);
    for part in &parts {
        let changed: Vec<&PersonKey> = plan.changes[part.changes.clone()].iter().map(|c| &c.person_key).collect();
        let tracked: Vec<&PersonKey> = delta.users[part.users.clone()].iter().map(|(k, _)| k).collect();
        assert_eq!(tracked, changed);
        let mut people: Vec<&PersonKey> = plan.people[part.people.clone()].iter().map(|p| &p.key).collect();
        // The first part also takes the person without a change.
        people.retain(|k| k.as_str() != "k5");
        people.sort();
        assert_eq!(people, changed);
        for op in delta.ops[part.ops.clone()].iter().filter(|o| o.phase == PHASE_ACCOUNTS) {
            assert!(changed.iter().any(|k| op.key == format!("user:{k}")), "{} in the wrong part", op.key);
        }
    }
    assert!(plan.people[parts[0].people.clone()].iter().any(|p| p.key.as_str() == "k5"));
    assert_eq!(parts.iter().map(|p| p.people.len()).sum::<usize>(), 6);
}

#[test]
fn the_first_part_may_be_smaller() {
    let (mut plan, delta) = run();
    let parts = split(&mut plan, &delta, 1, 3).expect("a first part of one change, then three");
    assert_eq!(parts.iter().map(|p| p.changes.clone()).collect::<Vec<_>>(), vec![0..1, 1..4, 4..5]);
    // Structure and the first account, then three accounts, then the last with the memberships.
    assert_eq!(parts.iter().map(|p| p.ops.clone()).collect::<Vec<_>>(), vec![0..3, 3..6, 6..8]);
    assert_eq!(parts.iter().map(|p| p.users.clone()).collect::<Vec<_>>(), vec![0..1, 1..4, 4..5]);
    // Person 5 (no change) and person 0 go first.
    assert_eq!(parts.iter().map(|p| p.people.len()).collect::<Vec<_>>(), vec![2, 3, 1]);
    let (mut plan, delta) = run();
    assert_eq!(split(&mut plan, &delta, 5, 1), None, "everything fits the first part");
    assert_eq!(split(&mut plan, &delta, 4, 1).map(|p| p.len()), Some(2));
}

#[test]
fn a_run_of_one_part_or_with_an_unplaceable_operation_is_not_split() {
    let (mut plan, delta) = run();
    let people = plan.people.clone();
    assert_eq!(split(&mut plan, &delta, 5, 5), None, "one part");

    let mut removal = delta.clone();
    removal.ops.push(op("ou:old", 70, "ou=old,dc=x"));
    assert_eq!(split(&mut plan, &removal, 2, 2), None, "a removal phase");

    let mut stranger = delta.clone();
    stranger.ops.insert(2, op("user:nobody", PHASE_ACCOUNTS, "uid=x,ou=hq,dc=x"));
    assert_eq!(split(&mut plan, &stranger, 2, 2), None, "an account without a change");

    let mut untracked = delta.clone();
    untracked.users.push(user(9));
    assert_eq!(split(&mut plan, &untracked, 2, 2), None, "tracking without a change");

    let mut shuffled = delta;
    shuffled.ops.swap(2, 6);
    assert_eq!(split(&mut plan, &shuffled, 2, 2), None, "accounts out of the changes' order");
    assert_eq!(plan.people, people, "people are reordered only for a split");
}
