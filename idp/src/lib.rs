//! orgid's OpenID Connect provider: discovery, JWKS, authorize (code flow with PKCE), token
//! (authorization code, refresh with rotation and reuse detection, client credentials),
//! userinfo, revocation (RFC 7009), introspection (RFC 7662), RP-initiated logout, and the login,
//! second-factor and password-change pages, under the group's password policy.
//!
//! The provider holds no state of its own between requests: sessions, codes, grants, tokens and
//! keys live in the store (`IdpStore`), and the login flow's state travels in signed form fields,
//! so replicas behind a load balancer serve any request.

mod audit;
mod authorize;
mod bearer;
mod claims;
mod clients;
mod flow;
pub mod i18n;
pub mod jwt;
pub mod keys;
mod logout;
mod meta;
mod pages;
pub mod password;
mod token;
pub mod totp;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use orgid_config::{ClientConfig, OidcConfig, PasswordConfig, SessionConfig, SigningAlg, TotpConfig};
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::idp::IdpStore;
use orgid_directory::{Clock, StoreError};

pub use bearer::{Authenticated, BearerRefused};
pub use clients::{Client, ClientSecret, hash_client_secret};
pub use flow::{Peer, cookie};
pub use keys::KeyRing;

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

/// The provider's settings, from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub oidc: OidcConfig,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    pub totp: TotpConfig,
    pub clients: Vec<ClientConfig>,
}

impl Settings {
    pub fn from_config(cfg: &orgid_config::Config) -> Self {
        Self {
            oidc: cfg.oidc.clone(),
            session: cfg.session.clone(),
            password: cfg.password.clone(),
            totp: cfg.totp.clone(),
            clients: cfg.clients.clone(),
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
    store: Arc<dyn IdpStore>,
    keys: KeyRing,
    clock: Arc<dyn Clock>,
    /// HMAC key of the signed form fields, CSRF tokens and `sub` values (from the store, shared
    /// by replicas).
    secret: ring::hmac::Key,
    passwords: Option<Arc<dyn PasswordSink>>,
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
        Self {
            inner: Arc::new(Inner {
                settings,
                store,
                keys,
                clock,
                secret: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
                passwords,
            }),
        }
    }

    /// Makes sure every algorithm a client uses has a current signing key (generating keys on
    /// first start and after rotation). Returns how many keys were made.
    pub async fn ensure_keys(&self) -> Result<u32, IdpError> {
        let mut algs = vec![SigningAlg::RS256];
        for c in self.clients().await? {
            if !algs.contains(&c.id_token_alg) {
                algs.push(c.id_token_alg);
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
        meta::routes()
            .merge(authorize::routes())
            .merge(token::routes())
            .merge(logout::routes())
            .layer(axum::middleware::from_fn(security_headers))
            .with_state(self.clone())
    }

    pub fn issuer(&self) -> &str {
        &self.inner.settings.oidc.issuer
    }

    /// The `sub` of an account: an HMAC of its person key, so it is opaque, the same for every
    /// client, and survives a cross-company move (the person, not the employee number, is kept).
    pub fn subject_id(&self, person_key: &orgid_directory::PersonKey) -> String {
        use base64::Engine;
        let tag = ring::hmac::sign(&self.inner.secret, format!("sub\0{}", person_key.0).as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag.as_ref()[..18])
    }

    /// A one-time initial password for `login` (stored hashed, to be changed at first login);
    /// the caller hands it to the user. Ends the login's sessions and grants. Recorded as a
    /// password reset by `actor` (and a logout, if sessions or grants ended).
    pub async fn reset_password(&self, login: &str, actor: &Actor) -> Result<String, IdpError> {
        let s = &self.inner.settings.password;
        let pw = password::initial(s)?;
        let hash = password::hash(pw.clone()).await?;
        let now = self.now();
        let company = self.inner.store.subject(login).await?.map(|sub| sub.company);
        let event = |kind, reason: &str| {
            AuditEvent::new(now, kind, AuditOutcome::Success, actor.clone())
                .subject(login, company.as_ref())
                .reason(reason)
        };
        if let Some(sink) = &self.inner.passwords
            && let Err(e) = sink.set_password(login, &pw).await
        {
            return Err(IdpError::Internal(format!("the directory refused the new password: {e}")));
        }
        let reset = event(EventKind::PasswordReset, "one-time initial password set");
        self.inner.store.set_password(login, &hash, s.change_initial, now, s.history, &[reset]).await?;
        let ended = event(EventKind::Logout, "password reset: every session and grant ended");
        self.inner.store.end_sessions_of(login, now, &[ended]).await?;
        Ok(pw)
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
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
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
    (StatusCode::SERVICE_UNAVAILABLE, pages::error(lang, i18n::Msg::Unavailable.text(lang), None)).into_response()
}
