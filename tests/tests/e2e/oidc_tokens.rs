//! Access tokens (issue 14, its token half): signed as each client says (`access_token_alg`: ES256
//! by default on a new install, EdDSA, RS256), written through the store's group commit (many
//! responses, few transactions; a client-credentials token is self-contained, recorded by the
//! audit record of its issue alone), never answered before that is stored (a SIGKILL loses no
//! token a client holds), and still stopped at once by revocation, client removal, logout and
//! account closure.

use std::collections::HashSet;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openidconnect::JsonWebKey;
use openidconnect::core::CoreJwsSigningAlgorithm;
use serde_json::Value;
use tempfile::TempDir;

use crate::hr::{Hr, Row};
use crate::oidc::{Browser, CB, Op, SECRET, code_params, first_login, pkce};
use crate::oidc_attack::ServeProcess;
use crate::sync::{Backend, orgid, orgid_err, store_url};

/// Three service clients: the install's default algorithm, EdDSA and RS256.
const SERVICES: &str = r#"
[[clients]]
id = "svc"
secret = "svc-secret-0123456789ab"
grants = ["client_credentials"]
scopes = ["api"]
[[clients]]
id = "svc-ed"
secret = "svc-ed-secret-0123456789"
grants = ["client_credentials"]
scopes = ["api"]
access_token_alg = "EdDSA"
[[clients]]
id = "svc-rs"
secret = "svc-rs-secret-0123456789"
grants = ["client_credentials"]
scopes = ["api"]
access_token_alg = "RS256"
"#;

/// A client-credentials token of `client`.
async fn service_token(op: &Op, client: &str, secret: &str) -> String {
    let (s, tok) = op.token(&[("grant_type", "client_credentials"), ("scope", "api")], Some((client, secret))).await;
    assert_eq!(s, 200, "{tok}");
    tok["access_token"].as_str().unwrap().to_string()
}

/// Verifies `token`'s signature with the key the provider publishes under its `kid`, as a
/// resource server would; returns its header's `alg` and `typ`.
async fn verified_header(op: &Op, token: &str) -> (String, String) {
    let (_, jwks) = op.metadata().await;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    let kid = header["kid"].as_str().expect("a kid");
    let key = jwks.keys().iter().find(|k| k.key_id().map(|i| i.as_str()) == Some(kid)).expect("the key is published");
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone()).unwrap();
    let input = format!("{}.{}", parts[0], parts[1]);
    key.verify_signature(&alg, input.as_bytes(), &B64.decode(parts[2]).unwrap()).expect("the signature verifies");
    (header["alg"].as_str().unwrap().into(), header["typ"].as_str().unwrap_or_default().into())
}

/// `orgid clients list`: each client's access-token algorithm in force.
async fn listed_algs(cfg: &Path) -> Vec<(String, String)> {
    let (code, out) = orgid(cfg, &["clients", "list", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r["access_token_alg"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn access_tokens_are_signed_as_each_client_says() {
    let op = Op::start(Backend::Sqlite, SERVICES).await;
    for (client, secret, alg) in [
        ("svc", "svc-secret-0123456789ab", "ES256"),
        ("svc-ed", "svc-ed-secret-0123456789", "EdDSA"),
        ("svc-rs", "svc-rs-secret-0123456789", "RS256"),
    ] {
        let token = service_token(&op, client, secret).await;
        assert_eq!(verified_header(&op, &token).await, (alg.to_string(), "at+jwt".to_string()), "{client}");
        let active = op.introspect(&token).await;
        assert_eq!((&active["active"], &active["client_id"]), (&Value::from(true), &Value::from(client)));
    }

    // A registered client says so too; an unknown algorithm is refused by name.
    let args = ["clients", "add", "svc-new", "--grant", "client_credentials", "--scope", "api"];
    let err = orgid_err(&op.cfg, &[&args[..], &["--access-token-alg", "HS256"]].concat()).await;
    assert!(err.contains("--access-token-alg `HS256`"), "{err}");
    let (code, out) = orgid(&op.cfg, &[&args[..], &["--access-token-alg", "EdDSA"]].concat()).await;
    assert_eq!(code, 0, "{out}");
    let secret = out.lines().find_map(|l| l.split(": ").nth(1)).unwrap().trim().to_string();
    let token = service_token(&op, "svc-new", &secret).await;
    assert_eq!(verified_header(&op, &token).await.0, "EdDSA");

    let algs = listed_algs(&op.cfg).await;
    for (client, alg) in [("svc", "ES256"), ("svc-ed", "EdDSA"), ("svc-rs", "RS256"), ("svc-new", "EdDSA")] {
        assert!(algs.contains(&(client.into(), alg.into())), "{client}: {algs:?}");
    }
    // The install's default is in the store (migration 0009): a client that does not say follows
    // it; one that says keeps its own.
    let url = store_url(Backend::Sqlite, op.cfg.parent().unwrap()).await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let default: String = sqlx::query_scalar("SELECT value FROM settings WHERE name = 'idp.access_token_alg'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(default, "ES256", "a new install");
    sqlx::query("UPDATE settings SET value = 'RS256' WHERE name = 'idp.access_token_alg'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let algs = listed_algs(&op.cfg).await;
    assert!(algs.contains(&("svc".into(), "RS256".into())) && algs.contains(&("svc-ed".into(), "EdDSA".into())));
    op.stop().await;
}

#[tokio::test]
async fn a_client_credentials_token_is_recorded_only_in_the_trail_and_dies_with_its_client_for_good() {
    let op = Op::start(Backend::Sqlite, SERVICES).await;
    let add = ["clients", "add", "svc-gone", "--grant", "client_credentials", "--scope", "api"];
    let secret_of = |out: &str| out.lines().find_map(|l| l.split(": ").nth(1)).unwrap().trim().to_string();
    let (code, out) = orgid(&op.cfg, &add).await;
    assert_eq!(code, 0, "{out}");
    let old = service_token(&op, "svc-gone", &secret_of(&out)).await;
    let active = op.introspect(&old).await;
    assert_eq!((&active["active"], &active["client_id"]), (&Value::from(true), &Value::from("svc-gone")), "{active}");

    // Self-contained: no grant and no token row, and the trail names its jti.
    let url = store_url(Backend::Sqlite, op.cfg.parent().unwrap()).await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for sql in [
        "SELECT COUNT(*) FROM idp_grants WHERE client_id = 'svc-gone'",
        "SELECT COUNT(*) FROM idp_tokens WHERE client_id = 'svc-gone'",
    ] {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        assert_eq!(n, 0, "{sql}");
    }
    pool.close().await;
    let (code, out) = orgid(&op.cfg, &["audit", "query", "--all", "--type", "token_issued", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let jti = jwt_claims(&old)["jti"].as_str().unwrap().to_string();
    assert!(out.contains(&jti), "the issue of {jti} is recorded: {out}");

    // Removed, it is dead; a client added again under the same id does not bring it back.
    let (code, out) = orgid(&op.cfg, &["clients", "remove", "svc-gone"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(op.introspect(&old).await["active"], false);
    // The provider's clock (fixed in these tests) past the removal, which the command's own clock dated.
    op.clock.advance(chrono::Duration::minutes(2));
    let (code, out) = orgid(&op.cfg, &add).await;
    assert_eq!(code, 0, "{out}");
    let new = service_token(&op, "svc-gone", &secret_of(&out)).await;
    assert_eq!(op.introspect(&old).await["active"], false, "the old token stays dead");
    assert_eq!(op.introspect(&new).await["active"], true, "the new client's own token lives");
    op.stop().await;
}

#[tokio::test]
async fn an_install_that_already_signed_tokens_keeps_rs256_until_told_otherwise() {
    // A store as the release before migration 0009 left it, with its RS256 signing key.
    let dir = TempDir::new().unwrap();
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).unwrap();
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/migrations/sqlite");
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.as_str() < "0009" {
            std::fs::copy(&path, old.join(&name)).unwrap();
        }
    }
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("orgid.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path()).await.unwrap().run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO idp_signing_keys (kid, alg, private_pkcs8, created_at, retire_at, expires_at) \
         VALUES ('rs256-old', 'RS256', x'00', 0, 9999999999999, 9999999999999)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let hr = Hr::new(dir.path());
    hr.write(&[Row::new(1, "G000", "G1", "张伟", "")], false);
    let cfg = hr.config(&store_url(Backend::Sqlite, dir.path()).await, SERVICES);
    let (code, out) = orgid(&cfg, &["migrate"]).await;
    assert_eq!(code, 0, "{out}");
    let algs = listed_algs(&cfg).await;
    assert!(algs.contains(&("svc".into(), "RS256".into())), "the upgraded install keeps RS256: {algs:?}");
    assert!(algs.contains(&("svc-ed".into(), "EdDSA".into())), "{algs:?}");
    // Until the configuration says otherwise.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("[oidc]\naccess_token_alg = \"ES256\"\n{text}")).unwrap();
    assert!(listed_algs(&cfg).await.contains(&("svc".into(), "ES256".into())));
}

/// `count` codes of `b`'s session (prompt=none), exchanged at once; returns each response.
async fn concurrent_exchanges(op: &Op, b: &mut Browser, challenge: &str, verifier: &str, count: usize) -> Vec<Value> {
    let mut codes = Vec::new();
    for _ in 0..count {
        let page = b.authorize(&code_params("portal", CB, challenge, &[("prompt", "none")])).await;
        codes.push(page.redirect_params()["code"].clone());
    }
    let exchanges: Vec<_> = codes
        .into_iter()
        .map(|code| {
            let (http, base, verifier) = (op.http.clone(), op.base.clone(), verifier.to_string());
            tokio::spawn(async move {
                let form = [
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", CB),
                    ("code_verifier", verifier.as_str()),
                ];
                let res =
                    http.post(format!("{base}/token")).basic_auth("portal", Some(SECRET)).form(&form).send().await;
                let res = res.unwrap();
                assert_eq!(res.status(), 200);
                res.json::<Value>().await.unwrap()
            })
        })
        .collect();
    let mut out = Vec::new();
    for e in exchanges {
        out.push(e.await.unwrap());
    }
    out
}

/// The store's grouped writes so far: (token writes, transactions), from /metrics.
async fn writes(op: &Op) -> (u64, u64) {
    let text = op.http.get(format!("{}/metrics", op.base)).send().await.unwrap().text().await.unwrap();
    let counter = |name: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{text}"));
        line[name.len()..].trim().parse().unwrap()
    };
    (counter("orgid_token_writes_total"), counter("orgid_login_write_groups_total"))
}

#[tokio::test]
async fn tokens_written_together_are_stopped_together_by_revocation_logout_and_closure() {
    let op = Op::start(Backend::Sqlite, "[safety]\nmax_shrink_share = 0.5\nmax_close_share = 0.5").await;
    // 48 client-credentials tokens at once: every one answered, distinct, in fewer transactions.
    let before = writes(&op).await;
    let issued: Vec<_> = (0..48)
        .map(|_| {
            let (http, base) = (op.http.clone(), op.base.clone());
            tokio::spawn(async move {
                let form = [("grant_type", "client_credentials")];
                let res = http.post(format!("{base}/token")).basic_auth("portal", Some(SECRET)).form(&form);
                let res = res.send().await.unwrap();
                assert_eq!(res.status(), 200);
                res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in issued {
        tokens.push(t.await.unwrap());
    }
    assert_eq!(tokens.iter().collect::<HashSet<_>>().len(), 48);
    let after = writes(&op).await;
    assert_eq!(after.0 - before.0, 48, "one token write each");
    assert!(after.1 - before.1 < 48, "grouped: {} transactions for 48 responses", after.1 - before.1);
    // Revocation stops the one revoked, and only it.
    let res = op
        .http
        .post(format!("{}/revoke", op.base))
        .basic_auth("portal", Some(SECRET))
        .form(&[("token", tokens[7].as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(op.introspect(t).await["active"], i != 7, "token {i}");
    }

    // Logout: 16 grants of one session, exchanged at once, all stopped by it.
    let (verifier, challenge) = pkce();
    let mut b = op.browser();
    let initial = op.reset("zhangwei").await;
    first_login(&mut b, "portal", &initial, "Spring-2026a", &challenge).await;
    let grants = concurrent_exchanges(&op, &mut b, &challenge, &verifier, 16).await;
    let id_token = grants[0]["id_token"].as_str().unwrap().to_string();
    for g in &grants {
        assert_eq!(op.introspect(g["access_token"].as_str().unwrap()).await["active"], true);
    }
    let bye = url::form_urlencoded::byte_serialize(b"http://127.0.0.1:9/bye").collect::<String>();
    let page = b.get(&format!("/logout?id_token_hint={id_token}&post_logout_redirect_uri={bye}")).await;
    assert_eq!(page.status, 303, "{}", page.body);
    for g in &grants {
        for kind in ["access_token", "refresh_token"] {
            assert_eq!(op.introspect(g[kind].as_str().unwrap()).await["active"], false, "{kind} after logout");
        }
    }

    // Closure: 16 grants of 李娜, all stopped by the sync that closes her account.
    let mut b = op.browser();
    let initial = op.reset("lina").await;
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let page = b.login(&page, "lina", &initial).await;
    assert_eq!(b.change(&page, "Spring-2026a").await.status, 303);
    let grants = concurrent_exchanges(&op, &mut b, &challenge, &verifier, 16).await;
    let hr = Hr { dir: op.cfg.parent().unwrap().to_path_buf() };
    let mut li = Row::new(3, "C010", "A2", "李娜", "M12");
    li.left = true;
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12"), li], false);
    let (c, out) = orgid(&op.cfg, &["sync"]).await;
    assert_eq!(c, 0, "{out}");
    for g in &grants {
        let access = g["access_token"].as_str().unwrap();
        assert_eq!(op.introspect(access).await["active"], false);
        let res = op.http.get(format!("{}/userinfo", op.base)).bearer_auth(access).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
    op.stop().await;
}

#[tokio::test]
async fn a_token_answered_before_a_sigkill_is_still_there_after_it() {
    let dir = TempDir::new().unwrap();
    let hr = Hr::new(dir.path());
    hr.write(&[Row::new(1, "G000", "G1", "张伟", "")], false);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let url = store_url(Backend::Sqlite, dir.path()).await;
    let cfg =
        hr.config(&url, &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[oidc]\nissuer = \"{base}\"\n{SERVICES}"));
    assert_eq!(orgid(&cfg, &["sync"]).await.0, 0);
    let server = ServeProcess::start(&cfg, &base).await;
    // 64 requests at once; the server is killed as soon as the 40th answer arrives, while the
    // others are still being written.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..64 {
        let (http, base, tx) = (reqwest::Client::new(), base.clone(), tx.clone());
        tokio::spawn(async move {
            let form = [("grant_type", "client_credentials"), ("scope", "api")];
            let res = http.post(format!("{base}/token")).basic_auth("svc", Some("svc-secret-0123456789ab")).form(&form);
            let token = match res.send().await {
                Ok(r) if r.status() == 200 => {
                    r.json::<Value>().await.ok().and_then(|v| v["access_token"].as_str().map(String::from))
                }
                _ => None,
            };
            let _ = tx.send(token);
        });
    }
    drop(tx);
    let mut answered = Vec::new();
    let mut pid = Some(server.pid);
    while let Some(t) = rx.recv().await {
        answered.extend(t);
        if answered.len() == 40
            && let Some(p) = pid.take()
        {
            let kill = std::process::Command::new("kill").args(["-KILL", &p.to_string()]).status().unwrap();
            assert!(kill.success());
        }
    }
    assert!(answered.len() >= 40, "{} answered", answered.len());
    server.wait_dead().await;

    // Started again on the same store: every token a client was given is known and active, and
    // the audit trail holds a record of each and still verifies.
    let server = ServeProcess::start(&cfg, &base).await;
    let http = reqwest::Client::new();
    for t in &answered {
        let v: Value = http
            .post(format!("{base}/introspect"))
            .basic_auth("svc", Some("svc-secret-0123456789ab"))
            .form(&[("token", t.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["active"], true, "a token answered before the kill: {v}");
    }
    server.stop().await;
    let (code, out) = orgid(&cfg, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = orgid(&cfg, &["audit", "query", "--all", "--type", "token_issued", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    // Self-contained tokens: one record per group commit names the jti of each.
    let records = serde_json::from_str::<Value>(&out).unwrap()["records"].as_array().unwrap().clone();
    let jtis: std::collections::HashSet<String> = records
        .iter()
        .flat_map(|r| {
            r["details"]["attrs"]["jti"].as_str().unwrap_or_default().split(',').map(String::from).collect::<Vec<_>>()
        })
        .collect();
    for t in &answered {
        let jti = jwt_claims(t)["jti"].as_str().unwrap().to_string();
        assert!(jtis.contains(&jti), "the issue of {jti} is in the audit trail");
    }
}

fn jwt_claims(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}
