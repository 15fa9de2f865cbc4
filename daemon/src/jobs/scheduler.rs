//! The scheduled jobs of the leader replica: the HR sync, audit checkpoints, the retry of
//! approved requests, and backups.

use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::on_schedule;
use crate::output::progress::Progress;
use crate::services::Shared;

/// The HR sync on `sync.schedule`.
pub async fn sync_schedule(s: Shared, cancel: CancellationToken) {
    on_schedule(
        &s,
        "sync.schedule",
        |c| c.sync.schedule.clone(),
        &cancel,
        |app| {
            let metrics = s.metrics.clone();
            async move {
                let started = Instant::now();
                match crate::services::sync::sync(&app, false, "schedule", &Progress::hidden()).await {
                    Ok(report) => metrics.record_run(&report, started.elapsed()),
                    Err(e) => {
                        error!("scheduled sync failed: {e:#}");
                        metrics.record_error(started.elapsed());
                    }
                }
            }
        },
    )
    .await;
}

/// On `audit.checkpoint_schedule`: sign the chain head.
pub async fn audit_checkpoints(s: Shared, cancel: CancellationToken) {
    on_schedule(
        &s,
        "audit.checkpoint_schedule",
        |c| c.audit.checkpoint_schedule.clone(),
        &cancel,
        |app| async move {
            match crate::services::audit::checkpoint(&app).await {
                Ok(signed) if signed.is_empty() => {}
                Ok(signed) => info!(chains = signed.len(), "audit checkpoints signed"),
                Err(e) => error!("audit checkpoint failed: {e:#}"),
            }
        },
    )
    .await;
}

/// On `workflow.retry_schedule`: apply approved requests left over and retry failed ones.
pub async fn workflow_retry(s: Shared, cancel: CancellationToken) {
    on_schedule(
        &s,
        "workflow.retry_schedule",
        |c| c.workflow.retry_schedule.clone(),
        &cancel,
        |app| async move {
            match crate::services::workflow::apply_approved(&app).await {
                Ok(done) if done.is_empty() => {}
                Ok(done) => {
                    let failed = done.iter().filter(|r| r.error.is_some()).count();
                    info!(applied = done.len() - failed, failed, "approved requests applied")
                }
                Err(e) => error!("applying approved requests failed: {e}"),
            }
        },
    )
    .await;
}

/// On `backup.schedule`: a snapshot into `backup.dir`, keeping the newest `backup.keep`.
pub async fn backup_schedule(s: Shared, cancel: CancellationToken) {
    on_schedule(
        &s,
        "backup.schedule",
        |c| c.backup.schedule.clone(),
        &cancel,
        |app| {
            let metrics = s.metrics.clone();
            async move {
                match crate::services::backup::backup(&app, None, Some(app.config.backup.keep)).await {
                    Ok(r) => {
                        metrics.record_backup(true);
                        info!(path = %r.path.display(), pruned = r.pruned.len(), "scheduled backup written")
                    }
                    Err(e) => {
                        metrics.record_backup(false);
                        error!("scheduled backup failed: {e:#}")
                    }
                }
            }
        },
    )
    .await;
}
