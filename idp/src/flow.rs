//! The login flow's plumbing: who is asking (peer), signed form fields that carry the flow's
//! state between pages, CSRF tokens, and the SSO session cookie.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use orgid_directory::idp::SessionRecord;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{IdpError, Provider};

/// The client side of a request, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Peer {
    /// The connecting address (from `ConnectInfo`, when the server provides it) and user agent.
    /// `X-Forwarded-For` is not trusted: a proxy in front must be configured to be the peer.
    pub fn from_parts(headers: &HeaderMap, addr: Option<std::net::SocketAddr>) -> Self {
        let ua = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().filter(|c| !c.is_control()).take(256).collect());
        Peer { ip: addr.map(|a| a.ip().to_string()), user_agent: ua }
    }
}

const SESSION_COOKIE_SECURE: &str = "__Host-orgid_session";
const SESSION_COOKIE_PLAIN: &str = "orgid_session";
const CSRF_COOKIE_SECURE: &str = "__Host-orgid_csrf";
const CSRF_COOKIE_PLAIN: &str = "orgid_csrf";

/// The value of the cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Equality without an early exit (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()))
}

impl Provider {
    fn cookie_names(&self) -> (&'static str, &'static str) {
        if self.inner.settings.secure_cookies() {
            (SESSION_COOKIE_SECURE, CSRF_COOKIE_SECURE)
        } else {
            (SESSION_COOKIE_PLAIN, CSRF_COOKIE_PLAIN)
        }
    }

    fn cookie_attrs(&self) -> &'static str {
        if self.inner.settings.secure_cookies() {
            "; Path=/; HttpOnly; Secure; SameSite=Lax"
        } else {
            "; Path=/; HttpOnly; SameSite=Lax"
        }
    }

    /// `Set-Cookie` for a new session id.
    pub(crate) fn session_cookie(&self, id: &str) -> String {
        format!("{}={id}{}", self.cookie_names().0, self.cookie_attrs())
    }

    pub(crate) fn clear_session_cookie(&self) -> String {
        format!("{}={}; Max-Age=0", self.cookie_names().0, self.cookie_attrs())
    }

    /// The live session of this browser: not ended, within its absolute and idle limits, its
    /// account still active.
    pub(crate) async fn current_session(&self, headers: &HeaderMap) -> Result<Option<SessionRecord>, IdpError> {
        let Some(id) = cookie(headers, self.cookie_names().0) else { return Ok(None) };
        let Some(s) = self.inner.store.session(&sha256_hex(id)).await? else { return Ok(None) };
        if self.session_expired(&s, self.now()) {
            return Ok(None);
        }
        match self.inner.store.subject(&s.login).await? {
            Some(sub) if sub.status == orgid_directory::AccountStatus::Active && !sub.departed => Ok(Some(s)),
            _ => Ok(None),
        }
    }

    /// The raw session id of this browser, for logout.
    pub(crate) fn session_hash_of(&self, headers: &HeaderMap) -> Option<String> {
        cookie(headers, self.cookie_names().0).map(sha256_hex)
    }

    /// The CSRF token for this browser: the HMAC of its CSRF cookie, which is created when
    /// missing (returned as a `Set-Cookie` to send).
    pub fn csrf(&self, headers: &HeaderMap) -> Result<(String, Option<String>), IdpError> {
        let (_, name) = self.cookie_names();
        let (value, set) = match cookie(headers, name) {
            Some(v) if v.len() >= 22 => (v.to_string(), None),
            _ => {
                let v = crate::keys::random_token(18)?;
                let set = format!("{name}={v}{}", self.cookie_attrs().replace("Lax", "Strict"));
                (v, Some(set))
            }
        };
        let tag = ring::hmac::sign(&self.inner.secret, format!("csrf\0{value}").as_bytes());
        Ok((B64.encode(tag.as_ref()), set))
    }

    /// Whether the form's CSRF token matches this browser's cookie (constant time).
    pub fn csrf_ok(&self, headers: &HeaderMap, token: &str) -> bool {
        let Some(value) = cookie(headers, self.cookie_names().1) else { return false };
        let Ok(tag) = B64.decode(token) else { return false };
        ring::hmac::verify(&self.inner.secret, format!("csrf\0{value}").as_bytes(), &tag).is_ok()
    }

    /// Signs `value` for a hidden form field or a cookie, valid for `ttl` from now; `purpose`
    /// keeps a value sealed for one use from being accepted for another.
    pub fn seal<T: Serialize>(&self, purpose: &str, value: &T, ttl: chrono::Duration) -> Result<String, IdpError> {
        #[derive(Serialize)]
        struct Sealed<'a, T> {
            p: &'a str,
            exp: i64,
            v: &'a T,
        }
        let body = serde_json::to_vec(&Sealed { p: purpose, exp: (self.now() + ttl).timestamp(), v: value })
            .map_err(|e| IdpError::Internal(format!("seal: {e}")))?;
        let tag = ring::hmac::sign(&self.inner.secret, &body);
        Ok(format!("{}.{}", B64.encode(&body), B64.encode(tag.as_ref())))
    }

    /// The value of a sealed field, if it is authentic, for this purpose, and not expired.
    pub fn open<T: DeserializeOwned>(&self, purpose: &str, sealed: &str) -> Option<T> {
        #[derive(serde::Deserialize)]
        struct Sealed<T> {
            p: String,
            exp: i64,
            v: T,
        }
        let (body, tag) = sealed.split_once('.')?;
        let body = B64.decode(body).ok()?;
        ring::hmac::verify(&self.inner.secret, &body, &B64.decode(tag).ok()?).ok()?;
        let s: Sealed<T> = serde_json::from_slice(&body).ok()?;
        (s.p == purpose && s.exp > self.now().timestamp()).then_some(s.v)
    }

    pub(crate) fn session_expired(&self, s: &SessionRecord, now: DateTime<Utc>) -> bool {
        let idle = chrono::Duration::minutes(i64::from(self.inner.settings.session.idle_minutes));
        s.ended_at.is_some() || s.expires_at <= now || s.last_seen_at + idle <= now
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
        Ok(Peer::from_parts(&parts.headers, addr))
    }
}
