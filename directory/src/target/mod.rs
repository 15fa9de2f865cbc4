//! Targets: the systems orgid keeps equal to its decisions (OpenLDAP today; Active Directory and
//! WeCom next). Each target turns a run's changes and what it tracks into ordered, idempotent
//! operations (its pure part, here: `ldap` for OpenLDAP), queued in the store's one outbox under
//! the target's id and applied in queue order by a [`TargetClient`] (in `orgid_connectors`).

pub mod ldap;
pub mod wecom;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::RunId;

/// Which target an outbox item is for; the text is the store's `outbox.target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetId {
    /// OpenLDAP (the `[ldap]` section).
    Ldap,
    /// WeCom (企业微信, the `[wecom]` section).
    Wecom,
}

impl TargetId {
    pub const ALL: [TargetId; 2] = [TargetId::Ldap, TargetId::Wecom];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetId::Ldap => "ldap",
            TargetId::Wecom => "wecom",
        }
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A target's operation type, as its outbox stores it (JSON in `outbox.op`).
pub trait TargetOp: Serialize + DeserializeOwned + Send + Sync + 'static {
    const TARGET: TargetId;
}

/// An operation in the outbox. Operations with the same `key` (one entry of the target) are
/// applied in order; `phase` orders a delta's operations (structure before accounts before
/// memberships before removals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued<Op> {
    pub key: String,
    pub phase: u8,
    pub op: Op,
}

/// An operation waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem<Op> {
    pub seq: i64,
    /// The run that decided it (`None`: a repair or purge outside any run).
    pub run: Option<RunId>,
    pub op: Queued<Op>,
    /// Failed attempts so far.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
}

/// A target's outbox at a glance, for status and metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutboxStats {
    /// Items not parked.
    pub pending: u64,
    /// Pending items whose next attempt is due.
    pub due: u64,
    /// Pending items that have failed at least once.
    pub retrying: u64,
    /// Items given up on until an operator unparks them.
    pub parked: u64,
    /// When the oldest pending item was queued.
    pub oldest: Option<DateTime<Utc>>,
    /// An error the server returned: the first pending item's that has one, else the first parked one's.
    pub last_error: Option<String>,
}

/// Why a target did not take an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// Not tried: an earlier operation of the same entry in the same call failed.
    Skipped,
    /// The target cannot be used now (connection lost, server down): everything waits.
    Unavailable(String),
    /// The target refused this operation: retried with backoff, parked after some attempts.
    Refused(String),
}

/// The client side of a target: applies queued operations, each entry's in order (different
/// entries may go side by side), one result per operation. Applying an operation twice does no
/// harm (a crash between applying and acknowledging repeats it).
#[async_trait]
pub trait TargetClient: Send + Sync {
    type Op: TargetOp;
    async fn apply(&self, ops: &[&Queued<Self::Op>]) -> Vec<Result<(), ApplyError>>;
}
