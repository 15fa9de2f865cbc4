//! The admin API's error answers: JSON `{error, code?, reason}` with a fitting status, never a
//! 500 for bad input.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `invalid_token`, `forbidden`, `not_found`, `invalid_request`, `unprocessable`, `unavailable`.
    pub error: &'static str,
    /// For refusals: why, as a stable code (`out_of_scope`, `own_request`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// A sentence for people.
    pub reason: String,
}

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// RFC 6750 `WWW-Authenticate` value, for 401s.
    pub challenge: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, reason: impl Into<String>) -> Self {
        ApiError { status, body: ErrorBody { error, code: None, reason: reason.into() }, challenge: None }
    }

    /// No credentials: 401 with a bare challenge (RFC 6750 §3.1: no error code).
    pub fn no_token() -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", "a bearer access token is required");
        e.challenge = Some("Bearer realm=\"orgid\"");
        e
    }

    /// Credentials that are not a live access token: 401 `invalid_token`.
    pub fn invalid_token() -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is not valid");
        e.challenge = Some("Bearer realm=\"orgid\", error=\"invalid_token\"");
        e
    }

    /// A malformed `Authorization` header: 400 `invalid_request`.
    pub fn malformed_credentials() -> Self {
        let mut e = Self::bad_request("malformed Authorization header");
        e.challenge = Some("Bearer realm=\"orgid\", error=\"invalid_request\"");
        e
    }

    /// A refusal by the rules: 403 with the refusal's code.
    pub fn forbidden(code: &'static str, reason: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::FORBIDDEN, "forbidden", reason);
        e.body.code = Some(code);
        e
    }

    /// Bad input the API cannot read (a query parameter, malformed JSON): 400 `invalid_request`.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", reason)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn unprocessable(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", reason)
    }

    /// A failure of orgid or its store: logged, 503 to the caller without details.
    pub fn unavailable(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "admin API failure");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the service is temporarily unavailable")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.body)).into_response();
        if let Some(c) = self.challenge {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

/// A JSON request body whose rejection is an [`ApiError`]: 400 for syntax, 415 without the
/// JSON content type, 422 for the wrong shape.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(match r {
                JsonRejection::JsonDataError(e) => ApiError::unprocessable(e.body_text()),
                JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(e.body_text()),
                JsonRejection::MissingJsonContentType(e) => {
                    ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request", e.body_text())
                }
                other => ApiError::bad_request(other.body_text()),
            }),
        }
    }
}

impl From<crate::services::workflow::WorkflowError> for ApiError {
    fn from(e: crate::services::workflow::WorkflowError) -> Self {
        use crate::services::workflow::WorkflowError as W;
        match e {
            W::Denied(d) => ApiError::forbidden(d.code, d.reason),
            W::NotFound(what) => ApiError::not_found(format!("not found: {what}")),
            W::Invalid(why) => ApiError::unprocessable(why),
            W::Store(e) => ApiError::unavailable(&format!("{e:#}")),
        }
    }
}

/// Field problems of an input: 422 with every problem listed.
pub fn invalid_fields(errors: Vec<super::dto::FieldError>) -> Response {
    #[derive(Serialize)]
    struct Body {
        error: &'static str,
        reason: String,
        fields: Vec<super::dto::FieldError>,
    }
    let reason = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
    (StatusCode::UNPROCESSABLE_ENTITY, Json(Body { error: "unprocessable", reason, fields: errors })).into_response()
}

/// A numeric `{id}` path segment; anything else is a 404 (no such thing), in JSON.
pub struct Id(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<i64>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(id)) => Ok(Id(id)),
            Err(_) => Err(ApiError::not_found("no such id")),
        }
    }
}

/// An optional JSON body: empty is `None`; otherwise it must parse (400 for syntax, 422 for shape).
/// A query string that does not fit its parameters: 400 `invalid_request`.
impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}

pub fn optional_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        if e.is_data() {
            ApiError::unprocessable(e.to_string())
        } else {
            ApiError::bad_request(format!("malformed JSON: {e}"))
        }
    })
}
