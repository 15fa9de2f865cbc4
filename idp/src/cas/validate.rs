//! Ticket validation (CAS 3.0 §2.4–2.7): `/cas/validate` (CAS 1.0 text), `/cas/serviceValidate`
//! and `/cas/p3/serviceValidate` (XML, with the service's attributes), and `/cas/proxyValidate`,
//! `/cas/p3/proxyValidate`, which validate service tickets too (orgid issues no proxy tickets,
//! and a `pgtUrl` is not called back: the validation succeeds without a PGT, as §2.5.4 allows).
//!
//! A ticket is spent by its first validation whatever the outcome (§3.1.1); every validation is
//! audited (`cas.validate`), a refusal with its CAS code. No failure is a 500: a store error is
//! `INTERNAL_ERROR`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use orgid_directory::audit::{AuditEvent, AuditOutcome, EventKind};
use orgid_directory::idp::{CasTicket, LogoutNotice, Subject};

use super::service::same;
use crate::audit::Peer;
use crate::crypto::{random_token, sha256_hex};
use crate::{IdpError, Provider};

pub(super) fn routes() -> Router<Provider> {
    Router::new()
        .route("/cas/validate", get(validate_v1))
        .route("/cas/serviceValidate", get(validate_xml))
        .route("/cas/proxyValidate", get(validate_xml))
        .route("/cas/p3/serviceValidate", get(validate_xml))
        .route("/cas/p3/proxyValidate", get(validate_xml))
}

/// The CAS error codes (CAS 3.0 §2.5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CasError {
    InvalidRequest,
    InvalidTicketSpec,
    InvalidTicket,
    InvalidService,
    InternalError,
}

impl CasError {
    fn code(self) -> &'static str {
        match self {
            CasError::InvalidRequest => "INVALID_REQUEST",
            CasError::InvalidTicketSpec => "INVALID_TICKET_SPEC",
            CasError::InvalidTicket => "INVALID_TICKET",
            CasError::InvalidService => "INVALID_SERVICE",
            CasError::InternalError => "INTERNAL_ERROR",
        }
    }
}

/// A refusal: its code, and the text sent with it (never the ticket itself).
struct Refusal(CasError, &'static str);

/// What a successful validation returns.
struct Validated {
    subject: Subject,
    scopes: Vec<String>,
    ticket: CasTicket,
}

async fn validate_v1(State(p): State<Provider>, peer: Peer, Query(q): Query<HashMap<String, String>>) -> Response {
    let body = match p.validate_ticket(&q, &peer).await {
        Ok(v) => format!("yes\n{}\n", v.subject.login),
        Err(_) => "no\n\n".to_string(),
    };
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    res
}

async fn validate_xml(State(p): State<Provider>, peer: Peer, Query(q): Query<HashMap<String, String>>) -> Response {
    let body = match p.validate_ticket(&q, &peer).await {
        Ok(v) => success(&v),
        Err(Refusal(code, text)) => failure(code, text),
    };
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"));
    res
}

impl Provider {
    async fn validate_ticket(&self, q: &HashMap<String, String>, peer: &Peer) -> Result<Validated, Refusal> {
        let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let (service, ticket) = (get("service").unwrap_or(""), get("ticket").unwrap_or(""));
        let renew = q.get("renew").is_some_and(|v| matches!(v.as_str(), "true" | "1" | ""));
        let result = if service.is_empty() || ticket.is_empty() {
            Err((Refusal(CasError::InvalidRequest, "service and ticket are required"), None))
        } else {
            self.check_ticket(service, ticket, renew).await
        };
        let now = self.now();
        // The audit record: who (if the ticket named someone), which client, what outcome.
        let (login, client_id, session) = match &result {
            Ok(v) => (Some(v.ticket.login.as_str()), Some(v.ticket.client_id.as_str()), Some(&v.ticket.session_hash)),
            Err((_, Some(t))) => (Some(t.login.as_str()), Some(t.client_id.as_str()), Some(&t.session_hash)),
            Err((_, None)) => (None, None, None),
        };
        let ctx = peer.context(client_id, session.map(String::as_str));
        let outcome = if result.is_ok() { AuditOutcome::Success } else { AuditOutcome::Failure };
        let actor = orgid_directory::audit::Actor::System("cas".into());
        let mut event =
            AuditEvent::new(now, EventKind::CasValidate, outcome, actor).context(&ctx).attr("service", service);
        if let Some(l) = login {
            let company = match &result {
                Ok(v) => Some(v.subject.company.clone()),
                Err(_) => self.inner.store.subject(l).await.ok().flatten().map(|s| s.company),
            };
            event = event.subject(l, company.as_ref());
        }
        if let Err((Refusal(code, _), _)) = &result {
            event = event.reason(code.code());
        }
        let acted = match &result {
            Ok(v) => v.ticket.actor.as_deref(),
            Err((_, Some(t))) => t.actor.as_deref(),
            Err((_, None)) => None,
        };
        event = event.acted_by(acted);
        if let Err(e) = self.inner.store.record_refusal(&event).await {
            tracing::error!(error = %e, "CAS validation: the audit record could not be written");
            return Err(Refusal(CasError::InternalError, "the validation could not be recorded"));
        }
        let v = result.map_err(|(r, _)| r)?;
        // The service's own session is keyed by this (now spent) ticket: single logout names it.
        let notice = LogoutNotice {
            id: random_token(16).map_err(|_| Refusal(CasError::InternalError, "no randomness"))?,
            session_hash: v.ticket.session_hash.clone(),
            login: v.ticket.login.clone(),
            client_id: v.ticket.client_id.clone(),
            protocol: "cas".into(),
            target: v.ticket.service.clone(),
            ticket: Some(ticket.to_string()),
            created_at: now,
            attempts: 0,
        };
        if let Err(e) = self.inner.store.add_notice(&notice).await {
            tracing::error!(error = %e, "CAS validation: the single-logout notice could not be kept");
            return Err(Refusal(CasError::InternalError, "the validation could not be recorded"));
        }
        Ok(v)
    }

    /// The ticket's checks, in the order CAS gives them; the spent ticket comes back with a
    /// refusal once it is known (for the audit record).
    async fn check_ticket(
        &self,
        service: &str,
        ticket: &str,
        renew: bool,
    ) -> Result<Validated, (Refusal, Option<Box<CasTicket>>)> {
        let internal = |e: IdpError| {
            tracing::error!(error = %e, "CAS validation failed");
            (Refusal(CasError::InternalError, "the ticket could not be checked"), None)
        };
        if !ticket.starts_with("ST-") {
            return Err((Refusal(CasError::InvalidTicketSpec, "only service tickets (ST-) are issued"), None));
        }
        let now = self.now();
        let Some(t) = self.inner.store.take_ticket(&sha256_hex(ticket), now).await.map_err(|e| internal(e.into()))?
        else {
            return Err((Refusal(CasError::InvalidTicket, "ticket not recognized, or already used"), None));
        };
        let refuse = |code, text| Err((Refusal(code, text), Some(Box::new(t.clone()))));
        if t.expires_at <= now {
            return refuse(CasError::InvalidTicket, "ticket expired");
        }
        if !same(&t.service, service) {
            return refuse(CasError::InvalidService, "the ticket was issued for another service");
        }
        if renew && !t.from_credentials {
            return refuse(CasError::InvalidTicketSpec, "renew: the ticket was not issued from a fresh login");
        }
        let client = self.client(&t.client_id).await.map_err(internal)?;
        let Some(client) = client.filter(|c| c.services.iter().any(|p| super::service::matches(p, service))) else {
            return refuse(CasError::InvalidService, "the service is no longer registered");
        };
        match self.inner.store.session(&t.session_hash).await.map_err(|e| internal(e.into()))? {
            Some(s) if !self.session_expired(&s, now) => {}
            _ => return refuse(CasError::InvalidTicket, "the session that issued the ticket has ended"),
        }
        match self.inner.store.subject(&t.login).await.map_err(|e| internal(e.into()))? {
            Some(subject) if crate::account::active(&subject) => {
                // A delegate's ticket: the delegation must still let them act here.
                if let Some(actor) = &t.actor
                    && !self.delegation_allows(&t.login, actor, &t.client_id).await.map_err(internal)?
                {
                    return refuse(CasError::InvalidTicket, "the delegation has ended");
                }
                Ok(Validated { subject, scopes: client.scopes.clone(), ticket: t })
            }
            _ => refuse(CasError::InvalidTicket, "the account is not active"),
        }
    }
}

/// XML text and attribute values, escaped.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\t' | '\n') => {}
            c => out.push(c),
        }
    }
    out
}

/// The attributes a service is given, by its scopes (as the OIDC claims are): `profile` the
/// name, `email`, `phone`, and `org` the company (name, code, tier), department, title, grade,
/// employee number and groups. Each name once, groups repeated (a multi-valued attribute).
fn attributes(s: &Subject, scopes: &[String]) -> Vec<(&'static str, String)> {
    let has = |x: &str| scopes.iter().any(|s| s == x);
    let mut a = Vec::new();
    if has("profile") {
        a.push(("name", s.name.clone()));
    }
    if has("email") && !s.email.is_empty() {
        a.push(("email", s.email.clone()));
    }
    if has("phone") && !s.mobile.is_empty() {
        a.push(("mobile", s.mobile.clone()));
    }
    if has("org") {
        a.push(("company", s.company_name.clone()));
        a.push(("companyCode", s.company.0.clone()));
        a.push(("companyTier", s.company_tier.as_str().to_string()));
        a.push(("department", s.department.clone()));
        a.push(("title", s.title.clone()));
        if let Some(g) = &s.grade {
            a.push(("grade", g.clone()));
        }
        a.push(("employeeNumber", s.employee_number.clone()));
        for g in crate::account::groups(s) {
            a.push(("groups", g));
        }
    }
    a
}

const NS: &str = "http://www.yale.edu/tp/cas";

fn success(v: &Validated) -> String {
    let mut x = format!(
        "<cas:serviceResponse xmlns:cas=\"{NS}\">\n  <cas:authenticationSuccess>\n    <cas:user>{}</cas:user>\n    <cas:attributes>\n",
        esc(&v.subject.login)
    );
    let mut std = vec![
        ("authenticationDate", v.ticket.auth_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        ("isFromNewLogin", v.ticket.from_credentials.to_string()),
        ("longTermAuthenticationRequestTokenUsed", "false".to_string()),
    ];
    for m in &v.ticket.amr {
        std.push(("authenticationMethod", m.clone()));
    }
    std.extend(attributes(&v.subject, &v.scopes));
    // Delegation by authorization: the user is the principal, this the delegate acting.
    if let Some(actor) = &v.ticket.actor {
        std.push(("actor", actor.clone()));
    }
    for (k, val) in std {
        x.push_str(&format!("      <cas:{k}>{}</cas:{k}>\n", esc(&val)));
    }
    x.push_str("    </cas:attributes>\n  </cas:authenticationSuccess>\n</cas:serviceResponse>\n");
    x
}

fn failure(code: CasError, text: &str) -> String {
    format!(
        "<cas:serviceResponse xmlns:cas=\"{NS}\">\n  <cas:authenticationFailure code=\"{}\">{}</cas:authenticationFailure>\n</cas:serviceResponse>\n",
        code.code(),
        esc(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_a_failure_names_its_code() {
        assert_eq!(esc("a<b>&\"c'\u{7}"), "a&lt;b&gt;&amp;&quot;c&apos;");
        let f = failure(CasError::InvalidService, "x & y");
        assert!(f.contains("code=\"INVALID_SERVICE\">x &amp; y</cas:authenticationFailure>"), "{f}");
    }
}
