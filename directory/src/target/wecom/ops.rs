//! What changes WeCom's address book: operations queued in the store's outbox under the target
//! `wecom` and applied by the client. Each is idempotent as the client applies it: a create that
//! finds the member adopts and updates it (60102), an update that finds nothing creates it
//! (60111, 60003), a delete that finds nothing is done.

use serde::{Deserialize, Serialize};

use crate::PersonKey;
use crate::target::{Queued, TargetId, TargetOp};

/// WeCom's limits (成员 `name` 1–64 characters, `position` 0–128, 部门 `name` 1–64).
pub const NAME_MAX: usize = 64;
pub const POSITION_MAX: usize = 128;
pub const DEPT_NAME_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WecomOp {
    /// Create the department with this id (or adopt one with this id, name and parent), `order`
    /// its place among its siblings (WeCom's 次序值: larger sorts first).
    CreateDepartment {
        id: i64,
        name: String,
        parent: i64,
        #[serde(default)]
        order: i64,
    },
    /// Rename, move or reorder the department in place (a missing one is created).
    UpdateDepartment {
        id: i64,
        name: String,
        parent: i64,
        #[serde(default)]
        order: i64,
    },
    /// Bring the member to these facts: `create` tries a create first (60102: update instead),
    /// otherwise an update first (60111: create, unless the member is to be disabled).
    PutMember { member: Member, create: bool },
    /// Delete the member (a missing one is fine): the purge after the grace period.
    DeleteMember { userid: String },
}

impl TargetOp for WecomOp {
    const TARGET: TargetId = TargetId::Wecom;
}

/// A member as orgid sends it (never the ID number). Text already within WeCom's limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub userid: String,
    pub name: String,
    pub mobile: String,
    pub email: String,
    pub position: String,
    pub department: Vec<i64>,
    pub enable: bool,
    /// Extended attributes (text): (name, value).
    pub extattr: Vec<(String, String)>,
}

pub type QueuedOp = Queued<WecomOp>;

/// A department orgid created (or queued), by stable key (`company:C`, `dept:C:path`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedDept {
    pub key: String,
    pub id: i64,
    pub name: String,
    pub parent: i64,
    /// The `order` sent: larger sorts first among the siblings (see [`roster_order`]).
    #[serde(default)]
    pub order: i64,
}

/// What orgid has put (or queued) in WeCom for an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedMember {
    pub userid: String,
    /// Key of its department.
    pub dept: String,
    pub enabled: bool,
}

/// The WeCom side of a run: operations for the outbox and the new tracking, written in the same
/// transaction as the run's decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WecomDelta {
    pub ops: Vec<QueuedOp>,
    /// Departments created, renamed or moved (by their key after the delta).
    pub departments: Vec<TrackedDept>,
    /// Department keys renamed: (old, new); members under `old` now sit under `new`.
    pub renamed: Vec<(String, String)>,
    /// New tracking of members (`None`: the member is gone).
    pub members: Vec<(PersonKey, Option<TrackedMember>)>,
    /// Texts cut to WeCom's limits, to be logged.
    pub warnings: Vec<String>,
}

impl WecomDelta {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.departments.is_empty() && self.renamed.is_empty() && self.members.is_empty()
    }
}

pub fn company_key(code: &str) -> String {
    format!("company:{code}")
}

pub fn department_key(code: &str, path: &str) -> String {
    format!("dept:{code}:{path}")
}

/// The first `max` characters of `s`, and whether it was cut.
pub fn truncate_chars(s: &str, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        Some((i, _)) => (s[..i].to_string(), true),
        None => (s.to_string(), false),
    }
}

/// A department name WeCom takes: none of `\:*?"<>|`, 1–64 characters.
pub fn clean_department_name(s: &str) -> String {
    let cleaned: String = s.trim().chars().map(|c| if "\\:*?\"<>|".contains(c) { '_' } else { c }).collect();
    let (cut, _) = truncate_chars(&cleaned, DEPT_NAME_MAX);
    if cut.is_empty() { "_".to_string() } else { cut }
}

/// WeCom's userid rule: 1–64 bytes of letters, digits and `_-.@`.
pub fn valid_userid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(truncate_chars("张三丰", 2), ("张三".to_string(), true));
        assert_eq!(truncate_chars("张三", 2), ("张三".to_string(), false));
        assert_eq!(clean_department_name("研发:一|部"), "研发_一_部");
        assert_eq!(clean_department_name(&"部".repeat(70)).chars().count(), 64);
        assert!(valid_userid("zhang.san-1@x_y"));
        assert!(!valid_userid("张三"));
        assert!(!valid_userid(""));
        assert!(!valid_userid(&"a".repeat(65)));
    }
}
