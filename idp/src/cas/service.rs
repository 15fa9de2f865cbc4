//! Which CAS client a service URL belongs to: each client's services are exact URLs or anchored
//! patterns (`^…$`, their scheme and host literal: `orgid_config::check_service`), so a ticket
//! is only ever sent to a registered service, never to a URL a link chose.

use orgid_config::ClientProtocol;

use crate::{Client, IdpError, Provider};

/// Whether `service` is one of `pattern`'s: equal, or a whole match of an anchored pattern.
pub(crate) fn matches(pattern: &str, service: &str) -> bool {
    if service.contains(['#', '\r', '\n']) {
        return false;
    }
    if let Some(body) = pattern.strip_prefix('^') {
        // The scheme and host must be the pattern's literal ones whatever the rest says (an
        // alternation like `…$|^.*$` cannot reach another site), and the whole URL must match.
        let Some(prefix) = literal_prefix(body) else { return false };
        return service.starts_with(&prefix)
            && regex::Regex::new(&format!("^(?:{body})$")).is_ok_and(|re| re.is_match(service));
    }
    pattern == service
}

/// `scheme://host` and the character after it (`/` or `:`), unescaped, of a pattern's body.
fn literal_prefix(body: &str) -> Option<String> {
    let scheme = ["https://", "http://"].into_iter().find(|s| body.starts_with(s))?;
    let rest = &body[scheme.len()..];
    let end = rest.find(['/', ':'])?;
    let host = rest[..end].replace("\\.", ".");
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        return None;
    }
    Some(format!("{scheme}{host}{}", &rest[end..=end]))
}

/// Whether two service URLs name the same service: equal, or equal once parsed (a validator may
/// send the URL with other percent-escapes than the login had).
pub(crate) fn same(a: &str, b: &str) -> bool {
    a == b || matches!((url::Url::parse(a), url::Url::parse(b)), (Ok(x), Ok(y)) if x == y)
}

impl Provider {
    /// The CAS client that registered `service`, if any.
    pub(crate) async fn cas_client(&self, service: &str) -> Result<Option<Client>, IdpError> {
        Ok(self
            .clients()
            .await?
            .into_iter()
            .find(|c| c.protocol == ClientProtocol::Cas && c.services.iter().any(|p| matches(p, service))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_matches_exactly_or_by_a_whole_anchored_pattern_only() {
        assert!(matches("https://oa.example.com/login", "https://oa.example.com/login"));
        assert!(!matches("https://oa.example.com/login", "https://oa.example.com/login?x=1"));
        let p = r"^https://oa\.example\.com/.*$";
        assert!(matches(p, "https://oa.example.com/seeyon/main.do?method=index"));
        assert!(!matches(p, "https://oa.example.com.evil.cn/x"));
        assert!(!matches(p, "https://evil.cn/?https://oa.example.com/"));
        assert!(!matches(p, "https://oa.example.com/x#frag"));
        // An alternation cannot reach past the anchors the registry adds.
        let alt = r"^https://oa\.example\.com/a$|^.*$";
        assert!(!matches(alt, "https://evil.cn/"));
        assert!(matches(alt, "https://oa.example.com/a"));
        assert!(!matches(r"^https://oa\.example\.com.*$", "https://oa.example.com.evil.cn/"));
        assert!(same("https://oa.example.com/a?b=%2F", "https://oa.example.com/a?b=%2F"));
        assert!(!same("https://oa.example.com/a", "https://oa.example.com/b"));
    }
}
