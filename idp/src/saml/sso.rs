//! The SSO service: an AuthnRequest checked (its SP, signature, destination, consumer, age,
//! replay), then the login flow, then a signed Response posted to the SP's consumer; and the IdP
//! metadata.

use axum::extract::{Form, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Duration;
use orgid_directory::audit::AuditEvent;
use orgid_directory::idp::SessionRecord;
use serde::{Deserialize, Serialize};

use super::request::{self, AuthnRequest};
use super::response::{self, Answer, Signed};
use super::{BINDING_POST, ServiceProvider};
use crate::audit::Peer;
use crate::crypto::sha256_hex;
use crate::i18n::Lang;
use crate::login::{Acting, Face, Pending, Protocol, Resume, pages};
use crate::respond::{page, with_query};
use crate::{Client, IdpError, Provider};

/// The purpose a request is sealed for in the language link.
const RESUME_PURPOSE: &str = "saml-resume";

/// Why a request is refused (shown on an error page: before the SP's consumer is known and
/// trusted, nothing goes back to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Malformed,
    UnknownSp,
    BadSignature,
    UnsupportedSignature,
    WrongDestination,
    WrongBinding,
    UnknownConsumer,
    Expired,
    Replayed,
}

impl Refusal {
    fn text(self, lang: Lang) -> &'static str {
        use Refusal::*;
        match (self, lang) {
            (Malformed, Lang::Zh) => "SAML 认证请求无法识别。请从应用的登录入口重新进入。",
            (Malformed, Lang::En) => {
                "The SAML authentication request cannot be read. Start again from the application."
            }
            (UnknownSp, Lang::Zh) => "未登记的 SAML 应用（Issuer）。请联系应用管理员。",
            (UnknownSp, Lang::En) => "Unknown SAML application (Issuer). Contact the application's administrator.",
            (BadSignature, Lang::Zh) => "SAML 认证请求的签名缺失或无效。",
            (BadSignature, Lang::En) => "The SAML authentication request's signature is missing or invalid.",
            (UnsupportedSignature, Lang::Zh) => "该应用的签名请求须使用 HTTP-Redirect 绑定。",
            (UnsupportedSignature, Lang::En) => {
                "This application's signed requests must use the HTTP-Redirect binding."
            }
            (WrongDestination, Lang::Zh) => "SAML 认证请求的目标地址（Destination）不是本系统。",
            (WrongDestination, Lang::En) => "The SAML request's Destination is not this identity provider.",
            (WrongBinding, Lang::Zh) => "仅支持以 HTTP-POST 绑定返回 SAML 响应。",
            (WrongBinding, Lang::En) => "Responses are sent by the HTTP-POST binding only.",
            (UnknownConsumer, Lang::Zh) => "回调地址（AssertionConsumerService）未在应用元数据中登记。",
            (UnknownConsumer, Lang::En) => "The assertion consumer address is not in the application's metadata.",
            (Expired, Lang::Zh) => "SAML 认证请求已过期。请从应用的登录入口重新进入。",
            (Expired, Lang::En) => "The SAML authentication request has expired. Start again from the application.",
            (Replayed, Lang::Zh) => "该 SAML 认证请求已使用过。请从应用的登录入口重新进入。",
            (Replayed, Lang::En) => {
                "This SAML authentication request was already used. Start again from the application."
            }
        }
    }
}

/// The request the login flow carries for this face.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SamlRequest {
    request_id: Option<String>,
    acs_url: String,
    relay_state: Option<String>,
}

impl SamlRequest {
    fn resume(&self, sp: &ServiceProvider) -> Result<Resume, IdpError> {
        let bad = |e: &dyn std::fmt::Display| IdpError::Internal(format!("SAML request: {e}"));
        let serde_json::Value::Object(request) = serde_json::to_value(self).map_err(|e| bad(&e))? else {
            return Err(bad(&"not an object"));
        };
        Ok(Resume { protocol: Protocol::Saml, client_id: sp.id.clone(), request })
    }

    fn from_resume(resume: &Resume) -> Result<Self, IdpError> {
        serde_json::from_value(serde_json::Value::Object(resume.request.clone()))
            .map_err(|e| IdpError::Internal(format!("SAML request: {e}")))
    }
}

/// The SAML face of the login flow.
pub(crate) struct Saml;

#[async_trait::async_trait]
impl Face for Saml {
    fn relink(&self, p: &Provider, resume: &Resume, lang: Lang) -> Result<String, IdpError> {
        let sealed = p.seal(RESUME_PURPOSE, resume, Duration::minutes(15))?;
        Ok(with_query(&format!("{}/resume", p.saml_sso_url()), &[("req", &sealed), ("lang", lang.code())]))
    }

    async fn answer(
        &self,
        p: &Provider,
        resume: &Resume,
        session: &SessionRecord,
        _client: &Client,
        peer: &Peer,
        acting: &Acting,
    ) -> Result<Response, IdpError> {
        let req = SamlRequest::from_resume(resume)?;
        let Some(sp) = p.saml_sp(&resume.client_id).await? else {
            return Err(IdpError::Internal(format!("SAML SP {} is gone", resume.client_id)));
        };
        p.saml_answer(&sp, &req, session, peer, acting.actor.as_deref()).await
    }
}

pub(crate) async fn metadata_get(State(p): State<Provider>) -> Response {
    match p.saml_metadata().await {
        Ok(xml) => {
            let mut res = xml.into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml"));
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            res
        }
        Err(e) => crate::unavailable(&e, Lang::Zh),
    }
}

/// The HTTP-Redirect binding: the query is read raw, because its signature is over the
/// parameters exactly as they were encoded.
pub(crate) async fn sso_get(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let q = super::sign::RedirectQuery(&query);
    let decoded = |k: &str| q.decoded(k);
    let lang = crate::respond::lang_of(
        &decoded("lang").map(|l| [("lang".to_string(), l)].into()).unwrap_or_default(),
        &headers,
    );
    let Some(saml_request) = decoded("SAMLRequest") else {
        return refuse(lang, Refusal::Malformed);
    };
    let req = match request::inflate(&saml_request).and_then(|x| request::parse(&x)) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "SAML request refused");
            return refuse(lang, Refusal::Malformed);
        }
    };
    let signature = q.signature("SAMLRequest");
    p.sso(&headers, &peer, lang, req, decoded("RelayState"), Binding::Redirect(signature)).await
}

#[derive(Deserialize)]
pub(crate) struct PostForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// The HTTP-POST binding.
pub(crate) async fn sso_post(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Form(form): Form<PostForm>,
) -> Response {
    let lang = crate::respond::lang_of(&Default::default(), &headers);
    let req = match request::unbase64(&form.saml_request).and_then(|x| request::parse(&x)) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "SAML request refused");
            return refuse(lang, Refusal::Malformed);
        }
    };
    p.sso(&headers, &peer, lang, req, form.relay_state, Binding::Post).await
}

#[derive(Deserialize)]
pub(crate) struct ResumeQuery {
    req: String,
    lang: Option<String>,
}

/// The login page again in another language, for a request already checked (and spent).
pub(crate) async fn resume_get(
    State(p): State<Provider>,
    headers: HeaderMap,
    Query(q): Query<ResumeQuery>,
) -> Response {
    let lang = Lang::pick(q.lang.as_deref(), None);
    let Some(resume) = p.open::<Resume>(RESUME_PURPOSE, &q.req) else {
        return refuse(lang, Refusal::Expired);
    };
    match p.client(&resume.client_id).await {
        Ok(Some(client)) => p.login_page(&headers, lang, &client, &resume, "", None, StatusCode::OK),
        Ok(None) => refuse(lang, Refusal::UnknownSp),
        Err(e) => crate::unavailable(&e, lang),
    }
}

enum Binding {
    /// The signed octets, the decoded SigAlg and signature, when the query was signed.
    Redirect(Option<(String, String, Vec<u8>)>),
    Post,
}

fn refuse(lang: Lang, why: Refusal) -> Response {
    page(StatusCode::BAD_REQUEST, &[], pages::error(lang, why.text(lang), None))
}

impl Provider {
    async fn sso(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        lang: Lang,
        req: AuthnRequest,
        relay_state: Option<String>,
        binding: Binding,
    ) -> Response {
        match self.sso_checked(headers, peer, lang, req, relay_state, binding).await {
            Ok(r) => r,
            Err(Ok(why)) => refuse(lang, why),
            Err(Err(e)) => crate::unavailable(&e, lang),
        }
    }

    async fn sso_checked(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        lang: Lang,
        req: AuthnRequest,
        relay_state: Option<String>,
        binding: Binding,
    ) -> Result<Response, Result<Refusal, IdpError>> {
        let refuse = |why: Refusal, detail: &str| {
            tracing::info!(sp = %req.issuer, request = %req.id, reason = ?why, detail, "SAML request refused");
            Err(Ok(why))
        };
        let Some(sp) = self.saml_sp_by_entity(&req.issuer).await.map_err(Err)? else {
            return refuse(Refusal::UnknownSp, "no SP has this entity ID");
        };
        match &binding {
            // A signature that is there must verify, whether or not the SP must sign.
            Binding::Redirect(Some((signed, alg, sig)))
                if !super::sign::verify_redirect(signed, alg, sig, &sp.certs) =>
            {
                return refuse(Refusal::BadSignature, "the query signature does not verify");
            }
            Binding::Redirect(None) if sp.requests_signed => {
                return refuse(Refusal::BadSignature, "unsigned, but the SP's metadata says it signs");
            }
            Binding::Post if sp.requests_signed => {
                return refuse(Refusal::UnsupportedSignature, "XML signatures on requests are not checked");
            }
            _ => {}
        }
        if req.destination.as_deref().is_some_and(|d| d != self.saml_sso_url()) {
            return refuse(Refusal::WrongDestination, "Destination is not this IdP's SSO service");
        }
        if req.protocol_binding.as_deref().is_some_and(|b| b != BINDING_POST) {
            return refuse(Refusal::WrongBinding, "ProtocolBinding other than HTTP-POST");
        }
        let Some(acs) = sp.acs_for(req.acs_url.as_deref(), req.acs_index) else {
            return refuse(Refusal::UnknownConsumer, "the consumer is not in the SP's metadata");
        };
        let now = self.now();
        let ttl = Duration::seconds(self.inner.settings.saml.request_ttl_secs as i64);
        if req.issue_instant + ttl < now || req.issue_instant > now + ttl {
            return refuse(Refusal::Expired, "IssueInstant outside the window");
        }
        // Each request id is taken once per SP, remembered as long as it could be taken.
        let key = sha256_hex(&format!("saml-authn\0{}\0{}", sp.entity_id, req.id));
        if !self.inner.store.spend_form(&key, req.issue_instant + ttl + ttl).await.map_err(|e| Err(e.into()))? {
            return refuse(Refusal::Replayed, "the request id was seen before");
        }
        let saml = SamlRequest { request_id: Some(req.id.clone()), acs_url: acs.url.clone(), relay_state };
        let resume = saml.resume(&sp).map_err(Err)?;
        let client = self.client(&sp.id).await.map_err(Err)?.ok_or(Ok(Refusal::UnknownSp))?;
        // A live session answers at once, unless the SP wants a fresh login.
        if let Some(s) = self.current_session(headers).await.map_err(Err)?
            && !req.force_authn
            && !self.wecom_step_missing(&client, &s.amr)
            && let Some(sub) = self.inner.store.subject(&s.login).await.map_err(|e| Err(e.into()))?
            && crate::account::active(&sub)
        {
            if self.needs_otp(&client, &sub) && !s.amr.iter().any(|a| a == "otp") {
                if !req.is_passive {
                    let version = self
                        .inner
                        .store
                        .credential(&s.login)
                        .await
                        .map_err(|e| Err(e.into()))?
                        .map_or(0, |c| c.version);
                    let pending = Pending::second_factor(&s, resume, sub.company.clone(), version);
                    return Ok(self.otp_step(headers, lang, pending, None).await);
                }
            } else {
                self.inner.store.touch_session(&s.id_hash, now).await.map_err(|e| Err(e.into()))?;
                return self.answer_for(headers, lang, &resume, &s, &client, peer, false).await.map_err(Err);
            }
        }
        if req.is_passive {
            let key = self.saml_key().await.map_err(Err)?;
            let answer = self.saml_answer_to(&sp, &saml);
            let xml = response::failure(&key, &answer, response::STATUS_RESPONDER, Some(response::STATUS_NO_PASSIVE))
                .map_err(Err)?;
            return Ok(post_form(&saml.acs_url, &xml, saml.relay_state.as_deref()));
        }
        Ok(self.login_page(headers, lang, &client, &resume, "", None, StatusCode::OK))
    }

    fn saml_answer_to<'a>(&'a self, sp: &'a ServiceProvider, saml: &'a SamlRequest) -> Answer<'a> {
        Answer {
            idp_entity: self.saml_entity_id(),
            sp,
            acs_url: &saml.acs_url,
            in_response_to: saml.request_id.as_deref(),
            now: self.now(),
            ttl: Duration::seconds(self.inner.settings.saml.assertion_ttl_secs as i64),
        }
    }

    /// The signed Response for the person of `session`, as an auto-posting form, once its issue
    /// is in the audit trail (a token issued to the SP, grant `saml`, naming the assertion).
    async fn saml_answer(
        &self,
        sp: &ServiceProvider,
        saml: &SamlRequest,
        session: &SessionRecord,
        peer: &Peer,
        actor: Option<&str>,
    ) -> Result<Response, IdpError> {
        let Some(subject) = self.inner.store.subject(&session.login).await? else {
            return Err(IdpError::Internal(format!("no account {}", session.login)));
        };
        let key = self.saml_key().await?;
        let sub = self.subject_id(&subject.person_key);
        let session_index = response::session_index(&session.id_hash, &sp.entity_id);
        let who = Signed {
            subject: &subject,
            sub: &sub,
            session_index: &session_index,
            auth_time: session.auth_time,
            amr: &session.amr,
            actor,
        };
        let answer = self.saml_answer_to(sp, saml);
        let (xml, assertion_id) = response::success(&key, &answer, &who)?;
        let ctx = peer.context(Some(&sp.id), Some(&session.id_hash));
        let issued =
            AuditEvent::token_issued(answer.now, Some(&session.login), Some(&subject.company), &sp.id, "saml", &ctx)
                .attr("assertion", assertion_id)
                .attr("name_id_format", sp.name_id_format())
                .attr("acs", saml.acs_url.as_str())
                .acted_by(actor);
        self.inner.store.record_issued(&issued).await?;
        // Told when this session ends: by its logout page through the browser, or audited as out
        // of reach when it ends without one (`logout::frames`, `slo.rs`).
        self.inner
            .store
            .add_notice(&orgid_directory::idp::LogoutNotice {
                id: crate::crypto::random_token(16)?,
                session_hash: session.id_hash.clone(),
                login: session.login.clone(),
                client_id: sp.id.clone(),
                protocol: "saml".into(),
                target: sp.slo_request.clone().unwrap_or_default(),
                ticket: None,
                created_at: answer.now,
                attempts: 0,
            })
            .await?;
        Ok(post_form(&saml.acs_url, &xml, saml.relay_state.as_deref()))
    }
}

/// The script that posts the form; allowed by its hash in the page's CSP.
const SUBMIT: &str = "document.forms[0].submit()";

/// The HTTP-POST binding's page: a form that posts itself to the consumer (a button without
/// scripts).
fn post_form(acs_url: &str, xml: &str, relay_state: Option<&str>) -> Response {
    use pages::{esc, hidden};
    let mut fields = hidden("SAMLResponse", &B64.encode(xml));
    if let Some(rs) = relay_state {
        fields.push_str(&hidden("RelayState", rs));
    }
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>SAML</title></head><body>\
<form method=\"post\" action=\"{}\">{fields}<noscript><button type=\"submit\">继续 / Continue</button></noscript></form>\
<script>{SUBMIT}</script></body></html>",
        esc(acs_url)
    );
    let hash = B64.encode(ring::digest::digest(&ring::digest::SHA256, SUBMIT.as_bytes()));
    let csp = format!("default-src 'none'; script-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'");
    let mut res = (StatusCode::OK, axum::response::Html(html)).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}
