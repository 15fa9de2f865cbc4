//! The outbox worker's order and convergence when a sync hands its freshly queued operations
//! straight to the directory: what waited from an outage goes first, and a sync killed while it
//! pushes leaves nothing behind that the next push does not finish.

use orgid_tests::Slapd;

use crate::ldap_sync::{Env, STAFF, assert_converged, at, dump, kill_once_started, members, month_one, staff};
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
    env.hr.write(&staff(), false);
    let config = orgid::cli::load_config(Some(&env.cfg), Vec::new()).expect("config");

    // The sync commits, then applies its operations from memory; kill it once that has visibly
    // started (the task is dropped at whatever await it has reached).
    let app = orgid::app::App::open(config.clone()).await.expect("open");
    let task = tokio::spawn(async move {
        orgid::services::sync::sync(&app, false, "test", &orgid::output::progress::Progress::hidden())
            .await
            .map(|r| r.exit_code())
    });
    let partial = kill_once_started(&slapd, task, "sync", 60).await;

    let (code, out) = orgid(&env.cfg, &["ldap", "push"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(", 0 refused"), "{out}");
    assert_converged(&env, &slapd, partial).await;
    // The run itself was recorded before the directory was written.
    let (code, runs) = orgid(&env.cfg, &["runs", "list"]).await;
    assert_eq!(code, 0, "{runs}");
    assert!(runs.contains("ok"), "{runs}");
}

/// Issue 15: slapd crashed in the middle of a first load and the sync still said `ok` (exit 0)
/// after a few thousand of its operations. A sync during which the directory goes away is not
/// done: it says so (`incomplete`, exit 5) for a cron job to notice, and the next push completes it.
#[tokio::test]
async fn a_sync_whose_directory_dies_midway_is_reported_incomplete_and_the_next_push_completes_it() {
    let mut slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&staff(), false);
    let cfg = env.cfg.clone();
    let task = tokio::spawn(async move { orgid(&cfg, &["sync", "--format", "json"]).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while dump(&slapd).await.keys().filter(|k| k.starts_with("uid=")).count() < 10 {
        assert!(std::time::Instant::now() < deadline, "the sync never reached the directory");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    slapd.kill();
    let (code, out) = task.await.expect("the sync task");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(code, 5, "{}", &out[..out.len().min(2000)]);
    assert_eq!(report["status"], "incomplete");
    assert!(report["directory"]["unavailable"].is_string(), "{}", report["directory"]);
    let applied = report["directory"]["applied"].as_u64().expect("applied");

    slapd.restart().await;
    let partial = dump(&slapd).await.keys().filter(|k| k.starts_with("uid=")).count();
    assert!(partial < STAFF as usize, "slapd died after the whole load ({partial} accounts, {applied} applied)");
    let (code, out) = orgid(&env.cfg, &["ldap", "push"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(", 0 refused"), "{out}");
    assert_converged(&env, &slapd, partial).await;
}
