//! The login flow's guards in the store, against both backends: a password change bound to the
//! credential's version, form tokens spent once, and failed-login budgets charged all or none,
//! each settled by the store when replicas race.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use chrono::Duration;
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind, LoginFailure};
use orgid_directory::idp::{CredentialStore, FormStore, IdpUpkeepStore, PasswordChange, ThrottleRule, ThrottleStore};

use super::audit::all_records;
use super::store::{Env, at};

both_backends!(
    a_password_change_needs_the_version_it_was_sealed_for,
    concurrent_changes_from_one_version_change_once,
    a_form_is_spent_once_even_by_racing_replicas,
    failed_login_budgets_charge_all_or_none_and_refund,
    concurrent_charges_never_exceed_the_budget,
);

fn changed(reason: &str) -> AuditEvent {
    AuditEvent::new(at(1), EventKind::PasswordChange, AuditOutcome::Success, Actor::User("zhangsan".into()))
        .subject("zhangsan", None)
        .reason(reason)
}

async fn a_password_change_needs_the_version_it_was_sealed_for(e: Env) {
    let s = &e.store;
    assert_eq!(
        s.change_password("zhangsan", "$argon2id$x", 0, at(1), 5, &[]).await.unwrap(),
        PasswordChange::Refused,
        "no credential: nothing to change"
    );
    s.set_password("zhangsan", "$argon2id$h1", true, at(0), 5, &[]).await.unwrap();
    let v1 = s.credential("zhangsan").await.unwrap().unwrap().version;
    let failed = AuditEvent::login_failed(at(0), "zhangsan", None, LoginFailure::BadPassword, &Default::default());
    s.record_failure("zhangsan", 9, at(30), &failed).await.unwrap();
    let before = all_records(s).await.len();

    let done = s.change_password("zhangsan", "$argon2id$h2", v1, at(1), 5, &[changed("first")]).await.unwrap();
    let PasswordChange::Changed { version: v2 } = done else { panic!("{done:?}") };
    assert!(v2 > v1);
    let c = s.credential("zhangsan").await.unwrap().unwrap();
    assert_eq!((c.hash.as_str(), c.must_change, c.failed_count, c.version), ("$argon2id$h2", false, 0, v2));
    assert_eq!(s.password_history("zhangsan", 5).await.unwrap(), ["$argon2id$h1"]);
    // The same form again (the version it was sealed for): nothing changes, nothing is recorded.
    let again = s.change_password("zhangsan", "$argon2id$h3", v1, at(2), 5, &[changed("again")]).await.unwrap();
    assert_eq!(again, PasswordChange::Refused);
    assert_eq!(s.credential("zhangsan").await.unwrap().unwrap().hash, "$argon2id$h2");
    assert_eq!(all_records(s).await.len(), before + 1, "only the change that happened is recorded");
    // An operator's reset moves the version too: a form sealed before it is void.
    s.set_password("zhangsan", "$argon2id$h4", true, at(3), 5, &[]).await.unwrap();
    let v3 = s.credential("zhangsan").await.unwrap().unwrap().version;
    assert!(v3 > v2);
    assert_eq!(
        s.change_password("zhangsan", "$argon2id$h5", v2, at(4), 5, &[]).await.unwrap(),
        PasswordChange::Refused
    );
}

async fn concurrent_changes_from_one_version_change_once(e: Env) {
    let s = &e.store;
    s.set_password("zhangsan", "$argon2id$h1", true, at(0), 5, &[]).await.unwrap();
    let v = s.credential("zhangsan").await.unwrap().unwrap().version;
    let tries: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(
                async move { s.change_password("zhangsan", &format!("$argon2id$n{i}"), v, at(1), 5, &[]).await },
            )
        })
        .collect();
    let mut changed = Vec::new();
    for (i, t) in tries.into_iter().enumerate() {
        if let PasswordChange::Changed { .. } = t.await.unwrap().unwrap() {
            changed.push(i);
        }
    }
    assert_eq!(changed.len(), 1, "{changed:?}");
    let c = s.credential("zhangsan").await.unwrap().unwrap();
    assert_eq!(c.hash, format!("$argon2id$n{}", changed[0]));
    assert_eq!(s.password_history("zhangsan", 9).await.unwrap(), ["$argon2id$h1"], "one change, one retired hash");
}

async fn a_form_is_spent_once_even_by_racing_replicas(e: Env) {
    let s = &e.store;
    assert!(s.spend_form("f1", at(15)).await.unwrap());
    assert!(!s.spend_form("f1", at(15)).await.unwrap(), "spent");
    assert!(s.spend_form("f2", at(20)).await.unwrap(), "another form is its own");
    let races: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.spend_form("f3", at(15)).await.unwrap() })
        })
        .collect();
    let mut firsts = 0;
    for r in races {
        firsts += usize::from(r.await.unwrap());
    }
    assert_eq!(firsts, 1);
    // Purged once expired (and only then): f1 and f3 at 15, f2 stays until 20.
    assert_eq!(s.purge_expired(at(16)).await.unwrap(), 2);
    assert!(!s.spend_form("f2", at(20)).await.unwrap());
}

fn rule(key: &str, burst: u32) -> ThrottleRule {
    ThrottleRule { key: key.into(), burst, interval: Duration::minutes(1) }
}

async fn failed_login_budgets_charge_all_or_none_and_refund(e: Env) {
    let s = &e.store;
    let (ip, login) = (rule("ip-a", 3), rule("login-x", 2));
    assert_eq!(s.charge_attempt(&[], at(0)).await.unwrap(), None, "no rules: nothing to refuse");
    for _ in 0..2 {
        assert_eq!(s.charge_attempt(&[ip.clone(), login.clone()], at(0)).await.unwrap(), None);
    }
    // The login's budget is spent: refused, and the address is not charged for it.
    let wait = s.charge_attempt(&[ip.clone(), login.clone()], at(0)).await.unwrap();
    assert_eq!(wait, Some(Duration::minutes(1)));
    assert_eq!(s.charge_attempt(std::slice::from_ref(&ip), at(0)).await.unwrap(), None, "the address had one left");
    assert_eq!(s.charge_attempt(std::slice::from_ref(&ip), at(0)).await.unwrap(), Some(Duration::minutes(1)));
    // A success gives its attempt back.
    s.refund_attempt(std::slice::from_ref(&login), at(0)).await.unwrap();
    assert_eq!(s.charge_attempt(std::slice::from_ref(&login), at(0)).await.unwrap(), None);
    // Refunds never go below a full budget; time refills it.
    for _ in 0..5 {
        s.refund_attempt(&[rule("login-y", 2)], at(0)).await.unwrap();
    }
    assert_eq!(s.charge_attempt(&[rule("login-y", 2)], at(0)).await.unwrap(), None);
    assert_eq!(s.charge_attempt(&[rule("login-y", 2)], at(0)).await.unwrap(), None);
    assert!(s.charge_attempt(&[rule("login-y", 2)], at(0)).await.unwrap().is_some(), "two, not seven");
    assert_eq!(s.charge_attempt(&[ip.clone(), login.clone()], at(2)).await.unwrap(), None, "refilled");
    // Budgets back to full are purged: at(10) every key here is full again.
    assert_eq!(s.purge_expired(at(10)).await.unwrap(), 3);
}

async fn concurrent_charges_never_exceed_the_budget(e: Env) {
    let s = &e.store;
    let races: Vec<_> = (0..12)
        .map(|i| {
            let s = s.clone();
            // Two keys in both orders: the store takes them in one order (no deadlock).
            let rules =
                if i % 2 == 0 { vec![rule("a", 5), rule("b", 100)] } else { vec![rule("b", 100), rule("a", 5)] };
            tokio::spawn(async move { s.charge_attempt(&rules, at(0)).await.unwrap().is_none() })
        })
        .collect();
    let mut allowed = 0;
    for r in races {
        allowed += usize::from(r.await.unwrap());
    }
    assert_eq!(allowed, 5);
    // `b` was charged only for the allowed ones: 95 left of 100.
    for _ in 0..95 {
        assert_eq!(s.charge_attempt(&[rule("b", 100)], at(0)).await.unwrap(), None);
    }
    assert!(s.charge_attempt(&[rule("b", 100)], at(0)).await.unwrap().is_some());
}
