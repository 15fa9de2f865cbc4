//! The alert job: every two seconds, on the leader, the audit trail written since is read and
//! the alerts it completes are sent and recorded (`services::alerts`); on `alerts.verify_schedule`
//! the whole trail is verified. Without recipients
//! (`alerts.mail_to`) alerts are off: said once at start, at INFO, and the trail is not read; a
//! reload that adds recipients turns them on, from where they were last read (the first time,
//! from the trail's end).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::on_schedule;
use crate::services::Shared;
use crate::services::alerts::{AlertTail, deliver, verify_round};

/// The tail every two seconds, and the whole trail verified on `alerts.verify_schedule`.
pub async fn alerts(s: Shared, cancel: CancellationToken) {
    tokio::join!(tail(s.clone(), cancel.clone()), verify(s, cancel));
}

async fn verify(s: Shared, cancel: CancellationToken) {
    on_schedule(
        &s,
        "alerts.verify_schedule",
        |c| c.alerts.verify_schedule.clone(),
        &cancel,
        |app| async move {
            match verify_round(&app).await {
                Ok(0) => {}
                Ok(n) => info!(alerts = n, "the audit trail's periodic verification found breaks"),
                Err(e) => error!("alerts: the periodic verification of the audit trail: {e:#}"),
            }
        },
    )
    .await;
}

async fn tail(s: Shared, cancel: CancellationToken) {
    let mut tail: Option<AlertTail> = None;
    if !s.app().config.alerts.enabled() {
        info!("alerts are off: no recipients configured (alerts.mail_to)");
    }
    loop {
        // The starting point is taken before the first wait, so that what is written from the
        // start of `serve` on is read.
        let app = s.app();
        if !app.config.alerts.enabled() {
            tail = None;
        } else if tail.is_none() {
            match AlertTail::start(&app).await {
                Ok(t) => tail = Some(t),
                Err(e) => error!("alerts: cannot read where the alert job stands: {e:#}"),
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let app = s.app();
        let Some(t) = tail.as_mut().filter(|_| app.config.alerts.enabled()) else { continue };
        // A standby replica keeps reading, so that it takes over where the leader was; only the
        // leader sends and keeps the position.
        match t.poll(&app).await {
            Ok(_) if !s.is_leader() => {}
            Ok(fired) => {
                if let Err(e) = deliver(&app, &fired).await {
                    error!("alerts: {e:#}");
                    continue;
                }
                t.recorded(&fired);
                if let Err(e) = t.save(&app).await {
                    error!("alerts: keeping where the audit trail was read to: {e:#}");
                }
            }
            Err(e) => error!("alerts: reading the audit trail: {e:#}"),
        }
    }
}
