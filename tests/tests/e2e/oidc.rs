//! The OpenID Connect provider, driven over HTTP like a browser and a relying party would, with
//! every token verified by the openidconnect crate's client side.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{Duration, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{AdditionalClaims, ClientId, ClientSecret, IdToken, IssuerUrl, Nonce};
use orgid_directory::FixedClock;
use reqwest_cookie_store::CookieStoreMutex;
use serde::{Deserialize, Serialize};
use tempfile::TempDir;
use tokio::net::TcpListener;

use crate::hr::{Hr, Row};
use crate::sync::{Backend, orgid, orgid_err, store_url};

pub(crate) const SECRET: &str = "portal-secret-0123456789";
pub(crate) const CB: &str = "http://127.0.0.1:9/cb";
const MOBILE_CB: &str = "http://127.0.0.1:9/mobile";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Org {
    #[serde(default)]
    org: Option<serde_json::Value>,
}
impl AdditionalClaims for Org {}
type OrgIdToken = IdToken<Org, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

pub(crate) struct Op {
    _dir: TempDir,
    pub(crate) base: String,
    pub(crate) cfg: std::path::PathBuf,
    pub(crate) clock: Arc<FixedClock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub(crate) http: reqwest::Client,
}

impl Op {
    /// A group with 张伟 (HQ), 王芳 (C010, M12) and 李娜 (C010, M12), synced, served.
    pub(crate) async fn start(backend: Backend, extra: &str) -> Op {
        let dir = TempDir::new().unwrap();
        let hr = Hr::new(dir.path());
        hr.write(
            &[
                Row::new(1, "G000", "G1", "张伟", ""),
                Row::new(2, "C010", "A1", "王芳", "M12"),
                Row::new(3, "C010", "A2", "李娜", "M12"),
            ],
            false,
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let url = store_url(backend, dir.path()).await;
        let cfg = hr.config(
            &url,
            &format!(
                r#"[oidc]
issuer = "{base}"
[[clients]]
id = "portal"
name = "协同办公门户"
secret = "{SECRET}"
redirect_uris = ["{CB}"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]
grants = ["authorization_code", "refresh_token", "client_credentials"]
[[clients]]
id = "mobile"
redirect_uris = ["{MOBILE_CB}"]
[[clients]]
id = "es"
secret = "es-secret-0123456789abc"
redirect_uris = ["{CB}"]
id_token_alg = "ES256"
[[clients]]
id = "ed"
secret = "ed-secret-0123456789abcd"
redirect_uris = ["{CB}"]
id_token_alg = "EdDSA"
[[clients]]
id = "vault"
secret = "vault-secret-0123456789"
redirect_uris = ["{CB}"]
require_totp = true
{extra}"#
            ),
        );
        assert_eq!(orgid(&cfg, &["sync"]).await.0, 0);
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let config = orgid::cli::load_config(Some(&cfg), Vec::new()).unwrap();
        let app = orgid::app::App::open_with_clock(config, clock.clone()).await.unwrap();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(orgid::cli::serve::serve_on(app, listener, async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        for _ in 0..100 {
            if http.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Op { _dir: dir, base, cfg, clock, stop: Some(stop), server: Some(server), http }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.unwrap().unwrap();
        }
    }

    /// `orgid accounts reset-password LOGIN`: the printed one-time password.
    pub(crate) async fn reset(&self, login: &str) -> String {
        let (code, out) = orgid(&self.cfg, &["accounts", "reset-password", login]).await;
        assert_eq!(code, 0, "{out}");
        out.lines().last().unwrap().trim().to_string()
    }

    pub(crate) fn browser(&self) -> Browser {
        Browser::at(&self.base)
    }

    pub(crate) async fn metadata(&self) -> (CoreProviderMetadata, CoreJsonWebKeySet) {
        let meta: CoreProviderMetadata = self
            .http
            .get(format!("{}/.well-known/openid-configuration", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwks: CoreJsonWebKeySet =
            self.http.get(meta.jwks_uri().url().as_str()).send().await.unwrap().json().await.unwrap();
        (meta, jwks)
    }

    pub(crate) async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, serde_json::Value) {
        let mut req = self.http.post(format!("{}/token", self.base)).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        if status == 200 {
            assert_eq!(res.headers()["cache-control"], "no-store");
        }
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub(crate) async fn introspect(&self, token: &str) -> serde_json::Value {
        self.http
            .post(format!("{}/introspect", self.base))
            .basic_auth("portal", Some(SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub(crate) fn verifier(&self, client: &str, secret: &str, jwks: CoreJsonWebKeySet) -> CoreIdTokenVerifier<'static> {
        let now = self.clock.now_utc();
        CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(client.into()),
            ClientSecret::new(secret.into()),
            IssuerUrl::new(self.base.clone()).unwrap(),
            jwks,
        )
        .set_time_fn(move || now)
    }
}

trait Now {
    fn now_utc(&self) -> chrono::DateTime<Utc>;
}
impl Now for FixedClock {
    fn now_utc(&self) -> chrono::DateTime<Utc> {
        orgid_directory::Clock::now(self)
    }
}

/// A browser: its own cookie store (reqwest's, as a browser keeps cookies: by domain and path,
/// expired ones dropped), no automatic redirects.
pub(crate) struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: Arc<CookieStoreMutex>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
    /// `Retry-After`, when the answer has one.
    pub(crate) retry_after: Option<String>,
}

impl Page {
    pub(crate) fn field(&self, name: &str) -> String {
        let pat = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&pat).unwrap_or_else(|| panic!("no field {name} in {}", self.body)) + pat.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end]
            .replace("&amp;", "&")
            .replace("&#38;", "&")
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
    }

    /// The query parameters of the redirect.
    pub(crate) fn redirect_params(&self) -> HashMap<String, String> {
        let loc = self.location.as_ref().unwrap_or_else(|| panic!("no redirect ({}): {}", self.status, self.body));
        url::Url::parse(loc).unwrap().query_pairs().into_owned().collect()
    }
}

impl Browser {
    /// A fresh browser (no cookies) for the server at `base`.
    pub(crate) fn at(base: &str) -> Browser {
        Browser::at_from(base, None)
    }

    /// A fresh browser whose connections come from `local` (a loopback address other than
    /// 127.0.0.1: another machine, as the server sees it).
    pub(crate) fn at_from(base: &str, local: Option<std::net::IpAddr>) -> Browser {
        let cookies = Arc::new(CookieStoreMutex::default());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(cookies.clone())
            .local_address(local)
            .build()
            .unwrap();
        Browser { base: base.to_string(), http, cookies }
    }

    /// The value of the cookie `name` that this browser would send to the server's pages.
    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(&self.base).unwrap();
        let store = self.cookies.lock().unwrap();
        store.matches(&url).into_iter().find(|c| c.name() == name).map(|c| c.value().to_string())
    }

    /// Gives this browser the cookie `name` for the server's pages, as if the server had set it.
    pub(crate) fn set_cookie(&self, name: &str, value: &str) {
        let url = url::Url::parse(&self.base).unwrap();
        self.cookies.lock().unwrap().parse(&format!("{name}={value}; Path=/"), &url).unwrap();
        assert_eq!(self.cookie(name).as_deref(), Some(value), "the store took the cookie");
    }

    /// The client itself, for requests the helpers do not make.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let res = req.send().await.unwrap();
        // Every cookie of the provider and the console is out of reach of scripts and cross-site
        // requests. (The cookie store carries them; this only checks how they were set.)
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (kv, attrs) = v.split_once(';').unwrap_or((v, ""));
            assert!(kv.contains('='), "{v}");
            assert!(attrs.contains("HttpOnly") && attrs.contains("SameSite"), "{v}");
        }
        let status = res.status().as_u16();
        let header = |name: &str| res.headers().get(name).map(|l| l.to_str().unwrap().to_string());
        let (location, retry_after) = (header("location"), header("retry-after"));
        Page { status, location, retry_after, body: res.text().await.unwrap() }
    }

    pub(crate) async fn get(&mut self, path_and_query: &str) -> Page {
        let req = self.http.get(format!("{}{path_and_query}", self.base));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    pub(crate) async fn authorize(&mut self, params: &[(&str, &str)]) -> Page {
        let q = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        self.get(&format!("/authorize?{q}")).await
    }

    /// Submits the login form of `page`.
    pub(crate) async fn login(&mut self, page: &Page, login: &str, password: &str) -> Page {
        let (csrf, req) = (page.field("csrf"), page.field("req"));
        self.post("/login", &[("csrf", &csrf), ("req", &req), ("login", login), ("password", password)]).await
    }

    /// Changes the password on a forced-change page.
    pub(crate) async fn change(&mut self, page: &Page, new: &str) -> Page {
        let (csrf, pending) = (page.field("csrf"), page.field("pending"));
        self.post("/password", &[("csrf", &csrf), ("pending", &pending), ("new", new), ("repeat", new)]).await
    }
}

pub(crate) fn pkce() -> (String, String) {
    let verifier = B64.encode([7u8; 40]);
    let challenge = B64.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) fn code_params<'a>(
    client: &'a str,
    redirect: &'a str,
    challenge: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("client_id", client),
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("scope", "openid profile email phone org"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("unknown_parameter", "is ignored"),
    ];
    p.extend_from_slice(extra);
    p
}

/// Logs in (changing the initial password) and returns the authorization response parameters.
pub(crate) async fn first_login(
    b: &mut Browser,
    client: &str,
    initial: &str,
    new: &str,
    challenge: &str,
) -> HashMap<String, String> {
    let page = b.authorize(&code_params(client, CB, challenge, &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("lang=\"zh-CN\"") && page.body.contains("统一身份认证"));
    let page = b.login(&page, "zhangwei", initial).await;
    assert_eq!(page.status, 200, "the initial password must be changed first: {}", page.body);
    assert!(page.body.contains("初始密码"), "{}", page.body);
    let page = b.change(&page, new).await;
    assert_eq!(page.status, 303, "{}", page.body);
    page.redirect_params()
}

#[tokio::test]
async fn code_flow_with_pkce_refresh_rotation_and_revocation() {
    let op = Op::start(Backend::Sqlite, "").await;
    let (meta, jwks) = op.metadata().await;
    // Discovery is valid for the openidconnect client and names every endpoint of the issue.
    assert_eq!(meta.issuer().as_str(), op.base);
    let raw: serde_json::Value = op
        .http
        .get(format!("{}/.well-known/openid-configuration", op.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for k in
        ["revocation_endpoint", "introspection_endpoint", "end_session_endpoint", "userinfo_endpoint", "token_endpoint"]
    {
        assert!(raw[k].as_str().is_some_and(|u| u.starts_with(&op.base)), "{k}: {raw}");
    }
    assert_eq!(raw["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(raw["authorization_response_iss_parameter_supported"], true);
    assert!(jwks.keys().iter().all(|k| openidconnect::JsonWebKey::key_id(k).is_some()), "every key has a kid");

    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let params = first_login(&mut b, "portal", &initial, "Spring-2026a", &challenge).await;
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], op.base, "RFC 9207");
    let code = params["code"].clone();

    // A wrong verifier, then the right one with client_secret_basic.
    let (s, e) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &"x".repeat(43)),
            ],
            Some(("portal", SECRET)),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    // The code was spent by that failed attempt: single use, whatever happened.
    let (s, _) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            Some(("portal", SECRET)),
        )
        .await;
    assert_eq!(s, 400);

    // A fresh login through the existing session (SSO): no form, straight back with a code.
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let code = page.redirect_params()["code"].clone();
    let (s, tok) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            Some(("portal", SECRET)),
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    let id_token: OrgIdToken = tok["id_token"].as_str().unwrap().parse().unwrap();
    let claims = id_token.claims(&op.verifier("portal", SECRET, jwks.clone()), &Nonce::new("n-1".into())).unwrap();
    assert_eq!(claims.issuer().as_str(), op.base);
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("zhangwei"));
    let org = claims.additional_claims().org.clone().expect("org scope");
    assert_eq!(org["company"]["code"], "G000");
    assert_eq!(org["employee_number"], "G1");
    assert!(org["groups"].as_array().unwrap().iter().any(|g| g == "G000"));
    let sub = claims.subject().as_str().to_string();
    assert!(!sub.contains("G1") && sub.len() >= 20, "sub is opaque: {sub}");
    // at_hash binds the access token.
    let at = openidconnect::AccessToken::new(tok["access_token"].as_str().unwrap().into());
    let expected =
        openidconnect::AccessTokenHash::from_token(&at, id_token.signing_alg().unwrap(), &jwks.keys()[0]).ok();
    assert!(
        claims.access_token_hash().is_some() && (expected.is_none() || claims.access_token_hash() == expected.as_ref())
    );
    // A wrong nonce is refused by the client library.
    assert!(id_token.claims(&op.verifier("portal", SECRET, jwks.clone()), &Nonce::new("other".into())).is_err());

    // Userinfo, GET with a bearer header and POST with a form.
    let access = tok["access_token"].as_str().unwrap();
    let info: serde_json::Value =
        op.http.get(format!("{}/userinfo", op.base)).bearer_auth(access).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["sub"], sub.as_str());
    assert_eq!(info["email"], "g1@example.com");
    assert_eq!(info["org"]["company"]["tier"], "hq");
    let info2: serde_json::Value = op
        .http
        .post(format!("{}/userinfo", op.base))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info2["sub"], sub.as_str());

    // Refresh: rotated on use; the old one used again revokes the whole grant.
    let r1 = tok["refresh_token"].as_str().unwrap().to_string();
    let (s, t2) = op.token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)], Some(("portal", SECRET))).await;
    assert_eq!(s, 200, "{t2}");
    let r2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    // Bound to its client: the es client cannot use it (and does not burn it).
    let (s, e) = op
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &r2)], Some(("es", "es-secret-0123456789abc")))
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(op.introspect(&r2).await["active"], true);
    let (s, e) = op.token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)], Some(("portal", SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")), "reuse is detected");
    assert_eq!(op.introspect(&r2).await["active"], false, "reuse revoked the grant");
    assert_eq!(op.introspect(t2["access_token"].as_str().unwrap()).await["active"], false);

    // client_secret_post works too; client credentials issue a token without a user.
    let (s, cc) = op
        .token(&[("grant_type", "client_credentials"), ("client_id", "portal"), ("client_secret", SECRET)], None)
        .await;
    assert_eq!(s, 200, "{cc}");
    assert!(cc.get("id_token").is_none() && cc.get("refresh_token").is_none());
    let intro = op.introspect(cc["access_token"].as_str().unwrap()).await;
    assert_eq!((intro["active"].as_bool(), intro["sub"].as_str()), (Some(true), Some("portal")));
    // Revocation (RFC 7009) of that token.
    let res = op
        .http
        .post(format!("{}/revoke", op.base))
        .basic_auth("portal", Some(SECRET))
        .form(&[("token", cc["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(op.introspect(cc["access_token"].as_str().unwrap()).await["active"], false);
    // Wrong secret: 401 invalid_client with a Basic challenge.
    let res = op
        .http
        .post(format!("{}/token", op.base))
        .basic_auth("portal", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().contains_key("www-authenticate"));
    op.stop().await;
}

#[tokio::test]
async fn bad_requests_get_protocol_errors_and_never_a_redirect_to_an_unregistered_uri() {
    let op = Op::start(Backend::Sqlite, "").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    // Unknown client and unregistered or mismatched redirect URI: an error page, no redirect.
    for params in [
        code_params("nobody", CB, &challenge, &[]),
        code_params("portal", "http://127.0.0.1:9/evil", &challenge, &[]),
        code_params("portal", "http://127.0.0.1:9/cb/", &challenge, &[]),
    ] {
        let page = b.authorize(&params).await;
        assert_eq!(page.status, 400);
        assert!(page.location.is_none());
    }
    // Missing response_type: back to the client with invalid_request, state and iss.
    let mut p = code_params("portal", CB, &challenge, &[]);
    p.retain(|(k, _)| *k != "response_type");
    let params = b.authorize(&p).await.redirect_params();
    assert_eq!((params["error"].as_str(), params["state"].as_str()), ("invalid_request", "st-1"));
    assert_eq!(params["iss"], op.base);
    // A public client without PKCE, and the plain method: refused.
    let mut p = code_params("mobile", MOBILE_CB, &challenge, &[]);
    p.retain(|(k, _)| !k.starts_with("code_challenge"));
    assert_eq!(b.authorize(&p).await.redirect_params()["error"], "invalid_request");
    let p = code_params("mobile", MOBILE_CB, &challenge, &[("code_challenge_method", "plain")]);
    assert_eq!(
        b.authorize(&p[..p.len() - 1].iter().chain(&[("code_challenge_method", "plain")]).cloned().collect::<Vec<_>>())
            .await
            .redirect_params()["error"],
        "invalid_request"
    );
    // prompt=none without a session.
    let params = b.authorize(&code_params("portal", CB, &challenge, &[("prompt", "none")])).await.redirect_params();
    assert_eq!(params["error"], "login_required");
    // POST authorize shows the same login page.
    let page =
        b.send(op.http.post(format!("{}/authorize", op.base)).form(&code_params("portal", CB, &challenge, &[]))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"req\""));
    // A login form without its CSRF token is refused.
    let page2 = b
        .post("/login", &[("csrf", "forged"), ("req", &page.field("req")), ("login", "zhangwei"), ("password", "x")])
        .await;
    assert_eq!(page2.status, 400);
    // The token endpoint: unknown grant, missing grant.
    let (s, e) = op
        .token(&[("grant_type", "password"), ("username", "zhangwei"), ("password", "x")], Some(("portal", SECRET)))
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (s, e) = op.token(&[], Some(("portal", SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")));
    op.stop().await;
}

#[tokio::test]
async fn forged_tokens_are_refused_at_introspection_and_userinfo() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let code = first_login(&mut b, "portal", &initial, "Spring-2026a", &challenge).await["code"].clone();
    let (_, tok) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            Some(("portal", SECRET)),
        )
        .await;
    let access = tok["access_token"].as_str().unwrap();
    assert_eq!(op.introspect(access).await["active"], true);
    let parts: Vec<&str> = access.split('.').collect();
    let mut header: serde_json::Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    let kid = header["kid"].as_str().unwrap().to_string();
    // alg: none, no signature.
    header["alg"] = "none".into();
    let none = format!("{}.{}.", B64.encode(header.to_string()), parts[1]);
    // HS256 keyed with the public key (the classic confusion attack).
    header["alg"] = "HS256".into();
    let (_, jwks) = op.metadata().await;
    let public = serde_json::to_vec(&jwks.keys()[0]).unwrap();
    let input = format!("{}.{}", B64.encode(header.to_string()), parts[1]);
    let mac = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public), input.as_bytes());
    let hs = format!("{input}.{}", B64.encode(mac.as_ref()));
    // A tampered payload with the original signature.
    let mut payload: serde_json::Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    payload["scope"] = "openid profile email phone org admin".into();
    let tampered = format!("{}.{}.{}", parts[0], B64.encode(payload.to_string()), parts[2]);
    let res = op
        .http
        .post(format!("{}/introspect", op.base))
        .basic_auth("portal", Some(SECRET))
        .form(&[("token", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "a missing token is invalid_request");
    for forged in [none.as_str(), hs.as_str(), tampered.as_str(), "garbage", "a.b.c"] {
        assert_eq!(op.introspect(forged).await["active"], false, "{forged}");
        let res = op.http.get(format!("{}/userinfo", op.base)).bearer_auth(forged).send().await.unwrap();
        assert_eq!(res.status(), 401, "{forged}");
    }
    assert!(!kid.is_empty());
    op.stop().await;
}

#[tokio::test]
async fn lockout_disabled_accounts_and_no_user_enumeration() {
    // Three people: one leaving is a third of the roster, above the default safety limits.
    let op = Op::start(Backend::Sqlite, "[safety]\nmax_shrink_share = 0.5\nmax_close_share = 0.5").await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    // Unknown user and wrong password: the same page, the same message.
    let unknown = b.login(&page, "nobody", "Whatever-1").await;
    let wrong = b.login(&page, "zhangwei", "Whatever-1").await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    let msg = "账号或密码错误";
    assert!(unknown.body.contains(msg) && wrong.body.contains(msg));
    // Four more failures lock the account (5 in all); then even the right password fails.
    for _ in 0..4 {
        assert_eq!(b.login(&page, "zhangwei", "Whatever-1").await.status, 401);
    }
    assert_eq!(b.login(&page, "zhangwei", &initial).await.status, 401, "locked");
    // 30 minutes later the lock is over.
    op.clock.advance(Duration::minutes(31));
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let next = b.login(&page, "zhangwei", &initial).await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert!(next.body.contains("初始密码"));
    // A weak new password is refused with the policy's reason.
    let weak = b.change(&next, "abcdefgh").await;
    assert_eq!(weak.status, 400);
    assert!(weak.body.contains("至少 3 类"), "{}", weak.body);

    // 李娜 leaves: her account closes and she can no longer log in, password or not.
    let initial_li = op.reset("lina").await;
    let hr = Hr { dir: op.cfg.parent().unwrap().to_path_buf() };
    let mut li = Row::new(3, "C010", "A2", "李娜", "M12");
    li.left = true;
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12"), li], false);
    let (code, out) = orgid(&op.cfg, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let refused = b.login(&page, "lina", &initial_li).await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains(msg));
    op.stop().await;
}

#[tokio::test]
async fn sessions_prompt_max_age_logout_and_expiry() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let code = first_login(&mut b, "portal", &initial, "Spring-2026a", &challenge).await["code"].clone();
    let (_, tok) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            Some(("portal", SECRET)),
        )
        .await;
    let id_token = tok["id_token"].as_str().unwrap().to_string();
    // prompt=none with a session answers with a code; with an ES256 client, the token verifies.
    let page = b.authorize(&code_params("es", CB, &challenge, &[("prompt", "none")])).await;
    let code = page.redirect_params()["code"].clone();
    let (s, es) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            Some(("es", "es-secret-0123456789abc")),
        )
        .await;
    assert_eq!(s, 200, "{es}");
    let (_, jwks) = op.metadata().await;
    let t: OrgIdToken = es["id_token"].as_str().unwrap().parse().unwrap();
    let verifier_es = op
        .verifier("es", "es-secret-0123456789abc", jwks.clone())
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    t.claims(&verifier_es, &Nonce::new("n-1".into())).unwrap();
    // prompt=login shows the form despite the session; max_age=0 too.
    assert_eq!(b.authorize(&code_params("portal", CB, &challenge, &[("prompt", "login")])).await.status, 200);
    op.clock.advance(Duration::seconds(5));
    assert_eq!(b.authorize(&code_params("portal", CB, &challenge, &[("max_age", "1")])).await.status, 200);
    // id_token_hint of the signed-in user with prompt=none: fine.
    let page =
        b.authorize(&code_params("portal", CB, &challenge, &[("prompt", "none"), ("id_token_hint", &id_token)])).await;
    assert!(page.redirect_params().contains_key("code"));
    // The second-factor client needs TOTP: prompt=none cannot do it.
    let page = b.authorize(&code_params("vault", CB, &challenge, &[("prompt", "none")])).await;
    assert_eq!(page.redirect_params()["error"], "interaction_required");
    let page = b.authorize(&code_params("vault", CB, &challenge, &[])).await;
    assert!(page.body.contains("二次验证") && page.body.contains("otpauth://"), "{}", page.body);

    // Logout with the hint ends the session for every client and goes to a registered URI.
    let page = b
        .get(&format!(
            "/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye",
            url::form_urlencoded::byte_serialize(b"http://127.0.0.1:9/bye").collect::<String>()
        ))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.redirect_params()["state"], "bye");
    let params = b.authorize(&code_params("portal", CB, &challenge, &[("prompt", "none")])).await.redirect_params();
    assert_eq!(params["error"], "login_required");
    assert_eq!(
        op.introspect(tok["refresh_token"].as_str().unwrap()).await["active"],
        false,
        "logout revoked the grant"
    );

    // 91 days later the password has expired: the next login must change it first.
    op.clock.advance(Duration::days(91));
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let page = b.login(&page, "zhangwei", "Spring-2026a").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("已过期"), "{}", page.body);
    // The old password cannot be reused; the refusal comes with a new form (each acts once).
    let again = b.change(&page, "Spring-2026a").await;
    assert_eq!(again.status, 400);
    let done = b.change(&again, "Autumn-2026b").await;
    assert_eq!(done.status, 303);
    assert!(done.redirect_params().contains_key("code"));
    op.stop().await;
}

#[tokio::test]
async fn signing_keys_rotate_and_the_old_key_stays_published() {
    let op = Op::start(Backend::Postgres, "").await;
    let (_, before) = op.metadata().await;
    let rs: Vec<_> = before
        .keys()
        .iter()
        .filter(|k| serde_json::to_value(k).unwrap()["kty"] == "RSA")
        .map(|k| serde_json::to_value(k).unwrap()["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rs.len(), 1);
    // Ten minutes past its 90 days the key is retired: a new one signs, and the old one stays
    // published until the last token it signed has expired.
    op.clock.advance(Duration::days(90) + Duration::minutes(10));
    let initial = op.reset("wangfang").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let page = b.login(&page, "wangfang", &initial).await;
    let code = b.change(&page, "Spring-2026a").await.redirect_params()["code"].clone();
    let (s, tok) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            Some(("portal", SECRET)),
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    let t: OrgIdToken = tok["id_token"].as_str().unwrap().parse().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&B64.decode(tok["id_token"].as_str().unwrap().split('.').next().unwrap()).unwrap())
            .unwrap();
    let new_kid = header["kid"].as_str().unwrap();
    assert_ne!(new_kid, rs[0], "a new key signs after rotation");
    let (_, after) = op.metadata().await;
    let kids: Vec<String> =
        after.keys().iter().map(|k| serde_json::to_value(k).unwrap()["kid"].as_str().unwrap().to_string()).collect();
    assert!(kids.contains(&rs[0]) && kids.iter().any(|k| k == new_kid), "{kids:?}");
    t.claims(&op.verifier("portal", SECRET, after), &Nonce::new("n-1".into())).unwrap();
    op.stop().await;
}

/// Exchanges `code` for the portal client.
async fn exchange(op: &Op, code: &str, verifier: Option<&str>) -> (u16, serde_json::Value) {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CB)];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    op.token(&form, Some(("portal", SECRET))).await
}

#[tokio::test]
async fn a_replayed_code_revokes_its_tokens_and_pkce_cannot_be_downgraded() {
    let op = Op::start(Backend::Postgres, "").await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let code = first_login(&mut b, "portal", &initial, "Spring-2026a", &challenge).await["code"].clone();
    let (s, tok) = exchange(&op, &code, Some(&verifier)).await;
    assert_eq!(s, 200, "{tok}");
    let (access, refresh) = (tok["access_token"].as_str().unwrap(), tok["refresh_token"].as_str().unwrap());
    assert_eq!(op.introspect(access).await["active"], true);
    // The same code again: refused, and what it issued is revoked (RFC 6749 §4.1.2).
    let (s, e) = exchange(&op, &code, Some(&verifier)).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(op.introspect(access).await["active"], false);
    assert_eq!(op.introspect(refresh).await["active"], false);
    let res = op.http.get(format!("{}/userinfo", op.base)).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), 401);

    // Downgrade: authorize without a challenge (a confidential client may), then send a verifier.
    let mut p = code_params("portal", CB, &challenge, &[]);
    p.retain(|(k, _)| !k.starts_with("code_challenge"));
    let code = b.authorize(&p).await.redirect_params()["code"].clone();
    let (s, e) = exchange(&op, &code, Some(&verifier)).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")), "a verifier without a challenge");
    // And a challenge without the verifier.
    let code = b.authorize(&code_params("portal", CB, &challenge, &[])).await.redirect_params()["code"].clone();
    let (s, e) = exchange(&op, &code, None).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    // A public client exchanges with its verifier and no secret.
    let code = b.authorize(&code_params("mobile", MOBILE_CB, &challenge, &[])).await.redirect_params()["code"].clone();
    let (s, tok) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", MOBILE_CB),
                ("code_verifier", &verifier),
                ("client_id", "mobile"),
            ],
            None,
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    op.stop().await;
}

#[tokio::test]
async fn second_factor_enrolment_and_login() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let page = b.authorize(&code_params("vault", CB, &challenge, &[])).await;
    let page = b.login(&page, "zhangwei", &initial).await;
    let page = b.change(&page, "Spring-2026a").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("otpauth://totp/"), "enrolment shows the key: {}", page.body);
    let start = page.body.find("<code>").unwrap() + 6;
    let secret = page.body[start..start + page.body[start..].find('<').unwrap()].to_string();
    // A wrong code: the page again, with the reason.
    let (csrf, pending) = (page.field("csrf"), page.field("pending"));
    let now = op.clock.now_utc().timestamp();
    let good = format!("{:06}", orgid_idp::totp::code_at(&secret, now / 30).unwrap());
    let bad = if good == "000000" { "111111" } else { "000000" };
    let wrong = b.post("/login/otp", &[("csrf", &csrf), ("pending", &pending), ("code", bad)]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("动态码不正确"));
    let done = b
        .post("/login/otp", &[("csrf", &wrong.field("csrf")), ("pending", &wrong.field("pending")), ("code", &good)])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let code = done.redirect_params()["code"].clone();
    let (s, tok) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            Some(("vault", "vault-secret-0123456789")),
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    let (_, jwks) = op.metadata().await;
    let t: OrgIdToken = tok["id_token"].as_str().unwrap().parse().unwrap();
    let claims = t.claims(&op.verifier("vault", "vault-secret-0123456789", jwks), &Nonce::new("n-1".into())).unwrap();
    let amr: Vec<String> = claims.auth_method_refs().unwrap().iter().map(|a| a.to_string()).collect();
    assert_eq!(amr, ["pwd", "otp"]);
    // Enrolled: the next login (new browser) asks for the code without showing the key again.
    let mut b2 = op.browser();
    let page = b2.authorize(&code_params("vault", CB, &challenge, &[])).await;
    let page = b2.login(&page, "zhangwei", "Spring-2026a").await;
    assert!(page.body.contains("name=\"code\"") && !page.body.contains("otpauth://"), "{}", page.body);
    op.stop().await;
}

#[tokio::test]
async fn expiry_warning_session_timeouts_and_security_headers() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    // The login page: no framing, no referrer, no caching.
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let res = op.http.get(format!("{}/authorize?client_id=portal", op.base)).send().await.unwrap();
    let h = res.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let page = b.login(&page, "zhangwei", &initial).await;
    assert_eq!(b.change(&page, "Spring-2026a").await.status, 303);

    // Idle: 31 minutes without use ends the session.
    assert!(
        b.authorize(&code_params("portal", CB, &challenge, &[("prompt", "none")]))
            .await
            .redirect_params()
            .contains_key("code")
    );
    op.clock.advance(Duration::minutes(31));
    assert_eq!(
        b.authorize(&code_params("portal", CB, &challenge, &[("prompt", "none")])).await.redirect_params()["error"],
        "login_required"
    );

    // Absolute: used every 20 minutes, the session still ends 10 hours after login.
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert_eq!(b.login(&page, "zhangwei", "Spring-2026a").await.status, 303);
    for _ in 0..29 {
        op.clock.advance(Duration::minutes(20));
        let p = b.authorize(&code_params("portal", CB, &challenge, &[("prompt", "none")])).await.redirect_params();
        assert!(p.contains_key("code"), "{p:?}");
    }
    op.clock.advance(Duration::minutes(20));
    assert_eq!(
        b.authorize(&code_params("portal", CB, &challenge, &[("prompt", "none")])).await.redirect_params()["error"],
        "login_required"
    );

    // 80 days after the change: a warning with the days left, and the choice to go on.
    op.clock.advance(Duration::days(80));
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let warn = b.login(&page, "zhangwei", "Spring-2026a").await;
    assert_eq!(warn.status, 200, "{}", warn.body);
    assert!(warn.body.contains("即将过期"), "{}", warn.body);
    let later = b
        .post(
            "/login/continue",
            &[("csrf", &warn.field("csrf")), ("pending", &warn.field("pending")), ("choice", "continue")],
        )
        .await;
    assert_eq!(later.status, 303);
    assert!(later.redirect_params().contains_key("code"));
    op.stop().await;
}

#[tokio::test]
async fn closing_an_account_stops_its_tokens_at_once() {
    let op = Op::start(Backend::Sqlite, "[safety]\nmax_shrink_share = 0.5\nmax_close_share = 0.5").await;
    let initial = op.reset("lina").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    let page = b.login(&page, "lina", &initial).await;
    let code = b.change(&page, "Spring-2026a").await.redirect_params()["code"].clone();
    let (_, tok) = exchange(&op, &code, Some(&verifier)).await;
    let (access, refresh) = (tok["access_token"].as_str().unwrap(), tok["refresh_token"].as_str().unwrap());
    assert_eq!(op.introspect(access).await["active"], true);
    let hr = Hr { dir: op.cfg.parent().unwrap().to_path_buf() };
    let mut li = Row::new(3, "C010", "A2", "李娜", "M12");
    li.left = true;
    hr.write(&[Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12"), li], false);
    let (c, out) = orgid(&op.cfg, &["sync"]).await;
    assert_eq!(c, 0, "{out}");
    // No waiting for expiry: every use checks the account.
    assert_eq!(op.introspect(access).await["active"], false);
    assert_eq!(op.introspect(refresh).await["active"], false);
    let res = op.http.get(format!("{}/userinfo", op.base)).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let (s, e) =
        op.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some(("portal", SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        b.authorize(&code_params("portal", CB, &challenge, &[("prompt", "none")])).await.redirect_params()["error"],
        "login_required"
    );
    op.stop().await;
}

#[tokio::test]
async fn passwords_reach_ldap_through_password_modify() {
    let slapd = orgid_tests::Slapd::start().await;
    let extra = format!(
        "[ldap]\nurl = \"{}\"\nbind_dn = \"{}\"\nbind_password = \"{}\"\nbase_dn = \"{}\"\n",
        slapd.url(),
        slapd.bind_dn(),
        slapd.bind_password(),
        slapd.base_dn()
    );
    let op = Op::start(Backend::Sqlite, &extra).await;
    let dn = format!("uid=zhangwei,ou=综合部,ou=G000,{}", slapd.base_dn());
    let initial = op.reset("zhangwei").await;
    assert_eq!(slapd.bind_result(&dn, &initial).await, 0, "the reset reached the directory");
    let mut b = op.browser();
    let (_, challenge) = pkce();
    let params = first_login(&mut b, "portal", &initial, "Spring-2026a", &challenge).await;
    assert!(params.contains_key("code"));
    assert_eq!(slapd.bind_result(&dn, "Spring-2026a").await, 0, "the change reached the directory");
    assert_eq!(slapd.bind_result(&dn, &initial).await, 49, "the initial password no longer binds");
    // The directory holds a hash, never the clear password.
    let entry = slapd.search(&dn, "base", "(objectClass=*)").await;
    assert!(!entry.contains("Spring-2026a"), "{entry}");
    op.stop().await;
}

#[tokio::test]
async fn clients_from_the_cli_and_passwords_through_the_notifier() {
    let dir = TempDir::new().unwrap();
    let sink = dir.path().join("delivered.txt");
    let script = dir.path().join("notify.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{{ echo \"$ORGID_LOGIN $ORGID_MAIL\"; cat; }} > {}\n", sink.display()))
        .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let op = Op::start(Backend::Sqlite, &format!("[notifier]\ncommand = [\"{}\"]", script.display())).await;

    // A client registered with the CLI: its secret is shown once and works at once.
    let (c, out) = orgid(&op.cfg, &["clients", "add", "hr-app", "--name", "人事系统", "--redirect-uri", CB]).await;
    assert_eq!(c, 0, "{out}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("client secret (shown once; orgid keeps only its hash): "))
        .unwrap()
        .to_string();
    let (c, out) = orgid(&op.cfg, &["clients", "list", "--format", "json"]).await;
    assert_eq!(c, 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"hr-app") && ids.contains(&"portal"), "{ids:?}");
    assert!(!out.contains(&secret), "the secret is never listed");
    // Bad input is refused with the reason; a configured client cannot be removed from the CLI.
    let err = orgid_err(&op.cfg, &["clients", "add", "x", "--redirect-uri", "http://evil.example.com/cb"]).await;
    assert!(err.contains("https://"), "{err}");
    let err = orgid_err(&op.cfg, &["clients", "remove", "portal"]).await;
    assert!(err.contains("configuration file"), "{err}");

    // The reset goes through the notifier, never to the operator's screen.
    let (c, out) = orgid(&op.cfg, &["accounts", "reset-password", "zhangwei"]).await;
    assert_eq!(c, 0, "{out}");
    let delivered = std::fs::read_to_string(&sink).unwrap();
    let mut lines = delivered.lines();
    assert_eq!(lines.next(), Some("zhangwei g1@example.com"));
    let initial = lines.next().unwrap().to_string();
    assert!(!out.contains(&initial), "{out}");

    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let params = first_login(&mut b, "hr-app", &initial, "Spring-2026a", &challenge).await;
    let first_session = b.cookie("orgid_session").unwrap();
    let (s, tok) = op
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            Some(("hr-app", &secret)),
        )
        .await;
    assert_eq!(s, 200, "{tok}");
    // A new login gets a new session id (no fixation).
    let page = b.authorize(&code_params("hr-app", CB, &challenge, &[("prompt", "login")])).await;
    assert_eq!(b.login(&page, "zhangwei", "Spring-2026a").await.status, 303);
    assert_ne!(b.cookie("orgid_session"), Some(first_session));

    // Removed: its grants are revoked and it is unknown from then on.
    let (c, out) = orgid(&op.cfg, &["clients", "remove", "hr-app"]).await;
    assert_eq!(c, 0, "{out}");
    assert_eq!(op.introspect(tok["refresh_token"].as_str().unwrap()).await["active"], false);
    let page = b.authorize(&code_params("hr-app", CB, &challenge, &[])).await;
    assert_eq!((page.status, page.location), (400, None));
    op.stop().await;
}

#[tokio::test]
async fn sub_survives_a_cross_company_move_and_group_rules_require_the_second_factor() {
    let op = Op::start(Backend::Sqlite, "[totp]\nrequired_groups = [\"C020\"]").await;
    let initial = op.reset("wangfang").await;
    let mut b = op.browser();
    let (verifier, challenge) = pkce();
    let page = b.authorize(&code_params("ed", CB, &challenge, &[])).await;
    let page = b.login(&page, "wangfang", &initial).await;
    let code = b.change(&page, "Spring-2026a").await.redirect_params()["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", verifier.as_str()),
    ];
    let (s, tok) = op.token(&form, Some(("ed", "ed-secret-0123456789abcd"))).await;
    assert_eq!(s, 200, "{tok}");
    // An EdDSA ID token, verified by the client library.
    let (_, jwks) = op.metadata().await;
    let t: OrgIdToken = tok["id_token"].as_str().unwrap().parse().unwrap();
    let v = op.verifier("ed", "ed-secret-0123456789abcd", jwks).set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    let claims = t.claims(&v, &Nonce::new("n-1".into())).unwrap();
    let sub = claims.subject().as_str().to_string();
    assert_eq!(claims.additional_claims().org.as_ref().unwrap()["company"]["code"], "C010");

    // 王芳 moves to C020 under a new employee number: the same person, account and sub.
    let hr = Hr { dir: op.cfg.parent().unwrap().to_path_buf() };
    hr.write(
        &[
            Row::new(1, "G000", "G1", "张伟", ""),
            Row::new(2, "C020", "B7", "王芳", "M12"),
            Row::new(3, "C010", "A2", "李娜", "M12"),
        ],
        false,
    );
    let (c, out) = orgid(&op.cfg, &["sync"]).await;
    assert_eq!(c, 0, "{out}");
    // C020's members need the second factor now (totp.required_groups), even inside the session.
    let page = b.authorize(&code_params("portal", CB, &challenge, &[])).await;
    assert!(page.body.contains("otpauth://"), "{}", page.body);
    let start = page.body.find("<code>").unwrap() + 6;
    let secret = page.body[start..start + page.body[start..].find('<').unwrap()].to_string();
    let otp = format!("{:06}", orgid_idp::totp::code_at(&secret, op.clock.now_utc().timestamp() / 30).unwrap());
    let done = b
        .post("/login/otp", &[("csrf", &page.field("csrf")), ("pending", &page.field("pending")), ("code", &otp)])
        .await;
    let code = done.redirect_params()["code"].clone();
    let (s, tok) = exchange(&op, &code, Some(&verifier)).await;
    assert_eq!(s, 200, "{tok}");
    let info: serde_json::Value = op
        .http
        .get(format!("{}/userinfo", op.base))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], sub.as_str(), "sub survives the move");
    assert_eq!(info["preferred_username"], "wangfang");
    assert_eq!(info["org"]["company"]["code"], "C020");
    assert_eq!(info["org"]["employee_number"], "B7");
    op.stop().await;
}
