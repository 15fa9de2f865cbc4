//! Metadata: reading a service provider's (`EntityDescriptor` with an `SPSSODescriptor`) into a
//! [`ServiceProvider`], and writing orgid's own IdP metadata.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use orgid_config::{SamlNameId, SamlSign, SamlSpConfig};

use super::xml::{El, Ns};
use super::{BINDING_POST, BINDING_REDIRECT, NAMEID_PERSISTENT, NAMEID_UNSPECIFIED};

const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// An assertion consumer service of an SP (HTTP-POST binding only: the one orgid answers by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acs {
    pub url: String,
    pub index: Option<u32>,
    pub default: bool,
}

/// A SAML service provider: what its metadata says and what orgid's registration adds.
#[derive(Debug, Clone)]
pub struct ServiceProvider {
    /// The client id orgid names it by.
    pub id: String,
    pub name: String,
    pub entity_id: String,
    /// Its HTTP-POST assertion consumer services, in metadata order: the only places a Response
    /// goes.
    pub acs: Vec<Acs>,
    /// DER certificates of its signing keys.
    pub certs: Vec<Vec<u8>>,
    /// `AuthnRequestsSigned`: unsigned requests are refused.
    pub requests_signed: bool,
    /// Where a LogoutResponse goes (its HTTP-Redirect SingleLogoutService: `ResponseLocation`,
    /// else `Location`).
    pub slo: Option<String>,
    /// Where a LogoutRequest goes (its HTTP-Redirect SingleLogoutService's `Location`): orgid's
    /// own logout tells the SP through the browser.
    pub slo_request: Option<String>,
    pub name_id: SamlNameId,
    pub sign: SamlSign,
    pub attributes: Vec<String>,
    pub require_totp: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("SP metadata: {0}")]
pub struct MetadataError(String);

impl ServiceProvider {
    /// The SP of a `[[saml.service_providers]]` entry, whose metadata file holds `xml`.
    pub fn from_config(cfg: &SamlSpConfig, xml: &str) -> Result<Self, MetadataError> {
        let mut sp = parse(xml)?;
        sp.id = cfg.id.clone();
        sp.name = if cfg.name.is_empty() { cfg.id.clone() } else { cfg.name.clone() };
        sp.name_id = cfg.name_id;
        sp.sign = cfg.sign;
        sp.attributes = cfg.attributes.clone();
        sp.require_totp = cfg.require_totp;
        Ok(sp)
    }

    /// An SP registered in the store (`orgid clients add --protocol saml`), with its client's
    /// name and second-factor rule.
    pub fn from_stored(
        stored: &orgid_directory::idp::StoredSamlSp,
        name: &str,
        require_totp: bool,
    ) -> Result<Self, MetadataError> {
        let mut sp = parse(&stored.metadata)?;
        sp.id = stored.id.clone();
        sp.name = name.to_string();
        sp.name_id =
            parse_name_id(&stored.name_id).ok_or_else(|| MetadataError(format!("name_id `{}`", stored.name_id)))?;
        sp.sign = parse_sign(&stored.sign).ok_or_else(|| MetadataError(format!("sign `{}`", stored.sign)))?;
        sp.attributes = stored.attributes.clone();
        sp.require_totp = require_totp;
        Ok(sp)
    }

    /// The ACS a request names (by URL or index), else the default one (the one marked so, else
    /// the first). `None`: the request names one the metadata does not have.
    pub(crate) fn acs_for(&self, url: Option<&str>, index: Option<u32>) -> Option<&Acs> {
        match (url, index) {
            (Some(u), _) => self.acs.iter().find(|a| a.url == u),
            (None, Some(i)) => self.acs.iter().find(|a| a.index == Some(i)),
            (None, None) => self.acs.iter().find(|a| a.default).or(self.acs.first()),
        }
    }

    pub(crate) fn name_id_format(&self) -> &'static str {
        match self.name_id {
            SamlNameId::Persistent => NAMEID_PERSISTENT,
            SamlNameId::Login => NAMEID_UNSPECIFIED,
        }
    }
}

/// `persistent` or `login`, as in the configuration.
pub fn parse_name_id(s: &str) -> Option<SamlNameId> {
    match s {
        "persistent" => Some(SamlNameId::Persistent),
        "login" => Some(SamlNameId::Login),
        _ => None,
    }
}

/// `assertion`, `response` or `both`, as in the configuration.
pub fn parse_sign(s: &str) -> Option<SamlSign> {
    match s {
        "assertion" => Some(SamlSign::Assertion),
        "response" => Some(SamlSign::Response),
        "both" => Some(SamlSign::Both),
        _ => None,
    }
}

/// Reads an SP's metadata (an `EntityDescriptor`, or the first SP in an `EntitiesDescriptor`).
/// DTDs are refused by the parser, so no entity is ever expanded.
pub fn parse(xml: &str) -> Result<ServiceProvider, MetadataError> {
    let err = |m: &str| MetadataError(m.to_string());
    let doc = roxmltree::Document::parse(xml).map_err(|e| MetadataError(format!("not well-formed XML: {e}")))?;
    let is = |n: &roxmltree::Node, name: &str| {
        n.is_element() && n.tag_name().namespace() == Some(MD) && n.tag_name().name() == name
    };
    let entity = doc
        .descendants()
        .find(|n| is(n, "EntityDescriptor") && n.children().any(|c| is(&c, "SPSSODescriptor")))
        .ok_or_else(|| err("no EntityDescriptor with an SPSSODescriptor"))?;
    let entity_id = entity.attribute("entityID").filter(|e| !e.is_empty()).ok_or_else(|| err("no entityID"))?;
    let sso = entity.children().find(|c| is(c, "SPSSODescriptor")).ok_or_else(|| err("no SPSSODescriptor"))?;
    let mut acs = Vec::new();
    for a in sso.children().filter(|c| is(c, "AssertionConsumerService")) {
        if a.attribute("Binding") != Some(BINDING_POST) {
            continue;
        }
        let url = a.attribute("Location").ok_or_else(|| err("an AssertionConsumerService has no Location"))?;
        let parsed = url::Url::parse(url).map_err(|_| err("an AssertionConsumerService Location is not a URL"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(err("an AssertionConsumerService Location must be http(s)"));
        }
        acs.push(Acs {
            url: url.to_string(),
            index: a.attribute("index").and_then(|i| i.parse().ok()),
            default: a.attribute("isDefault") == Some("true"),
        });
    }
    if acs.is_empty() {
        return Err(err("no AssertionConsumerService with the HTTP-POST binding"));
    }
    let mut certs = Vec::new();
    for kd in sso.children().filter(|c| is(c, "KeyDescriptor")) {
        if kd.attribute("use").is_some_and(|u| u != "signing") {
            continue;
        }
        for c in kd.descendants().filter(|n| {
            n.is_element() && n.tag_name().namespace() == Some(DS) && n.tag_name().name() == "X509Certificate"
        }) {
            let text: String = c.text().unwrap_or("").chars().filter(|c| !c.is_whitespace()).collect();
            let der = B64.decode(text).map_err(|_| err("an X509Certificate is not base64"))?;
            x509_parser::parse_x509_certificate(&der).map_err(|_| err("an X509Certificate does not parse"))?;
            certs.push(der);
        }
    }
    let redirect_slo =
        sso.children().find(|c| is(c, "SingleLogoutService") && c.attribute("Binding") == Some(BINDING_REDIRECT));
    let web = |u: &&str| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
    let slo = redirect_slo
        .and_then(|c| c.attribute("ResponseLocation").or(c.attribute("Location")))
        .filter(web)
        .map(str::to_string);
    let slo_request = redirect_slo.and_then(|c| c.attribute("Location")).filter(web).map(str::to_string);
    let requests_signed = sso.attribute("AuthnRequestsSigned").is_some_and(|v| v == "true" || v == "1");
    if requests_signed && certs.is_empty() {
        return Err(err("AuthnRequestsSigned, but no signing certificate"));
    }
    Ok(ServiceProvider {
        id: entity_id.to_string(),
        name: entity_id.to_string(),
        entity_id: entity_id.to_string(),
        acs,
        certs,
        requests_signed,
        slo,
        slo_request,
        name_id: SamlNameId::default(),
        sign: SamlSign::default(),
        attributes: orgid_config::SAML_ATTRIBUTES.iter().map(|s| s.to_string()).collect(),
        require_totp: false,
    })
}

/// orgid's IdP metadata: its entity ID (the issuer's `/saml/metadata`), its signing
/// certificate, its single logout (HTTP-Redirect) and SSO services (both bindings) and the NameID
/// formats it issues.
pub(crate) fn idp(entity_id: &str, sso_url: &str, slo_url: &str, cert_b64: &str) -> String {
    let service =
        |binding: &str| El::new(Ns::Md, "SingleSignOnService").attr("Binding", binding).attr("Location", sso_url);
    let descriptor = El::new(Ns::Md, "IDPSSODescriptor")
        .attr("WantAuthnRequestsSigned", "false")
        .attr("protocolSupportEnumeration", "urn:oasis:names:tc:SAML:2.0:protocol")
        .child(El::new(Ns::Md, "KeyDescriptor").attr("use", "signing").child(super::sign::key_info(cert_b64)))
        .child(El::new(Ns::Md, "SingleLogoutService").attr("Binding", BINDING_REDIRECT).attr("Location", slo_url))
        .child(El::new(Ns::Md, "NameIDFormat").text(NAMEID_PERSISTENT))
        .child(El::new(Ns::Md, "NameIDFormat").text(NAMEID_UNSPECIFIED))
        .child(service(BINDING_REDIRECT))
        .child(service(BINDING_POST));
    let doc = El::new(Ns::Md, "EntityDescriptor").attr("entityID", entity_id).child(descriptor);
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", doc.canonical())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    pub(crate) const SP: &str = r#"<?xml version="1.0"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://oa.example/saml">
  <SPSSODescriptor AuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://oa.example/artifact" index="0"/>
    <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://oa.example/acs" index="1"/>
    <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://oa.example/acs2" index="2" isDefault="true"/>
  </SPSSODescriptor>
</EntityDescriptor>"#;

    #[test]
    fn an_sp_is_read_from_its_metadata_with_only_its_post_consumers() {
        let sp = parse(SP).unwrap();
        assert_eq!(sp.entity_id, "https://oa.example/saml");
        assert_eq!(
            sp.acs.iter().map(|a| a.url.as_str()).collect::<Vec<_>>(),
            ["https://oa.example/acs", "https://oa.example/acs2"]
        );
        assert!(!sp.requests_signed);
        assert_eq!(sp.acs_for(None, None).unwrap().url, "https://oa.example/acs2");
        assert_eq!(sp.acs_for(None, Some(1)).unwrap().url, "https://oa.example/acs");
        assert_eq!(sp.acs_for(Some("https://oa.example/acs"), None).unwrap().url, "https://oa.example/acs");
        // Never a consumer the metadata does not list: no open redirect.
        assert!(sp.acs_for(Some("https://evil.example/acs"), None).is_none());
        assert!(sp.acs_for(None, Some(0)).is_none());
    }

    #[test]
    fn requests_go_to_the_logout_location_and_responses_to_the_response_location() {
        let slo = r#"<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://oa.example/soap"/>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://oa.example/slo" ResponseLocation="https://oa.example/slo-done"/>
    <AssertionConsumerService"#;
        let sp = parse(&SP.replacen("<AssertionConsumerService", slo, 1)).unwrap();
        assert_eq!(sp.slo_request.as_deref(), Some("https://oa.example/slo"));
        assert_eq!(sp.slo.as_deref(), Some("https://oa.example/slo-done"));
        assert_eq!((parse(SP).unwrap().slo_request, parse(SP).unwrap().slo), (None, None));
    }

    #[test]
    fn metadata_that_says_it_signs_must_carry_a_certificate_and_dtds_are_refused() {
        let signed = SP.replace("AuthnRequestsSigned=\"false\"", "AuthnRequestsSigned=\"true\"");
        assert!(parse(&signed).unwrap_err().to_string().contains("no signing certificate"));
        let dtd = format!("<!DOCTYPE x [<!ENTITY a \"aaaa\">]>{}", SP.trim_start_matches("<?xml version=\"1.0\"?>\n"));
        assert!(parse(&dtd).is_err());
        assert!(parse("<EntityDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"/>").is_err());
    }

    #[test]
    fn the_idp_metadata_names_the_endpoints_and_the_certificate() {
        let xml = idp(
            "https://id.example/saml/metadata",
            "https://id.example/saml/sso",
            "https://id.example/saml/slo",
            "MIIB",
        );
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("entityID"), Some("https://id.example/saml/metadata"));
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name((MD, "SingleSignOnService"))).count(), 2);
        assert!(doc.descendants().any(|n| n.has_tag_name((DS, "X509Certificate")) && n.text() == Some("MIIB")));
    }
}
