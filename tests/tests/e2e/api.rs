//! The admin API over HTTP: bearer authentication (RFC 6750), the OpenAPI document, JSON errors.

use orgid::services::workflow as wf;

use crate::browser::{API_SECRET, Site};
use crate::oidc::{CB, Op, SECRET, first_login, pkce};
use crate::sync::Backend;
use crate::workflow::{open, profile};

/// An access token of 张伟 (zhangwei) for the `portal` client, from a real code flow (setting
/// the password `Spring-2026a` on the way).
pub(crate) async fn user_token(op: &Op) -> String {
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let params = first_login(&mut b, "portal", &initial, "Spring-2026a", &challenge).await;
    portal_token(op, &params["code"], &verifier).await
}

/// The authorization request of a code flow with PKCE (S256) for `client`.
fn code_request<'a>(client: &'a str, challenge: &'a str) -> [(&'a str, &'a str); 7] {
    [
        ("client_id", client),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "s"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// Another token of zhangwei, signing in again with the password [`user_token`] set.
async fn user_token_again(op: &Op) -> String {
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let page = b.authorize(&code_request("portal", &challenge)).await;
    let page = b.login(&page, "zhangwei", "Spring-2026a").await;
    portal_token(op, &page.redirect_params()["code"], &verifier).await
}

async fn portal_token(op: &Op, code: &str, verifier: &str) -> String {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CB), ("code_verifier", verifier)];
    let (s, tok) = op.token(&form, Some(("portal", SECRET))).await;
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
    let fresh = user_token_again(&op).await;
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
    validate_openapi(&doc);
    let routes = orgid::http::api::routes();
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

    // A known path with another method: JSON 405.
    let res = op.http.delete(format!("{}/api/v1/me", op.base)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 405);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
    // An unknown operation: JSON 404, not an HTML page.
    let (s, _, body) = call(&op, "/api/v1/no-such-thing", None).await;
    assert_eq!((s, body["error"].as_str()), (404, Some("not_found")));
    op.stop().await;
}

/// The document passes `openapi-spec-validator` (PyPI; `.ci/run` installs it), every error
/// listed: path parameters declared and in the template, unique operation ids, resolving
/// references, the OpenAPI 3.1 schema.
fn validate_openapi(doc: &serde_json::Value) {
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--validation-errors", "all"])
        .arg(&file)
        .output()
        .expect("python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("No module named"), "install openapi-spec-validator (pip): {text}");
    assert!(out.status.success() && text.contains(": OK"), "the OpenAPI document is not valid:\n{text}");
}

/// An access token of `login` for the `api-test` client of a [`Site`], by the code flow over
/// HTTP (changing the one-time initial password on the way).
async fn site_token(site: &Site, login: &str) -> String {
    let initial = site.reset(login).await;
    let mut b = crate::oidc::Browser::at(&site.base);
    let (verifier, challenge) = pkce();
    let page = b.authorize(&code_request("api-test", &challenge)).await;
    let page = b.login(&page, login, &initial).await;
    let page = b.change(&page, "Api-Pass-2026x").await;
    let code = page.redirect_params()["code"].clone();
    let res = reqwest::Client::new()
        .post(format!("{}/token", site.base))
        .basic_auth("api-test", Some(API_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    let tok: serde_json::Value = res.json().await.unwrap();
    tok["access_token"].as_str().unwrap_or_else(|| panic!("no token: {tok}")).to_string()
}

/// A JSON API call with a bearer token: status and body.
async fn api(
    site: &Site,
    token: &str,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
) -> (u16, serde_json::Value) {
    let mut req =
        reqwest::Client::new().request(method.parse().unwrap(), format!("{}{path}", site.base)).bearer_auth(token);
    if let Some((content_type, text)) = body {
        req = req.header("content-type", content_type).body(text.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "raw": text })))
}

/// `/api/v1/people` a page of one at a time, following `Link: rel="next"` from the first page to
/// the last: the same people as the whole list (`all`), in its order, with `X-Total-Count` on
/// every page and no link on the last; a bad `limit` is a 400.
async fn paged_walk(site: &Site, token: &str, all: &[serde_json::Value]) {
    assert!(all.len() >= 2, "a walk needs two pages: {all:?}");
    let http = reqwest::Client::new();
    let mut next = Some("/api/v1/people?limit=1".to_string());
    let mut walked = Vec::new();
    while let Some(path) = next.take() {
        let res = http.get(format!("{}{path}", site.base)).bearer_auth(token).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        assert_eq!(res.headers()["x-total-count"].to_str().unwrap(), all.len().to_string(), "{path}");
        next = res.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            let (target, rel) = l.split_once(">; ").unwrap();
            assert_eq!(rel, "rel=\"next\"");
            target.trim_start_matches('<').to_string()
        });
        let page: Vec<serde_json::Value> = res.json().await.unwrap();
        assert_eq!(page.len(), 1, "{path}");
        walked.extend(page);
        assert!(walked.len() <= all.len(), "the walk ends");
    }
    assert_eq!(walked, all, "the pages are the list");
    for bad in ["limit=0", "limit=1001", "offset=-1", "limit=x"] {
        let (s, e) = api(site, token, "GET", &format!("/api/v1/people?{bad}"), None).await;
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")), "{bad}: {e}");
    }
}

#[tokio::test]
async fn the_api_scopes_every_call_audits_refusals_and_answers_bad_input_with_json() {
    api_rules(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_api_rules_hold_on_postgres_too() {
    api_rules(Backend::Postgres).await;
}

async fn api_rules(backend: Backend) {
    let site = Site::start_on(backend).await;
    let env = &site.env;
    // A pending request of C010 (group-operated), by its HR.
    let hr = env.who("wangfang").await;
    let pending = wf::submit(&env.app, &hr, open(92, profile("A8", "孔亮", "C010", "M12", false))).await.unwrap();

    let delegate = site_token(&site, "yangyang").await; // IT delegate of independent C021

    // Out of scope, each refused with 403 + code and audited as access.denied.
    let before = env.denials("out_of_scope").await;
    let (s, e) = api(&site, &delegate, "GET", "/api/v1/accounts?company=C022", None).await;
    assert_eq!((s, e["error"].as_str(), e["code"].as_str()), (403, Some("forbidden"), Some("out_of_scope")), "{e}");
    let (s, e) = api(&site, &delegate, "GET", &format!("/api/v1/requests/{}", pending.id), None).await;
    assert_eq!((s, e["code"].as_str()), (403, Some("out_of_scope")), "another company's request by id: {e}");
    assert_eq!(env.denials("out_of_scope").await, before + 2, "every refusal is audited");
    // By search: nothing from outside the scope comes back.
    let (s, people) = api(&site, &delegate, "GET", "/api/v1/people?search=%E9%99%88%E9%9D%99", None).await; // 陈静
    assert_eq!((s, people.as_array().map(Vec::len)), (200, Some(0)), "{people}");
    let (s, people) = api(&site, &delegate, "GET", "/api/v1/people", None).await;
    assert_eq!(s, 200);
    assert!(people.as_array().unwrap().iter().all(|p| p["company"] == "C021"), "{people}");
    paged_walk(&site, &delegate, people.as_array().unwrap()).await;
    // Role self-assignment.
    let grant = r#"{"login":"yangyang","role":"group_it_admin","company":"G000","subtree":true}"#;
    let (s, e) = api(&site, &delegate, "POST", "/api/v1/roles", Some(("application/json", grant))).await;
    assert_eq!((s, e["code"].as_str()), (403, Some("grant_roles")), "{e}");
    assert!(env.denials("grant_roles").await >= 1);
    // Approving a request it may not decide.
    let (s, e) = api(&site, &delegate, "POST", &format!("/api/v1/requests/{}/approve", pending.id), None).await;
    assert_eq!(s, 403, "{e}");
    // The audit trail is the auditor's.
    let (s, e) = api(&site, &delegate, "GET", "/api/v1/audit/records", None).await;
    assert_eq!((s, e["code"].as_str()), (403, Some("not_auditor")), "{e}");

    // Bad input: JSON errors, never a 500.
    let url = "/api/v1/requests";
    let (s, e) = api(&site, &delegate, "POST", url, Some(("application/json", "{not json"))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")), "{e}");
    let (s, e) = api(&site, &delegate, "POST", url, Some(("application/json", r#"{"kind": 5}"#))).await;
    assert_eq!((s, e["error"].as_str()), (422, Some("unprocessable")), "{e}");
    let (s, e) = api(&site, &delegate, "POST", url, Some(("text/plain", "{}"))).await;
    assert_eq!(s, 415, "{e}");
    let (s, e) =
        api(&site, &delegate, "POST", url, Some(("application/json", r#"{"kind":"open","employee_number":"B7"}"#)))
            .await;
    assert_eq!(s, 422, "{e}");
    let fields: Vec<&str> = e["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"id_number") && fields.contains(&"name") && !fields.contains(&"employee_number"), "{e}");
    let (s, e) = api(&site, &delegate, "GET", "/api/v1/requests/999999", None).await;
    assert_eq!((s, e["error"].as_str()), (404, Some("not_found")), "{e}");
    let (s, e) = api(&site, &delegate, "GET", "/api/v1/requests/abc", None).await;
    assert_eq!(s, 404, "{e}");
    let (s, e) = api(&site, &delegate, "GET", "/api/v1/requests?state=bogus", None).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")), "{e}");

    // The delegate acts directly in its own company: applied at once.
    let id = crate::hr::id_number(93);
    let body = serde_json::json!({
        "kind": "open", "id_number": id, "employee_number": "B8", "name": "冯雪", "gender": "女",
        "company": "C021", "department": "综合部", "title": "专员", "grade": "M12",
        "mobile": "13800000093", "email": "b8@example.com", "effective_date": "2026-09-28"
    })
    .to_string();
    let (s, r) = api(&site, &delegate, "POST", url, Some(("application/json", &body))).await;
    assert_eq!((s, r["state"].as_str()), (201, Some("applied")), "{r}");
    assert!(!r.to_string().contains(&id), "the ID number never comes back");

    // Form 2 with only what changes: the rest of 刘强's record stays as it was.
    let op = orgid_directory::workflow::Principal::operator();
    let find = |rows: Vec<wf::PersonRow>| rows.into_iter().find(|p| p.employee_number == "B2").unwrap();
    let query = wf::AccountQuery { search: Some("B2".into()), ..Default::default() };
    let before = find(wf::people(&env.app, &op, &query).await.unwrap());
    let adjust = r#"{"kind":"adjust","employee_number":"B2","name":"刘强","company":"C021","department":"审计部"}"#;
    let (s, r) = api(&site, &delegate, "POST", url, Some(("application/json", adjust))).await;
    assert_eq!((s, r["state"].as_str()), (201, Some("applied")), "{r}");
    let after = find(wf::people(&env.app, &op, &query).await.unwrap());
    assert_eq!(after.department, "审计部");
    assert_eq!((after.title, after.grade, after.login), (before.title, before.grade, before.login));

    // Group HR sees the C010 request in its inbox and approves it.
    let group_hr = site_token(&site, "lina").await;
    let (s, inbox) = api(&site, &group_hr, "GET", "/api/v1/requests/inbox", None).await;
    assert_eq!(s, 200);
    assert!(inbox.as_array().unwrap().iter().any(|r| r["id"] == pending.id), "{inbox}");
    let path = format!("/api/v1/requests/{}/approve", pending.id);
    let (s, r) = api(&site, &group_hr, "POST", &path, Some(("application/json", r#"{"comment":"ok"}"#))).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("applied")), "{r}");
    // Once decided, again: 422, not pending.
    let (s, _) = api(&site, &group_hr, "POST", &path, None).await;
    assert_eq!(s, 422);

    // Password resets: never for someone outside the scope; without a notifier nothing changes.
    let (s, e) = api(&site, &delegate, "POST", "/api/v1/accounts/chenjing/reset-password", None).await;
    assert_eq!((s, e["code"].as_str()), (403, Some("out_of_scope")), "{e}");
    let (s, e) = api(&site, &delegate, "POST", "/api/v1/accounts/liuqiang/reset-password", None).await;
    assert_eq!(s, 422, "no notifier configured: {e}");
    assert!(e["reason"].as_str().unwrap().contains("notifier"), "{e}");
    assert!(e.get("password").is_none() && !e.to_string().contains("initial"), "{e}");
    let (s, e) = api(&site, &delegate, "GET", "/api/v1/accounts/nobody-here", None).await;
    assert_eq!(s, 404, "{e}");

    // Reports and companies.
    let (s, rows) = api(&site, &delegate, "GET", "/api/v1/reports/sla?month=2026-09", None).await;
    assert_eq!(s, 200, "{rows}");
    assert!(rows.as_array().unwrap().iter().all(|r| r["company"] == "C021"), "{rows}");
    let (s, _) = api(&site, &delegate, "GET", "/api/v1/reports/sla?month=September", None).await;
    assert_eq!(s, 400);
    let (s, list) = api(&site, &delegate, "GET", "/api/v1/companies", None).await;
    assert_eq!(s, 200);
    let codes = |list: &serde_json::Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(codes(&list), ["C021"], "a delegate of C021 sees its own company only: {list}");
    assert_eq!(list[0]["mode"], "independent");
    let mode = Some(("application/json", r#"{"mode":"group_operated"}"#));
    let (s, e) = api(&site, &delegate, "PUT", "/api/v1/companies/C021/mode", mode).await;
    assert_eq!(s, 403, "only group IT changes a company's mode: {e}");
    let admin = site_token(&site, "zhangwei").await;
    let (s, e) =
        api(&site, &admin, "PUT", "/api/v1/companies/C021/mode", Some(("application/json", r#"{"mode":"x"}"#))).await;
    assert_eq!(s, 422, "{e}");
    let (s, e) = api(&site, &admin, "PUT", "/api/v1/companies/C022/mode", mode).await;
    assert_eq!(s, 204, "{e}");
    let (_, list) = api(&site, &admin, "GET", "/api/v1/companies", None).await;
    assert!(list.as_array().unwrap().iter().any(|c| c["code"] == "C022" && c["mode"] == "group_operated"), "{list}");
    assert_eq!(codes(&list).len(), 6, "group IT (G000 and its subsidiaries) sees the whole tree: {list}");
    // Group IT grants a role and revokes it.
    let grant = r#"{"login":"liuqiang","role":"company_hr","company":"C021"}"#;
    let (s, g) = api(&site, &admin, "POST", "/api/v1/roles", Some(("application/json", grant))).await;
    assert_eq!((s, g["role"].as_str()), (201, Some("company_hr")), "{g}");
    let (s, g) = api(&site, &admin, "DELETE", &format!("/api/v1/roles/{}", g["id"]), None).await;
    assert_eq!(s, 200, "{g}");
    assert!(g["revoked_at"].is_string(), "{g}");
    let (s, mine) = api(&site, &delegate, "GET", "/api/v1/roles", None).await;
    assert_eq!(s, 200);
    assert!(mine.as_array().unwrap().iter().all(|g| g["login"] == "yangyang"), "one's own grants only: {mine}");

    // The security auditor reads the audit trail, refusals included.
    let auditor = site_token(&site, "wugang").await;
    let (s, page) = api(&site, &auditor, "GET", "/api/v1/audit/records?type=access.denied&limit=50", None).await;
    assert_eq!(s, 200, "{page}");
    assert!(page["records"].as_array().is_some_and(|r| r.len() >= 4), "{page}");
    site.stop().await;
}
