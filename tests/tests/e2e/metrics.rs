//! `/metrics` end to end (issue 19): `serve` with the provider and a real slapd is scraped, the
//! test acts (logins that fail and one that succeeds, a code and a client-credentials token, an
//! unknown route, a roster with a rejected row while the directory is down, operations the
//! target refused), and each family
//! moved by what was done. The dashboard and the alert rules in `packaging/` name only metrics
//! that a scrape has, so they cannot drift from the code.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use orgid_directory::store::OutboxStore;
use orgid_directory::target::TargetId;
use orgid_directory::target::ldap::DirOp;
use orgid_tests::Slapd;
use tempfile::TempDir;
use tokio::net::TcpListener;

use crate::hr::{Hr, Row};
use crate::oidc::{Browser, CB, SECRET, first_login, pkce};
use crate::sync::{Backend, orgid, store_url};

/// A scrape in the classic text format: each series (`name{labels}`) with its value.
struct Scrape {
    text: String,
    series: HashMap<String, f64>,
}

impl Scrape {
    fn parse(text: String) -> Scrape {
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect();
        Scrape { text, series }
    }

    /// A series' value; 0 when absent (a family with no sample yet).
    fn get(&self, series: &str) -> f64 {
        self.series.get(series).copied().unwrap_or(0.0)
    }

    fn has(&self, series: &str) -> bool {
        self.series.contains_key(series)
    }

    /// The sum of every series of a family.
    fn sum(&self, name: &str) -> f64 {
        self.series.iter().filter(|(k, _)| k.split('{').next() == Some(name)).map(|(_, v)| v).sum()
    }

    /// The sample names (`orgid_http_request_duration_seconds_bucket`, …).
    fn names(&self) -> BTreeSet<String> {
        self.series.keys().map(|k| k.split('{').next().unwrap_or_default().to_string()).collect()
    }
}

async fn scrape(http: &reqwest::Client, base: &str) -> Scrape {
    let res = http.get(format!("{base}/metrics")).send().await.expect("scrape");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    Scrape::parse(res.text().await.expect("body"))
}

/// Scrapes until `ready` holds (bounded).
async fn scrape_until(http: &reqwest::Client, base: &str, what: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    for _ in 0..300 {
        let s = scrape(http, base).await;
        if ready(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not seen in 30 s:\n{}", scrape(http, base).await.text);
}

#[tokio::test]
async fn every_metric_moves_as_serve_is_used_and_the_dashboard_and_rules_name_only_real_metrics() {
    let dir = TempDir::new().expect("tempdir");
    let hr = Hr::new(dir.path());
    let people = [Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12")];
    hr.write(&people, false);
    let mut slapd = Slapd::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let url = store_url(Backend::Sqlite, dir.path()).await;
    let extra = format!(
        "[oidc]\nissuer = \"{base}\"\n[[clients]]\nid = \"portal\"\nsecret = \"{SECRET}\"\nredirect_uris = [\"{CB}\"]\n\
         grants = [\"authorization_code\", \"refresh_token\", \"client_credentials\"]\n\
         [ldap]\nurl = \"{}\"\nbind_dn = \"cn=admin,dc=example,dc=com\"\nbind_password = \"secret\"\n\
         base_dn = \"dc=example,dc=com\"\nreconcile_schedule = \"* * * * * *\"\n",
        slapd.url()
    );
    let cfg = hr.config(&url, &extra);
    assert_eq!(orgid(&cfg, &["sync"]).await.0, 0);
    let initial = {
        let (code, out) = orgid(&cfg, &["accounts", "reset-password", "zhangwei"]).await;
        assert_eq!(code, 0, "{out}");
        out.lines().last().expect("password").trim().to_string()
    };
    // The HR sync every second from now on.
    let text =
        std::fs::read_to_string(&cfg).expect("read").replacen("schedule = \"\"", "schedule = \"* * * * * *\"", 1);
    std::fs::write(&cfg, text).expect("write");
    let config = orgid::cli::load_config(Some(&cfg), Vec::new()).expect("config");
    let app = orgid::app::App::open(config).await.expect("open");
    let started = chrono::Utc::now().timestamp() as f64;
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(orgid::cli::serve::serve_on(app, listener, async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let before = scrape(&http, &base).await;
    for family in [
        "orgid_logins_total{outcome=\"success\",reason=\"\"}",
        "orgid_logins_total{outcome=\"failure\",reason=\"bad_password\"}",
        "orgid_sync_runs_total{status=\"incomplete\"}",
        "orgid_sync_rows_rejected_total",
        "orgid_outbox_pending{target=\"ldap\"}",
        "orgid_outbox_parked{target=\"ldap\"}",
        "orgid_leader",
    ] {
        assert!(before.has(family), "{family} from the first scrape on:\n{}", before.text);
    }
    assert!(before.text.contains("orgid_build_info{version=\""), "{}", before.text);

    // Logins: a wrong password, an unknown user, then a first login (with its password change).
    let mut b = Browser::at(&base);
    let (verifier, challenge) = pkce();
    let page = b.authorize(&crate::oidc::code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(b.login(&page, "zhangwei", "Wrong-Passw0rd").await.status, 401);
    assert_eq!(b.login(&page, "nobody", "Wrong-Passw0rd").await.status, 401);
    let params = first_login(&mut b, "portal", &initial, "Metrics-Passw0rd-19", &challenge).await;
    // Tokens: the code, then the client on its own.
    let token = |form: Vec<(&'static str, String)>| {
        let req = http.post(format!("{base}/token")).basic_auth("portal", Some(SECRET)).form(&form);
        async move { req.send().await.expect("token").status().as_u16() }
    };
    let code_form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", params["code"].clone()),
        ("redirect_uri", CB.to_string()),
        ("code_verifier", verifier),
    ];
    assert_eq!(token(code_form).await, 200);
    assert_eq!(token(vec![("grant_type", "client_credentials".to_string())]).await, 200);
    assert_eq!(http.get(format!("{base}/no/such/page")).send().await.expect("get").status(), 404);

    // The scheduled reconcile (every second) leaves the directory matching the store.
    scrape_until(&http, &base, "a clean reconcile", |s| {
        s.get("orgid_target_last_reconcile_timestamp_seconds{target=\"ldap\"}") >= started
    })
    .await;
    // The directory goes down; the roster gains one person and one row that is rejected.
    slapd.kill();
    let mut bad = Row::new(4, "C010", "A3", "赵敏", "M12");
    bad.title = "经\u{7}理".into();
    let mut rows = people.to_vec();
    rows.extend([Row::new(3, "C010", "A2", "李娜", "M12"), bad]);
    hr.write(&rows, false);
    let after = scrape_until(&http, &base, "a rejected row, a backlog, the directory down", |s| {
        s.get("orgid_sync_rows_rejected_total") >= 1.0
            && s.get("orgid_outbox_pending{target=\"ldap\"}") >= 2.0
            && s.has("orgid_directory_up")
            && s.get("orgid_directory_up") == 0.0
            && s.get("orgid_login_writes_total") >= before.get("orgid_login_writes_total") + 3.0
    })
    .await;
    let moved = |series: &str| after.get(series) - before.get(series);

    // HTTP, by route template and status.
    assert_eq!(moved("orgid_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"}"), 2.0);
    assert_eq!(
        moved("orgid_http_request_duration_seconds_count{route=\"/token\",method=\"POST\",status=\"200\"}"),
        2.0
    );
    assert_eq!(moved("orgid_http_requests_total{route=\"/login\",method=\"POST\",status=\"401\"}"), 2.0);
    assert_eq!(moved("orgid_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"), 1.0);
    assert!(after.get("orgid_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}") >= 2.0);
    assert!(!after.text.contains("/no/such/page"), "raw paths are never labels");
    // Logins by outcome and reason; tokens by client and grant.
    assert_eq!(moved("orgid_logins_total{outcome=\"success\",reason=\"\"}"), 1.0);
    assert_eq!(moved("orgid_logins_total{outcome=\"failure\",reason=\"bad_password\"}"), 1.0);
    assert_eq!(moved("orgid_logins_total{outcome=\"failure\",reason=\"unknown_user\"}"), 1.0);
    assert_eq!(moved("orgid_tokens_issued_total{client=\"portal\",grant=\"authorization_code\"}"), 1.0);
    assert_eq!(moved("orgid_tokens_issued_total{client=\"portal\",grant=\"client_credentials\"}"), 1.0);
    assert_eq!(moved("orgid_token_writes_total"), 2.0);
    assert!(moved("orgid_login_write_groups_total") >= 1.0);
    // The sync: each run after the roster changed rejected its one bad row.
    let runs = after.sum("orgid_sync_runs_total") - before.sum("orgid_sync_runs_total");
    let rejected = moved("orgid_sync_rows_rejected_total");
    assert!(rejected >= 1.0 && rejected <= runs, "{rejected} rows rejected in {runs} runs");
    assert!(after.get("orgid_sync_last_success_timestamp_seconds") >= started, "{}", after.text);
    assert!(after.get("orgid_sync_last_run_timestamp_seconds") >= started);
    // The outbox holds what the directory did not take; nothing is parked yet.
    assert!(moved("orgid_outbox_pending{target=\"ldap\"}") >= 1.0);
    assert_eq!(after.get("orgid_outbox_parked{target=\"ldap\"}"), 0.0);
    assert!(after.get("orgid_outbox_oldest_pending_timestamp_seconds{target=\"ldap\"}") >= started);
    assert!(after.get("orgid_target_last_reconcile_timestamp_seconds{target=\"ldap\"}") >= started);
    // The process.
    assert!(after.get("process_resident_memory_bytes") > 1e6, "{}", after.text);
    assert!(after.get("process_open_fds") >= 3.0);
    assert!(after.get("process_cpu_seconds_total") > 0.0);
    let start = after.get("process_start_time_seconds");
    assert!(start <= started + 1.0 && start > started - 3600.0, "{start}");

    // The target refuses two of the waiting operations, as the drain records it: one to be
    // retried, one parked (PARK_AFTER reached).
    let store = orgid::app::App::open(orgid::cli::load_config(Some(&cfg), Vec::new()).expect("config"))
        .await
        .expect("open")
        .store
        .clone();
    let waiting = store.outbox_batch::<DirOp>(10).await.expect("outbox");
    assert!(waiting.len() >= 2, "{waiting:?}");
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    store.outbox_retry(TargetId::Ldap, waiting[0].seq, "refused: retry", later, 8).await.expect("retry");
    store.outbox_retry(TargetId::Ldap, waiting[1].seq, "refused: park", later, 1).await.expect("park");
    let refused = scrape(&http, &base).await;
    let target = |name: &str| format!("{name}{{target=\"ldap\"}}");
    assert_eq!(refused.get(&target("orgid_outbox_retrying")) - after.get(&target("orgid_outbox_retrying")), 1.0);
    assert_eq!(refused.get(&target("orgid_outbox_parked")), 1.0);
    assert_eq!(refused.get(&target("orgid_outbox_pending")), after.get(&target("orgid_outbox_pending")) - 1.0);

    // OpenMetrics for a scraper that asks for it (Prometheus does).
    let res = http
        .get(format!("{base}/metrics"))
        .header("accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        .send()
        .await
        .expect("scrape");
    assert!(res.headers()["content-type"].to_str().unwrap_or_default().starts_with("application/openmetrics-text"));
    let om = res.text().await.expect("body");
    assert!(om.ends_with("# EOF\n") && om.contains("# TYPE orgid_logins counter\n"), "{om}");

    // The dashboard and the alert rules name only what a scrape has.
    let names = after.names();
    for file in ["packaging/grafana/orgid.json", "packaging/prometheus/orgid-rules.yml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let used = referenced(&text);
        assert!(used.len() >= 8, "{file}: {used:?}");
        let missing: Vec<_> = used.iter().filter(|n| !names.contains(*n)).collect();
        assert!(missing.is_empty(), "{file} names metrics no scrape has: {missing:?}\n{names:?}");
    }

    stop.send(()).expect("stop");
    tokio::time::timeout(Duration::from_secs(30), server).await.expect("stops").expect("task").expect("clean exit");
}

/// The metric names a dashboard or rules file uses: every `orgid_…` and `process_…` word.
fn referenced(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (i, _) in text.match_indices(['o', 'p']) {
        if i > 0 && text[..i].chars().next_back().is_some_and(word) {
            continue;
        }
        let rest = &text[i..];
        if rest.starts_with("orgid_") || rest.starts_with("process_") {
            let end = rest.find(|c: char| !word(c)).unwrap_or(rest.len());
            found.insert(rest[..end].to_string());
        }
    }
    found
}
