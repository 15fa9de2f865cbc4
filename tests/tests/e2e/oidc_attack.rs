//! The provider under attack (issue 14, its security half): every form of the login flow acts
//! once and only for the password it was sealed for; a client gets only its scopes; failed logins
//! are throttled per login and per address alike, audited; and a flood of bad logins neither
//! takes the server's memory nor keeps a correct login waiting.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use serde_json::Value;
use tempfile::TempDir;

use crate::hr::{Hr, Row};
use crate::oidc::{Browser, CB, Op, Page, SECRET, code_params, pkce};
use crate::sync::{Backend, orgid, orgid_err, store_url};

const EXPIRED: &str = "页面已过期";

/// A loopback address other than 127.0.0.1: another machine, as the server sees it.
fn from(last: u8) -> Option<IpAddr> {
    Some(IpAddr::from([127, 0, 0, last]))
}

/// The portal's authorization request with `scope`.
fn asking<'a>(
    client: &'a str,
    challenge: &'a str,
    scope: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut p = code_params(client, CB, challenge, extra);
    p.retain(|(k, _)| *k != "scope");
    p.push(("scope", scope));
    p
}

/// A login in a fresh browser (from `local`): the answer to the password.
async fn login_from(op: &Op, local: Option<IpAddr>, login: &str, password: &str) -> Page {
    let mut b = Browser::at_from(&op.base, local);
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    b.login(&page, login, password).await
}

/// `orgid audit query --all` with `filter`: the records.
async fn audit(op: &Op, filter: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "query", "--all", "--format", "json"];
    args.extend_from_slice(filter);
    let (code, out) = orgid(&op.cfg, &args).await;
    assert_eq!(code, 0, "{out}");
    serde_json::from_str::<Value>(&out).unwrap()["records"].as_array().cloned().unwrap_or_default()
}

/// The TOTP key shown on an enrolment page, and the code it gives now.
fn totp_code(op: &Op, page: &Page) -> String {
    let start = page.body.find("<code>").unwrap() + 6;
    let secret = &page.body[start..start + page.body[start..].find('<').unwrap()];
    let now = orgid_directory::Clock::now(op.clock.as_ref()).timestamp();
    format!("{:06}", orgid_idp::totp::code_at(secret, now / 30).unwrap())
}

#[tokio::test]
async fn a_replayed_first_login_password_change_is_refused_and_changes_nothing() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let change = b.login(&page, "zhangwei", &initial).await;
    assert!(change.body.contains("初始密码"), "{}", change.body);
    let done = b.change(&change, "Spring-2026a").await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.redirect_params().contains_key("code"));
    let session = b.cookie("orgid_session");

    // The same form again: same pending login, CSRF token and cookie, another new password.
    let again = b.change(&change, "Autumn-2026b").await;
    assert_eq!((again.status, again.location.as_deref()), (400, None), "{}", again.body);
    assert!(again.body.contains(EXPIRED), "{}", again.body);
    assert_eq!(b.cookie("orgid_session"), session, "no new session");
    // Nothing changed: the first new password signs in, the second does not.
    assert_eq!(login_from(&op, None, "zhangwei", "Autumn-2026b").await.status, 401);
    assert_eq!(login_from(&op, None, "zhangwei", "Spring-2026a").await.status, 303);
    assert_eq!(audit(&op, &["--type", "password_change"]).await.len(), 1, "one change");
    op.stop().await;
}

#[tokio::test]
async fn every_login_form_acts_once_and_only_for_the_password_it_was_sealed_for() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("zhangwei").await;
    let (_, challenge) = pkce();
    // Two browsers sign in with the initial password: two change forms for one password.
    let mut a = op.browser();
    let mut c = op.browser();
    let page = a.authorize(&code_params("vault", CB, &challenge, &[])).await;
    let change_a = a.login(&page, "zhangwei", &initial).await;
    let page = c.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let change_c = c.login(&page, "zhangwei", &initial).await;
    let otp = a.change(&change_a, "Spring-2026a").await;
    assert!(otp.body.contains("otpauth://"), "{}", otp.body);
    // c's form was never posted, but the password it was sealed for is gone.
    let late = c.change(&change_c, "Autumn-2026b").await;
    assert_eq!((late.status, late.location.as_deref()), (400, None), "{}", late.body);

    // The second factor: the right code once; the same form again is refused.
    let form = [("csrf", otp.field("csrf")), ("pending", otp.field("pending")), ("code", totp_code(&op, &otp))];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(a.post("/login/otp", &form).await.status, 303);
    let replay = a.post("/login/otp", &form).await;
    assert_eq!((replay.status, replay.location.as_deref()), (400, None), "{}", replay.body);

    // The expiry warning's "later": once.
    op.clock.advance(Duration::days(80));
    let mut w = op.browser();
    let page = w.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let warn = w.login(&page, "zhangwei", "Spring-2026a").await;
    assert!(warn.body.contains("即将过期"), "{}", warn.body);
    let later = [("csrf", warn.field("csrf")), ("pending", warn.field("pending")), ("choice", "continue".into())];
    let later: Vec<(&str, &str)> = later.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(w.post("/login/continue", &later).await.status, 303);
    assert_eq!(w.post("/login/continue", &later).await.status, 400);

    // The logout confirmation: once.
    let confirm = w.get("/logout").await;
    assert!(confirm.body.contains("/logout/confirm"), "{}", confirm.body);
    let form = [("csrf", confirm.field("csrf")), ("carry", confirm.field("carry"))];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = w.post("/logout/confirm", &form).await;
    assert!(out.status == 200 && out.body.contains("已退出"), "{}", out.body);
    assert_eq!(w.post("/logout/confirm", &form).await.status, 400);
    assert_eq!(audit(&op, &["--type", "password_change"]).await.len(), 1);
    op.stop().await;
}

#[tokio::test]
async fn a_client_gets_only_its_scopes_and_request_uri_has_its_own_error() {
    let op = Op::start(Backend::Sqlite, "").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    // OpenID Connect Core §3.1.2.6: request_uri and request each have their error.
    let p = b.authorize(&code_params("portal", CB, &challenge, &[("request_uri", "https://x.example/r")])).await;
    let p = p.redirect_params();
    assert_eq!((p["error"].as_str(), p["state"].as_str()), ("request_uri_not_supported", "st-1"));
    let p = b.authorize(&code_params("portal", CB, &challenge, &[("request", "eyJ9.e30.")])).await.redirect_params();
    assert_eq!(p["error"], "request_not_supported");
    // A scope the client may not have: invalid_scope, back to the client.
    let p = b.authorize(&asking("portal", &challenge, "openid admin", &[])).await.redirect_params();
    assert_eq!((p["error"].as_str(), p["state"].as_str()), ("invalid_scope", "st-1"), "{p:?}");
    assert_eq!(b.authorize(&asking("portal", &challenge, "openid profile org", &[])).await.status, 200);
    // The same at the token endpoint, for client credentials.
    let cc = |scope: &'static str| [("grant_type", "client_credentials"), ("scope", scope)];
    let (s, e) = op.token(&cc("admin"), Some(("portal", SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_scope")), "{e}");
    assert!(e.get("access_token").is_none());
    let (s, t) = op.token(&cc("openid"), Some(("portal", SECRET))).await;
    assert_eq!((s, t["scope"].as_str()), (200, Some("")), "a user scope means nothing without a user: {t}");
    op.stop().await;
}

#[tokio::test]
async fn configured_and_registered_clients_have_the_scopes_they_are_given() {
    let extra = format!(
        "[[clients]]\nid = \"batch\"\nsecret = \"batch-secret-0123456789\"\ngrants = [\"client_credentials\"]\n\
         scopes = [\"hr.read\", \"hr.export\"]\n\
         [[clients]]\nid = \"narrow\"\nsecret = \"narrow-secret-0123456789\"\nredirect_uris = [\"{CB}\"]\n\
         scopes = [\"openid\", \"profile\"]\n"
    );
    let op = Op::start(Backend::Sqlite, &extra).await;
    let batch = Some(("batch", "batch-secret-0123456789"));
    let cc = |scope: &'static str| [("grant_type", "client_credentials"), ("scope", scope)];
    let (s, t) = op.token(&cc("hr.read hr.export"), batch).await;
    assert_eq!((s, t["scope"].as_str()), (200, Some("hr.read hr.export")), "{t}");
    assert_eq!(op.introspect(t["access_token"].as_str().unwrap()).await["scope"], "hr.read hr.export");
    for other in ["hr.write", "openid", "hr.read admin"] {
        let (s, e) = op.token(&cc(other), batch).await;
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_scope")), "{other}: {e}");
    }
    let mut b = op.browser();
    let (_, challenge) = pkce();
    assert_eq!(b.authorize(&asking("narrow", &challenge, "openid profile", &[])).await.status, 200);
    let p = b.authorize(&asking("narrow", &challenge, "openid email", &[])).await.redirect_params();
    assert_eq!(p["error"], "invalid_scope");

    // `orgid clients add --scope`: those only; without, the standard ones.
    let (c, out) =
        orgid(&op.cfg, &["clients", "add", "hr-app", "--redirect-uri", CB, "--scope", "openid", "--scope", "org"])
            .await;
    assert_eq!(c, 0, "{out}");
    let (c, out) = orgid(&op.cfg, &["clients", "add", "wiki", "--redirect-uri", CB]).await;
    assert_eq!(c, 0, "{out}");
    assert_eq!(b.authorize(&asking("hr-app", &challenge, "openid org", &[])).await.status, 200);
    let p = b.authorize(&asking("hr-app", &challenge, "openid profile", &[])).await.redirect_params();
    assert_eq!(p["error"], "invalid_scope");
    let all = "openid profile email phone org offline_access";
    assert_eq!(b.authorize(&asking("wiki", &challenge, all, &[])).await.status, 200);
    let (_, list) = orgid(&op.cfg, &["clients", "list", "--format", "json"]).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    let scopes = |id: &str| list.as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["scopes"].clone();
    assert_eq!((scopes("hr-app"), scopes("wiki")), (Value::from("openid org"), Value::from(all)));
    let err = orgid_err(&op.cfg, &["clients", "add", "x", "--redirect-uri", CB, "--scope", "bad scope"]).await;
    assert!(err.contains("bad scope"), "{err}");
    let err = orgid_err(&op.cfg, &["clients", "add", "y", "--redirect-uri", CB, "--scope", "profile"]).await;
    assert!(err.contains("openid"), "{err}");
    op.stop().await;
}

#[tokio::test]
async fn failed_logins_are_throttled_per_login_and_per_address_alike_and_audited() {
    // The defaults: 10 failures per login and 20 per address in 5 minutes.
    let op = Op::start(Backend::Sqlite, "").await;
    op.reset("zhangwei").await;
    let initial = op.reset("wangfang").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    // An unknown login and a known one (locked after 5 failures, refused the same way after):
    // ten failures each, then 429 with the same words for both.
    let mut refusals = Vec::new();
    for login in ["ghost", "zhangwei"] {
        for i in 0..10 {
            assert_eq!(b.login(&page, login, "Wrong-pass-1").await.status, 401, "{login} attempt {i}");
        }
        let refused = b.login(&page, login, "Wrong-pass-1").await;
        assert_eq!(refused.status, 429, "{login}: {}", refused.body);
        let wait: u64 = refused.retry_after.as_deref().expect("Retry-After").parse().unwrap();
        assert!((1..=300).contains(&wait), "{wait}");
        assert!(refused.body.contains("登录失败次数过多") && refused.body.contains("name=\"password\""));
        refusals.push(refused.body.replace(login, "LOGIN"));
    }
    assert_eq!(refusals[0], refusals[1], "no account enumeration by the answer");

    // Twenty failures from 127.0.0.1: the address is spent too, even for a right password; a
    // program asking for JSON gets JSON.
    assert_eq!(b.login(&page, "wangfang", &initial).await.status, 429);
    let json = b
        .http()
        .post(format!("{}/login", op.base))
        .header("accept", "application/json")
        .form(&[
            ("csrf", page.field("csrf")),
            ("req", page.field("req")),
            ("login", "lina".into()),
            ("password", "x".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(json.status().as_u16(), 429);
    assert!(json.headers().contains_key("retry-after"));
    let body: Value = json.json().await.unwrap();
    assert_eq!(body["error"], "slow_down", "{body}");
    // Another address is not held back.
    let elsewhere = login_from(&op, from(3), "wangfang", &initial).await;
    assert_eq!(elsewhere.status, 200, "the initial password's change page: {}", elsewhere.body);

    // Every refusal is audited: its login, address and reason.
    let throttled: Vec<Value> = audit(&op, &["--type", "login", "--outcome", "failure"])
        .await
        .into_iter()
        .filter(|r| r["reason"] == "throttled")
        .collect();
    assert_eq!(throttled.len(), 4, "{throttled:?}");
    assert!(throttled.iter().all(|r| r["source_ip"] == "127.0.0.1"), "{throttled:?}");
    let logins: Vec<&str> = throttled.iter().map(|r| r["login"].as_str().unwrap()).collect();
    assert_eq!(logins, ["ghost", "zhangwei", "wangfang", "lina"], "in the order written");
    assert!(throttled[1]["company"].is_string(), "a known login's record names its company: {}", throttled[1]);

    // The budgets refill with time: a minute later, one more try each.
    op.clock.advance(Duration::minutes(1));
    assert_eq!(b.login(&page, "ghost", "Wrong-pass-1").await.status, 401);
    op.stop().await;
}

#[tokio::test]
async fn logins_abandoned_by_their_browsers_give_their_budget_back() {
    // One hash at a time: the abandoned attempts wait in the queue, each charged to the address.
    let op = Op::start(Backend::Sqlite, "[login]\nhash_workers = 1\n").await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let page = b.login(&page, "zhangwei", &initial).await;
    assert_eq!(b.change(&page, "Spring-2026a").await.status, 303);

    // 10 logins (the login's budget of failures), each given up by its browser 30 ms in, while it
    // waits for the hashing pool.
    let mut office = Browser::at_from(&op.base, from(5));
    let mut forms = Vec::new();
    for _ in 0..10 {
        // Each its own login page: a login that gets through spends its form.
        let page = office.authorize(&code_params("portal", CB, &challenge, &[])).await;
        forms.push((page.field("csrf"), page.field("req")));
    }
    let tries: Vec<_> = forms
        .into_iter()
        .map(|(csrf, req)| {
            let (http, base) = (office.http().clone(), op.base.clone());
            tokio::spawn(async move {
                let form =
                    [("csrf", csrf.as_str()), ("req", &req), ("login", "zhangwei"), ("password", "Spring-2026a")];
                let post = http.post(format!("{base}/login")).form(&form).send();
                tokio::time::timeout(StdDuration::from_millis(30), post).await.is_err()
            })
        })
        .collect();
    let mut abandoned = 0;
    for t in tries {
        abandoned += usize::from(t.await.unwrap());
    }
    // The first may get the idle pool and finish within the 30 ms; the others wait in its queue.
    assert!(abandoned >= 9, "{abandoned} of 10 given up in flight");
    // Once the checks they started are done, the login has its whole budget back.
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    let page = office.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let done = office.login(&page, "zhangwei", "Spring-2026a").await;
    assert_eq!(done.status, 303, "{}", done.body);
    op.stop().await;
}

#[tokio::test]
async fn a_full_hashing_pool_answers_503_with_retry_after_at_once() {
    let op = Op::start(Backend::Sqlite, "[login]\nhash_workers = 1\nhash_queue = 1\n").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let (csrf, req) = (page.field("csrf"), page.field("req"));
    // Spawned all at once (collected), then awaited.
    let tries: Vec<_> = (0..8)
        .map(|i| {
            let (http, base, csrf, req) = (b.http().clone(), op.base.clone(), csrf.clone(), req.clone());
            tokio::spawn(async move {
                let login = format!("ghost{i}");
                let form = [("csrf", csrf.as_str()), ("req", &req), ("login", &login), ("password", "Wrong-pass-1")];
                let res = http.post(format!("{base}/login")).form(&form).send().await.unwrap();
                let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                (res.status().as_u16(), retry, res.text().await.unwrap())
            })
        })
        .collect();
    let mut busy = 0;
    for t in tries {
        let (status, retry, body) = t.await.unwrap();
        match status {
            401 => {}
            503 => {
                busy += 1;
                assert_eq!(retry.as_deref(), Some("2"));
                assert!(body.contains("当前登录人数过多") && body.contains("name=\"password\""), "{body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!((1..=6).contains(&busy), "one hashing and one waiting: the others are turned away ({busy})");
    // Turned away is not a failure: nothing of them counts against the address.
    assert_eq!(audit(&op, &["--type", "login"]).await.len(), 8 - busy);
    op.stop().await;
}

/// The environment variable that makes [`serve_for_the_flood_test`] serve.
const SERVE_ENV: &str = "ORGID_E2E_FLOOD_SERVE";

/// Not a test of its own: the server of the flood and kill tests in a process of its own, so that its
/// memory is measured alone. The test runs this binary again for this one test, with
/// `ORGID_E2E_FLOOD_SERVE` naming the configuration; `orgid serve` runs until SIGTERM. Ignored in a
/// normal run; without the variable it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process of another test, which runs it with --ignored"]
async fn serve_for_the_flood_test() {
    let Ok(cfg) = std::env::var(SERVE_ENV) else { return };
    let (code, out) = orgid(Path::new(&cfg), &["serve"]).await;
    assert_eq!(code, 0, "{out}");
}

/// Peak and current resident memory of a process, in MiB (`VmHWM`, `VmRSS`).
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in {status}"));
        line[key.len()..].trim().trim_end_matches("kB").trim().parse().unwrap()
    };
    (kib("VmHWM:") / 1024, kib("VmRSS:") / 1024)
}

/// `orgid serve` in a process of its own (the test binary running [`serve_for_the_flood_test`]),
/// so that its memory is measured alone and it can be killed.
pub(crate) struct ServeProcess {
    child: tokio::process::Child,
    pub(crate) pid: u32,
    log: std::path::PathBuf,
}

impl ServeProcess {
    /// Starts it with the configuration `cfg` (whose server listens at `base`), logging next to
    /// it, and waits until it answers.
    pub(crate) async fn start(cfg: &Path, base: &str) -> ServeProcess {
        static STARTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log_path = cfg.with_file_name(format!("serve-{n}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "oidc_attack::serve_for_the_flood_test",
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(SERVE_ENV, cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let server = ServeProcess { child, pid, log: log_path };
        let http = reqwest::Client::new();
        let started = Instant::now();
        while http.get(format!("{base}/healthz")).send().await.is_err() {
            assert!(started.elapsed() < StdDuration::from_secs(60), "{}", server.log());
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to be gone (after a SIGKILL).
    pub(crate) async fn wait_dead(mut self) {
        tokio::time::timeout(StdDuration::from_secs(30), self.child.wait()).await.unwrap().unwrap();
    }

    /// SIGTERM: `orgid serve` stops cleanly.
    pub(crate) async fn stop(mut self) {
        let term = std::process::Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().unwrap();
        assert!(term.success());
        let exit = tokio::time::timeout(StdDuration::from_secs(30), self.child.wait()).await.unwrap().unwrap();
        assert!(exit.success(), "{}", self.log());
    }
}

#[tokio::test]
async fn a_flood_of_bad_logins_neither_takes_the_memory_nor_keeps_a_correct_login_waiting() {
    let dir = TempDir::new().unwrap();
    let hr = Hr::new(dir.path());
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12")], false);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let url = store_url(Backend::Sqlite, dir.path()).await;
    let cfg = hr.config(
        &url,
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[oidc]\nissuer = \"{base}\"\n[[clients]]\nid = \"portal\"\n\
             secret = \"{SECRET}\"\nredirect_uris = [\"{CB}\"]\n"
        ),
    );
    assert_eq!(orgid(&cfg, &["sync"]).await.0, 0);
    let (code, out) = orgid(&cfg, &["accounts", "reset-password", "zhangwei"]).await;
    assert_eq!(code, 0, "{out}");
    let initial = out.lines().last().unwrap().trim().to_string();

    let server = ServeProcess::start(&cfg, &base).await;
    let pid = server.pid;
    // zhangwei's own password, set at the first login.
    let mut first = Browser::at(&base);
    let (_, challenge) = pkce();
    let page = first.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let change = first.login(&page, "zhangwei", &initial).await;
    assert_eq!(first.change(&change, "Spring-2026a").await.status, 303);
    let (before, _) = memory_mib(pid);

    // 48, then 200 failed logins at once (unknown users), each flood from another machine.
    for (flood, attacker) in [(48, 2), (200, 3)] {
        let mut attacker = Browser::at_from(&base, from(attacker));
        let page = attacker.authorize(&code_params("portal", CB, &challenge, &[])).await;
        let (csrf, req) = (page.field("csrf"), page.field("req"));
        let tries: Vec<_> = (0..flood)
            .map(|i| {
                let (http, base, csrf, req) = (attacker.http().clone(), base.clone(), csrf.clone(), req.clone());
                tokio::spawn(async move {
                    let login = format!("nobody{i}");
                    let form = [("csrf", csrf.as_str()), ("req", &req), ("login", &login), ("password", "Guess-123")];
                    http.post(format!("{base}/login")).form(&form).send().await.unwrap().status().as_u16()
                })
            })
            .collect();
        // A correct login, started while they are in flight.
        tokio::time::sleep(StdDuration::from_millis(30)).await;
        let t0 = Instant::now();
        let mut user = Browser::at(&base);
        let page = user.authorize(&code_params("portal", CB, &challenge, &[])).await;
        let done = user.login(&page, "zhangwei", "Spring-2026a").await;
        let took = t0.elapsed();
        let mut statuses = Vec::new();
        for t in tries {
            statuses.push(t.await.unwrap());
        }
        let in_flight = t0.elapsed();
        let (peak, now) = memory_mib(pid);
        let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
        eprintln!(
            "flood of {flood}: correct login in {took:?} (flood answered in {in_flight:?}); 401×{} 429×{} 503×{}; \
             VmHWM {before} MiB before, {peak} MiB after, VmRSS {now} MiB",
            count(401),
            count(429),
            count(503)
        );
        assert_eq!(done.status, 303, "{}", done.body);
        assert!(done.redirect_params().contains_key("code"));
        assert!(took < StdDuration::from_secs(2), "a correct login took {took:?} during a flood of {flood}");
        assert!(statuses.iter().all(|s| [401, 429, 503].contains(s)), "{statuses:?}");
        assert!(count(401) >= 1, "some were checked: {statuses:?}");
        assert!(peak < 150, "peak RSS {peak} MiB after a flood of {flood}");
    }
    server.stop().await;
}
