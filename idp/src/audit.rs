//! The provider's audit records: built here from the request (who asked, from where, through
//! which client and session: [`Peer`]) and written by the store in the transaction of the change
//! they record (`IdpStore`), so a login, a token or a logout never happens without its record.
//!
//! Never in a record: the session cookie (the record names the session by a prefix of the hash
//! the store keeps), a code, a token, a password or a client secret.

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use orgid_directory::CompanyCode;
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind, RequestContext};

/// The client side of a request, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Peer {
    /// The connecting address (from `ConnectInfo`, when the server provides it) and user agent.
    /// `X-Forwarded-For` is not trusted: a proxy in front must be configured to be the peer.
    pub fn from_parts(headers: &HeaderMap, addr: Option<std::net::SocketAddr>) -> Self {
        let ua = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().filter(|c| !c.is_control()).take(256).collect());
        Peer { ip: addr.map(|a| a.ip().to_string()), user_agent: ua }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
        Ok(Peer::from_parts(&parts.headers, addr))
    }
}

/// How much of the stored session hash names a session in the audit trail: enough to find it,
/// and nothing that opens it (the cookie is the hash's preimage).
const SESSION_ID_LEN: usize = 16;

/// The public name of a session, from its stored hash.
pub(crate) fn session_id(id_hash: &str) -> String {
    id_hash.chars().take(SESSION_ID_LEN).collect()
}

impl Peer {
    /// The request's context for an audit record: the peer, and the client and session if known.
    pub(crate) fn context(&self, client_id: Option<&str>, session_hash: Option<&str>) -> RequestContext {
        RequestContext {
            source_ip: self.ip.as_deref().and_then(|ip| ip.parse().ok()),
            user_agent: self.user_agent.clone(),
            session_id: session_hash.map(session_id),
            client_id: client_id.map(str::to_string),
        }
    }
}

/// An event about `login`'s account, done by the account holder.
pub(crate) fn by_user(
    at: DateTime<Utc>,
    kind: EventKind,
    outcome: AuditOutcome,
    login: &str,
    company: Option<&CompanyCode>,
    ctx: &RequestContext,
) -> AuditEvent {
    AuditEvent::new(at, kind, outcome, Actor::User(login.into())).subject(login, company).context(ctx)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_context_names_the_session_by_a_prefix_of_its_hash_and_keeps_a_valid_ip() {
        let peer = Peer { ip: Some("::ffff:10.1.2.3".into()), user_agent: Some("UA".into()) };
        let hash = "ab".repeat(32);
        let ctx = peer.context(Some("portal"), Some(&hash));
        assert_eq!(ctx.session_id.as_deref(), Some("abababababababab"));
        assert_eq!(ctx.client_id.as_deref(), Some("portal"));
        let f = by_user(Utc::now(), EventKind::Logout, AuditOutcome::Success, "zs", None, &ctx).fields();
        assert_eq!(f.source_ip.as_deref(), Some("10.1.2.3"));
        assert_eq!((f.login.as_deref(), f.actor.as_str()), (Some("zs"), "zs"));
        let odd = Peer { ip: Some("not an ip".into()), user_agent: None }.context(None, None);
        assert_eq!((odd.source_ip, odd.session_id), (None, None));
    }
}
