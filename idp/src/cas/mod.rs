//! The CAS 3.0 face (Apereo CAS Protocol 3.0): `/cas/login` (with `renew` and `gateway`),
//! `/cas/logout`, and validation (`validate.rs`: `/cas/validate`, `/cas/serviceValidate`,
//! `/cas/p3/serviceValidate`, and the proxy endpoints answering for service tickets alone).
//!
//! It signs in on the shared core: the same SSO session, login pages, password rules, second
//! factor and audit as OpenID Connect. A service is a client with `protocol = "cas"`; a ticket
//! goes only to a service one of them registered (`service.rs`), is stored hashed, single-use,
//! short-lived (`cas.ticket_ttl_secs`) and bound to its service.

mod service;
mod validate;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::Duration;
use orgid_directory::idp::{CasTicket, SessionRecord};

use crate::audit::Peer;
use crate::crypto::{random_token, sha256_hex};
use crate::i18n::{Lang, Msg};
use crate::login::{Acting, Face, Pending, Protocol, Resume, pages};
use crate::respond::{lang_of, page, see_other, with_query};
use crate::{Client, IdpError, Provider};

pub(crate) fn routes() -> Router<Provider> {
    Router::new().route("/cas/login", get(login)).route("/cas/logout", get(logout)).merge(validate::routes())
}

/// The CAS face of the login flow: what `/cas/login` asked, carried through the login pages.
pub(crate) struct Cas;

#[async_trait::async_trait]
impl Face for Cas {
    fn relink(&self, p: &Provider, resume: &Resume, lang: Lang) -> Result<String, IdpError> {
        let service = resume.request.get("service").and_then(|v| v.as_str()).unwrap_or("");
        let mut q = vec![("service", service), ("lang", lang.code())];
        if resume.request.get("renew").and_then(serde_json::Value::as_bool) == Some(true) {
            q.push(("renew", "true"));
        }
        Ok(with_query(&format!("{}/cas/login", p.issuer()), &q))
    }

    async fn answer(
        &self,
        p: &Provider,
        resume: &Resume,
        session: &SessionRecord,
        client: &Client,
        _peer: &Peer,
        acting: &Acting,
    ) -> Result<Response, IdpError> {
        let service = resume.request.get("service").and_then(|v| v.as_str()).unwrap_or("");
        p.issue_ticket(service, session, client, acting).await
    }
}

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params.get(name).is_some_and(|v| matches!(v.as_str(), "true" | "1" | ""))
}

async fn login(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&params, &headers);
    p.cas_login(&headers, &peer, lang, &params).await.unwrap_or_else(|e| crate::unavailable(&e, lang))
}

impl Provider {
    async fn cas_login(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        lang: Lang,
        params: &HashMap<String, String>,
    ) -> Result<Response, IdpError> {
        let bad = |msg: Msg, detail| page(StatusCode::BAD_REQUEST, &[], pages::error(lang, msg.text(lang), detail));
        let Some(service) = params.get("service").filter(|s| !s.is_empty()) else {
            return Ok(bad(Msg::BadRequest, Some("service")));
        };
        // Never a redirect to an unregistered URL: an error page.
        let Some(client) = self.cas_client(service).await? else { return Ok(bad(Msg::UnknownService, None)) };
        let renew = flag(params, "renew");
        // `renew` wins over `gateway` (CAS 3.0 §2.1.1).
        let gateway = !renew && flag(params, "gateway");
        let mut request = serde_json::Map::new();
        request.insert("service".into(), service.clone().into());
        request.insert("renew".into(), renew.into());
        let resume = Resume { protocol: Protocol::Cas, client_id: client.id.clone(), request };
        let session = match self.current_session(headers).await? {
            // A session WeCom alone opened does not cover a client that needs the password.
            Some(s) if self.wecom_step_missing(&client, &s.amr) => None,
            s => s,
        };
        if !renew && let Some(s) = session {
            let Some(sub) = self.inner.store.subject(&s.login).await? else {
                return Ok(bad(Msg::Unavailable, None));
            };
            if self.needs_otp(&client, &sub) && !s.amr.iter().any(|a| a == "otp") {
                if gateway {
                    return Ok(see_other(service, &[]));
                }
                let version = self.inner.store.credential(&s.login).await?.map_or(0, |c| c.version);
                let pending = Pending::second_factor(&s, resume, sub.company.clone(), version);
                return Ok(self.otp_step(headers, lang, pending, None).await);
            }
            self.inner.store.touch_session(&s.id_hash, self.now()).await?;
            return self.answer_for(headers, lang, &resume, &s, &client, peer, false).await;
        }
        if gateway {
            // Not signed in, and the service does not want the login page: back without a ticket.
            return Ok(see_other(service, &[]));
        }
        Ok(self.login_page(headers, lang, &client, &resume, "", None, StatusCode::OK))
    }

    /// A new service ticket for `service` in `session`, and the browser sent back with it.
    async fn issue_ticket(
        &self,
        service: &str,
        session: &SessionRecord,
        client: &Client,
        acting: &Acting,
    ) -> Result<Response, IdpError> {
        let ticket = new_ticket()?;
        let now = self.now();
        self.inner
            .store
            .save_ticket(&CasTicket {
                ticket_hash: sha256_hex(&ticket),
                client_id: client.id.clone(),
                service: service.to_string(),
                login: session.login.clone(),
                session_hash: session.id_hash.clone(),
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                from_credentials: acting.fresh,
                expires_at: now + Duration::seconds(self.inner.settings.cas.ticket_ttl_secs as i64),
                actor: acting.actor.clone(),
            })
            .await?;
        // Appended as it is, not re-serialised: the service validates with the URL it sent.
        let sep = if service.contains('?') { '&' } else { '?' };
        Ok(see_other(&format!("{service}{sep}ticket={ticket}"), &[]))
    }
}

/// `ST-` and 256 random bits in hex: CAS 3.0 §3.1.1 asks for letters, digits and `-` only
/// (mod_auth_cas ignores a ticket with `_`, which base64url has).
fn new_ticket() -> Result<String, IdpError> {
    use ring::rand::SecureRandom;
    let mut buf = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut buf).map_err(|_| IdpError::Internal("no system randomness".into()))?;
    Ok(format!("ST-{}", hex::encode(buf)))
}

/// `/cas/logout`: ends the SSO session at once (CAS 3.0 §2.3) and tells every service and
/// client of the session; then back to `service` if it is a registered one, else a page.
async fn logout(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&params, &headers);
    let result = async {
        let service = params.get("service").filter(|s| !s.is_empty());
        let client = match service {
            Some(s) => p.cas_client(s).await?,
            None => None,
        };
        p.end_browser_session(&headers, &peer, client.as_ref().map(|c| c.id.as_str())).await?;
        let clear = Some(p.clear_session_cookie());
        Ok::<_, IdpError>(match (service, client) {
            (Some(s), Some(_)) => see_other(s, &[clear]),
            _ => page(StatusCode::OK, &[clear], pages::message(lang, Msg::LoggedOutTitle, Msg::LoggedOut)),
        })
    }
    .await;
    result.unwrap_or_else(|e| crate::unavailable(&e, lang))
}

/// The logout request a service gets when the session its ticket came from ends (CAS 3.0
/// Appendix C: a SAML 1.1-style `LogoutRequest` naming the ticket as `SessionIndex`), POSTed
/// as `logoutRequest` to the service URL the ticket was validated for.
pub(crate) fn logout_request(
    n: &orgid_directory::idp::LogoutNotice,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<crate::slo::LogoutMessage> {
    let ticket = n.ticket.as_deref()?;
    let id = random_token(16).ok()?;
    let esc = validate::esc;
    let value = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"LR-{id}\" Version=\"2.0\" IssueInstant=\"{}\">\
         <saml:NameID>{}</saml:NameID><samlp:SessionIndex>{}</samlp:SessionIndex></samlp:LogoutRequest>",
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        esc(&n.login),
        esc(ticket)
    );
    Some(crate::slo::LogoutMessage { url: n.target.clone(), field: "logoutRequest", value, redirect_ok: true })
}
