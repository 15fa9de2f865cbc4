//! Accounts and people in the caller's scope (with search), and password resets.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::Response;
use orgid_directory::{AccountStatus, CompanyCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Api;
use super::auth::Caller;
use super::dto::{AccountView, PersonView};
use super::error::{ApiError, ErrorBody};
use super::paging::Page;
use crate::services::workflow::{self as wf, AccountQuery};

/// Filters of the account and people lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// A company code in the caller's scope.
    pub company: Option<String>,
    /// Account status (`active`, `locked`, `disabled`, …).
    pub status: Option<String>,
    /// Part of a name, login or employee number.
    pub search: Option<String>,
    /// Items per page (1–1000, default 100).
    pub limit: Option<u32>,
    /// Items to skip.
    pub offset: Option<u64>,
}

fn query(
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(AccountQuery, Page), ApiError> {
    let Query(q) = q?;
    let status = q
        .status
        .as_deref()
        .map(|s| s.parse::<AccountStatus>().map_err(|e| ApiError::bad_request(e.to_string())))
        .transpose()?;
    let page = Page::new(q.limit, q.offset)?;
    Ok((AccountQuery { company: q.company.map(CompanyCode), status, search: q.search }, page))
}

/// Accounts in the caller's scope, a page at a time.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = Vec<AccountView>, headers(
            ("x-total-count" = u64, description = "How many accounts match"),
            ("link" = String, description = "`<…>; rel=\"next\"` when more follow"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn accounts(
    State(api): State<Api>,
    caller: Caller,
    uri: Uri,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let (query, page) = query(q)?;
    let rows = wf::accounts(&api.app, &caller.who, &query).await?;
    Ok(page.respond(rows.iter().map(AccountView::from), &uri))
}

/// One account, by login.
#[utoipa::path(get, path = "/api/v1/accounts/{login}", tag = "accounts", security(("bearer" = [])),
    params(("login" = String, Path, description = "Login")),
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn account(
    State(api): State<Api>,
    caller: Caller,
    Path(login): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(AccountView::from(&wf::account(&api.app, &caller.who, &login).await?)))
}

/// People (with or without an account) in the caller's scope, a page at a time.
#[utoipa::path(get, path = "/api/v1/people", tag = "accounts", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = Vec<PersonView>, headers(
            ("x-total-count" = u64, description = "How many people match"),
            ("link" = String, description = "`<…>; rel=\"next\"` when more follow"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn people(
    State(api): State<Api>,
    caller: Caller,
    uri: Uri,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let (query, page) = query(q)?;
    let rows = wf::people(&api.app, &caller.who, &query).await?;
    Ok(page.respond(rows.iter().map(PersonView::from), &uri))
}

/// The answer to a password reset: the password itself never comes back.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetDone {
    pub login: String,
    /// Always `sent_to_holder`: the one-time password went to the account holder.
    pub outcome: &'static str,
}

/// Gives the account a one-time initial password, sent to its holder through the notifier
/// (never to the caller). The company's IT delegate or group IT.
#[utoipa::path(post, path = "/api/v1/accounts/{login}/reset-password", tag = "accounts", security(("bearer" = [])),
    params(("login" = String, Path, description = "Login")),
    responses((status = 200, body = ResetDone), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, description = "No notifier, or the account is not active", body = ErrorBody)))]
pub async fn reset_password(
    State(api): State<Api>,
    caller: Caller,
    Path(login): Path<String>,
) -> Result<Json<ResetDone>, ApiError> {
    wf::reset_password(&api.app, &caller.who, &login).await?;
    Ok(Json(ResetDone { login, outcome: "sent_to_holder" }))
}
