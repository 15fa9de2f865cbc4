//! The provider's audit records: built here from the request (who asked, from where, through
//! which client and session) and written by the store in the transaction of the change they
//! record (`IdpStore`), so a login, a token or a logout never happens without its record.
//!
//! Never in a record: the session cookie (the record names the session by a prefix of the hash
//! the store keeps), a code, a token, a password or a client secret.

use chrono::{DateTime, Utc};
use orgid_directory::CompanyCode;
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind, RequestContext};

use crate::flow::Peer;

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
