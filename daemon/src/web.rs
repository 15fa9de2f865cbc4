//! The HTTP surface beyond the provider: the admin API and the console, over one app and provider.

use std::sync::Arc;

use axum::Router;
use orgid_idp::Provider;

use crate::app::App;

/// The admin API and console routes, to be merged into `serve`'s router.
pub async fn router(app: Arc<App>, provider: Provider) -> anyhow::Result<Router> {
    let secret = crate::idp::idp_secret(&app).await?;
    let console = crate::console::Console::new(app.clone(), provider.clone(), &secret);
    Ok(crate::api::router(app, provider).merge(crate::console::router(console)))
}
