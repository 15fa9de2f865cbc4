//! The console in headless Chromium (Debian's chromium and chromedriver): a real browser signs
//! in through orgid's own login pages and uses the server-rendered console.

use std::sync::Arc;

use orgid::app::App;
use orgid::services::workflow::{self as wf, AccountQuery};
use orgid_directory::workflow::{Principal, RequestState, Step};
use orgid_tests::{Browser, Slapd};
use tokio::net::TcpListener;

use crate::oidc::Op;
use crate::sync::{Backend, orgid};
use crate::workflow::{Env, open, profile};

/// Signs in to the console at `base` through the provider's login page, changing the one-time
/// initial password on the way (as a new user does).
pub(crate) async fn console_login(b: &Browser, base: &str, login: &str, initial: &str, new: &str) {
    b.goto(&format!("{base}/console/")).await;
    // Sent to the provider's login page (zh-CN by default), naming the console.
    let page = b.wait_for_text("统一身份认证", 10).await;
    assert!(page.contains("账号管理控制台"), "{page}");
    assert!(b.current_url().await.starts_with(&format!("{base}/authorize?")), "{}", b.current_url().await);
    b.fill("#login", login).await;
    b.fill("#password", initial).await;
    b.click("button[type=submit]").await;
    b.wait_for_text("初始密码", 10).await;
    b.fill("#new", new).await;
    b.fill("#repeat", new).await;
    b.click("button[type=submit]").await;
    b.wait_for_text("id=\"greeting\"", 10).await;
}

#[tokio::test]
async fn a_user_signs_in_to_the_console_through_the_login_page_and_out_again() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("wangfang").await;
    let b = Browser::start().await;
    console_login(&b, &op.base, "wangfang", &initial, "Autumn-2026b").await;

    assert_eq!(b.current_url().await, format!("{}/console/", op.base));
    assert_eq!(b.text("#greeting").await, "您好，王芳");
    assert_eq!(b.text("#login").await, "wangfang");
    let page = b.source().await;
    assert!(page.contains("lang=\"zh-CN\"") && page.contains("C010"), "{page}");

    // English on request, same session.
    b.goto(&format!("{}/console/?lang=en", op.base)).await;
    assert_eq!(b.text("#greeting").await, "Hello, 王芳");

    // Sign out: the console and the provider's session end; the console asks for a login again.
    b.click("#logout").await;
    b.wait_for_text("id=\"signin\"", 10).await;
    assert!(b.current_url().await.starts_with(&format!("{}/console/signed-out", op.base)));
    b.goto(&format!("{}/console/", op.base)).await;
    b.wait_for_text("统一身份认证", 10).await;
    assert!(b.find_all("#password").await.len() == 1, "the login form again, no silent SSO");
    b.quit().await;
    op.stop().await;
}

/// The secret of the `api-test` client of [`Site`].
pub(crate) const API_SECRET: &str = "api-test-secret-0123456789";

/// The workflow group of `workflow.rs` (roles granted, independent companies applied on the
/// first sync), with LDAP on a real slapd, served on a loopback port.
pub(crate) struct Site {
    pub(crate) env: Env,
    slapd: Slapd,
    pub(crate) base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Site {
    pub(crate) async fn start() -> Site {
        Site::start_on(Backend::Sqlite).await
    }

    /// The site on the given store backend.
    pub(crate) async fn start_on(backend: Backend) -> Site {
        let slapd = Slapd::start().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let extra = format!(
            "[workflow]\nindependent_roster = \"apply\"\n[oidc]\nissuer = \"{base}\"\n[[clients]]\nid = \"api-test\"\nsecret = \"{API_SECRET}\"\nredirect_uris = [\"{}\"]\n[ldap]\nurl = \"{}\"\nbind_dn = \"{}\"\nbind_password = \"{}\"\nbase_dn = \"{}\"\n",
            crate::oidc::CB,
            slapd.url(),
            slapd.bind_dn(),
            slapd.bind_password(),
            slapd.base_dn()
        );
        let env = Env::new(backend, &extra).await;
        // The sync above ran as a separate process on the wall clock and queued the directory
        // writes for then: the server's clock must not be behind it.
        let behind = chrono::Utc::now() - orgid_directory::Clock::now(env.clock.as_ref());
        env.clock.advance(behind);
        // The server gets its own App over the same store and clock; the test checks with env.app.
        let config = orgid::cli::load_config(Some(&env.cfg), Vec::new()).unwrap();
        let app = App::open_with_clock(config, env.clock.clone() as Arc<dyn orgid_directory::Clock>).await.unwrap();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(orgid::cli::serve::serve_on(app, listener, async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Site { env, slapd, base, stop: Some(stop), server: Some(server) }
    }

    /// A one-time initial password for `login` (`orgid accounts reset-password`, no notifier).
    pub(crate) async fn reset(&self, login: &str) -> String {
        let (code, out) = orgid(&self.env.cfg, &["accounts", "reset-password", login]).await;
        assert_eq!(code, 0, "{out}");
        out.lines().last().unwrap().trim().to_string()
    }

    /// Waits up to 30 s for the directory entry with `employee_number`; returns the LDIF.
    async fn ldap_entry(&self, employee_number: &str) -> String {
        let filter = format!("(employeeNumber={employee_number})");
        for _ in 0..60 {
            let found = self.slapd.search(self.slapd.base_dn(), "sub", &filter).await;
            // `dn::` (base64) when the DN has non-ASCII parts (ou=综合部).
            if found.starts_with("dn:") {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        let all = self.slapd.search(self.slapd.base_dn(), "sub", "(objectClass=*)").await;
        let dns: Vec<&str> = all.lines().filter(|l| l.starts_with("dn:")).collect();
        panic!(
            "no LDAP entry with employeeNumber {employee_number} after 30 s; the directory holds:\n{}",
            dns.join("\n")
        );
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.unwrap().unwrap();
        }
    }
}

#[tokio::test]
async fn an_independent_companys_delegate_opens_an_account_in_the_console_and_it_reaches_ldap() {
    let site = Site::start().await;
    let initial = site.reset("yangyang").await;
    let b = Browser::start().await;
    console_login(&b, &site.base, "yangyang", &initial, "Delegate-2026c").await;
    assert!(b.source().await.contains("信息运维岗"), "the home page lists the delegate's role");

    // The people list holds C021 only: 刘强 is there, 陈静 of C022 is not.
    b.goto(&format!("{}/console/people", site.base)).await;
    let people = b.wait_for_text("id=\"people\"", 10).await;
    assert!(people.contains("刘强") && !people.contains("陈静"), "{people}");

    // Form 1, with a mistake first: the errors come back next to their fields.
    b.goto(&format!("{}/console/requests/new?kind=open", site.base)).await;
    b.fill("#id_number", "123").await;
    b.fill("#employee_number", "B9").await;
    b.click("#submit").await;
    let page = b.wait_for_text("id=\"err-id_number\"", 10).await;
    assert!(page.contains("id=\"err-name\"") && page.contains("id=\"err-company\""), "{page}");
    assert_eq!(b.find_all("#err-employee_number").await.len(), 0, "a filled field has no error");

    b.fill("#id_number", &crate::hr::id_number(90)).await;
    b.fill("#name", "郑新").await;
    b.select("#gender", "male").await;
    b.select("#company", "C021").await;
    b.fill("#department", "综合部").await;
    b.fill("#title", "专员").await;
    b.fill("#grade", "M12").await;
    b.fill("#mobile", "13800000090").await;
    b.fill("#email", "b9@example.com").await;
    b.fill("#effective_date", "2026-09-28").await;
    b.click("#submit").await;
    b.wait_for_text("id=\"request\"", 15).await;
    // The delegate of an independent company acts directly: applied at once, no approval.
    assert_eq!(b.text("#f-state").await, "已办结", "{}", b.source().await);
    assert_eq!(b.text("#f-chain").await, "");

    // In the store: an active account in C021; in LDAP: its entry.
    let op = Principal::operator();
    let rows = wf::accounts(&site.env.app, &op, &AccountQuery { search: Some("B9".into()), ..Default::default() })
        .await
        .unwrap();
    let account = rows.iter().find(|r| r.employee_number == "B9").expect("an account for B9");
    assert_eq!((account.company.0.as_str(), account.status.as_str()), ("C021", "active"));
    let entry = site.ldap_entry("B9").await;
    assert!(entry.lines().any(|l| l == format!("uid: {}", account.login)), "{entry}");
    b.quit().await;
    site.stop().await;
}

#[tokio::test]
async fn group_hr_approves_a_pending_request_in_the_console_and_it_is_applied() {
    let site = Site::start().await;
    // C010's HR asks to open an account in group-operated C010: group HR must confirm.
    let hr = site.env.who("wangfang").await;
    let req = wf::submit(&site.env.app, &hr, open(91, profile("A9", "钱进", "C010", "M12", false))).await.unwrap();
    assert_eq!((req.state, req.chain.as_slice()), (RequestState::Pending, [Step::GroupHr].as_slice()));

    let initial = site.reset("lina").await;
    let b = Browser::start().await;
    console_login(&b, &site.base, "lina", &initial, "Approver-2026d").await;
    b.goto(&format!("{}/console/inbox", site.base)).await;
    let inbox = b.wait_for_text("id=\"inbox\"", 10).await;
    assert!(inbox.contains("钱进") && inbox.contains(&format!("decide-{}", req.id)), "{inbox}");
    b.fill(&format!("#decide-{} input[name=comment]", req.id), "同意开通").await;
    b.click(&format!("#decide-{} button.approve", req.id)).await;
    // Back in the inbox, without it (other requests may wait there: the sync's, of unrated N001).
    let mut left = true;
    for _ in 0..75 {
        let page = b.source().await;
        if page.contains("id=\"inbox\"") && !page.contains(&format!("decide-{}", req.id)) {
            left = false;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(!left, "the approved request is still in the inbox: {}", b.source().await);
    assert!(b.current_url().await.starts_with(&format!("{}/console/inbox", site.base)));

    // Applied: the store has the approval, the account, and LDAP the entry.
    let op = Principal::operator();
    let done = wf::request(&site.env.app, &op, req.id).await.unwrap();
    assert_eq!(done.state, RequestState::Applied, "{:?}", done.error);
    assert_eq!(done.approvals.len(), 1);
    assert_eq!((done.approvals[0].by.as_str(), done.approvals[0].comment.as_str()), ("lina", "同意开通"));
    let rows = wf::accounts(&site.env.app, &op, &AccountQuery { search: Some("A9".into()), ..Default::default() })
        .await
        .unwrap();
    let account = rows.iter().find(|r| r.employee_number == "A9").expect("an account for A9");
    assert_eq!(account.status.as_str(), "active");
    let entry = site.ldap_entry("A9").await;
    assert!(entry.lines().any(|l| l == format!("uid: {}", account.login)), "{entry}");

    // The request page shows the decision.
    b.goto(&format!("{}/console/requests/{}", site.base, req.id)).await;
    assert_eq!(b.text("#f-state").await, "已办结");
    assert!(b.source().await.contains("同意开通"));
    b.quit().await;
    site.stop().await;
}
