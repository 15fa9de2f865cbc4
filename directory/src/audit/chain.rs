//! The hash chains: each record's hash is SHA-256 over a canonical encoding of its chain, its
//! position in it, its predecessor's hash and its fields, so a record cannot be edited, removed,
//! added or moved without breaking its chain. Verification walks one chain in order and names the
//! first record that is not where, or what, it was written as.
//!
//! Why several chains: a record is chained in the transaction that writes it, so the next
//! record of the same chain must wait for that transaction to commit. One chain would make every
//! login wait for the previous login's commit (and its disk flush); PostgreSQL stores therefore
//! keep several independent chains and each transaction takes a free one. SQLite has one writer
//! at a time anyway and keeps one chain.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::str::FromStr;

use ring::digest;
use serde::{Deserialize, Serialize};

use super::event::AuditFields;

/// A SHA-256 value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The predecessor of the first record.
    pub const GENESIS: Hash = Hash([0; 32]);

    pub fn from_slice(b: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(b).ok().map(Hash)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        hex::decode(s.trim()).ok().and_then(|b| Hash::from_slice(&b)).ok_or_else(|| "not a 64-digit hex SHA-256".into())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The last record of a chain (position 0 and `GENESIS` when it is empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub chain: i32,
    pub pos: i64,
    pub hash: Hash,
}

impl ChainHead {
    pub fn empty(chain: i32) -> ChainHead {
        ChainHead { chain, pos: 0, hash: Hash::GENESIS }
    }
}

/// A stored record: where it is, its fields and its links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// The store's row number, across chains (0 until stored). Not hashed: it only orders
    /// records of the same time for display.
    pub seq: i64,
    pub chain: i32,
    /// Position in the chain, from 1.
    pub pos: i64,
    #[serde(flatten)]
    pub fields: AuditFields,
    pub prev_hash: Hash,
    pub hash: Hash,
}

const DOMAIN: &[u8] = b"orgid-audit-v1\0";

/// The canonical encoding: a domain tag, the chain, the position, the predecessor's hash, the time
/// in unix milliseconds (all big-endian), then each text field in a fixed order as 0 (none) or
/// 1 + u32 big-endian length + UTF-8. Unambiguous: no two records encode alike.
pub fn canonical(chain: i32, pos: i64, prev: &Hash, f: &AuditFields) -> Vec<u8> {
    let texts: [Option<&str>; 12] = [
        Some(&f.kind),
        Some(&f.outcome),
        Some(&f.actor_kind),
        Some(&f.actor),
        f.login.as_deref(),
        f.company.as_deref(),
        f.client_id.as_deref(),
        f.source_ip.as_deref(),
        f.user_agent.as_deref(),
        f.session_id.as_deref(),
        f.reason.as_deref(),
        f.details.as_deref(),
    ];
    let mut out =
        Vec::with_capacity(DOMAIN.len() + 52 + texts.iter().map(|t| 5 + t.map_or(0, str::len)).sum::<usize>());
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(&chain.to_be_bytes());
    out.extend_from_slice(&pos.to_be_bytes());
    out.extend_from_slice(&prev.0);
    out.extend_from_slice(&f.at.timestamp_millis().to_be_bytes());
    for t in texts {
        match t {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    out
}

pub fn record_hash(chain: i32, pos: i64, prev: &Hash, f: &AuditFields) -> Hash {
    let d = digest::digest(&digest::SHA256, &canonical(chain, pos, prev, f));
    Hash::from_slice(d.as_ref()).unwrap_or_default()
}

/// Chains `fields` after `head`: positions head.pos + 1, …; returns the records (`seq` 0, the
/// store numbers them) and the new head.
pub fn chain(head: ChainHead, fields: Vec<AuditFields>) -> (Vec<AuditRecord>, ChainHead) {
    let mut head = head;
    let records = fields
        .into_iter()
        .map(|fields| {
            let pos = head.pos + 1;
            let hash = record_hash(head.chain, pos, &head.hash, &fields);
            let r = AuditRecord { seq: 0, chain: head.chain, pos, fields, prev_hash: head.hash, hash };
            head = ChainHead { chain: head.chain, pos, hash };
            r
        })
        .collect();
    (records, head)
}

/// What is wrong with a chain, named by the position of the first record concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum ChainProblem {
    /// The record's fields (or hash) are not those it was written with.
    Altered { pos: i64, detail: String },
    /// Records that were written are missing.
    Deleted { first: i64, last: i64 },
    /// The record at `pos` was not written there: the original record `pos` comes after it.
    Inserted { pos: i64 },
    /// The record at `pos` was written as record `written_as`.
    Reordered { pos: i64, written_as: i64 },
    /// A signed checkpoint vouches for a different record at `checkpoint`: a record after
    /// `after` was altered and every later hash recomputed.
    Rewritten { after: i64, checkpoint: i64 },
}

impl ChainProblem {
    /// The position of the first record the problem concerns.
    pub fn first_pos(&self) -> i64 {
        match self {
            ChainProblem::Altered { pos, .. }
            | ChainProblem::Inserted { pos }
            | ChainProblem::Reordered { pos, .. } => *pos,
            ChainProblem::Deleted { first, .. } => *first,
            ChainProblem::Rewritten { after, .. } => after + 1,
        }
    }
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainProblem::Altered { pos, detail } => write!(f, "record {pos} was altered: {detail}"),
            ChainProblem::Deleted { first, last } if first == last => write!(f, "record {first} was deleted"),
            ChainProblem::Deleted { first, last } => write!(f, "records {first} to {last} were deleted"),
            ChainProblem::Inserted { pos } => {
                write!(f, "record {pos} was inserted: it is not part of the chain as written")
            }
            ChainProblem::Reordered { pos, written_as } => {
                write!(f, "records were reordered: the record at {pos} was written as record {written_as}")
            }
            ChainProblem::Rewritten { after, checkpoint } => write!(
                f,
                "a record between {} and {checkpoint} was altered and the chain re-hashed: \
                 the signed checkpoint at {checkpoint} vouches for a different record",
                after + 1
            ),
        }
    }
}

/// How far around a record's position its original position is searched for.
const SHIFT_WINDOW: i64 = 8;
/// Records looked at past a break before it is classified.
const LOOKAHEAD: usize = 16;

/// Where the record hashes as written: its own position, or one up to `SHIFT_WINDOW` away.
fn written_as(r: &AuditRecord) -> Option<i64> {
    if record_hash(r.chain, r.pos, &r.prev_hash, &r.fields) == r.hash {
        return Some(r.pos);
    }
    (1..=SHIFT_WINDOW)
        .flat_map(|d| [r.pos - d, r.pos + d])
        .filter(|p| *p >= 1)
        .find(|p| record_hash(r.chain, *p, &r.prev_hash, &r.fields) == r.hash)
}

/// A break waiting for its lookahead.
#[derive(Debug)]
struct Break {
    pos: i64,
    written_as: Option<i64>,
    /// The last accepted record before it.
    last: i64,
    /// It is a copy of a record accepted just before.
    copy: bool,
    /// (position, written as) of the records after it.
    after: Vec<(i64, Option<i64>)>,
}

impl Break {
    fn classify(&self) -> ChainProblem {
        let (p, last) = (self.pos, self.last);
        let later_written_as = |lo: i64, hi: i64| self.after.iter().find(|(_, w)| w.is_some_and(|w| w >= lo && w < hi));
        match self.written_as {
            None if later_written_as(p, p + 1).is_some() => ChainProblem::Inserted { pos: p },
            None => ChainProblem::Altered { pos: p, detail: "its fields do not hash to its stored hash".into() },
            Some(o) if o == p && p > last + 1 => ChainProblem::Deleted { first: last + 1, last: p - 1 },
            Some(o) if o == p => {
                if later_written_as(p, p + 1).is_some() {
                    ChainProblem::Inserted { pos: p }
                } else {
                    ChainProblem::Altered {
                        pos: last,
                        detail: format!("its hash was recomputed: record {p} was chained to a different one"),
                    }
                }
            }
            Some(_) if self.copy => ChainProblem::Inserted { pos: p },
            Some(o) if o < p && o <= last => ChainProblem::Inserted { pos: o },
            Some(o) if o < p => ChainProblem::Reordered { pos: p, written_as: o },
            Some(o) => {
                if later_written_as(last + 1, o).is_some() {
                    ChainProblem::Reordered { pos: p, written_as: o }
                } else {
                    ChainProblem::Deleted { first: last + 1, last: o - 1 }
                }
            }
        }
    }
}

/// Checks the records of one chain fed in order of position, stopping at the first problem.
/// Pure and streaming: a chain of millions of records is checked in batches.
#[derive(Debug)]
pub struct ChainVerifier {
    chain: i32,
    /// Trusted (signature-checked) checkpoints of this chain: position → hash.
    checkpoints: BTreeMap<i64, Hash>,
    /// The last accepted record (or the anchor before the first).
    last: Option<(i64, Hash)>,
    /// The last few accepted records, to recognise a copy of one.
    recent: VecDeque<Hash>,
    last_checkpoint: i64,
    first: Option<i64>,
    checked: u64,
    pending: Option<Break>,
    problem: Option<ChainProblem>,
}

/// The verdict on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub chain: i32,
    /// Records checked.
    pub records: u64,
    pub first: Option<i64>,
    pub last: Option<i64>,
    /// What the first record chains to: 0 for the genesis, else the signed checkpoint that
    /// vouches for the purged records before it.
    pub anchor: Option<i64>,
    /// Checkpoints within the checked range that matched.
    pub checkpoints_matched: u64,
    pub problem: Option<ChainProblem>,
}

impl ChainVerifier {
    /// `checkpoints`: this chain's signed checkpoints whose signatures were verified with a
    /// trusted key, as (position, hash).
    pub fn new(chain: i32, checkpoints: impl IntoIterator<Item = (i64, Hash)>) -> Self {
        ChainVerifier {
            chain,
            checkpoints: checkpoints.into_iter().collect(),
            last: None,
            recent: VecDeque::new(),
            last_checkpoint: 0,
            first: None,
            checked: 0,
            pending: None,
            problem: None,
        }
    }

    /// Whether a problem was found (further records are ignored).
    pub fn failed(&self) -> bool {
        self.problem.is_some()
    }

    pub fn push(&mut self, r: &AuditRecord) {
        if self.problem.is_some() {
            return;
        }
        if let Some(b) = &mut self.pending {
            b.after.push((r.pos, written_as(r)));
            if b.after.len() >= LOOKAHEAD {
                self.problem = Some(b.classify());
            }
            return;
        }
        let (last_pos, last_hash) = match self.last {
            Some(l) => l,
            None => {
                self.first = Some(r.pos);
                match self.anchor_for(r.pos) {
                    Some(a) => {
                        self.last_checkpoint = a.0;
                        self.last = Some(a);
                        a
                    }
                    None => {
                        let from = self.checkpoints.range(..r.pos).next_back().map_or(0, |(p, _)| *p);
                        self.problem = Some(ChainProblem::Deleted { first: from + 1, last: r.pos - 1 });
                        return;
                    }
                }
            }
        };
        let w = written_as(r);
        if r.chain == self.chain && w == Some(r.pos) && r.pos == last_pos + 1 && r.prev_hash == last_hash {
            self.accept(r);
        } else {
            let copy = self.recent.contains(&r.hash);
            self.pending = Some(Break { pos: r.pos, written_as: w, last: last_pos, copy, after: Vec::new() });
        }
    }

    /// The start of the chain: the genesis for record 1, else a checkpoint right before it.
    fn anchor_for(&self, first: i64) -> Option<(i64, Hash)> {
        if first == 1 {
            return Some((0, Hash::GENESIS));
        }
        self.checkpoints.get(&(first - 1)).map(|h| (first - 1, *h))
    }

    fn accept(&mut self, r: &AuditRecord) {
        self.checked += 1;
        self.last = Some((r.pos, r.hash));
        if self.recent.len() > SHIFT_WINDOW as usize {
            self.recent.pop_front();
        }
        self.recent.push_back(r.hash);
        if let Some(h) = self.checkpoints.get(&r.pos) {
            if *h == r.hash {
                self.last_checkpoint = r.pos;
            } else {
                self.problem = Some(ChainProblem::Rewritten { after: self.last_checkpoint, checkpoint: r.pos });
            }
        }
    }

    /// Ends the walk. `head` is the chain head the store recorded before the walk began (the
    /// records were read up to it): a chain that ends before it lost its last records.
    pub fn finish(mut self, head: ChainHead) -> ChainReport {
        if self.problem.is_none()
            && let Some(b) = &self.pending
        {
            self.problem = Some(b.classify());
        }
        let accepted = self.last.filter(|_| self.checked > 0).map(|l| l.0);
        if self.problem.is_none() {
            // With no record left at all, the chain ends where a signed checkpoint says it did.
            let end = self.last.unwrap_or_else(|| match self.checkpoints.iter().next_back() {
                Some((p, h)) => (*p, *h),
                None => (0, Hash::GENESIS),
            });
            // A signed checkpoint past the end also proves records existed there.
            let vouched = self.checkpoints.keys().next_back().copied().unwrap_or(0).max(head.pos);
            if end.0 < vouched {
                self.problem = Some(ChainProblem::Deleted { first: end.0 + 1, last: vouched });
            } else if end.0 == head.pos && head.pos > 0 && end.1 != head.hash {
                self.problem = Some(ChainProblem::Altered {
                    pos: head.pos,
                    detail: "its hash differs from the chain head the store recorded".into(),
                });
            }
        }
        let anchor = self.first.map(|f| f - 1).filter(|a| *a == 0 || self.checkpoints.contains_key(a));
        let checkpoints_matched = match (self.first, accepted) {
            (Some(f), Some(l)) if l.min(self.last_checkpoint) >= f => {
                self.checkpoints.range(f..=l.min(self.last_checkpoint)).count() as u64
            }
            _ => 0,
        };
        ChainReport {
            chain: self.chain,
            records: self.checked,
            first: self.first,
            last: accepted,
            anchor,
            checkpoints_matched,
            problem: self.problem,
        }
    }
}

/// Verifies one whole chain held in memory (tests, small stores); see `ChainVerifier`.
pub fn verify<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    head: ChainHead,
    checkpoints: impl IntoIterator<Item = (i64, Hash)>,
) -> ChainReport {
    let mut v = ChainVerifier::new(head.chain, checkpoints);
    for r in records {
        v.push(r);
        if v.failed() {
            break;
        }
    }
    v.finish(head)
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
