//! Records of self-contained access tokens (client credentials), merged per commit.
//!
//! A client-credentials token is a signed JWT that nothing but the audit trail records: its issue
//! commits as an audit record before the client gets it. Tokens committed together by the store's
//! group commit are recorded together: one record per client, address and scope names every
//! token's `jti` (at most [`JTIS_PER_RECORD`] a record) and their `count`, instead of one record
//! per token, so that a client fetching thousands of tokens a second does not write thousands of
//! records (with their five indexes and chain hashes) a second.

use super::event::AuditEvent;
use super::text::MAX_LONG;

/// The `jti`s one merged record names: a `jti` is 32 characters, an attribute holds
/// [`MAX_LONG`].
pub const JTIS_PER_RECORD: usize = MAX_LONG / 33;

/// Merges records of issued tokens that differ only in their time and `jti` (same kind,
/// outcome, actor, client, address, user agent, session and other attributes) into records naming
/// all their `jti`s, `count` of them, at the time of the latest. Order of first appearance is
/// kept; a record without a `jti` attribute is kept as it is.
pub fn merge_issued(events: Vec<AuditEvent>) -> Vec<AuditEvent> {
    let mut out: Vec<(AuditEvent, Vec<String>)> = Vec::with_capacity(events.len().min(8));
    'next: for mut e in events {
        let Some(jti) = e.details.attrs.remove("jti") else {
            out.push((e, Vec::new()));
            continue;
        };
        for (m, jtis) in out.iter_mut().rev() {
            if !jtis.is_empty() && jtis.len() < JTIS_PER_RECORD && same_but_time(m, &e) {
                m.at = m.at.max(e.at);
                jtis.push(jti);
                continue 'next;
            }
        }
        out.push((e, vec![jti]));
    }
    out.into_iter()
        .map(|(e, jtis)| {
            if jtis.is_empty() {
                return e;
            }
            let n = jtis.len();
            e.attr("jti", jtis.join(",")).attr("count", n.to_string())
        })
        .collect()
}

fn same_but_time(a: &AuditEvent, b: &AuditEvent) -> bool {
    a.kind == b.kind
        && a.outcome == b.outcome
        && a.actor == b.actor
        && a.login == b.login
        && a.company == b.company
        && a.client_id == b.client_id
        && a.source_ip == b.source_ip
        && a.user_agent == b.user_agent
        && a.session_id == b.session_id
        && a.reason == b.reason
        && a.details == b.details
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::audit::event::{AuditOutcome, RequestContext};

    fn issued(ms: i64, client: &str, jti: &str) -> AuditEvent {
        let at = Utc.timestamp_millis_opt(ms).unwrap();
        AuditEvent::token_issued(at, None, None, client, "client_credentials", &RequestContext::default())
            .attr("scope", "api")
            .attr("jti", jti)
    }

    #[test]
    fn tokens_of_one_client_share_a_record_and_keep_every_jti() {
        let other = AuditEvent::new(
            Utc.timestamp_millis_opt(5).unwrap(),
            crate::audit::EventKind::Login,
            AuditOutcome::Success,
            crate::audit::Actor::User("u".into()),
        );
        let merged =
            merge_issued(vec![issued(1, "a", "j1"), issued(3, "b", "j2"), other.clone(), issued(2, "a", "j3")]);
        assert_eq!(merged.len(), 3);
        assert_eq!(merged[0].details.attrs["jti"], "j1,j3");
        assert_eq!(merged[0].details.attrs["count"], "2");
        assert_eq!(merged[0].at.timestamp_millis(), 2, "the latest of the merged times");
        assert_eq!(merged[1].client_id.as_deref(), Some("b"));
        assert_eq!(merged[1].details.attrs["count"], "1");
        assert_eq!(merged[2], other, "other records untouched");
    }

    #[test]
    fn another_scope_is_another_record_and_a_record_holds_a_bounded_list() {
        let mut events = vec![issued(1, "a", "x").attr("scope", "admin")];
        events.extend((0..JTIS_PER_RECORD + 1).map(|i| issued(2, "a", &format!("{i:032}"))));
        let merged = merge_issued(events);
        assert_eq!(merged.len(), 3);
        assert_eq!(merged[0].details.attrs["scope"], "admin");
        assert_eq!(merged[1].details.attrs["count"], JTIS_PER_RECORD.to_string());
        assert_eq!(merged[2].details.attrs["count"], "1");
        let fields = merged[1].fields();
        assert!(
            fields.details.unwrap().contains(&format!("{:032}", JTIS_PER_RECORD - 1)),
            "no jti cut off by the bound"
        );
    }
}
