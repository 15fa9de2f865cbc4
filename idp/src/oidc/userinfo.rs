//! The userinfo endpoint (OpenID Connect Core §5.3): the claims of a live access token's account,
//! by its scope, with RFC 6750 bearer errors.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::claims;
use super::responses::{ok_json, server_error};
use crate::Provider;

pub(crate) fn routes() -> Router<Provider> {
    Router::new().route("/userinfo", get(userinfo).post(userinfo))
}

fn bearer_error(status: StatusCode, error: &str) -> Response {
    let mut res = status.into_response();
    let v = if error.is_empty() {
        "Bearer realm=\"orgid\"".to_string()
    } else {
        format!("Bearer realm=\"orgid\", error=\"{error}\"")
    };
    if let Ok(v) = v.parse() {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

async fn userinfo(State(p): State<Provider>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| (v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ")).then(|| v[7..].trim().to_string()));
    let from_body = url::form_urlencoded::parse(&body).find(|(k, _)| k == "access_token").map(|(_, v)| v.into_owned());
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => return bearer_error(StatusCode::BAD_REQUEST, "invalid_request"),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return bearer_error(StatusCode::UNAUTHORIZED, ""),
    };
    match p.live_access(&token).await {
        Ok(Some((claims, Some(subject)))) if claims::has(&claims.scope, "openid") => {
            ok_json(claims::userinfo(&claims.sub, &subject, &claims.scope))
        }
        Ok(Some(_)) => bearer_error(StatusCode::FORBIDDEN, "insufficient_scope"),
        Ok(None) => bearer_error(StatusCode::UNAUTHORIZED, "invalid_token"),
        Err(e) => server_error(&e),
    }
}
