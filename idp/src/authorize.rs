//! The authorization endpoint and the login flow behind it: password, forced or voluntary
//! password change, second factor, expiry warning, then a session and a code.
//!
//! Until the client and redirect URI are known good, errors are pages (never a redirect); after,
//! they go back to the client as `error=…&state=…&iss=…` (RFC 6749 §4.1.2.1, RFC 9207).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Duration;
use orgid_directory::audit::{AuditEvent, AuditOutcome, EventKind, LoginFailure};
use orgid_directory::idp::{CodeRecord, SessionRecord, Subject};
use orgid_directory::{AccountStatus, CompanyCode};
use serde::{Deserialize, Serialize};

use crate::audit::by_user;
use crate::claims;
use crate::flow::{Peer, sha256_hex};
use crate::i18n::{Lang, Msg};
use crate::keys::random_token;
use crate::pages;
use crate::password::{self, Age};
use crate::{Client, IdpError, Provider};

pub(crate) fn routes() -> Router<Provider> {
    Router::new()
        .route("/authorize", get(authorize_get).post(authorize_post))
        .route("/login", post(login_post))
        .route("/login/otp", post(otp_post))
        .route("/login/continue", post(continue_post))
        .route("/password", get(password_get).post(password_post))
}

/// A validated authorization request, carried (sealed) through the login pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub force_login: bool,
    pub max_age: Option<i64>,
}

/// Where a login stands between pages (sealed in the form).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    login: String,
    req: Option<AuthRequest>,
    amr: Vec<String>,
    /// The password was verified at (unix seconds): becomes `auth_time`.
    auth_time: i64,
    /// A TOTP secret being enrolled.
    enrol: Option<String>,
    warned: bool,
    /// The password must be changed before anything else.
    must_change: bool,
    expired: bool,
    /// The account's company, for the audit records of the flow.
    #[serde(default)]
    company: Option<CompanyCode>,
}

const FLOW_TTL_MIN: i64 = 15;

fn lang_of(params: &HashMap<String, String>, headers: &HeaderMap) -> Lang {
    let explicit = params.get("lang").or_else(|| params.get("ui_locales")).map(String::as_str);
    Lang::pick(explicit, headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

fn page(status: StatusCode, cookies: &[Option<String>], html: axum::response::Html<String>) -> Response {
    let mut res = (status, html).into_response();
    for c in cookies.iter().flatten() {
        if let Ok(v) = c.parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

fn see_other(location: &str, cookies: &[Option<String>]) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = location.parse() {
        res.headers_mut().insert(header::LOCATION, v);
    }
    for c in cookies.iter().flatten() {
        if let Ok(v) = c.parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// `uri` with extra query parameters (keeping its own).
pub(crate) fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

async fn authorize_get(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    p.authorize(&headers, &peer, params).await
}

async fn authorize_post(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    p.authorize(&headers, &peer, params).await
}

impl Provider {
    fn redirect_error(&self, req: &AuthRequest, error: &str, description: &str) -> Response {
        let mut q = vec![("error", error), ("error_description", description)];
        if let Some(s) = &req.state {
            q.push(("state", s));
        }
        q.push(("iss", self.issuer()));
        see_other(&with_query(&req.redirect_uri, &q), &[])
    }

    async fn authorize(&self, headers: &HeaderMap, peer: &Peer, params: HashMap<String, String>) -> Response {
        let lang = lang_of(&params, headers);
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        // 1. Client and redirect URI: errors here are pages, never redirects.
        let client = match get("client_id") {
            None => return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::UnknownClient.text(lang), None)),
            Some(id) => match self.client(id).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::UnknownClient.text(lang), None));
                }
                Err(e) => return crate::unavailable(&e, lang),
            },
        };
        let redirect_uri = match get("redirect_uri") {
            Some(u) if client.redirect_uris.iter().any(|r| r == u) => u.to_string(),
            // One registered URI may be implied (RFC 6749 §3.1.2.3); OIDC requires it, so no.
            _ => return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::BadRedirect.text(lang), None)),
        };
        let mut req = AuthRequest {
            client_id: client.id.clone(),
            redirect_uri,
            scope: String::new(),
            state: get("state").map(str::to_string),
            nonce: get("nonce").map(str::to_string),
            code_challenge: None,
            force_login: false,
            max_age: None,
        };
        // 2. The rest of the request: errors go back to the client.
        match get("response_type") {
            None => return self.redirect_error(&req, "invalid_request", "response_type is required"),
            Some("code") => {}
            Some(_) => {
                return self.redirect_error(&req, "unsupported_response_type", "only the code flow is supported");
            }
        }
        if !client.allows(orgid_config::GrantType::AuthorizationCode) {
            return self.redirect_error(&req, "unauthorized_client", "this client may not use the code flow");
        }
        if params.contains_key("request") || params.contains_key("request_uri") {
            return self.redirect_error(&req, "request_not_supported", "request objects are not supported");
        }
        if let Some(mode) = get("response_mode")
            && mode != "query"
        {
            return self.redirect_error(&req, "invalid_request", "only response_mode=query is supported");
        }
        req.scope = claims::normalize(get("scope").unwrap_or(""));
        if !claims::has(&req.scope, "openid") {
            return self.redirect_error(&req, "invalid_scope", "the openid scope is required");
        }
        match (get("code_challenge"), get("code_challenge_method")) {
            (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => req.code_challenge = Some(c.to_string()),
            (Some(_), Some("S256")) => return self.redirect_error(&req, "invalid_request", "malformed code_challenge"),
            (Some(_), _) => {
                return self.redirect_error(&req, "invalid_request", "code_challenge_method must be S256");
            }
            (None, Some(_)) => return self.redirect_error(&req, "invalid_request", "code_challenge is missing"),
            (None, None) if client.is_public() => {
                return self.redirect_error(&req, "invalid_request", "public clients must use PKCE (S256)");
            }
            (None, None) => {}
        }
        let prompts: Vec<&str> = get("prompt").unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
        if prompts.contains(&"none") && prompts.len() > 1 {
            return self.redirect_error(&req, "invalid_request", "prompt=none cannot be combined");
        }
        if let Some(bad) = prompts.iter().find(|p| !["none", "login", "consent", "select_account"].contains(p)) {
            return self.redirect_error(&req, "invalid_request", &format!("unknown prompt value {bad}"));
        }
        let prompt_none = prompts.contains(&"none");
        req.force_login = prompts.contains(&"login");
        if let Some(m) = get("max_age") {
            match m.parse::<i64>() {
                Ok(v) if v >= 0 => req.max_age = Some(v),
                _ => return self.redirect_error(&req, "invalid_request", "max_age must be a non-negative integer"),
            }
        }
        let hint_sub = match get("id_token_hint") {
            None => None,
            Some(t) => match self.id_token_subject(t, &client.id).await {
                Ok(Some(sub)) => Some(sub),
                Ok(None) => {
                    return self.redirect_error(
                        &req,
                        "invalid_request",
                        "id_token_hint is not a token of this provider",
                    );
                }
                Err(e) => return crate::unavailable(&e, lang),
            },
        };
        // 3. An existing session may answer at once.
        let session = match self.current_session(headers).await {
            Ok(s) => s,
            Err(e) => return crate::unavailable(&e, lang),
        };
        let now = self.now();
        if let Some(s) = session {
            let fresh_enough = req.max_age.is_none_or(|m| (now - s.auth_time).num_seconds() <= m);
            let subject = match self.inner.store.subject(&s.login).await {
                Ok(sub) => sub,
                Err(e) => return crate::unavailable(&e.into(), lang),
            };
            let same_user = match (&hint_sub, &subject) {
                (Some(h), Some(sub)) => *h == self.subject_id(&sub.person_key),
                _ => true,
            };
            if let Some(sub) = subject
                && !req.force_login
                && fresh_enough
                && same_user
            {
                if self.needs_otp(&client, &sub) && !s.amr.iter().any(|a| a == "otp") {
                    if prompt_none {
                        return self.redirect_error(&req, "interaction_required", "a second factor is required");
                    }
                    let pending = Pending {
                        login: s.login.clone(),
                        req: Some(req),
                        amr: s.amr.clone(),
                        auth_time: s.auth_time.timestamp(),
                        enrol: None,
                        warned: true,
                        must_change: false,
                        expired: false,
                        company: Some(sub.company.clone()),
                    };
                    return self.otp_step(headers, lang, pending, None).await;
                }
                if let Err(e) = self.inner.store.touch_session(&s.id_hash, now).await {
                    return crate::unavailable(&e.into(), lang);
                }
                return self.issue_code(&req, &s, &client, peer).await.unwrap_or_else(|e| crate::unavailable(&e, lang));
            }
        }
        if prompt_none {
            return self.redirect_error(&req, "login_required", "the user is not signed in");
        }
        self.login_page(headers, lang, &client, &req, get("login_hint").unwrap_or(""), None, StatusCode::OK)
    }

    #[allow(clippy::too_many_arguments)]
    fn login_page(
        &self,
        headers: &HeaderMap,
        lang: Lang,
        client: &Client,
        req: &AuthRequest,
        login: &str,
        error: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let result = (|| {
            let (csrf, set) = self.csrf(headers)?;
            let sealed = self.seal("authorize", req, Duration::minutes(FLOW_TTL_MIN))?;
            let other = match lang {
                Lang::Zh => Lang::En,
                Lang::En => Lang::Zh,
            };
            let mut switch_q = vec![
                ("client_id", req.client_id.as_str()),
                ("redirect_uri", req.redirect_uri.as_str()),
                ("response_type", "code"),
                ("scope", req.scope.as_str()),
                ("lang", other.code()),
            ];
            let max_age = req.max_age.map(|m| m.to_string());
            for (k, v) in [
                ("state", req.state.as_deref()),
                ("nonce", req.nonce.as_deref()),
                ("code_challenge", req.code_challenge.as_deref()),
                ("code_challenge_method", req.code_challenge.as_ref().map(|_| "S256")),
                ("prompt", req.force_login.then_some("login")),
                ("max_age", max_age.as_deref()),
            ] {
                if let Some(v) = v {
                    switch_q.push((k, v));
                }
            }
            let switch = with_query(&format!("{}/authorize", self.issuer()), &switch_q);
            let html = pages::login(&pages::LoginPage {
                lang,
                client_name: &client.name,
                login,
                error,
                csrf: &csrf,
                req: &sealed,
                switch: &switch,
            });
            Ok::<_, IdpError>(page(status, &[set], html))
        })();
        result.unwrap_or_else(|e| crate::unavailable(&e, lang))
    }

    /// Whether this login to this client needs the second factor.
    fn needs_otp(&self, client: &Client, subject: &Subject) -> bool {
        client.require_totp
            || claims::groups(subject).iter().any(|g| self.inner.settings.totp.required_groups.contains(g))
    }

    /// A new session (new id: no fixation), then the code for the client.
    async fn complete(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        lang: Lang,
        pending: Pending,
    ) -> Result<Response, IdpError> {
        let now = self.now();
        let id = random_token(32)?;
        let session = SessionRecord {
            id_hash: sha256_hex(&id),
            login: pending.login.clone(),
            auth_time: chrono::DateTime::from_timestamp(pending.auth_time, 0).unwrap_or(now),
            last_seen_at: now,
            expires_at: now + Duration::hours(i64::from(self.inner.settings.session.absolute_hours)),
            amr: pending.amr.clone(),
            ended_at: None,
        };
        let client_id = pending.req.as_ref().map(|r| r.client_id.as_str());
        let ctx = peer.context(client_id, Some(&session.id_hash));
        let login = AuditEvent::login_succeeded(now, &pending.login, pending.company.as_ref(), &ctx)
            .attr("amr", pending.amr.join(" "));
        self.inner.store.record_success(&pending.login, now, &[login]).await?;
        // A session this browser had before is ended: one login, one session.
        if let Some(old) = self.session_hash_of(headers)
            && let Some(before) = self.inner.store.session(&old).await?
        {
            let company = self.inner.store.subject(&before.login).await?.map(|s| s.company);
            let ended = by_user(
                now,
                EventKind::Logout,
                AuditOutcome::Success,
                &before.login,
                company.as_ref(),
                &peer.context(client_id, Some(&old)),
            )
            .reason("replaced by a new login in the same browser");
            self.inner.store.end_session(&old, now, &[ended]).await?;
        }
        self.inner.store.create_session(&session).await?;
        let cookie = Some(self.session_cookie(&id));
        let Some(req) = pending.req else {
            return Ok(page(StatusCode::OK, &[cookie], pages::message(lang, Msg::ChangeTitle, Msg::Changed)));
        };
        let Some(client) = self.client(&req.client_id).await? else {
            return Ok(page(
                StatusCode::BAD_REQUEST,
                &[cookie],
                pages::error(lang, Msg::UnknownClient.text(lang), None),
            ));
        };
        let mut res = self.issue_code(&req, &session, &client, peer).await?;
        if let Some(Ok(v)) = cookie.map(|c| c.parse()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        Ok(res)
    }

    async fn issue_code(
        &self,
        req: &AuthRequest,
        s: &SessionRecord,
        client: &Client,
        _peer: &Peer,
    ) -> Result<Response, IdpError> {
        let code = random_token(32)?;
        let now = self.now();
        self.inner
            .store
            .save_code(&CodeRecord {
                code_hash: sha256_hex(&code),
                client_id: client.id.clone(),
                login: s.login.clone(),
                session_hash: s.id_hash.clone(),
                redirect_uri: req.redirect_uri.clone(),
                scope: req.scope.clone(),
                nonce: req.nonce.clone(),
                code_challenge: req.code_challenge.clone(),
                auth_time: s.auth_time,
                amr: s.amr.clone(),
                expires_at: now + Duration::seconds(self.inner.settings.oidc.code_ttl_secs as i64),
                grant_id: None,
            })
            .await?;
        let mut q = vec![("code", code.as_str())];
        if let Some(st) = &req.state {
            q.push(("state", st));
        }
        q.push(("iss", self.issuer()));
        Ok(see_other(&with_query(&req.redirect_uri, &q), &[]))
    }

    /// After the password (or a later step): change, second factor, warning, or done.
    async fn proceed(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        lang: Lang,
        pending: Pending,
    ) -> Result<Response, IdpError> {
        if pending.must_change || pending.expired {
            let reason = if pending.expired { Msg::ChangeExpired } else { Msg::ChangeInitial };
            return self.change_page(headers, lang, reason, Some(&pending), None, None, StatusCode::OK);
        }
        if let Some(req) = &pending.req
            && !pending.amr.iter().any(|a| a == "otp")
        {
            let client = self.client(&req.client_id).await?;
            let subject = self.inner.store.subject(&pending.login).await?;
            if let (Some(c), Some(s)) = (client, subject)
                && self.needs_otp(&c, &s)
            {
                return Ok(self.otp_step(headers, lang, pending, None).await);
            }
        }
        if !pending.warned
            && let Some(cred) = self.inner.store.credential(&pending.login).await?
            && let Age::ExpiresSoon(days) = password::age(&self.inner.settings.password, cred.changed_at, self.now())
        {
            let (csrf, set) = self.csrf(headers)?;
            let sealed = self.seal("pending", &Pending { warned: true, ..pending }, Duration::minutes(FLOW_TTL_MIN))?;
            return Ok(page(StatusCode::OK, &[set], pages::expiry_warning(lang, &csrf, &sealed, days)));
        }
        self.complete(headers, peer, lang, pending).await
    }

    async fn otp_step(&self, headers: &HeaderMap, lang: Lang, mut pending: Pending, error: Option<&str>) -> Response {
        let result = async {
            let cred = self.inner.store.credential(&pending.login).await?;
            if cred.as_ref().and_then(|c| c.totp_secret.as_ref()).is_none() && pending.enrol.is_none() {
                pending.enrol = Some(crate::totp::new_secret()?);
            }
            let (csrf, set) = self.csrf(headers)?;
            let sealed = self.seal("pending", &pending, Duration::minutes(FLOW_TTL_MIN))?;
            let uri = pending.enrol.as_ref().map(|k| crate::totp::uri("orgid", &pending.login, k));
            let enrol = pending.enrol.as_deref().zip(uri.as_deref());
            let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
            Ok::<_, IdpError>(page(status, &[set], pages::otp(lang, &csrf, &sealed, enrol, error)))
        }
        .await;
        result.unwrap_or_else(|e| crate::unavailable(&e, lang))
    }

    #[allow(clippy::too_many_arguments)]
    fn change_page(
        &self,
        headers: &HeaderMap,
        lang: Lang,
        reason: Msg,
        pending: Option<&Pending>,
        error: Option<&str>,
        notice: Option<&str>,
        status: StatusCode,
    ) -> Result<Response, IdpError> {
        let (csrf, set) = self.csrf(headers)?;
        let sealed = match pending {
            Some(p) => self.seal("pending", p, Duration::minutes(FLOW_TTL_MIN))?,
            None => String::new(),
        };
        let pol = &self.inner.settings.password;
        let rules = vec![
            password::Weakness::TooShort(pol.min_length).message(lang),
            password::Weakness::TooFewClasses(pol.min_classes).message(lang),
            password::Weakness::Reused(pol.history).message(lang),
        ];
        let html = pages::change(&pages::ChangePage {
            lang,
            reason,
            error,
            notice,
            csrf: &csrf,
            pending: &sealed,
            rules: &rules,
        });
        Ok(page(status, &[set], html))
    }

    /// Checks a login and password; on failure counts it (and locks) without telling the
    /// caller more than "wrong login or password".
    async fn check_password(
        &self,
        login: &str,
        pw: &str,
        client_id: Option<&str>,
        peer: &Peer,
    ) -> Result<Option<Pending>, IdpError> {
        let now = self.now();
        let subject = self.inner.store.subject(login).await?;
        let cred = match &subject {
            Some(_) => self.inner.store.credential(login).await?,
            None => None,
        };
        // Verify against a dummy hash when there is nothing to verify: same cost either way.
        let phc = match &cred {
            Some(c) => c.hash.clone(),
            None => password::dummy_hash().await.to_string(),
        };
        let matches = password::verify(pw.to_string(), phc).await;
        let ctx = peer.context(client_id, None);
        let company = subject.as_ref().map(|s| s.company.clone());
        let failed = |why| AuditEvent::login_failed(now, login, company.as_ref(), why, &ctx);
        let (Some(subject), Some(cred)) = (subject, cred) else {
            let why = if company.is_some() { LoginFailure::NoPassword } else { LoginFailure::UnknownUser };
            self.count_failure(login, &failed(why)).await?;
            return Ok(None);
        };
        if cred.locked_until.is_some_and(|t| t > now) {
            self.inner.store.record_refusal(&failed(LoginFailure::Locked)).await?;
            return Ok(None);
        }
        if !matches {
            self.count_failure(login, &failed(LoginFailure::BadPassword)).await?;
            return Ok(None);
        }
        if subject.status != AccountStatus::Active || subject.departed {
            let why = if subject.departed { LoginFailure::Departed } else { LoginFailure::Disabled };
            self.inner.store.record_refusal(&failed(why)).await?;
            return Ok(None);
        }
        let expired = password::age(&self.inner.settings.password, cred.changed_at, now) == Age::Expired;
        Ok(Some(Pending {
            login: login.to_string(),
            req: None,
            amr: vec!["pwd".into()],
            auth_time: now.timestamp(),
            enrol: None,
            warned: false,
            must_change: cred.must_change && self.inner.settings.password.change_initial,
            expired,
            company: Some(subject.company),
        }))
    }

    /// A failed password or second factor, counted toward the lockout and recorded (with the
    /// lockout it causes) by the store. Returns whether the login is now locked.
    async fn count_failure(&self, login: &str, attempt: &AuditEvent) -> Result<bool, IdpError> {
        let pol = &self.inner.settings.password;
        let lock_until = attempt.at + Duration::minutes(i64::from(pol.lockout_minutes));
        let count = self.inner.store.record_failure(login, pol.lockout_threshold, lock_until, attempt).await?;
        Ok(count.locked_until.is_some())
    }

    /// Sets a new password after the policy checks; returns the refusal message if any.
    async fn change_password(
        &self,
        pending: &Pending,
        new: &str,
        repeat: &str,
        lang: Lang,
        peer: &Peer,
    ) -> Result<Option<String>, IdpError> {
        let login = pending.login.as_str();
        if new != repeat {
            return Ok(Some(Msg::Mismatch.text(lang).into()));
        }
        let pol = &self.inner.settings.password;
        if let Err(w) = password::check_strength(pol, login, new) {
            return Ok(Some(w.message(lang)));
        }
        let Some(cred) = self.inner.store.credential(login).await? else {
            return Ok(Some(Msg::BadCredentials.text(lang).into()));
        };
        if password::verify(new.to_string(), cred.hash.clone()).await {
            return Ok(Some(password::Weakness::Unchanged.message(lang)));
        }
        let history = self.inner.store.password_history(login, pol.history.saturating_sub(1)).await?;
        if password::matches_any(new, history).await {
            return Ok(Some(password::Weakness::Reused(pol.history).message(lang)));
        }
        let hash = password::hash(new.to_string()).await?;
        if let Some(sink) = &self.inner.passwords
            && let Err(e) = sink.set_password(login, new).await
        {
            tracing::warn!(login, error = %e, "the directory refused a password change");
            return Ok(Some(Msg::Unavailable.text(lang).into()));
        }
        let keep = pol.history.saturating_sub(1);
        let now = self.now();
        let why = if pending.expired {
            "expired password replaced"
        } else if pending.must_change && cred.must_change {
            "initial password replaced"
        } else {
            "changed by the account holder"
        };
        let ctx = peer.context(pending.req.as_ref().map(|r| r.client_id.as_str()), None);
        let changed =
            by_user(now, EventKind::PasswordChange, AuditOutcome::Success, login, pending.company.as_ref(), &ctx)
                .reason(why);
        self.inner.store.set_password(login, &hash, false, now, keep, &[changed]).await?;
        Ok(None)
    }
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    req: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    lang: String,
}

fn form_lang(lang: &str, headers: &HeaderMap) -> Lang {
    Lang::pick(Some(lang), headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

async fn login_post(State(p): State<Provider>, peer: Peer, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    let lang = form_lang(&f.lang, &headers);
    let expired = || page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    if !p.csrf_ok(&headers, &f.csrf) {
        return expired();
    }
    let Some(req) = p.open::<AuthRequest>("authorize", &f.req) else { return expired() };
    let client = match p.client(&req.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::UnknownClient.text(lang), None)),
        Err(e) => return crate::unavailable(&e, lang),
    };
    let login = f.login.trim().to_lowercase();
    match p.check_password(&login, &f.password, Some(&client.id), &peer).await {
        Ok(Some(mut pending)) => {
            pending.req = Some(req);
            p.proceed(&headers, &peer, lang, pending).await.unwrap_or_else(|e| crate::unavailable(&e, lang))
        }
        Ok(None) => p.login_page(
            &headers,
            lang,
            &client,
            &req,
            &login,
            Some(Msg::BadCredentials.text(lang)),
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => crate::unavailable(&e, lang),
    }
}

#[derive(Deserialize)]
struct PendingForm {
    csrf: String,
    pending: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    choice: String,
    #[serde(default)]
    lang: String,
}

async fn otp_post(State(p): State<Provider>, peer: Peer, headers: HeaderMap, Form(f): Form<PendingForm>) -> Response {
    let lang = form_lang(&f.lang, &headers);
    let expired = || page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    if !p.csrf_ok(&headers, &f.csrf) {
        return expired();
    }
    let Some(mut pending) = p.open::<Pending>("pending", &f.pending) else { return expired() };
    let result = async {
        let cred = p.inner.store.credential(&pending.login).await?;
        let secret = match (&pending.enrol, cred.as_ref().and_then(|c| c.totp_secret.clone())) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => k,
            (None, None) => return Ok(expired()),
        };
        if !crate::totp::verify(&secret, &f.code, p.now().timestamp()) {
            let ctx = peer.context(pending.req.as_ref().map(|r| r.client_id.as_str()), None);
            let attempt = AuditEvent::login_failed(
                p.now(),
                &pending.login,
                pending.company.as_ref(),
                LoginFailure::SecondFactorFailed,
                &ctx,
            );
            if p.count_failure(&pending.login, &attempt).await? {
                return Ok(page(
                    StatusCode::UNAUTHORIZED,
                    &[],
                    pages::error(lang, Msg::BadCredentials.text(lang), None),
                ));
            }
            return Ok(p.otp_step(&headers, lang, pending, Some(Msg::OtpWrong.text(lang))).await);
        }
        if let Some(k) = pending.enrol.take() {
            p.inner.store.set_totp(&pending.login, Some(&k)).await?;
        }
        pending.amr.push("otp".into());
        p.proceed(&headers, &peer, lang, pending).await
    }
    .await;
    result.unwrap_or_else(|e: IdpError| crate::unavailable(&e, lang))
}

async fn continue_post(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Form(f): Form<PendingForm>,
) -> Response {
    let lang = form_lang(&f.lang, &headers);
    if !p.csrf_ok(&headers, &f.csrf) {
        return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    }
    let Some(pending) = p.open::<Pending>("pending", &f.pending) else {
        return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    };
    let result = if f.choice == "change" {
        p.change_page(
            &headers,
            lang,
            Msg::ChangeVoluntary,
            Some(&Pending { must_change: true, ..pending }),
            None,
            None,
            StatusCode::OK,
        )
    } else {
        p.proceed(&headers, &peer, lang, pending).await
    };
    result.unwrap_or_else(|e| crate::unavailable(&e, lang))
}

async fn password_get(
    State(p): State<Provider>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&q, &headers);
    p.change_page(&headers, lang, Msg::ChangeVoluntary, None, None, None, StatusCode::OK)
        .unwrap_or_else(|e| crate::unavailable(&e, lang))
}

#[derive(Deserialize)]
struct ChangeForm {
    csrf: String,
    #[serde(default)]
    pending: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    lang: String,
}

async fn password_post(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Form(f): Form<ChangeForm>,
) -> Response {
    let lang = form_lang(&f.lang, &headers);
    if !p.csrf_ok(&headers, &f.csrf) {
        return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    }
    let result = async {
        // A forced change carries the verified login; a voluntary one proves the current password.
        let (pending, voluntary) = if f.pending.is_empty() {
            let login = f.login.trim().to_lowercase();
            match p.check_password(&login, &f.current, None, &peer).await? {
                Some(pending) => (pending, true),
                None => {
                    let err = Msg::BadCredentials.text(lang);
                    return p.change_page(
                        &headers,
                        lang,
                        Msg::ChangeVoluntary,
                        None,
                        Some(err),
                        None,
                        StatusCode::UNAUTHORIZED,
                    );
                }
            }
        } else {
            match p.open::<Pending>("pending", &f.pending) {
                Some(pending) => (pending, false),
                None => {
                    return Ok(page(
                        StatusCode::BAD_REQUEST,
                        &[],
                        pages::error(lang, Msg::SessionExpired.text(lang), None),
                    ));
                }
            }
        };
        let reason = if voluntary {
            Msg::ChangeVoluntary
        } else if pending.expired {
            Msg::ChangeExpired
        } else {
            Msg::ChangeInitial
        };
        if let Some(refusal) = p.change_password(&pending, &f.new, &f.repeat, lang, &peer).await? {
            let keep = (!voluntary).then_some(&pending);
            return p.change_page(&headers, lang, reason, keep, Some(&refusal), None, StatusCode::BAD_REQUEST);
        }
        if voluntary {
            return Ok(page(StatusCode::OK, &[], pages::message(lang, Msg::ChangeTitle, Msg::Changed)));
        }
        let next = Pending { must_change: false, expired: false, warned: true, ..pending };
        p.proceed(&headers, &peer, lang, next).await
    }
    .await;
    result.unwrap_or_else(|e| crate::unavailable(&e, lang))
}
