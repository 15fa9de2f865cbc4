//! SP-initiated single logout by the HTTP-Redirect binding: a signed LogoutRequest ends this
//! browser's orgid session (and so every module's next login), and a signed LogoutResponse goes
//! back to the SP's SingleLogoutService from its metadata.
//!
//! Both directions sign the query (SAML Bindings §3.4.4.1), which needs no XML
//! canonicalization. IdP-initiated logout (orgid telling every SP of a session) is in
//! `idp_logout.rs`; an SP's LogoutResponse to it comes to the same `/saml/slo`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};

use super::xml::{El, Ns};
use crate::audit::Peer;
use crate::crypto::sha256_hex;
use crate::i18n::Lang;
use crate::login::pages;
use crate::respond::{page, see_other};
use crate::{IdpError, Provider};

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogoutRequest {
    pub id: String,
    pub issuer: String,
    pub issue_instant: DateTime<Utc>,
    pub name_id: String,
}

pub(crate) fn parse(xml: &str) -> Result<LogoutRequest, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name((SAMLP, "LogoutRequest")) || root.attribute("Version") != Some("2.0") {
        return Err("not a LogoutRequest 2.0".into());
    }
    let text = |name: &str| {
        root.children().find(|c| c.has_tag_name((SAML, name))).and_then(|n| n.text()).map(|t| t.trim().to_string())
    };
    Ok(LogoutRequest {
        id: root.attribute("ID").filter(|i| !i.is_empty() && i.len() <= 256).ok_or("no ID")?.to_string(),
        issuer: text("Issuer").filter(|i| !i.is_empty()).ok_or("no Issuer")?,
        issue_instant: root
            .attribute("IssueInstant")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or("no IssueInstant")?
            .with_timezone(&Utc),
        name_id: text("NameID").ok_or("no NameID")?,
    })
}

/// GET /saml/slo: a LogoutRequest by the HTTP-Redirect binding.
pub(crate) async fn slo_get(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let lang = crate::respond::lang_of(&Default::default(), &headers);
    let query = query.unwrap_or_default();
    if super::idp_logout::is_response(&query) {
        return p.saml_logout_response(&peer, &query).await.unwrap_or_else(|e| crate::unavailable(&e, lang));
    }
    match p.slo(&headers, &peer, &query).await {
        Ok(Ok(r)) => r,
        Ok(Err(why)) => {
            tracing::info!(reason = why, "SAML logout request refused");
            let text = match lang {
                Lang::Zh => "SAML 注销请求无效或签名不正确。",
                Lang::En => "The SAML logout request is invalid or not correctly signed.",
            };
            page(StatusCode::BAD_REQUEST, &[], pages::error(lang, text, None))
        }
        Err(e) => crate::unavailable(&e, lang),
    }
}

impl Provider {
    async fn slo(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        query: &str,
    ) -> Result<Result<Response, &'static str>, IdpError> {
        let q = super::sign::RedirectQuery(query);
        let decoded = |k: &str| q.decoded(k);
        let Some(req) =
            decoded("SAMLRequest").and_then(|r| super::request::inflate(&r).ok()).and_then(|x| parse(&x).ok())
        else {
            return Ok(Err("malformed"));
        };
        let Some(sp) = self.saml_sp_by_entity(&req.issuer).await? else { return Ok(Err("unknown SP")) };
        // A logout by Redirect must be signed (SAML Profiles §4.4.4.1): else any page could sign
        // people out.
        if let Err(why) = q.verify("SAMLRequest", &sp.certs) {
            return Ok(Err(why));
        }
        let now = self.now();
        let ttl = Duration::seconds(self.inner.settings.saml.request_ttl_secs as i64);
        if req.issue_instant + ttl < now || req.issue_instant > now + ttl {
            return Ok(Err("expired"));
        }
        let key = sha256_hex(&format!("saml-logout\0{}\0{}", sp.entity_id, req.id));
        if !self.inner.store.spend_form(&key, req.issue_instant + ttl + ttl).await? {
            return Ok(Err("replayed"));
        }
        let Some(slo) = sp.slo.clone() else { return Ok(Err("the SP has no SingleLogoutService")) };
        // The browser's session ends if it is the person the SP names.
        let mut cookies = Vec::new();
        if let Some(s) = self.current_session(headers).await?
            && let Some(sub) = self.inner.store.subject(&s.login).await?
            && (req.name_id == s.login || req.name_id == self.subject_id(&sub.person_key))
        {
            self.saml_asked_logout(&s.id_hash, &sp.id).await?;
            self.end_browser_session(headers, peer, Some(&sp.id)).await?;
            cookies.push(Some(self.clear_session_cookie()));
        }
        let id = format!("_{}", hex::encode(crate::crypto::random_token(24)?.as_bytes()));
        let xml = El::new(Ns::Samlp, "LogoutResponse")
            .attr("ID", id.as_str())
            .attr("Version", "2.0")
            .attr("IssueInstant", now.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .attr("Destination", slo.as_str())
            .attr("InResponseTo", req.id.as_str())
            .child(El::new(Ns::Saml, "Issuer").text(self.saml_entity_id()))
            .child(
                El::new(Ns::Samlp, "Status")
                    .child(El::new(Ns::Samlp, "StatusCode").attr("Value", super::response::STATUS_SUCCESS)),
            )
            .canonical();
        let to = self.saml_redirect(&slo, "SAMLResponse", &xml, decoded("RelayState").as_deref()).await?;
        tracing::info!(sp = %sp.entity_id, "SAML logout answered");
        Ok(Ok(see_other(&to, &cookies)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_logout_request_is_read() {
        let xml = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l1" Version="2.0" IssueInstant="2026-12-05T07:00:00Z"><saml:Issuer>https://oa.example/saml</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">wangfang</saml:NameID><samlp:SessionIndex>_s</samlp:SessionIndex></samlp:LogoutRequest>"#;
        let r = parse(xml).unwrap();
        assert_eq!(
            (r.id.as_str(), r.issuer.as_str(), r.name_id.as_str()),
            ("_l1", "https://oa.example/saml", "wangfang")
        );
        assert!(parse(&xml.replace("LogoutRequest", "AuthnRequest")).is_err());
        assert!(parse(&xml.replace("<saml:NameID", "<saml:Other").replace("</saml:NameID>", "</saml:Other>")).is_err());
    }
}
