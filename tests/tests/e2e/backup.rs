//! `orgid backup` and `orgid restore` end to end: a snapshot taken while `serve` takes real HTTP
//! logins, restored into a fresh store (SQLite file or PostgreSQL database) whose audit trail
//! verifies, with the same accounts and tokens, and no drift against the real slapd; tampered or
//! too-new snapshots refused. The secrets a snapshot never holds, exported encrypted with a
//! passphrase, come back with a restore; a wrong passphrase or an altered file is refused.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;

use crate::hr::{Hr, Row};
use crate::oidc::{Browser, CB, Op, SECRET, code_params, first_login, pkce};
use crate::sync::{Backend, orgid, orgid_err, store_url};

const PERSON_KEY: &str = "backup-test-person-key-secret";
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn extra(slapd: &orgid_tests::Slapd) -> String {
    format!(
        "[ldap]\nurl = \"{}\"\nbind_dn = \"{}\"\nbind_password = \"{}\"\nbase_dn = \"{}\"\n\
         [identity]\nperson_key_secret = \"{PERSON_KEY}\"\n[backup]\npg_bin_dir = \"{PG_BIN}\"\n",
        slapd.url(),
        slapd.bind_dn(),
        slapd.bind_password(),
        slapd.base_dn()
    )
}

/// The only snapshot folder in `dir`.
fn the_snapshot(dir: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("orgid-"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

/// A login with the password set, from a fresh browser: returns the redirect's code.
async fn login(base: String) -> String {
    let mut b = Browser::at(&base);
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = b.login(&page, "zhangwei", "Spring-2026a").await;
    assert_eq!(page.status, 303, "{}", page.body);
    page.redirect_params()["code"].clone()
}

async fn accounts(cfg: &Path) -> Value {
    let (code, out) = orgid(cfg, &["accounts", "list", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(&out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_while_serving_restores_accounts_tokens_and_the_directory() {
    backup_while_serving_restores_accounts_tokens_and_the_directory(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_while_serving_restores_accounts_tokens_and_the_directory() {
    backup_while_serving_restores_accounts_tokens_and_the_directory(Backend::Postgres).await;
}

async fn backup_while_serving_restores_accounts_tokens_and_the_directory(backend: Backend) {
    let slapd = orgid_tests::Slapd::start().await;
    let op = Op::start(backend, &extra(&slapd)).await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let params = first_login(&mut b, "portal", &initial, "Spring-2026a", &challenge).await;
    let (s, tokens) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            Some(("portal", SECRET)),
        )
        .await;
    assert_eq!(s, 200, "{tokens}");
    let (access, refresh) =
        (tokens["access_token"].as_str().unwrap().to_string(), tokens["refresh_token"].as_str().unwrap().to_string());
    assert_eq!(orgid(&op.cfg, &["audit", "checkpoint"]).await.0, 0);
    let (code, public_key) = orgid(&op.cfg, &["audit", "public-key"]).await;
    assert_eq!(code, 0);
    let public_key = public_key.split_whitespace().find(|w| w.len() == 64).unwrap().to_string();
    let before = accounts(&op.cfg).await;

    // The snapshot is taken while logins keep coming over HTTP.
    let backups = TempDir::new().unwrap();
    let logins = {
        let base = op.base.clone();
        tokio::spawn(async move {
            let mut codes = Vec::new();
            for _ in 0..8 {
                codes.push(login(base.clone()).await);
            }
            codes
        })
    };
    let (code, out) = orgid(&op.cfg, &["backup", "--to", backups.path().to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("left out: the person-key secret and the audit signing key"), "{out}");
    assert_eq!(logins.await.unwrap().len(), 8, "every login during the backup succeeded");
    let old_text = std::fs::read_to_string(&op.cfg).unwrap();
    op.stop().await;

    let snapshot = the_snapshot(backups.path());
    let manifest: Value = serde_json::from_slice(&std::fs::read(snapshot.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["backend"], if backend == Backend::Sqlite { "sqlite" } else { "postgres" });
    assert!(manifest["schema_version"].as_i64().unwrap() >= 8, "{manifest}");
    assert!(manifest["audit"]["last_checkpoint"]["signature"].is_string(), "{manifest}");
    assert!(manifest["audit"]["records"].as_i64().unwrap() > 5, "{manifest}");
    for f in manifest["files"].as_array().unwrap() {
        assert_eq!(f["sha256"].as_str().unwrap().len(), 64, "{f}");
    }
    if backend == Backend::Postgres {
        assert!(manifest["postgres"]["pg_dump"].as_str().unwrap().contains("15."), "{manifest}");
    }
    // The configured person-key secret is in no file of the snapshot (the provider's generated
    // secret and OIDC signing keys are its state and stay; the audit key is a file elsewhere).
    for f in std::fs::read_dir(&snapshot).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(!bytes.windows(PERSON_KEY.len()).any(|w| w == PERSON_KEY.as_bytes()));
    }

    // A fresh folder and an empty store, the public half of the audit key trusted.
    let fresh = TempDir::new().unwrap();
    let url = store_url(backend, fresh.path()).await;
    let old_url = old_text.lines().find(|l| l.starts_with("url = \"sqlite") || l.starts_with("url = \"postgres"));
    let text = old_text.replace(old_url.unwrap(), &format!("url = \"{url}\""))
        + &format!("\n[audit]\ntrusted_keys = [\"{public_key}\"]\n");
    let cfg = fresh.path().join("orgid.toml");
    std::fs::write(&cfg, text).unwrap();
    let (code, out) = orgid(&cfg, &["restore", snapshot.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit trail intact"), "{out}");
    assert!(out.contains("orgid ldap reconcile"), "what to run next: {out}");
    let (code, out) = orgid(&cfg, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit trail intact"), "{out}");
    assert_eq!(accounts(&cfg).await, before, "the same accounts");
    let (code, out) = orgid(&cfg, &["ldap", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no drift"), "{out}");
    // A second restore into the same (now full) store is refused.
    let err = orgid_err(&cfg, &["restore", snapshot.to_str().unwrap()]).await;
    assert!(err.contains("refused"), "{err}");

    // The restored store serves the tokens issued before the snapshot.
    let config = orgid::cli::load_config(Some(&cfg), Vec::new()).unwrap();
    let app = orgid::app::App::open(config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(orgid::cli::serve::serve_on(app, listener, async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    let introspect = |token: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .post(format!("{base}/introspect"))
                .basic_auth("portal", Some(SECRET))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let mut active = Value::Null;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            active = introspect(access.clone()).await;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(active["active"], true, "{active}");
    let r = http
        .post(format!("{base}/token"))
        .basic_auth("portal", Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the refresh token is there: {}", r.text().await.unwrap());
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn tampered_newer_or_keyless_snapshots_are_refused() {
    let dir = TempDir::new().unwrap();
    let hr = Hr::new(dir.path());
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12")], false);
    let url = store_url(Backend::Sqlite, dir.path()).await;
    let cfg = hr.config(&url, &format!("[identity]\nperson_key_secret = \"{PERSON_KEY}\"\n"));
    assert_eq!(orgid(&cfg, &["sync"]).await.0, 0);
    assert_eq!(orgid(&cfg, &["audit", "checkpoint"]).await.0, 0);
    let backups = TempDir::new().unwrap();
    assert_eq!(orgid(&cfg, &["backup", "--to", backups.path().to_str().unwrap()]).await.0, 0);
    let good = the_snapshot(backups.path());

    let copy = |name: &str| {
        let to = backups.path().join(name);
        std::fs::create_dir(&to).unwrap();
        for f in std::fs::read_dir(&good).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
        to
    };
    let restore_cfg = |name: &str, extra: &str| {
        let target = dir.path().join(format!("{name}.db"));
        let text = std::fs::read_to_string(&cfg).unwrap().replace(&url, &format!("sqlite://{}", target.display()));
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text.replace(&format!("person_key_secret = \"{PERSON_KEY}\"\n"), extra)).unwrap();
        (path, target)
    };
    let rehash = |snap: &Path| {
        let db = snap.join("orgid.db");
        let bytes = std::fs::read(&db).unwrap();
        let sha = hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
        let mut m: Value = serde_json::from_slice(&std::fs::read(snap.join("manifest.json")).unwrap()).unwrap();
        m["files"][0]["sha256"] = sha.into();
        m["files"][0]["bytes"] = bytes.len().into();
        std::fs::write(snap.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    };
    let keep = format!("person_key_secret = \"{PERSON_KEY}\"\n");

    // A flipped byte: the manifest's hash says so before anything is written.
    let flipped = copy("flipped");
    let db = flipped.join("orgid.db");
    let mut bytes = std::fs::read(&db).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0xFF;
    std::fs::write(&db, bytes).unwrap();
    let (c, target) = restore_cfg("flipped", &keep);
    let err = orgid_err(&c, &["restore", flipped.to_str().unwrap()]).await;
    assert!(err.contains("orgid.db was altered or damaged since the backup"), "{err}");
    assert!(!target.exists());

    // An audit record rewritten and the manifest's hashes recomputed: the chain gives it away.
    let forged = copy("forged");
    {
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", forged.join("orgid.db").display())).await.unwrap();
        sqlx::query("DROP TRIGGER audit_log_no_update").execute(&mut conn).await.unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    rehash(&forged);
    let (c, target) = restore_cfg("forged", &keep);
    let err = orgid_err(&c, &["restore", forged.to_str().unwrap()]).await;
    assert!(err.contains("does not verify") && err.contains("BROKEN at record 2"), "{err}");
    assert!(!target.exists(), "nothing was kept");
    assert!(!dir.path().join("forged.db.restoring").exists());

    // A snapshot of a newer orgid's schema.
    let newer = copy("newer");
    let mut m: Value = serde_json::from_slice(&std::fs::read(newer.join("manifest.json")).unwrap()).unwrap();
    m["schema_version"] = 99.into();
    m["orgid_version"] = "9.0.0".into();
    std::fs::write(newer.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let (c, _) = restore_cfg("newer", &keep);
    let err = orgid_err(&c, &["restore", newer.to_str().unwrap()]).await;
    assert!(err.contains("schema is version 99") && err.contains("newer than this orgid"), "{err}");

    // Without the person-key secret, or with another one.
    let (c, _) = restore_cfg("keyless", "");
    let err = orgid_err(&c, &["restore", good.to_str().unwrap()]).await;
    assert!(err.contains("identity.person_key_secret is not set"), "{err}");
    let (c, _) = restore_cfg("otherkey", "person_key_secret = \"another-secret-of-16-chars\"\n");
    let err = orgid_err(&c, &["restore", good.to_str().unwrap()]).await;
    assert!(err.contains("not the secret of the store"), "{err}");

    // The untouched snapshot restores (its manifest file given instead of the folder).
    let (c, target) = restore_cfg("good", &keep);
    let (code, out) = orgid(&c, &["restore", good.join("manifest.json").to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(target.exists());
    assert_eq!(accounts(&c).await, accounts(&cfg).await);
}

#[tokio::test]
async fn scheduled_backups_keep_the_newest_and_an_old_pg_dump_is_refused() {
    // Retention: five snapshots, three kept.
    let dir = TempDir::new().unwrap();
    let hr = Hr::new(dir.path());
    hr.write(&[Row::new(1, "G000", "G1", "张伟", "")], false);
    let url = store_url(Backend::Sqlite, dir.path()).await;
    let cfg = hr.config(&url, "[backup]\ndir = \"snapshots\"\nkeep = 3\n");
    assert_eq!(orgid(&cfg, &["sync"]).await.0, 0);
    let config = orgid::cli::load_config(Some(&cfg), Vec::new()).unwrap();
    let app = orgid::app::App::open(config).await.unwrap();
    for _ in 0..5 {
        orgid::services::backup::backup(&app, None, Some(app.config.backup.keep)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let kept = orgid::services::backup::snapshots(&dir.path().join("snapshots")).unwrap();
    assert_eq!(kept.len(), 3, "{kept:?}");
    let (code, out) =
        orgid(&cfg, &["audit", "query", "--type", "backup", "--outcome", "success", "--all", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["records"].as_array().unwrap().len(), 5);
    // A person-key secret that orgid generated lives in the store, and never in a snapshot.
    let secret = orgid_directory::SettingStore::setting(&app.store, "person_key_secret").await.unwrap().unwrap();
    app.store.close().await;
    for snap in &kept {
        let bytes = std::fs::read(snap.join("orgid.db")).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{snap:?}");
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", snap.join("orgid.db").display())).await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM settings WHERE name = 'person_key_secret'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(rows, 0);
        conn.close().await.unwrap();
    }

    // A pg_dump older than the server is refused before it runs.
    let tools = TempDir::new().unwrap();
    let fake = tools.path().join("pg_dump");
    std::fs::write(&fake, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pg = TempDir::new().unwrap();
    let url = store_url(Backend::Postgres, pg.path()).await;
    let cfg = hr.config(&url, &format!("[backup]\npg_bin_dir = \"{}\"\n", tools.path().display()));
    let err = orgid_err(&cfg, &["backup", "--to", pg.path().to_str().unwrap()]).await;
    assert!(err.contains("version 9 but the server is PostgreSQL 15"), "{err}");
    // Backups are audited, the failed one with its reason (an alert rule watches for those).
    let (code, out) = orgid(&cfg, &["audit", "query", "--type", "backup", "--all", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "failure");
    assert!(records[0]["reason"].as_str().unwrap().contains("version 9"), "{records:?}");
}

/// Whether any file of the folder `dir` holds `needle`.
fn folder_holds(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|f| {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

#[tokio::test]
async fn exported_secrets_come_back_with_a_restore_and_are_never_in_a_snapshot() {
    // An install that generated its person-key secret and its audit signing key.
    let dir = TempDir::new().unwrap();
    let hr = Hr::new(dir.path());
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12")], false);
    let url = store_url(Backend::Sqlite, dir.path()).await;
    let cfg = hr.config(&url, "");
    assert_eq!(orgid(&cfg, &["sync"]).await.0, 0);
    assert_eq!(orgid(&cfg, &["audit", "checkpoint"]).await.0, 0);
    let key = std::fs::read(dir.path().join("audit-signing.key")).unwrap();
    let config = orgid::cli::load_config(Some(&cfg), Vec::new()).unwrap();
    let app = orgid::app::App::open(config).await.unwrap();
    let secret = orgid_directory::SettingStore::setting(&app.store, "person_key_secret").await.unwrap().unwrap();
    app.store.close().await;

    let backups = TempDir::new().unwrap();
    assert_eq!(orgid(&cfg, &["backup", "--to", backups.path().to_str().unwrap()]).await.0, 0);
    let snap = the_snapshot(backups.path());
    assert!(!folder_holds(&snap, secret.as_bytes()), "the person-key secret is not in the snapshot");
    assert!(!folder_holds(&snap, &key), "the audit signing key is not in the snapshot");
    // ring's Ed25519 PKCS#8: a 16-byte prefix, the 32-byte private seed, then the public half.
    assert!(!folder_holds(&snap, &key[16..48]), "nor its private half");

    // The export: a passphrase from a file, never from the command line.
    let keep = TempDir::new().unwrap();
    let pass = keep.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let file = keep.path().join("orgid.secrets");
    let err = orgid_err(&cfg, &["secrets", "export", file.to_str().unwrap()]).await;
    assert!(err.contains("ORGID_SECRETS_PASSPHRASE") && err.contains("--passphrase-file"), "{err}");
    let (code, out) =
        orgid(&cfg, &["secrets", "export", file.to_str().unwrap(), "--passphrase-file", pass.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(&secret), "{out}");
    let sealed = std::fs::read(&file).unwrap();
    assert!(!folder_holds(keep.path(), secret.as_bytes()) && !folder_holds(keep.path(), &key[16..48]));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // A fresh machine: no person-key secret configured, no signing key file.
    let dir2 = TempDir::new().unwrap();
    let target = dir2.path().join("restored.db");
    let cfg2 = Hr::new(dir2.path()).config(&format!("sqlite://{}", target.display()), "");
    let wrong = keep.path().join("wrong");
    std::fs::write(&wrong, "correct horse battery stable\n").unwrap();
    let restore = |secrets: &Path, pass: &Path| -> Vec<String> {
        let args = [
            Path::new("restore"),
            snap.as_path(),
            Path::new("--secrets"),
            secrets,
            Path::new("--passphrase-file"),
            pass,
        ];
        args.iter().map(|a| a.to_str().unwrap().to_string()).collect()
    };
    let args = restore(&file, &wrong);
    let err = orgid_err(&cfg2, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(err.contains("wrong passphrase"), "{err}");
    let tampered = keep.path().join("tampered");
    let mut t = sealed.clone();
    let i = t.len() - 40;
    t[i] ^= 0x01;
    std::fs::write(&tampered, t).unwrap();
    let args = restore(&tampered, &pass);
    let err = orgid_err(&cfg2, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(err.contains("altered or damaged"), "{err}");
    let err = orgid_err(&cfg2, &["restore", snap.to_str().unwrap()]).await;
    assert!(err.contains("identity.person_key_secret is not set"), "{err}");
    assert!(!target.exists() && !dir2.path().join("audit-signing.key").exists(), "nothing was written");

    let args = restore(&file, &pass);
    let (code, out) = orgid(&cfg2, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read(dir2.path().join("audit-signing.key")).unwrap(), key, "the same signing key");
    // The restored install opens with the same person key (a different one is refused at open).
    assert_eq!(accounts(&cfg2).await, accounts(&cfg).await);
    let (code, out) = orgid(&cfg2, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(orgid(&cfg2, &["audit", "checkpoint"]).await.0, 0, "checkpoints signed with the restored key");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
