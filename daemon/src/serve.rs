//! `orgid serve`: the long-running daemon. Owns the HTTP listener (/healthz, /readyz, /metrics)
//! and the sync scheduler; SIGTERM or Ctrl-C stops both cleanly, letting a running sync finish.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Whether this replica holds the leader lease and so runs the scheduled jobs.
    leader: Arc<AtomicBool>,
}

impl Shared {
    fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }
}

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
            crate::audit::record_config_reload(&store, verdict.as_deref().map_err(String::as_str)).await;
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
    let shared =
        Shared { app: Arc::new(app), metrics: Arc::new(Metrics::default()), leader: Arc::new(AtomicBool::new(false)) };
    let cancel = CancellationToken::new();
    // Taken before any job starts, so that the first scheduled tick already knows who runs it.
    let lease = shared.app.store.try_lease().await.context("while taking the leader lease")?;
    set_leader(&shared, lease.is_some());
    let addr = listener.local_addr()?;
    let provider = crate::idp::provider(&shared.app).await?;
    provider.ensure_keys().await.context("while preparing the OIDC signing keys")?;
    info!(%addr, store = shared.app.store.backend(), issuer = provider.issuer(), "orgid serving");

    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared.clone())
        .merge(provider.router())
        .merge(crate::web::router(shared.app.clone(), provider.clone()).await?);
    let http_cancel = cancel.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(http_cancel.cancelled_owned())
            .await
    });
    let idp_upkeep = tokio::spawn(idp_upkeep(shared.clone(), provider, cancel.clone()));
    let leadership = tokio::spawn(leadership(shared.clone(), lease, cancel.clone()));
    let scheduler = tokio::spawn(scheduler(shared.clone(), cancel.clone()));
    let directory = tokio::spawn(directory_worker(shared.clone(), cancel.clone()));
    let upkeep = tokio::spawn(directory_upkeep(shared.clone(), cancel.clone()));
    let audit = tokio::spawn(audit_checkpoints(shared.clone(), cancel.clone()));
    let requests = tokio::spawn(workflow_retry(shared.clone(), cancel.clone()));

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
    let mut text = s.metrics.render();
    crate::metrics::render_login_writes(&mut text, s.app.store.login_write_stats());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

/// Runs `job` at every tick of the cron expression `spec` (configuration key `key`, in the
/// configured zone) until cancelled, on the leader replica only. A job in progress is not
/// interrupted: cancellation is observed between runs.
async fn on_schedule<F, Fut>(s: &Shared, key: &str, spec: &str, cancel: &CancellationToken, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let spec = spec.trim();
    if spec.is_empty() {
        info!("{key}: no schedule configured");
        return;
    }
    // Validated with the configuration; a failure here would be a bug, so say so and stop.
    let schedule = match cron::Schedule::from_str(spec) {
        Ok(sch) => sch,
        Err(e) => {
            error!("{key} `{spec}` is invalid: {e}");
            return;
        }
    };
    while let Some(next) = schedule.upcoming(s.app.tz).next() {
        info!(%next, "{key}: next run");
        let wait = (next.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        if !s.is_leader() {
            info!("{key}: another replica holds the leader lease and runs this one");
            continue;
        }
        job().await;
    }
    info!("{key}: the schedule has no further runs");
}

/// The HR sync on `sync.schedule`.
async fn scheduler(s: Shared, cancel: CancellationToken) {
    let spec = s.app.config.sync.schedule.clone();
    on_schedule(&s, "sync.schedule", &spec, &cancel, || async {
        let started = Instant::now();
        match crate::sync::sync(&s.app, false, "schedule", &Progress::hidden()).await {
            Ok(report) => s.metrics.record_run(&report, started.elapsed()),
            Err(e) => {
                error!("scheduled sync failed: {e:#}");
                s.metrics.record_error(started.elapsed());
            }
        }
    })
    .await;
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
        if s.is_leader() {
            match crate::ldap::push(&s.app).await {
                Ok(r) => s.metrics.record_directory(&r),
                Err(e) => error!("directory worker: {e:#}"),
            }
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
    on_schedule(&s, "ldap.reconcile_schedule", &cfg.reconcile_schedule, &cancel, || async {
        let mut report = Vec::new();
        match crate::ldap::purge(&s.app, false, &mut report).await {
            Ok(_) => info!("directory purge: {}", String::from_utf8_lossy(&report).lines().last().unwrap_or_default()),
            Err(e) => error!("directory purge failed: {e:#}"),
        }
        let mut report = Vec::new();
        match crate::ldap::reconcile(&s.app, false, &mut report).await {
            Ok(code) => {
                let text = String::from_utf8_lossy(&report);
                let first =
                    text.lines().find(|l| l.starts_with("drift") || l.starts_with("no drift")).unwrap_or_default();
                if code == 0 { info!("directory reconcile: {first}") } else { error!("directory reconcile: {first}") }
            }
            Err(e) => error!("directory reconcile failed: {e:#}"),
        }
    })
    .await;
}

/// On `audit.checkpoint_schedule`: sign the chain head.
async fn audit_checkpoints(s: Shared, cancel: CancellationToken) {
    let spec = s.app.config.audit.checkpoint_schedule.clone();
    on_schedule(&s, "audit.checkpoint_schedule", &spec, &cancel, || async {
        match crate::audit::checkpoint(&s.app).await {
            Ok(signed) if signed.is_empty() => {}
            Ok(signed) => info!(chains = signed.len(), "audit checkpoints signed"),
            Err(e) => error!("audit checkpoint failed: {e:#}"),
        }
    })
    .await;
}

/// On `workflow.retry_schedule`: apply approved requests left over and retry failed ones.
async fn workflow_retry(s: Shared, cancel: CancellationToken) {
    let spec = s.app.config.workflow.retry_schedule.clone();
    on_schedule(&s, "workflow.retry_schedule", &spec, &cancel, || async {
        match crate::workflow::apply_approved(&s.app).await {
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

/// Every ten minutes: signing keys rotated when due (any replica may; the store lets one win)
/// and, on the leader, expired codes, tokens, sessions and keys deleted.
async fn idp_upkeep(s: Shared, provider: orgid_idp::Provider, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
        }
        let result = if s.is_leader() { provider.upkeep().await } else { provider.ensure_keys().await.map(|_| ()) };
        if let Err(e) = result {
            error!("identity provider upkeep: {e}");
        }
    }
}

fn set_leader(s: &Shared, leader: bool) {
    s.leader.store(leader, Ordering::SeqCst);
    s.metrics.set_leader(leader);
}

/// Keeps the leader lease, or waits for it: a replica whose leader stops takes over within 10 s.
async fn leadership(s: Shared, mut lease: Option<orgid_store::LeaderLease>, cancel: CancellationToken) {
    if lease.is_some() {
        info!("this replica holds the leader lease and runs the scheduled jobs");
    } else {
        info!("another replica holds the leader lease; this one serves and stands by");
    }
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
        }
        match lease.as_mut() {
            Some(l) => {
                if !l.still_held().await {
                    error!("lost the leader lease (its database connection failed); standing by");
                    lease = None;
                    set_leader(&s, false);
                }
            }
            None => match s.app.store.try_lease().await {
                Ok(Some(l)) => {
                    info!("took over the leader lease");
                    lease = Some(l);
                    set_leader(&s, true);
                }
                Ok(None) => {}
                Err(e) => error!("leader lease: {e}"),
            },
        }
    }
    drop(lease); // releases it for the next replica
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
