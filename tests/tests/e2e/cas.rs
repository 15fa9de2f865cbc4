//! The CAS 3.0 face end to end: a browser signs in through orgid's login page and a service
//! validates its ticket over HTTP (the checks a CAS client library makes: attributes, replayed,
//! expired, forged and wrong-service tickets, `renew`, `gateway`, unregistered services); Debian's
//! Apache with mod_auth_cas signs in, gets the attributes and, after a logout from orgid,
//! refuses its old cookie.

use std::collections::HashMap;

use chrono::Duration;
use orgid_tests::Apache;
use serde_json::Value;

use crate::oidc::{Browser, Op, Page};
use crate::sync::{Backend, orgid};

const OA: &str = "http://127.0.0.1:9/oa/index.jsp?a=1&b=%E4%B8%AD";
const EXACT: &str = "http://127.0.0.1:9/exact";
const HRM: &str = "http://127.0.0.1:9/hrm";

const SERVICES: &str = r#"[cas]
ticket_ttl_secs = 10
[[clients]]
id = "oa"
name = "协同办公 OA"
protocol = "cas"
services = ['^http://127\.0\.0\.1:9/oa/.*$', "http://127.0.0.1:9/exact"]
scopes = ["profile", "org"]
[[clients]]
id = "hrm"
protocol = "cas"
services = ["http://127.0.0.1:9/hrm"]
scopes = []
[[clients]]
id = "cas-vault"
protocol = "cas"
services = ["http://127.0.0.1:9/vault"]
require_totp = true
"#;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /cas/login` for `service` with extra parameters.
pub(crate) async fn cas_login(b: &mut Browser, service: &str, extra: &str) -> Page {
    b.get(&format!("/cas/login?service={}{extra}", enc(service))).await
}

/// The ticket a redirect to `service` carries.
pub(crate) fn ticket_of(page: &Page, service: &str) -> String {
    let loc = page.location.as_deref().unwrap_or_else(|| panic!("no redirect ({}): {}", page.status, page.body));
    let sep = if service.contains('?') { '&' } else { '?' };
    let rest = loc.strip_prefix(&format!("{service}{sep}ticket=")).unwrap_or_else(|| panic!("{loc}"));
    assert!(rest.starts_with("ST-") && rest[3..].chars().all(|c| c.is_ascii_alphanumeric()), "{loc}");
    rest.to_string()
}

/// A validation request as a CAS client library makes it: the body.
async fn validate(op: &Op, path: &str, service: &str, ticket: &str, extra: &[(&str, &str)]) -> String {
    let mut q = vec![("service", service), ("ticket", ticket)];
    q.extend_from_slice(extra);
    let res = op.http.get(format!("{}{path}", op.base)).query(&q).send().await.unwrap();
    assert_eq!(res.status(), 200, "CAS answers refusals in the body, never with a 5xx");
    res.text().await.unwrap()
}

/// The CAS error code of a failure response, `None` for a success.
fn code(xml: &str) -> Option<String> {
    if xml.contains("<cas:authenticationSuccess>") {
        return None;
    }
    let start = xml.find("code=\"").unwrap_or_else(|| panic!("{xml}")) + 6;
    Some(xml[start..start + xml[start..].find('"').unwrap()].to_string())
}

#[tokio::test]
async fn cas_login_validation_attributes_and_every_refusal() {
    let op = Op::start(Backend::Sqlite, SERVICES).await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();

    // The login page of orgid, as for OIDC, naming the service's client.
    let page = cas_login(&mut b, OA, "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("协同办公 OA") && page.body.contains("统一身份认证"), "{}", page.body);
    let page = b.login(&page, "zhangwei", &initial).await;
    assert!(page.body.contains("初始密码"), "the initial password is changed first: {}", page.body);
    let page = b.change(&page, "Spring-2026a").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let t1 = ticket_of(&page, OA);

    // CAS 3.0 validation with the service's attributes (its scopes: profile and org).
    let xml = validate(&op, "/cas/p3/serviceValidate", OA, &t1, &[]).await;
    for want in [
        "<cas:user>zhangwei</cas:user>",
        "<cas:name>张伟</cas:name>",
        "<cas:company>测试集团</cas:company>",
        "<cas:companyCode>G000</cas:companyCode>",
        "<cas:department>综合部</cas:department>",
        "<cas:title>经理</cas:title>",
        "<cas:employeeNumber>G1</cas:employeeNumber>",
        "<cas:groups>G000</cas:groups>",
        "<cas:groups>G000/综合部</cas:groups>",
        "<cas:isFromNewLogin>true</cas:isFromNewLogin>",
        "<cas:authenticationMethod>pwd</cas:authenticationMethod>",
    ] {
        assert!(xml.contains(want), "{want} missing in {xml}");
    }
    assert!(!xml.contains("<cas:email>"), "email is not released to this service: {xml}");
    // Replayed: single use.
    assert_eq!(code(&validate(&op, "/cas/p3/serviceValidate", OA, &t1, &[]).await).as_deref(), Some("INVALID_TICKET"));

    // The same SSO session signs in to another service without the login page.
    let t2 = ticket_of(&cas_login(&mut b, EXACT, "").await, EXACT);
    // Bound to its service: presented by another, refused, and spent all the same.
    assert_eq!(code(&validate(&op, "/cas/serviceValidate", OA, &t2, &[]).await).as_deref(), Some("INVALID_SERVICE"));
    assert_eq!(code(&validate(&op, "/cas/serviceValidate", EXACT, &t2, &[]).await).as_deref(), Some("INVALID_TICKET"));

    // Attributes per service: `hrm` is given the login alone.
    let t3 = ticket_of(&cas_login(&mut b, HRM, "").await, HRM);
    let xml = validate(&op, "/cas/serviceValidate", HRM, &t3, &[]).await;
    assert!(xml.contains("<cas:user>zhangwei</cas:user>"), "{xml}");
    assert!(!xml.contains("<cas:company>") && !xml.contains("<cas:name>"), "{xml}");
    assert!(xml.contains("<cas:isFromNewLogin>false</cas:isFromNewLogin>"), "{xml}");

    // renew: a ticket from the SSO session does not pass, and the login page is shown again.
    let t4 = ticket_of(&cas_login(&mut b, EXACT, "").await, EXACT);
    let xml = validate(&op, "/cas/serviceValidate", EXACT, &t4, &[("renew", "true")]).await;
    assert_eq!(code(&xml).as_deref(), Some("INVALID_TICKET_SPEC"));
    let page = cas_login(&mut b, EXACT, "&renew=true").await;
    assert_eq!(page.status, 200, "renew shows the login page: {:?}", page.location);
    assert!(page.body.contains("name=\"password\""), "{}", page.body);

    // A service that needs the second factor: the SSO session (password only) is not enough.
    let vault = "http://127.0.0.1:9/vault";
    let page = cas_login(&mut b, vault, "").await;
    assert_eq!((page.status, page.location.as_deref()), (200, None));
    assert!(page.body.contains("name=\"code\""), "the second-factor page: {}", page.body);
    let page = cas_login(&mut b, vault, "&gateway=true").await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some(vault)), "gateway: back without a ticket");

    // Expired: past `cas.ticket_ttl_secs`.
    let t5 = ticket_of(&cas_login(&mut b, EXACT, "").await, EXACT);
    op.clock.advance(Duration::seconds(11));
    assert_eq!(code(&validate(&op, "/cas/serviceValidate", EXACT, &t5, &[]).await).as_deref(), Some("INVALID_TICKET"));

    // Forged, of another kind, or missing.
    let forged = format!("ST-{}", "A".repeat(43));
    assert_eq!(
        code(&validate(&op, "/cas/serviceValidate", EXACT, &forged, &[]).await).as_deref(),
        Some("INVALID_TICKET")
    );
    assert_eq!(
        code(&validate(&op, "/cas/proxyValidate", EXACT, "PT-1-abc", &[]).await).as_deref(),
        Some("INVALID_TICKET_SPEC")
    );
    let res = op.http.get(format!("{}/cas/p3/serviceValidate?ticket={forged}", op.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let xml = res.text().await.unwrap();
    assert_eq!(code(&xml).as_deref(), Some("INVALID_REQUEST"), "{xml}");
    assert!(xml.starts_with("<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">"), "{xml}");

    // CAS 1.0.
    let t6 = ticket_of(&cas_login(&mut b, EXACT, "").await, EXACT);
    assert_eq!(validate(&op, "/cas/validate", EXACT, &t6, &[]).await, "yes\nzhangwei\n");
    assert_eq!(validate(&op, "/cas/validate", EXACT, &t6, &[]).await, "no\n\n");

    // Never a ticket, nor a redirect, to an unregistered service.
    for bad in [
        "http://127.0.0.1:9/oa.evil/x",
        "http://127.0.0.1:9/oax",
        "http://evil.example/?http://127.0.0.1:9/oa/",
        "http://127.0.0.1:9/exact/more",
        "http://127.0.0.1:9/oa/x#frag",
    ] {
        let page = cas_login(&mut b, bad, "").await;
        assert_eq!((page.status, page.location.as_deref()), (400, None), "{bad}");
        assert!(page.body.contains("未登记"), "{}", page.body);
    }
    assert_eq!(b.get("/cas/login").await.status, 400, "service is required");

    // gateway: not signed in, back to the service without a ticket.
    let mut anon = op.browser();
    let page = cas_login(&mut anon, EXACT, "&gateway=true").await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some(EXACT)));
    // gateway with a session: a ticket, no login page.
    ticket_of(&cas_login(&mut b, EXACT, "&gateway=true").await, EXACT);

    // Logout: back to a registered service only; the session is gone.
    let page = b.get(&format!("/cas/logout?service={}", enc(EXACT))).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some(EXACT)));
    assert_eq!(cas_login(&mut b, EXACT, "").await.status, 200, "signed out: the login page again");
    let page = b.get(&format!("/cas/logout?service={}", enc("http://evil.example/"))).await;
    assert_eq!((page.status, page.location.as_deref()), (200, None));

    // Every validation is audited, each refusal with its code.
    let (c, out) = orgid(&op.cfg, &["audit", "query", "--all", "--format", "json", "--type", "cas.validate"]).await;
    assert_eq!(c, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let records = v["records"].as_array().unwrap();
    let count = |outcome: &str, reason: Option<&str>| {
        records.iter().filter(|r| r["outcome"] == outcome && reason.is_none_or(|w| r["reason"] == w)).count()
    };
    assert_eq!(count("success", None), 3, "{out}");
    assert_eq!(count("failure", Some("INVALID_SERVICE")), 1, "{out}");
    assert!(count("failure", Some("INVALID_TICKET")) >= 4, "{out}");
    assert_eq!(count("failure", Some("INVALID_REQUEST")), 1, "{out}");
    assert!(
        records.iter().any(|r| r["reason"] == "INVALID_SERVICE" && r["company"] == "G000" && r["client_id"] == "oa"),
        "a refusal names the account's company and the client: {out}"
    );
    assert!(out.contains("\"login\": \"zhangwei\"") || out.contains("\"login\":\"zhangwei\""), "{out}");
    assert!(!out.contains(&t1[3..]), "a ticket reached the audit trail");
    op.stop().await;
}

#[tokio::test]
async fn cas_services_are_checked_in_the_configuration_and_the_cli() {
    let op = Op::start(Backend::Sqlite, "").await;
    for (args, why) in [
        (vec!["--service", "^https://.*$"], "literal"),
        (vec!["--service", "^https://oa\\.example\\.com/.*"], "`$`"),
        (vec!["--service", "https://oa.example.com/x#y"], "fragment"),
        (vec![], "at least one --service"),
    ] {
        let mut full = vec!["clients", "add", "bad", "--protocol", "cas"];
        full.extend(args);
        let out = crate::sync::orgid_err(&op.cfg, &full).await;
        assert!(out.contains(why), "{full:?}: {out}");
    }
    let (c, out) = orgid(
        &op.cfg,
        &["clients", "add", "seeyon", "--protocol", "cas", "--service", "^https://oa\\.example\\.com/.*$"],
    )
    .await;
    assert_eq!(c, 0, "{out}");
    let (_, list) = orgid(&op.cfg, &["clients", "list", "--format", "json"]).await;
    assert!(list.contains("seeyon") && list.contains("\"cas\""), "{list}");
    // A CAS client's service gets a login page; a host the pattern does not name does not.
    let mut b = op.browser();
    assert_eq!(cas_login(&mut b, "https://oa.example.com/seeyon/main.do", "").await.status, 200);
    assert_eq!(cas_login(&mut b, "https://oa.example.com.evil.cn/", "").await.status, 400);
    op.stop().await;
}

/// GET an absolute URL with the browser's cookies (Apache's pages: the kit's `get` is for
/// orgid's).
async fn fetch(b: &Browser, url: &str) -> Page {
    let res = b.http().get(url).send().await.unwrap();
    let status = res.status().as_u16();
    let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    Page { status, location, retry_after: None, body: res.text().await.unwrap() }
}

#[tokio::test]
async fn mod_auth_cas_signs_in_gets_the_attributes_and_refuses_its_cookie_after_logout() {
    let op = Op::start(Backend::Sqlite, "").await;
    let apache = Apache::cas(&op.base).await;
    let (c, out) = orgid(
        &op.cfg,
        &[
            "clients",
            "add",
            "oa-apache",
            "--name",
            "致远 OA",
            "--protocol",
            "cas",
            "--service",
            &apache.service_pattern(),
            "--scope",
            "profile",
            "--scope",
            "org",
        ],
    )
    .await;
    assert_eq!(c, 0, "{out}");
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();

    // The module sends the browser to orgid's login page.
    let page = fetch(&b, &apache.protected()).await;
    let login_url = page.location.clone().unwrap_or_else(|| panic!("{}: {}\n{}", page.status, page.body, apache.log()));
    assert!(login_url.starts_with(&format!("{}/cas/login?service=", op.base)), "{login_url}");
    let page = fetch(&b, &login_url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("致远 OA"), "{}", page.body);
    let page = b.login(&page, "zhangwei", &initial).await;
    let page = b.change(&page, "Spring-2026a").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let back = page.location.clone().unwrap();
    assert!(back.starts_with(&apache.protected()) && back.contains("ticket=ST-"), "{back}");

    // The module validates the ticket with orgid and opens its own session.
    let page = fetch(&b, &back).await;
    let page = match page.location {
        Some(loc) => fetch(&b, &loc).await,
        None => page,
    };
    assert_eq!(page.status, 200, "{}\n{}", page.body, apache.log());
    let env: HashMap<&str, &str> = page.body.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(env.get("REMOTE_USER"), Some(&"zhangwei"), "{}", page.body);
    assert_eq!(env.get("HTTP_CAS_COMPANYCODE"), Some(&"G000"), "{}", page.body);
    assert_eq!(env.get("HTTP_CAS_EMPLOYEENUMBER"), Some(&"G1"), "{}", page.body);
    assert_eq!(env.get("HTTP_CAS_COMPANY"), Some(&"测试集团"), "{}", page.body);
    assert!(env.get("HTTP_CAS_GROUPS").is_some_and(|g| g.contains("G000")), "{}", page.body);
    // Its cookie alone keeps the page open.
    assert_eq!(fetch(&b, &apache.protected()).await.status, 200);

    // Signing out of orgid: the single-logout request reaches the module, which drops its
    // session: the same cookie is sent to the login page again.
    let page = b.get("/cas/logout").await;
    assert_eq!(page.status, 200);
    let mut refused = false;
    for _ in 0..100 {
        let page = fetch(&b, &apache.protected()).await;
        if page.status == 302 && page.location.as_deref().is_some_and(|l| l.contains("/cas/login")) {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "mod_auth_cas still accepts its cookie after the logout\n{}", apache.log());
    let (c, out) = orgid(&op.cfg, &["audit", "query", "--all", "--format", "json", "--type", "single_logout"]).await;
    assert_eq!(c, 0);
    assert!(out.contains("\"success\"") && out.contains("oa-apache"), "{out}");
    op.stop().await;
}
