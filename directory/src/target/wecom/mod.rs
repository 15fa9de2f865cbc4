//! The WeCom (企业微信) target's pure part: the departments orgid mirrors (company, then
//! department path), one member per account (`userid` = the login), the idempotent operations
//! that change the address book, the delta of a run against what is tracked, and reconcile's diff.
//! The client (`orgid_connectors::wecom`) applies and reads back; the store keeps the outbox and
//! the tracking (`wecom_departments`, `wecom_members`).

mod delta;
mod ops;
mod order;
pub mod reconcile;

pub use delta::{DeltaInput, PHASE_MEMBERS, Settings, delta, left_departments, member_of};
pub use ops::{
    DEPT_NAME_MAX, Member, NAME_MAX, POSITION_MAX, QueuedOp, TrackedDept, TrackedMember, WecomDelta, WecomOp,
    clean_department_name, company_key, department_key, truncate_chars, valid_userid,
};
pub use order::{DeptOrder, ORDER_TOP, roster_order};
