//! The run ledger: every sync, import and approval, with its counts, its rejected rows and the
//! per-account changes it made.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::plan::{AccountChange, Op};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for RunId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.trim()
            .parse::<i64>()
            .map(RunId)
            .map_err(|_| format!("`{s}` is not a run id (a number, see `orgid runs list`)"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Sync,
    Import,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Sync => "sync",
            RunKind::Import => "import",
        }
    }
}

impl FromStr for RunKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sync" => Ok(RunKind::Sync),
            "import" => Ok(RunKind::Import),
            o => Err(format!("unknown run kind `{o}`")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished (or the process died: see `finished_at`).
    Running,
    /// Applied, no rejected rows.
    Ok,
    /// Applied, some rows rejected.
    Partial,
    /// Stopped before writing by a safety limit; waiting for `orgid sync --approve`.
    Held,
    /// Nothing applied.
    Failed,
    /// Held, then approved and applied by a later run.
    Approved,
    /// Its process died while it ran (killed, crashed): marked so by the next run or `serve`.
    /// What it had committed stays (a run written in parts lists those changes).
    Abandoned,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Partial => "partial",
            RunStatus::Held => "held",
            RunStatus::Failed => "failed",
            RunStatus::Approved => "approved",
            RunStatus::Abandoned => "abandoned",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "running" => RunStatus::Running,
            "ok" => RunStatus::Ok,
            "partial" => RunStatus::Partial,
            "held" => RunStatus::Held,
            "failed" => RunStatus::Failed,
            "approved" => RunStatus::Approved,
            "abandoned" => RunStatus::Abandoned,
            o => return Err(format!("unknown run status `{o}`")),
        })
    }
}

/// A rejected input row: where, and why. `row` counts like a spreadsheet (header = 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub file: String,
    pub row: u64,
    /// The column header as it appears in the file, or empty for whole-row problems.
    pub column: String,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(f, "{}: row {}: {}", self.file, self.row, self.reason)
        } else {
            write!(f, "{}: row {}, column {}: {}", self.file, self.row, self.column, self.reason)
        }
    }
}

/// Counts per operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    pub open: u64,
    pub reopen: u64,
    pub adjust: u64,
    #[serde(rename = "move")]
    pub moved: u64,
    pub close: u64,
    pub pending_approval: u64,
    /// People whose HR record changed without any account change.
    pub people_updated: u64,
}

impl OpCounts {
    pub fn add(&mut self, op: Op) {
        match op {
            Op::Open => self.open += 1,
            Op::Reopen => self.reopen += 1,
            Op::Adjust => self.adjust += 1,
            Op::Move => self.moved += 1,
            Op::Close => self.close += 1,
            Op::PendingApproval => self.pending_approval += 1,
        }
    }

    pub fn account_changes(&self) -> u64 {
        self.open + self.reopen + self.adjust + self.moved + self.close + self.pending_approval
    }
}

/// What a run starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
    pub kind: RunKind,
    /// Source names or file paths.
    pub sources: Vec<String>,
    pub started_at: DateTime<Utc>,
    /// Who started it: `cli`, `schedule`, later a delegate's login.
    pub actor: String,
    /// The process running it (host, boot, pid, start), so that a later process can tell that
    /// it died.
    pub owner: Option<String>,
}

/// One line of `orgid runs list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: RunId,
    pub kind: RunKind,
    pub sources: Vec<String>,
    pub actor: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub counts: OpCounts,
    /// Active people the sources delivered (for the shrink check of the next run).
    pub active_people: u64,
    pub rejected_rows: u64,
    /// Why it failed or was held.
    pub message: Option<String>,
    /// For a held run: the run that approved it; for an approving run: the held run.
    pub approval_of: Option<RunId>,
}

/// `orgid runs show`: the summary, the rejected rows and the changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    pub summary: RunSummary,
    pub rejected: Vec<RowError>,
    pub changes: Vec<AccountChange>,
}
