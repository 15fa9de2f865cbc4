//! Signing in to the console through orgid's own provider, as its client `orgid-console`:
//! authorization code with PKCE (S256), `state` and `nonce` kept in a short-lived sealed cookie;
//! the code is exchanged by calling the provider's `/token` in process (no network hop, the same
//! handler a relying party reaches), and the ID token is verified with openidconnect's
//! `CoreIdTokenVerifier` against the provider's JWKS (issuer, audience, signature, expiry, nonce).

use axum::body::Body;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use chrono::Duration;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, Nonce};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

use super::i18n::{Lang, T};
use super::pages::{self, switch_of, with_lang};
use super::session::Data;
use super::{CLIENT_ID, Console, lang_of, safe_next};

const FLOW_PURPOSE: &str = "console-login";
const FLOW_SECURE: &str = "__Host-orgid_console_login";
const FLOW_PLAIN: &str = "orgid_console_login";

/// What the browser carries between `/console/login` and `/console/callback`. No `Debug`: it
/// holds the PKCE verifier.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    lang: String,
}

impl Console {
    fn flow_cookie_name(&self) -> &'static str {
        if self.provider.secure_cookies() { FLOW_SECURE } else { FLOW_PLAIN }
    }
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

fn fail(lang: Lang, status: StatusCode, msg: T) -> Response {
    (status, pages::error(lang, msg.text(lang))).into_response()
}

/// `GET /console/login`: off to the provider's authorization endpoint.
pub async fn start(State(c): State<Console>, headers: HeaderMap, Query(q): Query<StartQuery>) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let inner = || {
        let random = orgid_idp::keys::random_token;
        let flow = Flow {
            state: random(18)?,
            nonce: random(18)?,
            verifier: random(32)?,
            next: safe_next(q.next.as_deref()),
            lang: lang.code().into(),
        };
        let challenge = B64.encode(ring::digest::digest(&ring::digest::SHA256, flow.verifier.as_bytes()));
        let sealed = c.provider.seal(FLOW_PURPOSE, &flow, Duration::minutes(10))?;
        let redirect_uri = format!("{}/console/callback", c.issuer());
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", "openid profile")
            .append_pair("state", &flow.state)
            .append_pair("nonce", &flow.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("ui_locales", lang.tag())
            .finish();
        let mut res = Redirect::to(&format!("{}/authorize?{query}", c.issuer())).into_response();
        let cookie = format!("{}={sealed}; Max-Age=600{}", c.flow_cookie_name(), c.cookie_attrs());
        if let Ok(v) = cookie.parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        Ok::<_, orgid_idp::IdpError>(res)
    };
    inner().unwrap_or_else(|e| super::unavailable(lang, &e))
}

/// No `Debug`: it holds the authorization code.
#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /console/callback`: checks `state` and `iss`, exchanges the code, verifies the ID
/// token, and starts the console session.
pub async fn callback(State(c): State<Console>, req: axum::extract::Request) -> Response {
    let headers = req.headers();
    let connect = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().cloned();
    let Ok(Query(q)) = Query::<CallbackQuery>::try_from_uri(req.uri()) else {
        return fail(lang_of(headers, None), StatusCode::BAD_REQUEST, T::LoginFailed);
    };
    let flow = orgid_idp::cookie(headers, c.flow_cookie_name()).and_then(|v| c.provider.open::<Flow>(FLOW_PURPOSE, v));
    let Some(flow) = flow else {
        return fail(lang_of(headers, None), StatusCode::BAD_REQUEST, T::LoginExpired);
    };
    let lang = Lang::pick(Some(&flow.lang), None);
    let state_ok = q.state.as_deref().is_some_and(|s| {
        use subtle::ConstantTimeEq;
        s.len() == flow.state.len() && bool::from(s.as_bytes().ct_eq(flow.state.as_bytes()))
    });
    if !state_ok {
        return fail(lang, StatusCode::BAD_REQUEST, T::LoginExpired);
    }
    if q.iss.as_deref().is_some_and(|i| i.trim_end_matches('/') != c.issuer()) {
        return fail(lang, StatusCode::BAD_REQUEST, T::LoginFailed);
    }
    let Some(code) = q.code.filter(|_| q.error.is_none()) else {
        tracing::info!(error = q.error.as_deref().unwrap_or("none"), "console sign-in refused by the provider");
        return fail(lang, StatusCode::FORBIDDEN, T::LoginFailed);
    };
    let user_agent = headers.get(header::USER_AGENT).cloned();
    let data = match c.exchange(&code, &flow, connect, user_agent).await {
        Ok(Ok(d)) => d,
        Ok(Err(why)) => {
            tracing::warn!(why, "console sign-in failed");
            return fail(lang, StatusCode::BAD_REQUEST, T::LoginFailed);
        }
        Err(e) => return super::unavailable(lang, &e),
    };
    let cookie = match c.session_cookie(&data) {
        Ok(v) => v,
        Err(e) => return super::unavailable(lang, &e),
    };
    let mut res = Redirect::to(&with_lang(&flow.next, lang)).into_response();
    for v in [cookie, format!("{}=; Max-Age=0{}", c.flow_cookie_name(), c.cookie_attrs())] {
        if let Ok(v) = v.parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

impl Console {
    /// Calls a provider endpoint in process.
    async fn call(&self, req: Request<Body>) -> anyhow::Result<(StatusCode, serde_json::Value)> {
        let res = self.provider.router().oneshot(req).await?;
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)))
    }

    /// The code for tokens at `/token` (client_secret_basic), then the ID token verified. The
    /// outer error is a failure of orgid itself; the inner one, why the sign-in is refused.
    async fn exchange(
        &self,
        code: &str,
        flow: &Flow,
        connect: Option<ConnectInfo<std::net::SocketAddr>>,
        user_agent: Option<axum::http::HeaderValue>,
    ) -> anyhow::Result<Result<Data, &'static str>> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &format!("{}/console/callback", self.issuer()))
            .append_pair("code_verifier", &flow.verifier)
            .finish();
        let basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{}", self.secret)));
        let mut req = Request::post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, basic)
            .body(Body::from(form))?;
        // The audit trail of the exchange names the browser, as for any sign-in.
        if let Some(ci) = connect {
            req.extensions_mut().insert(ci);
        }
        if let Some(ua) = user_agent {
            req.headers_mut().insert(header::USER_AGENT, ua);
        }
        let (status, tokens) = self.call(req).await?;
        if status != StatusCode::OK {
            tracing::warn!(%status, error = %tokens["error"], "console code exchange refused");
            return Ok(Err("the code exchange was refused"));
        }
        let Some(raw) = tokens["id_token"].as_str() else { return Ok(Err("no ID token")) };
        // The console session lasts as long as the browser's provider session: signing out at
        // the provider, a password reset or a closed account ends it at once.
        let access = tokens["access_token"].as_str().unwrap_or_default();
        let Some(sso) = self.provider.access_session(access).await? else {
            return Ok(Err("the tokens name no provider session"));
        };
        let (status, jwks) = self.call(Request::get("/jwks").body(Body::empty())?).await?;
        if status != StatusCode::OK {
            anyhow::bail!("the provider's JWKS answered {status}");
        }
        let jwks: CoreJsonWebKeySet = serde_json::from_value(jwks)?;
        let clock = self.app.clock.clone();
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(CLIENT_ID.into()),
            ClientSecret::new(self.secret.to_string()),
            IssuerUrl::new(self.issuer().into())?,
            jwks,
        )
        .set_time_fn(move || clock.now());
        let Ok(id_token) = raw.parse::<CoreIdToken>() else { return Ok(Err("the ID token does not parse")) };
        let Ok(claims) = id_token.claims(&verifier, &Nonce::new(flow.nonce.clone())) else {
            return Ok(Err("the ID token does not verify"));
        };
        let Some(login) = claims.preferred_username().map(|u| u.as_str().to_string()) else {
            return Ok(Err("the ID token names no login"));
        };
        let name = claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_string()).unwrap_or(login.clone());
        let now = self.app.clock.now().timestamp();
        Ok(Ok(Data { login, name, start: now, seen: now, idt: raw.to_string(), sso }))
    }
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/logout`: ends the console session, then the provider's (RP-initiated logout
/// with the ID token as hint, so no confirmation is asked), and comes back to the signed-out page.
pub async fn logout(State(c): State<Console>, headers: HeaderMap, Form(f): Form<LogoutForm>) -> Response {
    let lang = lang_of(&headers, None);
    if !c.provider.csrf_ok(&headers, &f.csrf) {
        return fail(lang, StatusCode::BAD_REQUEST, T::BadRequest);
    }
    let data = match c.session_data(&headers).await {
        Ok(d) => d,
        Err(res) => return res,
    };
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", CLIENT_ID)
        .append_pair("post_logout_redirect_uri", &format!("{}/console/signed-out", c.issuer()));
    if let Some(d) = &data {
        q.append_pair("id_token_hint", &d.idt);
    }
    let mut res = Redirect::to(&format!("{}/logout?{}", c.issuer(), q.finish())).into_response();
    if let Ok(v) = c.clear_session_cookie().parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// `GET /console/signed-out`.
pub async fn signed_out(headers: HeaderMap, Query(q): Query<super::LangQuery>) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    pages::render(&pages::Message {
        lang,
        title: T::SignedOutTitle.text(lang),
        bar: None,
        home: with_lang("/console/", lang),
        switch: switch_of("/console/signed-out", lang),
        is_error: false,
        text: T::SignedOut.text(lang),
        link: Some((with_lang("/console/login", lang), T::SignInAgain.text(lang), "signin")),
    })
    .into_response()
}
