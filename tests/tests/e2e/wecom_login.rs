//! Sign in with WeCom (企业微信) against the WeCom double: by the QR code of the login page (web
//! login) and inside the WeCom app (OAuth2, `snsapi_base`), each ending in an OIDC login whose ID
//! token the openidconnect client verifies (`amr` = `wecom`); unknown, outside, departed members
//! refused and audited; a replayed state, a state from another browser and a spent code refused;
//! a client that asks for the password after WeCom (`wecom_login = "step_up"`).

use openidconnect::Nonce;
use openidconnect::core::CoreIdToken;
use orgid_tests::WecomDouble;
use orgid_tests::wecom::{AGENT_ID, APP_SECRET, CONTACTS_SECRET, CORP_ID};
use serde_json::Value;

use crate::hr::{Hr, Row};
use crate::oidc::{Browser, CB, Op, Page, SECRET, code_params, pkce};
use crate::sync::{Backend, orgid};

const IN_WECOM: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh ColorScheme/Light";

/// The OIDC test group (张伟, 王芳, 李娜) with WeCom sign-in on, WeCom being the double; `clients`
/// adds `[[clients]]` entries.
async fn start(w: &WecomDouble, clients: &str) -> Op {
    let b = w.base_url();
    let extra = format!(
        "{clients}\n[safety]\nmax_shrink_share = 0.5\nmax_close_share = 0.5\n[wecom]\nbase_url = \"{b}\"\n\
         oauth_url = \"{b}\"\nsso_url = \"{b}\"\ncorp_id = \"{CORP_ID}\"\ncontacts_secret = \"{CONTACTS_SECRET}\"\n\
         agent_id = {AGENT_ID}\napp_secret = \"{APP_SECRET}\"\nsign_in = true\nthrottle_ms = 20\n"
    );
    Op::start(Backend::Sqlite, &extra).await
}

/// The `href` of the link `id` on a page.
fn link(page: &Page, id: &str) -> String {
    let pat = format!("id=\"{id}\" href=\"");
    let start = page.body.find(&pat).unwrap_or_else(|| panic!("no link {id} in {}", page.body)) + pat.len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].replace("&amp;", "&").replace("&#38;", "&")
}

/// At WeCom (the double), whose page sends the browser back to orgid's callback: the callback's
/// path and query.
async fn at_wecom(b: &Browser, to_wecom: &Page) -> String {
    assert_eq!(to_wecom.status, 303, "{}", to_wecom.body);
    let loc = to_wecom.location.clone().unwrap();
    let res = b.http().get(&loc).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 302, "WeCom refused {loc}: {}", res.text().await.unwrap());
    let back = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(back.path(), "/login/wecom/callback");
    format!("{}?{}", back.path(), back.query().unwrap())
}

/// The code of an authorization response, exchanged and its ID token verified: (login, amr).
async fn exchange(op: &Op, client: &str, secret: &str, done: &Page, verifier: &str) -> (String, Vec<String>) {
    assert_eq!(done.status, 303, "{}", done.body);
    let params = done.redirect_params();
    assert_eq!(params["state"], "st-1");
    let (s, tok) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", CB),
                ("code_verifier", verifier),
            ],
            Some((client, secret)),
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    let (_, jwks) = op.metadata().await;
    let t: CoreIdToken = tok["id_token"].as_str().unwrap().parse().unwrap();
    let claims = t.claims(&op.verifier(client, secret, jwks), &Nonce::new("n-1".into())).unwrap();
    let amr = claims.auth_method_refs().unwrap().iter().map(|a| a.to_string()).collect();
    (claims.preferred_username().unwrap().to_string(), amr)
}

async fn login_records(op: &Op, outcome: &str) -> Vec<Value> {
    let args = ["audit", "query", "--all", "--format", "json", "--type", "login", "--outcome", outcome];
    let (code, out) = orgid(&op.cfg, &args).await;
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["records"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn qr_code_and_in_app_sign_in_end_in_an_oidc_login() {
    let w = WecomDouble::start().await;
    let op = start(&w, "").await;
    w.set_trusted_domain("127.0.0.1");
    let (verifier, challenge) = pkce();

    // A browser elsewhere: the login page offers WeCom's QR code; 王芳 scans it on her phone.
    w.sign_in_as("wangfang");
    let mut b = op.browser();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("企业微信扫码登录"), "{}", page.body);
    let to_wecom = b.get(&link(&page, "wecom-qr")).await;
    let sso = url::Url::parse(to_wecom.location.as_deref().unwrap()).unwrap();
    assert_eq!(sso.path(), "/wwlogin/sso/login");
    let q: std::collections::HashMap<_, _> = sso.query_pairs().into_owned().collect();
    assert_eq!((q["login_type"].as_str(), q["appid"].as_str()), ("CorpApp", CORP_ID));
    assert_eq!(q["redirect_uri"], format!("{}/login/wecom/callback", op.base));
    assert!(q["state"].len() >= 32 && q["state"].chars().all(|c| c.is_ascii_alphanumeric()), "{}", q["state"]);
    let callback = at_wecom(&b, &to_wecom).await;
    let done = b.get(&callback).await;
    let (login, amr) = exchange(&op, "portal", SECRET, &done, &verifier).await;
    assert_eq!((login.as_str(), amr), ("wangfang", vec!["wecom".to_string()]));
    // orgid's own session now: the next authorization needs no WeCom and no form.
    let again = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(again.status, 303, "{}", again.body);

    // Inside the WeCom app: 张伟 opens the portal; orgid goes straight to WeCom's silent OAuth2.
    w.sign_in_as("zhangwei");
    let mut phone = op.browser();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(code_params("portal", CB, &challenge, &[]))
        .finish();
    let req = phone.http().get(format!("{}/authorize?{q}", op.base)).header("user-agent", IN_WECOM);
    let first = phone.send(req).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let start_link = first.location.clone().unwrap();
    assert!(start_link.starts_with("/login/wecom?") && start_link.ends_with("&via=app"), "{start_link}");
    let to_wecom = phone.get(&start_link).await;
    let oauth = to_wecom.location.clone().unwrap();
    assert!(oauth.contains("/connect/oauth2/authorize?") && oauth.ends_with("#wechat_redirect"), "{oauth}");
    assert!(oauth.contains("scope=snsapi_base") && oauth.contains(&format!("agentid={AGENT_ID}")), "{oauth}");
    let callback = at_wecom(&phone, &to_wecom).await;
    let done = phone.get(&callback).await;
    let (login, amr) = exchange(&op, "portal", SECRET, &done, &verifier).await;
    assert_eq!((login.as_str(), amr), ("zhangwei", vec!["wecom".to_string()]));

    // Each login audited as a login, with amr wecom, the client and the address.
    let ok = login_records(&op, "success").await;
    for who in ["wangfang", "zhangwei"] {
        let r = ok.iter().find(|r| r["login"] == who).unwrap_or_else(|| panic!("no login of {who}: {ok:?}"));
        assert_eq!(r["details"]["attrs"]["amr"], "wecom", "{r}");
        assert_eq!((&r["client_id"], &r["source_ip"]), (&Value::from("portal"), &Value::from("127.0.0.1")), "{r}");
    }
    // One code per sign-in, each spent once at WeCom.
    assert_eq!(w.count("auth/getuserinfo", 0), 2);
    op.stop().await;
}

/// A new authorization in `b`, its login page's QR link followed: the redirect to WeCom.
async fn begin(op: &Op, b: &mut Browser, challenge: &str) -> Page {
    let page = b.authorize(&code_params("portal", CB, challenge, &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let _ = op;
    b.get(&link(&page, "wecom-qr")).await
}

#[tokio::test]
async fn unknown_outside_and_departed_members_and_replays_are_refused_and_audited() {
    let w = WecomDouble::start().await;
    let op = start(&w, "").await;
    let (_, challenge) = pkce();
    // Someone WeCom knows but orgid does not.
    w.add_user("zhaoliu", "赵六", 1);
    w.sign_in_as("zhaoliu");
    let mut b = op.browser();
    let to_wecom = begin(&op, &mut b, &challenge).await;
    let cb = at_wecom(&b, &to_wecom).await;
    let refused = b.get(&cb).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("没有可用的账号") && refused.body.contains("lang=\"zh-CN\""), "{}", refused.body);
    assert!(b.cookie("orgid_session").is_none(), "no session");

    // A WeChat user from outside the enterprise (an openid, no userid).
    w.sign_in_outsider("o-outsider-1");
    let to_wecom = begin(&op, &mut b, &challenge).await;
    let cb = at_wecom(&b, &to_wecom).await;
    assert_eq!(b.get(&cb).await.status, 403);

    // 李娜 has left: her account is closed, WeCom's member is disabled; she is refused.
    let hr = Hr { dir: op.cfg.parent().unwrap().to_path_buf() };
    let mut li = Row::new(3, "C010", "A2", "李娜", "M12");
    li.left = true;
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12"), li], false);
    let (code, out) = orgid(&op.cfg, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    w.sign_in_as("lina");
    let to_wecom = begin(&op, &mut b, &challenge).await;
    let cb = at_wecom(&b, &to_wecom).await;
    let refused = b.get(&cb).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("已停用"), "{}", refused.body);

    // A good sign-in, then its callback replayed with the start cookie put back: the state is
    // spent; and from another browser (no cookie): not this browser's state.
    w.sign_in_as("wangfang");
    let to_wecom = begin(&op, &mut b, &challenge).await;
    let cookie = b.cookie("orgid_wecom").expect("the start cookie");
    let cb = at_wecom(&b, &to_wecom).await;
    assert_eq!(b.get(&cb).await.status, 303);
    b.set_cookie("orgid_wecom", &cookie);
    let replayed = b.get(&cb).await;
    assert_eq!(replayed.status, 403);
    assert!(replayed.body.contains("已失效或已使用"), "{}", replayed.body);
    let mut other = op.browser();
    let to_wecom = begin(&op, &mut other, &challenge).await;
    let cb_other = at_wecom(&other, &to_wecom).await;
    let mut stranger = op.browser();
    assert_eq!(stranger.get(&cb_other).await.status, 403, "a state from another browser");
    // ... which spent nothing: the browser that started it still signs in.
    assert_eq!(other.get(&cb_other).await.status, 303);

    // A fresh state of a browser with a code that was used already: WeCom says 40029.
    let mut b = op.browser();
    let to_wecom = begin(&op, &mut b, &challenge).await;
    let fresh = at_wecom(&b, &to_wecom).await;
    let param = |path: &str, name: &str| {
        let u = url::Url::parse(&format!("http://x{path}")).unwrap();
        u.query_pairs().find(|(k, _)| k == name).unwrap().1.to_string()
    };
    let (state, old_code) = (param(&fresh, "state"), param(&cb, "code"));
    let forged = format!("/login/wecom/callback?code={old_code}&state={state}");
    assert_eq!(b.get(&forged).await.status, 403);
    assert!(w.count("auth/getuserinfo", 40029) >= 1);

    let failed = login_records(&op, "failure").await;
    let reason_of = |login: &str| -> Vec<String> {
        failed
            .iter()
            .filter(|r| r["login"] == login && r["details"]["attrs"]["amr"] == "wecom")
            .map(|r| r["reason"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(reason_of("zhaoliu"), ["unknown_user"], "{failed:?}");
    let li = reason_of("lina");
    assert!(li == ["departed"] || li == ["disabled"], "{li:?}");
    // The outsider, the replay, the other browser's state and the spent code.
    let external =
        failed.iter().filter(|r| r["reason"] == "external_refused" && r["details"]["attrs"]["amr"] == "wecom").count();
    assert_eq!(external, 4, "{failed:?}");
    op.stop().await;
}

#[tokio::test]
async fn a_step_up_client_asks_for_the_password_after_wecom() {
    let w = WecomDouble::start().await;
    let strict = format!(
        "[[clients]]\nid = \"finance\"\nname = \"财务系统\"\nsecret = \"finance-secret-0123456789\"\n\
         redirect_uris = [\"{CB}\"]\nwecom_login = \"step_up\"\n"
    );
    let op = start(&w, &strict).await;
    let initial = op.reset("zhangwei").await;
    let (verifier, challenge) = pkce();
    w.sign_in_as("zhangwei");

    // WeCom alone at the portal (enough) ...
    let mut b = op.browser();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let to_wecom = b.get(&link(&page, "wecom-qr")).await;
    let cb = at_wecom(&b, &to_wecom).await;
    let (_, amr) = exchange(&op, "portal", SECRET, &b.get(&cb).await, &verifier).await;
    assert_eq!(amr, ["wecom"]);
    // ... does not cover the finance system: its login page, not a code.
    let page = b.authorize(&code_params("finance", CB, &challenge, &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);

    // Through WeCom again: the password of that login is asked (the initial one must change).
    let to_wecom = b.get(&link(&page, "wecom-qr")).await;
    let cb = at_wecom(&b, &to_wecom).await;
    let step = b.get(&cb).await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step.body.contains("还需要您输入密码") && step.body.contains("value=\"zhangwei\""), "{}", step.body);
    let (csrf, pending) = (step.field("csrf"), step.field("pending"));
    let wrong =
        b.post("/login/wecom/password", &[("csrf", &csrf), ("pending", &pending), ("password", "Wrong-pass-1")]).await;
    assert_eq!(wrong.status, 401);
    // The first form was spent by that attempt.
    let again =
        b.post("/login/wecom/password", &[("csrf", &csrf), ("pending", &pending), ("password", &initial)]).await;
    assert_eq!(again.status, 400);
    let (csrf, pending) = (wrong.field("csrf"), wrong.field("pending"));
    let change =
        b.post("/login/wecom/password", &[("csrf", &csrf), ("pending", &pending), ("password", &initial)]).await;
    assert!(change.body.contains("初始密码"), "{}", change.body);
    let done = b.change(&change, "Spring-2026a").await;
    let (login, amr) = exchange(&op, "finance", "finance-secret-0123456789", &done, &verifier).await;
    assert_eq!((login.as_str(), amr), ("zhangwei", vec!["wecom".to_string(), "pwd".to_string()]));
    op.stop().await;
}
