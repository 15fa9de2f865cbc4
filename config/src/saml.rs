//! `[saml]`: the SAML 2.0 identity provider's settings and its service providers, each known by
//! its own metadata file (entity ID, assertion consumer URLs, signing certificate).

use std::path::PathBuf;

use serde::Deserialize;

/// `[saml]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamlConfig {
    /// An assertion is valid this long after it is issued (`NotOnOrAfter`).
    pub assertion_ttl_secs: u64,
    /// An AuthnRequest is taken this long after its `IssueInstant` (and its id is remembered as
    /// long, so a replay is refused); also the clock skew allowed.
    pub request_ttl_secs: u64,
    /// The service providers (`[[saml.service_providers]]`). More can be added with
    /// `orgid clients add --protocol saml --metadata FILE`.
    pub service_providers: Vec<SamlSpConfig>,
}

impl Default for SamlConfig {
    fn default() -> Self {
        Self { assertion_ttl_secs: 300, request_ttl_secs: 300, service_providers: Vec::new() }
    }
}

/// What identifies a person to a service provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamlNameId {
    /// `…:nameid-format:persistent`: the OIDC `sub` (opaque, survives a cross-company move).
    #[default]
    Persistent,
    /// `…:nameid-format:unspecified`: the login (what most OA systems key their users on).
    Login,
}

/// What orgid signs in a Response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamlSign {
    Assertion,
    Response,
    /// The assertion, then the response around it.
    #[default]
    Both,
}

/// The attributes a service provider may receive (those of the OIDC `org` scope, plus name and
/// login).
pub const SAML_ATTRIBUTES: [&str; 10] =
    ["login", "name", "email", "company", "company_name", "department", "title", "grade", "employee_number", "groups"];

/// `[[saml.service_providers]]`: one SAML service provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSpConfig {
    /// The client id orgid names it by (audit, login page, `orgid clients list`).
    pub id: String,
    /// Shown on the login page; defaults to the id.
    #[serde(default)]
    pub name: String,
    /// The SP's metadata file (`EntityDescriptor` with an `SPSSODescriptor`); relative to the
    /// configuration file's directory.
    pub metadata: PathBuf,
    #[serde(default)]
    pub name_id: SamlNameId,
    #[serde(default)]
    pub sign: SamlSign,
    /// The attributes released to it; default: all of [`SAML_ATTRIBUTES`].
    #[serde(default = "all_attributes")]
    pub attributes: Vec<String>,
    /// Every login to this SP needs the second factor.
    #[serde(default)]
    pub require_totp: bool,
}

fn all_attributes() -> Vec<String> {
    SAML_ATTRIBUTES.iter().map(|s| s.to_string()).collect()
}

/// Checks of `[saml]`, as (key, message).
pub(crate) fn validate(cfg: &crate::Config, err: &mut dyn FnMut(&str, String)) {
    let s = &cfg.saml;
    if s.assertion_ttl_secs == 0 || s.assertion_ttl_secs > 3600 {
        err("saml.assertion_ttl_secs", "must be between 1 and 3600".into());
    }
    if s.request_ttl_secs == 0 || s.request_ttl_secs > 3600 {
        err("saml.request_ttl_secs", "must be between 1 and 3600".into());
    }
    for (i, sp) in s.service_providers.iter().enumerate() {
        let key = format!("saml.service_providers[{i}]");
        if sp.id.is_empty() || cfg.clients.iter().any(|c| c.id == sp.id) {
            err(&format!("{key}.id"), "must be set and differ from every OIDC client's id".into());
        }
        if s.service_providers[..i].iter().any(|o| o.id == sp.id) {
            err(&format!("{key}.id"), format!("`{}` is given twice", sp.id));
        }
        if let Some(a) = sp.attributes.iter().find(|a| !SAML_ATTRIBUTES.contains(&a.as_str())) {
            err(&format!("{key}.attributes"), format!("`{a}` is not one of {}", SAML_ATTRIBUTES.join(", ")));
        }
    }
}
