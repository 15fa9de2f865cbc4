//! Personal notices (`[notices]`) through WeCom (the double) and mail (a real aiosmtpd): a
//! password 7 days from expiry is told once on each channel, a failed send is retried, and
//! nothing is sent twice across restarts (each `orgid notices run` is a new process, as `serve`'s
//! periodic sweep after a restart would be); a request waiting for approval, an overdue request
//! and an open roster check are each told once to whoever acts on them.

use std::path::PathBuf;
use std::time::Duration;

use orgid_tests::wecom::{AGENT_ID, APP_SECRET, CONTACTS_SECRET, CORP_ID};
use orgid_tests::{Smtp, WecomDouble};
use tempfile::TempDir;

use crate::alerts::subject;
use crate::hr::Hr;
use crate::ldap_sync::month_one;
use crate::sync::{Backend, orgid, store_url};

struct Env {
    _dir: TempDir,
    cfg: PathBuf,
}

/// The month-one group, synced into the double; passwords live 7 days, so a password set now is
/// 7 days from expiry.
async fn env(backend: Backend, w: &WecomDouble, smtp: &Smtp) -> Env {
    env_with(backend, w, smtp, "").await
}

/// `more` goes before the other sections.
async fn env_with(backend: Backend, w: &WecomDouble, smtp: &Smtp, more: &str) -> Env {
    let dir = TempDir::new().unwrap();
    let hr = Hr::new(dir.path());
    let url = store_url(backend, dir.path()).await;
    let extra = format!(
        "{more}\n[password]\nmax_age_days = 7\nwarn_days = 3\n[alerts]\nmail_from = \"orgid@example.com\"\nsmtp_url = \"{}\"\n\
         [notices]\nchannels = [\"wecom\", \"mail\"]\nretry_secs = 1\n[wecom]\nbase_url = \"{}\"\ncorp_id = \"{CORP_ID}\"\n\
         contacts_secret = \"{CONTACTS_SECRET}\"\nagent_id = {AGENT_ID}\napp_secret = \"{APP_SECRET}\"\nthrottle_ms = 20\n",
        smtp.url(),
        w.base_url()
    );
    let cfg = hr.config(&url, &extra);
    hr.write(&month_one(), false);
    let (code, out) = orgid(&cfg, &["sync"]).await;
    assert!(code == 0 || code == 4, "{out}");
    Env { _dir: dir, cfg }
}

impl Env {
    async fn run(&self) -> (u8, String) {
        orgid(&self.cfg, &["notices", "run"]).await
    }

    async fn reset(&self, login: &str) {
        let (code, out) = orgid(&self.cfg, &["accounts", "reset-password", login]).await;
        assert_eq!(code, 0, "{out}");
    }
}

/// The WeCom messages warning of a password's expiry (a reset's one-time password goes too).
fn expiry_msgs(w: &WecomDouble) -> Vec<orgid_tests::wecom::SentMessage> {
    w.messages().into_iter().filter(|m| m.content.starts_with("密码将在")).collect()
}

/// The expiry mails to `to`.
fn expiry_mails(smtp: &Smtp, to: &str) -> usize {
    mails_to(smtp, to).iter().filter(|(s, _)| s.starts_with("密码将在")).count()
}

/// The mails to `to` so far: (subject, whole message).
fn mails_to(smtp: &Smtp, to: &str) -> Vec<(String, String)> {
    smtp.messages()
        .into_iter()
        .filter(|m| m.lines().any(|l| l.starts_with("To:") && l.contains(to)))
        .map(|m| (subject(&m), m))
        .collect()
}

async fn wait_for_mails(smtp: &Smtp, to: &str, n: usize) {
    let started = std::time::Instant::now();
    while mails_to(smtp, to).len() < n && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_password_seven_days_from_expiry_is_told_once_by_wecom_and_mail() {
    let (w, smtp) = (WecomDouble::start().await, Smtp::start().await);
    let env = env(Backend::Sqlite, &w, &smtp).await;
    // Nobody has a password yet: nothing to tell.
    let (code, out) = env.run().await;
    assert_eq!((code, out.trim()), (0, "notices: 0 queued, 0 sent, 0 failed (retried later)"));

    env.reset("wangfang").await;
    let (code, out) = env.run().await;
    assert_eq!((code, out.trim()), (0, "notices: 2 queued, 2 sent, 0 failed (retried later)"), "{out}");
    let msgs = expiry_msgs(&w);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].touser, "wangfang");
    assert!(msgs[0].content.contains("密码将在 7 天后过期") && msgs[0].content.contains("王芳"), "{}", msgs[0].content);
    wait_for_mails(&smtp, "a1@example.com", 2).await;
    assert_eq!(expiry_mails(&smtp, "a1@example.com"), 1, "{:?}", smtp.messages());
    assert!(mails_to(&smtp, "a1@example.com").iter().any(|(s, _)| s == "密码将在 7 天后过期"));

    // Restarts: each run is a new process; nothing is queued or sent again.
    for _ in 0..2 {
        let (code, out) = env.run().await;
        assert_eq!((code, out.trim()), (0, "notices: 0 queued, 0 sent, 0 failed (retried later)"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(expiry_msgs(&w).len(), 1);
    assert_eq!(expiry_mails(&smtp, "a1@example.com"), 1);
    assert_eq!(w.messages().len(), 2, "the reset's one-time password and the warning, nobody else");
    assert_eq!(smtp.messages().len(), 2, "nobody else was told");
}

#[tokio::test]
async fn a_failed_wecom_send_is_retried_and_sent_once() {
    let (w, smtp) = (WecomDouble::start().await, Smtp::start().await);
    let env = env(Backend::Sqlite, &w, &smtp).await;
    env.reset("zhangwei").await;
    // WeCom refuses the app's messages (60020: not allowed from this address).
    w.fail_messages(Some(60020));
    let (code, out) = env.run().await;
    assert_eq!((code, out.trim()), (1, "notices: 2 queued, 1 sent, 1 failed (retried later)"), "{out}");
    assert!(expiry_msgs(&w).is_empty());
    assert_eq!(w.count("message/send", 60020), 1);
    // Before its retry time: not tried again.
    let (code, out) = env.run().await;
    assert_eq!((code, out.trim()), (0, "notices: 0 queued, 0 sent, 0 failed (retried later)"), "{out}");
    assert_eq!(w.count("message/send", 60020), 1);
    // Still failing after the first delay (1 s): tried again, the next delay doubles.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (code, _) = env.run().await;
    assert_eq!(code, 1);
    assert_eq!(w.count("message/send", 60020), 2);
    // WeCom is back: sent once after the doubled delay (2 s), and never again.
    w.fail_messages(None);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (code, out) = env.run().await;
    assert_eq!((code, out.trim()), (0, "notices: 0 queued, 1 sent, 0 failed (retried later)"), "{out}");
    let (code, out) = env.run().await;
    assert_eq!((code, out.trim()), (0, "notices: 0 queued, 0 sent, 0 failed (retried later)"), "{out}");
    let msgs = expiry_msgs(&w);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].touser, "zhangwei");
    wait_for_mails(&smtp, "g1@example.com", 2).await;
    assert_eq!(expiry_mails(&smtp, "g1@example.com"), 1, "the mail went out once, the first time");
}

#[tokio::test]
async fn a_request_waiting_for_approval_is_told_to_its_approvers_once() {
    use crate::workflow::{APPLY, Env as Group, open, profile};
    use orgid::services::workflow as wf;
    let (w, smtp) = (WecomDouble::start().await, Smtp::start().await);
    let extra = format!(
        "{APPLY}\n[alerts]\nmail_from = \"orgid@example.com\"\nsmtp_url = \"{}\"\n[notices]\nchannels = [\"wecom\", \"mail\"]\n\
         [wecom]\nbase_url = \"{}\"\ncorp_id = \"{CORP_ID}\"\ncontacts_secret = \"{CONTACTS_SECRET}\"\n\
         agent_id = {AGENT_ID}\napp_secret = \"{APP_SECRET}\"\nthrottle_ms = 20\n",
        smtp.url(),
        w.base_url()
    );
    let g = Group::new(Backend::Sqlite, &extra).await;
    let sweep = || orgid::services::notices::sweep(&g.app);
    // 孙浩's opening (an unrated company) waits for approval since the sync: told at once.
    let first = sweep().await.unwrap();
    assert!(first.queued > 0 && first.sent as u64 == first.queued && first.failed == 0, "{first:?}");
    assert!(w.messages().iter().all(|m| m.content.contains("孙浩")), "{:?}", w.messages());
    let before = w.messages().len();
    let mails_before = smtp.messages().len();

    // C010's HR submits an opening: it waits for group HR (李娜).
    let hr = g.who("wangfang").await;
    let r = wf::submit(&g.app, &hr, open(20, profile("A20", "郑爽", "C010", "M13", false))).await.expect("submit");
    let s = sweep().await.unwrap();
    assert_eq!((s.sent as u64, s.failed), (s.queued, 0), "{s:?}");
    let msgs = w.messages()[before..].to_vec();
    let to: Vec<&str> = msgs.iter().map(|m| m.touser.as_str()).collect();
    assert!(to.contains(&"lina"), "group HR decides it: {to:?}");
    assert!(!to.contains(&"wangfang") && !to.contains(&"yangyang") && !to.contains(&"wugang"), "{to:?}");
    let lina = msgs.iter().find(|m| m.touser == "lina").unwrap();
    assert!(lina.content.contains("待您审批") && lina.content.contains("郑爽"), "{}", lina.content);
    assert_eq!(to.iter().filter(|t| **t == "lina").count(), 1);
    let started = std::time::Instant::now();
    while smtp.messages().len() < mails_before + msgs.len() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let to_lina = mails_to(&smtp, "g2@example.com");
    assert_eq!(to_lina.iter().filter(|(s, _)| s.contains("郑爽")).count(), 1, "{to_lina:?}");
    let msgs = w.messages();

    // Nothing twice; once approved (and applied), nothing more.
    let again = sweep().await.unwrap();
    assert_eq!((again.queued, again.sent), (0, 0));
    wf::approve(&g.app, &g.who("lina").await, r.id, true, "").await.expect("approve");
    let after = sweep().await.unwrap();
    assert_eq!((after.queued, after.sent), (0, 0));
    assert_eq!(w.messages().len(), msgs.len());
}

/// `serve` with its notices job every second, until `stop` is sent.
async fn serve(
    cfg: &std::path::Path,
    listener: tokio::net::TcpListener,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let config = orgid::cli::load_config(Some(cfg), Vec::new()).unwrap();
    let app = orgid::app::App::open(config).await.unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(orgid::cli::serve::serve_on(app, listener, async {
        let _ = rx.await;
    }));
    (stop, task)
}

#[tokio::test]
async fn serve_tells_on_its_own_and_not_again_after_a_restart() {
    let (w, smtp) = (WecomDouble::start().await, Smtp::start().await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let env = env_with(Backend::Sqlite, &w, &smtp, &format!("[oidc]\nissuer = \"http://{addr}\"")).await;
    let cfg = env.cfg.clone();
    let text = std::fs::read_to_string(&cfg).unwrap().replace("retry_secs = 1", "retry_secs = 1\ninterval_secs = 1");
    std::fs::write(&cfg, text).unwrap();
    env.reset("wangfang").await;

    let (stop, task) = serve(&env.cfg, listener).await;
    let started = std::time::Instant::now();
    while (expiry_msgs(&w).is_empty() || expiry_mails(&smtp, "a1@example.com") == 0)
        && started.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(expiry_msgs(&w).len(), 1, "serve's sweep told WeCom");
    assert_eq!(expiry_mails(&smtp, "a1@example.com"), 1, "and the mail relay");
    let _ = stop.send(());
    task.await.unwrap().unwrap();

    // A restart: several sweeps later, nothing was sent again.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, task) = serve(&env.cfg, listener).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    assert_eq!(expiry_msgs(&w).len(), 1);
    assert_eq!(expiry_mails(&smtp, "a1@example.com"), 1);
}

#[tokio::test]
async fn a_reset_password_reaches_its_holder_by_wecom_and_mail_and_is_never_stored() {
    let (w, smtp) = (WecomDouble::start().await, Smtp::start().await);
    let env = env(Backend::Sqlite, &w, &smtp).await;
    let (code, out) = orgid(&env.cfg, &["accounts", "reset-password", "zhangwei"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("was sent to zhangwei"), "not shown to the operator: {out}");
    let msgs = w.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].touser, "zhangwei");
    assert!(msgs[0].content.contains("一次性初始密码："), "{}", msgs[0].content);
    let password = msgs[0].content.split("一次性初始密码：").nth(1).unwrap().lines().next().unwrap().trim().to_string();
    assert!(password.len() >= 12, "{password}");
    wait_for_mails(&smtp, "g1@example.com", 1).await;
    let mails = mails_to(&smtp, "g1@example.com");
    assert_eq!((mails.len(), mails[0].0.as_str()), (1, "您的一次性初始密码"));
    // The store keeps that it was sent, not the password.
    let db = std::fs::read(env.cfg.parent().unwrap().join("orgid.db")).unwrap_or_default();
    let wal = std::fs::read(env.cfg.parent().unwrap().join("orgid.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(password.len()).any(|w| w == password.as_bytes()), "the password is in the store");
    }
    // A sweep later: the expiry warning of the new password, but the one-time password again never.
    let (_, out) = env.run().await;
    assert_eq!(out.trim(), "notices: 2 queued, 2 sent, 0 failed (retried later)", "{out}");
    assert_eq!(w.messages().iter().filter(|m| m.content.contains("一次性初始密码：")).count(), 1);

    // WeCom down: the mail still takes the next one; WeCom's failure is not retried (nothing
    // holds the password to retry with).
    w.fail_messages(Some(60020));
    let (code, out) = orgid(&env.cfg, &["accounts", "reset-password", "zhangwei"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for_mails(&smtp, "g1@example.com", 3).await;
    let otp_mails = mails_to(&smtp, "g1@example.com").iter().filter(|(s, _)| s == "您的一次性初始密码").count();
    assert_eq!(otp_mails, 2);
    w.fail_messages(None);
    let _ = env.run().await;
    assert_eq!(w.messages().iter().filter(|m| m.content.contains("一次性初始密码：")).count(), 1);
}

/// The delegation group (see `workflow.rs`) with notices by WeCom and mail.
async fn group(w: &WecomDouble, smtp: &Smtp) -> crate::workflow::Env {
    let extra = format!(
        "{}\n[alerts]\nmail_from = \"orgid@example.com\"\nsmtp_url = \"{}\"\n[notices]\nchannels = [\"wecom\", \"mail\"]\n\
         [wecom]\nbase_url = \"{}\"\ncorp_id = \"{CORP_ID}\"\ncontacts_secret = \"{CONTACTS_SECRET}\"\n\
         agent_id = {AGENT_ID}\napp_secret = \"{APP_SECRET}\"\nthrottle_ms = 20\n",
        crate::workflow::APPLY,
        smtp.url(),
        w.base_url()
    );
    crate::workflow::Env::new(Backend::Sqlite, &extra).await
}

/// WeCom messages and mails (subjects) so far whose text starts with `subject`: (to, text).
async fn told(w: &WecomDouble, smtp: &Smtp, subject: &str, mails: usize) -> (Vec<String>, Vec<(String, String)>) {
    let started = std::time::Instant::now();
    let count = || smtp.messages().iter().filter(|m| crate::alerts::subject(m).starts_with(subject)).count();
    while count() < mails && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let msgs = w.messages().into_iter().filter(|m| m.content.starts_with(subject)).map(|m| m.touser).collect();
    let mails = smtp
        .messages()
        .into_iter()
        .filter(|m| crate::alerts::subject(m).starts_with(subject))
        .map(|m| {
            let to = m.lines().find(|l| l.starts_with("To:")).unwrap_or_default().to_string();
            (to, crate::alerts::subject(&m))
        })
        .collect();
    (msgs, mails)
}

#[tokio::test]
async fn an_overdue_request_is_told_once_to_the_it_that_applies_it() {
    use crate::workflow::{open, profile, t};
    use orgid::services::workflow as wf;
    let (w, smtp) = (WecomDouble::start().await, Smtp::start().await);
    let g = group(&w, &smtp).await;
    let sweep = || orgid::services::notices::sweep(&g.app);
    sweep().await.unwrap();
    // The store refuses to write this person: applying fails, the request stays with group IT.
    let db = format!("sqlite://{}", g.cfg.parent().unwrap().join("orgid.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON people WHEN NEW.employee_number = 'A60' \
         BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Approved Wednesday 30 September: due at the end of Friday 9 October.
    g.clock.set(t("2026-09-30T02:00:00Z"));
    let r = wf::submit(&g.app, &g.who("wangfang").await, open(60, profile("A60", "罗兰", "C010", "M12", false)))
        .await
        .expect("submit");
    let r = wf::approve(&g.app, &g.who("lina").await, r.id, true, "").await.expect("approve");
    assert_eq!((r.state, r.due), (orgid_directory::workflow::RequestState::Failed, Some(t("2026-10-09T15:59:59Z"))));
    sweep().await.unwrap();
    assert_eq!(told(&w, &smtp, "申请已超期", 0).await, (vec![], vec![]), "not due yet");

    // Saturday 10 October: overdue. Told once by WeCom and once by mail, to group IT only.
    g.clock.set(t("2026-10-10T02:00:00Z"));
    let s = sweep().await.unwrap();
    assert_eq!((s.queued, s.sent as u64, s.failed), (2, 2, 0), "{s:?}");
    let (msgs, mails) = told(&w, &smtp, "申请已超期", 1).await;
    assert_eq!(msgs, ["zhangwei"], "{:?}", w.messages());
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].1.contains("罗兰"), "{mails:?}");
    let m = w.messages().into_iter().find(|m| m.content.starts_with("申请已超期")).unwrap();
    assert!(m.content.contains(&format!("申请 #{}", r.id)) && m.content.contains("2026-10-09 23:59"), "{}", m.content);

    // Still overdue the next days: nothing more.
    for day in ["2026-10-10T08:00:00Z", "2026-10-12T02:00:00Z"] {
        g.clock.set(t(day));
        let s = sweep().await.unwrap();
        assert_eq!((s.queued, s.sent), (0, 0), "{s:?}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (msgs, mails) = told(&w, &smtp, "申请已超期", 1).await;
    assert_eq!((msgs.len(), mails.len()), (1, 1));
}

#[tokio::test]
async fn an_open_roster_check_is_told_once_to_the_companys_delegate() {
    use crate::workflow::{staff, sync, t};
    let (w, smtp) = (WecomDouble::start().await, Smtp::start().await);
    let mut g = group(&w, &smtp).await;
    orgid::services::notices::sweep(&g.app).await.unwrap();
    g.app.config.workflow.independent_roster = orgid_config::IndependentRoster::Check;
    // Month two: 刘强 (C021, independent) leaves: a check for C021's delegate, not applied.
    let mut m2 = staff();
    m2[7].left = true;
    m2[7].leave_date = "2026-09-25".into();
    g.hr.write(&m2, false);
    sync(&g).await;
    let s = orgid::services::notices::sweep(&g.app).await.unwrap();
    assert_eq!((s.queued, s.sent as u64, s.failed), (2, 2, 0), "{s:?}");
    let (msgs, mails) = told(&w, &smtp, "花名册核查待处理", 1).await;
    assert_eq!(msgs, ["yangyang"], "C021's IT delegate only: {:?}", w.messages());
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].1.contains("C021"), "{mails:?}");

    // The same roster the next day: the same check, not told again.
    g.clock.set(t("2026-09-29T02:00:00Z"));
    sync(&g).await;
    let s = orgid::services::notices::sweep(&g.app).await.unwrap();
    assert_eq!((s.queued, s.sent), (0, 0), "{s:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (msgs, mails) = told(&w, &smtp, "花名册核查待处理", 1).await;
    assert_eq!((msgs.len(), mails.len()), (1, 1));
}
