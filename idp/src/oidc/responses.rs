//! The JSON answers of the OAuth endpoints (token, introspection, revocation): bodies and the
//! RFC 6749 §5.2 errors, never cached; a store failure is `temporarily_unavailable`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::client_auth::ClientAuthError;
use crate::IdpError;

/// An OAuth error response (RFC 6749 §5.2), never cached.
pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = (status, Json(json!({ "error": error, "error_description": description }))).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub(super) fn client_auth_error(e: ClientAuthError) -> Response {
    match e {
        ClientAuthError::Malformed(why) => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why),
        ClientAuthError::Failed { basic } => {
            let mut res = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
            if basic {
                res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"orgid\""));
            }
            res
        }
    }
}

pub(super) fn server_error(e: &IdpError) -> Response {
    tracing::error!(error = %e, "token endpoint failure");
    oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again later")
}

pub(super) fn ok_json(body: serde_json::Value) -> Response {
    let mut res = Json(body).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub(super) fn invalid_grant(why: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why)
}
