//! The HTTP surfaces beyond the provider's own routes: the admin API, the console, and health and
//! metrics. Handlers extract, authorize, call a service and map the result.

pub mod api;
pub mod console;
pub mod demo;
pub mod health;

use std::sync::Arc;

use axum::Router;
use orgid_idp::Provider;

use crate::app::App;

/// The admin API and console routes (and the demo's callback page when its client is
/// configured), to be merged into `serve`'s router.
pub async fn router(app: Arc<App>, provider: Provider) -> anyhow::Result<Router> {
    let secret = crate::services::idp::idp_secret(&app).await?;
    let console = crate::http::console::Console::new(app.clone(), provider.clone(), &secret);
    let demo = crate::http::demo::router(&app, provider.clone());
    let router = crate::http::api::router(app, provider).merge(crate::http::console::router(console));
    Ok(match demo {
        Some(d) => router.merge(d),
        None => router,
    })
}
