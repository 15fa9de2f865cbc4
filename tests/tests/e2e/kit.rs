//! The kit itself: the servers start, answer and behave as the other tests assume.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use orgid_tests::{Postgres, Slapd};

#[tokio::test]
async fn slapd_serves_the_base_and_enforces_account_locks() {
    let slapd = Slapd::start().await;
    let base = slapd.search(slapd.base_dn(), "base", "(objectClass=*)").await;
    assert!(base.contains("dn: dc=example,dc=com"), "{base}");
    assert!(base.contains("objectClass: dcObject"), "{base}");
    let policy = slapd.search("ou=policies,dc=example,dc=com", "one", "(objectClass=pwdPolicy)").await;
    assert!(policy.contains("pwdLockout: TRUE"), "{policy}");

    slapd
        .add(
            "dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: uid=open,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: open
cn: Open
sn: Open
userPassword: pw-open

dn: uid=locked,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: locked
cn: Locked
sn: Locked
userPassword: pw-locked
",
        )
        .await;
    assert_eq!(slapd.bind_result("uid=open,ou=people,dc=example,dc=com", "pw-open").await, 0);
    assert_eq!(slapd.bind_result("uid=locked,ou=people,dc=example,dc=com", "pw-locked").await, 0);
    slapd
        .modify(
            "dn: uid=locked,ou=people,dc=example,dc=com
changetype: modify
add: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z
",
        )
        .await;
    assert_eq!(slapd.bind_result("uid=locked,ou=people,dc=example,dc=com", "pw-locked").await, 49);
    assert_eq!(slapd.bind_result("uid=open,ou=people,dc=example,dc=com", "pw-open").await, 0);
    assert_eq!(slapd.bind_result("uid=open,ou=people,dc=example,dc=com", "wrong").await, 49);
    assert_eq!(slapd.bind_result(slapd.bind_dn(), slapd.bind_password()).await, 0);

    let dir = slapd.dir().to_path_buf();
    drop(slapd);
    assert!(!dir.exists(), "the temp dir goes with the server");
}

#[tokio::test]
async fn postgres_gives_each_test_its_own_database() {
    let pg = Postgres::shared();
    let a = pg.fresh_database().await;
    let b = pg.fresh_database().await;
    assert_ne!(a, b);
    assert!(a.starts_with(&format!("postgres://postgres:pgpass@127.0.0.1:{}/t_", pg.port())), "{a}");
    let store = orgid_store::connect(&a, 1).await.expect("connect");
    store.ping().await.expect("ping");
    assert_eq!(store.backend(), "postgres");
    store.close().await;
}
