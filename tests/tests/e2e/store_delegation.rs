//! Grants of delegation in the store, on both backends: added, listed by either person,
//! revoked once (with the grants and tokens issued under them, and no others), the trail of what
//! others did as a person, and the clients of a session.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::idp::{Delegation, DelegationStore, GrantRecord, GrantStore, TokenKind};

use super::store::{Env, at};
use super::store_idp::{code, grant, token};

both_backends!(delegations_are_listed_by_either_person_and_revoked_once_with_what_was_issued_under_them);

fn delegation(id: &str, principal: &str, delegate: &str) -> Delegation {
    Delegation {
        id: id.into(),
        principal: principal.into(),
        delegate: delegate.into(),
        clients: vec!["portal".into()],
        starts_at: at(0),
        ends_at: at(100),
        created_at: at(0),
        created_by: principal.into(),
        revoked_at: None,
        revoked_by: None,
    }
}

fn event(kind: EventKind, actor: &str, login: &str) -> AuditEvent {
    AuditEvent::new(at(1), kind, AuditOutcome::Success, Actor::User(actor.into())).subject(login, None)
}

async fn delegations_are_listed_by_either_person_and_revoked_once_with_what_was_issued_under_them(e: Env) {
    let s = &e.store;
    s.add_delegation(
        &delegation("d1", "zhangsan", "lisi"),
        &[event(EventKind::DelegationGrant, "zhangsan", "zhangsan")],
    )
    .await
    .unwrap();
    let mut everyone = delegation("d2", "wangwu", "zhangsan");
    everyone.clients = vec![];
    everyone.created_at = at(1);
    s.add_delegation(&everyone, &[]).await.unwrap();
    assert_eq!(s.delegation("d1").await.unwrap(), Some(delegation("d1", "zhangsan", "lisi")), "read back whole");
    let ids = |v: Vec<Delegation>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(s.delegations(Some("zhangsan")).await.unwrap()), ["d2", "d1"], "either person, newest first");
    assert_eq!(ids(s.delegations(Some("lisi")).await.unwrap()), ["d1"]);
    assert_eq!(ids(s.delegations(None).await.unwrap()).len(), 2);

    // Grants under d1 (zhangsan's, lisi acting), zhangsan's own, and one with another actor.
    let under = GrantRecord { actor: Some("lisi".into()), ..grant("g1", Some("zhangsan"), Some("s1")) };
    let own = grant("g2", Some("zhangsan"), Some("s1"));
    let other = GrantRecord { actor: Some("wangwu".into()), ..grant("g3", Some("zhangsan"), Some("s2")) };
    for g in [&under, &own, &other] {
        let t = token(&format!("{}-a", g.id), TokenKind::Access, g, at(60));
        s.create_grant(g, &[t], None, &[]).await.unwrap();
    }
    assert_eq!(s.grant("g1").await.unwrap().unwrap().actor.as_deref(), Some("lisi"), "the actor is kept");
    let mut c = code("c1", at(60));
    c.actor = Some("lisi".into());
    s.save_code(&c).await.unwrap();
    assert_eq!(s.session_clients("s1").await.unwrap(), ["portal"], "codes and grants, each client once");
    assert!(s.session_clients("nope").await.unwrap().is_empty());

    let revocation = [event(EventKind::DelegationRevoke, "zhangsan", "zhangsan")];
    let d = s.revoke_delegation("d1", "zhangsan", at(5), &revocation).await.unwrap().expect("revoked now");
    assert_eq!((d.revoked_at, d.revoked_by.as_deref()), (Some(at(5)), Some("zhangsan")));
    assert!(s.revoke_delegation("d1", "zhangsan", at(6), &[]).await.unwrap().is_none(), "once");
    assert!(s.revoke_delegation("nope", "zhangsan", at(6), &[]).await.unwrap().is_none());
    assert_eq!(s.grant("g1").await.unwrap().unwrap().revoked_at, Some(at(5)), "issued under it");
    assert_eq!(s.token("g1-a").await.unwrap().unwrap().revoked_at, Some(at(5)));
    for id in ["g2", "g3"] {
        assert_eq!(s.grant(id).await.unwrap().unwrap().revoked_at, None, "{id} stays");
    }

    // What others did as zhangsan: lisi's acts, not zhangsan's own records.
    let act = |kind, actor: &str| {
        AuditEvent::new(at(2), kind, AuditOutcome::Success, Actor::User(actor.into()))
            .subject("zhangsan", None)
            .client("portal")
            .attr("act", actor)
    };
    s.record_issued(&act(EventKind::DelegationAct, "lisi")).await.unwrap();
    s.record_issued(&act(EventKind::TokenIssued, "lisi")).await.unwrap();
    s.record_issued(&act(EventKind::TokenIssued, "zhangsan")).await.unwrap();
    let acts = s.delegated_acts("zhangsan", 10).await.unwrap();
    let kinds: Vec<&str> = acts.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds.len(), 2, "{acts:?}");
    assert!(kinds.contains(&"delegation.act") && kinds.contains(&"token_issued"));
    assert!(acts.iter().all(|a| a.delegate == "lisi" && a.client_id.as_deref() == Some("portal")));
    assert_eq!(s.delegated_acts("zhangsan", 1).await.unwrap().len(), 1, "limited");
}
