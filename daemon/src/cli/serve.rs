//! `orgid serve`: the long-running daemon. Binds the listener, serves the provider, the API, the
//! console and health (`http`), and runs the background jobs (`jobs`); SIGTERM or Ctrl-C stops
//! them all cleanly, letting a running sync finish.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::app::App;
use crate::jobs::{scheduler, targets, upkeep};
use crate::services::Shared;
use crate::services::metrics::Metrics;

pub async fn serve(app: App, config_path: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let listen = app.config.server.listen.clone();
    let listener =
        TcpListener::bind(&listen).await.with_context(|| format!("while binding server.listen = {listen}"))?;
    // Lives as long as the process: SIGHUP must never end it.
    let _hangups = tokio::spawn(hangups(config_path, app.store.clone()));
    serve_on(app, listener, shutdown_signal()).await
}

/// SIGHUP, by habit a request to reload: the file is read and checked, and the answer logged.
/// Applying a new configuration in place is not supported yet; a restart applies it.
pub async fn hangups(config_path: Option<std::path::PathBuf>, store: orgid_store::AnyStore) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            error!("cannot listen for SIGHUP");
            return;
        };
        while hup.recv().await.is_some() {
            let verdict = match crate::cli::load_config(config_path.as_deref(), std::env::vars()) {
                Ok(_) => {
                    tracing::warn!(
                        "SIGHUP: the configuration is valid, but reloading it in place is not supported yet; restart orgid to apply it"
                    );
                    Ok("valid; not applied until restart".to_string())
                }
                Err(e) => {
                    error!("SIGHUP: the configuration is not valid; the running one stays in force:\n{e}");
                    Err(format!("invalid, the running configuration stays in force: {e}"))
                }
            };
            crate::services::audit::record_config_reload(&store, verdict.as_deref().map_err(String::as_str)).await;
        }
    }
    #[cfg(not(unix))]
    let _ = (config_path, store);
}

/// Serves on `listener` until `shutdown` completes. Split out so tests can drive it.
pub async fn serve_on(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // A run left `running` by a process that died (kill -9, a crash) is marked as such.
    crate::services::ledger::abandon_dead(&app).await.context("while marking runs of dead processes abandoned")?;
    let shared =
        Shared { app: Arc::new(app), metrics: Arc::new(Metrics::default()), leader: Arc::new(AtomicBool::new(false)) };
    let cancel = CancellationToken::new();
    // Taken before any job starts, so that the first scheduled tick already knows who runs it.
    let lease = shared.app.store.try_lease().await.context("while taking the leader lease")?;
    shared.set_leader(lease.is_some());
    let addr = listener.local_addr()?;
    let provider = crate::services::idp::provider(&shared.app).await?;
    provider.ensure_keys().await.context("while preparing the OIDC signing keys")?;
    info!(%addr, store = shared.app.store.backend(), issuer = provider.issuer(), "orgid serving");

    let router = crate::http::health::routes(shared.clone())
        .merge(provider.router())
        .merge(crate::http::router(shared.app.clone(), provider.clone()).await?);
    let http_cancel = cancel.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(http_cancel.cancelled_owned())
            .await
    });
    let idp_upkeep = tokio::spawn(upkeep::idp_upkeep(shared.clone(), provider, cancel.clone()));
    let leadership = tokio::spawn(upkeep::leadership(shared.clone(), lease, cancel.clone()));
    let scheduler = tokio::spawn(scheduler::sync_schedule(shared.clone(), cancel.clone()));
    let directory = tokio::spawn(targets::directory_worker(shared.clone(), cancel.clone()));
    let upkeep = tokio::spawn(targets::directory_upkeep(shared.clone(), cancel.clone()));
    let audit = tokio::spawn(scheduler::audit_checkpoints(shared.clone(), cancel.clone()));
    let requests = tokio::spawn(scheduler::workflow_retry(shared.clone(), cancel.clone()));

    shutdown.await;
    info!("shutting down: waiting for the HTTP server, any running sync and directory writes");
    cancel.cancel();
    let (h, s, d, u, l, i) = tokio::join!(http, scheduler, directory, upkeep, leadership, idp_upkeep);
    i.context("identity provider upkeep task")?;
    l.context("leadership task")?;
    h.context("HTTP task")?.context("HTTP server")?;
    s.context("scheduler task")?;
    d.context("directory task")?;
    u.context("directory upkeep task")?;
    audit.await.context("audit checkpoint task")?;
    requests.await.context("workflow retry task")?;
    shared.app.store.close().await;
    info!("stopped");
    Ok(())
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
