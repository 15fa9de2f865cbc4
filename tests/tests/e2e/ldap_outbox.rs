//! The outbox worker's order and convergence when a sync hands its freshly queued operations
//! straight to the directory: what waited from an outage goes first, and a sync killed while it
//! pushes leaves nothing behind that the next push does not finish.

use orgid_tests::Slapd;

use crate::hr::Row;
use crate::ldap_sync::{Env, at, dump, members, month_one};
use crate::sync::{Backend, orgid};

#[tokio::test]
async fn a_sync_after_an_outage_applies_what_waited_before_its_own() {
    let port = orgid_tests::free_port();
    let env = Env::new(Backend::Sqlite, &format!("ldap://127.0.0.1:{port}")).await;
    env.hr.write(&month_one(), false);
    let first = env.sync().await;
    assert!(first["directory"]["unavailable"].is_string(), "{first}");

    // The server is back; the next month moves entries that the first month's operations create.
    let slapd = Slapd::start().await;
    let env = env.with_ldap(&slapd.url());
    let mut m2 = month_one();
    m2[1].department = "财务部/核算科".into(); // the whole 一科 is renamed
    m2[2].department = "财务部/核算科".into();
    m2[0].department = "总裁办".into();
    env.hr.write(&m2, false);
    let second = env.sync().await;
    assert_eq!(second["directory"]["refused"], 0, "{second}");
    assert!(second["directory"]["unavailable"].is_null(), "{second}");

    let all = dump(&slapd).await;
    assert!(all.contains_key(&at("uid=wangfang,ou=核算科,ou=财务部,ou=C010,ou=G000")));
    assert!(!all.contains_key(&at("ou=一科,ou=财务部,ou=C010,ou=G000")));
    assert!(all.contains_key(&at("uid=zhangwei,ou=总裁办,ou=G000")));
    assert!(!all.contains_key(&at("uid=zhangwei,ou=综合部,ou=G000")));
    assert_eq!(members(&all, &at("cn=C010/财务部/核算科,ou=groups")), ["ouyangnana", "wangfang"]);
    assert_eq!(members(&all, &at("cn=C010,ou=groups")), ["chenjing", "ouyangnana", "wangfang"]);
    let (code, status) = orgid(&env.cfg, &["ldap", "status"]).await;
    assert_eq!(code, 0, "{status}");
    assert!(status.contains("outbox      0 pending"), "{status}");
}

#[tokio::test]
async fn a_sync_killed_while_it_pushes_converges_on_the_next_push() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    let staff: Vec<Row> = (1..=3000)
        .map(|n| {
            let mut r =
                Row::new(n, if n % 3 == 0 { "C010" } else { "G000" }, &format!("E{n:05}"), &format!("员工{n}"), "M13");
            r.department = format!("部门{}", n % 7);
            r
        })
        .collect();
    env.hr.write(&staff, false);
    let config = orgid::cli::load_config(Some(&env.cfg), Vec::new()).expect("config");

    // The sync commits, then applies its operations from memory; kill it once that has visibly
    // started (the task is dropped at whatever await it has reached).
    let app = orgid::app::App::open(config.clone()).await.expect("open");
    let task = tokio::spawn(async move {
        orgid::sync::sync(&app, false, "test", &orgid::progress::Progress::hidden()).await.map(|r| r.exit_code())
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while dump(&slapd).await.keys().filter(|k| k.starts_with("uid=")).count() < 10 {
        assert!(std::time::Instant::now() < deadline, "the push never started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
    let partial = dump(&slapd).await.keys().filter(|k| k.starts_with("uid=")).count();
    assert!(partial < 3000, "the sync finished before it could be killed ({partial} entries); enlarge the workload");

    let (code, out) = orgid(&env.cfg, &["ldap", "push"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(", 0 refused"), "{out}");
    let all = dump(&slapd).await;
    assert_eq!(all.keys().filter(|k| k.starts_with("uid=")).count(), 3000, "after {partial} before the kill");
    assert_eq!(members(&all, &at("cn=C010,ou=groups")).len(), 1000);
    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no drift"), "{out}");
    // The run itself was recorded before the directory was written.
    let (code, runs) = orgid(&env.cfg, &["runs", "list"]).await;
    assert_eq!(code, 0, "{runs}");
    assert!(runs.contains("ok"), "{runs}");
}
