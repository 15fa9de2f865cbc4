//! Token introspection (RFC 7662) and revocation (RFC 7009), for authenticated clients: a
//! refresh token revokes its whole grant, an access token only itself.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use orgid_directory::idp::TokenKind;
use serde_json::json;

use super::client_auth::ClientAuthError;
use super::jwt;
use super::responses::{client_auth_error, oauth_error, ok_json, server_error};
use crate::crypto::sha256_hex;
use crate::{IdpError, Provider};

pub(crate) fn routes() -> Router<Provider> {
    Router::new().route("/introspect", post(introspect)).route("/revoke", post(revoke))
}

async fn introspect(State(p): State<Provider>, headers: HeaderMap, Form(f): Form<HashMap<String, String>>) -> Response {
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let client = match p.authenticate_client(&headers, get("client_id"), get("client_secret")).await {
        Ok(Ok(c)) if !c.is_public() => c,
        Ok(Ok(_)) => return client_auth_error(ClientAuthError::Failed { basic: false }),
        Ok(Err(e)) => return client_auth_error(e),
        Err(e) => return server_error(&e),
    };
    let Some(token) = get("token") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "token is required");
    };
    let result = async {
        if let Some((c, subject)) = p.live_access(token).await? {
            let mut body = json!({
                "active": true, "token_type": "Bearer", "scope": c.scope, "client_id": c.client_id,
                "sub": c.sub, "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat, "jti": c.jti,
            });
            if let Some(s) = subject {
                body["username"] = json!(s.login);
            }
            return Ok(body);
        }
        if let Some(rec) = p.live_refresh(token).await? {
            let mut body = json!({
                "active": true, "token_type": "refresh_token", "scope": rec.scope, "client_id": rec.client_id,
                "exp": rec.expires_at.timestamp(), "iat": rec.issued_at.timestamp(), "iss": p.issuer(),
            });
            if let Some(l) = &rec.login
                && let Some(s) = p.inner.store.subject(l).await?
            {
                body["sub"] = json!(p.subject_id(&s.person_key));
                body["username"] = json!(s.login);
            }
            return Ok(body);
        }
        Ok::<_, IdpError>(json!({ "active": false }))
    }
    .await;
    let _ = client;
    match result {
        Ok(body) => ok_json(body),
        Err(e) => server_error(&e),
    }
}

async fn revoke(State(p): State<Provider>, headers: HeaderMap, Form(f): Form<HashMap<String, String>>) -> Response {
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let client = match p.authenticate_client(&headers, get("client_id"), get("client_secret")).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return client_auth_error(e),
        Err(e) => return server_error(&e),
    };
    let Some(token) = get("token") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "token is required");
    };
    let now = p.now();
    let result = async {
        // A refresh token revokes its whole grant; an access token only itself. Tokens of other
        // clients are left alone, and unknown tokens are not an error (RFC 7009 §2.2).
        if let Some(rec) = p.inner.store.token(&sha256_hex(token)).await?
            && rec.kind == TokenKind::Refresh
            && rec.client_id == client.id
        {
            p.inner.store.revoke_grant(&rec.grant_id, now).await?;
        } else if let Ok(Ok(c)) = jwt::verify(token, &p.inner.keys, p.issuer(), now).await
            && c.client_id == client.id
        {
            if p.inner.store.token(&c.jti).await?.is_some() {
                p.inner.store.revoke_token(&c.jti, now).await?;
            } else if super::verify::is_self_contained(&c) {
                let expires = chrono::DateTime::from_timestamp(c.exp, 0).unwrap_or(now);
                p.inner.store.revoke_access(&c.jti, &c.client_id, expires, now).await?;
            }
        }
        Ok::<_, IdpError>(())
    }
    .await;
    match result {
        Ok(()) => {
            let mut res = StatusCode::OK.into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => server_error(&e),
    }
}
