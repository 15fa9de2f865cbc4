//! Reports and the company list: the SLA / penalty report, companies and their operating mode
//! (group IT), and the audit trail (security auditor and group IT).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use orgid_directory::audit::AuditScope;
use orgid_directory::workflow::Role;
use orgid_directory::{CompanyCode, OperatingMode};
use serde::Deserialize;
use utoipa::IntoParams;

use super::Api;
use super::auth::Caller;
use super::dto::{CompanyView, ModeInput, SlaView};
use super::error::{ApiError, ApiJson, ErrorBody};
use crate::http::api::audit::{self, RecordsQuery};
use crate::services::workflow as wf;

/// The report's month.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    /// `YYYY-MM`; every late case when absent.
    pub month: Option<String>,
}

/// Late cases (overdue requests, late submissions, unresolved roster checks) per responsible
/// role and company, with penalty points; in the caller's scope (the security auditor: all).
#[utoipa::path(get, path = "/api/v1/reports/sla", tag = "reports", security(("bearer" = [])), params(MonthQuery),
    responses((status = 200, body = Vec<SlaView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn sla(
    State(api): State<Api>,
    caller: Caller,
    q: Result<Query<MonthQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<SlaView>>, ApiError> {
    let Query(q) = q?;
    let month = match q.month.as_deref() {
        None => None,
        Some(m) => Some(
            NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
                .map_err(|_| ApiError::bad_request(format!("month `{m}` is not YYYY-MM")))?,
        ),
    };
    Ok(Json(wf::sla_report(&api.app, &caller.who, month).await?.iter().map(SlaView::from).collect()))
}

/// The companies the caller's roles reach, with their tier and operating mode, parents first: a
/// company's own delegates and HR see their company (and its subsidiaries when granted with
/// them), group IT and group HR the whole group.
#[utoipa::path(get, path = "/api/v1/companies", tag = "companies", security(("bearer" = [])),
    responses((status = 200, body = Vec<CompanyView>), (status = 401, body = ErrorBody)))]
pub async fn companies(State(api): State<Api>, caller: Caller) -> Result<Json<Vec<CompanyView>>, ApiError> {
    let list = wf::list_companies(&api.app, &caller.who).await?;
    Ok(Json(list.iter().map(CompanyView::from).collect()))
}

/// Sets a company's operating mode (group IT only).
#[utoipa::path(put, path = "/api/v1/companies/{code}/mode", tag = "companies", security(("bearer" = [])),
    params(("code" = String, Path, description = "Company code")), request_body = ModeInput,
    responses((status = 204, description = "Changed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_mode(
    State(api): State<Api>,
    caller: Caller,
    Path(code): Path<String>,
    ApiJson(m): ApiJson<ModeInput>,
) -> Result<Response, ApiError> {
    let mode = m.mode.parse::<OperatingMode>().map_err(ApiError::unprocessable)?;
    wf::set_company_mode(&api.app, &caller.who, &CompanyCode(code), mode).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Audit records, one page at a time (security auditor and group IT: the whole trail).
/// Query: `login`, `company`, `type` (comma-separated), `outcome`, `ip`, `client`, `since`,
/// `until` (RFC 3339), `after` (the previous page's `next`), `limit` (1–1000), `order`.
#[utoipa::path(get, path = "/api/v1/audit/records", tag = "reports", security(("bearer" = [])),
    responses((status = 200, description = "`{records: [...], next}`", content_type = "application/json"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(api): State<Api>,
    caller: Caller,
    q: Result<Query<RecordsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    if !(caller.who.holds(Role::SecurityAuditor) || caller.who.is_admin()) {
        let d = orgid_directory::workflow::rules::Denied::new(
            "not_auditor",
            "the audit trail is for the security auditor and the group IT center",
            "not_auditor",
            vec![],
        );
        return Err(wf::deny(&api.app, &caller.who, "audit.query", None, d).await.into());
    }
    let Query(q) = q?;
    let scope = audit::Caller { scope: AuditScope::All };
    match audit::query(&api.app.store, api.app.tz, &scope, &q).await {
        Ok(page) => Ok(Json(page).into_response()),
        Err(e) => Ok(e.into_response()),
    }
}
