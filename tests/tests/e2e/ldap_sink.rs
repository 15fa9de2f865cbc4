//! The LDAP sink against real slapd servers: every `DirOp` as applied (and applied twice), the
//! ordering rules under concurrency, failures and outages, passwords, the lock check, RFC 4514
//! names through slapd, paging past the size limit, and TLS (LDAPS, StartTLS, a wrong CA).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orgid_config::{LdapConfig, Secret};
use orgid_connectors::ldap::{LdapEntry, LdapSink, LockCheck, SinkError, filter_eq};
use orgid_directory::target::ldap::{Attrs, DirOp, Dn, LOCK_ATTR, QueuedOp, escape_value};
use orgid_tests::Slapd;

const BASE: &str = "dc=example,dc=com";
const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
const ROOT_PW: &str = "secret";

fn dn(s: &str) -> Dn {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn at(rel: &str) -> Dn {
    dn(&format!("{rel},{BASE}"))
}

fn attrs(pairs: &[(&str, &[&str])]) -> Attrs {
    pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
}

fn ou(name: &str) -> Attrs {
    attrs(&[("objectClass", &["top", "organizationalUnit"]), ("ou", &[name])])
}

fn person(uid: &str, extra: &[(&str, &[&str])]) -> Attrs {
    let mut a = attrs(&[
        ("objectClass", &["top", "person", "organizationalPerson", "inetOrgPerson"]),
        ("uid", &[uid]),
        ("cn", &[uid]),
        ("sn", &[uid]),
    ]);
    a.extend(attrs(extra));
    a
}

fn q(key: &str, phase: u8, op: DirOp) -> QueuedOp {
    QueuedOp { key: key.to_string(), phase, op }
}

fn config(url: &str, bind_dn: &str, password: &str) -> LdapConfig {
    LdapConfig {
        url: url.to_string(),
        bind_dn: bind_dn.to_string(),
        bind_password: Secret::new(password),
        base_dn: BASE.to_string(),
        concurrency: 32,
        timeout_secs: 10,
        ..LdapConfig::default()
    }
}

async fn sink(slapd: &Slapd) -> LdapSink {
    LdapSink::connect(&config(&slapd.url(), slapd.bind_dn(), slapd.bind_password())).await.expect("connect")
}

#[track_caller]
fn assert_all_ok(results: &[Result<(), SinkError>]) {
    for (i, r) in results.iter().enumerate() {
        if let Err(e) = r {
            panic!("op {i} failed: {e}");
        }
    }
}

fn refused_rc(r: &Result<(), SinkError>) -> Option<(&'static str, String, u32)> {
    match r {
        Err(SinkError::Refused { op, dn, rc, .. }) => Some((op, dn.clone(), *rc)),
        _ => None,
    }
}

/// Attribute → set of values, names lower-cased (servers may answer in their own case).
type Shape = BTreeMap<String, BTreeSet<String>>;

fn shape(e: &LdapEntry) -> Shape {
    e.attrs.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.iter().cloned().collect())).collect()
}

fn expect_shape(pairs: &[(&str, &[&str])]) -> Shape {
    pairs.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.iter().map(|s| s.to_string()).collect())).collect()
}

async fn get(s: &LdapSink, d: &Dn, attrs: &[&str]) -> LdapEntry {
    s.read(d, attrs).await.expect("read").unwrap_or_else(|| panic!("{d} is missing"))
}

fn one(e: &LdapEntry, name: &str) -> String {
    let v = shape(e).remove(&name.to_ascii_lowercase()).unwrap_or_default();
    assert_eq!(v.len(), 1, "{name} of {}: {v:?}", e.dn);
    v.into_iter().next().unwrap_or_default()
}

fn members(e: &LdapEntry) -> BTreeSet<Dn> {
    shape(e).remove("member").unwrap_or_default().iter().map(|m| dn(m)).collect()
}

/// Every entry under the base with its user attributes and entryUUID.
async fn dump(s: &LdapSink) -> BTreeMap<Dn, Shape> {
    let all = s.search_subtree(&dn(BASE), "(objectClass=*)", &["*", "entryUUID"]).await.expect("search");
    all.iter().map(|e| (e.dn.clone(), shape(e))).collect()
}

#[tokio::test]
async fn tree_users_and_groups_are_written_read_back_and_reapplied_unchanged() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let company = at("ou=C010");
    let dept = company.child("ou", "财务部");
    let groups = at("ou=groups");
    let placeholder = groups.child("cn", "orgid-placeholder");
    let group = groups.child("cn", "C010");
    let (li, zhang) = (company.child("uid", "lina"), dept.child("uid", "zhangwei"));
    let group_attrs = attrs(&[
        ("objectClass", &["top", "groupOfNames"]),
        ("cn", &["C010"]),
        ("description", &["公司 C010"]),
        ("member", &[&placeholder.to_string()]),
    ]);
    let batch = vec![
        q("company:C010", 3, DirOp::Add { dn: company.clone(), attrs: ou("C010") }),
        q("ou:groups", 3, DirOp::Add { dn: groups.clone(), attrs: ou("groups") }),
        q("dept:C010:财务部", 4, DirOp::Add { dn: dept.clone(), attrs: ou("财务部") }),
        q("group:company:C010", 4, DirOp::Add { dn: group.clone(), attrs: group_attrs }),
        q(
            "p1",
            50,
            DirOp::Add { dn: li.clone(), attrs: person("lina", &[("mail", &["li@example.com"]), ("mobile", &[])]) },
        ),
        q("p2", 50, DirOp::Add { dn: zhang.clone(), attrs: person("zhangwei", &[("displayName", &["张伟"])]) }),
        q(
            "group:company:C010",
            60,
            DirOp::AddMembers { group: group.clone(), members: vec![li.clone(), zhang.clone()] },
        ),
    ];
    assert_all_ok(&s.apply(&batch).await);

    let e = get(&s, &li, &["*"]).await;
    assert_eq!(e.dn, li);
    assert_eq!(
        shape(&e),
        expect_shape(&[
            ("objectClass", &["top", "person", "organizationalPerson", "inetOrgPerson"]),
            ("uid", &["lina"]),
            ("cn", &["lina"]),
            ("sn", &["lina"]),
            ("mail", &["li@example.com"]),
        ]),
        "an empty value list is left out of an add"
    );
    assert_eq!(one(&get(&s, &zhang, &["displayName"]).await, "displayName"), "张伟");
    let g = get(&s, &group, &["*"]).await;
    assert_eq!(members(&g), BTreeSet::from([placeholder.clone(), li.clone(), zhang.clone()]));
    assert_eq!(one(&g, "description"), "公司 C010");
    let users: BTreeSet<Dn> = s
        .search_subtree(&company, "(objectClass=inetOrgPerson)", &["uid"])
        .await
        .expect("search")
        .into_iter()
        .map(|e| e.dn)
        .collect();
    assert_eq!(users, BTreeSet::from([li.clone(), zhang.clone()]));

    let before = dump(&s).await;
    assert_eq!(before.len(), 1 + 2 + 2 + 4, "base, policies OU and policy, 2 OUs + groups OU + group + 2 users");
    assert_all_ok(&s.apply(&batch).await);
    assert_eq!(dump(&s).await, before, "applying the same batch again changes nothing (entryUUIDs included)");
    s.unbind().await;
}

#[tokio::test]
async fn add_on_an_existing_entry_replaces_the_given_attributes() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let people = at("ou=people");
    let a = people.child("uid", "a");
    let first = person("a", &[("mail", &["a@x.com"]), ("title", &["T"]), ("description", &["kept"])]);
    assert_all_ok(
        &s.apply(&[
            q("ou", 1, DirOp::Add { dn: people.clone(), attrs: ou("people") }),
            q("a", 2, DirOp::Add { dn: a.clone(), attrs: first }),
        ])
        .await,
    );
    let uuid = one(&get(&s, &a, &["entryUUID"]).await, "entryUUID");

    let again = attrs(&[
        ("objectClass", &["inetOrgPerson"]),
        ("uid", &["a"]),
        ("cn", &["A Two"]),
        ("sn", &["Two"]),
        ("mail", &["b@x.com"]),
        ("title", &[]),
    ]);
    let ops = [
        q("a", 2, DirOp::Add { dn: a.clone(), attrs: again }),
        q("ou", 1, DirOp::Add { dn: people.clone(), attrs: ou("people") }),
    ];
    assert_all_ok(&s.apply(&ops).await);
    let e = get(&s, &a, &["*", "entryUUID"]).await;
    assert_eq!(
        shape(&e),
        expect_shape(&[
            ("objectClass", &["top", "person", "organizationalPerson", "inetOrgPerson"]),
            ("uid", &["a"]),
            ("cn", &["A Two"]),
            ("sn", &["Two"]),
            ("mail", &["b@x.com"]),
            ("description", &["kept"]),
            ("entryUUID", &[&uuid]),
        ]),
        "replaced in place: objectClass and the RDN kept, title removed, unnamed attributes untouched"
    );
}

#[tokio::test]
async fn moves_keep_entry_uuid_carry_subtrees_and_are_idempotent() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let (g000, c010) = (at("ou=G000"), at("ou=C010"));
    let dept = c010.child("ou", "财务部");
    let wang = dept.child("uid", "wang");
    assert_all_ok(
        &s.apply(&[
            q("G000", 3, DirOp::Add { dn: g000.clone(), attrs: ou("G000") }),
            q("C010", 3, DirOp::Add { dn: c010.clone(), attrs: ou("C010") }),
            q("dept", 4, DirOp::Add { dn: dept.clone(), attrs: ou("财务部") }),
            q("wang", 50, DirOp::Add { dn: wang.clone(), attrs: person("wang", &[]) }),
        ])
        .await,
    );
    let uuid = |e: LdapEntry| one(&e, "entryUUID");
    let (c010_uuid, wang_uuid) = (uuid(get(&s, &c010, &["+"]).await), uuid(get(&s, &wang, &["+"]).await));

    let moved = g000.child("ou", "C010");
    let wang_moved = moved.child("ou", "财务部").child("uid", "wang");
    let renamed = moved.child("ou", "财务部").child("uid", "wang2");
    let moves = [
        q("C010", 3, DirOp::Move { dn: c010.clone(), to: moved.clone() }),
        q("wang", 50, DirOp::Move { dn: wang_moved.clone(), to: renamed.clone() }),
    ];
    assert_all_ok(&s.apply(&moves).await);
    assert_eq!(s.read(&c010, &["1.1"]).await.expect("read"), None);
    assert_eq!(s.read(&wang_moved, &["1.1"]).await.expect("read"), None);
    assert_eq!(uuid(get(&s, &moved, &["+"]).await), c010_uuid);
    let w = get(&s, &renamed, &["uid", "entryUUID"]).await;
    assert_eq!(
        (one(&w, "entryUUID"), one(&w, "uid")),
        (wang_uuid, "wang2".to_string()),
        "same entry, old RDN value deleted"
    );

    assert_all_ok(&s.apply(&moves).await); // already done: noSuchObject while the target exists

    let (x, y) = (at("ou=X"), at("ou=Y"));
    let setup = [
        q("x", 3, DirOp::Add { dn: x.clone(), attrs: ou("X") }),
        q("y", 3, DirOp::Add { dn: y.clone(), attrs: ou("Y") }),
    ];
    assert_all_ok(&s.apply(&setup).await);
    let r = s
        .apply(&[
            q("x", 3, DirOp::Move { dn: x.clone(), to: y.clone() }),
            q("z", 3, DirOp::Move { dn: at("ou=Z"), to: at("ou=W") }),
        ])
        .await;
    assert_eq!(refused_rc(&r[0]), Some(("move", x.to_string(), 68)), "both exist: a real conflict");
    assert_eq!(refused_rc(&r[1]), Some(("move", at("ou=Z").to_string(), 32)), "neither exists");
}

#[tokio::test]
async fn replace_sets_and_removes_attributes() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let people = at("ou=people");
    let a = people.child("uid", "a");
    assert_all_ok(
        &s.apply(&[
            q("ou", 1, DirOp::Add { dn: people.clone(), attrs: ou("people") }),
            q("a", 2, DirOp::Add { dn: a.clone(), attrs: person("a", &[("mail", &["a@x.com"]), ("title", &["T"])]) }),
        ])
        .await,
    );
    let change = attrs(&[
        ("mail", &[]),
        ("mobile", &[]),
        ("title", &["CTO"]),
        ("description", &["d1", "d2"]),
        (LOCK_ATTR, &["000001010000Z"]),
    ]);
    for _ in 0..2 {
        assert_all_ok(&s.apply(&[q("a", 2, DirOp::Replace { dn: a.clone(), attrs: change.clone() })]).await);
    }
    assert_eq!(
        shape(&get(&s, &a, &["*", LOCK_ATTR]).await),
        expect_shape(&[
            ("objectClass", &["top", "person", "organizationalPerson", "inetOrgPerson"]),
            ("uid", &["a"]),
            ("cn", &["a"]),
            ("sn", &["a"]),
            ("title", &["CTO"]),
            ("description", &["d1", "d2"]),
            (LOCK_ATTR, &["000001010000Z"]),
        ])
    );
    // A replace whose entry is gone (deleted by hand) has nothing to change: it is done, creates
    // nothing, and no longer holds up the entry's later operations, reconcile's add among them.
    let b = people.child("uid", "b");
    let r = s.apply(&[q("b", 2, DirOp::Replace { dn: b.clone(), attrs: change })]).await;
    assert_all_ok(&r);
    assert!(s.read(&b, &["*"]).await.expect("read").is_none(), "nothing is created");
}

#[tokio::test]
async fn member_changes_are_permissive_and_fall_back_to_one_value_at_a_time() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let groups = at("ou=groups");
    let ph = groups.child("cn", "orgid-placeholder");
    let g = groups.child("cn", "g");
    let [a, b, c, d, x] = ["a", "b", "c", "d", "x"].map(|u| at("ou=people").child("uid", u));
    let group = attrs(&[("objectClass", &["groupOfNames"]), ("cn", &["g"]), ("member", &[&ph.to_string()])]);
    assert_all_ok(
        &s.apply(&[
            q("ou", 1, DirOp::Add { dn: groups.clone(), attrs: ou("groups") }),
            q("g", 2, DirOp::Add { dn: g.clone(), attrs: group }),
        ])
        .await,
    );
    let add = |m: &[&Dn]| {
        q("g", 2, DirOp::AddMembers { group: g.clone(), members: m.iter().map(|d| (*d).clone()).collect() })
    };
    let remove = |m: &[&Dn]| {
        q("g", 2, DirOp::RemoveMembers { group: g.clone(), members: m.iter().map(|d| (*d).clone()).collect() })
    };
    let now = async |s: &LdapSink| members(&get(s, &g, &["member"]).await);

    assert_all_ok(&s.apply(&[add(&[&a, &b]), add(&[&a, &b]), add(&[&b, &c])]).await);
    assert_eq!(now(&s).await, BTreeSet::from([ph.clone(), a.clone(), b.clone(), c.clone()]));
    // slapd 2.5 fails a permissive delete whose last listed value is absent (rc 16): the sink
    // then deletes one value at a time for that request.
    assert_all_ok(&s.apply(&[remove(&[&a, &x]), remove(&[&a, &x]), remove(&[&x]), add(&[])]).await);
    assert_eq!(now(&s).await, BTreeSet::from([ph.clone(), b.clone(), c.clone()]));
    assert!(s.uses_permissive_modify(), "slapd honours Permissive Modify (though its root DSE does not list it)");
    let r = s.apply(&[remove(&[&ph, &b, &c])]).await;
    assert_eq!(refused_rc(&r[0]), Some(("remove members", g.to_string(), 65)), "groupOfNames must keep a member");
    assert_eq!(now(&s).await, BTreeSet::from([ph.clone(), b.clone(), c.clone()]), "the refused modify changed nothing");

    s.disable_permissive_modify();
    assert_all_ok(&s.apply(&[add(&[&b, &d]), add(&[&b, &d]), remove(&[&c, &x]), remove(&[&c, &x])]).await);
    assert_eq!(now(&s).await, BTreeSet::from([ph.clone(), b.clone(), d.clone()]));
    assert!(!s.uses_permissive_modify());
}

#[tokio::test]
async fn deletes_of_missing_entries_succeed_and_non_leaves_are_refused() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let people = at("ou=people");
    let a = people.child("uid", "a");
    assert_all_ok(
        &s.apply(&[
            q("ou", 1, DirOp::Add { dn: people.clone(), attrs: ou("people") }),
            q("a", 2, DirOp::Add { dn: a.clone(), attrs: person("a", &[]) }),
        ])
        .await,
    );
    let r = s
        .apply(&[
            q("ou", 1, DirOp::Delete { dn: people.clone() }),
            q("missing", 1, DirOp::Delete { dn: at("ou=nothing") }),
        ])
        .await;
    assert_eq!(refused_rc(&r[0]), Some(("delete", people.to_string(), 66)));
    assert!(r[1].is_ok(), "{:?}", r[1]);
    assert_all_ok(
        &s.apply(&[
            q("a", 1, DirOp::Delete { dn: a.clone() }),
            q("a", 1, DirOp::Delete { dn: a.clone() }),
            q("ou", 2, DirOp::Delete { dn: people.clone() }),
        ])
        .await,
    );
    assert_eq!(s.read(&people, &["1.1"]).await.expect("read"), None);
}

#[tokio::test]
async fn same_key_ops_keep_their_order_under_concurrency() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let (people, moved) = (at("ou=people"), at("ou=moved"));
    let n = 200;
    let mut ops = vec![
        q("people", 1, DirOp::Add { dn: people.clone(), attrs: ou("people") }),
        q("moved", 1, DirOp::Add { dn: moved.clone(), attrs: ou("moved") }),
    ];
    // Listed step by step across users (all adds, then all replaces, then all moves): only the
    // per-key chains keep each user's three steps in order.
    for i in 0..n {
        ops.push(q(
            &format!("u{i}"),
            2,
            DirOp::Add {
                dn: people.child("uid", &format!("u{i}")),
                attrs: person(&format!("u{i}"), &[("title", &["t0"])]),
            },
        ));
    }
    for i in 0..n {
        ops.push(q(
            &format!("u{i}"),
            2,
            DirOp::Replace {
                dn: people.child("uid", &format!("u{i}")),
                attrs: attrs(&[("title", &[&format!("t1-{i}")])]),
            },
        ));
    }
    for i in 0..n {
        ops.push(q(
            &format!("u{i}"),
            2,
            DirOp::Move { dn: people.child("uid", &format!("u{i}")), to: moved.child("uid", &format!("m{i}")) },
        ));
    }
    let t = Instant::now();
    let results = s.apply(&ops).await;
    eprintln!("{} ops ({n} users × add, replace, move) at concurrency 32: {:?}", ops.len(), t.elapsed());
    assert_all_ok(&results);
    assert_eq!(s.search_subtree(&people, "(objectClass=inetOrgPerson)", &["1.1"]).await.expect("search"), vec![]);
    let got: BTreeMap<String, String> = s
        .search_subtree(&moved, "(objectClass=inetOrgPerson)", &["uid", "title"])
        .await
        .expect("search")
        .iter()
        .map(|e| (one(e, "uid"), one(e, "title")))
        .collect();
    let want: BTreeMap<String, String> = (0..n).map(|i| (format!("m{i}"), format!("t1-{i}"))).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_failed_op_skips_later_ops_of_its_key_only_and_phases_come_first() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let people = at("ou=people");
    let (bad, y) = (at("ou=missing").child("uid", "x"), people.child("uid", "y"));
    let ops = [
        // listed before the OU it needs: phase 1 still runs first
        q("y", 2, DirOp::Add { dn: y.clone(), attrs: person("y", &[]) }),
        q("bad", 2, DirOp::Add { dn: bad.clone(), attrs: person("x", &[]) }),
        q("bad", 2, DirOp::Replace { dn: bad.clone(), attrs: attrs(&[("title", &["t"])]) }),
        q("y", 2, DirOp::Replace { dn: y.clone(), attrs: attrs(&[("title", &["t"])]) }),
        q("people", 1, DirOp::Add { dn: people.clone(), attrs: ou("people") }),
        q("bad", 3, DirOp::Delete { dn: bad.clone() }),
        q("y", 3, DirOp::Move { dn: y.clone(), to: people.child("uid", "y2") }),
    ];
    let r = s.apply(&ops).await;
    assert!(r[0].is_ok() && r[3].is_ok() && r[4].is_ok() && r[6].is_ok(), "{r:?}");
    match &r[1] {
        Err(SinkError::Refused { op, dn, rc, message }) => {
            assert_eq!((*op, dn.as_str(), *rc), ("add", bad.to_string().as_str(), 32));
            assert!(message.starts_with("noSuchObject"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(r[2], Err(SinkError::Skipped)), "{:?}", r[2]);
    assert!(matches!(r[5], Err(SinkError::Skipped)), "a later phase skips too: {:?}", r[5]);
    assert_eq!(one(&get(&s, &people.child("uid", "y2"), &["title"]).await, "title"), "t");

    // Many parents and children in one call, children listed first.
    let mut ops: Vec<QueuedOp> = (0..30)
        .map(|i| q(&format!("u{i}"), 9, DirOp::Add { dn: at(&format!("uid=u,ou=d{i}")), attrs: person("u", &[]) }))
        .collect();
    ops.extend(
        (0..30)
            .map(|i| q(&format!("d{i}"), 3, DirOp::Add { dn: at(&format!("ou=d{i}")), attrs: ou(&format!("d{i}")) })),
    );
    assert_all_ok(&s.apply(&ops).await);
}

#[tokio::test]
async fn an_unreachable_or_stopped_server_is_unavailable() {
    let port = orgid_tests::free_port();
    let err = LdapSink::connect(&config(&format!("ldap://127.0.0.1:{port}"), ROOT_DN, ROOT_PW))
        .await
        .expect_err("nothing listens");
    assert!(err.is_unavailable());
    assert_eq!(
        err.to_string(),
        format!(
            "LDAP unavailable: cannot connect to ldap://127.0.0.1:{port}: I/O error: Connection refused (os error 111)"
        )
    );

    let slapd = Slapd::start().await;
    let err = LdapSink::connect(&config(&slapd.url(), ROOT_DN, "wrong-password")).await.expect_err("bad password");
    assert_eq!(
        err.to_string(),
        format!(
            "LDAP configuration: bind as {ROOT_DN} at {} refused: invalid credentials (rc 49); check ldap.bind_dn and ldap.bind_password",
            slapd.url()
        )
    );
    let err = LdapSink::connect(&config(&slapd.url(), "not a dn", ROOT_PW)).await.expect_err("bad bind DN");
    assert!(matches!(err, SinkError::Config(ref m) if m.starts_with("ldap.bind_dn is not a DN")), "{err:?}");

    let s = sink(&slapd).await;
    assert_all_ok(&s.apply(&[q("a", 1, DirOp::Add { dn: at("ou=a"), attrs: ou("a") })]).await);
    drop(slapd); // stops slapd and waits for it
    let ops = [
        q("b", 1, DirOp::Add { dn: at("ou=b"), attrs: ou("b") }),
        q("b", 1, DirOp::Delete { dn: at("ou=b") }),
        q("c", 1, DirOp::Delete { dn: at("ou=a") }),
        q("c", 2, DirOp::Delete { dn: at("ou=c") }),
    ];
    let r = s.apply(&ops).await;
    assert!(r.iter().all(|r| matches!(r, Err(SinkError::Unavailable(_)))), "{r:?}");
    assert!(s.read(&at("ou=a"), &["*"]).await.expect_err("down").is_unavailable());
    assert!(s.search_subtree(&dn(BASE), "(objectClass=*)", &["1.1"]).await.expect_err("down").is_unavailable());
    assert!(s.set_password(&at("uid=x"), "pw").await.expect_err("down").is_unavailable());
}

#[tokio::test]
async fn set_password_lets_the_entry_bind_and_is_stored_hashed() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let a = at("ou=people").child("uid", "a");
    assert_all_ok(
        &s.apply(&[
            q("ou", 1, DirOp::Add { dn: at("ou=people"), attrs: ou("people") }),
            q("a", 2, DirOp::Add { dn: a.clone(), attrs: person("a", &[]) }),
        ])
        .await,
    );
    let password = "Pässwörd with spaces & 中文";
    s.set_password(&a, password).await.expect("set password");
    assert_eq!(slapd.bind_result(&a.to_string(), password).await, 0);
    assert_eq!(slapd.bind_result(&a.to_string(), "wrong").await, 49);
    let stored = one(&get(&s, &a, &["userPassword"]).await, "userPassword");
    assert!(stored.starts_with("{SSHA}") && !stored.contains(password), "stored as {stored}");
    s.set_password(&a, "second").await.expect("change");
    assert_eq!(
        (slapd.bind_result(&a.to_string(), "second").await, slapd.bind_result(&a.to_string(), password).await),
        (0, 49)
    );
    let err = s.set_password(&at("uid=nobody"), "x").await.expect_err("no such entry");
    assert!(matches!(err, SinkError::Refused { op: "password modify", rc: 32, .. }), "{err:?}");
}

#[tokio::test]
async fn lock_check_tells_enforced_from_not_enforced_and_cleans_up() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let people = at("ou=people");
    assert_all_ok(&s.apply(&[q("ou", 1, DirOp::Add { dn: people.clone(), attrs: ou("people") })]).await);
    let probes = async |s: &LdapSink| {
        s.search_subtree(&dn(BASE), "(uid=orgid-lock-probe-*)", &["1.1"]).await.expect("search").len()
    };

    assert_eq!(s.lock_check(&people).await.expect("lock check"), LockCheck::Enforced);
    assert_eq!(probes(&s).await, 0);
    slapd.modify("dn: cn=default,ou=policies,dc=example,dc=com\nchangetype: modify\nreplace: pwdLockout\npwdLockout: FALSE\n").await;
    assert_eq!(s.lock_check(&people).await.expect("lock check"), LockCheck::NotEnforced);
    assert_eq!(probes(&s).await, 0);
    let err = s.lock_check(&at("ou=missing")).await.expect_err("no parent");
    assert!(matches!(err, SinkError::Refused { op: "add", rc: 32, .. }), "{err:?}");
}

#[tokio::test]
async fn hard_rdn_values_round_trip_through_slapd() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let values = [
        "Smith, John",
        "a+b",
        "say \"hi\"",
        "back\\slash",
        "#hash",
        "in#side",
        " leading",
        "trailing ",
        "  both  ",
        "*(wild)*",
        "<tag>;semi=eq",
        "财务部/一科",
        "中文 ,+\"\\#",
        "plain",
    ];
    let ops: Vec<QueuedOp> = values
        .iter()
        .enumerate()
        .map(|(i, v)| q(&format!("v{i}"), 3, DirOp::Add { dn: dn(BASE).child("ou", v), attrs: ou(v) }))
        .collect();
    assert_all_ok(&s.apply(&ops).await);
    for v in values {
        let want = dn(BASE).child("ou", v);
        let e = get(&s, &want, &["ou"]).await;
        assert_eq!(e.dn, want, "slapd's spelling of {v:?} parses back to the same DN");
        assert_eq!(one(&e, "ou"), v);
        let found = s.search_subtree(&dn(BASE), &filter_eq("ou", v), &["1.1"]).await.expect("search");
        assert_eq!(found.into_iter().map(|e| e.dn).collect::<Vec<_>>(), vec![want.clone()], "filter for {v:?}");
        // ldap3 escapes the same characters (as \XX hex): both spellings name the same entry.
        let theirs = format!("ou={},{BASE}", ldap3::dn_escape(v));
        assert_eq!(dn(&theirs), want, "{theirs}");
        if !v.contains(['"', '+', ',', ';', '<', '>', '\\', '=', '#']) && !v.starts_with(' ') && !v.ends_with(' ') {
            assert_eq!(escape_value(v), ldap3::dn_escape(v), "nothing to escape in {v:?}");
        }
    }
    let wild = s.search_subtree(&dn(BASE), &filter_eq("ou", "*"), &["1.1"]).await.expect("search");
    assert_eq!(wild, vec![], "an escaped `*` matches only a literal star");
}

/// A slapd of our own, for what the kit's does not offer: size limits per DN, no ppolicy, TLS.
struct OwnSlapd {
    dir: tempfile::TempDir,
    port: u16,
    tls_port: u16,
    child: Child,
}

impl OwnSlapd {
    async fn start(extra_conf: &str, tls: bool) -> OwnSlapd {
        let dir = tempfile::Builder::new().prefix("orgid-slapd-own-").tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("data")).expect("data dir");
        let mut conf = format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\ninclude /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile {0}/slapd.pid\nargsfile {0}/slapd.args\n",
            d.display()
        );
        if tls {
            make_certs(d);
            conf += &format!(
                "TLSCertificateFile {0}/server.pem\nTLSCertificateKeyFile {0}/server.key\nsecurity ssf=128\n",
                d.display()
            );
        }
        conf += &format!(
            "database mdb\nmaxsize 1073741824\nsuffix \"{BASE}\"\nrootdn \"{ROOT_DN}\"\nrootpw {ROOT_PW}\ndirectory {}/data\ndbnosync\n{extra_conf}\n",
            d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).expect("slapd.conf");
        let (port, tls_port) = (orgid_tests::free_port(), orgid_tests::free_port());
        let log = std::fs::File::create(d.join("slapd.log")).expect("log");
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .args(["-h", &format!("ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"), "-d", "0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("slapd");
        let slapd = OwnSlapd { dir, port, tls_port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = if tls { slapd.ldaps_url() } else { slapd.url() };
            let ok = tokio::process::Command::new("/usr/bin/ldapsearch")
                .env("LDAPTLS_CACERT", slapd.dir.path().join("ca.pem"))
                .args(["-x", "-H", &url, "-b", "", "-s", "base", "(objectClass=*)"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ok {
                return slapd;
            }
            if Instant::now() > deadline {
                panic!(
                    "slapd did not start: {}",
                    std::fs::read_to_string(slapd.dir.path().join("slapd.log")).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

impl Drop for OwnSlapd {
    fn drop(&mut self) {
        let _ = Command::new("/usr/bin/kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA (`ca.pem`), a server certificate for IP 127.0.0.1 signed by it, and an unrelated CA
/// (`other-ca.pem`). A self-signed certificate straight from `openssl req -x509` is a CA
/// certificate (CA:TRUE), which rustls refuses as a server's own certificate.
fn make_certs(d: &Path) {
    for ca in ["ca", "other-ca"] {
        let (key, pem) = (format!("{ca}.key"), format!("{ca}.pem"));
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=orgid test {ca}"),
                "-keyout",
                &key,
                "-out",
                &pem,
            ],
        );
    }
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

#[tokio::test]
async fn paged_search_returns_every_entry_past_the_size_limit() {
    let reader = format!("cn=reader,{BASE}");
    let slapd = OwnSlapd::start(
        &format!("limits dn.exact=\"{reader}\" size.soft=500 size.hard=500 size.prtotal=unlimited"),
        false,
    )
    .await;
    let root = LdapSink::connect(&config(&slapd.url(), ROOT_DN, ROOT_PW)).await.expect("connect");
    let base = attrs(&[("objectClass", &["dcObject", "organization"]), ("dc", &["example"]), ("o", &["Example"])]);
    let n = 1300;
    let mut ops = vec![
        q("base", 2, DirOp::Add { dn: dn(BASE), attrs: base }),
        q(
            "reader",
            3,
            DirOp::Add {
                dn: dn(&reader),
                attrs: attrs(&[("objectClass", &["person"]), ("cn", &["reader"]), ("sn", &["r"])]),
            },
        ),
        q("people", 3, DirOp::Add { dn: at("ou=people"), attrs: ou("people") }),
    ];
    ops.extend((0..n).map(|i| {
        q(
            &format!("u{i}"),
            4,
            DirOp::Add { dn: at("ou=people").child("uid", &format!("u{i}")), attrs: person(&format!("u{i}"), &[]) },
        )
    }));
    let t = Instant::now();
    assert_all_ok(&root.apply(&ops).await);
    eprintln!("{} adds at concurrency 32 (dbnosync): {:?}", ops.len(), t.elapsed());
    root.set_password(&dn(&reader), "reader-pw").await.expect("password");

    let uids = |entries: Vec<LdapEntry>| entries.iter().map(|e| one(e, "uid")).collect::<BTreeSet<String>>();
    let want: BTreeSet<String> = (0..n).map(|i| format!("u{i}")).collect();
    let people = at("ou=people");
    let filter = "(objectClass=inetOrgPerson)";
    assert_eq!(uids(root.search_subtree_paged(&people, filter, &["uid"], 100).await.expect("paged by 100")), want);

    // The reader's size limit is 500 per search, but paged results may go on (size.prtotal).
    let r = LdapSink::connect(&config(&slapd.url(), &reader, "reader-pw")).await.expect("connect as reader");
    assert_eq!(uids(r.search_subtree(&people, filter, &["uid"]).await.expect("paged by 500")), want);
    let unpaged = tokio::process::Command::new("/usr/bin/ldapsearch")
        .args(["-x", "-H", &slapd.url(), "-D", &reader, "-w", "reader-pw", "-b", &people.to_string(), filter, "1.1"])
        .stdout(Stdio::null())
        .status()
        .await
        .expect("ldapsearch");
    assert_eq!(unpaged.code(), Some(4), "without paging the reader hits sizeLimitExceeded");
    assert_eq!(r.search_subtree(&at("ou=nowhere"), filter, &["uid"]).await.expect("missing base"), vec![]);

    // Without ppolicy, pwdAccountLockedTime is not even an attribute: locking cannot work.
    assert_eq!(root.lock_check(&people).await.expect("lock check"), LockCheck::NotEnforced);
    assert_eq!(root.search_subtree(&people, "(uid=orgid-lock-*)", &["1.1"]).await.expect("search"), vec![]);
}

#[tokio::test]
async fn paging_does_not_lift_slapds_default_size_limit_for_other_accounts() {
    let slapd = Slapd::start().await;
    let s = sink(&slapd).await;
    let people = at("ou=people");
    let mut ops = vec![q("people", 3, DirOp::Add { dn: people.clone(), attrs: ou("people") })];
    ops.extend((0..600).map(|i| {
        q(
            &format!("u{i}"),
            4,
            DirOp::Add { dn: people.child("uid", &format!("u{i}")), attrs: person(&format!("u{i}"), &[]) },
        )
    }));
    assert_all_ok(&s.apply(&ops).await);
    s.set_password(&people.child("uid", "u0"), "u0-pw").await.expect("password");
    assert_eq!(s.search_subtree(&people, "(uid=*)", &["1.1"]).await.expect("rootdn").len(), 600);
    let u0 = LdapSink::connect(&config(&slapd.url(), &people.child("uid", "u0").to_string(), "u0-pw"))
        .await
        .expect("connect");
    let err = u0.search_subtree(&people, "(uid=*)", &["1.1"]).await.expect_err("limit");
    assert!(matches!(err, SinkError::Refused { op: "search", rc: 4, .. }), "{err:?}");
}

#[tokio::test]
async fn tls_by_ldaps_and_starttls_trusts_only_the_configured_ca() {
    let slapd = OwnSlapd::start("", true).await;
    let tls = |url: &str, starttls: bool, ca: &str| {
        let mut c = config(url, ROOT_DN, ROOT_PW);
        c.starttls = starttls;
        c.ca_file = if ca.is_empty() { String::new() } else { slapd.file(ca) };
        c
    };
    let naming = async |s: &LdapSink| one(&get(s, &Dn::default(), &["namingContexts"]).await, "namingContexts");
    for (url, starttls) in [(slapd.ldaps_url(), false), (slapd.url(), true)] {
        let s = LdapSink::connect(&tls(&url, starttls, "ca.pem"))
            .await
            .unwrap_or_else(|e| panic!("{url} starttls={starttls}: {e}"));
        assert_eq!(naming(&s).await, BASE);
        s.unbind().await;
    }
    // The server insists on TLS (security ssf=128): a plain bind is refused, so the above were TLS.
    let err = LdapSink::connect(&tls(&slapd.url(), false, "")).await.expect_err("plain");
    assert_eq!(
        err.to_string(),
        format!(
            "LDAP configuration: bind as {ROOT_DN} at {} refused: confidentialityRequired: confidentiality required (rc 13)",
            slapd.url()
        )
    );
    let hint = "(is ldap.ca_file the CA that signed the server's certificate?)";
    for (url, starttls, ca) in [
        (slapd.ldaps_url(), false, "other-ca.pem"),
        (slapd.url(), true, "other-ca.pem"),
        (slapd.ldaps_url(), false, ""),
    ] {
        let err = LdapSink::connect(&tls(&url, starttls, ca)).await.expect_err("untrusted");
        assert!(err.is_unavailable(), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "LDAP unavailable: cannot connect to {url}: TLS failure: invalid peer certificate: UnknownIssuer {hint}"
            )
        );
    }
    let mut missing = tls(&slapd.ldaps_url(), false, "");
    missing.ca_file = slapd.file("no-such.pem");
    assert!(matches!(LdapSink::connect(&missing).await, Err(SinkError::Config(m)) if m.starts_with("ldap.ca_file `")));
}
