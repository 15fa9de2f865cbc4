//! SIGHUP to a real `orgid serve` process: a file with an error is refused (key and line in the
//! audit trail) and the running configuration stays; a good file puts a new schedule, a new
//! safety threshold and a client's new secret in force at once, without a restart.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::hr::{Hr, Row};
use crate::sync::{Backend, orgid, store_url};

/// The environment variable that makes [`serve_for_the_reload_test`] serve.
const SERVE_ENV: &str = "ORGID_E2E_RELOAD_SERVE";

/// Not a test of its own: `orgid serve` in a process of its own for the reload test, which runs
/// this binary again for this one test with `ORGID_E2E_RELOAD_SERVE` naming the configuration.
/// Ignored in a normal run; without the variable it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process of another test, which runs it with --ignored"]
async fn serve_for_the_reload_test() {
    let Ok(cfg) = std::env::var(SERVE_ENV) else { return };
    let (code, out) = orgid(Path::new(&cfg), &["serve"]).await;
    assert_eq!(code, 0, "{out}");
}

fn config(store: &str, port: u16, body: &str) -> String {
    format!(
        "[store]\nurl = \"{store}\"\n{body}[server]\nlisten = \"127.0.0.1:{port}\"\n[workflow]\nconfidential_roster = \"apply\"\n\
         [[sources]]\nname = \"hr\"\nkind = \"roster\"\ncompanies = \"companies.csv\"\nroster = \"roster.csv\"\n"
    )
}

async fn metric(http: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

async fn reloads(cfg: &Path) -> Vec<Value> {
    let (code, out) = orgid(cfg, &["audit", "query", "--type", "config_reload", "--all", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["records"].as_array().cloned().unwrap_or_default()
}

/// A client-credentials client whose secret the reload changes.
fn client(secret: &str) -> String {
    format!("[[clients]]\nid = \"svc\"\nsecret = \"{secret}\"\ngrants = [\"client_credentials\"]\nscopes = [\"api\"]\n")
}
const OLD_SECRET: &str = "svc-old-secret-0123456789";
const NEW_SECRET: &str = "svc-new-secret-0123456789";

/// The status of a client-credentials token request of `svc` with `secret`.
async fn token_status(http: &reqwest::Client, base: &str, secret: &str) -> u16 {
    let form = [("grant_type", "client_credentials"), ("scope", "api")];
    let res = http.post(format!("{base}/token")).basic_auth("svc", Some(secret)).form(&form).send().await.unwrap();
    res.status().as_u16()
}

fn hup(pid: u32) {
    assert!(std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap().success());
}

#[tokio::test]
async fn sighup_applies_schedules_thresholds_and_clients_in_place_and_keeps_the_old_on_a_bad_file() {
    let dir = TempDir::new().unwrap();
    let hr = Hr::new(dir.path());
    let staff = [Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12")];
    hr.write(&staff, false);
    let port = orgid_tests::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let url = store_url(Backend::Sqlite, dir.path()).await;
    let cfg = dir.path().join("orgid.toml");
    std::fs::write(
        &cfg,
        config(
            &url,
            port,
            &format!(
                "[sync]\nschedule = \"\"\n[safety]\nmax_shrink_share = 0.9\nmax_close_share = 1.0\n{}",
                client(OLD_SECRET)
            ),
        ),
    )
    .unwrap();
    assert_eq!(orgid(&cfg, &["sync"]).await.0, 0);
    // The test's own view of the store, whatever the served file holds at the moment.
    let query = dir.path().join("query.toml");
    std::fs::write(&query, format!("[store]\nurl = \"{url}\"\n")).unwrap();
    // 王芳 leaves: the next sync closes one account.
    let mut left = staff[1].clone();
    left.left = true;
    hr.write(&[staff[0].clone(), left], false);

    let log = dir.path().join("serve.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut server = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "reload::serve_for_the_reload_test", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(SERVE_ENV, &cfg)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = server.id().unwrap();
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "{}", std::fs::read_to_string(&log).unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A file with an error: refused with its key and line, and nothing changes.
    std::fs::write(
        &cfg,
        config(
            &url,
            port,
            &format!(
                "[sync]\nschedule = \"every second\"\n[safety]\nmax_close_count = 0\nmax_close_share = 1.0\nmax_shrink_share = 0.9\n{}",
                client(NEW_SECRET)
            ),
        ),
    )
    .unwrap();
    hup(pid);
    let mut found = Vec::new();
    for _ in 0..100 {
        found = reloads(&query).await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["outcome"], "failure");
    let reason = found[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("orgid.toml:4:1") && reason.contains("key `sync.schedule`"), "{reason}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let runs = metric(&http, &base, "orgid_sync_runs_total{status=\"held\"}").await
        + metric(&http, &base, "orgid_sync_runs_total{status=\"ok\"}").await;
    assert_eq!(runs, 0, "still no schedule: the old configuration is in force");
    assert_eq!(token_status(&http, &base, OLD_SECRET).await, 200, "the old client is in force");
    assert_eq!(token_status(&http, &base, NEW_SECRET).await, 401);

    // A good file: a schedule every second and no closing without approval (the old threshold,
    // 500, would have let this one close through), at once.
    std::fs::write(
        &cfg,
        config(
            &url,
            port,
            &format!(
                "[sync]\nschedule = \"* * * * * *\"\n[safety]\nmax_close_count = 0\nmax_close_share = 1.0\nmax_shrink_share = 0.9\n[log]\nlevel = \"debug\"\n[password]\nmin_length = 10\n{}",
                client(NEW_SECRET)
            ),
        ),
    )
    .unwrap();
    hup(pid);
    let started = Instant::now();
    loop {
        if metric(&http, &base, "orgid_sync_runs_total{status=\"held\"}").await >= 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{}", std::fs::read_to_string(&log).unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        metric(&http, &base, "orgid_sync_runs_total{status=\"ok\"}").await,
        0,
        "the close was held, not applied"
    );
    let found = reloads(&query).await;
    assert_eq!(found.len(), 2, "{found:?}");
    let ok = found.iter().find(|r| r["outcome"] == "success").unwrap();
    let reason = ok["reason"].as_str().or(ok["details"].as_str()).map(str::to_string).unwrap_or_else(|| ok.to_string());
    assert!(reason.contains("safety") && reason.contains("sync") && reason.contains("log.level"), "{ok}");
    assert!(reason.contains("clients") && reason.contains("password") && !reason.contains("restart"), "{ok}");
    // The client's new secret is in force, the old one refused, without a restart.
    assert_eq!(token_status(&http, &base, NEW_SECRET).await, 200, "the reloaded client");
    assert_eq!(token_status(&http, &base, OLD_SECRET).await, 401);
    let (code, out) = orgid(&query, &["runs", "list", "--format", "json"]).await;
    assert_eq!(code, 0);
    let runs: Value = serde_json::from_str(&out).unwrap();
    assert!(runs.as_array().unwrap().iter().any(|r| r["actor"] == "schedule" && r["status"] == "held"), "{runs}");

    // SIGTERM still stops it cleanly.
    assert!(std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(30), server.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "{}", std::fs::read_to_string(&log).unwrap());
}
