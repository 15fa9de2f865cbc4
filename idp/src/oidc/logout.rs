//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the SSO session for every
//! client. With a valid `id_token_hint` of the signed-in user it happens at once; otherwise the
//! user confirms (a cross-site GET must not sign anyone out), with a form that acts once.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::audit::Peer;
use crate::crypto::{random_token, sha256_hex};
use crate::i18n::{Lang, Msg};
use crate::login::pages;
use crate::respond::with_query;
use crate::{IdpError, Provider};

/// The purpose the confirmation form's state is sealed for, and how long it lasts.
const LOGOUT_PURPOSE: &str = "logout";
const LOGOUT_TTL_MIN: i64 = 15;

pub(crate) fn routes() -> Router<Provider> {
    Router::new().route("/logout", get(logout_get).post(logout_post)).route("/logout/confirm", post(confirm))
}

/// Where to go after logout, carried through the confirmation.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct After {
    redirect: Option<String>,
    state: Option<String>,
    /// The client that asked (for the audit record).
    #[serde(default)]
    client_id: Option<String>,
    /// The confirmation form's id, spent when it is posted.
    #[serde(default)]
    form: String,
}

async fn logout_get(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    p.logout(&headers, &peer, q).await.unwrap_or_else(|e| crate::unavailable(&e, Lang::Zh))
}

async fn logout_post(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Form(q): Form<HashMap<String, String>>,
) -> Response {
    p.logout(&headers, &peer, q).await.unwrap_or_else(|e| crate::unavailable(&e, Lang::Zh))
}

impl Provider {
    async fn logout(&self, headers: &HeaderMap, peer: &Peer, q: HashMap<String, String>) -> Result<Response, IdpError> {
        let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let lang = Lang::pick(get("ui_locales"), headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
        let hint = match get("id_token_hint") {
            Some(t) => match self.id_token_subject(t, get("client_id").unwrap_or("")).await? {
                Some(sub) => Some((sub, self.hint_audience(t))),
                None => {
                    return Ok((
                        StatusCode::BAD_REQUEST,
                        pages::error(lang, Msg::BadRequest.text(lang), Some("id_token_hint")),
                    )
                        .into_response());
                }
            },
            None => None,
        };
        // The post-logout redirect must be registered for the client named by the hint or client_id.
        let client_id = get("client_id").map(str::to_string).or_else(|| hint.as_ref().and_then(|h| h.1.clone()));
        let mut after = After {
            redirect: None,
            state: get("state").map(str::to_string),
            client_id: client_id.clone(),
            form: String::new(),
        };
        if let Some(uri) = get("post_logout_redirect_uri") {
            let client = match &client_id {
                Some(id) => self.client(id).await?,
                None => None,
            };
            match client {
                Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => {
                    after.redirect = Some(uri.to_string())
                }
                _ => {
                    return Ok((StatusCode::BAD_REQUEST, pages::error(lang, Msg::BadRedirect.text(lang), None))
                        .into_response());
                }
            }
        }
        let session = self.current_session(headers).await?;
        let hinted_user = match (&hint, &session) {
            (Some((sub, _)), Some(s)) => match self.inner.store.subject(&s.login).await? {
                Some(subject) => self.subject_id(&subject.person_key) == *sub,
                None => false,
            },
            _ => false,
        };
        if session.is_none() || hinted_user {
            return self.finish_logout(headers, peer, lang, after).await;
        }
        let (csrf, set) = self.csrf(headers)?;
        let carry =
            self.seal(LOGOUT_PURPOSE, &After { form: random_token(16)?, ..after }, Duration::minutes(LOGOUT_TTL_MIN))?;
        let mut res = pages::logout_confirm(lang, &csrf, &carry).into_response();
        if let Some(Ok(v)) = set.map(|s| s.parse()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        Ok(res)
    }

    fn hint_audience(&self, token: &str) -> Option<String> {
        use base64::Engine;
        let payload = token.split('.').nth(1)?;
        let v: serde_json::Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        match &v["aud"] {
            serde_json::Value::String(a) => Some(a.clone()),
            serde_json::Value::Array(a) => a.first().and_then(|x| x.as_str()).map(str::to_string),
            _ => None,
        }
    }

    async fn finish_logout(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        lang: Lang,
        after: After,
    ) -> Result<Response, IdpError> {
        let mut frames = self.front_channel_frames(headers).await?;
        // The SAML SPs of the session: a signed LogoutRequest each, through the browser.
        let saml = match self.session_hash_of(headers) {
            Some(hash) if self.inner.store.session(&hash).await?.is_some() => {
                self.saml_logout_frames(&hash, peer).await?
            }
            _ => Vec::new(),
        };
        let own = (!saml.is_empty()).then(|| self.issuer().to_string());
        frames.extend(saml);
        self.end_browser_session(headers, peer, after.client_id.as_deref()).await?;
        let mut res = match &after.redirect {
            _ if !frames.is_empty() => {
                let next = after.redirect.as_ref().map(|uri| {
                    let q: Vec<(&str, &str)> = after.state.iter().map(|s| ("state", s.as_str())).collect();
                    with_query(uri, &q)
                });
                front_channel_page(lang, &frames, own.as_deref(), next.as_deref())
            }
            Some(uri) => {
                let mut q = vec![];
                if let Some(s) = &after.state {
                    q.push(("state", s.as_str()));
                }
                let mut r = StatusCode::SEE_OTHER.into_response();
                if let Ok(v) = with_query(uri, &q).parse() {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            None => pages::message(lang, Msg::LoggedOutTitle, Msg::LoggedOut).into_response(),
        };
        if let Ok(v) = self.clear_session_cookie().parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        Ok(res)
    }
}

impl Provider {
    /// The front-channel logout URIs (with `iss` and `sid`, OpenID Connect Front-Channel Logout
    /// 1.0 §2) of the clients that got a code in this browser's session.
    async fn front_channel_frames(&self, headers: &HeaderMap) -> Result<Vec<String>, IdpError> {
        let Some(hash) = self.session_hash_of(headers) else { return Ok(Vec::new()) };
        let mut frames = Vec::new();
        for id in self.inner.store.session_clients(&hash).await? {
            if let Some(uri) = self.client(&id).await?.and_then(|c| c.frontchannel_logout_uri) {
                frames.push(with_query(&uri, &[("iss", self.issuer()), ("sid", &self.sid(&hash))]));
            }
        }
        Ok(frames)
    }
}

/// The logged-out page with an iframe per front-channel client and per SAML SP (its CSP lets
/// exactly their origins be framed, and orgid's own, `own`, where an SP's LogoutResponse comes
/// back), going on to `next` (the post-logout redirect) when they have loaded.
fn front_channel_page(lang: Lang, frames: &[String], own: Option<&str>, next: Option<&str>) -> Response {
    let esc = pages::esc;
    let mut origins: Vec<String> = frames
        .iter()
        .map(String::as_str)
        .chain(own)
        .filter_map(|f| url::Url::parse(f).ok())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    origins.sort();
    origins.dedup();
    let iframes: String = frames
        .iter()
        .map(|f| format!("<iframe src=\"{}\" width=\"0\" height=\"0\" style=\"display:none\"></iframe>", esc(f)))
        .collect();
    let go = next
        .map(|n| format!("<p><a href=\"{0}\">{1}</a></p>", esc(n), esc(crate::delegation::t(lang, "继续", "Continue"))))
        .unwrap_or_default();
    let body = format!(
        "<h1>{}</h1><p>{}</p>{iframes}{go}",
        esc(Msg::LoggedOutTitle.text(lang)),
        esc(Msg::LoggedOut.text(lang))
    );
    let mut html = pages::layout(lang, Msg::LoggedOutTitle.text(lang), &body, None).0;
    if let Some(n) = next {
        // Off to the client once the frames had their time (no scripts on orgid's pages).
        html = html.replacen("<head>", &format!("<head><meta http-equiv=\"refresh\" content=\"2;url={}\">", esc(n)), 1);
    }
    let mut res = axum::response::Html(html).into_response();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; frame-src {}; frame-ancestors 'none'; base-uri 'none'",
        origins.join(" ")
    );
    if let Ok(v) = csp.parse() {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

#[derive(Deserialize)]
struct ConfirmForm {
    csrf: String,
    carry: String,
    #[serde(default)]
    lang: String,
}

async fn confirm(State(p): State<Provider>, peer: Peer, headers: HeaderMap, Form(f): Form<ConfirmForm>) -> Response {
    let lang = Lang::pick(Some(&f.lang), None);
    let expired =
        || (StatusCode::BAD_REQUEST, pages::error(lang, Msg::SessionExpired.text(lang), None)).into_response();
    let Some(after) = p.open::<After>(LOGOUT_PURPOSE, &f.carry).filter(|_| p.csrf_ok(&headers, &f.csrf)) else {
        return expired();
    };
    let result = async {
        let until = p.now() + Duration::minutes(LOGOUT_TTL_MIN);
        if after.form.is_empty() || !p.inner.store.spend_form(&sha256_hex(&after.form), until).await? {
            return Ok(expired());
        }
        p.finish_logout(&headers, &peer, lang, after).await
    }
    .await;
    result.unwrap_or_else(|e: IdpError| crate::unavailable(&e, lang))
}
