//! `orgid ldap export --ldif`: a large new directory loaded the OpenLDAP way (issue 15). The store
//! is filled first without a directory, its tree exported as LDIF and bulk-loaded with `slapadd`
//! into the real slapd (stopped), and reconcile then finds no drift and tracks what it found, so
//! that the next sync sends only its own changes.

use orgid_tests::Slapd;

use crate::ldap_sync::{Env, at, dump, members, month_one};
use crate::sync::{Backend, orgid};

#[tokio::test]
async fn an_export_loaded_with_slapadd_reconciles_without_drift_and_later_syncs_build_on_it() {
    let mut slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    let plain = env.store_only();
    let (code, out) = orgid(&plain, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    let env = env.with_ldap(&slapd.url());

    let ldif = slapd.dir().join("tree.ldif");
    let (code, out) = orgid(&env.cfg, &["ldap", "export", "--ldif", ldif.to_str().expect("path")]).await;
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&ldif).expect("the LDIF");
    assert!(out.contains(&format!("{} entries written", text.matches("\ndn").count() + 1)), "{out}");
    assert!(!text.contains("身份证") && !text.contains("idnumber"), "never the ID number");
    assert_eq!(dump(&slapd).await.keys().filter(|k| k.starts_with("uid=")).count(), 0, "export writes nothing");

    slapd.kill();
    let loaded = tokio::process::Command::new("/usr/sbin/slapadd")
        .arg("-q")
        .arg("-f")
        .arg(slapd.dir().join("slapd.conf"))
        .arg("-l")
        .arg(&ldif)
        .output()
        .await
        .expect("slapadd");
    assert!(loaded.status.success(), "slapadd: {}", String::from_utf8_lossy(&loaded.stderr));
    slapd.restart().await;

    let all = dump(&slapd).await;
    assert!(all.contains_key(&at("uid=wangfang,ou=一科,ou=财务部,ou=C010,ou=G000")), "{:?}", all.keys());
    assert_eq!(members(&all, &at("cn=C010/财务部/一科,ou=groups")), ["ouyangnana", "wangfang"]);
    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no drift"), "{out}");
    assert!(out.contains("tracked now"), "{out}");
    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile", "--dry-run"]).await;
    assert_eq!((code, out.contains("no drift")), (0, true), "{out}");

    // The next month moves a department: the tracked entries are moved, nothing is added twice.
    let mut m2 = month_one();
    m2[1].department = "财务部/核算科".into();
    m2[2].department = "财务部/核算科".into();
    env.hr.write(&m2, false);
    let report = env.sync().await; // reconcile --dry-run must find no drift after it
    assert_eq!(report["directory"]["refused"], 0, "{report}");
    let all = dump(&slapd).await;
    assert!(all.contains_key(&at("uid=wangfang,ou=核算科,ou=财务部,ou=C010,ou=G000")));
    assert!(!all.contains_key(&at("ou=一科,ou=财务部,ou=C010,ou=G000")));
}
