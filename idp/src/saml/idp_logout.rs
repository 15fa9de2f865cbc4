//! IdP-initiated single logout: when a person logs out at orgid, its logout page tells each SP
//! that got an assertion in the session, through the browser: a signed `LogoutRequest` (the
//! NameID and SessionIndex of that SP's assertion) by the HTTP-Redirect binding to the SP's
//! SingleLogoutService, loaded in a hidden iframe; the SP's `LogoutResponse` comes back to
//! `/saml/slo`, checked and audited.
//!
//! Each SP's notice (`LogoutStore`, written with the assertion) is marked sent when the page is
//! made. A session that ends without a browser (its limits, an administrator, its account
//! closed) leaves its SAML notices to the sweep (`slo.rs`), which audits each SP as not told.

use std::io::Write;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};

use super::ServiceProvider;
use super::xml::{El, Ns};
use crate::audit::{Peer, session_id};
use crate::{IdpError, Provider};

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(crate) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// How long a LogoutRequest orgid sends is good for.
const REQUEST_TTL_SECS: i64 = 300;

/// An SP's answer to orgid's LogoutRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogoutResponse {
    pub issuer: String,
    pub in_response_to: String,
    pub issue_instant: DateTime<Utc>,
    pub status: String,
}

pub(crate) fn parse_response(xml: &str) -> Result<LogoutResponse, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name((SAMLP, "LogoutResponse")) || root.attribute("Version") != Some("2.0") {
        return Err("not a LogoutResponse 2.0".into());
    }
    let issuer = root
        .children()
        .find(|c| c.has_tag_name((SAML, "Issuer")))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .filter(|i| !i.is_empty())
        .ok_or("no Issuer")?;
    let status = root
        .children()
        .find(|c| c.has_tag_name((SAMLP, "Status")))
        .and_then(|s| s.children().find(|c| c.has_tag_name((SAMLP, "StatusCode"))))
        .and_then(|c| c.attribute("Value"))
        .ok_or("no StatusCode")?
        .to_string();
    Ok(LogoutResponse {
        issuer,
        in_response_to: root.attribute("InResponseTo").filter(|i| !i.is_empty()).ok_or("no InResponseTo")?.to_string(),
        issue_instant: root
            .attribute("IssueInstant")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or("no IssueInstant")?
            .with_timezone(&Utc),
        status,
    })
}

impl Provider {
    /// `dest` with `param` (SAMLRequest or SAMLResponse) holding `xml` deflated, and the query
    /// signed with orgid's SAML key (SAML Bindings §3.4.4.1: RSA-SHA256 over the query).
    pub(crate) async fn saml_redirect(
        &self,
        dest: &str,
        param: &str,
        xml: &str,
        relay_state: Option<&str>,
    ) -> Result<String, IdpError> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(xml.as_bytes()).map_err(|e| IdpError::Internal(format!("deflate: {e}")))?;
        let deflated = enc.finish().map_err(|e| IdpError::Internal(format!("deflate: {e}")))?;
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let mut q = format!("{param}={}", enc(&B64.encode(deflated)));
        if let Some(rs) = relay_state {
            q.push_str(&format!("&RelayState={}", enc(rs)));
        }
        q.push_str(&format!("&SigAlg={}", enc(RSA_SHA256)));
        let signature = self.saml_key().await?.sign(q.as_bytes())?;
        q.push_str(&format!("&Signature={}", enc(&B64.encode(signature))));
        let sep = if dest.contains('?') { '&' } else { '?' };
        Ok(format!("{dest}{sep}{q}"))
    }

    /// The signed LogoutRequests (HTTP-Redirect URLs) for the SPs that got an assertion in the
    /// session `hash`, for its logout page's iframes; each SP's notice is marked sent, audited.
    pub(crate) async fn saml_logout_frames(&self, hash: &str, peer: &Peer) -> Result<Vec<String>, IdpError> {
        let mut frames = Vec::new();
        for n in self.inner.store.session_notices(hash, "saml").await? {
            // An SP gone or without an HTTP-Redirect SingleLogoutService is left to the sweep,
            // which audits it as not told.
            let Some(sp) = self.saml_sp(&n.client_id).await? else { continue };
            let Some(dest) = sp.slo_request.clone() else { continue };
            let Some(subject) = self.inner.store.subject(&n.login).await? else { continue };
            let url = self.logout_request_url(&sp, &dest, hash, &subject).await?;
            let ctx = peer.context(Some(&sp.id), Some(hash));
            let sent = AuditEvent::new(
                self.now(),
                EventKind::SingleLogout,
                AuditOutcome::Success,
                Actor::System("single-logout".into()),
            )
            .subject(&n.login, Some(&subject.company))
            .context(&ctx)
            .attr("protocol", "saml")
            .attr("target", dest.as_str())
            .attr("session", session_id(hash))
            .attr("binding", "HTTP-Redirect")
            .attr("attempt", "1")
            .reason("session ended: LogoutRequest sent through the browser");
            self.inner.store.logout_tried(&n.id, true, None, &[sent]).await?;
            frames.push(url);
        }
        Ok(frames)
    }

    /// The SP that asked for the logout (SP-initiated) needs no telling: its notice is done.
    pub(crate) async fn saml_asked_logout(&self, hash: &str, sp_id: &str) -> Result<(), IdpError> {
        for n in self.inner.store.session_notices(hash, "saml").await? {
            if n.client_id == sp_id {
                let done = AuditEvent::new(
                    self.now(),
                    EventKind::SingleLogout,
                    AuditOutcome::Success,
                    Actor::System("single-logout".into()),
                )
                .subject(&n.login, None)
                .attr("protocol", "saml")
                .attr("target", n.target.as_str())
                .attr("session", session_id(hash))
                .reason("session ended by this SP's own LogoutRequest");
                self.inner.store.logout_tried(&n.id, true, None, &[done]).await?;
            }
        }
        Ok(())
    }

    async fn logout_request_url(
        &self,
        sp: &ServiceProvider,
        dest: &str,
        hash: &str,
        subject: &orgid_directory::idp::Subject,
    ) -> Result<String, IdpError> {
        let now = self.now();
        let at = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let idp = self.saml_entity_id();
        let sub = self.subject_id(&subject.person_key);
        let id = format!("_{}", hex::encode(crate::crypto::random_token(24)?.as_bytes()));
        let xml = El::new(Ns::Samlp, "LogoutRequest")
            .attr("ID", id.as_str())
            .attr("Version", "2.0")
            .attr("IssueInstant", at(now))
            .attr("Destination", dest)
            .attr("NotOnOrAfter", at(now + Duration::seconds(REQUEST_TTL_SECS)))
            .attr("Reason", "urn:oasis:names:tc:SAML:2.0:logout:user")
            .child(El::new(Ns::Saml, "Issuer").text(idp.as_str()))
            .child(super::response::name_id(sp, &idp, &sub, &subject.login))
            .child(El::new(Ns::Samlp, "SessionIndex").text(super::response::session_index(hash, &sp.entity_id)))
            .canonical();
        self.saml_redirect(dest, "SAMLRequest", &xml, None).await
    }

    /// GET /saml/slo with a SAMLResponse: an SP's answer to orgid's LogoutRequest, checked
    /// (a known SP, its signature over the query, its age) and audited; a small blank page.
    pub(crate) async fn saml_logout_response(&self, peer: &Peer, query: &str) -> Result<Response, IdpError> {
        match self.logout_response_checked(peer, query).await? {
            Ok(()) => Ok((
                StatusCode::OK,
                Html(
                    "<!doctype html><html><head><meta charset=\"utf-8\"><title>SAML</title></head><body></body></html>",
                ),
            )
                .into_response()),
            Err(why) => {
                tracing::info!(reason = why, "SAML logout response refused");
                Ok((StatusCode::BAD_REQUEST, Html("<!doctype html><title>SAML</title>")).into_response())
            }
        }
    }

    async fn logout_response_checked(&self, peer: &Peer, query: &str) -> Result<Result<(), &'static str>, IdpError> {
        let q = super::sign::RedirectQuery(query);
        let decoded = |k: &str| q.decoded(k);
        let Some(res) = decoded("SAMLResponse")
            .and_then(|r| super::request::inflate(&r).ok())
            .and_then(|x| parse_response(&x).ok())
        else {
            return Ok(Err("malformed"));
        };
        let Some(sp) = self.saml_sp_by_entity(&res.issuer).await? else { return Ok(Err("unknown SP")) };
        if let Err(why) = q.verify("SAMLResponse", &sp.certs) {
            return Ok(Err(why));
        }
        let now = self.now();
        let ttl = Duration::seconds(self.inner.settings.saml.request_ttl_secs as i64);
        if res.issue_instant + ttl < now || res.issue_instant > now + ttl {
            return Ok(Err("expired"));
        }
        let ok = res.status == super::response::STATUS_SUCCESS;
        let outcome = if ok { AuditOutcome::Success } else { AuditOutcome::Failure };
        let ctx = peer.context(Some(&sp.id), None);
        let event = AuditEvent::new(now, EventKind::SingleLogout, outcome, Actor::System("single-logout".into()))
            .context(&ctx)
            .attr("protocol", "saml")
            .attr("target", sp.entity_id.as_str())
            .attr("binding", "HTTP-Redirect")
            .attr("in_response_to", res.in_response_to.as_str())
            .attr("status", res.status.as_str())
            .reason(if ok { "LogoutResponse: the SP ended its session" } else { "LogoutResponse: the SP failed" });
        self.inner.store.record_issued(&event).await?;
        Ok(Ok(()))
    }
}

/// Whether a GET /saml/slo carries an SP's LogoutResponse (else a LogoutRequest).
pub(crate) fn is_response(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "SAMLResponse")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_logout_response_is_read() {
        let xml = r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-12-05T07:00:00Z" InResponseTo="_q1"><saml:Issuer>https://oa.example/saml</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#;
        let r = parse_response(xml).unwrap();
        assert_eq!(
            (r.issuer.as_str(), r.in_response_to.as_str(), r.status.as_str()),
            ("https://oa.example/saml", "_q1", "urn:oasis:names:tc:SAML:2.0:status:Success")
        );
        assert!(parse_response(&xml.replace("LogoutResponse", "LogoutRequest")).is_err());
        assert!(parse_response(&xml.replace(" InResponseTo=\"_q1\"", "")).is_err());
    }
}
