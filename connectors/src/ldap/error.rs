//! Errors of the LDAP sink and how LDAP outcomes map onto them. Policy: anything that says "the
//! server cannot serve now" (no connection, a lost one, a timeout, a TLS failure, rc 51/52) is
//! `Unavailable` and the caller retries the whole batch later; an LDAP result code refusing one
//! operation is `Refused` with the code, the server's text and the DN; problems of our own
//! settings are `Config`. Messages never carry the bind password.

use ldap3::{LdapError, LdapResult};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Server unreachable, connection lost, timeout, busy/unavailable (rc 51, 52), TLS failure:
    /// retry the whole batch later.
    #[error("LDAP unavailable: {0}")]
    Unavailable(String),
    /// The server refused this operation (rc + message + the DN): retry this op later with
    /// backoff, then park it.
    #[error("LDAP refused {op} of {dn}: {message} (rc {rc})")]
    Refused { op: &'static str, dn: String, rc: u32, message: String },
    /// Not attempted because an earlier op with the same key failed in this call.
    #[error("skipped: an earlier operation on the same entry failed")]
    Skipped,
    /// Bad configuration (URL, CA file, bind DN).
    #[error("LDAP configuration: {0}")]
    Config(String),
}

impl SinkError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SinkError::Unavailable(_))
    }
}

/// The LDAP result codes the sink reads (RFC 4511 appendix A).
pub(crate) mod rc {
    pub const SUCCESS: u32 = 0;
    pub const UNAVAILABLE_CRITICAL_EXTENSION: u32 = 12;
    pub const NO_SUCH_ATTRIBUTE: u32 = 16;
    pub const UNDEFINED_ATTRIBUTE_TYPE: u32 = 17;
    pub const ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
    pub const ENTRY_ALREADY_EXISTS: u32 = 68;
}

/// The RFC 4511 name of a result code, for messages.
pub(crate) fn rc_name(code: u32) -> &'static str {
    match code {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        54 => "loopDetect",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        71 => "affectsMultipleDSAs",
        80 => "other",
        _ => "unknown result code",
    }
}

/// "noSuchObject: <server text>" (or just the name when the server sent no text).
pub(crate) fn describe(res: &LdapResult) -> String {
    let text = res.text.trim();
    if text.is_empty() { rc_name(res.rc).to_string() } else { format!("{}: {text}", rc_name(res.rc)) }
}

/// A non-success result of `op` on `dn`: busy/unavailable servers are `Unavailable`, every other
/// code is `Refused`.
pub(crate) fn from_result(op: &'static str, dn: &str, res: &LdapResult) -> SinkError {
    if matches!(res.rc, rc::BUSY | rc::UNAVAILABLE) {
        SinkError::Unavailable(format!("{op} of {dn}: {} (rc {})", describe(res), res.rc))
    } else {
        SinkError::Refused { op, dn: dn.to_string(), rc: res.rc, message: describe(res) }
    }
}

/// An `LdapError` (no usable result) during `op` on `dn`. Client-side misuse (a filter that does
/// not parse, a bad URL) is `Config`; everything else is the connection failing: `Unavailable`.
pub(crate) fn from_ldap_error(op: &'static str, dn: &str, e: LdapError) -> SinkError {
    match e {
        LdapError::LdapResult { result } => from_result(op, dn, &result),
        LdapError::FilterParsing => SinkError::Config(format!("{op} of {dn}: the search filter does not parse")),
        LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) | LdapError::DNSName { .. } => {
            SinkError::Config(format!("{op}: {e}"))
        }
        LdapError::AddNoValues => {
            SinkError::Refused { op, dn: dn.to_string(), rc: 21, message: "an attribute has no values".into() }
        }
        LdapError::Timeout { .. } => SinkError::Unavailable(format!("{op} of {dn}: timed out")),
        other => SinkError::Unavailable(format!("{op} of {dn}: {}", transport_message(&other))),
    }
}

/// A readable message for a transport failure, naming TLS failures as such.
pub(crate) fn transport_message(e: &LdapError) -> String {
    match e {
        LdapError::Io { source } => match source.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            Some(tls @ rustls::Error::InvalidCertificate(_)) => {
                format!("TLS failure: {tls} (is ldap.ca_file the CA that signed the server's certificate?)")
            }
            Some(tls) => format!("TLS failure: {tls}"),
            None => format!("I/O error: {source}"),
        },
        LdapError::Rustls { source } => format!("TLS failure: {source}"),
        LdapError::OpSend { .. }
        | LdapError::ResultRecv { .. }
        | LdapError::IdScrubSend { .. }
        | LdapError::EndOfStream => "the connection to the server was lost".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(code: u32, text: &str) -> LdapResult {
        LdapResult { rc: code, matched: String::new(), text: text.into(), refs: vec![], ctrls: vec![] }
    }

    #[test]
    fn busy_and_unavailable_codes_mean_retry_the_batch() {
        for code in [51, 52] {
            let e = from_result("add", "uid=a,dc=x", &res(code, "try later"));
            assert!(e.is_unavailable(), "rc {code}: {e}");
        }
        let e = from_result("add", "uid=a,dc=x", &res(52, ""));
        assert_eq!(e.to_string(), "LDAP unavailable: add of uid=a,dc=x: unavailable (rc 52)");
    }

    #[test]
    fn other_codes_are_refusals_with_code_text_and_dn() {
        let e = from_result("add", "uid=a,ou=x,dc=x", &res(32, ""));
        assert!(!e.is_unavailable());
        assert_eq!(e.to_string(), "LDAP refused add of uid=a,ou=x,dc=x: noSuchObject (rc 32)");
        let e = from_result("modify", "cn=g,dc=x", &res(65, "object class 'groupOfNames' requires attribute 'member'"));
        match e {
            SinkError::Refused { op, dn, rc, message } => {
                assert_eq!((op, dn.as_str(), rc), ("modify", "cn=g,dc=x", 65));
                assert_eq!(message, "objectClassViolation: object class 'groupOfNames' requires attribute 'member'");
            }
            other => panic!("expected Refused, got {other:?}"),
        }
        assert_eq!(
            from_result("x", "d", &res(4711, "")).to_string(),
            "LDAP refused x of d: unknown result code (rc 4711)"
        );
    }

    #[test]
    fn transport_failures_are_unavailable_and_misuse_is_config() {
        let io = LdapError::from(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"));
        let e = from_ldap_error("delete", "uid=a,dc=x", io);
        assert_eq!(e.to_string(), "LDAP unavailable: delete of uid=a,dc=x: I/O error: refused");
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let e = from_ldap_error("connect", "ldaps://h", LdapError::from(tls));
        assert!(e.is_unavailable());
        assert!(e.to_string().contains("TLS failure: invalid peer certificate: UnknownIssuer"), "{e}");
        assert!(e.to_string().contains("ldap.ca_file"), "{e}");
        let e = from_ldap_error("search", "dc=x", LdapError::FilterParsing);
        assert!(matches!(e, SinkError::Config(_)), "{e:?}");
        let e = from_ldap_error("modify", "dc=x", LdapError::LdapResult { result: res(20, "") });
        assert!(matches!(e, SinkError::Refused { rc: 20, .. }), "{e:?}");
        assert_eq!(SinkError::Skipped.to_string(), "skipped: an earlier operation on the same entry failed");
        assert!(!SinkError::Skipped.is_unavailable() && !SinkError::Config(String::new()).is_unavailable());
    }
}
