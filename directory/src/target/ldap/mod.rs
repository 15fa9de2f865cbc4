//! The OpenLDAP target's pure part: the directory information tree orgid maintains, with
//! structured DNs, the layout of companies, departments, accounts and groups, the idempotent
//! operations that change it, the delta of a run and reconcile's diff. The LDAP sink
//! (`orgid_connectors::ldap`) renders and applies; the store keeps the outbox and the tracking.

mod delta;
mod dn;
mod layout;
mod ops;
pub mod reconcile;

pub use delta::{DeltaInput, PHASE_ACCOUNTS, PHASE_MEMBERS, affected_parents, delta, group_description, memberships};
pub use dn::{Dn, Rdn, escape_value};
pub use layout::{Attrs, LOCK_ATTR, LOCKED_FOREVER, Layout, group_attrs, keys, ou_attrs, split_name};
pub use ops::{AccountEntry, DirOp, DitDelta, Node, NodeKind, QueuedOp, TrackedUser};
