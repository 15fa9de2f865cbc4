//! What changes a directory: operations with structured DNs, queued in the store's outbox and
//! applied by the LDAP sink. Every operation is idempotent as the sink applies it (an add that
//! finds the entry replaces its attributes, a delete that finds nothing is done, member changes use
//! permissive modify), so a crash between applying and acknowledging never does harm.

use serde::{Deserialize, Serialize};

use super::{Attrs, Dn};
use crate::PersonKey;
use crate::target::{Queued, TargetId, TargetOp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DirOp {
    /// Create the entry (or, if it exists, replace these attributes).
    Add {
        dn: Dn,
        attrs: Attrs,
    },
    /// Replace each listed attribute; an empty list removes it.
    Replace {
        dn: Dn,
        attrs: Attrs,
    },
    /// modDN: the entry (and its subtree) from `dn` to `to`; entryUUID is kept.
    Move {
        dn: Dn,
        to: Dn,
    },
    AddMembers {
        group: Dn,
        members: Vec<Dn>,
    },
    RemoveMembers {
        group: Dn,
        members: Vec<Dn>,
    },
    /// Delete a leaf entry (a missing one is fine).
    Delete {
        dn: Dn,
    },
    /// Create an account's entry from its HR facts (or, if it exists, bring it to them). The sink
    /// expands the facts into attributes with the layout's mapping: a first load queues 100,000
    /// of these, and the facts are a quarter of the size of the attributes.
    AddAccount {
        dn: Dn,
        entry: AccountEntry,
    },
    /// Replace every attribute orgid manages on an account with its HR facts; `unlock` also
    /// removes the lock.
    UpdateAccount {
        dn: Dn,
        entry: AccountEntry,
        unlock: bool,
    },
}

/// The facts an account's entry is made of (never the ID number).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEntry {
    pub login: String,
    pub name: String,
    pub employee_number: String,
    pub mail: String,
    pub mobile: String,
    pub title: String,
    pub grade: String,
    pub company_name: String,
    pub department: String,
}

impl TargetOp for DirOp {
    const TARGET: TargetId = TargetId::Ldap;
}

/// An LDAP operation in the outbox: `phase` orders structure (0) before accounts (1),
/// memberships (2) and removals (3) within a run.
pub type QueuedOp = Queued<DirOp>;

/// What orgid has put (or queued) in the directory for an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedUser {
    /// Key of the OU node the entry sits under.
    pub parent: String,
    pub login: String,
    /// Keys of the groups it is a member of.
    pub groups: Vec<String>,
    pub locked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Ou,
    Group,
}

/// An OU or group orgid has created (or queued), by stable key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub key: String,
    pub dn: Dn,
    pub kind: NodeKind,
}

/// The directory side of a run: operations for the outbox and the new tracking state, written
/// in the same transaction as the run's decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DitDelta {
    pub ops: Vec<QueuedOp>,
    /// New tracking of accounts (`None`: the entry is gone).
    pub users: Vec<(PersonKey, Option<TrackedUser>)>,
    /// Nodes created or moved (by key).
    pub nodes: Vec<Node>,
    /// Node keys renamed (department renames): (old, new). Users under `old` now sit under `new`.
    pub renamed: Vec<(String, String)>,
}

impl DitDelta {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.users.is_empty() && self.nodes.is_empty() && self.renamed.is_empty()
    }
}
