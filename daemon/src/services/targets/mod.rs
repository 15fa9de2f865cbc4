//! The targets: systems orgid keeps equal to its decisions (OpenLDAP today; Active Directory and
//! WeCom next). Each has a delta (its pure part in `orgid_directory::target`), operations queued
//! in the store's outbox under its id, a client in `orgid_connectors`, and here: the drain that
//! applies its outbox (`outbox`, shared by every target), status, push, retry and reconcile.

pub mod ldap;
pub mod outbox;

pub use outbox::{DrainReport, PARK_AFTER};
