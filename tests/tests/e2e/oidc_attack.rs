//! The provider under attack (issue 14, its security half): a client gets only its scopes, and
//! request objects get their own errors.

use serde_json::Value;

use crate::oidc::{CB, Op, SECRET, code_params, pkce};
use crate::sync::{Backend, orgid, orgid_err};

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
