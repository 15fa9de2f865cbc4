//! An incoming AuthnRequest: decoded from its binding (HTTP-Redirect: base64 of raw DEFLATE;
//! HTTP-POST: base64) and read into the few fields the IdP acts on. DTDs are refused by the
//! parser, and the inflated size is bounded.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// No honest AuthnRequest is near this size.
const MAX_XML: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthnRequest {
    pub id: String,
    pub issuer: String,
    pub issue_instant: DateTime<Utc>,
    pub destination: Option<String>,
    pub acs_url: Option<String>,
    pub acs_index: Option<u32>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    /// Whether the XML carries an enveloped signature (HTTP-POST binding).
    pub xml_signed: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct RequestError(pub String);

fn bad(m: impl Into<String>) -> RequestError {
    RequestError(m.into())
}

/// The XML of an HTTP-Redirect binding's `SAMLRequest`.
pub(crate) fn inflate(value: &str) -> Result<String, RequestError> {
    let raw = B64.decode(value.trim()).map_err(|_| bad("SAMLRequest is not base64"))?;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&raw[..])
        .take(MAX_XML + 1)
        .read_to_string(&mut xml)
        .map_err(|_| bad("SAMLRequest does not inflate to UTF-8 text"))?;
    if xml.len() as u64 > MAX_XML {
        return Err(bad("SAMLRequest is too large"));
    }
    Ok(xml)
}

/// The XML of an HTTP-POST binding's `SAMLRequest`.
pub(crate) fn unbase64(value: &str) -> Result<String, RequestError> {
    let cleaned: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let raw = B64.decode(cleaned).map_err(|_| bad("SAMLRequest is not base64"))?;
    if raw.len() as u64 > MAX_XML {
        return Err(bad("SAMLRequest is too large"));
    }
    String::from_utf8(raw).map_err(|_| bad("SAMLRequest is not UTF-8"))
}

pub(crate) fn parse(xml: &str) -> Result<AuthnRequest, RequestError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| bad(format!("not well-formed XML: {e}")))?;
    let root = doc.root_element();
    if !root.has_tag_name((SAMLP, "AuthnRequest")) {
        return Err(bad("not an AuthnRequest"));
    }
    if root.attribute("Version") != Some("2.0") {
        return Err(bad("Version must be 2.0"));
    }
    let id = root.attribute("ID").filter(|i| !i.is_empty() && i.len() <= 256).ok_or_else(|| bad("no ID"))?;
    let issue_instant = root
        .attribute("IssueInstant")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| bad("no IssueInstant"))?
        .with_timezone(&Utc);
    let issuer = root
        .children()
        .find(|c| c.has_tag_name((SAML, "Issuer")))
        .and_then(|i| i.text())
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| bad("no Issuer"))?;
    let flag = |name| root.attribute(name).is_some_and(|v| v == "true" || v == "1");
    Ok(AuthnRequest {
        id: id.to_string(),
        issuer: issuer.to_string(),
        issue_instant,
        destination: root.attribute("Destination").map(str::to_string),
        acs_url: root.attribute("AssertionConsumerServiceURL").map(str::to_string),
        acs_index: match root.attribute("AssertionConsumerServiceIndex") {
            None => None,
            Some(i) => Some(i.parse().map_err(|_| bad("AssertionConsumerServiceIndex is not a number"))?),
        },
        protocol_binding: root.attribute("ProtocolBinding").map(str::to_string),
        force_authn: flag("ForceAuthn"),
        is_passive: flag("IsPassive"),
        xml_signed: root.children().any(|c| c.has_tag_name(("http://www.w3.org/2000/09/xmldsig#", "Signature"))),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;

    pub(crate) const REQ: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-12-05T07:00:00Z" Destination="https://id.example/saml/sso" AssertionConsumerServiceURL="https://oa.example/acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" ForceAuthn="true"><saml:Issuer> https://oa.example/saml </saml:Issuer><samlp:NameIDPolicy AllowCreate="true"/></samlp:AuthnRequest>"#;

    fn deflate(s: &str) -> String {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(s.as_bytes()).unwrap();
        B64.encode(e.finish().unwrap())
    }

    #[test]
    fn both_bindings_decode_to_the_same_request() {
        let a = parse(&inflate(&deflate(REQ)).unwrap()).unwrap();
        let b = parse(&unbase64(&B64.encode(REQ)).unwrap()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id, "_r1");
        assert_eq!(a.issuer, "https://oa.example/saml");
        assert_eq!(a.acs_url.as_deref(), Some("https://oa.example/acs"));
        assert!(a.force_authn && !a.is_passive && !a.xml_signed);
        assert_eq!(a.issue_instant.to_rfc3339(), "2026-12-05T07:00:00+00:00");
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert!(inflate("not base64!").is_err());
        assert!(inflate(&B64.encode(b"not deflated")).is_err());
        assert!(parse(&REQ.replace("Version=\"2.0\"", "Version=\"1.1\"")).is_err());
        assert!(parse(&REQ.replace("ID=\"_r1\"", "")).is_err());
        assert!(parse(&REQ.replace("AuthnRequest", "LogoutRequest")).is_err());
        assert!(parse(&format!("<!DOCTYPE x [<!ENTITY e \"e\">]>{REQ}")).is_err());
        // A bomb stops at the bound.
        let big = format!("{}{}", REQ.replace("</samlp:AuthnRequest>", ""), " ".repeat(200_000));
        assert_eq!(inflate(&deflate(&big)).unwrap_err(), bad("SAMLRequest is too large"));
    }
}
