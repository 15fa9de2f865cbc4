//! What a page's form carries safely: values sealed with the provider's key (the login flow's
//! state between pages, and the console's), and the CSRF token bound to this browser's cookie.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::session::cookie;
use crate::{IdpError, Provider};

impl Provider {
    /// The CSRF token for this browser: the HMAC of its CSRF cookie, which is created when
    /// missing (returned as a `Set-Cookie` to send).
    pub fn csrf(&self, headers: &HeaderMap) -> Result<(String, Option<String>), IdpError> {
        let (_, name) = self.cookie_names();
        let (value, set) = match cookie(headers, name) {
            Some(v) if v.len() >= 22 => (v.to_string(), None),
            _ => {
                let v = crate::crypto::random_token(18)?;
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
}
