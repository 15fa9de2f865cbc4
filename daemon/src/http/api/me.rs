//! `GET /api/v1/me`: who the token speaks for.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::ErrorBody;

/// The authenticated account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub login: String,
    pub name: String,
    /// The account's company code.
    pub company: String,
    /// The client the token was issued to.
    pub client_id: String,
    pub scope: String,
}

/// The account the access token was issued for.
#[utoipa::path(get, path = "/api/v1/me", tag = "session", security(("bearer" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, description = "No or invalid access token", body = ErrorBody),
    ))]
pub async fn me(caller: Caller) -> Json<Me> {
    let a = caller.auth;
    Json(Me { login: a.login, name: a.name, company: a.company.0, client_id: a.client_id, scope: a.scope })
}
