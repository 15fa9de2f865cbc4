//! Role grants: list (all for group IT, one's own otherwise), grant and revoke (group IT only,
//! never to oneself).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orgid_directory::CompanyCode;
use orgid_directory::workflow::Role;

use super::Api;
use super::auth::Caller;
use super::dto::{GrantInput, GrantView};
use super::error::{ApiError, ApiJson, ErrorBody, Id};
use crate::services::workflow as wf;

/// Role grants the caller may see.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", operation_id = "list_roles", security(("bearer" = [])),
    responses((status = 200, body = Vec<GrantView>), (status = 401, body = ErrorBody)))]
pub async fn list(State(api): State<Api>, caller: Caller) -> Result<Json<Vec<GrantView>>, ApiError> {
    Ok(Json(wf::list_roles(&api.app, &caller.who).await?.iter().map(GrantView::from).collect()))
}

/// Grants a role (group IT only; never to oneself).
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", security(("bearer" = [])), request_body = GrantInput,
    responses((status = 201, body = GrantView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn grant(
    State(api): State<Api>,
    caller: Caller,
    ApiJson(g): ApiJson<GrantInput>,
) -> Result<Response, ApiError> {
    let role = g.role.parse::<Role>().map_err(ApiError::unprocessable)?;
    let company = CompanyCode(g.company.trim().to_string());
    let grant = wf::grant_role(&api.app, &caller.who, g.login.trim(), role, &company, g.subtree).await?;
    Ok((StatusCode::CREATED, Json(GrantView::from(&grant))).into_response())
}

/// Revokes a grant (group IT only; never one's own). Grants are kept, marked revoked.
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "roles", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Grant id")),
    responses((status = 200, body = GrantView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke(State(api): State<Api>, caller: Caller, Id(id): Id) -> Result<Json<GrantView>, ApiError> {
    Ok(Json(GrantView::from(&wf::revoke_role(&api.app, &caller.who, id).await?)))
}
