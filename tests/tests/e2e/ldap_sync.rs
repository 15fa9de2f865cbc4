//! `orgid sync` all the way into a real slapd: first load, a second month of changes, renamed
//! departments, rehire, escaping, outage and recovery, and convergence after a crash.

use std::collections::BTreeMap;
use std::path::PathBuf;

use orgid_config::{LdapConfig, Secret};
use orgid_connectors::ldap::{LdapEntry, LdapSink};
use orgid_directory::target::ldap::Dn;
use orgid_tests::Slapd;
use serde_json::Value;
use tempfile::TempDir;

use crate::hr::{Hr, Row};
use crate::sync::{Backend, orgid, store_url};

pub(crate) struct Env {
    _dir: TempDir,
    pub(crate) hr: Hr,
    pub(crate) cfg: PathBuf,
    url: String,
}

fn ldap_config(slapd: &Slapd) -> LdapConfig {
    LdapConfig {
        url: slapd.url(),
        bind_dn: slapd.bind_dn().to_string(),
        bind_password: Secret::new(slapd.bind_password()),
        base_dn: slapd.base_dn().to_string(),
        ..LdapConfig::default()
    }
}

impl Env {
    pub(crate) async fn new(backend: Backend, ldap_url: &str) -> Env {
        let dir = TempDir::new().expect("tempdir");
        let hr = Hr::new(dir.path());
        let url = store_url(backend, dir.path()).await;
        let env = Env { cfg: PathBuf::new(), _dir: dir, hr, url };
        env.with_ldap(ldap_url)
    }

    /// The same store and sources with no `[ldap]` section (the configuration file is rewritten).
    pub(crate) fn store_only(&self) -> PathBuf {
        let extra =
            "[safety]\nmax_close_share = 0.5\nmax_shrink_share = 0.5\n[workflow]\nindependent_roster = \"apply\"\n";
        self.hr.config(&self.url, extra)
    }

    pub(crate) fn with_ldap(mut self, ldap_url: &str) -> Env {
        let extra = format!(
            "[safety]\nmax_close_share = 0.5\nmax_shrink_share = 0.5\n[workflow]\nindependent_roster = \"apply\" # moves into C021 are applied here\n[ldap]\nurl = \"{ldap_url}\"\nbind_dn = \"cn=admin,dc=example,dc=com\"\nbind_password = \"secret\"\nbase_dn = \"dc=example,dc=com\"\n"
        );
        self.cfg = self.hr.config(&self.url, &extra);
        self
    }

    /// `orgid sync`, which must apply; when the directory took everything, reconcile must then
    /// find no drift (every LDAP scenario checks it after every clean sync).
    pub(crate) async fn sync(&self) -> Value {
        let (code, out) = orgid(&self.cfg, &["sync", "--format", "json"]).await;
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        // A directory that could not take the run's changes leaves the run not done (issue 15).
        if v["directory"]["unavailable"].is_string() {
            assert_eq!((code, v["status"].as_str()), (5, Some("incomplete")), "{v}");
        } else {
            assert!(code == 0 || code == 4, "sync failed ({code}): {v}");
        }
        if v["directory"]["unavailable"].is_null() && v["directory"]["refused"] == 0 {
            let (code, out) = orgid(&self.cfg, &["ldap", "reconcile", "--dry-run"]).await;
            assert_eq!(code, 0, "reconcile found drift after a clean sync:\n{out}\nthe sync: {v}");
        }
        v
    }
}

pub(crate) async fn sink(slapd: &Slapd) -> LdapSink {
    LdapSink::connect(&ldap_config(slapd)).await.expect("connect")
}

fn dn(s: &str) -> Dn {
    s.parse().expect("dn")
}

/// All entries under the base, by DN string, with their attributes (operational ones too).
pub(crate) async fn dump(slapd: &Slapd) -> BTreeMap<String, LdapEntry> {
    let s = sink(slapd).await;
    let entries = s
        .search_subtree(&dn("dc=example,dc=com"), "(objectClass=*)", &["*", "entryUUID", "pwdAccountLockedTime"])
        .await
        .expect("search");
    s.unbind().await;
    entries.into_iter().map(|e| (e.dn.to_string(), e)).collect()
}

fn attr(e: &LdapEntry, name: &str) -> Vec<String> {
    e.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn one(e: &LdapEntry, name: &str) -> String {
    attr(e, name).into_iter().next().unwrap_or_default()
}

/// Member values of a group, as their uid.
pub(crate) fn members(all: &BTreeMap<String, LdapEntry>, group: &str) -> Vec<String> {
    let g = all.get(group).unwrap_or_else(|| panic!("no group {group}"));
    let mut v: Vec<String> = attr(g, "member")
        .iter()
        .filter_map(|m| m.parse::<Dn>().ok())
        .filter_map(|d| d.rdn().filter(|r| &*r.attr == "uid").map(|r| r.value.to_string()))
        .collect();
    v.sort();
    v
}

pub(crate) fn month_one() -> Vec<Row> {
    let mut chen = Row::new(6, "C010", "A3", "陈静", "P5");
    chen.confidential = true;
    let mut wang = Row::new(2, "C010", "A1", "王芳", "M12");
    wang.department = "财务部/一科".into();
    let mut liu = Row::new(3, "C010", "A2", "欧阳娜娜", "M13");
    liu.department = "财务部/一科".into();
    vec![
        Row::new(1, "G000", "G1", "张伟", ""),
        wang,
        liu,
        Row::new(4, "C020", "B1", "杨洋", "M11"),
        Row::new(5, "N001", "N1", "孙浩", "M15"),
        chen,
    ]
}

const BASE: &str = "dc=example,dc=com";

pub(crate) fn at(path: &str) -> String {
    format!("{path},{BASE}")
}

/// The 3,000 people of the kill-and-restart tests, a third of them in C010, in seven departments.
pub(crate) fn staff() -> Vec<Row> {
    (1..=STAFF)
        .map(|n| {
            let mut r =
                Row::new(n, if n % 3 == 0 { "C010" } else { "G000" }, &format!("E{n:05}"), &format!("员工{n}"), "M13");
            r.department = format!("部门{}", n % 7);
            r
        })
        .collect()
}

/// How many people `staff` has.
pub(crate) const STAFF: u32 = 3000;

/// Kills `task` (a sync or push of `staff`, named `what`) as soon as the directory shows that it
/// has started writing accounts, waiting at most `secs`; returns how many it had written.
pub(crate) async fn kill_once_started<T>(
    slapd: &Slapd,
    task: tokio::task::JoinHandle<T>,
    what: &str,
    secs: u64,
) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while dump(slapd).await.keys().filter(|k| k.starts_with("uid=")).count() < 10 {
        assert!(std::time::Instant::now() < deadline, "the {what} never started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
    let partial = dump(slapd).await.keys().filter(|k| k.starts_with("uid=")).count();
    assert!(
        partial < STAFF as usize,
        "the {what} finished before it could be killed ({partial} entries); enlarge the workload"
    );
    partial
}

/// Every one of `staff` is in the directory with the C010 group complete, and reconcile finds no
/// drift (`partial` entries were there when the writer was killed).
pub(crate) async fn assert_converged(env: &Env, slapd: &Slapd, partial: usize) {
    let all = dump(slapd).await;
    assert_eq!(all.keys().filter(|k| k.starts_with("uid=")).count(), STAFF as usize, "after {partial} before the kill");
    assert_eq!(members(&all, &at("cn=C010,ou=groups")).len(), STAFF as usize / 3);
    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no drift"), "{out}");
}

#[tokio::test]
async fn first_sync_and_second_month_reach_ldap() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    let report = env.sync().await;
    assert_eq!(report["directory"]["refused"], 0, "{report}");
    assert!(report["directory"]["unavailable"].is_null(), "{report}");

    let all = dump(&slapd).await;
    let wang = &all[&at("uid=wangfang,ou=一科,ou=财务部,ou=C010,ou=G000")];
    assert_eq!((one(wang, "cn"), one(wang, "sn"), one(wang, "givenName")), ("王芳".into(), "王".into(), "芳".into()));
    assert_eq!(
        (one(wang, "employeeNumber"), one(wang, "employeeType"), one(wang, "title")),
        ("A1".into(), "M12".into(), "经理".into())
    );
    assert_eq!(
        (one(wang, "o"), one(wang, "ou"), one(wang, "mail")),
        ("测试一级公司".into(), "财务部/一科".into(), "a1@example.com".into())
    );
    let ouyang = &all[&at("uid=ouyangnana,ou=一科,ou=财务部,ou=C010,ou=G000")];
    assert_eq!((one(ouyang, "sn"), one(ouyang, "givenName")), ("欧阳".into(), "娜娜".into()), "compound surname");
    assert!(all.contains_key(&at("uid=zhangwei,ou=综合部,ou=G000")));
    assert!(all.contains_key(&at("uid=yangyang,ou=综合部,ou=C020,ou=C010,ou=G000")));
    assert!(!all.keys().any(|k| k.contains("sunhao")), "pending approval: no entry");
    assert_eq!(members(&all, &at("cn=C010,ou=groups")), ["chenjing", "ouyangnana", "wangfang"]);
    assert_eq!(members(&all, &at("cn=C010/财务部/一科,ou=groups")), ["ouyangnana", "wangfang"]);
    assert_eq!(members(&all, &at("cn=confidential,ou=groups")), ["chenjing"]);
    let text = format!("{all:?}");
    assert!(!text.contains(&crate::hr::id_number(2)), "no ID number reaches LDAP");

    // The same roster again sends nothing.
    let report = env.sync().await;
    assert_eq!(report["directory"]["applied"], 0, "{report}");

    // Month two: joiner, leaver, in-company move, cross-company move, renamed department.
    let uuid_yang = one(&all[&at("uid=yangyang,ou=综合部,ou=C020,ou=C010,ou=G000")], "entryUUID");
    let uuid_ou = one(&all[&at("ou=一科,ou=财务部,ou=C010,ou=G000")], "entryUUID");
    let mut m2 = month_one();
    m2[1].department = "财务部/核算科".into(); // 王芳 and 欧阳娜娜: the whole 一科 is renamed
    m2[2].department = "财务部/核算科".into();
    m2[3].company = "C021".into(); // 杨洋 to an independent tier-2 company, new number
    m2[3].employee_number = "B21".into();
    m2[5].left = true; // 陈静 leaves
    m2[0].department = "总裁办".into(); // 张伟 moves inside HQ
    m2.push(Row::new(7, "C020", "B7", "周杰", "P12"));
    env.hr.write(&m2, false);
    let report = env.sync().await;
    assert_eq!(report["directory"]["refused"], 0, "{report}");
    let all = dump(&slapd).await;
    let ou = &all[&at("ou=核算科,ou=财务部,ou=C010,ou=G000")];
    assert_eq!(one(ou, "entryUUID"), uuid_ou, "the department OU was renamed, not recreated");
    assert!(!all.contains_key(&at("ou=一科,ou=财务部,ou=C010,ou=G000")));
    assert!(all.contains_key(&at("uid=wangfang,ou=核算科,ou=财务部,ou=C010,ou=G000")));
    let yang = &all[&at("uid=yangyang,ou=综合部,ou=C021,ou=C010,ou=G000")];
    assert_eq!(one(yang, "entryUUID"), uuid_yang, "a cross-company move keeps the entry");
    assert_eq!(one(yang, "employeeNumber"), "B21");
    let chen = &all[&at("uid=chenjing,ou=综合部,ou=C010,ou=G000")];
    assert_eq!(one(chen, "pwdAccountLockedTime"), "000001010000Z", "leavers are locked, not deleted");
    assert!(all.contains_key(&at("uid=zhangwei,ou=总裁办,ou=G000")));
    assert!(all.contains_key(&at("uid=zhoujie,ou=综合部,ou=C020,ou=C010,ou=G000")));
    assert_eq!(members(&all, &at("cn=C010,ou=groups")), ["ouyangnana", "wangfang"]);
    assert_eq!(members(&all, &at("cn=C010/财务部/核算科,ou=groups")), ["ouyangnana", "wangfang"]);
    assert_eq!(members(&all, &at("cn=confidential,ou=groups")), Vec::<String>::new());
    assert_eq!(members(&all, &at("cn=C021,ou=groups")), ["yangyang"]);
    assert_eq!(members(&all, &at("cn=C020,ou=groups")), ["zhoujie"]);

    // Month three: 陈静 is rehired: unlocked, memberships back.
    let mut m3 = m2.clone();
    m3[5].left = false;
    env.hr.write(&m3, false);
    env.sync().await;
    let all = dump(&slapd).await;
    let chen = &all[&at("uid=chenjing,ou=综合部,ou=C010,ou=G000")];
    assert!(attr(chen, "pwdAccountLockedTime").is_empty(), "unlocked");
    assert_eq!(members(&all, &at("cn=confidential,ou=groups")), ["chenjing"]);
    let (code, status) = orgid(&env.cfg, &["ldap", "status"]).await;
    assert_eq!(code, 0, "{status}");
    assert!(status.contains("locks       enforced"), "{status}");
    assert!(status.contains("outbox      0 pending"), "{status}");
}

#[tokio::test]
async fn ldap_down_during_sync_then_catches_up() {
    // Nothing listens on this port: the store decides, the outbox waits.
    let port = orgid_tests::free_port();
    let env = Env::new(Backend::Sqlite, &format!("ldap://127.0.0.1:{port}")).await;
    env.hr.write(&month_one(), false);
    let report = env.sync().await;
    assert!(report["directory"]["unavailable"].is_string(), "{report}");
    assert_eq!(report["counts"]["open"], 5, "the store still records the decisions");
    let (code, status) = orgid(&env.cfg, &["ldap", "status"]).await;
    assert_eq!(code, 1, "{status}");
    assert!(status.contains("connection  FAILED"), "{status}");
    let waiting: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("outbox      ").and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()))
        .expect("outbox line");
    assert!(waiting > 10, "{status}");

    // The server comes back (here: a new one, and the configuration points at it).
    let slapd = Slapd::start().await;
    let env = env.with_ldap(&slapd.url());
    let (code, out) = orgid(&env.cfg, &["ldap", "push"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{waiting} operations applied, 0 refused")), "{out}");
    let all = dump(&slapd).await;
    assert_eq!(members(&all, &at("cn=C010,ou=groups")), ["chenjing", "ouyangnana", "wangfang"]);
}

#[tokio::test]
async fn operations_applied_twice_after_a_crash_converge() {
    let port = orgid_tests::free_port();
    let env = Env::new(Backend::Sqlite, &format!("ldap://127.0.0.1:{port}")).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    let slapd = Slapd::start().await;
    let env = env.with_ldap(&slapd.url());
    // A crash after applying but before acknowledging: apply the whole outbox behind orgid's back,
    // leave it queued, then let orgid push it again.
    let config = orgid::cli::load_config(Some(&env.cfg), Vec::new()).expect("config");
    let app = orgid::app::App::open(config).await.expect("open");
    use orgid_directory::store::OutboxStore;
    use orgid_directory::target::ldap::DirOp;
    let items = app.store.outbox_batch::<DirOp>(10_000).await.expect("batch");
    let ops: Vec<_> = items.iter().map(|i| i.op.clone()).collect();
    let s = sink(&slapd).await;
    assert!(s.apply(&ops).await.iter().all(Result::is_ok));
    s.unbind().await;
    let once = dump(&slapd).await;
    let (code, out) = orgid(&env.cfg, &["ldap", "push"]).await;
    assert_eq!(code, 0, "{out}");
    let twice = dump(&slapd).await;
    let strip = |m: &BTreeMap<String, LdapEntry>| -> Vec<(String, usize)> {
        m.iter().map(|(k, e)| (k.clone(), e.attrs.len())).collect()
    };
    assert_eq!(strip(&once), strip(&twice), "applying again changed nothing");
    assert_eq!(members(&twice, &at("cn=C010,ou=groups")), ["chenjing", "ouyangnana", "wangfang"]);
}

#[tokio::test]
async fn names_and_departments_with_special_characters_round_trip() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    let hard = ["研发部, 北京 + 上海", "#1 \"核心\" (A*)", "a;<c>=d"]; // `\` separates department paths in HR files
    let rows: Vec<Row> = hard
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut r = Row::new(10 + i as u32, "G000", &format!("G{i}"), &format!("Smith, John{i}"), "");
            r.department = d.to_string();
            r
        })
        .collect();
    env.hr.write(&rows, false);
    let report = env.sync().await;
    assert_eq!(report["directory"]["refused"], 0, "{report}");
    let s = sink(&slapd).await;
    for (i, d) in hard.iter().enumerate() {
        let want = dn(BASE).child("ou", "G000").child("ou", d).child("uid", &format!("smith.john{i}"));
        let e = s.read(&want, &["cn", "ou"]).await.expect("read").unwrap_or_else(|| panic!("no entry at {want}"));
        assert_eq!(e.dn, want, "the DN read back is the DN written");
        assert_eq!(one(&e, "cn"), format!("Smith, John{i}"));
        assert_eq!(one(&e, "ou"), *d);
    }
    s.unbind().await;
}

#[tokio::test]
async fn reconcile_reports_and_repairs_drift_but_leaves_other_entries_alone() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no drift"), "{out}");

    // Someone edits by hand: a changed title, a deleted entry, a stranger inside orgid's OU, a
    // membership removed, and an entry of their own outside orgid's subtrees.
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: title\ntitle: hacked\n",
            at("uid=zhangwei,ou=综合部,ou=G000")
        ))
        .await;
    slapd.modify(&format!("dn: {}\nchangetype: delete\n", at("uid=yangyang,ou=综合部,ou=C020,ou=C010,ou=G000"))).await;
    slapd
        .add(&format!(
            "dn: {}\nobjectClass: inetOrgPerson\nuid: stranger\ncn: stranger\nsn: stranger\n",
            at("uid=stranger,ou=综合部,ou=G000")
        ))
        .await;
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\ndelete: member\nmember: {}\n",
            at("cn=C010,ou=groups"),
            at("uid=chenjing,ou=综合部,ou=C010,ou=G000")
        ))
        .await;
    slapd.add(&format!("dn: {}\nobjectClass: organizationalUnit\nou: services\n\ndn: {}\nobjectClass: inetOrgPerson\nuid: svc\ncn: svc\nsn: svc\n", at("ou=services"), at("uid=svc,ou=services"))).await;

    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 3, "drift found: {out}");
    assert!(out.contains("drift: 1 differing, 1 extra, 1 memberships, 1 missing"), "{out}");
    assert!(out.contains(r#""attributes":["title"]"#), "{out}");
    assert!(out.contains("uid=stranger"), "{out}");
    assert!(!out.contains("svc"), "entries outside orgid's subtrees are not orgid's business: {out}");

    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("repaired:"), "{out}");
    let all = dump(&slapd).await;
    assert_eq!(one(&all[&at("uid=zhangwei,ou=综合部,ou=G000")], "title"), "经理");
    assert!(all.contains_key(&at("uid=yangyang,ou=综合部,ou=C020,ou=C010,ou=G000")), "recreated");
    assert!(!all.contains_key(&at("uid=stranger,ou=综合部,ou=G000")), "removed from orgid's OU");
    assert!(all.contains_key(&at("uid=svc,ou=services")), "left alone");
    assert_eq!(members(&all, &at("cn=C010,ou=groups")), ["chenjing", "ouyangnana", "wangfang"]);
    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no drift"), "{out}");
}

#[tokio::test]
async fn purge_deletes_long_disabled_entries_and_rehire_brings_them_back() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    let mut m2 = month_one();
    m2[5].left = true; // 陈静
    env.hr.write(&m2, false);
    env.sync().await;
    let chen = at("uid=chenjing,ou=综合部,ou=C010,ou=G000");
    assert!(dump(&slapd).await.contains_key(&chen), "kept while within the grace period");
    let (code, out) = orgid(&env.cfg, &["ldap", "purge", "--dry-run"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("0 entries disabled for more than 180 days"), "{out}");

    // With a grace period of 0 days the closed entry is due.
    let text =
        std::fs::read_to_string(&env.cfg).expect("read").replace("[safety]\n", "[safety]\npurge_after_days = 0\n");
    std::fs::write(&env.cfg, text).expect("write");
    let (code, out) = orgid(&env.cfg, &["ldap", "purge"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("purge {chen} (A3")), "{out}");
    assert!(!dump(&slapd).await.contains_key(&chen), "purged");
    let (_, list) = orgid(&env.cfg, &["accounts", "list", "--status", "disabled", "--format", "json"]).await;
    assert!(list.contains("chenjing"), "the account and its history stay in the store: {list}");

    env.hr.write(&month_one(), false);
    env.sync().await;
    let all = dump(&slapd).await;
    assert!(all.contains_key(&chen), "rehired after the purge: added again");
    assert_eq!(members(&all, &at("cn=confidential,ou=groups")), ["chenjing"]);
}

#[tokio::test]
async fn a_push_killed_midway_converges_on_the_next_start() {
    let port = orgid_tests::free_port();
    let env = Env::new(Backend::Sqlite, &format!("ldap://127.0.0.1:{port}")).await;
    env.hr.write(&staff(), false);
    env.sync().await; // LDAP down: everything waits in the outbox
    let slapd = Slapd::start().await;
    let env = env.with_ldap(&slapd.url());
    let config = orgid::cli::load_config(Some(&env.cfg), Vec::new()).expect("config");

    // Kill the push part-way, as soon as the directory shows that it has started: the task is
    // dropped at whatever await it has reached.
    let app = orgid::app::App::open(config.clone()).await.expect("open");
    let task = tokio::spawn(async move { orgid::services::targets::ldap::push(&app).await });
    let partial = kill_once_started(&slapd, task, "push", 20).await;

    // Start again: everything converges, nothing is refused.
    let app = orgid::app::App::open(config).await.expect("open");
    let r = orgid::services::targets::ldap::push(&app).await.expect("push");
    assert_eq!(r.refused, 0, "{r:?}");
    assert!(r.unavailable.is_none(), "{r:?}");
    assert_converged(&env, &slapd, partial).await;
}

#[tokio::test]
async fn status_says_loudly_when_locked_entries_can_still_bind() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    let (code, out) = orgid(&env.cfg, &["ldap", "status"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("locks       enforced"), "{out}");
    // Without pwdLockout the server ignores pwdAccountLockedTime: closed accounts could log in.
    slapd.modify("dn: cn=default,ou=policies,dc=example,dc=com\nchangetype: modify\nreplace: pwdLockout\npwdLockout: FALSE\n").await;
    let (code, out) = orgid(&env.cfg, &["ldap", "status"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("locks       NOT ENFORCED"), "{out}");
    assert!(!out.contains("secret"), "the bind password is never shown: {out}");
    let probes = slapd.search("dc=example,dc=com", "sub", "(uid=orgid-lock-probe*)").await;
    assert!(probes.trim().is_empty(), "the probe entry is removed: {probes}");
}
