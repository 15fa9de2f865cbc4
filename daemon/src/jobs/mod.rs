//! The daemon's background jobs, each owned by `serve` with a join handle and stopped by one
//! cancellation token: the schedules (sync, audit checkpoints, workflow retries), the target
//! workers and their upkeep, and the provider's upkeep and the leader lease.

pub mod alerts;
pub mod notices;
pub mod scheduler;
pub mod targets;
pub mod upkeep;
pub mod watchdog;

use std::str::FromStr;
use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use orgid_config::Config;

use crate::app::App;
use crate::services::Shared;

/// Runs `job` at every tick of the cron expression `spec_of(config)` (configuration key `key`, in
/// the configured zone) until cancelled, on the leader replica only, with the app in force at the
/// tick. A reload (SIGHUP) that changes the expression takes effect at once. A job in progress is
/// not interrupted: cancellation and reloads are observed between runs.
pub async fn on_schedule<S, F, Fut>(s: &Shared, key: &str, spec_of: S, cancel: &CancellationToken, mut job: F)
where
    S: Fn(&Config) -> String,
    F: FnMut(Arc<App>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut changes = s.changes();
    loop {
        let app = s.app();
        let spec = spec_of(&app.config);
        let spec = spec.trim();
        let next = if spec.is_empty() {
            info!("{key}: no schedule configured");
            None
        } else {
            // Validated with the configuration; a failure here would be a bug, so say so.
            match cron::Schedule::from_str(spec) {
                Ok(sch) => {
                    let next = sch.upcoming(app.tz).next();
                    match next {
                        Some(n) => info!(next = %n, "{key}: next run"),
                        None => info!("{key}: the schedule has no further runs"),
                    }
                    next
                }
                Err(e) => {
                    error!("{key} `{spec}` is invalid: {e}");
                    None
                }
            }
        };
        let tick = async {
            match next {
                Some(n) => tokio::time::sleep((n.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or_default()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            () = tick => {}
        }
        if !s.is_leader() {
            info!("{key}: another replica holds the leader lease and runs this one");
            continue;
        }
        job(s.app()).await;
    }
}
