//! CAS service tickets and single-logout notices in the store, on both backends: a ticket is
//! spent once (also by concurrent validations), a notice falls due when its session is over
//! (ended, gone, expired, idle, its account closed) and is taken by one sweep, retried, and
//! purged once done.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use chrono::Duration;
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::idp::{
    CasStore, CasTicket, IdpUpkeepStore, LogoutNotice, LogoutStore, SessionEnd, SessionRecord, SessionStore,
};

use super::audit::all_records;
use super::store::{Env, at};
use super::store_idp::{seed_accounts, session};

both_backends!(
    tickets_are_spent_once_even_concurrently_and_purged_after_expiry,
    notices_fall_due_when_their_session_is_over
);

fn ticket(hash: &str) -> CasTicket {
    CasTicket {
        ticket_hash: hash.into(),
        client_id: "oa".into(),
        service: "https://oa.example.com/x?a=1".into(),
        login: "zhangsan".into(),
        session_hash: "s1".into(),
        auth_time: at(0),
        amr: vec!["pwd".into()],
        from_credentials: true,
        expires_at: at(1),
        actor: None,
    }
}

async fn tickets_are_spent_once_even_concurrently_and_purged_after_expiry(e: Env) {
    let s = &e.store;
    s.save_ticket(&ticket("t1")).await.unwrap();
    assert_eq!(s.take_ticket("t1", at(0)).await.unwrap(), Some(ticket("t1")), "read back whole");
    assert_eq!(s.take_ticket("t1", at(0)).await.unwrap(), None, "spent");
    assert_eq!(s.take_ticket("nope", at(0)).await.unwrap(), None);
    // An expired ticket is still taken once: the caller says why it is refused.
    s.save_ticket(&ticket("t2")).await.unwrap();
    assert!(s.take_ticket("t2", at(5)).await.unwrap().is_some());

    s.save_ticket(&ticket("race")).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let st = s.clone();
            tokio::spawn(async move { st.take_ticket("race", at(0)).await.unwrap().is_some() })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "one of eight concurrent validations gets the ticket");

    s.save_ticket(&CasTicket { expires_at: at(10), ..ticket("later") }).await.unwrap();
    s.purge_expired(at(2)).await.unwrap();
    assert!(s.take_ticket("later", at(3)).await.unwrap().is_some(), "not expired: kept");
    s.save_ticket(&ticket("gone")).await.unwrap();
    s.purge_expired(at(2)).await.unwrap();
    assert_eq!(s.take_ticket("gone", at(0)).await.unwrap(), None, "expired: purged");
}

fn notice(id: &str, session: &str, login: &str) -> LogoutNotice {
    LogoutNotice {
        id: id.into(),
        session_hash: session.into(),
        login: login.into(),
        client_id: "oa".into(),
        protocol: "cas".into(),
        target: "https://oa.example.com/".into(),
        ticket: Some(format!("ST-{id}")),
        created_at: at(1),
        attempts: 0,
    }
}

async fn notices_fall_due_when_their_session_is_over(e: Env) {
    seed_accounts(&e).await;
    let s = &e.store;
    // Live (last seen at 0, idle after 30), ended, idle (last seen long ago), closed (lisi's
    // account is disabled), and one whose session row was purged.
    s.create_session(&session("live", "zhangsan")).await.unwrap();
    s.create_session(&session("ended", "zhangsan")).await.unwrap();
    s.create_session(&SessionRecord { last_seen_at: at(-100), ..session("idle", "zhangsan") }).await.unwrap();
    s.create_session(&session("closed", "lisi")).await.unwrap();
    s.create_session(&SessionRecord { expires_at: at(2), ..session("absolute", "zhangsan") }).await.unwrap();
    s.end_session("ended", at(2), &[]).await.unwrap();
    for (id, sess, login) in [
        ("n-live", "live", "zhangsan"),
        ("n-ended", "ended", "zhangsan"),
        ("n-idle", "idle", "zhangsan"),
        ("n-closed", "closed", "lisi"),
        ("n-gone", "gone", "zhangsan"),
        ("n-absolute", "absolute", "zhangsan"),
    ] {
        s.add_notice(&notice(id, sess, login)).await.unwrap();
    }
    // The same session, client and ticket again: one notice.
    s.add_notice(&notice("n-ended", "ended", "zhangsan")).await.unwrap();
    s.add_notice(&LogoutNotice { id: "n-dup".into(), ..notice("n-ended", "ended", "zhangsan") }).await.unwrap();

    let now = at(3);
    let idle_before = now - Duration::minutes(30);
    let mut due = s.logouts_due(now, idle_before, now + Duration::minutes(1), 100).await.unwrap();
    due.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let got: Vec<(&str, SessionEnd)> = due.iter().map(|(n, w)| (n.id.as_str(), *w)).collect();
    assert_eq!(
        got,
        [
            ("n-absolute", SessionEnd::Expired),
            ("n-closed", SessionEnd::AccountClosed),
            ("n-ended", SessionEnd::Ended),
            ("n-gone", SessionEnd::Ended),
            ("n-idle", SessionEnd::Expired),
        ]
    );
    assert_eq!(due[2].0.ticket.as_deref(), Some("ST-n-ended"));
    // Claimed: another sweep within the claim gets nothing.
    assert!(s.logouts_due(now, idle_before, now + Duration::minutes(1), 100).await.unwrap().is_empty());

    let before = all_records(s).await.len();
    let rec = |outcome| {
        AuditEvent::new(now, EventKind::SingleLogout, outcome, Actor::System("single-logout".into()))
            .subject("zhangsan", None)
    };
    s.logout_tried("n-ended", true, None, &[rec(AuditOutcome::Success)]).await.unwrap();
    s.logout_tried("n-idle", false, Some(at(10)), &[rec(AuditOutcome::Failure)]).await.unwrap();
    s.logout_tried("n-gone", false, None, &[rec(AuditOutcome::Failure)]).await.unwrap();
    assert_eq!(all_records(s).await.len(), before + 3, "each outcome recorded");

    // After the claim: the closed one (never tried) again; the idle one at its retry time, with
    // its attempt counted; the delivered and the given-up never.
    let later = at(5);
    let due = s.logouts_due(later, later - Duration::minutes(30), later + Duration::minutes(1), 100).await.unwrap();
    let mut ids: Vec<&str> = due.iter().map(|(n, _)| n.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["n-absolute", "n-closed"]);
    let retry = at(10);
    let due = s.logouts_due(retry, retry - Duration::minutes(30), retry + Duration::minutes(1), 100).await.unwrap();
    let idle = due.iter().find(|(n, _)| n.id == "n-idle").expect("retried");
    assert_eq!(idle.0.attempts, 1);
    // The live session stays quiet until it is over.
    assert!(!due.iter().any(|(n, _)| n.id == "n-live"));

    // Done notices are purged; the others are kept.
    s.purge_expired(at(11)).await.unwrap();
    s.logout_tried("n-idle", true, None, &[]).await.unwrap();
    s.end_session("live", at(12), &[]).await.unwrap();
    let due = s.logouts_due(at(20), at(-10), at(21), 100).await.unwrap();
    assert!(due.iter().any(|(n, _)| n.id == "n-live"), "due once its session ended");
}
