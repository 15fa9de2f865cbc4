//! `orgid serve`: the long-running daemon. Binds the listener, serves the provider, the API, the
//! console and health (`http`), and runs the background jobs (`jobs`); SIGTERM or Ctrl-C stops
//! them all cleanly, letting a running sync finish.

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::app::App;
use crate::jobs::{alerts, notices, scheduler, targets, upkeep, watchdog};
use crate::services::Shared;

pub async fn serve(app: App, config_path: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    // At once: from here on SIGHUP is ours and never ends the process.
    #[cfg(unix)]
    let hup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("while listening for SIGHUP")?;
    let listen = app.config.server.listen.clone();
    let listener =
        TcpListener::bind(&listen).await.with_context(|| format!("while binding server.listen = {listen}"))?;
    #[cfg(unix)]
    let reload = Some(Reload { config_path, hup });
    #[cfg(not(unix))]
    let reload = None;
    run(app, listener, shutdown_signal(), reload).await
}

/// How `serve` reloads: the file it was started with, and its SIGHUP stream.
pub struct Reload {
    pub config_path: Option<std::path::PathBuf>,
    #[cfg(unix)]
    pub hup: tokio::signal::unix::Signal,
}

/// SIGHUP, by habit a request to reload: the file is read and validated again, and what can change
/// without a restart is put in force at once (`services::reload`); an invalid file changes nothing.
/// Either way the verdict is logged and audited.
pub async fn hangups(shared: Shared, mut reload: Reload, provider: orgid_idp::Provider) {
    #[cfg(unix)]
    while reload.hup.recv().await.is_some() {
        watchdog::notify_reloading();
        let loaded = crate::cli::load_config(reload.config_path.as_deref(), std::env::vars());
        let verdict = match loaded.map(|new| crate::services::reload::reload(&shared, new)) {
            Ok(r) => {
                if r.applied.contains(&"log.level") {
                    crate::telemetry::set_level(&shared.app().config.log.level);
                }
                if r.applied.contains(&"password") {
                    provider.set_password_policy(&shared.app().config.password);
                }
                if r.applied.contains(&"clients")
                    && let Err(e) = crate::services::idp::reload_clients(&shared.app(), &provider).await
                {
                    error!("SIGHUP: the OIDC clients could not be put in force: {e:#}");
                }
                info!("SIGHUP: configuration reloaded; {}", r.summary());
                if !r.restart_needed.is_empty() {
                    tracing::warn!("SIGHUP: restart orgid to apply: {}", r.restart_needed.join(", "));
                }
                Ok(r.summary())
            }
            Err(e) => {
                error!("SIGHUP: the configuration is not valid; the running one stays in force:\n{e}");
                Err(format!("invalid, the running configuration stays in force: {e}"))
            }
        };
        watchdog::notify_ready();
        crate::services::audit::record_config_reload(&shared.app().store, verdict.as_deref().map_err(String::as_str))
            .await;
    }
    #[cfg(not(unix))]
    let _ = (shared, reload, provider);
}

/// Serves on `listener` until `shutdown` completes. Split out so tests can drive it.
pub async fn serve_on(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run(app, listener, shutdown, None).await
}

/// The daemon on `listener` until `shutdown`, reloading on SIGHUP when `reload` is given.
async fn run(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    reload: Option<Reload>,
) -> anyhow::Result<()> {
    // A run left `running` by a process that died (kill -9, a crash) is marked as such.
    crate::services::ledger::abandon_dead(&app).await.context("while marking runs of dead processes abandoned")?;
    let shared = Shared::new(app);
    let app = shared.app();
    let cancel = CancellationToken::new();
    // Taken before any job starts, so that the first scheduled tick already knows who runs it.
    let lease = app.store.try_lease().await.context("while taking the leader lease")?;
    shared.set_leader(lease.is_some());
    let addr = listener.local_addr()?;
    let provider = crate::services::idp::provider(&app).await?;
    provider.ensure_keys().await.context("while preparing the OIDC signing keys")?;
    info!(%addr, store = app.store.backend(), issuer = provider.issuer(), "orgid serving");

    provider.observe(shared.metrics.clone());
    // Every surface under one layer that counts and times each request by its route.
    let router = crate::http::health::routes(shared.clone())
        .merge(provider.router())
        .merge(crate::http::router(app.clone(), provider.clone()).await?)
        .layer(axum::middleware::from_fn_with_state(shared.metrics.clone(), crate::http::health::track));
    let http_cancel = cancel.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(http_cancel.cancelled_owned())
            .await
    });
    let idp_upkeep = tokio::spawn(upkeep::idp_upkeep(shared.clone(), provider.clone(), cancel.clone()));
    let slo = tokio::spawn(upkeep::single_logout(provider.clone(), cancel.clone()));
    let leadership = tokio::spawn(upkeep::leadership(shared.clone(), lease, cancel.clone()));
    let scheduler = tokio::spawn(scheduler::sync_schedule(shared.clone(), cancel.clone()));
    let directory = tokio::spawn(targets::directory_worker(shared.clone(), cancel.clone()));
    let upkeep = tokio::spawn(targets::directory_upkeep(shared.clone(), cancel.clone()));
    let wecom = tokio::spawn(targets::wecom_worker(shared.clone(), cancel.clone()));
    let wecom_upkeep = tokio::spawn(targets::wecom_upkeep(shared.clone(), cancel.clone()));
    let audit = tokio::spawn(scheduler::audit_checkpoints(shared.clone(), cancel.clone()));
    let requests = tokio::spawn(scheduler::workflow_retry(shared.clone(), cancel.clone()));
    let backups = tokio::spawn(scheduler::backup_schedule(shared.clone(), cancel.clone()));
    let pings = tokio::spawn(watchdog::watchdog(shared.clone(), cancel.clone()));
    let alerting = tokio::spawn(alerts::alerts(shared.clone(), cancel.clone()));
    let noticing = tokio::spawn(notices::notices(shared.clone(), cancel.clone()));
    // Lives as long as the process: a SIGHUP while stopping must not end it either.
    let _hangups = reload.map(|r| tokio::spawn(hangups(shared.clone(), r, provider)));
    watchdog::notify_ready();

    shutdown.await;
    watchdog::notify_stopping();
    info!("shutting down: waiting for the HTTP server, any running sync and directory writes");
    cancel.cancel();
    let (h, s, d, u, l, i, o) = tokio::join!(http, scheduler, directory, upkeep, leadership, idp_upkeep, slo);
    i.context("identity provider upkeep task")?;
    o.context("single logout task")?;
    l.context("leadership task")?;
    h.context("HTTP task")?.context("HTTP server")?;
    s.context("scheduler task")?;
    d.context("directory task")?;
    u.context("directory upkeep task")?;
    wecom.await.context("WeCom task")?;
    wecom_upkeep.await.context("WeCom upkeep task")?;
    audit.await.context("audit checkpoint task")?;
    requests.await.context("workflow retry task")?;
    backups.await.context("backup task")?;
    noticing.await.context("notices task")?;
    pings.await.context("watchdog task")?;
    alerting.await.context("alert task")?;
    app.store.close().await;
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
