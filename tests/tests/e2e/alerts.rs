//! Alerts end to end: 20 failed logins from one address within a minute, against `serve`, make
//! exactly one alert, delivered through a real local SMTP server (aiosmtpd), and one `alert`
//! record in the audit trail; more failures of the same burst send nothing more.

use std::time::{Duration, Instant};

use crate::oidc::{CB, Op, code_params, pkce};
use crate::sync::{Backend, orgid};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_failed_logins_from_one_address_are_one_mailed_and_audited_alert() {
    let smtp = orgid_tests::Smtp::start().await;
    let extra = format!(
        "[login]\nfailures_per_ip = 0\nfailures_per_login = 0\n[alerts]\nfailures_per_ip = 20\nwindow_secs = 60\n\
         mail_to = [\"security@example.com\"]\nmail_from = \"orgid@example.com\"\nsmtp_url = \"{}\"\n",
        smtp.url()
    );
    let op = Op::start(Backend::Sqlite, &extra).await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for i in 0..25 {
        let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
        let failed = b.login(&page, &format!("nobody{i}"), "Wrong-pass-1").await;
        assert_ne!(failed.status, 303, "{}", failed.body);
    }
    let started = Instant::now();
    let mail = loop {
        let m = smtp.messages();
        if !m.is_empty() {
            break m;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no alert mail arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Two more polls of the trail: nothing more for the same burst.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mail = if smtp.messages().len() > mail.len() { smtp.messages() } else { mail };
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].contains("Subject: orgid alert: 20 failed logins from 127.0.0.1"), "{}", mail[0]);
    assert!(mail[0].contains("To: <security@example.com>"), "{}", mail[0]);

    let (code, out) = orgid(&op.cfg, &["audit", "query", "--type", "alert", "--all", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "success");
    assert_eq!(records[0]["reason"], "failures_per_ip");
    assert_eq!(records[0]["source_ip"], "127.0.0.1");
    let (code, out) = orgid(&op.cfg, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    op.stop().await;
}
