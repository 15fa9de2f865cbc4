//! The alert job: every two seconds, on the leader, the audit trail written since is read and
//! the alerts it completes are sent and recorded (`services::alerts`).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::error;

use crate::services::Shared;
use crate::services::alerts::{AlertTail, deliver};

pub async fn alerts(s: Shared, cancel: CancellationToken) {
    let mut tail = match AlertTail::start(&s.app()).await {
        Ok(t) => t,
        Err(e) => {
            error!("alerts: cannot read the audit heads: {e:#}; no alerts until a restart");
            return;
        }
    };
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let app = s.app();
        // A standby replica keeps reading, so that it takes over where the leader was.
        match tail.poll(&app).await {
            Ok(fired) if fired.is_empty() || !s.is_leader() => {}
            Ok(fired) => {
                if let Err(e) = deliver(&app, &fired).await {
                    error!("alerts: {e:#}");
                }
            }
            Err(e) => error!("alerts: reading the audit trail: {e:#}"),
        }
    }
}
