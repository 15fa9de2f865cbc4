//! Health and metrics: `/healthz` (the process answers), `/readyz` (the store answers) and
//! `/metrics` (Prometheus text).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tracing::error;

use crate::services::Shared;

/// The health and metrics routes over the daemon's shared state.
pub fn routes(shared: Shared) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<Shared>) -> impl IntoResponse {
    match s.app().store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(e) => {
            error!("readiness: store unreachable: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n".to_string())
        }
    }
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    let mut text = s.metrics.render();
    crate::services::metrics::render_login_writes(&mut text, s.app().store.login_write_stats());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}
