//! Requests and approvals: list (filtered, scoped), the approval inbox, show, submit,
//! approve, reject, cancel.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use orgid_directory::CompanyCode;
use orgid_directory::workflow::{Origin, RequestState};
use serde::Deserialize;
use utoipa::IntoParams;

use super::Api;
use super::auth::Caller;
use super::dto::{DecisionInput, RequestView, SubmitInput};
use super::error::{ApiError, ApiJson, ErrorBody, Id, invalid_fields, optional_json};
use super::paging::Page;
use crate::services::workflow::{self as wf, RequestQuery};

/// Filters of the request list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `pending`, `approved`, `rejected`, `applied`, `failed`, `cancelled`.
    pub state: Option<String>,
    /// A company code in the caller's scope.
    pub company: Option<String>,
    /// Only the caller's own requests.
    #[serde(default)]
    pub mine: bool,
    /// Items per page (1–1000, default 100).
    pub limit: Option<u32>,
    /// Items to skip.
    pub offset: Option<u64>,
}

fn views(list: &[orgid_directory::workflow::Request]) -> Json<Vec<RequestView>> {
    Json(list.iter().map(RequestView::from).collect())
}

/// Requests in the caller's scope, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", operation_id = "list_requests", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Vec<RequestView>, headers(
            ("x-total-count" = u64, description = "How many requests match"),
            ("link" = String, description = "`<…>; rel=\"next\"` when more follow"))),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A company outside the caller's scope", body = ErrorBody),
        (status = 400, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    caller: Caller,
    uri: Uri,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q?;
    let state = q.state.as_deref().map(|s| s.parse::<RequestState>().map_err(ApiError::bad_request)).transpose()?;
    let page = Page::new(q.limit, q.offset)?;
    let query = RequestQuery { state, company: q.company.map(CompanyCode), inbox: false, mine: q.mine };
    let list = wf::requests(&api.app, &caller.who, &query).await?;
    Ok(page.respond(list.iter().map(RequestView::from), &uri))
}

/// Pending requests with a step the caller may decide now.
#[utoipa::path(get, path = "/api/v1/requests/inbox", tag = "requests", security(("bearer" = [])),
    responses((status = 200, body = Vec<RequestView>), (status = 401, body = ErrorBody)))]
pub async fn inbox(State(api): State<Api>, caller: Caller) -> Result<Json<Vec<RequestView>>, ApiError> {
    let query = RequestQuery { inbox: true, ..RequestQuery::default() };
    Ok(views(&wf::requests(&api.app, &caller.who, &query).await?))
}

/// One request.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Request id")),
    responses((status = 200, body = RequestView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn show(State(api): State<Api>, caller: Caller, Id(id): Id) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(RequestView::from(&wf::request(&api.app, &caller.who, id).await?)))
}

/// Submits a request (form 1 open, form 2 adjust, or close). An independent company's own IT
/// delegate's request needs no approval and is applied at once.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", security(("bearer" = [])), request_body = SubmitInput,
    responses((status = 201, body = RequestView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, description = "Invalid fields or state", body = ErrorBody)))]
pub async fn submit(
    State(api): State<Api>,
    caller: Caller,
    ApiJson(input): ApiJson<SubmitInput>,
) -> Result<Response, ApiError> {
    let current = input.current(&api.app).await.map_err(|e| ApiError::unavailable(&e))?;
    let submission = match input.validate(Origin::Api, current.as_ref()) {
        Ok(s) => s,
        Err(errors) => return Ok(invalid_fields(errors)),
    };
    let r = wf::submit(&api.app, &caller.who, submission).await?;
    Ok((StatusCode::CREATED, Json(RequestView::from(&r))).into_response())
}

async fn decide(
    api: &Api,
    caller: &Caller,
    id: i64,
    approve: bool,
    body: Option<DecisionInput>,
) -> Result<Json<RequestView>, ApiError> {
    let comment = body.map(|b| b.comment).unwrap_or_default();
    Ok(Json(RequestView::from(&wf::approve(&api.app, &caller.who, id, approve, &comment).await?)))
}

/// Approves the first open step of the request the caller may decide; the last approval
/// applies the request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "requests", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Request id")), request_body(content = Option<DecisionInput>),
    responses((status = 200, body = RequestView), (status = 401, body = ErrorBody),
        (status = 403, description = "Not an approver of an open step, or one's own request", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn approve(
    State(api): State<Api>,
    caller: Caller,
    Id(id): Id,
    body: axum::body::Bytes,
) -> Result<Json<RequestView>, ApiError> {
    decide(&api, &caller, id, true, optional_json(&body)?).await
}

/// Rejects the request (one rejection rejects it).
#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "requests", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Request id")), request_body(content = Option<DecisionInput>),
    responses((status = 200, body = RequestView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reject(
    State(api): State<Api>,
    caller: Caller,
    Id(id): Id,
    body: axum::body::Bytes,
) -> Result<Json<RequestView>, ApiError> {
    decide(&api, &caller, id, false, optional_json(&body)?).await
}

/// Cancels a pending or failed request (its requester or group IT).
#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "requests", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Request id")),
    responses((status = 200, body = RequestView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn cancel(State(api): State<Api>, caller: Caller, Id(id): Id) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(RequestView::from(&wf::cancel(&api.app, &caller.who, id).await?)))
}
