//! Delegation by authorization, end to end over HTTP: 王芳 (wangfang) lets 李娜 (lina) act for
//! her in the portal; 李娜 signs in as herself, picks "代 王芳 办理", and the tokens name 王芳 with
//! an RFC 8693 `act` claim naming 李娜. The grant's limits (its client, its end, revocation), what
//! a delegate can never do, the audit trail and the principal's own list are each checked.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration;
use serde_json::Value;

use crate::oidc::{Browser, CB, Op, Page, SECRET, code_params, pkce};
use crate::sync::{Backend, orgid};

const OA_SECRET: &str = "oa-secret-0123456789abcdef";
const CAS_SERVICE: &str = "http://127.0.0.1:9/oa/home";

fn extra() -> String {
    format!(
        r#"[session]
idle_minutes = 4320
absolute_hours = 96
[[clients]]
id = "oa"
name = "泛微 OA"
secret = "{OA_SECRET}"
redirect_uris = ["{CB}"]
grants = ["authorization_code", "refresh_token"]
[[clients]]
id = "oa-cas"
name = "致远 OA"
protocol = "cas"
services = ['^http://127\.0\.0\.1:9/oa/.*$']
scopes = ["profile"]
"#
    )
}

/// Each person's own password, set at first sign-in.
fn password(login: &str) -> &'static str {
    if login == "wangfang" { "Spring-2026a" } else { "Autumn-2026b" }
}

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// Signs `login` in for the first time (initial password changed) at `client`; the page after.
async fn first_sign_in(op: &Op, b: &mut Browser, login: &str, client: &str, challenge: &str) -> Page {
    let initial = op.reset(login).await;
    let page = b.authorize(&code_params(client, CB, challenge, &[])).await;
    let page = b.login(&page, login, &initial).await;
    assert_eq!(page.status, 200, "{}", page.body);
    b.change(&page, password(login)).await
}

async fn exchange(op: &Op, client: (&str, &str), code: &str, verifier: &str) -> Value {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CB), ("code_verifier", verifier)];
    let (s, tok) = op.token(&form, Some(client)).await;
    assert_eq!(s, 200, "{tok}");
    tok
}

/// The chooser's answer: act for `principal` (empty: as oneself).
async fn choose(b: &mut Browser, chooser: &Page, principal: &str) -> Page {
    let (csrf, choice) = (chooser.field("csrf"), chooser.field("choice"));
    b.post("/login/act", &[("csrf", &csrf), ("choice", &choice), ("for", principal)]).await
}

async fn audit(op: &Op, kind: &str) -> Vec<Value> {
    let (code, out) = orgid(&op.cfg, &["audit", "query", "--type", kind, "--all", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    serde_json::from_str::<Value>(&out).unwrap()["records"].as_array().cloned().unwrap()
}

async fn grant_on_page(b: &mut Browser, fields: &[(&str, &str)]) -> Page {
    let page = b.get("/account/delegations").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.field("csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post("/account/delegations", &form).await
}

#[tokio::test]
async fn a_delegate_acts_for_the_principal_only_in_the_granted_client_and_until_revoked() {
    let op = Op::start(Backend::Sqlite, &extra()).await;
    let (verifier, challenge) = pkce();
    // 王芳 signs in (her own sub), and grants 李娜 the portal for three days on her page.
    let mut wang = op.browser();
    let page = first_sign_in(&op, &mut wang, "wangfang", "portal", &challenge).await;
    let tok = exchange(&op, ("portal", SECRET), &page.redirect_params()["code"], &verifier).await;
    let wang_sub = claims(tok["id_token"].as_str().unwrap())["sub"].as_str().unwrap().to_string();
    let done = grant_on_page(&mut wang, &[("delegate", "lina"), ("clients", "portal"), ("days", "3")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let mine = wang.get("/account/delegations").await;
    assert!(mine.body.contains("李娜 (lina)") && mine.body.contains("portal"), "{}", mine.body);

    // 李娜 signs in as herself; the portal offers the chooser.
    let mut li = op.browser();
    let chooser = first_sign_in(&op, &mut li, "lina", "portal", &challenge).await;
    assert_eq!(chooser.status, 200, "{}", chooser.body);
    assert!(chooser.body.contains("代 王芳 办理") && chooser.body.contains("以本人身份继续"), "{}", chooser.body);
    // Outside the grant (the OA system): no chooser, her own tokens.
    let own = li.authorize(&code_params("oa", CB, &challenge, &[])).await;
    assert_eq!(own.status, 303, "no chooser outside the grant: {}", own.body);
    let tok = exchange(&op, ("oa", OA_SECRET), &own.redirect_params()["code"], &verifier).await;
    let id = claims(tok["id_token"].as_str().unwrap());
    let li_sub = id["sub"].as_str().unwrap().to_string();
    assert!(id.get("act").is_none() && li_sub != wang_sub, "{id}");

    // Acting for 王芳 in the portal: her sub, and `act` naming 李娜, in both tokens.
    let acted = choose(&mut li, &chooser, "wangfang").await;
    assert_eq!(acted.status, 303, "{}", acted.body);
    let tok = exchange(&op, ("portal", SECRET), &acted.redirect_params()["code"], &verifier).await;
    for jwt in [tok["id_token"].as_str().unwrap(), tok["access_token"].as_str().unwrap()] {
        let c = claims(jwt);
        assert_eq!(c["sub"], wang_sub.as_str(), "{c}");
        assert_eq!(c["act"], serde_json::json!({ "sub": li_sub }), "{c}");
    }
    let access = tok["access_token"].as_str().unwrap().to_string();
    let refresh = tok["refresh_token"].as_str().unwrap().to_string();
    let info: Value =
        op.http.get(format!("{}/userinfo", op.base)).bearer_auth(&access).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["name"], "王芳", "{info}");
    // A refresh keeps the actor.
    let (s, again) =
        op.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some(("portal", SECRET))).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(claims(again["access_token"].as_str().unwrap())["act"]["sub"], li_sub.as_str());
    let refresh = again["refresh_token"].as_str().unwrap().to_string();
    let access = again["access_token"].as_str().unwrap().to_string();

    // Audited with both people: the act and each token (actor 李娜, subject 王芳).
    let acts = audit(&op, "delegation.act").await;
    assert!(
        acts.iter().any(|r| r["actor"] == "lina" && r["login"] == "wangfang" && r["outcome"] == "success"),
        "{acts:?}"
    );
    let issued = audit(&op, "token_issued").await;
    let delegated: Vec<&Value> = issued.iter().filter(|r| r["details"]["attrs"]["act"] == "lina").collect();
    assert_eq!(delegated.len(), 2, "the code's and the refresh's tokens: {issued:?}");
    assert!(delegated.iter().all(|r| r["login"] == "wangfang" && r["actor"] == "lina"));
    // 王芳 sees what was done in her name.
    let mine = wang.get("/account/delegations").await;
    let acts_list = &mine.body[mine.body.find("id=\"acts\"").unwrap()..];
    assert!(acts_list.contains("lina") && acts_list.contains("delegation.act") && acts_list.contains("token_issued"));

    // A delegate can never grant the principal's rights further, nor change her password.
    let refused = grant_on_page(&mut li, &[("principal", "wangfang"), ("delegate", "zhangwei"), ("days", "3")]).await;
    assert!((400..500).contains(&refused.status), "a principal field is refused: {}", refused.status);
    let own_grant = grant_on_page(&mut li, &[("delegate", "zhangwei"), ("days", "3")]).await;
    assert_eq!(own_grant.status, 303, "her own rights only: {}", own_grant.body);
    let (_, list) = orgid(&op.cfg, &["delegations", "list", "--login", "zhangwei", "--format", "json"]).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!((list[0]["principal"].as_str(), list[0]["delegate"].as_str()), (Some("lina"), Some("zhangwei")));
    let (_, wang_list) = orgid(&op.cfg, &["delegations", "list", "--login", "wangfang", "--format", "json"]).await;
    assert_eq!(serde_json::from_str::<Value>(&wang_list).unwrap().as_array().unwrap().len(), 1, "none added for 王芳");
    let form = li.get("/password").await;
    let csrf = form.field("csrf");
    let changed = li
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("login", "wangfang"),
                ("current", password("lina")),
                ("new", "Taken-2026x"),
                ("repeat", "Taken-2026x"),
            ],
        )
        .await;
    assert_ne!(changed.status, 303, "{}", changed.body);
    let mut check = op.browser();
    let page = check.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(check.login(&page, "wangfang", password("wangfang")).await.status, 303, "her password is unchanged");
    // Nor revoke 王芳's grants.
    let (_, all) = orgid(&op.cfg, &["delegations", "list", "--login", "wangfang", "--format", "json"]).await;
    let id = serde_json::from_str::<Value>(&all).unwrap()[0]["id"].as_str().unwrap().to_string();
    let page = li.get("/account/delegations").await;
    let csrf = page.field("csrf");
    assert_eq!(li.post("/account/delegations/revoke", &[("csrf", &csrf), ("id", &id)]).await.status, 404);

    // 王芳 revokes: the delegated tokens stop at once, and the chooser is gone.
    let chooser = li.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(chooser.status, 200, "{}", chooser.body);
    let page = wang.get("/account/delegations").await;
    let csrf = page.field("csrf");
    assert_eq!(wang.post("/account/delegations/revoke", &[("csrf", &csrf), ("id", &id)]).await.status, 303);
    assert_eq!(op.introspect(&access).await["active"], false);
    let (s, e) =
        op.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some(("portal", SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let stale = choose(&mut li, &chooser, "wangfang").await;
    assert_eq!(stale.status, 403, "the chooser offered before the revocation: {}", stale.body);
    let after = li.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(after.status, 303, "no chooser after revocation: {}", after.body);
    let refusals = audit(&op, "delegation.act").await;
    assert!(refusals.iter().any(|r| r["outcome"] == "failure" && r["actor"] == "lina"), "{refusals:?}");
    assert_eq!(audit(&op, "delegation.revoke").await.len(), 1);
    op.stop().await;
}

#[tokio::test]
async fn an_operator_grants_for_someone_absent_cas_says_who_acts_and_grants_end_on_their_date() {
    let op = Op::start(Backend::Sqlite, &extra()).await;
    let (verifier, challenge) = pkce();
    // 王芳 is away: the operator grants 李娜 every client for one day.
    let (code, out) = orgid(&op.cfg, &["delegations", "grant", "wangfang", "lina", "--days", "1"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = orgid(&op.cfg, &["delegations", "grant", "wangfang", "wangfang", "--days", "1"]).await;
    assert_eq!(code, 2, "not to oneself: {out}");
    let granted = audit(&op, "delegation.grant").await;
    assert_eq!(granted.len(), 1);
    assert_eq!((granted[0]["actor"].as_str(), granted[0]["login"].as_str()), (Some("cli"), Some("wangfang")));
    // The command ran on the wall clock; the server's is held where the test started.
    op.clock.advance(Duration::minutes(1));

    // CAS: the service ticket names 王芳 as the user and 李娜 as the actor.
    let mut li = op.browser();
    let chooser = first_sign_in(&op, &mut li, "lina", "portal", &challenge).await;
    assert!(chooser.body.contains("代 王芳 办理"), "every client: {}", chooser.body);
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("service", CAS_SERVICE).finish();
    let chooser = li.get(&format!("/cas/login?{q}")).await;
    assert_eq!(chooser.status, 200, "{}", chooser.body);
    let back = choose(&mut li, &chooser, "wangfang").await;
    let ticket = back.redirect_params()["ticket"].clone();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("service", CAS_SERVICE)
        .append_pair("ticket", &ticket)
        .finish();
    let xml =
        op.http.get(format!("{}/cas/p3/serviceValidate?{q}", op.base)).send().await.unwrap().text().await.unwrap();
    assert!(xml.contains("<cas:user>wangfang</cas:user>") && xml.contains("<cas:actor>lina</cas:actor>"), "{xml}");
    let validated = audit(&op, "cas.validate").await;
    assert!(validated.iter().any(|r| r["actor"] == "lina" && r["login"] == "wangfang"), "{validated:?}");

    // A day later the grant has ended: no chooser, and tokens issued under it are not renewed.
    let chooser = li.authorize(&code_params("oa", CB, &challenge, &[])).await;
    let acted = choose(&mut li, &chooser, "wangfang").await;
    let tok = exchange(&op, ("oa", OA_SECRET), &acted.redirect_params()["code"], &verifier).await;
    assert!(claims(tok["id_token"].as_str().unwrap())["act"]["sub"].is_string());
    op.clock.advance(Duration::hours(24) + Duration::minutes(1));
    let refresh = tok["refresh_token"].as_str().unwrap();
    let (s, e) =
        op.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some(("oa", OA_SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    assert!(e["error_description"].as_str().unwrap().contains("delegation"), "{e}");
    let after = li.authorize(&code_params("oa", CB, &challenge, &[])).await;
    assert_eq!(after.status, 303, "no chooser after the end: {}", after.body);
    let (_, list) = orgid(&op.cfg, &["delegations", "list", "--format", "json"]).await;
    assert_eq!(serde_json::from_str::<Value>(&list).unwrap().as_array().unwrap().len(), 1);
    op.stop().await;
}

#[tokio::test]
async fn a_grant_ends_when_the_principals_account_closes() {
    let extra = format!("[safety]\nmax_shrink_share = 0.5\nmax_close_share = 0.5\n{}", extra());
    let op = Op::start(Backend::Sqlite, &extra).await;
    let (verifier, challenge) = pkce();
    let (code, out) =
        orgid(&op.cfg, &["delegations", "grant", "wangfang", "lina", "--client", "portal", "--days", "5"]).await;
    assert_eq!(code, 0, "{out}");
    op.clock.advance(Duration::minutes(1));
    let mut li = op.browser();
    let chooser = first_sign_in(&op, &mut li, "lina", "portal", &challenge).await;
    let acted = choose(&mut li, &chooser, "wangfang").await;
    let tok = exchange(&op, ("portal", SECRET), &acted.redirect_params()["code"], &verifier).await;
    // 王芳 leaves: the sync closes her account.
    let hr = crate::hr::Hr { dir: op.cfg.parent().unwrap().to_path_buf() };
    let mut wang = crate::hr::Row::new(2, "C010", "A1", "王芳", "M12");
    wang.left = true;
    hr.write(
        &[crate::hr::Row::new(1, "G000", "G1", "张伟", ""), wang, crate::hr::Row::new(3, "C010", "A2", "李娜", "M12")],
        false,
    );
    let (c, out) = orgid(&op.cfg, &["sync"]).await;
    assert_eq!(c, 0, "{out}");
    // No chooser any more, and what was issued in her name stops.
    let page = li.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(page.status, 303, "no chooser: {}", page.body);
    assert_eq!(op.introspect(tok["access_token"].as_str().unwrap()).await["active"], false);
    let refresh = tok["refresh_token"].as_str().unwrap();
    let (s, e) =
        op.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some(("portal", SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let stale = choose(&mut li, &chooser, "wangfang").await;
    assert_eq!(stale.status, 403, "{}", stale.body);
    op.stop().await;
}
