//! systemd's notify protocol (`Type=notify`): readiness once `serve` listens and its jobs run,
//! reloading and stopping, and the watchdog, pinged at half its interval while the store answers
//! (a daemon whose store hangs is restarted). Outside systemd (no `NOTIFY_SOCKET`) all of it is a
//! no-op. Through the `sd-notify` crate: the protocol's few lines, no dependencies, no libsystemd.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::services::Shared;

fn notify(state: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, state) {
        debug!("sd_notify: {e}");
    }
}

pub fn notify_ready() {
    notify(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

pub fn notify_reloading() {
    notify(&[NotifyState::Reloading]);
}

pub fn notify_stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping: draining the HTTP server and jobs")]);
}

/// Pings systemd's watchdog while the store answers, until cancelled; returns at once when the
/// unit has no `WatchdogSec`.
pub async fn watchdog(s: Shared, cancel: CancellationToken) {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec / 2);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match tokio::time::timeout(every, s.app().store.ping()).await {
            Ok(Ok(())) => notify(&[NotifyState::Watchdog]),
            Ok(Err(e)) => error!("watchdog: the store does not answer ({e}); not pinging systemd"),
            Err(_) => warn!("watchdog: the store took longer than {every:?} to answer; not pinging systemd"),
        }
    }
}
