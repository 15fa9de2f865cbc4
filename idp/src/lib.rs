//! orgid's identity provider: one shared core with a face per protocol.
//!
//! The core (the modules at this level and `login/`) owns the SSO session, the login flow and its
//! pages (password, second factor, password change, expiry warning), the password policy, TOTP,
//! the client registry and the audit records. The faces build on it and the core never imports
//! them: `oidc/` is OpenID Connect (discovery, JWKS, authorize with PKCE, token, userinfo,
//! revocation, introspection, RP-initiated and back-channel logout); `cas/` is CAS 3.0; `saml/` is
//! the SAML 2.0 identity provider (metadata, Web Browser SSO, SP-initiated logout). This root
//! wires them: the `Provider`, its router, which face a login resumes, and which face writes a
//! single-logout message (`slo.rs` delivers them).
//!
//! The provider holds no state of its own between requests: sessions, codes, grants, tokens,
//! keys, spent forms and failed-login budgets live in the store (`IdpStore`), and the login
//! flow's state travels in signed form fields, so replicas behind a load balancer serve any
//! request. What each replica has of its own is its password-hashing pool (`hashing.rs`), which
//! bounds the memory and cores that password checks take.

mod account;
mod audit;
mod cas;
mod catalogue;
mod clients;
mod crypto;
mod delegation;
mod forms;
mod hashing;
pub mod i18n;
mod login;
mod oidc;
pub mod password;
mod respond;
pub mod saml;
mod session;
mod slo;
pub mod totp;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use orgid_config::{
    CasConfig, ClientConfig, LoginConfig, OidcConfig, PasswordConfig, SessionConfig, SigningAlg, TotpConfig,
};
use orgid_directory::idp::IdpStore;
use orgid_directory::{Clock, StoreError};

pub use audit::Peer;
pub use clients::{Client, ClientSecret, hash_client_secret};
pub use delegation::GrantRefusal;
pub use login::{WecomSettings, WecomSignIn};
pub use oidc::keys::KeyRing;
pub use oidc::{Authenticated, BACKCHANNEL_EVENT, BearerRefused, jwt, keys};
pub use session::cookie;

/// A failure inside the provider. Handlers map it to the protocol's error (`server_error`,
/// `temporarily_unavailable`) or an error page; details go to the log, never to the client.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// Where a changed password goes besides the store (the LDAP sink's Password Modify).
#[async_trait::async_trait]
pub trait PasswordSink: Send + Sync {
    /// Sets the account's directory password. The error text is logged, so it must not contain
    /// the password.
    async fn set_password(&self, login: &str, password: &str) -> Result<(), String>;
}

/// Whoever counts what the provider does (the daemon's metrics): told of each login once its
/// record is written, and of each token response sent. The provider works the same without one.
pub trait Observer: Send + Sync {
    /// A login ended: `None` signed in, else why it was refused (the reason its audit record has).
    fn login(&self, failure: Option<orgid_directory::audit::LoginFailure>);
    /// A token response was sent to `client_id` for `grant` (`authorization_code`, …).
    fn token(&self, client_id: &str, grant: &str);
}

/// The provider's settings, from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub oidc: OidcConfig,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    pub login: LoginConfig,
    pub totp: TotpConfig,
    pub clients: Vec<ClientConfig>,
    /// How access tokens are signed for a client that does not say.
    pub access_token_alg: SigningAlg,
    pub cas: CasConfig,
    pub saml: orgid_config::SamlConfig,
    /// The SAML service providers of `saml.service_providers`, their metadata read (by the
    /// caller: the provider does no file I/O).
    pub saml_sps: Vec<saml::ServiceProvider>,
    /// Sign in with WeCom, when `[wecom] sign_in = true`.
    pub wecom: Option<WecomSettings>,
}

impl Settings {
    pub fn from_config(cfg: &orgid_config::Config) -> Self {
        Self {
            oidc: cfg.oidc.clone(),
            session: cfg.session.clone(),
            password: cfg.password.clone(),
            login: cfg.login.clone(),
            totp: cfg.totp.clone(),
            clients: cfg.clients.clone(),
            access_token_alg: cfg.oidc.access_token_alg.unwrap_or(SigningAlg::ES256),
            cas: cfg.cas.clone(),
            saml: cfg.saml.clone(),
            saml_sps: Vec::new(),
            wecom: cfg.wecom.as_ref().and_then(WecomSettings::from_config),
        }
    }

    /// The longest a token signed now stays valid.
    fn longest_token(&self) -> Duration {
        Duration::seconds(self.oidc.access_token_ttl_secs.max(self.oidc.id_token_ttl_secs) as i64)
    }

    /// Cookies are `Secure` (and `__Host-` prefixed) unless the issuer is plain http on loopback.
    fn secure_cookies(&self) -> bool {
        self.oidc.issuer.starts_with("https://")
    }
}

/// The provider: cheap to clone, shared by every handler.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    /// The configuration's clients, ready to use (the store's are read on each use); replaced
    /// whole by `set_clients` (SIGHUP).
    configured: std::sync::RwLock<Arc<Vec<Client>>>,
    /// The password policy in force: `settings.password` at the start, replaced whole by
    /// `set_password_policy` (SIGHUP).
    password: std::sync::RwLock<Arc<PasswordConfig>>,
    store: Arc<dyn IdpStore>,
    keys: KeyRing,
    clock: Arc<dyn Clock>,
    /// HMAC key of the signed form fields, CSRF tokens and `sub` values (from the store, shared
    /// by replicas).
    secret: ring::hmac::Key,
    passwords: Option<Arc<dyn PasswordSink>>,
    /// Every password hash and check goes through it.
    hashes: hashing::HashPool,
    /// Set once by `observe`.
    observer: std::sync::OnceLock<Arc<dyn Observer>>,
    /// Single-logout deliveries (no redirects followed, a short timeout).
    http: reqwest::Client,
    /// The SAML signing key, loaded (or made) on first use.
    saml_key: tokio::sync::OnceCell<Arc<saml::sign::SamlKey>>,
    /// What turns WeCom's sign-in codes into userids; set once by `sign_in_with_wecom`.
    wecom: std::sync::OnceLock<Arc<dyn WecomSignIn>>,
}

impl Provider {
    /// `secret` must be at least 32 random bytes kept for the life of the store: it derives every
    /// `sub` and signs the login forms.
    pub fn new(
        settings: Settings,
        store: Arc<dyn IdpStore>,
        clock: Arc<dyn Clock>,
        secret: &[u8],
        passwords: Option<Arc<dyn PasswordSink>>,
    ) -> Self {
        let keys = KeyRing::new(store.clone(), settings.oidc.key_rotation_days, settings.longest_token());
        let hashes = hashing::HashPool::new(settings.login.workers(), settings.login.hash_queue as usize);
        Self {
            inner: Arc::new(Inner {
                hashes,
                configured: std::sync::RwLock::new(Arc::new(clients::configured(
                    &settings.clients,
                    &settings.saml_sps,
                ))),
                password: std::sync::RwLock::new(Arc::new(settings.password.clone())),
                settings,
                store,
                keys,
                clock,
                secret: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
                passwords,
                observer: std::sync::OnceLock::new(),
                http: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(5))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default(),
                saml_key: tokio::sync::OnceCell::new(),
                wecom: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The password policy in force (see `set_password_policy`).
    pub fn password_policy(&self) -> Arc<PasswordConfig> {
        self.inner.password.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Puts `policy` (a reloaded configuration's, validated) in force for every check, change,
    /// reset and lockout from now on, whole: a request sees the old policy or the new one.
    pub fn set_password_policy(&self, policy: &PasswordConfig) {
        *self.inner.password.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(policy.clone());
    }

    /// Reports logins and token responses to `observer` from now on (once; a second is ignored).
    pub fn observe(&self, observer: Arc<dyn Observer>) {
        let _ = self.inner.observer.set(observer);
    }

    /// Offers sign-in with WeCom (with `Settings::wecom`), `wecom` vouching for its codes (once;
    /// a second is ignored).
    pub fn sign_in_with_wecom(&self, wecom: Arc<dyn WecomSignIn>) {
        let _ = self.inner.wecom.set(wecom);
    }

    fn observed(&self) -> Option<&dyn Observer> {
        self.inner.observer.get().map(|o| o.as_ref())
    }

    fn seen_login(&self, failure: Option<orgid_directory::audit::LoginFailure>) {
        if let Some(o) = self.observed() {
            o.login(failure);
        }
    }

    /// Makes sure every algorithm a client uses has a current signing key (generating keys on
    /// first start and after rotation). Returns how many keys were made.
    pub async fn ensure_keys(&self) -> Result<u32, IdpError> {
        let mut algs = vec![SigningAlg::RS256];
        for c in self.clients().await? {
            for alg in [c.id_token_alg, self.access_token_alg(&c)] {
                if !algs.contains(&alg) {
                    algs.push(alg);
                }
            }
        }
        self.inner.keys.ensure(&algs, self.now()).await
    }

    /// Housekeeping for `serve`'s schedule: rotate keys that are due, delete what expired.
    pub async fn upkeep(&self) -> Result<(), IdpError> {
        self.ensure_keys().await?;
        let gone = self.inner.store.purge_expired(self.now()).await?;
        tracing::debug!(rows = gone, "expired codes, tokens, sessions and keys deleted");
        Ok(())
    }

    /// The routes of the provider, to be merged into `serve`'s router.
    pub fn router(&self) -> Router {
        login::routes()
            .merge(oidc::routes())
            .merge(cas::routes())
            .merge(saml::routes())
            .merge(delegation::routes())
            .layer(axum::middleware::from_fn(security_headers))
            .with_state(self.clone())
    }

    /// The face a login resumes into once it has a session.
    fn face(&self, protocol: login::Protocol) -> &'static dyn login::Face {
        match protocol {
            login::Protocol::Oidc => &oidc::Oidc,
            login::Protocol::Cas => &cas::Cas,
            login::Protocol::Saml => &saml::Saml,
        }
    }

    /// The single-logout message of a notice, written by its protocol's face; `None` when
    /// there is nothing to send (the client is gone, or has no logout address).
    async fn logout_message(
        &self,
        n: &orgid_directory::idp::LogoutNotice,
    ) -> Result<Option<slo::LogoutMessage>, IdpError> {
        match orgid_config::ClientProtocol::parse(&n.protocol) {
            Some(orgid_config::ClientProtocol::Cas) => Ok(cas::logout_request(n, self.now())),
            Some(orgid_config::ClientProtocol::Oidc) => self.logout_token(n).await,
            // A SAML SP is told through the browser only (`saml/idp_logout.rs`).
            Some(orgid_config::ClientProtocol::Saml) | None => Ok(None),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.settings.oidc.issuer
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Whether cookies must be `Secure` (and `__Host-` prefixed): unless the issuer is plain
    /// http (allowed on loopback only).
    pub fn secure_cookies(&self) -> bool {
        self.inner.settings.secure_cookies()
    }

    /// The session limits (idle and absolute), for other browser sessions than the provider's
    /// own (the console's).
    pub fn session_settings(&self) -> &SessionConfig {
        &self.inner.settings.session
    }
}

/// Headers every provider response carries; pages and token responses are never cached.
/// (A middleware, also used for orgid's other pages.)
pub async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A page that runs a script of its own (the SAML POST binding's) sets a CSP allowing it.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
    }
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// A store or internal failure seen by a browser: a plain error page, 503.
fn unavailable(e: &IdpError, lang: i18n::Lang) -> Response {
    tracing::error!(error = %e, "identity provider failure");
    (StatusCode::SERVICE_UNAVAILABLE, login::pages::error(lang, i18n::Msg::Unavailable.text(lang), None))
        .into_response()
}

/// The one stylesheet of orgid's pages: the provider's and the console's (`templates/orgid.css`).
pub const STYLESHEET: &str = include_str!("../templates/orgid.css");
