//! Sign in with WeCom (企业微信): inside the WeCom app (its OAuth2 web authorization, scope
//! `snsapi_base`) or by scanning a QR code (its web login), both ending in orgid's own SSO session
//! through the same `complete` as a password, so every face's client is signed in as usual.
//!
//! The browser is sent to WeCom with a `state` (40 hex digits: WeCom allows `a-zA-Z0-9`, at most
//! 128 bytes) and a sealed cookie holding that state and the face's request: the callback is taken
//! only with the cookie of the browser that started it (CSRF), and each state only once (spent in
//! the store, as the login forms are). WeCom's code is turned into a userid by the daemon's
//! [`WecomSignIn`] (the provider makes no WeCom API calls of its own); the userid is the login.
//! Per client (`wecom_login`), WeCom's word is enough or the password is still asked.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Duration;
use orgid_config::WecomLogin;
use orgid_directory::AccountStatus;
use orgid_directory::audit::{AuditEvent, LoginFailure};
use serde::{Deserialize, Serialize};

use super::{Checked, Pending, REQUEST_PURPOSE, Resume, pages};
use crate::audit::Peer;
use crate::crypto::{ct_eq, random_token, sha256_hex};
use crate::i18n::{Lang, Msg};
use crate::respond::{form_lang, lang_of, page, see_other, with_query};
use crate::session::cookie;
use crate::{Client, IdpError, Provider};

/// Turns the code WeCom's redirect carries into the member's userid (`auth/getuserinfo`).
#[async_trait::async_trait]
pub trait WecomSignIn: Send + Sync {
    /// The userid; `Ok(None)` when WeCom does not vouch for anyone: the code is invalid, spent or
    /// expired (40029), or the person is not a member of the enterprise (an `openid` only).
    /// The error text is logged: it must not contain the code or a token.
    async fn userid(&self, code: &str) -> Result<Option<String>, String>;
}

/// Where WeCom is and which app signs people in (`[wecom]` with `sign_in = true`).
#[derive(Debug, Clone)]
pub struct WecomSettings {
    pub corp_id: String,
    pub agent_id: i64,
    /// The OAuth2 authorization page's base (`https://open.weixin.qq.com`).
    pub oauth_url: String,
    /// The web login page's base (`https://login.work.weixin.qq.com`).
    pub sso_url: String,
}

impl WecomSettings {
    pub fn from_config(w: &orgid_config::WecomConfig) -> Option<Self> {
        w.sign_in.then(|| WecomSettings {
            corp_id: w.corp_id.clone(),
            agent_id: w.agent_id,
            oauth_url: w.oauth_url.trim_end_matches('/').to_string(),
            sso_url: w.sso_url.trim_end_matches('/').to_string(),
        })
    }
}

/// How the browser meets WeCom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Via {
    /// Inside the WeCom app: OAuth2 web authorization, silent (`snsapi_base`).
    App,
    /// A browser elsewhere: WeCom's web login page with its QR code.
    Qr,
}

/// What the start cookie holds (sealed): the state sent to WeCom and the request it resumes.
#[derive(Debug, Serialize, Deserialize)]
struct Started {
    state: String,
    req: Resume,
    via: Via,
}

const STARTED_PURPOSE: &str = "wecom-start";
/// WeCom's code lives 5 minutes; a person scanning a QR code may take longer to find the phone.
const START_TTL_MIN: i64 = 10;
const COOKIE_SECURE: &str = "__Host-orgid_wecom";
const COOKIE_PLAIN: &str = "orgid_wecom";
/// The pending login of the password step after WeCom (`step_up`).
const STEP_PURPOSE: &str = "wecom-step";

pub(crate) fn routes() -> Router<Provider> {
    Router::new()
        .route("/login/wecom", get(start))
        .route("/login/wecom/callback", get(callback))
        .route("/login/wecom/password", post(password_post))
}

/// Whether this user agent is WeCom's own browser (its UA carries `wxwork/`).
pub(crate) fn in_wecom(headers: &HeaderMap) -> bool {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).is_some_and(|ua| ua.contains("wxwork"))
}

impl Provider {
    /// Whether WeCom sign-in is offered to `client`.
    pub(crate) fn wecom_offered(&self, client: &Client) -> bool {
        self.inner.settings.wecom.is_some() && self.inner.wecom.get().is_some() && client.wecom_login != WecomLogin::Off
    }

    /// A session that WeCom alone opened does not cover a client that asks for the password too.
    pub(crate) fn wecom_step_missing(&self, client: &Client, amr: &[String]) -> bool {
        client.wecom_login == WecomLogin::StepUp && amr.iter().any(|a| a == "wecom") && !amr.iter().any(|a| a == "pwd")
    }

    /// The link that starts a sign-in with WeCom for a sealed request (`via` is added).
    pub(crate) fn wecom_start_link(&self, lang: Lang, sealed_req: &str) -> String {
        format!("/login/wecom?lang={}&req={sealed_req}", lang.code())
    }

    fn wecom_cookie_name(&self) -> &'static str {
        if self.inner.settings.secure_cookies() { COOKIE_SECURE } else { COOKIE_PLAIN }
    }

    fn callback_url(&self) -> String {
        format!("{}/login/wecom/callback", self.inner.settings.oidc.issuer.trim_end_matches('/'))
    }

    /// A refused sign-in with WeCom: its audit record (amr `wecom`), then the zh-CN page.
    #[allow(clippy::too_many_arguments)]
    async fn wecom_refused(
        &self,
        peer: &Peer,
        lang: Lang,
        client_id: Option<&str>,
        login: &str,
        why: LoginFailure,
        text: Msg,
        clear: Option<String>,
    ) -> Response {
        let company = match self.inner.store.subject(login).await {
            Ok(s) => s.map(|s| s.company),
            Err(e) => return crate::unavailable(&e.into(), lang),
        };
        let ctx = peer.context(client_id, None);
        let refused = AuditEvent::login_failed(self.now(), login, company.as_ref(), why, &ctx).attr("amr", "wecom");
        if let Err(e) = self.inner.store.record_refusal(&refused).await {
            return crate::unavailable(&e.into(), lang);
        }
        self.seen_login(Some(why));
        page(StatusCode::FORBIDDEN, &[clear], pages::error(lang, text.text(lang), None))
    }
}

/// GET /login/wecom?req=…&via=app|qr: to WeCom, with a new state bound to this browser.
async fn start(State(p): State<Provider>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let lang = lang_of(&q, &headers);
    let expired = || page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    let Some(req) = q.get("req").and_then(|r| p.open::<Resume>(REQUEST_PURPOSE, r)) else { return expired() };
    let Some(w) = p.inner.settings.wecom.clone() else { return expired() };
    match p.client(&req.client_id).await {
        Ok(Some(c)) if p.wecom_offered(&c) => {}
        Ok(_) => return expired(),
        Err(e) => return crate::unavailable(&e, lang),
    }
    let via = match q.get("via").map(String::as_str) {
        Some("app") => Via::App,
        Some("qr") | None => Via::Qr,
        Some(_) => return expired(),
    };
    let result = (|| {
        let state = sha256_hex(&random_token(32)?)[..40].to_string();
        let sealed =
            p.seal(STARTED_PURPOSE, &Started { state: state.clone(), req, via }, Duration::minutes(START_TTL_MIN))?;
        let set = format!("{}={sealed}{}", p.wecom_cookie_name(), p.cookie_attrs());
        let agent = w.agent_id.to_string();
        let redirect = p.callback_url();
        let to = match via {
            // The fragment tells WeCom's browser to add the member's identity.
            Via::App => {
                let base = with_query(
                    &format!("{}/connect/oauth2/authorize", w.oauth_url),
                    &[
                        ("appid", &w.corp_id),
                        ("redirect_uri", &redirect),
                        ("response_type", "code"),
                        ("scope", "snsapi_base"),
                        ("state", &state),
                        ("agentid", &agent),
                    ],
                );
                format!("{base}#wechat_redirect")
            }
            Via::Qr => with_query(
                &format!("{}/wwlogin/sso/login", w.sso_url),
                &[
                    ("login_type", "CorpApp"),
                    ("appid", &w.corp_id),
                    ("agentid", &agent),
                    ("redirect_uri", &redirect),
                    ("state", &state),
                    ("lang", lang.code()),
                ],
            ),
        };
        Ok::<_, IdpError>(see_other(&to, &[Some(set)]))
    })();
    result.unwrap_or_else(|e| crate::unavailable(&e, lang))
}

/// GET /login/wecom/callback?code=…&state=…: WeCom's answer, taken once, from the browser that
/// asked.
async fn callback(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&q, &headers);
    let clear = Some(format!("{}=; Max-Age=0{}", p.wecom_cookie_name(), p.cookie_attrs()));
    let state = q.get("state").map(String::as_str).unwrap_or_default();
    let started = cookie(&headers, p.wecom_cookie_name()).and_then(|c| p.open::<Started>(STARTED_PURPOSE, c));
    let refused = |client: Option<String>, login: String, why, text| {
        let (p, peer, clear) = (p.clone(), peer.clone(), clear.clone());
        async move { p.wecom_refused(&peer, lang, client.as_deref(), &login, why, text, clear).await }
    };
    // Another browser's state, a forged or expired cookie, or none: nobody is vouched for.
    let Some(started) = started.filter(|s| !state.is_empty() && ct_eq(s.state.as_bytes(), state.as_bytes())) else {
        return refused(None, String::new(), LoginFailure::ExternalRefused, Msg::WecomInvalid).await;
    };
    let client_id = Some(started.req.client_id.clone());
    let spent_until = p.now() + Duration::minutes(START_TTL_MIN);
    match p.inner.store.spend_form(&sha256_hex(&format!("wecom\0{state}")), spent_until).await {
        Ok(true) => {}
        Ok(false) => return refused(client_id, String::new(), LoginFailure::ExternalRefused, Msg::WecomInvalid).await,
        Err(e) => return crate::unavailable(&e.into(), lang),
    }
    // No code: the person declined, or WeCom's page was left.
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return refused(client_id, String::new(), LoginFailure::ExternalRefused, Msg::WecomInvalid).await;
    };
    let Some(wecom) = p.inner.wecom.get().cloned() else {
        return crate::unavailable(&IdpError::Internal("WeCom sign-in is not wired".into()), lang);
    };
    let userid = match wecom.userid(code).await {
        Ok(Some(u)) => u,
        Ok(None) => return refused(client_id, String::new(), LoginFailure::ExternalRefused, Msg::WecomInvalid).await,
        Err(e) => {
            tracing::warn!(error = %e, "WeCom did not answer a sign-in");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                &[clear],
                pages::error(lang, Msg::WecomUnavailable.text(lang), None),
            );
        }
    };
    let login = userid.trim().to_lowercase();
    let subject = match p.inner.store.subject(&login).await {
        Ok(s) => s,
        Err(e) => return crate::unavailable(&e.into(), lang),
    };
    let Some(subject) = subject else {
        return refused(client_id, login, LoginFailure::UnknownUser, Msg::WecomNoAccount).await;
    };
    if subject.status != AccountStatus::Active || subject.departed {
        let why = if subject.departed { LoginFailure::Departed } else { LoginFailure::Disabled };
        return refused(client_id, login, why, Msg::WecomDisabled).await;
    }
    let result = async {
        let client = p.client(&started.req.client_id).await?;
        let cred = p.inner.store.credential(&login).await?;
        let pending = Pending {
            login: login.clone(),
            req: Some(started.req),
            amr: vec!["wecom".into()],
            auth_time: p.now().timestamp(),
            enrol: None,
            // The expiry warning and a forced change belong to the password: asked when it is.
            warned: true,
            must_change: false,
            expired: false,
            company: Some(subject.company),
            version: cred.as_ref().map_or(0, |c| c.version),
            form: String::new(),
        };
        let mut res = if client.is_some_and(|c| c.wecom_login == WecomLogin::StepUp) {
            p.wecom_step(&headers, lang, &pending, None, StatusCode::OK)?
        } else {
            p.proceed(&headers, &peer, lang, pending).await?
        };
        if let Some(Ok(v)) = clear.as_ref().map(|c| c.parse()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        Ok::<_, IdpError>(res)
    };
    result.await.unwrap_or_else(|e| crate::unavailable(&e, lang))
}

impl Provider {
    /// The password page after WeCom, for `pending`'s login.
    fn wecom_step(
        &self,
        headers: &HeaderMap,
        lang: Lang,
        pending: &Pending,
        error: Option<&str>,
        status: StatusCode,
    ) -> Result<Response, IdpError> {
        let (csrf, set) = self.csrf(headers)?;
        let fresh = Pending { form: random_token(16)?, ..pending.clone() };
        let sealed = self.seal(STEP_PURPOSE, &fresh, Duration::minutes(super::FLOW_TTL_MIN))?;
        Ok(page(status, &[set], pages::wecom_password(lang, &pending.login, &csrf, &sealed, error)))
    }
}

#[derive(Deserialize)]
struct StepForm {
    csrf: String,
    pending: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    lang: String,
}

/// POST /login/wecom/password: the password of the login WeCom named, then the usual steps.
async fn password_post(State(p): State<Provider>, peer: Peer, headers: HeaderMap, Form(f): Form<StepForm>) -> Response {
    let lang = form_lang(&f.lang, &headers);
    let expired = || page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    if !p.csrf_ok(&headers, &f.csrf) {
        return expired();
    }
    let Some(step) = p.open::<Pending>(STEP_PURPOSE, &f.pending) else { return expired() };
    let first =
        match p.inner.store.spend_form(&sha256_hex(&step.form), p.now() + Duration::minutes(super::FLOW_TTL_MIN)).await
        {
            Ok(first) => first,
            Err(e) => return crate::unavailable(&e.into(), lang),
        };
    if step.form.is_empty() || !first {
        return expired();
    }
    let client_id = step.req.as_ref().map(|r| r.client_id.clone());
    let again = |error: &str, status| {
        p.wecom_step(&headers, lang, &step, Some(error), status).unwrap_or_else(|e| crate::unavailable(&e, lang))
    };
    match p.check_password(&step.login, &f.password, client_id.as_deref(), &peer).await {
        Ok(Checked::Passed(pending)) => {
            let pending = Pending { req: step.req.clone(), amr: vec!["wecom".into(), "pwd".into()], ..pending };
            p.proceed(&headers, &peer, lang, pending).await.unwrap_or_else(|e| crate::unavailable(&e, lang))
        }
        Ok(Checked::Failed) => again(Msg::BadCredentials.text(lang), StatusCode::UNAUTHORIZED),
        Ok(Checked::Guarded(guard)) => guard.answer(lang, &headers, |e, s| again(e, s)),
        Err(e) => crate::unavailable(&e, lang),
    }
}
