//! The landing page of `orgid demo`'s relying party: `/demo/callback` redeems the code at the
//! provider (in process, as the `demo` client) and shows what came back, each token's header and
//! claims decoded, so that a first look at single sign-on needs no curl. Mounted only when a
//! client `demo` with a secret is configured (the demo's configuration has one).

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use orgid_idp::Provider;
use tower::ServiceExt;

use crate::app::App;
use crate::http::console::pages::esc;

pub const CLIENT_ID: &str = "demo";

#[derive(Clone)]
struct Demo {
    provider: Provider,
    secret: String,
}

/// The demo's routes, if a `demo` client with a secret is configured.
pub fn router(app: &App, provider: Provider) -> Option<Router> {
    let client = app.config.clients.iter().find(|c| c.id == CLIENT_ID)?;
    let secret = client.secret.as_ref()?.expose().to_string();
    Some(Router::new().route("/demo/callback", get(callback)).with_state(Demo { provider, secret }))
}

/// A JWT's header and claims, as JSON (not verified: a relying party checks the signature
/// against `/jwks`; this page only shows what the token says).
fn decode_jwt(token: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    let mut parts = token.split('.');
    let mut part =
        || -> Option<serde_json::Value> { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok() };
    Some((part()?, part()?))
}

fn pretty(v: &serde_json::Value) -> String {
    esc(&serde_json::to_string_pretty(v).unwrap_or_default())
}

/// `GET /demo/callback?code=…`: the code redeemed, the tokens shown.
async fn callback(State(d): State<Demo>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(code) = q.get("code") else {
        let why = q.get("error").map_or("no code", String::as_str);
        return page(StatusCode::BAD_REQUEST, &format!("<p class=\"err\">登录未完成 (no code): {}</p>", esc(why)));
    };
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &format!("{}/demo/callback", d.provider.issuer()))
        .finish();
    let basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{}", d.secret)));
    let req = Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, basic)
        .body(Body::from(form));
    let answer = match req {
        Ok(req) => d.provider.router().oneshot(req).await.ok(),
        Err(_) => None,
    };
    let Some(res) = answer else { return page(StatusCode::BAD_GATEWAY, "<p class=\"err\">/token did not answer</p>") };
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap_or_default();
    let tokens: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if status != StatusCode::OK {
        let body = format!("<p class=\"err\">/token: {status}</p><pre id=\"token-error\">{}</pre>", pretty(&tokens));
        return page(StatusCode::BAD_REQUEST, &body);
    }
    let mut body = String::from("<h1>演示应用：登录成功 (signed in)</h1>");
    for (key, title) in [("id_token", "ID token"), ("access_token", "Access token")] {
        let Some((header, claims)) = tokens[key].as_str().and_then(decode_jwt) else { continue };
        body.push_str(&format!(
            "<h2>{title}</h2><h3>header</h3><pre id=\"{key}-header\">{}</pre><h3>claims</h3><pre id=\"{key}-claims\">{}</pre>",
            pretty(&header),
            pretty(&claims)
        ));
    }
    body.push_str(&format!("<h2>/token</h2><pre id=\"token-response\">{}</pre>", pretty(&tokens)));
    page(StatusCode::OK, &body)
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width,initial-scale=1\"><title>演示应用 (demo)</title><style>body{{font-family:system-ui,\
         sans-serif;margin:1rem;max-width:60rem}}pre{{background:#f3f5f8;padding:.6rem;overflow-x:auto;white-space:pre-wrap;\
         word-break:break-all}}.err{{color:#991b1b}}</style></head><body>{body}</body></html>"
    );
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    res
}
