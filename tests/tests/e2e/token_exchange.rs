//! RFC 8693 token exchange: the portal, holding 王芳's access token, exchanges it for one
//! addressed to the HR API it calls on her behalf; its per-client policy, its errors, its audit,
//! and a delegate's token exchanged keeps the delegate in a nested `act`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::oidc::{CB, Op, SECRET, code_params, pkce};
use crate::sync::{Backend, orgid};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
const HR_SECRET: &str = "hr-api-secret-0123456789ab";

fn extra(portal_policy: bool) -> String {
    // The portal is the Op's own client; the policy goes on a second confidential client here,
    // `gateway`, and the HR API is the audience.
    let policy = if portal_policy { r#"token_exchange = ["hr-api"]"# } else { "" };
    format!(
        r#"[[clients]]
id = "gateway"
secret = "gateway-secret-0123456789"
redirect_uris = ["{CB}"]
grants = ["authorization_code"]
{policy}
[[clients]]
id = "hr-api"
secret = "{HR_SECRET}"
redirect_uris = ["{CB}"]
scopes = ["openid", "profile", "org"]
"#
    )
}

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn a_service_exchanges_a_users_token_for_its_audience_within_its_policy() {
    let op = Op::start(Backend::Sqlite, &extra(true)).await;
    let meta: Value = op
        .http
        .get(format!("{}/.well-known/openid-configuration", op.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(meta["grant_types_supported"].as_array().unwrap().contains(&json!(GRANT)), "{meta}");

    // 王芳 signs in to the gateway.
    let initial = op.reset("wangfang").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let page = b.authorize(&code_params("gateway", CB, &challenge, &[])).await;
    let page = b.login(&page, "wangfang", &initial).await;
    let code = b.change(&page, "Spring-2026a").await.redirect_params()["code"].clone();
    let gw = ("gateway", "gateway-secret-0123456789");
    let form =
        [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("code_verifier", &verifier)];
    let (s, tok) = op.token(&form, Some(gw)).await;
    assert_eq!(s, 200, "{tok}");
    let user_token = tok["access_token"].as_str().unwrap().to_string();
    let wang_sub = claims(&user_token)["sub"].as_str().unwrap().to_string();

    let exchange = |extra: Vec<(&'static str, String)>, who: (&'static str, &'static str)| {
        let op = &op;
        async move {
            let mut form: Vec<(&str, String)> = vec![("grant_type", GRANT.into())];
            form.extend(extra);
            let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            op.token(&refs, Some(who)).await
        }
    };
    let full = |aud: &str| {
        vec![("subject_token", user_token.clone()), ("subject_token_type", AT.into()), ("audience", aud.to_string())]
    };
    // The exchange: her sub, addressed to the HR API, the gateway acting.
    let (s, out) = exchange(full("hr-api"), gw).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["issued_token_type"], AT);
    assert!(out.get("refresh_token").is_none() && out.get("id_token").is_none(), "{out}");
    let c = claims(out["access_token"].as_str().unwrap());
    assert_eq!((c["sub"].as_str(), c["aud"].as_str()), (Some(wang_sub.as_str()), Some("hr-api")), "{c}");
    assert_eq!(c["act"], json!({ "sub": "gateway" }));
    assert!(!c["scope"].as_str().unwrap().contains("openid"), "{c}");
    // The HR API sees it live at introspection, and its userinfo is 王芳's.
    let intro: Value = op
        .http
        .post(format!("{}/introspect", op.base))
        .basic_auth("hr-api", Some(HR_SECRET))
        .form(&[("token", out["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((intro["active"].as_bool(), intro["client_id"].as_str()), (Some(true), Some("hr-api")), "{intro}");

    // Errors, each as RFC 8693 / RFC 6749 name them.
    let err = |r: (u16, Value)| (r.0, r.1["error"].as_str().unwrap_or_default().to_string());
    assert_eq!(err(exchange(full("portal"), gw).await), (400, "invalid_target".into()), "outside the policy");
    assert_eq!(err(exchange(full("nobody"), gw).await), (400, "invalid_target".into()));
    assert_eq!(
        err(exchange(full("hr-api"), ("portal", SECRET)).await),
        (400, "unauthorized_client".into()),
        "no policy"
    );
    let mut no_aud = full("hr-api");
    no_aud.pop();
    assert_eq!(err(exchange(no_aud, gw).await), (400, "invalid_request".into()));
    let mut bad_type = full("hr-api");
    bad_type[1].1 = "urn:ietf:params:oauth:token-type:id_token".into();
    assert_eq!(err(exchange(bad_type, gw).await), (400, "invalid_request".into()));
    let mut forged = full("hr-api");
    forged[0].1 = format!("{}x", user_token);
    assert_eq!(err(exchange(forged, gw).await), (400, "invalid_request".into()));
    let mut wide = full("hr-api");
    wide.push(("scope", "profile email".into()));
    assert_eq!(err(exchange(wide, gw).await), (400, "invalid_scope".into()), "email is not the audience's");

    // Audited: the issue names the exchanging client and the subject token.
    let (_, out) = orgid(&op.cfg, &["audit", "query", "--type", "token_issued", "--all", "--format", "json"]).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    let ex: Vec<&Value> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["details"]["attrs"]["grant"] == "token_exchange")
        .collect();
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!((ex[0]["login"].as_str(), ex[0]["client_id"].as_str()), (Some("wangfang"), Some("hr-api")));
    assert_eq!(ex[0]["details"]["attrs"]["exchanged_by"], "gateway");
    assert_eq!(ex[0]["details"]["attrs"]["subject_jti"], claims(&user_token)["jti"]);

    // Logging out ends what was exchanged too.
    let exchanged = exchange(full("hr-api"), gw).await.1["access_token"].as_str().unwrap().to_string();
    let page = b.get(&format!("/logout?id_token_hint={}", tok["id_token"].as_str().unwrap())).await;
    assert!(page.status < 400, "{}", page.body);
    let intro: Value = op
        .http
        .post(format!("{}/introspect", op.base))
        .basic_auth("hr-api", Some(HR_SECRET))
        .form(&[("token", exchanged.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], false, "{intro}");
    op.stop().await;
}
