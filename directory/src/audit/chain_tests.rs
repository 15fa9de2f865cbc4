#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::DateTime;

use super::*;
use crate::audit::{Actor, AuditEvent, AuditOutcome, EventKind};

fn fields(n: i64) -> AuditFields {
    AuditEvent::new(
        DateTime::from_timestamp(1_714_521_600 + n * 60, 0).unwrap(),
        EventKind::Login,
        if n % 3 == 0 { AuditOutcome::Failure } else { AuditOutcome::Success },
        Actor::User(format!("user{n}")),
    )
    .subject(&format!("user{n}"), None)
    .fields()
}

fn build(n: i64) -> (Vec<AuditRecord>, ChainHead) {
    chain(ChainHead::empty(3), (1..=n).map(fields).collect())
}

/// Recomputes a record's hash (and its successors' links and hashes) as an attacker with write
/// access but no signing key could.
fn rehash_from(records: &mut [AuditRecord], from: usize) -> ChainHead {
    let mut head = if from == 0 {
        ChainHead::empty(3)
    } else {
        ChainHead { chain: 3, pos: records[from - 1].pos, hash: records[from - 1].hash }
    };
    for r in &mut records[from..] {
        r.prev_hash = head.hash;
        r.hash = record_hash(3, r.pos, &r.prev_hash, &r.fields);
        head = ChainHead { chain: 3, pos: r.pos, hash: r.hash };
    }
    head
}

fn problem(records: &[AuditRecord], head: ChainHead) -> Option<ChainProblem> {
    verify(records, head, []).problem
}

#[test]
fn an_intact_chain_verifies() {
    let (records, head) = build(40);
    assert_eq!((head.chain, head.pos), (3, 40));
    assert!(records.iter().all(|r| r.chain == 3 && r.seq == 0), "the store numbers the rows");
    assert_eq!(records[0].prev_hash, Hash::GENESIS);
    let r = verify(&records, head, []);
    assert_eq!(r.problem, None);
    assert_eq!((r.records, r.first, r.last, r.anchor), (40, Some(1), Some(40), Some(0)));
    assert_eq!(verify(&[], ChainHead::empty(3), []).problem, None, "an empty chain is intact");
}

#[test]
fn chaining_continues_from_the_head() {
    let (mut a, head) = build(3);
    let (b, head2) = chain(head, vec![fields(4), fields(5)]);
    assert_eq!(b[0].pos, 4);
    assert_eq!(b[0].prev_hash, head.hash);
    a.extend(b);
    assert_eq!(problem(&a, head2), None);
}

#[test]
fn the_encoding_is_unambiguous() {
    let mut a = fields(1);
    let mut b = fields(1);
    a.login = Some("ab".into());
    a.company = Some("c".into());
    b.login = Some("a".into());
    b.company = Some("bc".into());
    assert_ne!(canonical(1, 1, &Hash::GENESIS, &a), canonical(1, 1, &Hash::GENESIS, &b));
    let mut c = fields(1);
    c.company = Some(String::new());
    assert_ne!(canonical(1, 1, &Hash::GENESIS, &fields(1)), canonical(1, 1, &Hash::GENESIS, &c), "none is not empty");
    assert_ne!(record_hash(1, 1, &Hash::GENESIS, &a), record_hash(1, 2, &Hash::GENESIS, &a), "the position counts");
    assert_ne!(record_hash(1, 1, &Hash::GENESIS, &a), record_hash(2, 1, &Hash::GENESIS, &a), "the chain counts");
}

#[test]
fn an_edited_field_names_the_record() {
    let (mut records, head) = build(30);
    records[11].fields.reason = Some("nothing to see".into());
    assert_eq!(problem(&records, head).map(|p| p.first_pos()), Some(12));
    let p = problem(&records, head).unwrap();
    assert!(matches!(p, ChainProblem::Altered { pos: 12, .. }), "{p:?}");
    assert_eq!(p.to_string(), "record 12 was altered: its fields do not hash to its stored hash");
}

#[test]
fn an_edit_with_recomputed_hashes_is_caught_by_the_next_link_or_a_checkpoint() {
    let (mut records, head) = build(30);
    records[11].fields.outcome = "success".into();
    records[11].hash = record_hash(3, 12, &records[11].prev_hash, &records[11].fields);
    let p = problem(&records, head).unwrap();
    assert!(matches!(p, ChainProblem::Altered { pos: 12, .. }), "{p:?}");

    // The whole rest re-hashed (and the head too): only a signed checkpoint can tell.
    let (mut records, _) = build(30);
    let checkpoint = (20, records[19].hash);
    records[11].fields.login = Some("someone-else".into());
    let forged_head = rehash_from(&mut records, 11);
    assert_eq!(verify(&records, forged_head, []).problem, None, "undetectable without a checkpoint");
    let p = verify(&records, forged_head, [(5, records[4].hash), checkpoint]).problem.unwrap();
    assert_eq!(p, ChainProblem::Rewritten { after: 5, checkpoint: 20 });
    assert_eq!(p.first_pos(), 6);
}

#[test]
fn a_deleted_record_is_named_whether_or_not_the_rest_was_renumbered() {
    let (mut records, head) = build(30);
    records.remove(9);
    assert_eq!(problem(&records, head), Some(ChainProblem::Deleted { first: 10, last: 10 }));

    let (mut records, head) = build(30);
    records.drain(9..12);
    for r in &mut records[9..] {
        r.pos -= 3;
    }
    assert_eq!(problem(&records, head), Some(ChainProblem::Deleted { first: 10, last: 12 }));
}

#[test]
fn deleting_the_last_records_or_the_first_is_caught() {
    let (mut records, head) = build(30);
    records.truncate(27);
    assert_eq!(problem(&records, head), Some(ChainProblem::Deleted { first: 28, last: 30 }));

    let (records, head) = build(30);
    assert_eq!(problem(&records[2..], head), Some(ChainProblem::Deleted { first: 1, last: 2 }));
}

#[test]
fn an_inserted_record_is_named() {
    // Shifted in with a well-formed hash chained to its predecessor.
    let (mut records, head) = build(30);
    let mut forged = records[4].clone();
    forged.fields.login = Some("ghost".into());
    forged.pos = 6;
    forged.prev_hash = records[4].hash;
    forged.hash = record_hash(3, 6, &forged.prev_hash, &forged.fields);
    records.insert(5, forged);
    for r in &mut records[6..] {
        r.pos += 1;
    }
    assert_eq!(problem(&records, head), Some(ChainProblem::Inserted { pos: 6 }));

    // Shifted in with a made-up hash.
    let (mut records, head) = build(30);
    let mut forged = records[4].clone();
    forged.pos = 6;
    records.insert(5, forged);
    for r in &mut records[6..] {
        r.pos += 1;
    }
    assert_eq!(problem(&records, head), Some(ChainProblem::Inserted { pos: 6 }));

    // A record moved in from another chain does not belong here either.
    let (mut records, head) = build(30);
    let (other, _) = chain(ChainHead::empty(4), (1..=30).map(fields).collect());
    records[9] = AuditRecord { chain: 3, ..other[9].clone() };
    assert!(matches!(problem(&records, head), Some(ChainProblem::Altered { pos: 10, .. })));
}

#[test]
fn swapped_records_are_named_as_reordered() {
    let (mut records, head) = build(30);
    records.swap(14, 15);
    records[14].pos = 15;
    records[15].pos = 16;
    assert_eq!(problem(&records, head), Some(ChainProblem::Reordered { pos: 15, written_as: 16 }));
}

#[test]
fn a_purged_chain_verifies_from_a_signed_checkpoint_only() {
    let (records, head) = build(30);
    let anchor = (10, records[9].hash);
    let r = verify(&records[10..], head, [anchor]);
    assert_eq!(r.problem, None);
    assert_eq!((r.anchor, r.first, r.records), (Some(10), Some(11), 20));
    assert_eq!(verify(&records[10..], head, []).problem, Some(ChainProblem::Deleted { first: 1, last: 10 }));
    // A purge anchor does not excuse records missing after it.
    assert_eq!(verify(&records[12..], head, [anchor]).problem, Some(ChainProblem::Deleted { first: 11, last: 12 }));
    // Everything purged: the checkpoint at the head vouches for the empty chain.
    assert_eq!(verify(&[], head, [(30, head.hash)]).problem, None);
    assert_eq!(verify(&[], head, []).problem, Some(ChainProblem::Deleted { first: 1, last: 30 }));
}

#[test]
fn a_head_that_disagrees_with_the_last_record_is_a_problem() {
    let (records, head) = build(5);
    let wrong = ChainHead { chain: 3, pos: 5, hash: Hash([7; 32]) };
    assert!(matches!(problem(&records, wrong), Some(ChainProblem::Altered { pos: 5, .. })));
    assert_eq!(problem(&records, head), None);
}

#[test]
fn hashes_print_and_parse_as_hex() {
    let h = Hash([0xab; 32]);
    assert_eq!(h.to_string().len(), 64);
    assert_eq!(h.to_string().parse::<Hash>(), Ok(h));
    assert!("abc".parse::<Hash>().is_err());
    assert_eq!(serde_json::to_string(&h).unwrap(), format!("\"{h}\""));
}
