//! The README's first command, `orgid demo` (here with `--no-serve`): the synthetic group is synced,
//! the demo users get their roles, and the work it leaves for the console can be done by them.

use serde_json::Value;

use crate::sync::orgid;

async fn json(cfg: &std::path::Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend_from_slice(&["--format", "json"]);
    let (code, out) = orgid(cfg, &a).await;
    assert_eq!(code, 0, "{args:?}: {out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

#[tokio::test]
async fn the_demo_gives_its_users_roles_and_their_two_approvals_open_the_pending_account() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let dir_s = dir.display().to_string();
    let mut out = Vec::new();
    let code = orgid::cli::run_args(&["orgid", "demo", "--dir", &dir_s, "--no-serve"], Vec::new(), &mut out)
        .await
        .expect("demo");
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("demo user wangfang (王芳), one-time password: "), "{out}");
    assert!(out.contains("roles: group_it_admin@G000+, group_hr@G000+"), "{out}");
    assert!(out.contains("demo user chenjing (陈静)") && out.contains("roles: strategy_office@G000+, company_it@C021"));
    assert!(!out.contains("Serving on"), "--no-serve does not serve: {out}");

    let cfg = dir.join("orgid.toml");
    let grants = json(&cfg, &["roles", "list"]).await;
    let mut held: Vec<(String, String, String)> = grants
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["login"].as_str().unwrap().into(),
                g["role"].as_str().unwrap().into(),
                g["company"].as_str().unwrap().into(),
            )
        })
        .collect();
    held.sort();
    assert_eq!(
        held,
        [
            ("chenjing", "company_it", "C021"),
            ("chenjing", "strategy_office", "G000"),
            ("wangfang", "group_hr", "G000"),
            ("wangfang", "group_it_admin", "G000"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );

    // The unrated company's opening, made by the sync, waits for both offices.
    let pending = json(&cfg, &["requests", "list", "--state", "pending"]).await;
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["employee_number"], "N0001");
    let id = pending[0]["id"].as_i64().unwrap().to_string();

    // The independent company's roster difference is a check for its delegate, not a change.
    let (code, checks) = orgid(&cfg, &["reports", "roster-checks"]).await;
    assert_eq!(code, 0);
    assert!(checks.contains("C021") && checks.contains("B2101"), "{checks}");

    // One approval each (the same person may not take both steps), then it is applied.
    let (code, o) = orgid(&cfg, &["requests", "approve", &id, "--as", "chenjing"]).await;
    assert_eq!(code, 0, "{o}");
    let still = json(&cfg, &["requests", "show", &id]).await;
    assert_eq!(still["state"], "pending", "{still}");
    let (code, o) = orgid(&cfg, &["requests", "approve", &id, "--as", "wangfang"]).await;
    assert_eq!(code, 0, "{o}");
    let done = json(&cfg, &["requests", "show", &id]).await;
    assert_eq!(done["state"], "applied", "{done}");
    let accounts = json(&cfg, &["accounts", "list", "--company", "N001"]).await;
    let sunhao = accounts.as_array().unwrap().iter().find(|a| a["employee_number"] == "N0001").expect("N0001");
    assert_eq!(sunhao["status"], "active", "{sunhao}");
}

/// `demo --listen`: the chosen port is the one printed, registered for the demo client and the
/// issuer; served there, the demo's callback page redeems the code and shows the tokens decoded.
#[tokio::test]
async fn the_demo_listens_where_told_and_its_callback_shows_the_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let port = orgid_tests::free_port();
    let listen = format!("127.0.0.1:{port}");
    let base = format!("http://{listen}");
    let args = ["orgid", "demo", "--dir", dir.to_str().unwrap(), "--no-serve", "--listen", &listen];
    let mut out = Vec::new();
    let code = orgid::cli::run_args(&args, Vec::new(), &mut out).await.expect("demo");
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("issuer {base}:")) && out.contains(&format!("console: {base}/console")), "{out}");
    assert!(out.contains(&format!("{base}/authorize?client_id=demo")) && !out.contains("8080"), "{out}");
    let cfg = std::fs::read_to_string(dir.join("orgid.toml")).unwrap();
    assert!(cfg.contains(&format!("redirect_uris = [\"{base}/demo/callback\"]")), "{cfg}");
    let password = out.split("demo user wangfang (王芳), one-time password: ").nth(1).unwrap();
    let password = password.split(',').next().unwrap().to_string();

    // Served on that port: sign in as the demo client, land on the callback page.
    let config = orgid::cli::load_config(Some(&dir.join("orgid.toml")), Vec::new()).unwrap();
    assert_eq!(config.server.listen, listen);
    let app = orgid::app::App::open(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(orgid::cli::serve::serve_on(app, listener, async {
        let _ = rx.await;
    }));
    let mut b = crate::oidc::Browser::at(&base);
    let callback = format!("{base}/demo/callback");
    let params = [
        ("client_id", "demo"),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("redirect_uri", callback.as_str()),
        ("state", "demo"),
    ];
    let page = b.authorize(&params).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = b.login(&page, "wangfang", &password).await;
    let page = b.change(&page, "Demo-Pass-2026q").await;
    let landing = page.location.clone().unwrap_or_else(|| panic!("{}: {}", page.status, page.body));
    assert!(landing.starts_with(&format!("{callback}?code=")), "{landing}");
    let shown = b.get(landing.strip_prefix(&base).unwrap()).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let claims = &shown.body[shown.body.find("id=\"id_token-claims\"").expect("the ID token's claims")..];
    assert!(claims.contains("&quot;preferred_username&quot;: &quot;wangfang&quot;"), "{claims}");
    assert!(claims.contains(&format!("&quot;iss&quot;: &quot;{base}&quot;")), "{claims}");
    assert!(shown.body.contains("id=\"id_token-header\"") && shown.body.contains("&quot;alg&quot;"), "{}", shown.body);
    // The code is spent: the page again is a refusal, shown as such.
    let again = b.get(landing.strip_prefix(&base).unwrap()).await;
    assert_eq!(again.status, 400, "{}", again.body);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
