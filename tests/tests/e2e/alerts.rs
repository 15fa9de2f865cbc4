//! Alerts end to end: 20 failed logins from one address within a minute, against `serve`, make
//! exactly one alert, delivered through a real local SMTP server (aiosmtpd), and one `alert`
//! record in the audit trail; more failures of the same burst send nothing more. Then a failed
//! sync and a login attempt on a closed account make one alert each. An administrator's action
//! on a holiday (not within working hours), a parked operation and a record that does not chain
//! make one each, and a restart sends none of them again; without recipients, alerts are off.

use std::time::{Duration, Instant};

use crate::hr::{Hr, Row};
use crate::oidc::{CB, Op, code_params, pkce};
use crate::sync::{Backend, orgid, orgid_err};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_login_bursts_failed_syncs_and_closed_accounts_are_mailed_and_audited_once() {
    let smtp = orgid_tests::Smtp::start().await;
    // And a command (an SMS gateway's script, say): each alert's subject and text appended to a file.
    let gateway = tempfile::TempDir::new().unwrap();
    let (script, sent) = (gateway.path().join("sms.sh"), gateway.path().join("sent.txt"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{{ printf '%s\\n' \"$ORGID_ALERT_SUBJECT\"; cat; printf '\\n==END==\\n'; }} >> '{}'\n",
            sent.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let extra = format!(
        "[login]\nfailures_per_ip = 0\nfailures_per_login = 0\n[safety]\nmax_shrink_share = 0.5\n\
         max_close_share = 0.5\n[alerts]\nfailures_per_ip = 20\nwindow_secs = 60\noff_hours_admin = false\n\
         mail_to = [\"security@example.com\"]\nmail_from = \"orgid@example.com\"\nsmtp_url = \"{}\"\n\
         command = [\"{}\"]\n",
        smtp.url(),
        script.display()
    );
    let texts = || std::fs::read_to_string(&sent).unwrap_or_default();
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
    assert_eq!(texts().matches("==END==").count(), 1, "one run of the command: {}", texts());
    assert!(texts().starts_with("orgid alert: 20 failed logins from 127.0.0.1\n"), "{}", texts());
    assert!(texts().contains("orgid audit query --ip 127.0.0.1"), "the alert's text on its input: {}", texts());

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
    assert_eq!(texts().matches("==END==").count(), 3, "the command ran once per alert too: {}", texts());
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

/// The Subject of a message as text: RFC 2047 `=?utf-8?b?…?=` words decoded, folds unfolded.
pub(crate) fn subject(mail: &str) -> String {
    use base64::Engine;
    let mut lines = mail.lines().skip_while(|l| !l.starts_with("Subject:"));
    let mut raw = lines.next().unwrap_or_default().trim_start_matches("Subject:").to_string();
    raw.extend(lines.take_while(|l| l.starts_with([' ', '\t'])).map(|l| format!(" {}", l.trim())));
    let (mut bytes, mut prev_encoded) = (Vec::new(), None);
    for word in raw.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        match lower.strip_prefix("=?utf-8?b?").and_then(|w| w.strip_suffix("?=")) {
            Some(_) => {
                // Only the space between two encoded words is not part of the text.
                if prev_encoded == Some(false) {
                    bytes.push(b' ');
                }
                let b64 = &word["=?utf-8?b?".len()..word.len() - 2];
                bytes.extend(base64::engine::general_purpose::STANDARD.decode(b64).expect("base64 word"));
                prev_encoded = Some(true);
            }
            None => {
                if prev_encoded.is_some() {
                    bytes.push(b' ');
                }
                bytes.extend_from_slice(word.as_bytes());
                prev_encoded = Some(false);
            }
        }
    }
    String::from_utf8(bytes).expect("utf-8 subject")
}

async fn alert_records(cfg: &std::path::Path) -> Vec<serde_json::Value> {
    let (code, out) = orgid(cfg, &["audit", "query", "--type", "alert", "--all", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["records"].as_array().unwrap().clone()
}

async fn wait_for_mail(smtp: &orgid_tests::Smtp, n: usize) -> Vec<String> {
    let started = Instant::now();
    while smtp.messages().len() < n {
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", smtp.messages());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Two more rounds of the alert job: nothing more may come.
    tokio::time::sleep(Duration::from_secs(5)).await;
    smtp.messages()
}

/// A calendar file whose year of today (Beijing time) makes today a holiday, or a working day.
fn calendar_with_today(dir: &std::path::Path, holiday: bool) -> std::path::PathBuf {
    use chrono::Datelike;
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let weekend = matches!(today.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
    let (holidays, workdays) = match (holiday, weekend) {
        (true, _) => (format!("'{today}'"), String::new()),
        (false, true) => (String::new(), format!("'{today}'")),
        (false, false) => (String::new(), String::new()),
    };
    let path = dir.join(format!("calendar-{holiday}.toml"));
    std::fs::write(
        &path,
        format!(
            "[[year]]\nyear = {}\nsource = 'test'\nholidays = [{holidays}]\nworkdays = [{workdays}]\n",
            today.year()
        ),
    )
    .unwrap();
    path
}

/// An administrator's action on a working day within working hours raises nothing; the same
/// action on a holiday, with working hours all day, is mailed once and recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_action_on_a_holiday_is_mailed_once_and_within_working_hours_never() {
    let cal = tempfile::tempdir().unwrap();
    for holiday in [false, true] {
        let smtp = orgid_tests::Smtp::start().await;
        let extra = format!(
            "[workflow]\ncalendar = [\"{}\"]\n[alerts]\nfailures_per_ip = 0\nworking_hours = \"00:00-24:00\"\n\
             mail_to = [\"security@example.com\"]\nsmtp_url = \"{}\"\n",
            calendar_with_today(cal.path(), holiday).display(),
            smtp.url()
        );
        let op = Op::start(Backend::Sqlite, &extra).await;
        // The alert job has taken its starting point.
        tokio::time::sleep(Duration::from_secs(3)).await;
        op.reset("lina").await;
        if !holiday {
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert!(smtp.messages().is_empty(), "{:?}", smtp.messages());
            assert!(alert_records(&op.cfg).await.is_empty());
            op.stop().await;
            continue;
        }
        let mail = wait_for_mail(&smtp, 1).await;
        assert_eq!(mail.len(), 1, "{mail:?}");
        assert_eq!(subject(&mail[0]), "orgid 告警：管理员 cli 在非工作时间操作", "{}", mail[0]);
        let records = alert_records(&op.cfg).await;
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(
            (records[0]["reason"].as_str(), records[0]["outcome"].as_str()),
            (Some("off_hours_admin"), Some("success"))
        );
        let detail = records[0]["details"]["attrs"]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("休息日") && detail.contains("password_reset") && detail.contains("lina"), "{detail}");
        op.stop().await;
    }
}

/// Without recipients alerts are off: a burst of failed logins writes no `alert` record (it
/// used to write one that said "no recipients", with an ERROR in the log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_recipients_alerts_are_off() {
    let op = Op::start(Backend::Sqlite, "[login]\nfailures_per_ip = 0\nfailures_per_login = 0\n").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    for i in 0..22 {
        let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
        assert_ne!(b.login(&page, &format!("nobody{i}"), "Wrong-pass-1").await.status, 303);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(alert_records(&op.cfg).await.is_empty());
    op.stop().await;
}

/// A target operation parked after its retries, an audit record that does not chain (read by the
/// tail, or found by the periodic verification) and a failed backup are each mailed once and
/// recorded once: the alert service is driven here round by round (the job
/// of `serve` is this loop), and a restart, even one cut short between the mail and the saved
/// position, sends nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_operation_and_a_broken_chain_are_mailed_once_even_across_restarts() {
    use orgid::services::alerts::{AlertTail, TAIL_SETTING, deliver};
    use orgid_directory::{AuditStore, SettingStore};

    let smtp = orgid_tests::Smtp::start().await;
    let slapd = orgid_tests::Slapd::start().await;
    let env = crate::ldap_sync::Env::new(Backend::Sqlite, &slapd.url()).await;
    let mut text = std::fs::read_to_string(&env.cfg).unwrap();
    text.push_str(&format!(
        "\n[alerts]\nfailures_per_ip = 0\noff_hours_admin = false\nmail_to = [\"security@example.com\"]\nsmtp_url = \"{}\"\n",
        smtp.url()
    ));
    std::fs::write(&env.cfg, text).unwrap();
    env.hr.write(&crate::ldap_sync::month_one(), false);
    env.sync().await;
    let config = orgid::cli::load_config(Some(&env.cfg), Vec::new()).unwrap();
    let app = orgid::app::App::open(config.clone()).await.unwrap();
    async fn round_of(app: &orgid::app::App, tail: &mut AlertTail) -> usize {
        let fired = tail.poll(app).await.unwrap();
        deliver(app, &fired).await.unwrap();
        tail.recorded(&fired);
        tail.save(app).await.unwrap();
        fired.len()
    }
    let mut tail = AlertTail::start(&app).await.unwrap();
    tail.save(&app).await.unwrap();
    let before = app.store.setting(TAIL_SETTING).await.unwrap().expect("position saved");

    // The group C020 deleted by hand: a new member's operation is refused until it is parked.
    let group = crate::ldap_sync::at("cn=C020,ou=groups");
    crate::trust::delete_by_hand(&slapd, std::slice::from_ref(&group)).await;
    let mut rows = crate::ldap_sync::month_one();
    rows.push(Row::new(7, "C020", "B7", "周杰", "P12"));
    env.hr.write(&rows, false);
    let (code, out) = orgid(&env.cfg, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    for _ in 0..10 {
        let (_, status) = orgid(&env.cfg, &["ldap", "status"]).await;
        if status.contains(", 1 parked)") {
            break;
        }
        orgid(&env.cfg, &["ldap", "push"]).await;
    }
    let (_, status) = orgid(&env.cfg, &["ldap", "status"]).await;
    assert!(status.contains(", 1 parked)"), "{status}");

    assert_eq!(round_of(&app, &mut tail).await, 1);
    assert_eq!(round_of(&app, &mut tail).await, 0, "the next round sends nothing more");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let s = subject(&mail[0]);
    assert!(s.starts_with("orgid 告警：目标系统操作已搁置（ldap group:company:C020 #"), "{s}");
    let records = alert_records(&env.cfg).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["reason"], "parked_operations");
    assert!(records[0]["details"]["attrs"]["detail"].as_str().is_some_and(|d| !d.is_empty()), "{records:?}");
    let (_, parked) = orgid(&env.cfg, &["audit", "query", "--type", "outbox.park", "--all", "--format", "json"]).await;
    let parked: serde_json::Value = serde_json::from_str(&parked).unwrap();
    let parked = parked["records"].as_array().unwrap();
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0]["details"]["attrs"]["entry"].as_str(), Some("group:company:C020"));
    assert!(parked[0]["reason"].as_str().is_some_and(|r| !r.is_empty()), "the refusal: {parked:?}");
    assert!(!parked[0].to_string().to_lowercase().contains("userpassword"), "{parked:?}");

    // A restart goes on where the last round ended: nothing again.
    let mut restarted = AlertTail::start(&app).await.unwrap();
    assert_eq!(round_of(&app, &mut restarted).await, 0);
    // A restart after a round cut short between its mail and its saved position: the same
    // records are read again, and the alert already recorded is not sent again.
    app.store.set_setting(TAIL_SETTING, &before).await.unwrap();
    let mut replayed = AlertTail::start(&app).await.unwrap();
    assert_eq!(round_of(&app, &mut replayed).await, 0);
    assert_eq!(smtp.messages().len(), 1);

    // A record forged into the trail behind orgid's back (its hash is not its fields'), then
    // orgid writes on after it: one alert for the break, and the chain reads on.
    let head = app.store.audit_heads().await.unwrap()[0];
    let pool = sqlx::SqlitePool::connect(config.store.url.expose()).await.unwrap();
    sqlx::query(
        "INSERT INTO audit_log (chain, pos, at, kind, outcome, actor_kind, actor, prev_hash, hash) \
         VALUES (1, $1, $2, 'login', 'success', 'user', 'mallory', $3, $4)",
    )
    .bind(head.pos + 1)
    .bind(chrono::Utc::now().timestamp_millis())
    .bind(head.hash.0.to_vec())
    .bind(vec![7u8; 32])
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE audit_head SET pos = $1, hash = $2 WHERE chain = 1")
        .bind(head.pos + 1)
        .bind(vec![7u8; 32])
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let later = orgid::app::App::open(config.clone()).await.unwrap();
    later
        .store
        .append_audit(&[orgid_directory::audit::AuditEvent::new(
            chrono::Utc::now(),
            orgid_directory::audit::EventKind::ConfigReload,
            orgid_directory::audit::AuditOutcome::Success,
            orgid_directory::audit::Actor::System("test".into()),
        )])
        .await
        .unwrap();
    assert_eq!(round_of(&app, &mut replayed).await, 1);
    assert_eq!(round_of(&app, &mut replayed).await, 0);
    let mail = smtp.messages();
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(
        mail.iter().any(|m| subject(m) == format!("orgid 告警：审计记录链断裂（chain 1 record {}）", head.pos + 1)),
        "{mail:?}"
    );
    let mut restarted = AlertTail::start(&app).await.unwrap();
    assert_eq!(round_of(&app, &mut restarted).await, 0, "a restart does not report the break again");
    assert_eq!(alert_records(&env.cfg).await.iter().filter(|r| r["reason"] == "audit_chain").count(), 1);

    // A backup that fails (its folder cannot be made under a file): one alert, with the reason.
    let blocker = env.cfg.with_file_name("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    let to = blocker.join("snapshots");
    orgid_err(&env.cfg, &["backup", "--to", to.to_str().unwrap()]).await;
    assert_eq!(round_of(&app, &mut restarted).await, 1);
    assert_eq!(round_of(&app, &mut restarted).await, 0);
    let mail = smtp.messages();
    assert_eq!(mail.len(), 3, "{mail:?}");
    assert!(mail.iter().any(|m| subject(m) == "orgid alert: a backup failed"), "{mail:?}");
    let backup_alert: Vec<_> =
        alert_records(&env.cfg).await.into_iter().filter(|r| r["details"]["attrs"]["key"] == "backup failed").collect();
    assert_eq!(backup_alert.len(), 1, "{backup_alert:?}");
    let reason = backup_alert[0]["details"]["attrs"]["detail"].as_str().unwrap_or_default();
    assert!(reason.contains("backup folder"), "{reason}");

    // The periodic verification: the break the tail reported is not reported again; a record
    // altered after the tail read it is found, once, however often the verification runs.
    use orgid::services::alerts::verify_round;
    assert_eq!(verify_round(&app).await.unwrap(), 0, "the forged record was alerted already");
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(config.store.url.expose()).await.unwrap();
        sqlx::query("DROP TRIGGER audit_log_no_update").execute(&mut conn).await.unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE chain = 1 AND pos = 2")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    assert_eq!(verify_round(&app).await.unwrap(), 1);
    assert_eq!(verify_round(&app).await.unwrap(), 0, "the next run sends nothing more");
    assert_eq!(round_of(&app, &mut restarted).await, 0, "nor does the tail");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 4, "{mail:?}");
    assert!(mail.iter().any(|m| subject(m) == "orgid 告警：审计记录链断裂（chain 1 record 2）"), "{mail:?}");
    let (code, out) = orgid(&env.cfg, &["audit", "verify"]).await;
    assert_ne!(code, 0, "{out}");
}
