//! The admin HTTP API under `/api/v1/` (JSON), authenticated with orgid's own access tokens
//! ([`auth::Caller`]) and described by an OpenAPI 3.1 document at `/api/v1/openapi.json`.
//!
//! Every operation is mounted with [`route!`], which takes its method and path from the
//! operation's `#[utoipa::path]` and adds it to the document in the same step: a route cannot be
//! served without being documented, nor documented without being served.

pub mod audit;
pub mod auth;
pub mod dto;
pub mod error;
mod me;
pub mod paging;
mod people;
mod reports;
mod requests;
mod roles;

use std::sync::Arc;

use axum::extract::State;
use axum::handler::Handler;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, any};
use axum::{Json, Router};
use orgid_idp::Provider;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, OpenApiBuilder};

use crate::app::App;
use error::{ApiError, ErrorBody};

/// What every API handler shares.
#[derive(Clone)]
pub struct Api {
    pub app: Arc<App>,
    pub provider: Provider,
    doc: Arc<serde_json::Value>,
}

/// The router under construction and its document.
pub struct Routes {
    router: Router<Api>,
    doc: OpenApi,
    list: Vec<(HttpMethod, String)>,
}

/// The method's name, upper case.
pub fn method_name(m: &HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

fn filter(m: &HttpMethod) -> MethodFilter {
    match m {
        HttpMethod::Get => MethodFilter::GET,
        HttpMethod::Post => MethodFilter::POST,
        HttpMethod::Put => MethodFilter::PUT,
        HttpMethod::Delete => MethodFilter::DELETE,
        HttpMethod::Options => MethodFilter::OPTIONS,
        HttpMethod::Head => MethodFilter::HEAD,
        HttpMethod::Patch => MethodFilter::PATCH,
        HttpMethod::Trace => MethodFilter::TRACE,
    }
}

impl Routes {
    fn new() -> Self {
        let mut doc = OpenApiBuilder::new()
            .info(
                utoipa::openapi::InfoBuilder::new()
                    .title("orgid admin API")
                    .version(env!("CARGO_PKG_VERSION"))
                    .description(Some(
                        "Requests, approvals, accounts, roles and reports of orgid, scoped by the caller's roles. \
                         Authenticate with an access token of orgid's own OpenID Connect provider.",
                    ))
                    .build(),
            )
            .build();
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        Routes { router: Router::new(), doc, list: Vec::new() }
    }

    /// Mounts `handler` at `path` for `methods` and documents it with `op`. Use [`route!`].
    pub fn add<H, T>(mut self, path: String, methods: Vec<HttpMethod>, op: Operation, handler: H) -> Self
    where
        H: Handler<T, Api>,
        T: 'static,
    {
        let Some(first) = methods.first() else { return self };
        let f = methods.iter().skip(1).fold(filter(first), |acc, m| acc.or(filter(m)));
        self.router = self.router.route(&path, MethodRouter::new().on(f, handler));
        for m in &methods {
            self.list.push((m.clone(), path.clone()));
        }
        self.doc.paths.add_path_operation(&path, methods, op);
        self
    }

    /// Registers the schemas the operations refer to.
    fn schemas<S: utoipa::ToSchema>(mut self) -> Self {
        let components = self.doc.components.get_or_insert_with(Default::default);
        components.schemas.insert(S::name().into_owned(), S::schema());
        let mut more = Vec::new();
        S::schemas(&mut more);
        components.schemas.extend(more);
        self
    }
}

/// Mounts an operation: `route!(routes, handler)` uses `handler`'s `#[utoipa::path]`.
macro_rules! route {
    ($routes:expr, $handler:path, $doc:ty) => {{
        use utoipa::Path as _;
        $routes.add(<$doc>::path(), <$doc>::methods(), <$doc>::operation(), $handler)
    }};
}

fn build() -> Routes {
    use dto::*;
    let r = Routes::new()
        .schemas::<ErrorBody>()
        .schemas::<FieldError>()
        .schemas::<me::Me>()
        .schemas::<SubmitInput>()
        .schemas::<DecisionInput>()
        .schemas::<RequestView>()
        .schemas::<ApprovalView>()
        .schemas::<GrantInput>()
        .schemas::<GrantView>()
        .schemas::<AccountView>()
        .schemas::<PersonView>()
        .schemas::<people::ResetDone>()
        .schemas::<SlaView>()
        .schemas::<CompanyView>()
        .schemas::<ModeInput>();
    let r = route!(r, openapi_json, __path_openapi_json);
    let r = route!(r, me::me, me::__path_me);
    let r = route!(r, requests::list, requests::__path_list);
    let r = route!(r, requests::inbox, requests::__path_inbox);
    let r = route!(r, requests::submit, requests::__path_submit);
    let r = route!(r, requests::show, requests::__path_show);
    let r = route!(r, requests::approve, requests::__path_approve);
    let r = route!(r, requests::reject, requests::__path_reject);
    let r = route!(r, requests::cancel, requests::__path_cancel);
    let r = route!(r, people::accounts, people::__path_accounts);
    let r = route!(r, people::account, people::__path_account);
    let r = route!(r, people::reset_password, people::__path_reset_password);
    let r = route!(r, people::people, people::__path_people);
    let r = route!(r, roles::list, roles::__path_list);
    let r = route!(r, roles::grant, roles::__path_grant);
    let r = route!(r, roles::revoke, roles::__path_revoke);
    let r = route!(r, reports::sla, reports::__path_sla);
    let r = route!(r, reports::companies, reports::__path_companies);
    let r = route!(r, reports::set_mode, reports::__path_set_mode);
    route!(r, reports::audit, reports::__path_audit)
}

/// The OpenAPI document of the API.
pub fn openapi() -> OpenApi {
    build().doc
}

/// Every `(method, path)` the API serves, as mounted.
pub fn routes() -> Vec<(String, String)> {
    build().list.into_iter().map(|(m, p)| (method_name(&m).to_string(), p)).collect()
}

/// The API's routes, with a JSON 404 for unknown `/api/v1/` paths.
pub fn router(app: Arc<App>, provider: Provider) -> Router {
    let Routes { router, doc, .. } = build();
    let doc = Arc::new(serde_json::to_value(&doc).unwrap_or_default());
    router
        .route("/api/v1/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(no_store))
        .with_state(Api { app, provider, doc })
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "this operation does not take that method")
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API operation; see /api/v1/openapi.json")
}

async fn no_store(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    res
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json(State(api): State<Api>) -> Response {
    (StatusCode::OK, Json(api.doc.as_ref().clone())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_reference_resolves() {
        let r = build();
        let doc = serde_json::to_value(&r.doc).unwrap_or_default();
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
        for (m, p) in &r.list {
            let m = method_name(m).to_ascii_lowercase();
            assert!(doc["paths"][p][&m].is_object(), "{m} {p} is not in the document");
        }
        let documented: usize = doc["paths"]
            .as_object()
            .map(|ps| ps.values().map(|v| v.as_object().map_or(0, |o| o.len())).sum())
            .unwrap_or(0);
        assert_eq!(documented, r.list.len());
        // What `openapi-spec-validator` checks first (the e2e test runs it): unique operation ids,
        // and a parameter is `in: path` exactly when the path's template names it.
        let mut ids = std::collections::HashSet::new();
        for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
            for (m, op) in ops.as_object().into_iter().flatten() {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(ids.insert(id.to_string()), "operationId `{id}` ({m} {path}) is not unique");
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().unwrap_or_default();
                    let templated = path.contains(&format!("{{{name}}}"));
                    assert_eq!(p["in"] == "path", templated, "{m} {path}: parameter `{name}` is {}", p["in"]);
                }
            }
        }
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap_or_default();
            assert!(doc["components"]["schemas"][name].is_object(), "unresolved $ref {name}");
        }
    }
}
