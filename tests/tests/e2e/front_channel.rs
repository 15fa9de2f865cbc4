//! OpenID Connect Front-Channel Logout 1.0: orgid's logout page loads each front-channel
//! client's logout URI, with `iss` and the session's `sid`, in an iframe its CSP allows, then
//! goes on to the post-logout redirect.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use crate::oidc::{CB, Op, SECRET, code_params, pkce};
use crate::sync::Backend;

const FC_SECRET: &str = "fc-secret-0123456789abcdef";

#[tokio::test]
async fn logout_frames_each_front_channel_client_with_iss_and_sid() {
    let extra = format!(
        r#"[[clients]]
id = "fc"
secret = "{FC_SECRET}"
redirect_uris = ["{CB}"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]
frontchannel_logout_uri = "http://127.0.0.1:9/fc/logout"
"#
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
    assert_eq!(
        (meta["frontchannel_logout_supported"].as_bool(), meta["frontchannel_logout_session_supported"].as_bool()),
        (Some(true), Some(true))
    );

    let initial = op.reset("wangfang").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let page = b.authorize(&code_params("fc", CB, &challenge, &[])).await;
    let page = b.login(&page, "wangfang", &initial).await;
    let code = b.change(&page, "Spring-2026a").await.redirect_params()["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", &verifier),
    ];
    let (s, tok) = op.token(&form, Some(("fc", FC_SECRET))).await;
    assert_eq!(s, 200, "{tok}");
    let id_token = tok["id_token"].as_str().unwrap().to_string();
    let sid =
        serde_json::from_slice::<Value>(&B64.decode(id_token.split('.').nth(1).unwrap()).unwrap()).unwrap()["sid"]
            .as_str()
            .unwrap()
            .to_string();
    // The portal (no front-channel URI) signs in in the same session: it gets no frame.
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(page.status, 303);
    let _ = SECRET;

    let bye = url::form_urlencoded::byte_serialize(b"http://127.0.0.1:9/bye").collect::<String>();
    let res = b
        .http()
        .get(format!("{}/logout?id_token_hint={id_token}&post_logout_redirect_uri={bye}&state=s1", op.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-src http://127.0.0.1:9;"), "{csp}");
    let body = res.text().await.unwrap();
    let iss = url::form_urlencoded::byte_serialize(op.base.as_bytes()).collect::<String>();
    let frame = format!("<iframe src=\"http://127.0.0.1:9/fc/logout?iss={iss}&amp;sid={sid}\"");
    assert!(body.contains(&frame), "{frame} in {body}");
    assert_eq!(body.matches("<iframe").count(), 1, "only the front-channel client: {body}");
    assert!(body.contains("url=http://127.0.0.1:9/bye?state=s1"), "then on to the client: {body}");
    // The session is over.
    let again = b.authorize(&code_params("fc", CB, &challenge, &[("prompt", "none")])).await;
    assert_eq!(again.redirect_params()["error"], "login_required");
    op.stop().await;
}
