//! Health and metrics: `/healthz` (the process answers), `/readyz` (the store answers) and
//! `/metrics` (OpenMetrics or Prometheus text: `services::metrics`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use orgid_directory::target::TargetId;
use tracing::error;

use crate::services::metrics::Metrics;
use crate::services::{Shared, metrics};

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

async fn metrics(State(s): State<Shared>, headers: HeaderMap) -> impl IntoResponse {
    let app = s.app();
    s.metrics.set_login_writes(app.store.login_write_stats());
    // The outboxes as the store has them now (a replica that does not lead sees them too).
    for target in TargetId::ALL {
        let configured = match target {
            TargetId::Ldap => app.config.ldap.is_some(),
            TargetId::Wecom => app.config.wecom.is_some(),
        };
        if configured {
            match crate::services::targets::stats(&app, target).await {
                Ok(stats) => s.metrics.set_outbox(target, &stats),
                Err(e) => error!("metrics: the {target} outbox could not be read: {e:#}"),
            }
        }
    }
    // Prometheus asks for OpenMetrics first; a person with curl gets the classic text.
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let kind = if openmetrics { metrics::OPENMETRICS } else { metrics::TEXT };
    ([(header::CONTENT_TYPE, kind)], s.metrics.render(openmetrics))
}

/// The route every request that matched no route is counted under.
pub const UNMATCHED: &str = "unmatched";

/// The middleware that counts and times each request under its route's template, method and
/// status (`axum::middleware::from_fn_with_state(metrics, track)`), layered over the whole router
/// so that requests no route matched are counted too.
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str).to_string();
    let method = match *req.method() {
        Method::GET | Method::POST | Method::PUT | Method::DELETE | Method::PATCH | Method::HEAD | Method::OPTIONS => {
            req.method().as_str().to_string()
        }
        _ => "other".to_string(), // a scanner's invention, as one label
    };
    let started = Instant::now();
    let res = next.run(req).await;
    m.record_http(&route, &method, res.status().as_u16(), started.elapsed());
    res
}
