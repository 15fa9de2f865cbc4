//! `orgid serve`: health endpoints, metrics, the cron-scheduled sync, and a clean shutdown.

use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::hr::{Hr, Row};
use crate::sync::{Backend, store_url};

/// A plain HTTP/1.1 GET; returns the status code and the body.
pub(crate) async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status line");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn serve_answers_health_runs_the_schedule_and_stops_cleanly() {
    let dir = TempDir::new().expect("tempdir");
    let hr = Hr::new(dir.path());
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12")], false);
    let url = store_url(Backend::Sqlite, dir.path()).await;
    let cfg_path = hr.config(&url, "");
    // Every second, so the test sees a scheduled run quickly.
    let text =
        std::fs::read_to_string(&cfg_path).expect("read").replace("schedule = \"\"", "schedule = \"* * * * * *\"");
    std::fs::write(&cfg_path, text).expect("write");
    let config = orgid::cli::load_config(Some(&cfg_path), Vec::new()).expect("config");
    let app = orgid::app::App::open(config).await.expect("open");

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(orgid::cli::serve::serve_on(app, listener, async {
        let _ = stop_rx.await;
    }));

    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".to_string()));
    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".to_string()));
    assert_eq!(get(addr, "/nope").await.0, 404);

    // Wait (bounded) for the scheduler's first sync to show in the metrics.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = get(addr, "/metrics").await.1;
        if metrics.contains("orgid_sync_runs_total{status=\"ok\"} 1")
            || metrics.contains("orgid_sync_runs_total{status=\"ok\"} 2")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains("# TYPE orgid_sync_runs_total counter"), "{metrics}");
    assert!(
        metrics.contains("orgid_sync_account_changes_total{op=\"open\"} 2"),
        "the first scheduled run opened both: {metrics}"
    );
    assert!(metrics.contains("orgid_sync_last_success_timestamp_seconds "), "{metrics}");
    assert!(metrics.contains("orgid_leader 1"), "a lone SQLite replica leads: {metrics}");

    stop_tx.send(()).expect("stop");
    let result = tokio::time::timeout(Duration::from_secs(20), server).await.expect("stops within 20 s");
    result.expect("task").expect("clean exit");
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");

    let (code, out) = crate::sync::orgid(&cfg_path, &["runs", "list", "--format", "json"]).await;
    assert_eq!(code, 0);
    let runs: serde_json::Value = serde_json::from_str(&out).expect("json");
    let first = runs.as_array().and_then(|r| r.last()).expect("a run");
    assert_eq!(first["actor"], "schedule");
    assert_eq!(first["status"], "ok");
}

#[tokio::test]
async fn sighup_does_not_end_the_daemon() {
    let dir = TempDir::new().expect("tempdir");
    let cfg = dir.path().join("orgid.toml");
    let url = format!("sqlite:{}", dir.path().join("orgid.db").display());
    std::fs::write(&cfg, format!("[store]\nurl = \"{url}\"\n")).expect("write");
    let config = orgid::cli::load_config(Some(&cfg), Vec::new()).expect("config");
    let shared = orgid::services::Shared::new(orgid::app::App::open(config).await.expect("open"));
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).expect("SIGHUP");
    std::fs::write(&cfg, format!("[store]\nurl = \"{url}\"\n[sync]\nschedule = \"not cron\"\n")).expect("write");
    let reload = orgid::cli::serve::Reload { config_path: Some(cfg), hup };
    let provider = orgid::services::idp::provider(&shared.app()).await.expect("provider");
    let handler = tokio::spawn(orgid::cli::serve::hangups(shared.clone(), reload, provider));
    tokio::time::sleep(Duration::from_millis(200)).await; // the handler is installed
    // Without the handler, SIGHUP's default action would end this whole test process.
    let status =
        std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status().expect("kill");
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!handler.is_finished(), "still listening for the next SIGHUP");
    handler.abort();
    let store = shared.app().store.clone();
    let reloads = crate::audit::all_records(&store).await;
    let reload = reloads.iter().find(|r| r.fields.kind == "config_reload").expect("the reload is audited");
    assert_eq!(reload.fields.outcome, "failure");
    assert!(reload.fields.reason.as_deref().unwrap_or_default().contains("sync.schedule"), "{reload:?}");
    assert_eq!(shared.app().config.sync.schedule, "0 30 2 * * *", "the running configuration stays");
}
