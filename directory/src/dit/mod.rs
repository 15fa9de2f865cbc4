//! The directory information tree orgid maintains in LDAP: structured DNs, the layout of
//! companies, departments, accounts and groups, and the idempotent operations that change it.
//! Pure: the LDAP sink renders and applies, the store keeps the outbox and what is tracked.

mod delta;
mod dn;
mod layout;
mod ops;
pub mod reconcile;

pub use delta::{DeltaInput, PHASE_ACCOUNTS, PHASE_MEMBERS, affected_parents, delta, group_description};
pub use dn::{Dn, Rdn, escape_value};
pub use layout::{Attrs, LOCK_ATTR, LOCKED_FOREVER, Layout, group_attrs, keys, ou_attrs, split_name};
pub use ops::{AccountEntry, DirOp, DitDelta, Node, NodeKind, QueuedOp, TrackedUser};
