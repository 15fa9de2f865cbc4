//! The provider's audit trail end to end: a browser fails a login, logs in (changing its initial
//! password), the relying party exchanges the code, the browser logs out; then `orgid audit
//! query` finds each step with the request's address, client and session, nothing secret is in
//! the trail, and `orgid audit verify` passes.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest_cookie_store::CookieStoreMutex;
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;

use crate::hr::{Hr, Row};
use crate::sync::{Backend, orgid, store_url};

const SECRET: &str = "portal-secret-0123456789";
const CB: &str = "http://127.0.0.1:9/cb";
const BYE: &str = "http://127.0.0.1:9/bye";
const AGENT: &str = "oidc-audit-test/1.0 (e2e)";

/// A synced group with one account, 张伟 (`zhangwei`), served on a local port.
struct Server {
    _dir: TempDir,
    base: String,
    cfg: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start() -> Server {
        let dir = TempDir::new().unwrap();
        let hr = Hr::new(dir.path());
        hr.write(&[Row::new(1, "G000", "G1", "张伟", "")], false);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let url = store_url(Backend::Sqlite, dir.path()).await;
        let clients = format!(
            "[oidc]\nissuer = \"{base}\"\n[[clients]]\nid = \"portal\"\nsecret = \"{SECRET}\"\n\
             redirect_uris = [\"{CB}\"]\npost_logout_redirect_uris = [\"{BYE}\"]\n"
        );
        let cfg = hr.config(&url, &clients);
        assert_eq!(orgid(&cfg, &["sync"]).await.0, 0);
        let config = orgid::cli::load_config(Some(&cfg), Vec::new()).unwrap();
        let app = orgid::app::App::open(config).await.unwrap();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(orgid::cli::serve::serve_on(app, listener, async {
            let _ = rx.await;
        }));
        Server { _dir: dir, base, cfg, stop, task }
    }

    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }

    /// `orgid audit query … --format json`: the records.
    async fn query(&self, filter: &[&str]) -> Vec<Value> {
        let mut args = vec!["audit", "query", "--all", "--format", "json"];
        args.extend_from_slice(filter);
        let (code, out) = orgid(&self.cfg, &args).await;
        assert_eq!(code, 0, "{args:?}: {out}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        v["records"].as_array().cloned().unwrap_or_default()
    }

    /// The one record matching `filter`.
    async fn one(&self, filter: &[&str]) -> Value {
        let mut found = self.query(filter).await;
        assert_eq!(found.len(), 1, "{filter:?}: {found:?}");
        found.remove(0)
    }
}

/// A browser that keeps cookies (in reqwest's cookie store) and does not follow redirects.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: Arc<CookieStoreMutex>,
}

/// A response: status, redirect target, body.
struct Reply(u16, Option<String>, String);

impl Reply {
    /// A hidden form field's value.
    fn field(&self, name: &str) -> String {
        let pat = format!("name=\"{name}\" value=\"");
        let start = self.2.find(&pat).unwrap_or_else(|| panic!("no {name} in {}", self.2)) + pat.len();
        let end = self.2[start..].find('"').unwrap() + start;
        self.2[start..end]
            .replace("&amp;", "&")
            .replace("&#38;", "&")
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
    }

    fn query(&self) -> HashMap<String, String> {
        let loc = self.1.as_ref().unwrap_or_else(|| panic!("no redirect ({}): {}", self.0, self.2));
        url::Url::parse(loc).unwrap().query_pairs().into_owned().collect()
    }
}

impl Browser {
    /// A fresh browser (no cookies) for the server at `base`, sending `AGENT` as its user agent.
    fn at(base: &str) -> Browser {
        let cookies = Arc::new(CookieStoreMutex::default());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(AGENT)
            .cookie_provider(cookies.clone())
            .build()
            .unwrap();
        Browser { base: base.to_string(), http, cookies }
    }

    /// The value of the cookie `name` that this browser would send to the server's pages.
    fn cookie(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(&self.base).unwrap();
        let store = self.cookies.lock().unwrap();
        store.matches(&url).into_iter().find(|c| c.name() == name).map(|c| c.value().to_string())
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.unwrap();
        let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        Reply(res.status().as_u16(), location, res.text().await.unwrap())
    }

    async fn get(&mut self, path: &str) -> Reply {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    async fn login(&mut self, page: &Reply, login: &str, password: &str) -> Reply {
        let (csrf, req) = (page.field("csrf"), page.field("req"));
        self.post("/login", &[("csrf", &csrf), ("req", &req), ("login", login), ("password", password)]).await
    }
}

#[tokio::test]
async fn a_login_flow_leaves_a_verifiable_audit_trail() {
    let server = Server::start().await;
    let (code, out) = orgid(&server.cfg, &["accounts", "reset-password", "zhangwei"]).await;
    assert_eq!(code, 0, "{out}");
    let initial = out.lines().last().unwrap().trim().to_string();
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).user_agent(AGENT).build().unwrap();
    let mut b = Browser::at(&server.base);

    // A wrong password, then the initial one (changed on the way), then the code.
    let verifier = B64.encode([9u8; 40]);
    let challenge = B64.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", "portal"),
            ("redirect_uri", CB),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let page = b.get(&format!("/authorize?{q}")).await;
    assert_eq!(page.0, 200, "{}", page.2);
    assert_eq!(b.login(&page, "zhangwei", "Not-the-password-1").await.0, 401);
    let change = b.login(&page, "zhangwei", &initial).await;
    assert_eq!(change.0, 200, "{}", change.2);
    let new_password = "Spring-2026a";
    let (csrf, pending) = (change.field("csrf"), change.field("pending"));
    let done = b
        .post("/password", &[("csrf", &csrf), ("pending", &pending), ("new", new_password), ("repeat", new_password)])
        .await;
    assert_eq!(done.0, 303, "{}", done.2);
    let code = done.query()["code"].clone();
    let session_cookie = b.cookie("orgid_session").expect("a session cookie");

    let res = http
        .post(format!("{}/token", server.base))
        .basic_auth("portal", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let tokens: Value = res.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap().to_string();

    let bye = url::form_urlencoded::byte_serialize(BYE.as_bytes()).collect::<String>();
    let out = b.get(&format!("/logout?id_token_hint={id_token}&post_logout_redirect_uri={bye}")).await;
    assert_eq!(out.0, 303, "{}", out.2);

    // The failed login: its reason, the browser's address and agent, the client.
    let failed = server.one(&["--type", "login", "--outcome", "failure", "--ip", "127.0.0.1"]).await;
    assert_eq!(failed["reason"], "bad_password", "{failed}");
    assert_eq!((&failed["login"], &failed["client_id"]), (&Value::from("zhangwei"), &Value::from("portal")));
    assert_eq!((&failed["source_ip"], &failed["user_agent"]), (&Value::from("127.0.0.1"), &Value::from(AGENT)));
    let company = failed["company"].as_str().expect("the account's company").to_string();

    // The success names the new session; the tokens and the logout name the same one.
    let login = server.one(&["--type", "login", "--outcome", "success", "--login", "zhangwei"]).await;
    let sid = login["session_id"].as_str().expect("a session id").to_string();
    assert_eq!(sid.len(), 16, "{login}");
    assert_eq!((&login["client_id"], &login["source_ip"]), (&Value::from("portal"), &Value::from("127.0.0.1")));
    let issued = server.one(&["--type", "token_issued", "--client", "portal"]).await;
    assert_eq!(issued["details"]["attrs"]["grant"], "authorization_code", "{issued}");
    assert_eq!((&issued["login"], &issued["session_id"]), (&Value::from("zhangwei"), &Value::from(sid.as_str())));
    let logout = server.one(&["--type", "logout", "--login", "zhangwei"]).await;

    // The login writes went through group commit, each with its login record.
    let metrics = http.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    let counter = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{metrics}"));
        line[name.len()..].trim().parse().unwrap()
    };
    let logins = server.query(&["--type", "login"]).await.len() as u64;
    assert_eq!(counter("orgid_login_writes_total"), logins, "one login write per login record: {metrics}");
    // A refresh rotates in a transaction of its own; the other grants are token writes.
    let all_issued = server.query(&["--type", "token_issued"]).await;
    let grants = all_issued.iter().filter(|e| e["details"]["attrs"]["grant"] != "refresh_token").count() as u64;
    assert_eq!(counter("orgid_token_writes_total"), grants, "one token write per new grant: {metrics}");
    let groups = counter("orgid_login_write_groups_total");
    assert!((1..=logins + grants).contains(&groups), "{metrics}");
    assert_eq!((&logout["session_id"], &logout["client_id"]), (&Value::from(sid.as_str()), &Value::from("portal")));
    assert_eq!(logout["actor_kind"], "user");

    // The reset by the operator, the change by the holder; every record carries the company.
    let reset = server.one(&["--type", "password_reset"]).await;
    assert_eq!((&reset["actor_kind"], &reset["actor"]), (&Value::from("admin"), &Value::from("cli")));
    let changed = server.one(&["--type", "password_change"]).await;
    assert_eq!(
        (&changed["actor"], &changed["reason"]),
        (&Value::from("zhangwei"), &Value::from("initial password replaced"))
    );
    for r in [&failed, &login, &issued, &logout, &reset, &changed] {
        assert_eq!(r["company"], company.as_str(), "{r}");
    }

    // Nothing secret in the trail: no password, code, token or session cookie.
    let (code_all, all) = orgid(&server.cfg, &["audit", "query", "--all", "--format", "json"]).await;
    assert_eq!(code_all, 0);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    for secret in
        [initial.as_str(), new_password, "Not-the-password-1", &code, refresh, access, &session_cookie, SECRET]
    {
        assert!(!all.contains(secret), "a secret reached the audit trail");
    }
    let (code, out) = orgid(&server.cfg, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit trail intact"), "{out}");
    server.shutdown().await;
}
