//! The leader lease: with PostgreSQL one replica at a time runs the scheduled jobs.

use std::time::Duration;

use orgid_tests::{Backend, TestDatabase};
use tempfile::TempDir;
use tokio::net::TcpListener;

use crate::hr::{Hr, Row};

#[tokio::test]
async fn postgres_grants_the_lease_to_one_store_at_a_time() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let a = orgid_store::connect(&db.url, 2).await.expect("a");
    let b = orgid_store::connect(&db.url, 2).await.expect("b");
    let mut lease = a.try_lease().await.expect("try").expect("the first one gets it");
    assert!(b.try_lease().await.expect("try").is_none(), "the second one does not");
    assert!(a.try_lease().await.expect("try").is_none(), "not even the holder's own pool takes it twice");
    assert!(lease.still_held().await);
    drop(lease);
    // The server releases the lock when the lease's connection closes.
    let mut taken = None;
    for _ in 0..50 {
        if let Some(l) = b.try_lease().await.expect("try") {
            taken = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(taken.is_some(), "released on drop and taken over");
}

#[tokio::test]
async fn sqlite_always_grants_the_lease() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let a = orgid_store::connect(&db.url, 2).await.expect("a");
    assert!(a.try_lease().await.expect("try").is_some());
    assert!(a.try_lease().await.expect("try").is_some());
}

#[tokio::test]
async fn of_two_serve_replicas_only_the_leader_runs_scheduled_syncs() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let dir = TempDir::new().expect("tempdir");
    let hr = Hr::new(dir.path());
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12")], false);
    let cfg = hr.config(&db.url, "");
    let text = std::fs::read_to_string(&cfg).expect("read").replace("schedule = \"\"", "schedule = \"* * * * * *\"");
    std::fs::write(&cfg, text).expect("write");

    let mut replicas = Vec::new();
    for _ in 0..2 {
        let config = orgid::cli::load_config(Some(&cfg), Vec::new()).expect("config");
        let app = orgid::app::App::open(config).await.expect("open");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(orgid::cli::serve::serve_on(app, listener, async {
            let _ = stopped.await;
        }));
        replicas.push((addr, stop, task));
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut leaders = 0;
    let mut runs_seen = Vec::new();
    for (addr, _, _) in &replicas {
        let m = crate::serve::get(*addr, "/metrics").await.1;
        if m.contains("orgid_leader 1") {
            leaders += 1;
        } else {
            assert!(m.contains("orgid_leader 0"), "{m}");
        }
        runs_seen.push(
            m.lines().find(|l| l.starts_with("orgid_sync_runs_total{status=\"ok\"}")).unwrap_or_default().to_string(),
        );
    }
    assert_eq!(leaders, 1, "exactly one leader");
    assert!(runs_seen.iter().any(|l| l.ends_with(" 0")), "the standby ran nothing: {runs_seen:?}");
    for (_, stop, task) in replicas {
        stop.send(()).expect("stop");
        tokio::time::timeout(Duration::from_secs(20), task).await.expect("stops").expect("task").expect("clean");
    }
    let (_, out) = crate::sync::orgid(&cfg, &["runs", "list", "--format", "json"]).await;
    let runs: serde_json::Value = serde_json::from_str(&out).expect("json");
    let statuses: Vec<&str> = runs.as_array().expect("runs").iter().filter_map(|r| r["status"].as_str()).collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| *s == "ok"),
        "no replica ever collided with the other: {statuses:?}"
    );
}
