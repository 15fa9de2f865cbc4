//! The identity provider's store against both backends (as `store.rs`): subjects, credentials,
//! clients, signing keys, sessions, codes, grants and tokens, and the races the provider relies on
//! being settled by the store (failure counting, refresh rotation, code replay, key rotation).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use orgid_directory::audit::{
    Actor, AuditEvent, AuditFields, AuditOutcome, EventKind, LoginFailure, RequestContext, lifecycle,
};
use orgid_directory::idp::{
    ClientStore, CodeRecord, CodeTake, CredentialStore, FailureCount, GrantRecord, GrantStore, IdpUpkeepStore,
    Rotation, SessionRecord, SessionStore, SigningKeyRecord, SigningKeyStore, StoredClient, Subject, TokenKind,
    TokenRecord,
};
use orgid_directory::{
    Account, AccountChange, AccountStatus, AuditStore, CompanyCode, Employment, Op, Person, PersonKey, StoreError, Tier,
};
use orgid_store::AnyStore;

use super::audit::{all_records, assert_intact, break_audit_writes, raw};
use super::store::{Env, at, group, person, plan_of};

both_backends!(
    subject_joins_account_person_and_company,
    set_password_keeps_a_trimmed_history_and_clears_failures,
    record_failure_locks_at_the_threshold_and_never_shortens_a_lock,
    concurrent_failures_are_all_counted,
    concurrent_logins_are_committed_in_groups_each_with_its_records,
    a_bad_login_write_fails_alone_in_its_group,
    unlock_and_totp_need_a_credential,
    clients_add_list_conflict_and_remove_revokes_grants,
    signing_keys_rotate_unless_a_newer_key_exists,
    concurrent_key_rotations_add_one_key,
    sessions_touch_and_end_revoking_their_grants,
    end_sessions_of_a_login_revokes_all_its_grants,
    codes_are_spent_once_and_reuse_names_the_grant,
    code_replayed_before_the_exchange_completes_revokes_the_grant,
    grants_and_tokens_round_trip_and_revoke,
    rotate_refresh_spends_once_and_reuse_revokes_the_grant,
    concurrent_rotations_of_one_token_rotate_once,
    purge_expired_deletes_what_can_no_longer_be_used,
    every_audited_call_writes_its_records,
    a_lockout_writes_the_failure_and_the_lockout,
    a_failed_audit_write_blocks_every_idp_change,
);

// ---- data -------------------------------------------------------------------------------------

/// The request every audit record of these tests comes from.
fn ctx() -> RequestContext {
    RequestContext {
        source_ip: Some("10.9.8.7".parse().unwrap()),
        user_agent: Some("Mozilla/5.0 (store test)".into()),
        session_id: Some("0123456789abcdef".into()),
        client_id: Some("portal".into()),
    }
}

/// zhangsan's failed login (bad password) at `at(0)`.
fn attempt() -> AuditEvent {
    attempt_of("zhangsan", LoginFailure::BadPassword)
}

fn attempt_of(login: &str, why: LoginFailure) -> AuditEvent {
    AuditEvent::login_failed(at(0), login, Some(&CompanyCode("A".into())), why, &ctx())
}

/// An event of `kind` for zhangsan, told apart from the others by its reason.
fn ev(kind: EventKind, reason: &str) -> AuditEvent {
    AuditEvent::new(at(1), kind, AuditOutcome::Success, Actor::User("zhangsan".into()))
        .subject("zhangsan", Some(&CompanyCode("A".into())))
        .context(&ctx())
        .reason(reason)
}

/// A code replay, as the provider describes it (without the code's login, which the store adds).
fn reuse() -> AuditEvent {
    AuditEvent::new(at(1), EventKind::CodeReuse, AuditOutcome::Failure, Actor::System("client:portal".into()))
        .context(&ctx())
}

fn issued() -> AuditEvent {
    AuditEvent::token_issued(at(1), Some("zhangsan"), None, "portal", "refresh_token", &ctx())
}

fn reused() -> AuditEvent {
    AuditEvent { outcome: AuditOutcome::Failure, ..ev(EventKind::RefreshReuse, "refresh reused") }
}

/// The records written so far, oldest first.
async fn records(store: &AnyStore) -> Vec<AuditFields> {
    let mut all = all_records(store).await;
    all.sort_by_key(|r| r.seq);
    all.into_iter().map(|r| r.fields).collect()
}

/// The records written since `before` of them: (type, reason).
async fn new_records(store: &AnyStore, before: usize) -> Vec<(String, Option<String>)> {
    records(store).await.into_iter().skip(before).map(|f| (f.kind, f.reason)).collect()
}

fn kr(kind: EventKind, reason: &str) -> (String, Option<String>) {
    (kind.as_str().to_string(), Some(reason.to_string()))
}

fn opened(p: &Person, login: &str, status: AccountStatus) -> AccountChange {
    AccountChange {
        op: Op::Open,
        person_key: p.key.clone(),
        account: Account {
            login: login.into(),
            status,
            rule: "ELIG-1".into(),
            opened_at: Some(p.updated_at),
            closed_at: None,
            updated_at: p.updated_at,
        },
        employee_number: p.profile.employee_number.clone(),
        name: p.profile.name.clone(),
        company: p.profile.company.clone(),
        before_status: None,
        fields: Vec::new(),
        reason: "opened by the test".into(),
    }
}

/// zhangsan (active, in A), lisi (left, account disabled, in B).
pub(super) async fn seed_accounts(e: &Env) {
    let t = at(1);
    let p1 = person("k1", "1001", "张三", "A", t);
    let mut p2 = person("k2", "2001", "李四", "B", t);
    p2.employment = Employment::Left;
    p2.profile.grade = None;
    p2.profile.confidential = true;
    let changes = vec![opened(&p1, "zhangsan", AccountStatus::Active), opened(&p2, "lisi", AccountStatus::Disabled)];
    e.apply(&group(), &plan_of(vec![p1, p2], changes), t, at(2)).await;
}

fn client(id: &str) -> StoredClient {
    StoredClient {
        id: id.into(),
        name: format!("{id} portal"),
        secret_hash: Some(format!("{id:0>64}")),
        redirect_uris: vec![format!("https://{id}.example.com/cb"), format!("https://{id}.example.com/cb2")],
        post_logout_redirect_uris: vec![format!("https://{id}.example.com/")],
        grants: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "hr.read".into()],
        id_token_alg: "ES256".into(),
        access_token_alg: Some("EdDSA".into()),
        require_totp: true,
        created_at: at(0),
        protocol: "oidc".into(),
        services: vec![],
        backchannel_logout_uri: Some(format!("https://{id}.example.com/backchannel")),
    }
}

fn key(kid: &str, created: DateTime<Utc>) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        private_pkcs8: kid.bytes().chain([0u8, 1, 2, 255]).collect(),
        created_at: created,
        retire_at: created + chrono::Duration::days(30),
        expires_at: created + chrono::Duration::days(60),
    }
}

pub(super) fn session(id: &str, login: &str) -> SessionRecord {
    SessionRecord {
        id_hash: id.into(),
        login: login.into(),
        auth_time: at(0),
        last_seen_at: at(0),
        expires_at: at(600),
        amr: vec!["pwd".into(), "otp".into()],
        ended_at: None,
    }
}

pub(super) fn code(hash: &str, expires: DateTime<Utc>) -> CodeRecord {
    CodeRecord {
        code_hash: hash.into(),
        client_id: "portal".into(),
        login: "zhangsan".into(),
        session_hash: "s1".into(),
        redirect_uri: "https://portal.example.com/cb".into(),
        scope: "openid profile".into(),
        nonce: Some("n-0S6".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        auth_time: at(0),
        amr: vec!["pwd".into()],
        expires_at: expires,
        grant_id: None,
        actor: None,
    }
}

pub(super) fn grant(id: &str, login: Option<&str>, session: Option<&str>) -> GrantRecord {
    GrantRecord {
        id: id.into(),
        client_id: "portal".into(),
        login: login.map(Into::into),
        scope: "openid profile".into(),
        session_hash: session.map(Into::into),
        auth_time: session.map(|_| at(0)),
        amr: if session.is_some() { vec!["pwd".into()] } else { Vec::new() },
        created_at: at(1),
        revoked_at: None,
        actor: None,
    }
}

pub(super) fn token(id: &str, kind: TokenKind, g: &GrantRecord, expires: DateTime<Utc>) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        kind,
        grant_id: g.id.clone(),
        client_id: g.client_id.clone(),
        login: g.login.clone(),
        scope: g.scope.clone(),
        issued_at: at(1),
        expires_at: expires,
        used_at: None,
        revoked_at: None,
    }
}

/// A grant for zhangsan through session `s` with an access and a refresh token (`<id>-a`, `<id>-r`).
async fn issue(store: &AnyStore, id: &str, s: Option<&str>) -> GrantRecord {
    let g = grant(id, Some("zhangsan"), s);
    let tokens = [
        token(&format!("{id}-a"), TokenKind::Access, &g, at(60)),
        token(&format!("{id}-r"), TokenKind::Refresh, &g, at(600)),
    ];
    store.create_grant(&g, &tokens, None, &[]).await.expect("create grant");
    g
}

async fn revoked(store: &AnyStore, token_id: &str) -> Option<DateTime<Utc>> {
    store.token(token_id).await.expect("token").expect("token exists").revoked_at
}

/// A second pool of `n` connections, all open: concurrent tasks then race in the database rather
/// than queue for connections.
async fn racing_pool(e: &Env, n: usize) -> AnyStore {
    let store = orgid_store::connect(&e.db.url, n as u32).await.expect("a second pool");
    let pings: Vec<_> = (0..n)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.ping().await })
        })
        .collect();
    for p in pings {
        p.await.expect("task").expect("ping");
    }
    store
}

fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::NotFound(_))), "expected not found, got {r:?}");
}

// ---- subjects and credentials -----------------------------------------------------------------

async fn subject_joins_account_person_and_company(e: Env) {
    seed_accounts(&e).await;
    let s = e.store.subject("zhangsan").await.unwrap().expect("zhangsan");
    assert_eq!(
        s,
        Subject {
            login: "zhangsan".into(),
            person_key: PersonKey("k1".into()),
            status: AccountStatus::Active,
            name: "张三".into(),
            employee_number: "1001".into(),
            email: "1001@example.com".into(),
            mobile: "13800000000".into(),
            company: CompanyCode("A".into()),
            company_name: "A 有限公司".into(),
            company_tier: Tier::Tier1,
            department: "财务部/一科".into(),
            title: "经理".into(),
            grade: Some("M12".into()),
            confidential: false,
            departed: false,
        }
    );
    let left = e.store.subject("lisi").await.unwrap().expect("any status is returned");
    assert_eq!(left.status, AccountStatus::Disabled);
    assert!(left.departed);
    assert!(left.confidential);
    assert_eq!(left.grade, None);
    assert_eq!(left.company_tier, Tier::Unrated);
    assert_eq!(e.store.subject("nobody").await.unwrap(), None);
    assert_eq!(e.store.subject("ZHANGSAN").await.unwrap(), None, "logins match exactly");
}

async fn set_password_keeps_a_trimmed_history_and_clears_failures(e: Env) {
    let s = &e.store;
    assert_eq!(s.credential("zhangsan").await.unwrap(), None);
    s.set_password("zhangsan", "$argon2id$h1", true, at(1), 2, &[]).await.unwrap();
    let c = s.credential("zhangsan").await.unwrap().expect("created");
    assert_eq!((c.hash.as_str(), c.must_change, c.changed_at), ("$argon2id$h1", true, at(1)));
    assert_eq!((c.failed_count, c.locked_until, c.totp_secret, c.last_login_at), (0, None, None, None));
    assert!(s.password_history("zhangsan", 10).await.unwrap().is_empty(), "no previous password yet");

    // The same millisecond for h2 and h3: the order is still the order of the changes.
    s.set_password("zhangsan", "$argon2id$h2", false, at(2), 2, &[]).await.unwrap();
    s.set_password("zhangsan", "$argon2id$h3", false, at(2), 2, &[]).await.unwrap();
    assert_eq!(s.password_history("zhangsan", 10).await.unwrap(), ["$argon2id$h2", "$argon2id$h1"]);
    s.record_failure("zhangsan", 2, at(30), &attempt()).await.unwrap();
    assert_eq!(s.record_failure("zhangsan", 2, at(30), &attempt()).await.unwrap().locked_until, Some(at(30)));

    s.set_password("zhangsan", "$argon2id$h4", false, at(3), 2, &[]).await.unwrap();
    assert_eq!(s.password_history("zhangsan", 10).await.unwrap(), ["$argon2id$h3", "$argon2id$h2"], "h1 trimmed");
    assert_eq!(s.password_history("zhangsan", 1).await.unwrap(), ["$argon2id$h3"]);
    let c = s.credential("zhangsan").await.unwrap().unwrap();
    assert_eq!((c.hash.as_str(), c.must_change, c.changed_at), ("$argon2id$h4", false, at(3)));
    assert_eq!((c.failed_count, c.locked_until), (0, None), "a new password clears failures and the lock");

    // Another login's history is its own; keeping none empties it.
    s.set_password("lisi", "$argon2id$x1", false, at(1), 5, &[]).await.unwrap();
    s.set_password("lisi", "$argon2id$x2", false, at(2), 5, &[]).await.unwrap();
    assert_eq!(s.password_history("lisi", 10).await.unwrap(), ["$argon2id$x1"]);
    s.set_password("zhangsan", "$argon2id$h5", false, at(4), 0, &[]).await.unwrap();
    assert!(s.password_history("zhangsan", 10).await.unwrap().is_empty());
    assert_eq!(s.password_history("lisi", 10).await.unwrap(), ["$argon2id$x1"]);
}

async fn record_failure_locks_at_the_threshold_and_never_shortens_a_lock(e: Env) {
    let s = &e.store;
    let none = FailureCount { failed_count: 0, locked_until: None };
    assert_eq!(s.record_failure("ghost", 1, at(30), &attempt()).await.unwrap(), none);
    assert_eq!(s.credential("ghost").await.unwrap(), None, "nothing is written for a login without a password");

    s.set_password("zhangsan", "$argon2id$h1", false, at(0), 5, &[]).await.unwrap();
    assert_eq!(
        s.record_failure("zhangsan", 3, at(30), &attempt()).await.unwrap(),
        FailureCount { failed_count: 1, locked_until: None }
    );
    assert_eq!(
        s.record_failure("zhangsan", 3, at(30), &attempt()).await.unwrap(),
        FailureCount { failed_count: 2, locked_until: None }
    );
    let third = s.record_failure("zhangsan", 3, at(30), &attempt()).await.unwrap();
    assert_eq!(third, FailureCount { failed_count: 3, locked_until: Some(at(30)) });
    // An earlier end does not shorten the lock; a later one extends it.
    assert_eq!(s.record_failure("zhangsan", 3, at(20), &attempt()).await.unwrap().locked_until, Some(at(30)));
    assert_eq!(
        s.record_failure("zhangsan", 3, at(45), &attempt()).await.unwrap(),
        FailureCount { failed_count: 5, locked_until: Some(at(45)) }
    );

    // A success while the lock runs keeps it (and clears the count); one after it clears it.
    s.record_success("zhangsan", at(40), &[]).await.unwrap();
    let c = s.credential("zhangsan").await.unwrap().unwrap();
    assert_eq!((c.failed_count, c.locked_until, c.last_login_at), (0, Some(at(45)), Some(at(40))));
    s.record_success("zhangsan", at(50), &[]).await.unwrap();
    let c = s.credential("zhangsan").await.unwrap().unwrap();
    assert_eq!((c.failed_count, c.locked_until, c.last_login_at), (0, None, Some(at(50))));

    // A lock that has run out is set again by the next failure at the threshold.
    s.record_failure("zhangsan", 1, at(60), &attempt()).await.unwrap();
    assert_eq!(
        s.record_failure("zhangsan", 1, at(90), &attempt()).await.unwrap(),
        FailureCount { failed_count: 2, locked_until: Some(at(90)) }
    );
    s.record_success("nobody", at(1), &[]).await.expect("a success without a credential does nothing");
}

async fn concurrent_failures_are_all_counted(e: Env) {
    e.store.set_password("zhangsan", "$argon2id$h1", false, at(0), 5, &[]).await.unwrap();
    let store = racing_pool(&e, 8).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.record_failure("zhangsan", 20, at(30), &attempt()).await })
        })
        .collect();
    let mut counts = BTreeSet::new();
    let mut locks = Vec::new();
    for t in tasks {
        let f = t.await.expect("task").expect("record failure");
        counts.insert(f.failed_count);
        locks.push(f.locked_until);
    }
    assert_eq!(counts, (1..=20).collect::<BTreeSet<u32>>(), "each failure saw its own count");
    assert_eq!(locks.iter().filter(|l| l.is_some()).count(), 1, "only the 20th failure locked");
    let c = e.store.credential("zhangsan").await.unwrap().unwrap();
    assert_eq!((c.failed_count, c.locked_until), (20, Some(at(30))));
    let kinds: Vec<String> = records(&e.store).await.into_iter().map(|f| f.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "login").count(), 20, "every attempt recorded");
    assert_eq!(kinds.iter().filter(|k| *k == "lockout").count(), 1, "one lockout: {kinds:?}");
}

/// Logins write through group commit: concurrent ones share transactions (fewer transactions
/// than writes), and each write still lands with exactly its own records, as if they had been
/// committed one by one.
async fn concurrent_logins_are_committed_in_groups_each_with_its_records(e: Env) {
    let logins: Vec<String> = (0..12).map(|i| format!("user{i:02}")).collect();
    for login in &logins {
        e.store.set_password(login, "$argon2id$h1", false, at(0), 5, &[]).await.unwrap();
    }
    let store = racing_pool(&e, 8).await;
    let before = store.login_write_stats();
    let company = CompanyCode("A".into());
    let mut tasks = Vec::new();
    for (i, login) in logins.iter().enumerate() {
        // A third of the accounts fail five times (the fifth locks); the others log in three times.
        let failing = i % 3 == 0;
        for _ in 0..if failing { 5 } else { 3 } {
            let (store, login, company) = (store.clone(), login.clone(), company.clone());
            tasks.push(tokio::spawn(async move {
                if failing {
                    let attempt =
                        AuditEvent::login_failed(at(1), &login, Some(&company), LoginFailure::BadPassword, &ctx());
                    store.record_failure(&login, 5, at(30), &attempt).await.map(Some)
                } else {
                    let ok = AuditEvent::login_succeeded(at(1), &login, Some(&company), &ctx());
                    store.record_success(&login, at(1), &[ok]).await.map(|()| None)
                }
            }));
        }
    }
    for i in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.record_refusal(&attempt_of(&format!("ghost{i}"), LoginFailure::UnknownUser)).await.map(|()| None)
        }));
    }
    let writes = tasks.len() as u64;
    let mut counts: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
    let mut locks = 0;
    for t in tasks {
        if let Some(f) = t.await.expect("task").expect("every login write commits") {
            *counts.entry(f.failed_count).or_default() += 1;
            locks += usize::from(f.locked_until.is_some());
        }
    }
    let failing = logins.iter().step_by(3).count();
    assert_eq!(counts, (1..=5).map(|n| (n, failing)).collect(), "each failure saw its own count");
    assert_eq!(locks, failing, "only each account's fifth failure locked it");

    let stats = store.login_write_stats();
    assert_eq!(stats.writes - before.writes, writes, "every write went through the group writer");
    assert!(stats.groups - before.groups < writes, "concurrent writes shared transactions: {stats:?}");

    for (i, login) in logins.iter().enumerate() {
        let c = e.store.credential(login).await.unwrap().unwrap();
        if i % 3 == 0 {
            assert_eq!((c.failed_count, c.locked_until, c.last_login_at), (5, Some(at(30)), None), "{login}");
        } else {
            assert_eq!((c.failed_count, c.locked_until, c.last_login_at), (0, None, Some(at(1))), "{login}");
        }
    }
    let all = records(&e.store).await;
    for (i, login) in logins.iter().enumerate() {
        let mine: Vec<(&str, &str)> = all
            .iter()
            .filter(|f| f.login.as_deref() == Some(login.as_str()))
            .map(|f| (f.kind.as_str(), f.outcome.as_str()))
            .collect();
        let want: Vec<(&str, &str)> = if i % 3 == 0 {
            let mut v = vec![("login", "failure"); 5];
            v.push(("lockout", "success"));
            v
        } else {
            vec![("login", "success"); 3]
        };
        let mut sorted = mine.clone();
        sorted.sort_unstable();
        let mut want_sorted = want;
        want_sorted.sort_unstable();
        assert_eq!(sorted, want_sorted, "{login}'s records");
    }
    assert_eq!(all.iter().filter(|f| f.login.as_deref().is_some_and(|l| l.starts_with("ghost"))).count(), 6);
    assert_eq!(all.len(), failing * 6 + (logins.len() - failing) * 3 + 6, "no record more or less");
    assert_intact(&e.store).await;
}

/// A write that fails (here: a trigger refuses lisi's credential row) fails alone: the group it
/// was in is written again one by one, so the others commit with their records, and lisi's
/// attempt leaves neither a change nor a record.
async fn a_bad_login_write_fails_alone_in_its_group(e: Env) {
    use EventKind as K;
    for login in ["zhangsan", "lisi"] {
        e.store.set_password(login, "$argon2id$h1", false, at(0), 5, &[]).await.unwrap();
    }
    let sql = match e.db.backend {
        orgid_tests::Backend::Sqlite => {
            "CREATE TRIGGER lisi_broken BEFORE UPDATE ON idp_credentials WHEN OLD.login = 'lisi' \
             BEGIN SELECT RAISE(ABORT, 'lisi is broken'); END;"
        }
        orgid_tests::Backend::Postgres => {
            "CREATE FUNCTION lisi_broken() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF OLD.login = 'lisi' THEN RAISE EXCEPTION 'lisi is broken'; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER lisi_broken BEFORE UPDATE ON idp_credentials \
             FOR EACH ROW EXECUTE FUNCTION lisi_broken();"
        }
    };
    raw(&e.db.url, sql).await.expect("break lisi's credential");
    let lisi = e.store.credential("lisi").await.unwrap().unwrap();
    let seen = records(&e.store).await.len();
    let store = racing_pool(&e, 4).await;
    let before = store.login_write_stats();

    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            ("zhangsan", store.record_success("zhangsan", at(1), &[ev(K::Login, &format!("ok {i}"))]).await)
        }));
    }
    let store2 = store.clone();
    tasks.push(tokio::spawn(async move {
        let attempt = attempt_of("lisi", LoginFailure::BadPassword);
        ("lisi", store2.record_failure("lisi", 5, at(30), &attempt).await.map(drop))
    }));
    let store3 = store.clone();
    tasks.push(tokio::spawn(async move {
        let ok = AuditEvent::login_succeeded(at(1), "lisi", Some(&CompanyCode("A".into())), &ctx());
        ("lisi", store3.record_success("lisi", at(1), &[ok]).await)
    }));
    for t in tasks {
        match t.await.expect("task") {
            ("lisi", r) => {
                let err = r.expect_err("lisi's write fails");
                assert!(err.to_string().contains("lisi is broken"), "{err}");
            }
            (_, r) => r.expect("zhangsan's logins commit"),
        }
    }
    let stats = store.login_write_stats();
    assert!(stats.groups - before.groups < stats.writes - before.writes, "the writes were grouped: {stats:?}");
    assert_eq!(e.store.credential("lisi").await.unwrap().unwrap(), lisi, "lisi's credential unchanged");
    assert_eq!(e.store.credential("zhangsan").await.unwrap().unwrap().last_login_at, Some(at(1)));
    let new: Vec<AuditFields> = records(&e.store).await.split_off(seen);
    assert!(new.iter().all(|f| f.login.as_deref() == Some("zhangsan")), "no record of lisi: {new:?}");
    let mut reasons: Vec<String> = new.iter().filter_map(|f| f.reason.clone()).collect();
    reasons.sort_unstable();
    let mut want: Vec<String> = (0..10).map(|i| format!("ok {i}")).collect();
    want.sort_unstable();
    assert_eq!(reasons, want, "each of zhangsan's logins recorded once");
    assert_intact(&e.store).await;
}

/// While another writer holds SQLite's write lock past the busy timeout (a long sync), queued
/// logins wait in their group's first statement and fail together with the lock's error, nothing
/// written; they are not written again one by one (twenty more busy timeouts). Once the lock is
/// free, logins commit again.
#[tokio::test]
async fn a_held_sqlite_write_lock_fails_the_queued_group_at_once() {
    let e = Env::new(orgid_tests::Backend::Sqlite).await;
    let logins: Vec<String> = (0..20).map(|i| format!("user{i:02}")).collect();
    for login in &logins {
        e.store.set_password(login, "$argon2id$h1", false, at(0), 5, &[]).await.unwrap();
    }
    let seen = records(&e.store).await.len();
    let other = sqlx::SqlitePool::connect(&e.db.url).await.unwrap();
    let mut holder = other.acquire().await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *holder).await.unwrap();

    let started = std::time::Instant::now();
    let tasks: Vec<_> = logins
        .iter()
        .map(|login| {
            let (store, login) = (e.store.clone(), login.clone());
            tokio::spawn(async move {
                let ok = AuditEvent::login_succeeded(at(1), &login, Some(&CompanyCode("A".into())), &ctx());
                store.record_success(&login, at(1), &[ok]).await
            })
        })
        .collect();
    for t in tasks {
        let err = t.await.unwrap().expect_err("the write lock is held");
        assert!(err.to_string().contains("locked"), "{err}");
    }
    // The store's busy timeout is 5 s: one or two of them, not one per login.
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(20), "the group failed at once, not login by login: {waited:?}");
    sqlx::raw_sql("ROLLBACK").execute(&mut *holder).await.unwrap();
    drop(holder);
    other.close().await;
    assert_eq!(records(&e.store).await.len(), seen, "nothing written");
    assert_eq!(e.store.credential("user00").await.unwrap().unwrap().last_login_at, None);
    e.store.record_success("user00", at(2), &[]).await.expect("the lock is free again");
    assert_eq!(e.store.credential("user00").await.unwrap().unwrap().last_login_at, Some(at(2)));
}

async fn unlock_and_totp_need_a_credential(e: Env) {
    let s = &e.store;
    not_found(s.unlock("zhangsan", &[]).await);
    not_found(s.set_totp("zhangsan", Some("JBSWY3DPEHPK3PXP")).await);
    s.set_password("zhangsan", "$argon2id$h1", false, at(0), 5, &[]).await.unwrap();
    s.record_failure("zhangsan", 1, at(30), &attempt()).await.unwrap();
    s.unlock("zhangsan", &[]).await.unwrap();
    let c = s.credential("zhangsan").await.unwrap().unwrap();
    assert_eq!((c.failed_count, c.locked_until), (0, None));
    s.set_totp("zhangsan", Some("JBSWY3DPEHPK3PXP")).await.unwrap();
    assert_eq!(s.credential("zhangsan").await.unwrap().unwrap().totp_secret.as_deref(), Some("JBSWY3DPEHPK3PXP"));
    s.set_password("zhangsan", "$argon2id$h2", false, at(1), 5, &[]).await.unwrap();
    assert!(s.credential("zhangsan").await.unwrap().unwrap().totp_secret.is_some(), "a new password keeps TOTP");
    s.set_totp("zhangsan", None).await.unwrap();
    assert_eq!(s.credential("zhangsan").await.unwrap().unwrap().totp_secret, None);
}

// ---- clients and keys -------------------------------------------------------------------------

async fn clients_add_list_conflict_and_remove_revokes_grants(e: Env) {
    let s = &e.store;
    let public = StoredClient { secret_hash: None, require_totp: false, ..client("cli") };
    s.add_client(&client("portal"), &[]).await.unwrap();
    s.add_client(&public, &[]).await.unwrap();
    assert_eq!(s.clients().await.unwrap(), [public.clone(), client("portal")], "ordered by id");
    let err = s.add_client(&StoredClient { name: "another".into(), ..client("portal") }, &[]).await;
    assert!(matches!(&err, Err(StoreError::Conflict(m)) if m.contains("portal")), "{err:?}");

    let g = issue(s, "g1", None).await;
    let other = GrantRecord { client_id: "cli".into(), ..grant("g2", Some("zhangsan"), None) };
    s.create_grant(&other, &[token("g2-a", TokenKind::Access, &other, at(60))], None, &[]).await.unwrap();
    s.remove_client("portal", at(5), &[]).await.unwrap();
    assert_eq!(s.clients().await.unwrap(), [public]);
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, Some(at(5)));
    assert_eq!(revoked(s, "g1-a").await, Some(at(5)));
    assert_eq!(revoked(s, "g1-r").await, Some(at(5)));
    assert_eq!(s.grant("g2").await.unwrap().unwrap().revoked_at, None, "another client's grant stays");
    assert_eq!(revoked(s, "g2-a").await, None);
    not_found(s.remove_client("portal", at(6), &[]).await);
}

async fn signing_keys_rotate_unless_a_newer_key_exists(e: Env) {
    let s = &e.store;
    assert!(s.signing_keys(at(0)).await.unwrap().is_empty());
    assert!(s.add_signing_key(&key("k1", at(0)), at(-1), &[]).await.unwrap());
    assert!(!s.add_signing_key(&key("k2", at(10)), at(-1), &[]).await.unwrap(), "k1 is newer than the caller knew");
    assert!(s.add_signing_key(&key("k2", at(10)), at(0), &[]).await.unwrap());
    let keys = s.signing_keys(at(20)).await.unwrap();
    assert_eq!(keys, [key("k2", at(10)), key("k1", at(0))], "newest first, private key bytes intact");
    // Published until expires_at, then gone.
    let k1_expiry = key("k1", at(0)).expires_at;
    assert_eq!(s.signing_keys(k1_expiry).await.unwrap(), [key("k2", at(10))]);
    let err = s.add_signing_key(&key("k2", at(30)), at(30), &[]).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
}

async fn concurrent_key_rotations_add_one_key(e: Env) {
    let store = racing_pool(&e, 8).await;
    let mut newest = at(0);
    for round in 1..=10_i64 {
        let tasks: Vec<_> = (0..2)
            .map(|replica| {
                let store = store.clone();
                let k = key(&format!("r{round}-{replica}"), at(round * 10 + replica));
                tokio::spawn(async move { store.add_signing_key(&k, newest, &[]).await })
            })
            .collect();
        let mut added = 0;
        for t in tasks {
            added += usize::from(t.await.expect("task").expect("add key"));
        }
        assert_eq!(added, 1, "round {round}: exactly one replica adds its key");
        let keys = e.store.signing_keys(at(0)).await.unwrap();
        assert_eq!(keys.len() as i64, round);
        newest = keys[0].created_at;
    }
}

// ---- sessions ---------------------------------------------------------------------------------

async fn sessions_touch_and_end_revoking_their_grants(e: Env) {
    let s = &e.store;
    s.create_session(&session("s1", "zhangsan")).await.unwrap();
    s.create_session(&session("s2", "zhangsan")).await.unwrap();
    assert_eq!(s.session("s1").await.unwrap(), Some(session("s1", "zhangsan")));
    assert_eq!(s.session("s9").await.unwrap(), None);
    assert!(matches!(s.create_session(&session("s1", "lisi")).await, Err(StoreError::Conflict(_))));

    s.touch_session("s1", at(5)).await.unwrap();
    s.touch_session("s1", at(3)).await.unwrap();
    assert_eq!(s.session("s1").await.unwrap().unwrap().last_seen_at, at(5), "never moves back");
    s.touch_session("s9", at(5)).await.expect("touching a missing session does nothing");

    let g1 = issue(s, "g1", Some("s1")).await;
    let g2 = issue(s, "g2", Some("s2")).await;
    s.end_session("s1", at(7), &[]).await.unwrap();
    assert_eq!(s.session("s1").await.unwrap().unwrap().ended_at, Some(at(7)));
    assert_eq!(s.grant(&g1.id).await.unwrap().unwrap().revoked_at, Some(at(7)));
    assert_eq!(revoked(s, "g1-a").await, Some(at(7)));
    assert_eq!(revoked(s, "g1-r").await, Some(at(7)));
    assert_eq!(s.grant(&g2.id).await.unwrap().unwrap().revoked_at, None, "another session's grant stays");
    assert_eq!(revoked(s, "g2-r").await, None);

    // Ending again keeps the first end; an ended session is not touched.
    s.end_session("s1", at(9), &[]).await.unwrap();
    s.touch_session("s1", at(9)).await.unwrap();
    let ended = s.session("s1").await.unwrap().unwrap();
    assert_eq!((ended.ended_at, ended.last_seen_at), (Some(at(7)), at(5)));
    assert_eq!(revoked(s, "g1-a").await, Some(at(7)));
}

async fn end_sessions_of_a_login_revokes_all_its_grants(e: Env) {
    let s = &e.store;
    s.create_session(&session("s1", "zhangsan")).await.unwrap();
    s.create_session(&session("s2", "zhangsan")).await.unwrap();
    s.create_session(&session("s3", "lisi")).await.unwrap();
    issue(s, "g1", Some("s1")).await;
    issue(s, "g2", None).await;
    let theirs = grant("g3", Some("lisi"), Some("s3"));
    s.create_grant(&theirs, &[token("g3-r", TokenKind::Refresh, &theirs, at(600))], None, &[]).await.unwrap();

    s.end_sessions_of("zhangsan", at(8), &[]).await.unwrap();
    for id in ["s1", "s2"] {
        assert_eq!(s.session(id).await.unwrap().unwrap().ended_at, Some(at(8)), "{id}");
    }
    for id in ["g1", "g2"] {
        assert_eq!(s.grant(id).await.unwrap().unwrap().revoked_at, Some(at(8)), "{id}");
    }
    for id in ["g1-a", "g1-r", "g2-a", "g2-r"] {
        assert_eq!(revoked(s, id).await, Some(at(8)), "{id}");
    }
    assert_eq!(s.session("s3").await.unwrap().unwrap().ended_at, None);
    assert_eq!(s.grant("g3").await.unwrap().unwrap().revoked_at, None);
    assert_eq!(revoked(s, "g3-r").await, None);
}

// ---- codes, grants, tokens --------------------------------------------------------------------

async fn codes_are_spent_once_and_reuse_names_the_grant(e: Env) {
    let s = &e.store;
    s.save_code(&code("c1", at(2))).await.unwrap();
    assert_eq!(s.take_code("c1", at(1), &reuse()).await.unwrap(), CodeTake::Fresh(code("c1", at(2))));
    assert_eq!(s.take_code("c1", at(1), &reuse()).await.unwrap(), CodeTake::Reused { grant_id: None });

    let g = grant("g1", Some("zhangsan"), Some("s1"));
    s.create_grant(&g, &[token("g1-a", TokenKind::Access, &g, at(60))], Some("c1"), &[]).await.unwrap();
    assert_eq!(s.take_code("c1", at(1), &reuse()).await.unwrap(), CodeTake::Reused { grant_id: Some("g1".into()) });
    assert_eq!(
        s.take_code("c1", at(3), &reuse()).await.unwrap(),
        CodeTake::Reused { grant_id: Some("g1".into()) },
        "until purged"
    );

    s.save_code(&code("c2", at(2))).await.unwrap();
    assert_eq!(s.take_code("c2", at(2), &reuse()).await.unwrap(), CodeTake::Missing, "expired at expires_at");
    assert_eq!(
        s.take_code("c2", at(1), &reuse()).await.unwrap(),
        CodeTake::Fresh(code("c2", at(2))),
        "expiry left it unspent"
    );
    assert_eq!(s.take_code("c9", at(1), &reuse()).await.unwrap(), CodeTake::Missing);
    assert!(matches!(s.save_code(&code("c2", at(2))).await, Err(StoreError::Conflict(_))));

    // A grant can only be linked to a spent code not yet linked; nothing is stored otherwise.
    s.save_code(&code("c3", at(2))).await.unwrap();
    for c in ["c1", "c3", "c9"] {
        let g = grant(&format!("x-{c}"), Some("zhangsan"), Some("s1"));
        let r = s.create_grant(&g, &[token(&format!("x-{c}-a"), TokenKind::Access, &g, at(60))], Some(c), &[]).await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{c}: {r:?}");
        assert_eq!(s.grant(&g.id).await.unwrap(), None, "{c}");
        assert_eq!(s.token(&format!("x-{c}-a")).await.unwrap(), None, "{c}");
    }
}

async fn code_replayed_before_the_exchange_completes_revokes_the_grant(e: Env) {
    let s = &e.store;
    s.save_code(&code("c1", at(2))).await.unwrap();
    assert!(matches!(s.take_code("c1", at(1), &reuse()).await.unwrap(), CodeTake::Fresh(_)));
    // The replay arrives before the first exchange stored its grant: it cannot name the grant…
    assert_eq!(s.take_code("c1", at(1), &reuse()).await.unwrap(), CodeTake::Reused { grant_id: None });
    // …so the grant is stored revoked, with its tokens.
    let g = grant("g1", Some("zhangsan"), Some("s1"));
    let tokens = [token("g1-a", TokenKind::Access, &g, at(60)), token("g1-r", TokenKind::Refresh, &g, at(600))];
    s.create_grant(&g, &tokens, Some("c1"), &[]).await.unwrap();
    assert_eq!(s.grant("g1").await.unwrap().unwrap().revoked_at, Some(at(1)));
    assert_eq!(revoked(s, "g1-a").await, Some(at(1)));
    assert_eq!(s.rotate_refresh("g1-r", &[], at(2), &issued(), &reused()).await.unwrap(), Rotation::Invalid);
}

async fn grants_and_tokens_round_trip_and_revoke(e: Env) {
    let s = &e.store;
    // Client credentials: no login, no session.
    let cc = grant("g0", None, None);
    let access = token("g0-a", TokenKind::Access, &cc, at(60));
    s.create_grant(&cc, std::slice::from_ref(&access), None, &[]).await.unwrap();
    assert_eq!(s.grant("g0").await.unwrap(), Some(cc.clone()));
    assert_eq!(s.token("g0-a").await.unwrap(), Some(access.clone()));
    assert_eq!(s.grant("nope").await.unwrap(), None);
    assert_eq!(s.token("nope").await.unwrap(), None);
    assert!(matches!(s.create_grant(&cc, &[], None, &[]).await, Err(StoreError::Conflict(_))));

    let g = issue(s, "g1", Some("s1")).await;
    assert_eq!(s.grant("g1").await.unwrap(), Some(g.clone()));
    s.revoke_token("g1-a", at(3)).await.unwrap();
    s.revoke_token("g1-a", at(4)).await.unwrap();
    assert_eq!(revoked(s, "g1-a").await, Some(at(3)), "the first revocation stays");
    assert_eq!(revoked(s, "g1-r").await, None, "revoking a token leaves its grant");
    s.revoke_token("nope", at(4)).await.expect("revoking an unknown token does nothing");

    s.revoke_grant("g1", at(5)).await.unwrap();
    assert_eq!(s.grant("g1").await.unwrap().unwrap().revoked_at, Some(at(5)));
    assert_eq!(revoked(s, "g1-r").await, Some(at(5)));
    assert_eq!(revoked(s, "g1-a").await, Some(at(3)));
    assert_eq!(revoked(s, "g0-a").await, None);
    s.revoke_grant("nope", at(5)).await.expect("revoking an unknown grant does nothing");

    // A grant stored revoked: its tokens read as revoked from the grant's time.
    let dead = GrantRecord { revoked_at: Some(at(2)), ..grant("g2", Some("zhangsan"), None) };
    s.create_grant(&dead, &[token("g2-a", TokenKind::Access, &dead, at(60))], None, &[]).await.unwrap();
    assert_eq!(revoked(s, "g2-a").await, Some(at(2)));
}

async fn rotate_refresh_spends_once_and_reuse_revokes_the_grant(e: Env) {
    let s = &e.store;
    let g = issue(s, "g1", Some("s1")).await;
    let next = [token("g1-a2", TokenKind::Access, &g, at(70)), token("g1-r2", TokenKind::Refresh, &g, at(700))];
    assert_eq!(s.rotate_refresh("g1-r", &next, at(10), &issued(), &reused()).await.unwrap(), Rotation::Rotated);
    assert_eq!(s.token("g1-r").await.unwrap().unwrap().used_at, Some(at(10)));
    assert_eq!(s.token("g1-r2").await.unwrap(), Some(next[1].clone()));
    assert_eq!(s.token("g1-a2").await.unwrap(), Some(next[0].clone()));

    // Not a refresh token, unknown, or new tokens for another grant: nothing happens.
    assert_eq!(s.rotate_refresh("g1-a", &[], at(11), &issued(), &reused()).await.unwrap(), Rotation::Invalid);
    assert_eq!(s.rotate_refresh("nope", &[], at(11), &issued(), &reused()).await.unwrap(), Rotation::Invalid);
    let other = grant("g9", Some("zhangsan"), None);
    let stray = token("g9-r", TokenKind::Refresh, &other, at(700));
    assert!(s.rotate_refresh("g1-r2", std::slice::from_ref(&stray), at(11), &issued(), &reused()).await.is_err());
    assert_eq!(s.token("g1-r2").await.unwrap().unwrap().used_at, None, "rolled back");
    assert_eq!(s.token("g9-r").await.unwrap(), None);

    // The old token again: reuse, the whole grant goes.
    let third = [token("g1-r3", TokenKind::Refresh, &g, at(800))];
    assert_eq!(
        s.rotate_refresh("g1-r", &third, at(12), &issued(), &reused()).await.unwrap(),
        Rotation::Reused { grant_id: "g1".into() }
    );
    assert_eq!(s.token("g1-r3").await.unwrap(), None, "nothing issued on reuse");
    assert_eq!(s.grant("g1").await.unwrap().unwrap().revoked_at, Some(at(12)));
    for id in ["g1-a", "g1-r", "g1-a2", "g1-r2"] {
        assert_eq!(revoked(s, id).await, Some(at(12)), "{id}");
    }
    assert_eq!(
        s.rotate_refresh("g1-r2", &third, at(13), &issued(), &reused()).await.unwrap(),
        Rotation::Invalid,
        "revoked"
    );

    // Expired, or of a revoked grant: invalid, and nothing is spent.
    let g2 = issue(s, "g2", None).await;
    assert_eq!(
        s.rotate_refresh("g2-r", &[], at(600), &issued(), &reused()).await.unwrap(),
        Rotation::Invalid,
        "expired at expires_at"
    );
    let g3 = issue(s, "g3", None).await;
    s.revoke_grant(&g3.id, at(5)).await.unwrap();
    assert_eq!(s.rotate_refresh("g3-r", &[], at(6), &issued(), &reused()).await.unwrap(), Rotation::Invalid);
    assert_eq!(s.token("g2-r").await.unwrap().unwrap().used_at, None);
    assert_eq!(s.grant(&g2.id).await.unwrap().unwrap().revoked_at, None);
}

async fn concurrent_rotations_of_one_token_rotate_once(e: Env) {
    let g = issue(&e.store, "g1", Some("s1")).await;
    let store = racing_pool(&e, 8).await;
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            let new = [token(&format!("g1-r-{i}"), TokenKind::Refresh, &g, at(700))];
            tokio::spawn(async move { store.rotate_refresh("g1-r", &new, at(10), &issued(), &reused()).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task").expect("rotate"));
    }
    assert_eq!(outcomes.iter().filter(|o| **o == Rotation::Rotated).count(), 1, "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| **o == Rotation::Reused { grant_id: "g1".into() }).count(),
        5,
        "{outcomes:?}"
    );
    let winner = (0..6).position(|i| outcomes[i] == Rotation::Rotated).unwrap();
    for i in 0..6 {
        let t = e.store.token(&format!("g1-r-{i}")).await.unwrap();
        assert_eq!(t.is_some(), i == winner, "only the winner's token is stored ({i})");
    }
    // The losers' reuse revoked the grant, the winner's new token with it.
    assert_eq!(revoked(&e.store, &format!("g1-r-{winner}")).await, Some(at(10)));
}

async fn purge_expired_deletes_what_can_no_longer_be_used(e: Env) {
    let s = &e.store;
    let now = at(100);
    s.save_code(&code("c-old", at(50))).await.unwrap();
    s.save_code(&code("c-new", at(101))).await.unwrap();
    s.create_session(&SessionRecord { expires_at: at(90), ..session("s-old", "zhangsan") }).await.unwrap();
    s.create_session(&session("s-ended", "zhangsan")).await.unwrap();
    s.end_session("s-ended", at(5), &[]).await.unwrap();
    s.create_session(&session("s-live", "zhangsan")).await.unwrap();
    // g1: every token expired → the grant goes. g2: a live refresh token keeps it (its expired
    // access token goes).
    let g1 = grant("g1", Some("zhangsan"), None);
    s.create_grant(
        &g1,
        &[token("g1-a", TokenKind::Access, &g1, at(60)), token("g1-r", TokenKind::Refresh, &g1, now)],
        None,
        &[],
    )
    .await
    .unwrap();
    let g2 = issue(s, "g2", None).await;
    s.add_signing_key(&SigningKeyRecord { expires_at: at(99), ..key("k-old", at(0)) }, at(-1), &[]).await.unwrap();
    s.add_signing_key(&key("k-new", at(1)), at(0), &[]).await.unwrap();

    // codes 1, tokens 3 (g1-a, g1-r, g2-a), sessions 2, grants 1, keys 1.
    assert_eq!(s.purge_expired(now).await.unwrap(), 8);
    assert_eq!(s.take_code("c-old", at(40), &reuse()).await.unwrap(), CodeTake::Missing);
    assert!(matches!(s.take_code("c-new", now, &reuse()).await.unwrap(), CodeTake::Fresh(_)));
    assert_eq!(s.session("s-old").await.unwrap(), None);
    assert_eq!(s.session("s-ended").await.unwrap(), None);
    assert!(s.session("s-live").await.unwrap().is_some());
    assert_eq!(s.grant("g1").await.unwrap(), None);
    assert_eq!(s.token("g1-r").await.unwrap(), None);
    assert_eq!(s.grant(&g2.id).await.unwrap(), Some(g2));
    assert_eq!(s.token("g2-a").await.unwrap(), None);
    assert!(s.token("g2-r").await.unwrap().is_some());
    let kids: Vec<String> = s.signing_keys(at(0)).await.unwrap().into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, ["k-new"]);
    assert_eq!(s.purge_expired(now).await.unwrap(), 0, "nothing left to purge");
}

// ---- audit ------------------------------------------------------------------------------------

/// Asserts the records written since the last call (counted in `seen`).
async fn expect_new(store: &AnyStore, seen: &mut usize, want: &[(String, Option<String>)], what: &str) {
    let got = new_records(store, *seen).await;
    assert_eq!(got, want, "{what}");
    *seen += got.len();
}

async fn every_audited_call_writes_its_records(e: Env) {
    use EventKind as K;
    let s = &e.store;
    let seen = &mut 0;
    s.set_password("zhangsan", "$argon2id$h1", false, at(0), 5, &[ev(K::PasswordReset, "reset")]).await.unwrap();
    expect_new(s, seen, &[kr(K::PasswordReset, "reset")], "set_password").await;
    s.record_success("zhangsan", at(1), &[ev(K::Login, "ok")]).await.unwrap();
    expect_new(s, seen, &[kr(K::Login, "ok")], "record_success").await;
    s.record_refusal(&attempt_of("lisi", LoginFailure::Disabled)).await.unwrap();
    expect_new(s, seen, &[kr(K::Login, "disabled")], "record_refusal").await;
    let none = FailureCount { failed_count: 0, locked_until: None };
    let ghost = attempt_of("ghost", LoginFailure::UnknownUser);
    assert_eq!(s.record_failure("ghost", 1, at(30), &ghost).await.unwrap(), none);
    expect_new(s, seen, &[kr(K::Login, "unknown_user")], "an unknown login's attempt, nothing counted").await;
    s.record_failure("zhangsan", 9, at(30), &attempt()).await.unwrap();
    expect_new(s, seen, &[kr(K::Login, "bad_password")], "record_failure under the threshold").await;

    not_found(s.unlock("nobody", &[ev(K::Unlock, "x")]).await);
    s.unlock("zhangsan", &[ev(K::Unlock, "unlocked")]).await.unwrap();
    expect_new(s, seen, &[kr(K::Unlock, "unlocked")], "unlock (not the refused one)").await;

    s.add_client(&client("portal"), &[ev(K::ClientAdd, "added")]).await.unwrap();
    let dup = s.add_client(&client("portal"), &[ev(K::ClientAdd, "again")]).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    not_found(s.remove_client("nope", at(2), &[ev(K::ClientRemove, "x")]).await);
    s.remove_client("portal", at(2), &[ev(K::ClientRemove, "removed")]).await.unwrap();
    expect_new(s, seen, &[kr(K::ClientAdd, "added"), kr(K::ClientRemove, "removed")], "clients").await;

    assert!(s.add_signing_key(&key("k1", at(0)), at(-1), &[ev(K::KeyRotation, "k1")]).await.unwrap());
    assert!(!s.add_signing_key(&key("k2", at(10)), at(-1), &[ev(K::KeyRotation, "k2")]).await.unwrap());
    expect_new(s, seen, &[kr(K::KeyRotation, "k1")], "only the key that was added").await;

    s.create_session(&session("s1", "zhangsan")).await.unwrap();
    s.create_session(&session("s2", "zhangsan")).await.unwrap();
    let g1 = grant("g1", Some("zhangsan"), Some("s1"));
    s.create_grant(&g1, &[token("g1-r", TokenKind::Refresh, &g1, at(600))], None, &[ev(K::TokenIssued, "g1")])
        .await
        .unwrap();
    expect_new(s, seen, &[kr(K::TokenIssued, "g1")], "create_grant").await;
    s.end_session("s1", at(3), &[ev(K::Logout, "bye")]).await.unwrap();
    s.end_session("s1", at(4), &[ev(K::Logout, "again")]).await.unwrap();
    s.end_session("s9", at(4), &[ev(K::Logout, "none")]).await.unwrap();
    s.end_sessions_of("zhangsan", at(5), &[ev(K::Logout, "all")]).await.unwrap();
    s.end_sessions_of("zhangsan", at(6), &[ev(K::Logout, "all again")]).await.unwrap();
    expect_new(s, seen, &[kr(K::Logout, "bye"), kr(K::Logout, "all")], "only the calls that ended something").await;

    // A fresh code records nothing; a replay records the reuse with the code's login, and the
    // grant once the code issued one.
    s.save_code(&code("c1", at(2))).await.unwrap();
    assert!(matches!(s.take_code("c1", at(1), &reuse()).await.unwrap(), CodeTake::Fresh(_)));
    assert_eq!(s.take_code("c9", at(1), &reuse()).await.unwrap(), CodeTake::Missing);
    expect_new(s, seen, &[], "no reuse yet").await;
    s.take_code("c1", at(1), &reuse()).await.unwrap();
    let g2 = grant("g2", Some("zhangsan"), Some("s1"));
    s.create_grant(&g2, &[token("g2-r", TokenKind::Refresh, &g2, at(600))], Some("c1"), &[]).await.unwrap();
    s.take_code("c1", at(1), &reuse()).await.unwrap();
    let replays: Vec<AuditFields> = records(s).await.into_iter().skip(*seen).collect();
    *seen += replays.len();
    assert_eq!(replays.len(), 2, "{replays:?}");
    for r in &replays {
        assert_eq!((r.kind.as_str(), r.outcome.as_str()), ("code_reuse", "failure"));
        assert_eq!((r.login.as_deref(), r.client_id.as_deref()), (Some("zhangsan"), Some("portal")));
    }
    assert!(!replays[0].details.as_deref().unwrap_or("").contains("grant_id"), "{:?}", replays[0].details);
    assert!(replays[1].details.as_deref().unwrap_or("").contains(r#""grant_id":"g2""#), "{:?}", replays[1].details);

    // Rotation: the issued record, then the reuse record, then nothing for an invalid token.
    let g3 = grant("g3", Some("zhangsan"), None);
    s.create_grant(&g3, &[token("g3-r", TokenKind::Refresh, &g3, at(600))], None, &[]).await.unwrap();
    let next = [token("g3-r2", TokenKind::Refresh, &g3, at(700))];
    assert_eq!(s.rotate_refresh("g3-r", &next, at(10), &issued(), &reused()).await.unwrap(), Rotation::Rotated);
    assert!(matches!(
        s.rotate_refresh("g3-r", &[], at(11), &issued(), &reused()).await.unwrap(),
        Rotation::Reused { .. }
    ));
    assert_eq!(s.rotate_refresh("nope", &[], at(11), &issued(), &reused()).await.unwrap(), Rotation::Invalid);
    expect_new(
        s,
        seen,
        &[(K::TokenIssued.as_str().into(), None), kr(K::RefreshReuse, "refresh reused")],
        "rotate_refresh",
    )
    .await;

    // Every field of the request reaches the record; the chain holds.
    let login = records(s).await.into_iter().find(|f| f.reason.as_deref() == Some("ok")).unwrap();
    assert_eq!(login, ev(K::Login, "ok").fields());
    assert_eq!(
        (login.source_ip.as_deref(), login.session_id.as_deref(), login.company.as_deref()),
        (Some("10.9.8.7"), Some("0123456789abcdef"), Some("A"))
    );
    assert!(assert_intact(s).await >= 1);
}

async fn a_lockout_writes_the_failure_and_the_lockout(e: Env) {
    let s = &e.store;
    s.set_password("zhangsan", "$argon2id$h1", false, at(0), 5, &[]).await.unwrap();
    s.record_failure("zhangsan", 2, at(30), &attempt()).await.unwrap();
    assert_eq!(records(s).await, [attempt().fields()], "under the threshold: the attempt alone");

    let locked = s.record_failure("zhangsan", 2, at(30), &attempt()).await.unwrap();
    assert_eq!(locked, FailureCount { failed_count: 2, locked_until: Some(at(30)) });
    let lockout = lifecycle::lockout_event(&attempt(), 2, at(30)).fields();
    assert_eq!(records(s).await[1..], [attempt().fields(), lockout.clone()], "the failure, then the lockout");
    assert_eq!((lockout.kind.as_str(), lockout.actor.as_str()), ("lockout", "idp"));
    assert_eq!((lockout.login.as_deref(), lockout.source_ip.as_deref()), (Some("zhangsan"), Some("10.9.8.7")));

    // Failing again while the lock runs: no second lockout.
    s.record_failure("zhangsan", 2, at(30), &attempt()).await.unwrap();
    assert_eq!(records(s).await[3..], [attempt().fields()]);

    // After the lock ran out, reaching the threshold again is a new lockout.
    let later = AuditEvent { at: at(40), ..attempt() };
    assert_eq!(s.record_failure("zhangsan", 2, at(90), &later).await.unwrap().locked_until, Some(at(90)));
    assert_eq!(records(s).await[4..], [later.fields(), lifecycle::lockout_event(&later, 4, at(90)).fields()]);
    assert_intact(s).await;
}

/// Removes `break_audit_writes`'s trigger.
async fn mend_audit_writes(e: &Env) {
    let sql = match e.db.backend {
        orgid_tests::Backend::Sqlite => "DROP TRIGGER audit_log_broken",
        orgid_tests::Backend::Postgres => "DROP TRIGGER audit_log_broken ON audit_log",
    };
    super::audit::raw(&e.db.url, sql).await.expect("mend the audit table");
}

async fn a_failed_audit_write_blocks_every_idp_change(e: Env) {
    use EventKind as K;
    let s = &e.store;
    s.set_password("zhangsan", "$argon2id$h1", false, at(0), 5, &[]).await.unwrap();
    s.record_failure("zhangsan", 1, at(30), &attempt()).await.unwrap();
    s.add_client(&client("portal"), &[]).await.unwrap();
    s.create_session(&session("s1", "zhangsan")).await.unwrap();
    let g1 = issue(s, "g1", Some("s1")).await;
    s.save_code(&code("c1", at(2))).await.unwrap();
    assert!(matches!(s.take_code("c1", at(1), &reuse()).await.unwrap(), CodeTake::Fresh(_)));
    s.add_signing_key(&key("k1", at(0)), at(-1), &[]).await.unwrap();
    let cred = s.credential("zhangsan").await.unwrap().unwrap();
    assert_eq!(cred.locked_until, Some(at(30)));
    let heads = s.audit_heads().await.unwrap();

    break_audit_writes(&e).await;
    let broken = |what: &str, r: Result<(), StoreError>| {
        let err = r.expect_err(what);
        assert!(err.to_string().contains("audit storage is broken"), "{what}: {err}");
    };
    broken(
        "set_password",
        s.set_password("zhangsan", "$argon2id$h2", false, at(3), 5, &[ev(K::PasswordChange, "x")]).await,
    );
    broken("record_failure", s.record_failure("zhangsan", 9, at(60), &attempt()).await.map(drop));
    broken("record_failure (unknown login)", s.record_failure("ghost", 9, at(60), &attempt()).await.map(drop));
    broken("record_refusal", s.record_refusal(&attempt_of("lisi", LoginFailure::Departed)).await);
    broken("record_success", s.record_success("zhangsan", at(31), &[ev(K::Login, "x")]).await);
    broken("unlock", s.unlock("zhangsan", &[ev(K::Unlock, "x")]).await);
    assert_eq!(s.credential("zhangsan").await.unwrap().unwrap(), cred, "password, count, lock and last login kept");
    assert!(s.password_history("zhangsan", 10).await.unwrap().is_empty());

    broken("add_client", s.add_client(&client("mobile"), &[ev(K::ClientAdd, "x")]).await);
    broken("remove_client", s.remove_client("portal", at(3), &[ev(K::ClientRemove, "x")]).await);
    assert_eq!(s.clients().await.unwrap(), [client("portal")]);
    broken("add_signing_key", s.add_signing_key(&key("k2", at(10)), at(0), &[ev(K::KeyRotation, "x")]).await.map(drop));
    assert_eq!(s.signing_keys(at(0)).await.unwrap(), [key("k1", at(0))]);

    let g2 = grant("g2", Some("zhangsan"), Some("s1"));
    let t2 = [token("g2-a", TokenKind::Access, &g2, at(60))];
    broken("create_grant", s.create_grant(&g2, &t2, None, &[ev(K::TokenIssued, "x")]).await);
    assert_eq!(s.grant("g2").await.unwrap(), None);
    assert_eq!(s.token("g2-a").await.unwrap(), None);

    broken("end_session", s.end_session("s1", at(4), &[ev(K::Logout, "x")]).await);
    broken("end_sessions_of", s.end_sessions_of("zhangsan", at(4), &[ev(K::Logout, "x")]).await);
    assert_eq!(s.session("s1").await.unwrap().unwrap().ended_at, None);
    assert_eq!(s.grant(&g1.id).await.unwrap().unwrap().revoked_at, None);
    assert_eq!(revoked(s, "g1-r").await, None);

    let next = [token("g1-r2", TokenKind::Refresh, &g1, at(700))];
    broken("rotate_refresh", s.rotate_refresh("g1-r", &next, at(5), &issued(), &reused()).await.map(drop));
    assert_eq!(s.token("g1-r").await.unwrap().unwrap().used_at, None, "the old token is not spent");
    assert_eq!(s.token("g1-r2").await.unwrap(), None);
    broken("take_code (replay)", s.take_code("c1", at(1), &reuse()).await.map(drop));
    assert_eq!(s.audit_heads().await.unwrap(), heads, "no chain moved");

    // Mended: the failed replay left no mark, so the code's grant is stored live.
    mend_audit_writes(&e).await;
    let g3 = grant("g3", Some("zhangsan"), Some("s1"));
    s.create_grant(&g3, &[token("g3-a", TokenKind::Access, &g3, at(60))], Some("c1"), &[]).await.unwrap();
    assert_eq!(s.grant("g3").await.unwrap().unwrap().revoked_at, None);
    assert_intact(s).await;
}
