//! The daemon's background jobs, each owned by `serve` with a join handle and stopped by one
//! cancellation token: the schedules (sync, audit checkpoints, workflow retries), the target
//! workers and their upkeep, and the provider's upkeep and the leader lease.

pub mod scheduler;
pub mod targets;
pub mod upkeep;

use std::str::FromStr;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::services::Shared;

/// Runs `job` at every tick of the cron expression `spec` (configuration key `key`, in the
/// configured zone) until cancelled, on the leader replica only. A job in progress is not
/// interrupted: cancellation is observed between runs.
pub async fn on_schedule<F, Fut>(s: &Shared, key: &str, spec: &str, cancel: &CancellationToken, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let spec = spec.trim();
    if spec.is_empty() {
        info!("{key}: no schedule configured");
        return;
    }
    // Validated with the configuration; a failure here would be a bug, so say so and stop.
    let schedule = match cron::Schedule::from_str(spec) {
        Ok(sch) => sch,
        Err(e) => {
            error!("{key} `{spec}` is invalid: {e}");
            return;
        }
    };
    while let Some(next) = schedule.upcoming(s.app.tz).next() {
        info!(%next, "{key}: next run");
        let wait = (next.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        if !s.is_leader() {
            info!("{key}: another replica holds the leader lease and runs this one");
            continue;
        }
        job().await;
    }
    info!("{key}: the schedule has no further runs");
}
