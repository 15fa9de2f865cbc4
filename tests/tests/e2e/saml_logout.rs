//! IdP-initiated SAML single logout with mod_auth_mellon: a person signed in to mellon through
//! orgid logs out at orgid in headless Chromium; the logout page sends mellon a signed
//! LogoutRequest in a hidden iframe, mellon ends its session (its old cookie no longer opens the
//! protected page) and answers with a signed LogoutResponse, which orgid checks and audits. A
//! session that ends without a browser is audited as not told; a forged LogoutResponse is
//! refused.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use orgid_tests::Browser;
use serde_json::Value;

use crate::saml::{Mellon, NEW_PW, fetch, mellon, mellon_for_chromium, post_response, posted, to_idp};
use crate::sync::orgid;

/// A plain client with no cookies of its own and no redirects followed.
fn bare() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// GET `url` with only `cookie` (name=value): (status, Location).
async fn with_cookie(url: &str, cookie: &str) -> (u16, String) {
    let res = bare().get(url).header("cookie", cookie).send().await.unwrap();
    let loc = res.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default();
    (res.status().as_u16(), loc)
}

/// The `single_logout` audit records, as JSON.
async fn single_logout_audit(cfg: &std::path::Path) -> Vec<Value> {
    let (c, out) = orgid(cfg, &["audit", "query", "--all", "--format", "json", "--type", "single_logout"]).await;
    assert_eq!(c, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn logout_at_orgid_ends_the_mellon_session_through_the_browser() {
    let Mellon { apache, op, entity } = mellon_for_chromium("").await;
    let initial = op.reset("wangfang").await;
    let protected = format!("{}/protected/", apache.base());

    // Signed in to mellon through orgid's login page, in Chromium.
    let b = Browser::start().await;
    b.goto(&protected).await;
    b.wait_for_text("统一身份认证", 10).await;
    assert!(b.current_url().await.starts_with(&format!("{}/saml/sso?", op.base)), "{}", b.current_url().await);
    b.fill("#login", "wangfang").await;
    b.fill("#password", &initial).await;
    b.click("button[type=submit]").await;
    b.wait_for_text("初始密码", 10).await;
    b.fill("#new", NEW_PW).await;
    b.fill("#repeat", NEW_PW).await;
    b.click("button[type=submit]").await;
    let mut src = String::new();
    for _ in 0..75 {
        src = b.source().await;
        if src.contains("MELLON_company=C010") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(src.contains("MELLON_company=C010"), "{src}\n{}", apache.error_log());
    assert_eq!(b.current_url().await, protected);
    let cookie = b
        .cookies()
        .await
        .into_iter()
        .find(|(n, _)| n == "mellon-mellon-oa")
        .map(|(n, v)| format!("{n}={v}"))
        .unwrap_or_else(|| panic!("no mellon cookie"));
    assert_eq!(with_cookie(&protected, &cookie).await.0, 200, "the cookie opens the page");

    // Logout at orgid: the logged-out page frames mellon's SingleLogoutService with a signed
    // LogoutRequest.
    b.goto(&format!("{}/logout", op.base)).await;
    b.click("button[type=submit]").await;
    let page = b.wait_for_text("<iframe", 10).await;
    let frame = format!("{}/mellon/logout?SAMLRequest=", apache.base());
    assert!(page.contains(&frame) && page.contains("Signature="), "{page}");

    // mellon ended its session: with the old cookie, it sends the browser to sign in again.
    let mut refused = (0, String::new());
    for _ in 0..50 {
        refused = with_cookie(&protected, &cookie).await;
        if refused.0 != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        (300..400).contains(&refused.0) && refused.1.starts_with(&format!("{}/mellon/login?", apache.base())),
        "mellon still takes the old cookie: {refused:?}\n{}",
        apache.error_log()
    );

    // mellon's LogoutResponse came back and is audited beside the request orgid sent.
    let mut records = Vec::new();
    for _ in 0..50 {
        records = single_logout_audit(&op.cfg).await;
        if records.iter().any(|r| r.to_string().contains("LogoutResponse")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = Value::Array(records.clone()).to_string();
    assert!(all.contains("LogoutRequest sent through the browser"), "{all}");
    assert!(all.contains("LogoutResponse: the SP ended its session"), "{all}");
    assert!(all.contains(&entity), "{all}");
    assert!(records.iter().all(|r| r["outcome"] == "success"), "{all}");
    b.quit().await;
    op.stop().await;
}

#[tokio::test]
async fn a_session_ended_without_a_browser_audits_the_sp_as_not_told_and_forged_answers_are_refused() {
    let Mellon { apache, op, entity } = mellon("").await;
    let initial = op.reset("wangfang").await;
    let mut b = op.browser();
    let protected = format!("{}/protected/", apache.base());
    let sso = to_idp(&b, &op, &protected).await;
    let page = b.get(&sso[op.base.len()..]).await;
    let page = b.login(&page, "wangfang", &initial).await;
    let (action, xml, relay) = posted(&b.change(&page, NEW_PW).await);
    assert_eq!(post_response(&b, &action, &xml, relay.as_deref()).await.status, 303);
    assert_eq!(fetch(&b, &protected, None).await.status, 200);

    // An administrator ends the sessions: no browser to carry a LogoutRequest, and mellon has
    // no SOAP endpoint in its metadata: the audit trail says the SP was not told.
    let (c, out) = orgid(&op.cfg, &["accounts", "end-sessions", "wangfang"]).await;
    assert_eq!(c, 0, "{out}");
    let mut records = Vec::new();
    for _ in 0..100 {
        records = single_logout_audit(&op.cfg).await;
        if !records.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = Value::Array(records.clone()).to_string();
    assert_eq!(records.len(), 1, "told once, given up at once: {all}");
    assert_eq!(records[0]["outcome"], "failure", "{all}");
    assert!(all.contains("not reachable without a browser"), "{all}");

    // A LogoutResponse in mellon's name but not signed by its key is refused, and so is one
    // without a signature.
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_f1" Version="2.0" IssueInstant="{}" InResponseTo="_x"><saml:Issuer>{entity}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, xml.as_bytes()).unwrap();
    let q = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let saml = q(&B64.encode(enc.finish().unwrap()));
    let alg = q("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
    let forged =
        format!("{}/saml/slo?SAMLResponse={saml}&SigAlg={alg}&Signature={}", op.base, q(&B64.encode([7u8; 256])));
    let res = bare().get(&forged).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let unsigned = format!("{}/saml/slo?SAMLResponse={saml}", op.base);
    assert_eq!(bare().get(&unsigned).send().await.unwrap().status(), 400);
    assert_eq!(single_logout_audit(&op.cfg).await.len(), 1, "nothing forged is audited as an answer");
    op.stop().await;
}
