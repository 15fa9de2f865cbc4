//! Claims about an account, by scope: `profile` (name, preferred_username), `email`, `phone`, and
//! `org` (company code/name/tier, department, title, grade, employee number, groups), so modules
//! can build leader, company and department portals.

use openidconnect::core::CoreGenderClaim;
use openidconnect::{
    AdditionalClaims, EndUserEmail, EndUserName, EndUserPhoneNumber, EndUserUsername, StandardClaims, SubjectIdentifier,
};
use orgid_directory::idp::Subject;
use serde::{Deserialize, Serialize};

/// Scopes this provider knows (and discovery advertises): what a client may ask for unless its
/// configuration says otherwise.
pub const SCOPES: [&str; 6] = orgid_config::STANDARD_SCOPES;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrgCompany {
    pub code: String,
    pub name: String,
    pub tier: String,
}

/// The `org` claim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Org {
    pub company: OrgCompany,
    pub department: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    pub employee_number: String,
    /// The directory groups: the company code, `code/department`, `confidential`.
    pub groups: Vec<String>,
}

/// Claims beyond the standard ones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct OrgClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<Org>,
    /// The SSO session's id for this provider (OpenID Connect Back-Channel Logout 1.0 §2.1):
    /// what a logout token names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The delegate acting for the subject (RFC 8693 §4.1: `{"sub": …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
}

/// RFC 8693 §4.1 `act`: the party acting for the subject.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Act {
    pub sub: String,
    /// Who that party acted for in turn (a token exchanged by a service for a delegate's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Act>>,
}

impl AdditionalClaims for OrgClaims {}

pub(crate) fn has(scope: &str, s: &str) -> bool {
    scope.split(' ').any(|x| x == s)
}

pub(crate) fn org(s: &Subject, scope: &str) -> OrgClaims {
    OrgClaims {
        org: has(scope, "org").then(|| Org {
            company: OrgCompany {
                code: s.company.0.clone(),
                name: s.company_name.clone(),
                tier: s.company_tier.as_str().into(),
            },
            department: s.department.clone(),
            title: s.title.clone(),
            grade: s.grade.clone(),
            employee_number: s.employee_number.clone(),
            groups: crate::account::groups(s),
        }),
        sid: None,
        act: None,
    }
}

pub(crate) fn standard(sub: &str, s: &Subject, scope: &str) -> StandardClaims<CoreGenderClaim> {
    let mut c = StandardClaims::new(SubjectIdentifier::new(sub.to_string()));
    if has(scope, "profile") {
        c = c
            .set_name(Some(EndUserName::new(s.name.clone()).into()))
            .set_preferred_username(Some(EndUserUsername::new(s.login.clone())));
    }
    if has(scope, "email") && !s.email.is_empty() {
        c = c.set_email(Some(EndUserEmail::new(s.email.clone()))).set_email_verified(Some(true));
    }
    if has(scope, "phone") && !s.mobile.is_empty() {
        c = c.set_phone_number(Some(EndUserPhoneNumber::new(s.mobile.clone()))).set_phone_number_verified(Some(true));
    }
    c
}

/// The userinfo response body.
pub(crate) fn userinfo(sub: &str, s: &Subject, scope: &str) -> serde_json::Value {
    let mut v = serde_json::to_value(standard(sub, s, scope)).unwrap_or_else(|_| serde_json::json!({ "sub": sub }));
    if let (Some(obj), Some(org)) = (v.as_object_mut(), org(s, scope).org) {
        obj.insert("org".into(), serde_json::to_value(org).unwrap_or_default());
    }
    v
}

/// The scopes of a request, in request order, without repeats or empty ones.
pub(crate) fn normalize(scope: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(" ")
}
