//! The authorization endpoint (RFC 6749 §4.1 with PKCE, OpenID Connect Core §3.1.2): the
//! request's checks, an existing session that answers at once, and the code the login flow ends
//! with. The login itself is the shared core's (`crate::login`); this face is its [`Oidc`].
//!
//! Until the client and redirect URI are known good, errors are pages (never a redirect); after,
//! they go back to the client as `error=…&state=…&iss=…` (RFC 6749 §4.1.2.1, RFC 9207).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::Duration;
use orgid_directory::idp::{CodeRecord, SessionRecord};
use serde::{Deserialize, Serialize};

use super::claims;
use crate::audit::Peer;
use crate::crypto::{random_token, sha256_hex};
use crate::i18n::{Lang, Msg};
use crate::login::{Acting, Face, Pending, Protocol, Resume, pages};
use crate::respond::{lang_of, page, see_other, with_query};
use crate::{Client, IdpError, Provider};

pub(crate) fn routes() -> Router<Provider> {
    Router::new().route("/authorize", get(authorize_get).post(authorize_post))
}

/// A validated authorization request, carried (sealed, as a [`Resume`]) through the login pages.
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

impl AuthRequest {
    /// The request as the login flow carries it: its fields but the client's, as they serialize.
    fn resume(&self) -> Result<Resume, IdpError> {
        let bad = |e: &dyn std::fmt::Display| IdpError::Internal(format!("authorization request: {e}"));
        let serde_json::Value::Object(mut request) = serde_json::to_value(self).map_err(|e| bad(&e))? else {
            return Err(bad(&"not an object"));
        };
        request.remove("client_id");
        Ok(Resume { protocol: Protocol::Oidc, client_id: self.client_id.clone(), request })
    }

    fn from_resume(resume: &Resume) -> Result<Self, IdpError> {
        let mut fields = resume.request.clone();
        fields.insert("client_id".into(), resume.client_id.clone().into());
        serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|e| IdpError::Internal(format!("authorization request: {e}")))
    }

    /// This request again, at the authorization endpoint, with the pages in `lang`.
    fn relink(&self, issuer: &str, lang: Lang) -> String {
        let mut q = vec![
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("response_type", "code"),
            ("scope", self.scope.as_str()),
            ("lang", lang.code()),
        ];
        let max_age = self.max_age.map(|m| m.to_string());
        for (k, v) in [
            ("state", self.state.as_deref()),
            ("nonce", self.nonce.as_deref()),
            ("code_challenge", self.code_challenge.as_deref()),
            ("code_challenge_method", self.code_challenge.as_ref().map(|_| "S256")),
            ("prompt", self.force_login.then_some("login")),
            ("max_age", max_age.as_deref()),
        ] {
            if let Some(v) = v {
                q.push((k, v));
            }
        }
        with_query(&format!("{issuer}/authorize"), &q)
    }
}

/// The OpenID Connect face of the login flow.
pub(crate) struct Oidc;

#[async_trait::async_trait]
impl Face for Oidc {
    fn relink(&self, p: &Provider, resume: &Resume, lang: Lang) -> Result<String, IdpError> {
        Ok(AuthRequest::from_resume(resume)?.relink(p.issuer(), lang))
    }

    async fn answer(
        &self,
        p: &Provider,
        resume: &Resume,
        session: &SessionRecord,
        client: &Client,
        peer: &Peer,
        acting: &Acting,
    ) -> Result<Response, IdpError> {
        p.issue_code(&AuthRequest::from_resume(resume)?, session, client, peer, acting.actor.as_deref()).await
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
        // OpenID Connect Core §3.1.2.6: each parameter has its own error.
        if params.contains_key("request") {
            return self.redirect_error(&req, "request_not_supported", "request objects are not supported");
        }
        if params.contains_key("request_uri") {
            return self.redirect_error(&req, "request_uri_not_supported", "request_uri is not supported");
        }
        if let Some(mode) = get("response_mode")
            && mode != "query"
        {
            return self.redirect_error(&req, "invalid_request", "only response_mode=query is supported");
        }
        req.scope = claims::normalize(get("scope").unwrap_or(""));
        if let Some(other) = req.scope.split(' ').find(|s| !s.is_empty() && !client.allows_scope(s)) {
            let why = format!("scope {other} is not allowed for this client");
            return self.redirect_error(&req, "invalid_scope", &why);
        }
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
                && !self.wecom_step_missing(&client, &s.amr)
            {
                if self.needs_otp(&client, &sub) && !s.amr.iter().any(|a| a == "otp") {
                    if prompt_none {
                        return self.redirect_error(&req, "interaction_required", "a second factor is required");
                    }
                    let resume = match req.resume() {
                        Ok(r) => r,
                        Err(e) => return crate::unavailable(&e, lang),
                    };
                    let version = match self.inner.store.credential(&s.login).await {
                        Ok(c) => c.map_or(0, |c| c.version),
                        Err(e) => return crate::unavailable(&e.into(), lang),
                    };
                    let pending = Pending::second_factor(&s, resume, sub.company.clone(), version);
                    return self.otp_step(headers, lang, pending, None).await;
                }
                if let Err(e) = self.inner.store.touch_session(&s.id_hash, now).await {
                    return crate::unavailable(&e.into(), lang);
                }
                let answer = async {
                    let resume = req.resume()?;
                    self.answer_for(headers, lang, &resume, &s, &client, peer, false).await
                };
                return answer.await.unwrap_or_else(|e| crate::unavailable(&e, lang));
            }
        }
        if prompt_none {
            return self.redirect_error(&req, "login_required", "the user is not signed in");
        }
        match req.resume() {
            Ok(resume) => {
                self.login_page(headers, lang, &client, &resume, get("login_hint").unwrap_or(""), None, StatusCode::OK)
            }
            Err(e) => crate::unavailable(&e, lang),
        }
    }

    async fn issue_code(
        &self,
        req: &AuthRequest,
        s: &SessionRecord,
        client: &Client,
        _peer: &Peer,
        actor: Option<&str>,
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
                actor: actor.map(str::to_string),
            })
            .await?;
        // A client with a back-channel URI is told when this session ends.
        if let Some(uri) = &client.backchannel_logout_uri {
            self.inner
                .store
                .add_notice(&orgid_directory::idp::LogoutNotice {
                    id: random_token(16)?,
                    session_hash: s.id_hash.clone(),
                    login: s.login.clone(),
                    client_id: client.id.clone(),
                    protocol: "oidc".into(),
                    target: uri.clone(),
                    ticket: None,
                    created_at: now,
                    attempts: 0,
                })
                .await?;
        }
        let mut q = vec![("code", code.as_str())];
        if let Some(st) = &req.state {
            q.push(("state", st));
        }
        q.push(("iss", self.issuer()));
        Ok(see_other(&with_query(&req.redirect_uri, &q), &[]))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_request_survives_the_login_flow_and_one_sealed_before_faces_still_opens() {
        let req = AuthRequest {
            client_id: "portal".into(),
            redirect_uri: "https://portal.example/cb".into(),
            scope: "openid org".into(),
            state: Some("s".into()),
            nonce: None,
            code_challenge: Some("c".repeat(43)),
            force_login: true,
            max_age: Some(60),
        };
        let resume = req.resume().unwrap();
        assert_eq!((resume.protocol, resume.client_id.as_str()), (Protocol::Oidc, "portal"));
        let back = AuthRequest::from_resume(&serde_json::from_str(&serde_json::to_string(&resume).unwrap()).unwrap());
        assert_eq!(serde_json::to_value(back.unwrap()).unwrap(), serde_json::to_value(&req).unwrap());
        // What the login form and the pending login carried when the request was an AuthRequest.
        let old: Resume = serde_json::from_value(serde_json::to_value(&req).unwrap()).unwrap();
        assert_eq!(old.protocol, Protocol::Oidc);
        assert_eq!(
            AuthRequest::from_resume(&old).unwrap().relink("https://id.example", Lang::En),
            req.relink("https://id.example", Lang::En)
        );
    }
}
