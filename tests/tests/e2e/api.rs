//! The admin API over HTTP: bearer authentication (RFC 6750), the OpenAPI document, JSON errors.

use crate::oidc::{CB, Op, SECRET, first_login, pkce};
use crate::sync::Backend;

/// An access token of 张伟 (zhangwei) for the `portal` client, from a real code flow.
pub(crate) async fn user_token(op: &Op) -> String {
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let params = first_login(&mut b, "portal", &initial, "Spring-2026a", &challenge).await;
    let (s, tok) = op
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
    assert_eq!(s, 200, "{tok}");
    tok["access_token"].as_str().unwrap().to_string()
}

async fn call(op: &Op, path: &str, auth: Option<&str>) -> (u16, Option<String>, serde_json::Value) {
    let mut req = op.http.get(format!("{}{path}", op.base));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let challenge = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    (status, challenge, res.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn bearer_tokens_are_checked_as_rfc_6750_says() {
    let op = Op::start(Backend::Sqlite, "").await;
    let token = user_token(&op).await;

    // No credentials: 401 with a bare challenge and no error code.
    let (s, ch, body) = call(&op, "/api/v1/me", None).await;
    assert_eq!((s, ch.as_deref()), (401, Some("Bearer realm=\"orgid\"")), "{body}");
    assert_eq!(body["error"], "invalid_token");
    // Another scheme is no bearer credential either.
    let (s, ch, _) = call(&op, "/api/v1/me", Some("Basic cG9ydGFsOng=")).await;
    assert_eq!((s, ch.as_deref()), (401, Some("Bearer realm=\"orgid\"")));
    // A malformed header: 400 invalid_request.
    let (s, ch, _) = call(&op, "/api/v1/me", Some("Bearer a b")).await;
    assert_eq!(s, 400);
    assert!(ch.unwrap().contains("error=\"invalid_request\""));
    // Garbage, a tampered signature: 401 invalid_token.
    for bad in ["Bearer not-a-token".to_string(), format!("Bearer {}x", &token[..token.len() - 1])] {
        let (s, ch, body) = call(&op, "/api/v1/me", Some(&bad)).await;
        assert_eq!(s, 401, "{body}");
        assert_eq!(ch.as_deref(), Some("Bearer realm=\"orgid\", error=\"invalid_token\""));
    }

    // The real token: the account it speaks for.
    let (s, _, me) = call(&op, "/api/v1/me", Some(&format!("Bearer {token}"))).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!((me["login"].as_str(), me["company"].as_str()), (Some("zhangwei"), Some("G000")));
    assert_eq!((me["name"].as_str(), me["client_id"].as_str()), (Some("张伟"), Some("portal")));

    // A client-credentials token names no account: refused.
    let (s, cc) = op
        .token(&[("grant_type", "client_credentials"), ("client_id", "portal"), ("client_secret", SECRET)], None)
        .await;
    assert_eq!(s, 200, "{cc}");
    let (s, ch, _) = call(&op, "/api/v1/me", Some(&format!("Bearer {}", cc["access_token"].as_str().unwrap()))).await;
    assert_eq!((s, ch.as_deref()), (401, Some("Bearer realm=\"orgid\", error=\"invalid_token\"")));

    // Revoked (RFC 7009): refused at once, though the signature is still good.
    let res = op
        .http
        .post(format!("{}/revoke", op.base))
        .basic_auth("portal", Some(SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let (s, ch, _) = call(&op, "/api/v1/me", Some(&format!("Bearer {token}"))).await;
    assert_eq!((s, ch.as_deref()), (401, Some("Bearer realm=\"orgid\", error=\"invalid_token\"")));

    // Expired: the provider's clock moves past the token's lifetime.
    let fresh = {
        let mut b = op.browser();
        let (verifier, challenge) = pkce();
        let page = b
            .authorize(&[
                ("client_id", "portal"),
                ("redirect_uri", CB),
                ("response_type", "code"),
                ("scope", "openid profile"),
                ("state", "s"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        let page = b.login(&page, "zhangwei", "Spring-2026a").await;
        let code = page.redirect_params()["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
            ("code_verifier", verifier.as_str()),
        ];
        let (s, tok) = op.token(&form, Some(("portal", SECRET))).await;
        assert_eq!(s, 200, "{tok}");
        tok["access_token"].as_str().unwrap().to_string()
    };
    assert_eq!(call(&op, "/api/v1/me", Some(&format!("Bearer {fresh}"))).await.0, 200);
    op.clock.advance(chrono::Duration::hours(2));
    assert_eq!(call(&op, "/api/v1/me", Some(&format!("Bearer {fresh}"))).await.0, 401);
    op.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_each_is_protected() {
    let op = Op::start(Backend::Sqlite, "").await;
    let (s, _, doc) = call(&op, "/api/v1/openapi.json", None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let routes = orgid::api::routes();
    assert!(routes.len() >= 2);
    for (method, path) in &routes {
        let op_doc = &doc["paths"][path][method.to_ascii_lowercase()];
        assert!(op_doc.is_object(), "{method} {path} is served but not documented");
    }
    // Every documented operation is served, and only the document itself is public.
    let mut documented = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, _) in ops.as_object().unwrap() {
            documented += 1;
            assert!(routes.iter().any(|(m, p)| p == path && m.eq_ignore_ascii_case(method)), "{method} {path}");
            let concrete = path.replace("{id}", "1").replace("{login}", "zhangwei");
            let res = op
                .http
                .request(method.to_ascii_uppercase().parse().unwrap(), format!("{}{concrete}", op.base))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            if path == "/api/v1/openapi.json" {
                assert_eq!(status, 200);
            } else {
                assert_eq!(status, 401, "{method} {path} without a token");
                assert!(res.headers().contains_key("www-authenticate"));
            }
        }
    }
    assert_eq!(documented, routes.len());

    // An unknown operation: JSON 404, not an HTML page.
    let (s, _, body) = call(&op, "/api/v1/no-such-thing", None).await;
    assert_eq!((s, body["error"].as_str()), (404, Some("not_found")));
    op.stop().await;
}
