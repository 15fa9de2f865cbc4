//! Single logout end to end: a test relying party receives the CAS logout requests and the OIDC
//! back-channel logout tokens (validated as OpenID Connect Back-Channel Logout 1.0 §2.6 says)
//! for each way a session ends: a logout, an administrator's password reset (which ends every
//! session of the account), an administrator ending the sessions (`orgid accounts
//! end-sessions`), an account closed by the HR sync, and the idle timeout; a delivery that fails
//! is retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::{StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyId};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::hr::{Hr, Row};
use crate::oidc::{Browser, CB, Op, code_params, pkce};
use crate::sync::{Backend, orgid};

const BCL_SECRET: &str = "bcl-secret-0123456789abc";

/// What the relying party received: (path, form).
type Got = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

/// The test relying party: records every POST; `/flaky` fails its first delivery.
struct Rp {
    base: String,
    port: u16,
    got: Got,
}

async fn rp() -> Rp {
    let got: Got = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    async fn record(State(got): State<Got>, uri: Uri, Form(f): Form<HashMap<String, String>>) -> StatusCode {
        let mut g = got.lock().unwrap();
        let first_flaky = uri.path() == "/flaky" && !g.iter().any(|(p, _)| p == "/flaky-failed");
        if first_flaky {
            g.push(("/flaky-failed".into(), f));
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        g.push((uri.path().to_string(), f));
        StatusCode::OK
    }
    let app = axum::Router::new().fallback(record).with_state(got.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Rp { base: format!("http://127.0.0.1:{port}"), port, got }
}

impl Rp {
    /// Waits (up to 20 s) for a POST to `path` whose form satisfies `pred`; returns the form.
    async fn wait(&self, path: &str, pred: impl Fn(&HashMap<String, String>) -> bool) -> HashMap<String, String> {
        for _ in 0..200 {
            if let Some((_, f)) = self.got.lock().unwrap().iter().find(|(p, f)| p == path && pred(f)) {
                return f.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("nothing reached {path}; got {:?}", self.got.lock().unwrap());
    }

    fn count(&self, path: &str) -> usize {
        self.got.lock().unwrap().iter().filter(|(p, _)| p == path).count()
    }
}

/// Validates a logout token as OpenID Connect Back-Channel Logout 1.0 §2.6 asks of the RP:
/// the signature with the provider's key and the key's algorithm, `typ`, `iss`, `aud`, `iat`,
/// `exp`, `jti`, `sub` or `sid`, the event, and no `nonce`. Returns the claims.
fn check_logout_token(token: &str, jwks: &CoreJsonWebKeySet, issuer: &str, aud: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(header["typ"], "logout+jwt", "{header}");
    let kid = JsonWebKeyId::new(header["kid"].as_str().unwrap().into());
    let key = jwks.keys().iter().find(|k| k.key_id() == Some(&kid)).expect("the token's key is published");
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone()).unwrap();
    assert_eq!(alg, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, "signed as the client's ID tokens are");
    let input = format!("{}.{}", parts[0], parts[1]);
    key.verify_signature(&alg, input.as_bytes(), &B64.decode(parts[2]).unwrap()).expect("a valid signature");
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], aud);
    let now = chrono::Utc::now().timestamp();
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!(exp > iat, "{claims}");
    assert!(iat <= now + 3 * 3600, "{claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16), "{claims}");
    assert!(claims["sid"].is_string() && claims["sub"].is_string(), "{claims}");
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object(), "{claims}");
    assert!(claims.get("nonce").is_none(), "a logout token never has a nonce: {claims}");
    claims
}

/// Signs `login` in to the OIDC client `bcl` (and `flaky`), then to the CAS service; returns the
/// browser, the ID token's `sub` and `sid`, and the CAS ticket the service validated.
async fn sign_in(op: &Op, rp: &Rp, login: &str, password: &str) -> (Browser, String, String, String) {
    let initial = op.reset(login).await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let page = b.authorize(&code_params("bcl", CB, &challenge, &[])).await;
    let page = b.login(&page, login, &initial).await;
    let page = b.change(&page, password).await;
    let code = page.redirect_params()["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tok) = op.token(&form, Some(("bcl", BCL_SECRET))).await;
    assert_eq!(status, 200, "{tok}");
    let id_token = tok["id_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(&B64.decode(id_token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let (sub, sid) = (claims["sub"].as_str().unwrap().to_string(), claims["sid"].as_str().unwrap().to_string());
    assert!(sid.len() >= 20, "sid in the ID token: {claims}");
    // The same session in the flaky client (its code is enough to be told).
    let page = b.authorize(&code_params("flaky", CB, &challenge, &[])).await;
    assert!(page.redirect_params().contains_key("code"));
    // And a CAS service.
    let service = format!("{}/cas/app", rp.base);
    let q: String = url::form_urlencoded::byte_serialize(service.as_bytes()).collect();
    let page = b.get(&format!("/cas/login?service={q}")).await;
    let loc = page.location.unwrap();
    let ticket = loc.split("ticket=").nth(1).unwrap().to_string();
    let xml = op
        .http
        .get(format!("{}/cas/serviceValidate", op.base))
        .query(&[("service", service.as_str()), ("ticket", ticket.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.contains(&format!("<cas:user>{login}</cas:user>")), "{xml}");
    (b, sub, sid, ticket)
}

#[tokio::test]
async fn every_way_a_session_ends_reaches_its_cas_services_and_oidc_clients() {
    let rp = rp().await;
    let extra = format!(
        r#"[safety]
max_shrink_share = 0.5
max_close_share = 0.5
[[clients]]
id = "bcl"
secret = "{BCL_SECRET}"
redirect_uris = ["{CB}"]
backchannel_logout_uri = "{rp}/bcl"
[[clients]]
id = "flaky"
secret = "flaky-secret-0123456789"
redirect_uris = ["{CB}"]
backchannel_logout_uri = "{rp}/flaky"
[[clients]]
id = "cas-app"
protocol = "cas"
services = ['^http://127\.0\.0\.1:{port}/cas/.*$']
"#,
        rp = rp.base,
        port = rp.port
    );
    let op = Op::start(Backend::Sqlite, &extra).await;
    let meta: Value = op
        .http
        .get(format!("{}/.well-known/openid-configuration", op.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["backchannel_logout_supported"], true);
    assert_eq!(meta["backchannel_logout_session_supported"], true);
    let (_, jwks) = op.metadata().await;
    let token_for = |sid: String| {
        move |f: &HashMap<String, String>| {
            f.get("logout_token").is_some_and(|t| {
                let c: Value = serde_json::from_slice(&B64.decode(t.split('.').nth(1).unwrap()).unwrap()).unwrap();
                c["sid"] == sid.as_str()
            })
        }
    };
    let request_for = |ticket: String| {
        move |f: &HashMap<String, String>| {
            f.get("logoutRequest")
                .is_some_and(|r| r.contains(&format!("<samlp:SessionIndex>{ticket}</samlp:SessionIndex>")))
        }
    };

    // 1. A logout.
    let (mut b, sub, sid, ticket) = sign_in(&op, &rp, "zhangwei", "Spring-2026a").await;
    assert_eq!(rp.count("/bcl"), 0, "nothing is sent while the session lives");
    assert_eq!(b.get("/cas/logout").await.status, 200);
    let form = rp.wait("/bcl", token_for(sid.clone())).await;
    let claims = check_logout_token(&form["logout_token"], &jwks, &op.base, "bcl");
    assert_eq!(claims["sub"], sub.as_str());
    let form = rp.wait("/cas/app", request_for(ticket.clone())).await;
    assert!(form["logoutRequest"].contains("<saml:NameID>zhangwei</saml:NameID>"), "{form:?}");
    // The flaky client refused the first delivery; it is tried again after a while.
    rp.wait("/flaky-failed", |_| true).await;
    assert_eq!(rp.count("/flaky"), 0);
    op.clock.advance(Duration::seconds(31));
    let form = rp.wait("/flaky", token_for(sid.clone())).await;
    check_logout_token(&form["logout_token"], &jwks, &op.base, "flaky");

    // 2. An administrator's password reset ends every session of the account.
    let (_b2, _, sid2, ticket2) = sign_in(&op, &rp, "wangfang", "Spring-2026b").await;
    op.reset("wangfang").await;
    rp.wait("/bcl", token_for(sid2)).await;
    rp.wait("/cas/app", request_for(ticket2)).await;

    // 2b. An administrator ends the account's sessions.
    let (_b2b, _, sid2b, ticket2b) = sign_in(&op, &rp, "wangfang", "Spring-2026e").await;
    let (c, out) = orgid(&op.cfg, &["accounts", "end-sessions", "wangfang"]).await;
    assert_eq!(c, 0, "{out}");
    rp.wait("/bcl", token_for(sid2b)).await;
    rp.wait("/cas/app", request_for(ticket2b)).await;

    // 3. The account closed by the HR sync.
    let (_b3, _, sid3, ticket3) = sign_in(&op, &rp, "lina", "Spring-2026c").await;
    let hr = Hr { dir: op.cfg.parent().unwrap().to_path_buf() };
    let mut li = Row::new(3, "C010", "A2", "李娜", "M12");
    li.left = true;
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12"), li], false);
    let (c, out) = orgid(&op.cfg, &["sync"]).await;
    assert_eq!(c, 0, "{out}");
    rp.wait("/bcl", token_for(sid3)).await;
    rp.wait("/cas/app", request_for(ticket3)).await;

    // 4. The idle timeout.
    let (_b4, _, sid4, ticket4) = sign_in(&op, &rp, "zhangwei", "Summer-2026d").await;
    op.clock.advance(Duration::minutes(31));
    let form = rp.wait("/bcl", token_for(sid4)).await;
    check_logout_token(&form["logout_token"], &jwks, &op.base, "bcl");
    rp.wait("/cas/app", request_for(ticket4)).await;

    // Each is told once, and every delivery is audited.
    assert_eq!(rp.count("/bcl"), 5, "{:?}", rp.got.lock().unwrap());
    assert_eq!(rp.count("/cas/app"), 5);
    let (c, out) = orgid(&op.cfg, &["audit", "query", "--all", "--format", "json", "--type", "single_logout"]).await;
    assert_eq!(c, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let records = v["records"].as_array().unwrap();
    let n = |outcome: &str| records.iter().filter(|r| r["outcome"] == outcome).count();
    assert_eq!(n("failure"), 1, "the flaky client's first try: {out}");
    assert!(n("success") >= 9, "{out}");
    let (c, out2) = orgid(&op.cfg, &["audit", "query", "--all", "--format", "json", "--type", "logout"]).await;
    assert_eq!(c, 0);
    assert!(out2.contains("every session ended by an administrator"), "{out2}");
    for why in ["session ended", "account can no longer sign in", "session expired"] {
        assert!(out.contains(why), "{why}: {out}");
    }
    op.stop().await;
}
