//! Alerts end to end: 20 failed logins from one address within a minute, against `serve`, make
//! exactly one alert, delivered through a real local SMTP server (aiosmtpd), and one `alert`
//! record in the audit trail; more failures of the same burst send nothing more. Then a failed
//! sync and a login attempt on a closed account make one alert each.

use std::time::{Duration, Instant};

use crate::hr::{Hr, Row};
use crate::oidc::{CB, Op, code_params, pkce};
use crate::sync::{Backend, orgid};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_login_bursts_failed_syncs_and_closed_accounts_are_mailed_and_audited_once() {
    let smtp = orgid_tests::Smtp::start().await;
    let extra = format!(
        "[login]\nfailures_per_ip = 0\nfailures_per_login = 0\n[safety]\nmax_shrink_share = 0.5\n\
         max_close_share = 0.5\n[alerts]\nfailures_per_ip = 20\nwindow_secs = 60\n\
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
    assert!(mail[0].contains("To: security@example.com"), "{}", mail[0]);

    let (code, out) = orgid(&op.cfg, &["audit", "query", "--type", "alert", "--all", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "success");
    assert_eq!(records[0]["reason"], "failures_per_ip");
    assert_eq!(records[0]["source_ip"], "127.0.0.1");

    // A sync that fails (two of three people gone: more than max_shrink_share), then one that
    // closes 李娜, whose correct password then meets a closed account.
    let initial = op.reset("lina").await;
    let hr = Hr { dir: op.cfg.parent().unwrap().to_path_buf() };
    hr.write(&[Row::new(1, "G000", "G1", "张伟", "")], false);
    assert_eq!(orgid(&op.cfg, &["sync"]).await.0, 1, "a shrunken roster fails");
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12")], false);
    let (code, out) = orgid(&op.cfg, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_ne!(b.login(&page, "lina", &initial).await.status, 303);
    let started = Instant::now();
    while smtp.messages().len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", smtp.messages());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = smtp.messages();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().any(|m| m.contains("Subject: orgid alert: a sync failed")), "{all:?}");
    assert!(
        all.iter().any(|m| m.contains("Subject: orgid alert: login attempt on the closed account lina")),
        "{all:?}"
    );
    let (code, out) = orgid(&op.cfg, &["audit", "query", "--type", "alert", "--all", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reasons: Vec<&str> = v["records"].as_array().unwrap().iter().filter_map(|r| r["reason"].as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons.contains(&"sync_problems") && reasons.contains(&"disabled_logins"), "{reasons:?}");
    let (code, out) = orgid(&op.cfg, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    op.stop().await;
}
