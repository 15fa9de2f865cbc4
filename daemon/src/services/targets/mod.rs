//! The targets: systems orgid keeps equal to its decisions (OpenLDAP today; Active Directory and
//! WeCom next). Each has a delta (its pure part in `orgid_directory::target`), operations queued
//! in the store's outbox under its id, a client in `orgid_connectors`, and here: the drain that
//! applies its outbox (`outbox`, shared by every target), status, push, retry and reconcile.

pub mod ldap;
pub mod outbox;
pub mod wecom;

pub use outbox::{DrainReport, PARK_AFTER};

use orgid_directory::store::OutboxStore;
use orgid_directory::target::{OutboxStats, TargetId};

use crate::app::App;

/// A target's outbox at a glance.
pub async fn stats(app: &App, target: TargetId) -> anyhow::Result<OutboxStats> {
    Ok(app.store.outbox_stats(target, app.clock.now()).await?)
}

/// A target's parked operations back in its queue (after an operator fixed their cause); returns
/// how many.
pub async fn unpark(app: &App, target: TargetId) -> anyhow::Result<u64> {
    Ok(app.store.outbox_unpark(target, app.clock.now()).await?)
}

/// A target's pending operations due now, whatever their backoff; returns how many waited.
pub async fn hurry(app: &App, target: TargetId) -> anyhow::Result<u64> {
    Ok(app.store.outbox_hurry(target, app.clock.now()).await?)
}
