//! `orgid serve`: the long-running daemon. Owns the HTTP listener (/healthz, /readyz, /metrics)
//! and the sync scheduler; SIGTERM or Ctrl-C stops both cleanly, letting a running sync finish.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::app::App;
use crate::metrics::Metrics;
use crate::progress::Progress;

#[derive(Clone)]
struct Shared {
    app: Arc<App>,
    metrics: Arc<Metrics>,
}

pub async fn serve(app: App) -> anyhow::Result<()> {
    let listen = app.config.server.listen.clone();
    let listener =
        TcpListener::bind(&listen).await.with_context(|| format!("while binding server.listen = {listen}"))?;
    serve_on(app, listener, shutdown_signal()).await
}

/// Serves on `listener` until `shutdown` completes. Split out so tests can drive it.
pub async fn serve_on(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let shared = Shared { app: Arc::new(app), metrics: Arc::new(Metrics::default()) };
    let cancel = CancellationToken::new();
    let addr = listener.local_addr()?;
    info!(%addr, store = shared.app.store.backend(), "orgid serving");

    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared.clone());
    let http_cancel = cancel.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, router).with_graceful_shutdown(http_cancel.cancelled_owned()).await
    });
    let scheduler = tokio::spawn(scheduler(shared.clone(), cancel.clone()));
    let directory = tokio::spawn(directory_worker(shared.clone(), cancel.clone()));
    let upkeep = tokio::spawn(directory_upkeep(shared.clone(), cancel.clone()));

    shutdown.await;
    info!("shutting down: waiting for the HTTP server, any running sync and directory writes");
    cancel.cancel();
    let (h, s, d, u) = tokio::join!(http, scheduler, directory, upkeep);
    h.context("HTTP task")?.context("HTTP server")?;
    s.context("scheduler task")?;
    d.context("directory task")?;
    u.context("directory upkeep task")?;
    shared.app.store.close().await;
    info!("stopped");
    Ok(())
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<Shared>) -> impl IntoResponse {
    match s.app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(e) => {
            error!("readiness: store unreachable: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n".to_string())
        }
    }
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], s.metrics.render())
}

/// Runs the sync on the configured cron schedule until cancelled. A sync in progress is not
/// interrupted: cancellation is only observed between runs.
async fn scheduler(s: Shared, cancel: CancellationToken) {
    let spec = s.app.config.sync.schedule.trim().to_string();
    if spec.is_empty() {
        info!("no sync schedule configured");
        return;
    }
    // Validated with the configuration; a failure here would be a bug, so say so and stop.
    let schedule = match cron::Schedule::from_str(&spec) {
        Ok(sch) => sch,
        Err(e) => {
            error!("sync.schedule `{spec}` is invalid: {e}");
            return;
        }
    };
    loop {
        let Some(next) = schedule.upcoming(s.app.tz).next() else {
            info!("the sync schedule has no further runs");
            return;
        };
        info!(next = %next, "next scheduled sync");
        let wait = (next.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let started = Instant::now();
        match crate::sync::sync(&s.app, false, "schedule", &Progress::hidden()).await {
            Ok(report) => s.metrics.record_run(&report, started.elapsed()),
            Err(e) => {
                error!("scheduled sync failed: {e:#}");
                s.metrics.record_error(started.elapsed());
            }
        }
    }
}

/// Keeps LDAP caught up with the store: checks at start that locked entries cannot bind, then
/// pushes the outbox every few seconds (a sync also pushes as soon as it is applied).
async fn directory_worker(s: Shared, cancel: CancellationToken) {
    let Some(cfg) = s.app.config.ldap.clone() else { return };
    if cfg.lock_check {
        match orgid_connectors::ldap::LdapSink::connect(&cfg).await {
            Ok(sink) => {
                match crate::ldap::lock_check(&cfg, &sink).await {
                    Ok(orgid_connectors::ldap::LockCheck::Enforced) => {
                        info!("directory: locked entries cannot bind (ppolicy enforced)")
                    }
                    Ok(orgid_connectors::ldap::LockCheck::NotEnforced) => error!(
                        "DIRECTORY DOES NOT ENFORCE LOCKS: a locked entry could still bind, so closed accounts can log in. \
                         Load ppolicy with a default policy that has pwdLockout: TRUE."
                    ),
                    Err(e) => error!("directory: the lock check failed: {e}"),
                }
                sink.unbind().await;
            }
            Err(e) => error!("directory not reachable at start: {e}"),
        }
    }
    loop {
        match crate::ldap::push(&s.app).await {
            Ok(r) => s.metrics.record_directory(&r),
            Err(e) => error!("directory worker: {e:#}"),
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
    }
}

/// On `ldap.reconcile_schedule`: purge entries past their grace period, then reconcile.
async fn directory_upkeep(s: Shared, cancel: CancellationToken) {
    let Some(cfg) = s.app.config.ldap.clone() else { return };
    let spec = cfg.reconcile_schedule.trim().to_string();
    if spec.is_empty() {
        return;
    }
    let schedule = match cron::Schedule::from_str(&spec) {
        Ok(sch) => sch,
        Err(e) => {
            error!("ldap.reconcile_schedule `{spec}` is invalid: {e}");
            return;
        }
    };
    while let Some(next) = schedule.upcoming(s.app.tz).next() {
        let wait = (next.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let mut report = Vec::new();
        match crate::ldap::purge(&s.app, false, &mut report).await {
            Ok(_) => info!("directory purge: {}", String::from_utf8_lossy(&report).lines().last().unwrap_or_default()),
            Err(e) => error!("directory purge failed: {e:#}"),
        }
        let mut report = Vec::new();
        match crate::ldap::reconcile(&s.app, false, &mut report).await {
            Ok(code) => {
                let text = String::from_utf8_lossy(&report);
                let first = text
                    .lines()
                    .find(|l| l.starts_with("drift") || l.starts_with("no drift"))
                    .unwrap_or_default()
                    .to_string();
                if code == 0 { info!("directory reconcile: {first}") } else { error!("directory reconcile: {first}") }
            }
            Err(e) => error!("directory reconcile failed: {e:#}"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
