//! The SAML 2.0 identity provider with real service providers: Apache's mod_auth_mellon in front
//! of a CGI page, and pysaml2 (`saml_sp.py`, a small SP over the library). Each signs in through
//! orgid's login page and gets the person's attributes; each refuses what a forger, a replayer,
//! a late browser or another SP's assertion would bring; orgid refuses replayed, unsigned,
//! re-signed-by-nobody and redirected requests.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use orgid_tests::Apache;

use crate::oidc::{Browser, Op, Page};
use crate::sync::Backend;

pub(crate) const NEW_PW: &str = "Spring-2026a";

/// An RSA key and self-signed certificate for an SP, by openssl: (key PEM, certificate PEM,
/// certificate base64 DER).
fn sp_keys(dir: &Path) -> (String, String, String) {
    let (key, crt) = (dir.join("sp.key"), dir.join("sp.crt"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=sp"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let crt_pem = std::fs::read_to_string(&crt).unwrap();
    let b64: String = crt_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    (std::fs::read_to_string(&key).unwrap(), crt_pem, b64)
}

fn sp_metadata(entity: &str, acs: &str, cert_b64: &str, signs: bool) -> String {
    sp_metadata_slo(entity, acs, cert_b64, signs, None)
}

/// With a SingleLogoutService (HTTP-Redirect) at `slo`.
fn sp_metadata_slo(entity: &str, acs: &str, cert_b64: &str, signs: bool, slo: Option<&str>) -> String {
    let slo = slo
        .map(|u| {
            format!(
                r#"<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{u}"/>"#
            )
        })
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">
  <SPSSODescriptor AuthnRequestsSigned="{signs}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>
    {slo}
    <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0"/>
  </SPSSODescriptor>
</EntityDescriptor>"#
    )
}

/// mod_auth_mellon's directives: the SP's endpoints under /mellon, /protected/ behind it. Its
/// cookies are `Secure` for Chromium (which takes them from loopback, and drops the
/// `SameSite=None` one mellon sets before a login unless it is `Secure`), not for the tests' own
/// client.
fn mellon_site(d: &Path, secure: bool) -> String {
    let d = d.display();
    let secure = if secure { "On" } else { "Off" };
    format!(
        r#"<Location />
  MellonEnable info
  MellonSPPrivateKeyFile {d}/sp.key
  MellonSPCertFile {d}/sp.crt
  MellonSPMetadataFile {d}/sp-metadata.xml
  MellonIdPMetadataFile {d}/idp-metadata.xml
  MellonEndpointPath /mellon
  MellonVariable mellon-oa
  MellonSecureCookie {secure}
  MellonCookieSameSite lax
  MellonSignatureMethod rsa-sha256
  MellonUser NAME_ID
</Location>
<Location /protected/>
  AuthType Mellon
  MellonEnable auth
  Require valid-user
</Location>
"#
    )
}

/// A page at an absolute URL (an SP's), through the browser's own client and cookies.
pub(crate) async fn fetch(b: &Browser, url: &str, form: Option<&[(&str, &str)]>) -> Page {
    let req = match form {
        Some(f) => b.http().post(url).form(f),
        None => b.http().get(url),
    };
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    Page { status, location, retry_after: None, body: res.text().await.unwrap() }
}

/// The auto-posting form orgid answers with: (action, SAMLResponse XML, RelayState).
pub(crate) fn posted(page: &Page) -> (String, String, Option<String>) {
    assert_eq!(page.status, 200, "{}", page.body);
    let start = page.body.find("action=\"").unwrap_or_else(|| panic!("no form: {}", page.body)) + 8;
    let action = page.body[start..start + page.body[start..].find('"').unwrap()].replace("&amp;", "&");
    let xml = String::from_utf8(B64.decode(page.field("SAMLResponse")).unwrap()).unwrap();
    let relay = page.body.contains("name=\"RelayState\"").then(|| page.field("RelayState"));
    (action, xml, relay)
}

/// Posts a Response (XML) to the SP's consumer as the browser would.
pub(crate) async fn post_response(b: &Browser, action: &str, xml: &str, relay: Option<&str>) -> Page {
    let encoded = B64.encode(xml);
    let mut form = vec![("SAMLResponse", encoded.as_str())];
    if let Some(r) = relay {
        form.push(("RelayState", r));
    }
    fetch(b, action, Some(&form)).await
}

/// The `NAME=value` lines the protected CGI printed.
fn env_of(page: &Page) -> HashMap<String, String> {
    page.body.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// From the SP's protected page to orgid's SSO service: the redirect (following the SP's own).
pub(crate) async fn to_idp(b: &Browser, op: &Op, url: &str) -> String {
    let mut next = url.to_string();
    for _ in 0..5 {
        let page = fetch(b, &next, None).await;
        let loc = page.location.unwrap_or_else(|| panic!("no redirect from {next} ({}): {}", page.status, page.body));
        if loc.starts_with(&op.base) {
            return loc;
        }
        next = loc;
    }
    panic!("the SP never sent the browser to orgid");
}

pub(crate) struct Mellon {
    pub(crate) apache: Apache,
    pub(crate) op: Op,
    pub(crate) entity: String,
}

/// orgid with mellon registered (and an `other` SP whose consumer is, wrongly, mellon's), and
/// Apache with mellon trusting orgid's metadata.
pub(crate) async fn mellon(extra: &str) -> Mellon {
    mellon_for(extra, false).await
}

/// The same, with mellon's cookies as Chromium takes them.
pub(crate) async fn mellon_for_chromium(extra: &str) -> Mellon {
    mellon_for(extra, true).await
}

async fn mellon_for(extra: &str, secure_cookies: bool) -> Mellon {
    let mut apache = Apache::new();
    let (_, _, cert) = sp_keys(apache.dir());
    let entity = format!("{}/mellon/metadata", apache.base());
    let acs = format!("{}/mellon/postResponse", apache.base());
    let slo = format!("{}/mellon/logout", apache.base());
    let meta = apache.write("sp-metadata.xml", sp_metadata_slo(&entity, &acs, &cert, true, Some(&slo)).as_bytes());
    let other =
        apache.write("other-metadata.xml", sp_metadata("https://other.example/sp", &acs, &cert, false).as_bytes());
    let op = Op::start(
        Backend::Sqlite,
        &format!(
            r#"[saml]
request_ttl_secs = 900
[[saml.service_providers]]
id = "oa"
name = "OA 协同办公"
metadata = "{}"
name_id = "login"
attributes = ["name", "company", "company_name", "department", "title", "grade", "employee_number", "groups"]
[[saml.service_providers]]
id = "other"
metadata = "{}"
{extra}"#,
            meta.display(),
            other.display()
        ),
    )
    .await;
    let idp = op.http.get(format!("{}/saml/metadata", op.base)).send().await.unwrap();
    assert_eq!(idp.headers()["content-type"], "application/samlmetadata+xml");
    apache.write("idp-metadata.xml", &idp.bytes().await.unwrap());
    apache.start(&[("auth_mellon_module", "mod_auth_mellon.so")], &mellon_site(apache.dir(), secure_cookies)).await;
    Mellon { apache, op, entity }
}

#[tokio::test]
async fn mellon_signs_in_through_orgid_and_gets_the_persons_attributes() {
    let Mellon { apache, op, entity } = mellon("").await;
    let initial = op.reset("wangfang").await;
    let mut b = op.browser();
    let protected = format!("{}/protected/", apache.base());
    let sso = to_idp(&b, &op, &protected).await;
    let url = url::Url::parse(&sso).unwrap();
    assert_eq!(url.path(), "/saml/sso");
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert!(q.contains_key("Signature"), "mellon signs its requests (AuthnRequestsSigned): {sso}");

    // orgid's login page, the forced change of the initial password, then the Response.
    let page = b.get(&sso[op.base.len()..]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("OA 协同办公"), "{}", page.body);
    let page = b.login(&page, "wangfang", &initial).await;
    assert!(page.body.contains("初始密码"), "{}", page.body);
    let page = b.change(&page, NEW_PW).await;
    let (action, xml, relay) = posted(&page);
    assert_eq!(action, format!("{}/mellon/postResponse", apache.base()));
    assert!(xml.contains(&format!("<saml:Audience>{entity}</saml:Audience>")), "{xml}");

    // Forged: one attribute changed after signing. mellon refuses it and lets no one in.
    let forged = xml.replace("综合部", "财务部");
    assert_ne!(forged, xml);
    let refused = post_response(&b, &action, &forged, relay.as_deref()).await;
    assert!(refused.status >= 400, "a changed assertion is refused: {} {}", refused.status, refused.body);
    assert!(apache.error_log().contains("signature"), "{}", apache.error_log());
    assert_ne!(fetch(&b, &protected, None).await.status, 200);

    // The real one: signed in, with the attributes released to this SP.
    let ok = post_response(&b, &action, &xml, relay.as_deref()).await;
    assert_eq!(ok.status, 303, "{}\n{}", ok.body, apache.error_log());
    let page = fetch(&b, &protected, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let env = env_of(&page);
    assert_eq!(env["REMOTE_USER"], "wangfang");
    assert_eq!(env["MELLON_name"], "王芳");
    assert_eq!(env["MELLON_company"], "C010");
    assert_eq!(env["MELLON_company_name"], "测试一级公司");
    assert_eq!(env["MELLON_department"], "综合部");
    assert_eq!(env["MELLON_title"], "经理");
    assert_eq!(env["MELLON_grade"], "M12");
    assert_eq!(env["MELLON_employee_number"], "A1");
    assert_eq!(env["MELLON_groups_0"], "C010");
    assert_eq!(env["MELLON_groups_1"], "C010/综合部");
    assert!(!env.contains_key("MELLON_email"), "email is not released to this SP");

    // Replayed: the same Response again, from a browser that never asked (mellon refuses an
    // assertion it has seen).
    let other = op.browser();
    let again = post_response(&other, &action, &xml, relay.as_deref()).await;
    assert!(again.status >= 400, "a replayed response is refused: {} {}", again.status, again.body);
    assert_ne!(fetch(&other, &protected, None).await.status, 200);

    // orgid refuses the same AuthnRequest twice, and one whose query signature was tampered with.
    let replay = b.get(&sso[op.base.len()..]).await;
    assert_eq!(replay.status, 400);
    assert!(replay.body.contains("已使用过"), "{}", replay.body);
    let fresh = to_idp(&op.browser(), &op, &protected).await;
    let tampered = fresh.replace("RelayState=", "RelayState=x");
    let page = b.get(&tampered[op.base.len()..]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("签名"), "{}", page.body);
    let unsigned: String = {
        let u = url::Url::parse(&fresh).unwrap();
        let keep: Vec<(String, String)> =
            u.query_pairs().into_owned().filter(|(k, _)| k != "Signature" && k != "SigAlg").collect();
        format!("/saml/sso?{}", url::form_urlencoded::Serializer::new(String::new()).extend_pairs(keep).finish())
    };
    let page = b.get(&unsigned).await;
    assert_eq!(page.status, 400, "mellon's metadata says it signs: unsigned is refused");
    // The untampered fresh request works with the session: a Response at once, no login page.
    let page = b.get(&fresh[op.base.len()..]).await;
    let (action2, xml2, _) = posted(&page);
    assert_eq!(action2, action);
    assert!(xml2.contains("wangfang"));
    // Each Response issued is in the audit trail: two, to `oa`, for wangfang.
    let (code, out) =
        crate::sync::orgid(&op.cfg, &["audit", "query", "--type", "token_issued", "--all", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let issued: Vec<&serde_json::Value> =
        v["records"].as_array().unwrap().iter().filter(|r| r["client_id"] == "oa").collect();
    assert_eq!(issued.len(), 2, "{out}");
    assert!(issued.iter().all(|r| r["login"] == "wangfang" && r.to_string().contains("\"saml\"")), "{out}");
    op.stop().await;
}

#[tokio::test]
async fn mellon_logout_ends_the_orgid_session_and_the_sp_session() {
    let Mellon { apache, op, .. } = mellon("").await;
    let initial = op.reset("wangfang").await;
    let mut b = op.browser();
    let protected = format!("{}/protected/", apache.base());
    let sso = to_idp(&b, &op, &protected).await;
    let page = b.get(&sso[op.base.len()..]).await;
    let page = b.login(&page, "wangfang", &initial).await;
    let (action, xml, relay) = posted(&b.change(&page, NEW_PW).await);
    assert_eq!(post_response(&b, &action, &xml, relay.as_deref()).await.status, 303);
    assert_eq!(fetch(&b, &protected, None).await.status, 200);

    // mellon's logout: a signed LogoutRequest to orgid, a signed LogoutResponse back.
    let start = format!("{}/mellon/logout?ReturnTo={}/index.html", apache.base(), apache.base());
    let slo = fetch(&b, &start, None).await.location.unwrap();
    assert!(
        slo.starts_with(&format!("{}/saml/slo?SAMLRequest=", op.base)) && slo.contains("Signature="),
        "{slo}\n{}",
        apache.error_log()
    );
    let answer = b.get(&slo[op.base.len()..]).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let back = answer.location.unwrap();
    assert!(back.starts_with(&format!("{}/mellon/logout?SAMLResponse=", apache.base())), "{back}");
    let done = fetch(&b, &back, None).await;
    assert_eq!(
        done.location.as_deref(),
        Some(format!("{}/index.html", apache.base()).as_str()),
        "{}\n{}",
        done.body,
        apache.error_log()
    );

    // The SP refuses the old cookie, and orgid asks for the password again.
    let sso = to_idp(&b, &op, &protected).await;
    let page = b.get(&sso[op.base.len()..]).await;
    assert!(page.body.contains("name=\"password\""), "the orgid session ended: {}", page.body);
    // The same LogoutRequest again is refused.
    assert_eq!(b.get(&slo[op.base.len()..]).await.status, 400);
    op.stop().await;
}

/// A request from the `other` SP (orgid has it; mellon does not): crafted, unsigned, by the
/// Redirect binding.
fn other_request(op: &Op, id: &str, instant: &str, acs: Option<&str>) -> String {
    other_request_with(
        op,
        id,
        instant,
        acs.map(|a| format!(" AssertionConsumerServiceURL=\"{a}\"")).unwrap_or_default().as_str(),
    )
}

/// The same, with `extra` attributes on the AuthnRequest (` ForceAuthn="true"`, …).
fn other_request_with(op: &Op, id: &str, instant: &str, extra: &str) -> String {
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{instant}"{extra} Destination="{}/saml/sso"><saml:Issuer>https://other.example/sp</saml:Issuer></samlp:AuthnRequest>"#,
        op.base
    );
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, xml.as_bytes()).unwrap();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &B64.encode(enc.finish().unwrap()))
        .finish();
    format!("/saml/sso?{q}")
}

#[tokio::test]
async fn mellon_refuses_expired_and_other_audience_assertions_and_orgid_refuses_strays() {
    let Mellon { apache, op, .. } = mellon("").await;
    let initial = op.reset("wangfang").await;
    let mut b = op.browser();
    let protected = format!("{}/protected/", apache.base());
    let sso = to_idp(&b, &op, &protected).await;
    let page = b.get(&sso[op.base.len()..]).await;
    let page = b.login(&page, "wangfang", &initial).await;
    // orgid's clock is 10 minutes behind: the assertion it signs is already over when it arrives.
    op.clock.advance(chrono::Duration::minutes(-10));
    let (action, xml, relay) = posted(&b.change(&page, NEW_PW).await);
    let late = post_response(&b, &action, &xml, relay.as_deref()).await;
    assert!(late.status >= 400, "an expired assertion is refused: {} {}", late.status, late.body);
    assert_ne!(fetch(&b, &protected, None).await.status, 200);
    op.clock.advance(chrono::Duration::minutes(10));

    // Another SP's assertion (audience https://other.example/sp) brought to mellon.
    let now = orgid_directory::Clock::now(op.clock.as_ref()).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let page = b.get(&other_request(&op, "_other1", &now, None)).await;
    let (action, xml, _) = posted(&page);
    assert!(xml.contains("<saml:Audience>https://other.example/sp</saml:Audience>"));
    let wrong = post_response(&b, &action, &xml, None).await;
    assert!(wrong.status >= 400, "another SP's assertion is refused: {} {}", wrong.status, wrong.body);
    assert_ne!(fetch(&b, &protected, None).await.status, 200);

    // orgid: a request from an SP it does not know, an old one, and one naming a consumer that
    // is not in the SP's metadata never get an answer (no redirect to a consumer).
    let stale = (orgid_directory::Clock::now(op.clock.as_ref()) - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let page = b.get(&other_request(&op, "_other2", &stale, None)).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("过期"), "{}", page.body);
    let evil = b.get(&other_request(&op, "_other3", &now, Some("https://evil.example/acs"))).await;
    assert_eq!(evil.status, 400);
    assert!(evil.body.contains("AssertionConsumerService") && !evil.body.contains("evil.example"), "{}", evil.body);
    let unknown = other_request(&op, "_other4", &now, None).replace("SAMLRequest=", "x=");
    assert_eq!(b.get(&unknown).await.status, 400);

    // ForceAuthn: the session does not answer, the password is asked again.
    let page = b.get(&other_request_with(&op, "_other5", &now, " ForceAuthn=\"true\"")).await;
    assert!(page.status == 200 && page.body.contains("name=\"password\""), "{}", page.body);
    // IsPassive without a session: a NoPassive Response, no login page.
    let page = op.browser().get(&other_request_with(&op, "_other6", &now, " IsPassive=\"true\"")).await;
    let (_, xml, _) = posted(&page);
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:status:NoPassive") && !xml.contains("<saml:Assertion"), "{xml}");
    op.stop().await;
}

/// pysaml2's SP script: runs `saml_sp.py ARGS` with `stdin`, returns (exit code, JSON or text).
fn pysaml2(args: &[&str], stdin: &str) -> (i32, serde_json::Value) {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/saml_sp.py");
    let mut child = std::process::Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with pysaml2 (apt-get install python3-pysaml2 xmlsec1)");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(text.trim()).unwrap_or(serde_json::Value::String(text));
    assert!(!json.is_string() || args[0] == "metadata", "{json} {}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), json)
}

#[tokio::test]
async fn pysaml2_signs_in_with_a_persistent_name_id_and_refuses_forged_replayed_late_and_foreign_responses() {
    let dir = tempfile::TempDir::new().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let (_, _, cert) = sp_keys(dir.path());
    let (entity, acs) = ("https://py.example/sp", "https://py.example/acs");
    let std::process::Output { stdout, .. } = std::process::Command::new("/usr/bin/python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/saml_sp.py"))
        .args(["metadata", &d, entity, acs])
        .output()
        .unwrap();
    let sp_md = dir.path().join("sp-metadata.xml");
    std::fs::write(&sp_md, &stdout).unwrap();
    // `other` names pysaml2's consumer in its (wrong) metadata: its assertions come with its own
    // audience.
    let other_md = dir.path().join("other-metadata.xml");
    std::fs::write(&other_md, sp_metadata("https://other.example/sp", acs, &cert, false)).unwrap();
    let op = Op::start(
        Backend::Postgres,
        &format!(
            "[saml]\nrequest_ttl_secs = 900\n[[saml.service_providers]]\nid = \"py\"\nmetadata = \"{}\"\n\
[[saml.service_providers]]\nid = \"other\"\nmetadata = \"{}\"\n",
            sp_md.display(),
            other_md.display()
        ),
    )
    .await;
    let idp_md = dir.path().join("idp-metadata.xml");
    let xml = op.http.get(format!("{}/saml/metadata", op.base)).send().await.unwrap().text().await.unwrap();
    std::fs::write(&idp_md, xml).unwrap();
    let idp_md = idp_md.to_str().unwrap();
    let initial = op.reset("wangfang").await;
    let mut b = op.browser();

    let login = || {
        let (_, req) = pysaml2(&["login", &d, entity, acs, idp_md], "");
        let url = req["url"].as_str().unwrap().to_string();
        assert!(url.starts_with(&format!("{}/saml/sso?", op.base)) && url.contains("Signature="), "{url}");
        (req["id"].as_str().unwrap().to_string(), url[op.base.len()..].to_string())
    };
    let (id, path) = login();
    let page = b.get(&path).await;
    let page = b.login(&page, "wangfang", &initial).await;
    let (action, xml, relay) = posted(&b.change(&page, NEW_PW).await);
    assert_eq!((action.as_str(), relay.as_deref()), (acs, Some("rs-1")));
    let response = B64.encode(&xml);

    // Forged: a changed attribute breaks both signatures.
    let forged = B64.encode(xml.replace("综合部", "财务部"));
    let (code, out) = pysaml2(&["acs", &d, entity, acs, idp_md, &id], &forged);
    assert_eq!(code, 1, "{out}");
    assert!(out["error"].as_str().unwrap().to_lowercase().contains("sign"), "{out}");

    // The real one.
    let (code, out) = pysaml2(&["acs", &d, entity, acs, idp_md, &id], &response);
    assert_eq!(code, 0, "{out}");
    let name_id = out["name_id"].as_str().unwrap().to_string();
    assert_ne!(name_id, "wangfang", "persistent: the opaque sub, not the login");
    assert_eq!(name_id.len(), 24);
    let attrs = &out["attributes"];
    assert_eq!(attrs["login"], serde_json::json!(["wangfang"]));
    assert_eq!(attrs["name"], serde_json::json!(["王芳"]));
    assert_eq!(attrs["department"], serde_json::json!(["综合部"]));
    assert_eq!(attrs["groups"], serde_json::json!(["C010", "C010/综合部"]));
    assert_eq!(attrs["employee_number"], serde_json::json!(["A1"]));

    // Replayed: the request it answered is no longer outstanding.
    let (code, out) = pysaml2(&["acs", &d, entity, acs, idp_md, "-"], &response);
    assert_eq!(code, 1, "a replayed response is refused: {out}");

    // A second login on the same session: the same persistent NameID, no login page.
    let (id2, path2) = login();
    let (_, xml2, _) = posted(&b.get(&path2).await);
    let (code, out) = pysaml2(&["acs", &d, entity, acs, idp_md, &id2], &B64.encode(&xml2));
    assert_eq!((code, out["name_id"].as_str()), (0, Some(name_id.as_str())), "{out}");

    // Late: orgid's clock 10 minutes behind signs an assertion already over.
    let (id3, path3) = login();
    op.clock.advance(chrono::Duration::minutes(-10));
    let (_, late, _) = posted(&b.get(&path3).await);
    op.clock.advance(chrono::Duration::minutes(10));
    let (code, out) = pysaml2(&["acs", &d, entity, acs, idp_md, &id3], &B64.encode(&late));
    assert_eq!(code, 1, "an expired assertion is refused: {out}");

    // Foreign: the `other` SP's assertion (its audience), by the HTTP-POST binding.
    let now = orgid_directory::Clock::now(op.clock.as_ref()).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let request = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_py-other" Version="2.0" IssueInstant="{now}"><saml:Issuer>https://other.example/sp</saml:Issuer></samlp:AuthnRequest>"#
    );
    let page = b.post("/saml/sso", &[("SAMLRequest", &B64.encode(&request))]).await;
    let (action, foreign, _) = posted(&page);
    assert_eq!(action, acs);
    let (code, out) = pysaml2(&["acs", &d, entity, acs, idp_md, "_py-other"], &B64.encode(&foreign));
    assert_eq!(code, 1, "another SP's assertion is refused: {out}");
    // …and orgid takes that POSTed request once.
    let again = b.post("/saml/sso", &[("SAMLRequest", &B64.encode(&request))]).await;
    assert_eq!(again.status, 400);

    // Logout at orgid: its page frames a LogoutRequest that pysaml2 takes (orgid's signature over
    // the query, the NameID and SessionIndex of its assertion, its own SingleLogoutService).
    let index = xml.split("SessionIndex=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_string();
    let confirm = b.get("/logout").await;
    let page = b.post("/logout/confirm", &[("csrf", &confirm.field("csrf")), ("carry", &confirm.field("carry"))]).await;
    assert_eq!(page.body.matches("<iframe").count(), 1, "pysaml2 only (`other` has no logout service): {}", page.body);
    let src = page.body.split("<iframe src=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().replace("&amp;", "&");
    assert!(src.starts_with("https://py.example/slo?SAMLRequest="), "{src}");
    let (code, out) = pysaml2(&["slo", &d, entity, acs, idp_md], &src);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        (out["name_id"].as_str(), out["issuer"].as_str()),
        (Some(name_id.as_str()), Some(format!("{}/saml/metadata", op.base).as_str()))
    );
    assert_eq!(out["session_index"], serde_json::json!([index]));
    // The same request with a RelayState slipped in no longer verifies.
    let (code, out) = pysaml2(&["slo", &d, entity, acs, idp_md], &src.replace("&SigAlg=", "&RelayState=x&SigAlg="));
    assert_eq!(code, 1, "{out}");
    op.stop().await;
}

#[tokio::test]
async fn an_sp_registered_with_the_cli_signs_in_until_it_is_removed() {
    let dir = tempfile::TempDir::new().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    sp_keys(dir.path());
    let (entity, acs) = ("https://cli.example/sp", "https://cli.example/acs");
    let (_, md) = pysaml2(&["metadata", &d, entity, acs], "");
    let sp_md = dir.path().join("sp-metadata.xml");
    std::fs::write(&sp_md, md.as_str().unwrap()).unwrap();
    let sp_md = sp_md.to_str().unwrap();
    let op = Op::start(Backend::Sqlite, "").await;
    let add = [
        "clients",
        "add",
        "cli-sp",
        "--protocol",
        "saml",
        "--metadata",
        sp_md,
        "--name",
        "报销系统",
        "--name-id",
        "login",
        "--attribute",
        "department",
        "--attribute",
        "groups",
    ];
    let (code, out) = crate::sync::orgid(&op.cfg, &add).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(entity), "{out}");
    // The same id, or the same entity under another id, is refused.
    assert!(crate::sync::orgid_err(&op.cfg, &add).await.contains("already exists"));
    let mut other = add;
    other[2] = "cli-sp2";
    assert!(crate::sync::orgid_err(&op.cfg, &other).await.contains("registered already"));
    let (_, list) = crate::sync::orgid(&op.cfg, &["clients", "list"]).await;
    assert!(list.contains("cli-sp") && list.contains("报销系统"), "{list}");

    let idp_md = dir.path().join("idp-metadata.xml");
    let xml = op.http.get(format!("{}/saml/metadata", op.base)).send().await.unwrap().text().await.unwrap();
    std::fs::write(&idp_md, xml).unwrap();
    let idp_md = idp_md.to_str().unwrap();
    let initial = op.reset("wangfang").await;
    let mut b = op.browser();
    let (_, req) = pysaml2(&["login", &d, entity, acs, idp_md], "");
    let (id, url) = (req["id"].as_str().unwrap(), req["url"].as_str().unwrap());
    let page = b.get(&url[op.base.len()..]).await;
    assert!(page.body.contains("报销系统"), "{}", page.body);
    let page = b.login(&page, "wangfang", &initial).await;
    let (_, xml, _) = posted(&b.change(&page, NEW_PW).await);
    let (code, out) = pysaml2(&["acs", &d, entity, acs, idp_md, id], &B64.encode(&xml));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["name_id"], "wangfang");
    let released: Vec<&String> = out["attributes"].as_object().unwrap().keys().collect();
    assert_eq!(released, ["department", "groups"], "only what was registered: {out}");

    // Removed: its requests are refused at once (the store is read on each request).
    let (code, out) = crate::sync::orgid(&op.cfg, &["clients", "remove", "cli-sp"]).await;
    assert_eq!(code, 0, "{out}");
    let (_, req) = pysaml2(&["login", &d, entity, acs, idp_md], "");
    let page = b.get(&req["url"].as_str().unwrap()[op.base.len()..]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("未登记"), "{}", page.body);
    op.stop().await;
}

/// `SamlSpStore` on both backends (migration 0016).
mod store {
    use chrono::{DateTime, Utc};
    use orgid_directory::StoreError;
    use orgid_directory::idp::{ClientStore, SamlSpStore, StoredClient, StoredSamlSp};

    use crate::store::Env;

    both_backends!(saml_sps_are_added_with_their_client_and_go_with_it);

    fn sp(id: &str) -> (StoredClient, StoredSamlSp) {
        let client = StoredClient {
            id: id.into(),
            name: format!("{id} 报销"),
            secret_hash: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grants: Vec::new(),
            scopes: Vec::new(),
            id_token_alg: "RS256".into(),
            access_token_alg: None,
            require_totp: true,
            created_at: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(),
            protocol: "saml".into(),
            services: Vec::new(),
            backchannel_logout_uri: None,
        };
        let saml = StoredSamlSp {
            id: id.into(),
            metadata: format!("<EntityDescriptor entityID=\"https://{id}.example/\"/>"),
            name_id: "login".into(),
            sign: "assertion".into(),
            attributes: vec!["department".into(), "groups".into()],
        };
        (client, saml)
    }

    async fn saml_sps_are_added_with_their_client_and_go_with_it(e: Env) {
        let s = &e.store;
        let (c1, p1) = sp("oa");
        let (c2, p2) = sp("hr");
        s.add_saml_sp(&c1, &p1, &[]).await.unwrap();
        s.add_saml_sp(&c2, &p2, &[]).await.unwrap();
        assert_eq!(s.saml_sps().await.unwrap(), [p2.clone(), p1.clone()], "ordered by id");
        assert_eq!(s.clients().await.unwrap(), [c2.clone(), c1.clone()]);
        // A taken id writes nothing, neither row.
        let again = s.add_saml_sp(&c1, &StoredSamlSp { name_id: "persistent".into(), ..p1.clone() }, &[]).await;
        assert!(matches!(&again, Err(StoreError::Conflict(m)) if m.contains("oa")), "{again:?}");
        assert_eq!(s.saml_sps().await.unwrap(), [p2.clone(), p1]);
        // Removing the client removes its SAML data.
        s.remove_client("oa", c1.created_at, &[]).await.unwrap();
        assert_eq!(s.saml_sps().await.unwrap(), [p2]);
        assert_eq!(s.clients().await.unwrap(), [c2]);
    }
}
