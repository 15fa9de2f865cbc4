//! The Response orgid sends an SP: status, and on success one bearer assertion for the person,
//! restricted to the SP (audience), its consumer URL (recipient) and the request it answers, with
//! the attributes released to it; signed as the SP's registration says.

use chrono::{DateTime, Duration, Utc};
use orgid_config::SamlSign;
use orgid_directory::idp::Subject;

use super::metadata::ServiceProvider;
use super::sign::SamlKey;
use super::xml::{El, Ns};
use crate::IdpError;

pub(crate) const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub(crate) const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
pub(crate) const STATUS_NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const PASSWORD: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
const MULTI_FACTOR: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken";
const BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";

/// Who signed in, as the assertion states it.
pub(crate) struct Signed<'a> {
    pub subject: &'a Subject,
    /// The OIDC `sub` (the persistent NameID).
    pub sub: &'a str,
    pub session_index: &'a str,
    pub auth_time: DateTime<Utc>,
    pub amr: &'a [String],
    /// The delegate acting for the subject (delegation by authorization): released as the
    /// `actor` attribute, whatever the SP's list.
    pub actor: Option<&'a str>,
}

/// What the response answers.
pub(crate) struct Answer<'a> {
    pub idp_entity: String,
    pub sp: &'a ServiceProvider,
    pub acs_url: &'a str,
    pub in_response_to: Option<&'a str>,
    pub now: DateTime<Utc>,
    pub ttl: Duration,
}

fn instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An `_`-prefixed random id (an xs:ID must not start with a digit).
fn new_id() -> Result<String, IdpError> {
    Ok(format!("_{}", hex::encode(crate::crypto::random_token(24)?.as_bytes())))
}

/// The released attributes' values, by the names of `orgid_config::SAML_ATTRIBUTES`.
pub(crate) fn attribute_values(s: &Subject, name: &str) -> Vec<String> {
    let one = |v: &str| if v.is_empty() { Vec::new() } else { vec![v.to_string()] };
    match name {
        "login" => one(&s.login),
        "name" => one(&s.name),
        "email" => one(&s.email),
        "company" => one(&s.company.0),
        "company_name" => one(&s.company_name),
        "department" => one(&s.department),
        "title" => one(&s.title),
        "grade" => s.grade.as_deref().map(one).unwrap_or_default(),
        "employee_number" => one(&s.employee_number),
        "groups" => crate::account::groups(s),
        _ => Vec::new(),
    }
}

fn response_el(a: &Answer, id: &str, status: El) -> El {
    let mut r = El::new(Ns::Samlp, "Response")
        .attr("ID", id)
        .attr("Version", "2.0")
        .attr("IssueInstant", instant(a.now))
        .attr("Destination", a.acs_url)
        .child(El::new(Ns::Saml, "Issuer").text(a.idp_entity.as_str()))
        .child(status);
    if let Some(irt) = a.in_response_to {
        r = r.attr("InResponseTo", irt);
    }
    r
}

fn status(code: &str, second: Option<&str>) -> El {
    let mut c = El::new(Ns::Samlp, "StatusCode").attr("Value", code);
    if let Some(s) = second {
        c = c.child(El::new(Ns::Samlp, "StatusCode").attr("Value", s));
    }
    El::new(Ns::Samlp, "Status").child(c)
}

/// A failed Response (`code`, with a second-level code), signed: e.g. NoPassive.
pub(crate) fn failure(key: &SamlKey, a: &Answer, code: &str, second: Option<&str>) -> Result<String, IdpError> {
    let id = new_id()?;
    let mut r = response_el(a, &id, status(code, second));
    key.sign_enveloped(&mut r, &id, 1)?;
    Ok(r.canonical())
}

/// The NameID an SP gets for a person (in its assertions and in the LogoutRequests orgid sends
/// it): the persistent `sub` with its qualifiers, or the login.
pub(crate) fn name_id(sp: &ServiceProvider, idp_entity: &str, sub: &str, login: &str) -> El {
    match sp.name_id {
        orgid_config::SamlNameId::Persistent => El::new(Ns::Saml, "NameID")
            .attr("Format", sp.name_id_format())
            .attr("NameQualifier", idp_entity)
            .attr("SPNameQualifier", sp.entity_id.as_str())
            .text(sub),
        orgid_config::SamlNameId::Login => El::new(Ns::Saml, "NameID").attr("Format", sp.name_id_format()).text(login),
    }
}

/// The index of an SSO session as an SP sees it (no session id leaves orgid).
pub(crate) fn session_index(session_hash: &str, sp_entity: &str) -> String {
    format!("_{}", &crate::crypto::sha256_hex(&format!("saml-session\0{session_hash}\0{sp_entity}"))[..32])
}

/// A successful Response with its assertion, signed as the SP asks, and the assertion's ID.
pub(crate) fn success(key: &SamlKey, a: &Answer, who: &Signed) -> Result<(String, String), IdpError> {
    let (sp, now) = (a.sp, a.now);
    let until = instant(now + a.ttl);
    let name_id = name_id(sp, &a.idp_entity, who.sub, &who.subject.login);
    let mut confirmation =
        El::new(Ns::Saml, "SubjectConfirmationData").attr("NotOnOrAfter", until.as_str()).attr("Recipient", a.acs_url);
    if let Some(irt) = a.in_response_to {
        confirmation = confirmation.attr("InResponseTo", irt);
    }
    let class = if who.amr.iter().any(|m| m == "otp") { MULTI_FACTOR } else { PASSWORD };
    let mut attributes: Vec<El> = sp
        .attributes
        .iter()
        .filter_map(|name| {
            let values = attribute_values(who.subject, name);
            (!values.is_empty()).then(|| {
                El::new(Ns::Saml, "Attribute")
                    .attr("Name", name.as_str())
                    .attr("NameFormat", BASIC)
                    .children(values.into_iter().map(|v| El::new(Ns::Saml, "AttributeValue").text(v)))
            })
        })
        .collect();
    if let Some(actor) = who.actor {
        attributes.push(
            El::new(Ns::Saml, "Attribute")
                .attr("Name", "actor")
                .attr("NameFormat", BASIC)
                .child(El::new(Ns::Saml, "AttributeValue").text(actor)),
        );
    }
    let assertion_id = new_id()?;
    let mut assertion = El::new(Ns::Saml, "Assertion")
        .attr("ID", assertion_id.as_str())
        .attr("Version", "2.0")
        .attr("IssueInstant", instant(now))
        .child(El::new(Ns::Saml, "Issuer").text(a.idp_entity.as_str()))
        .child(
            El::new(Ns::Saml, "Subject")
                .child(name_id)
                .child(El::new(Ns::Saml, "SubjectConfirmation").attr("Method", BEARER).child(confirmation)),
        )
        .child(
            El::new(Ns::Saml, "Conditions").attr("NotBefore", instant(now)).attr("NotOnOrAfter", until.as_str()).child(
                El::new(Ns::Saml, "AudienceRestriction")
                    .child(El::new(Ns::Saml, "Audience").text(sp.entity_id.as_str())),
            ),
        )
        .child(
            El::new(Ns::Saml, "AuthnStatement")
                .attr("AuthnInstant", instant(who.auth_time))
                .attr("SessionIndex", who.session_index)
                .child(El::new(Ns::Saml, "AuthnContext").child(El::new(Ns::Saml, "AuthnContextClassRef").text(class))),
        );
    if !attributes.is_empty() {
        // The schema wants at least one attribute in a statement.
        assertion = assertion.child(El::new(Ns::Saml, "AttributeStatement").children(attributes));
    }
    if matches!(sp.sign, SamlSign::Assertion | SamlSign::Both) {
        key.sign_enveloped(&mut assertion, &assertion_id, 1)?;
    }
    let id = new_id()?;
    let mut r = response_el(a, &id, status(STATUS_SUCCESS, None)).child(assertion);
    if matches!(sp.sign, SamlSign::Response | SamlSign::Both) {
        key.sign_enveloped(&mut r, &id, 1)?;
    }
    Ok((r.canonical(), assertion_id))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn subject() -> Subject {
        Subject {
            login: "wangfang".into(),
            person_key: orgid_directory::PersonKey("k".into()),
            status: orgid_directory::AccountStatus::Active,
            name: "王芳".into(),
            employee_number: "E001".into(),
            email: String::new(),
            mobile: String::new(),
            company: orgid_directory::CompanyCode("C1".into()),
            company_name: "一公司 & <co>".into(),
            company_tier: orgid_directory::Tier::Tier1,
            department: "财务部/一科".into(),
            title: "会计".into(),
            grade: Some("M12".into()),
            confidential: true,
            departed: false,
        }
    }

    fn key() -> SamlKey {
        let rec = orgid_directory::idp::SigningKeyRecord {
            kid: "saml-test".into(),
            alg: super::super::sign::SAML_ALG.into(),
            private_pkcs8: crate::oidc::keys::generate(orgid_config::SigningAlg::RS256).unwrap(),
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            retire_at: DateTime::from_timestamp(2_000_000_000, 0).unwrap(),
            expires_at: DateTime::from_timestamp(2_000_000_000, 0).unwrap(),
        };
        SamlKey::from_record(&rec, "https://id.example").unwrap()
    }

    const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

    #[test]
    fn a_response_binds_audience_recipient_request_and_releases_only_the_sps_attributes() {
        let mut sp = super::super::metadata::parse(super::super::metadata::tests::SP).unwrap();
        sp.attributes =
            vec!["company_name".into(), "department".into(), "grade".into(), "groups".into(), "email".into()];
        sp.sign = SamlSign::Assertion;
        let subject = subject();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let a = Answer {
            idp_entity: "https://id.example/saml/metadata".into(),
            sp: &sp,
            acs_url: "https://oa.example/acs",
            in_response_to: Some("_r1"),
            now,
            ttl: Duration::seconds(300),
        };
        let amr = ["pwd".to_string()];
        let who = Signed { subject: &subject, sub: "SUB", session_index: "_s", auth_time: now, amr: &amr, actor: None };
        let (xml, _) = success(&key(), &a, &who).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let one = |name: &str| doc.descendants().find(|n| n.has_tag_name((SAML, name))).unwrap();
        assert_eq!(doc.root_element().attribute("InResponseTo"), Some("_r1"));
        assert_eq!(doc.root_element().attribute("Destination"), Some("https://oa.example/acs"));
        assert_eq!(one("Audience").text(), Some("https://oa.example/saml"));
        let conf = one("SubjectConfirmationData");
        assert_eq!(conf.attribute("Recipient"), Some("https://oa.example/acs"));
        assert_eq!(conf.attribute("InResponseTo"), Some("_r1"));
        assert_eq!(conf.attribute("NotOnOrAfter"), Some("2027-01-15T08:05:00Z"));
        assert_eq!(one("NameID").text(), Some("SUB"));
        let attrs: Vec<(String, Vec<String>)> = doc
            .descendants()
            .filter(|n| n.has_tag_name((SAML, "Attribute")))
            .map(|n| {
                let values = n.children().filter_map(|v| v.text().map(str::to_string)).collect();
                (n.attribute("Name").unwrap().to_string(), values)
            })
            .collect();
        // The empty email is left out; the rest in the SP's order, escaped and read back intact.
        assert_eq!(
            attrs,
            [
                ("company_name".to_string(), vec!["一公司 & <co>".to_string()]),
                ("department".to_string(), vec!["财务部/一科".to_string()]),
                ("grade".to_string(), vec!["M12".to_string()]),
                (
                    "groups".to_string(),
                    vec!["C1".to_string(), "C1/财务部/一科".to_string(), "confidential".to_string()]
                ),
            ]
        );
        // Signed as asked: the assertion only.
        let sigs: Vec<_> =
            doc.descendants().filter(|n| n.has_tag_name(("http://www.w3.org/2000/09/xmldsig#", "Signature"))).collect();
        assert_eq!(sigs.len(), 1);
        assert!(sigs[0].parent().unwrap().has_tag_name((SAML, "Assertion")));
    }

    #[test]
    fn the_login_as_name_id_and_both_signatures() {
        let mut sp = super::super::metadata::parse(super::super::metadata::tests::SP).unwrap();
        sp.name_id = orgid_config::SamlNameId::Login;
        let subject = subject();
        let now = Utc::now();
        let a = Answer {
            idp_entity: "i".into(),
            sp: &sp,
            acs_url: "https://oa.example/acs",
            in_response_to: None,
            now,
            ttl: Duration::seconds(60),
        };
        let amr = ["pwd".to_string(), "otp".to_string()];
        let who = Signed { subject: &subject, sub: "SUB", session_index: "_s", auth_time: now, amr: &amr, actor: None };
        let (xml, _) = success(&key(), &a, &who).unwrap();
        assert!(xml.contains(">wangfang</saml:NameID>"));
        assert!(xml.contains(MULTI_FACTOR));
        assert_eq!(xml.matches("<ds:Signature ").count(), 2);
        assert!(!xml.contains("InResponseTo"));
    }
}
