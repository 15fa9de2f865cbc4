//! The admin HTTP API for audit queries: `GET /api/audit/records`, one page at a time.
//!
//! Authentication is not here: the handler takes a `Caller` request extension, which the
//! authentication layer (orgid's own OIDC tokens, issue 4) must insert after resolving the
//! caller's role — the security-auditor role to `AuditScope::All`, a delegate to their company.
//! Without that extension axum answers 500, so the route fails closed. `serve` does not mount
//! this router: the admin API serves `GET /api/v1/audit/records` (bearer token, security auditor
//! or group IT, whole trail) through [`query`].

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use orgid_directory::audit::{AuditFilter, AuditOutcome, AuditScope, Cursor, EventKind, Order, PageRequest};
use orgid_directory::{AuditStore, CompanyCode, StoreError};
use serde::{Deserialize, Serialize};

use crate::services::audit::RecordView;

/// Who is asking, as the authentication layer resolved it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub scope: AuditScope,
}

#[derive(Clone)]
struct ApiState {
    store: Arc<dyn AuditStore>,
    tz: Tz,
}

/// The routes, to be mounted behind the authentication layer.
pub fn router(store: Arc<dyn AuditStore>, tz: Tz) -> Router {
    Router::new().route("/api/audit/records", get(records)).with_state(ApiState { store, tz })
}

/// The query string: every filter optional; times RFC 3339; `type` comma-separated.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsQuery {
    pub login: Option<String>,
    pub company: Option<String>,
    #[serde(rename = "type")]
    pub kinds: Option<String>,
    pub outcome: Option<String>,
    pub ip: Option<String>,
    pub client: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    pub limit: Option<u32>,
    /// `newest_first` (default) or `oldest_first`.
    pub order: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RecordsPage {
    pub records: Vec<RecordView>,
    pub next: Option<Cursor>,
}

/// Every way a request can fail, with its status.
#[derive(Debug, thiserror::Error)]
pub enum AuditApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a delegate sees only the records of their own company")]
    OutOfScope,
    #[error("storage error")]
    Store(#[from] StoreError),
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
}

impl IntoResponse for AuditApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AuditApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AuditApiError::OutOfScope => (StatusCode::FORBIDDEN, "forbidden"),
            AuditApiError::Store(e) => {
                tracing::error!("audit query: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
            }
        };
        (status, Json(ErrorBody { error: code, message: self.to_string() })).into_response()
    }
}

fn bad(what: &str, e: impl std::fmt::Display) -> AuditApiError {
    AuditApiError::BadRequest(format!("{what}: {e}"))
}

fn time(what: &str, s: Option<&str>) -> Result<Option<DateTime<Utc>>, AuditApiError> {
    s.map(|s| DateTime::parse_from_rfc3339(s).map(|t| t.to_utc()).map_err(|e| bad(what, format!("not RFC 3339: {e}"))))
        .transpose()
}

impl RecordsQuery {
    fn filter(&self) -> Result<AuditFilter, AuditApiError> {
        let kinds = match &self.kinds {
            Some(k) => {
                k.split(',').map(|k| k.parse::<EventKind>().map_err(|e| bad("type", e))).collect::<Result<_, _>>()?
            }
            None => Vec::new(),
        };
        let ip = self
            .ip
            .as_deref()
            .map(|ip| ip.trim().parse::<std::net::IpAddr>().map_err(|_| bad("ip", "not an IP address")))
            .transpose()?;
        Ok(AuditFilter {
            login: self.login.clone(),
            company: self.company.clone().map(CompanyCode),
            kinds,
            outcome: self
                .outcome
                .as_deref()
                .map(|o| o.parse::<AuditOutcome>().map_err(|e| bad("outcome", e)))
                .transpose()?,
            source_ip: ip.map(|ip| ip.to_canonical().to_string()),
            client_id: self.client.clone(),
            since: time("since", self.since.as_deref())?,
            until: time("until", self.until.as_deref())?,
        })
    }

    fn page(&self) -> Result<PageRequest, AuditApiError> {
        let order = match self.order.as_deref() {
            None | Some("newest_first") => Order::NewestFirst,
            Some("oldest_first") => Order::OldestFirst,
            Some(_) => return Err(bad("order", "newest_first or oldest_first")),
        };
        let limit = self.limit.unwrap_or(100);
        if limit == 0 || limit > 1_000 {
            return Err(bad("limit", "between 1 and 1000"));
        }
        let after = self.after.as_deref().map(|a| a.parse::<Cursor>().map_err(|e| bad("after", e))).transpose()?;
        Ok(PageRequest { order, after, limit })
    }
}

/// Extract, authorise, validate, query, map.
async fn records(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RecordsQuery>,
) -> Result<Json<RecordsPage>, AuditApiError> {
    query(s.store.as_ref(), s.tz, &caller, &q).await.map(Json)
}

/// One page of audit records for `caller` (validate, check the scope, query, map); the admin
/// API's `/api/v1/audit/records` calls it after resolving the caller's roles.
pub async fn query(
    store: &dyn AuditStore,
    tz: Tz,
    caller: &Caller,
    q: &RecordsQuery,
) -> Result<RecordsPage, AuditApiError> {
    let filter = q.filter()?;
    if caller.scope.excludes(&filter) {
        return Err(AuditApiError::OutOfScope);
    }
    let page = store.audit_query(&caller.scope, &filter, q.page()?).await?;
    Ok(RecordsPage { records: page.records.iter().map(|r| RecordView::new(r, tz)).collect(), next: page.next })
}
