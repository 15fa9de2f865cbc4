//! The scheduled jobs of the leader replica: the HR sync, audit checkpoints, and the retry of
//! approved requests.

use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::on_schedule;
use crate::output::progress::Progress;
use crate::services::Shared;

/// The HR sync on `sync.schedule`.
pub async fn sync_schedule(s: Shared, cancel: CancellationToken) {
    let spec = s.app.config.sync.schedule.clone();
    on_schedule(&s, "sync.schedule", &spec, &cancel, || async {
        let started = Instant::now();
        match crate::services::sync::sync(&s.app, false, "schedule", &Progress::hidden()).await {
            Ok(report) => s.metrics.record_run(&report, started.elapsed()),
            Err(e) => {
                error!("scheduled sync failed: {e:#}");
                s.metrics.record_error(started.elapsed());
            }
        }
    })
    .await;
}

/// On `audit.checkpoint_schedule`: sign the chain head.
pub async fn audit_checkpoints(s: Shared, cancel: CancellationToken) {
    let spec = s.app.config.audit.checkpoint_schedule.clone();
    on_schedule(&s, "audit.checkpoint_schedule", &spec, &cancel, || async {
        match crate::services::audit::checkpoint(&s.app).await {
            Ok(signed) if signed.is_empty() => {}
            Ok(signed) => info!(chains = signed.len(), "audit checkpoints signed"),
            Err(e) => error!("audit checkpoint failed: {e:#}"),
        }
    })
    .await;
}

/// On `workflow.retry_schedule`: apply approved requests left over and retry failed ones.
pub async fn workflow_retry(s: Shared, cancel: CancellationToken) {
    let spec = s.app.config.workflow.retry_schedule.clone();
    on_schedule(&s, "workflow.retry_schedule", &spec, &cancel, || async {
        match crate::services::workflow::apply_approved(&s.app).await {
            Ok(done) if done.is_empty() => {}
            Ok(done) => {
                let failed = done.iter().filter(|r| r.error.is_some()).count();
                info!(applied = done.len() - failed, failed, "approved requests applied")
            }
            Err(e) => error!("applying approved requests failed: {e}"),
        }
    })
    .await;
}
