//! The notices job: every `notices.interval_secs`, on the leader, one sweep of the personal
//! notices (`services::notices`). Off while `notices.channels` is empty.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::error;

use crate::services::Shared;
use crate::services::notices::sweep;

pub async fn notices(s: Shared, cancel: CancellationToken) {
    loop {
        let app = s.app();
        if app.config.notices.enabled()
            && s.is_leader()
            && let Err(e) = sweep(&app).await
        {
            error!("notices: {e:#}");
        }
        let wait = Duration::from_secs(app.config.notices.interval_secs.max(1));
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
