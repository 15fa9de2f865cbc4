//! The provider under attack (issue 14, its security half): every form of the login flow acts
//! once and only for the password it was sealed for; a client gets only its scopes, and request
//! objects get their own errors.

use std::net::IpAddr;

use chrono::Duration;
use serde_json::Value;

use crate::oidc::{Browser, CB, Op, Page, SECRET, code_params, pkce};
use crate::sync::{Backend, orgid, orgid_err};

const EXPIRED: &str = "页面已过期";

/// The portal's authorization request with `scope`.
fn asking<'a>(
    client: &'a str,
    challenge: &'a str,
    scope: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut p = code_params(client, CB, challenge, extra);
    p.retain(|(k, _)| *k != "scope");
    p.push(("scope", scope));
    p
}

/// A login in a fresh browser (from `local`): the answer to the password.
async fn login_from(op: &Op, local: Option<IpAddr>, login: &str, password: &str) -> Page {
    let mut b = Browser::at_from(&op.base, local);
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    b.login(&page, login, password).await
}

/// `orgid audit query --all` with `filter`: the records.
async fn audit(op: &Op, filter: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "query", "--all", "--format", "json"];
    args.extend_from_slice(filter);
    let (code, out) = orgid(&op.cfg, &args).await;
    assert_eq!(code, 0, "{out}");
    serde_json::from_str::<Value>(&out).unwrap()["records"].as_array().cloned().unwrap_or_default()
}

/// The TOTP key shown on an enrolment page, and the code it gives now.
fn totp_code(op: &Op, page: &Page) -> String {
    let start = page.body.find("<code>").unwrap() + 6;
    let secret = &page.body[start..start + page.body[start..].find('<').unwrap()];
    let now = orgid_directory::Clock::now(op.clock.as_ref()).timestamp();
    format!("{:06}", orgid_idp::totp::code_at(secret, now / 30).unwrap())
}

#[tokio::test]
async fn a_replayed_first_login_password_change_is_refused_and_changes_nothing() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let change = b.login(&page, "zhangwei", &initial).await;
    assert!(change.body.contains("初始密码"), "{}", change.body);
    let done = b.change(&change, "Spring-2026a").await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.redirect_params().contains_key("code"));
    let session = b.cookie("orgid_session");

    // The same form again: same pending login, CSRF token and cookie, another new password.
    let again = b.change(&change, "Autumn-2026b").await;
    assert_eq!((again.status, again.location.as_deref()), (400, None), "{}", again.body);
    assert!(again.body.contains(EXPIRED), "{}", again.body);
    assert_eq!(b.cookie("orgid_session"), session, "no new session");
    // Nothing changed: the first new password signs in, the second does not.
    assert_eq!(login_from(&op, None, "zhangwei", "Autumn-2026b").await.status, 401);
    assert_eq!(login_from(&op, None, "zhangwei", "Spring-2026a").await.status, 303);
    assert_eq!(audit(&op, &["--type", "password_change"]).await.len(), 1, "one change");
    op.stop().await;
}

#[tokio::test]
async fn every_login_form_acts_once_and_only_for_the_password_it_was_sealed_for() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("zhangwei").await;
    let (_, challenge) = pkce();
    // Two browsers sign in with the initial password: two change forms for one password.
    let mut a = op.browser();
    let mut c = op.browser();
    let page = a.authorize(&code_params("vault", CB, &challenge, &[])).await;
    let change_a = a.login(&page, "zhangwei", &initial).await;
    let page = c.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let change_c = c.login(&page, "zhangwei", &initial).await;
    let otp = a.change(&change_a, "Spring-2026a").await;
    assert!(otp.body.contains("otpauth://"), "{}", otp.body);
    // c's form was never posted, but the password it was sealed for is gone.
    let late = c.change(&change_c, "Autumn-2026b").await;
    assert_eq!((late.status, late.location.as_deref()), (400, None), "{}", late.body);

    // The second factor: the right code once; the same form again is refused.
    let form = [("csrf", otp.field("csrf")), ("pending", otp.field("pending")), ("code", totp_code(&op, &otp))];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(a.post("/login/otp", &form).await.status, 303);
    let replay = a.post("/login/otp", &form).await;
    assert_eq!((replay.status, replay.location.as_deref()), (400, None), "{}", replay.body);

    // The expiry warning's "later": once.
    op.clock.advance(Duration::days(80));
    let mut w = op.browser();
    let page = w.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let warn = w.login(&page, "zhangwei", "Spring-2026a").await;
    assert!(warn.body.contains("即将过期"), "{}", warn.body);
    let later = [("csrf", warn.field("csrf")), ("pending", warn.field("pending")), ("choice", "continue".into())];
    let later: Vec<(&str, &str)> = later.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(w.post("/login/continue", &later).await.status, 303);
    assert_eq!(w.post("/login/continue", &later).await.status, 400);

    // The logout confirmation: once.
    let confirm = w.get("/logout").await;
    assert!(confirm.body.contains("/logout/confirm"), "{}", confirm.body);
    let form = [("csrf", confirm.field("csrf")), ("carry", confirm.field("carry"))];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = w.post("/logout/confirm", &form).await;
    assert!(out.status == 200 && out.body.contains("已退出"), "{}", out.body);
    assert_eq!(w.post("/logout/confirm", &form).await.status, 400);
    assert_eq!(audit(&op, &["--type", "password_change"]).await.len(), 1);
    op.stop().await;
}

#[tokio::test]
async fn a_client_gets_only_its_scopes_and_request_uri_has_its_own_error() {
    let op = Op::start(Backend::Sqlite, "").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    // OpenID Connect Core §3.1.2.6: request_uri and request each have their error.
    let p = b.authorize(&code_params("portal", CB, &challenge, &[("request_uri", "https://x.example/r")])).await;
    let p = p.redirect_params();
    assert_eq!((p["error"].as_str(), p["state"].as_str()), ("request_uri_not_supported", "st-1"));
    let p = b.authorize(&code_params("portal", CB, &challenge, &[("request", "eyJ9.e30.")])).await.redirect_params();
    assert_eq!(p["error"], "request_not_supported");
    // A scope the client may not have: invalid_scope, back to the client.
    let p = b.authorize(&asking("portal", &challenge, "openid admin", &[])).await.redirect_params();
    assert_eq!((p["error"].as_str(), p["state"].as_str()), ("invalid_scope", "st-1"), "{p:?}");
    assert_eq!(b.authorize(&asking("portal", &challenge, "openid profile org", &[])).await.status, 200);
    // The same at the token endpoint, for client credentials.
    let cc = |scope: &'static str| [("grant_type", "client_credentials"), ("scope", scope)];
    let (s, e) = op.token(&cc("admin"), Some(("portal", SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_scope")), "{e}");
    assert!(e.get("access_token").is_none());
    let (s, t) = op.token(&cc("openid"), Some(("portal", SECRET))).await;
    assert_eq!((s, t["scope"].as_str()), (200, Some("")), "a user scope means nothing without a user: {t}");
    op.stop().await;
}

#[tokio::test]
async fn configured_and_registered_clients_have_the_scopes_they_are_given() {
    let extra = format!(
        "[[clients]]\nid = \"batch\"\nsecret = \"batch-secret-0123456789\"\ngrants = [\"client_credentials\"]\n\
         scopes = [\"hr.read\", \"hr.export\"]\n\
         [[clients]]\nid = \"narrow\"\nsecret = \"narrow-secret-0123456789\"\nredirect_uris = [\"{CB}\"]\n\
         scopes = [\"openid\", \"profile\"]\n"
    );
    let op = Op::start(Backend::Sqlite, &extra).await;
    let batch = Some(("batch", "batch-secret-0123456789"));
    let cc = |scope: &'static str| [("grant_type", "client_credentials"), ("scope", scope)];
    let (s, t) = op.token(&cc("hr.read hr.export"), batch).await;
    assert_eq!((s, t["scope"].as_str()), (200, Some("hr.read hr.export")), "{t}");
    assert_eq!(op.introspect(t["access_token"].as_str().unwrap()).await["scope"], "hr.read hr.export");
    for other in ["hr.write", "openid", "hr.read admin"] {
        let (s, e) = op.token(&cc(other), batch).await;
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_scope")), "{other}: {e}");
    }
    let mut b = op.browser();
    let (_, challenge) = pkce();
    assert_eq!(b.authorize(&asking("narrow", &challenge, "openid profile", &[])).await.status, 200);
    let p = b.authorize(&asking("narrow", &challenge, "openid email", &[])).await.redirect_params();
    assert_eq!(p["error"], "invalid_scope");

    // `orgid clients add --scope`: those only; without, the standard ones.
    let (c, out) =
        orgid(&op.cfg, &["clients", "add", "hr-app", "--redirect-uri", CB, "--scope", "openid", "--scope", "org"])
            .await;
    assert_eq!(c, 0, "{out}");
    let (c, out) = orgid(&op.cfg, &["clients", "add", "wiki", "--redirect-uri", CB]).await;
    assert_eq!(c, 0, "{out}");
    assert_eq!(b.authorize(&asking("hr-app", &challenge, "openid org", &[])).await.status, 200);
    let p = b.authorize(&asking("hr-app", &challenge, "openid profile", &[])).await.redirect_params();
    assert_eq!(p["error"], "invalid_scope");
    let all = "openid profile email phone org offline_access";
    assert_eq!(b.authorize(&asking("wiki", &challenge, all, &[])).await.status, 200);
    let (_, list) = orgid(&op.cfg, &["clients", "list", "--format", "json"]).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    let scopes = |id: &str| list.as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["scopes"].clone();
    assert_eq!((scopes("hr-app"), scopes("wiki")), (Value::from("openid org"), Value::from(all)));
    let err = orgid_err(&op.cfg, &["clients", "add", "x", "--redirect-uri", CB, "--scope", "bad scope"]).await;
    assert!(err.contains("bad scope"), "{err}");
    let err = orgid_err(&op.cfg, &["clients", "add", "y", "--redirect-uri", CB, "--scope", "profile"]).await;
    assert!(err.contains("openid"), "{err}");
    op.stop().await;
}
