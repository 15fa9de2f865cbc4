//! Access tokens are JWTs (RFC 9068, `typ: at+jwt`) signed with the provider's keys, and also
//! recorded by `jti` so that revocation and account closure take effect at once.
//!
//! Verification trusts nothing in the header but the `kid`: the algorithm must be the one that
//! key signs with (so `alg: none` and HS256-keyed-with-the-public-key tokens are refused).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{KeyRing, SigningKey};
use crate::IdpError;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    /// The account's `sub`, or the client id for client credentials.
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The delegate acting for `sub`, or the party a token was exchanged for (RFC 8693 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<super::claims::Act>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
}

/// Signs `claims` with `key`.
pub fn sign(claims: &AccessClaims, key: &SigningKey) -> Result<String, IdpError> {
    sign_typed(claims, key, "at+jwt")
}

/// Signs any claims with `key`, the header's `typ` being `typ` (`logout+jwt` for logout tokens).
pub(crate) fn sign_typed<T: Serialize>(claims: &T, key: &SigningKey, typ: &str) -> Result<String, IdpError> {
    let header = Header { alg: key.alg().as_str().into(), kid: Some(key.kid().into()), typ: Some(typ.into()) };
    let enc = |v: &dyn erased::Json| v.json().map(|j| B64.encode(j));
    let input = format!("{}.{}", enc(&header)?, enc(&claims)?);
    let sig = key.sign_bytes(input.as_bytes())?;
    Ok(format!("{input}.{}", B64.encode(sig)))
}

mod erased {
    pub trait Json {
        fn json(&self) -> Result<Vec<u8>, crate::IdpError>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Result<Vec<u8>, crate::IdpError> {
            serde_json::to_vec(self).map_err(|e| crate::IdpError::Internal(format!("JSON: {e}")))
        }
    }
}

/// Why a token was refused (never shown to the caller beyond "invalid").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a compact JWS")]
    Malformed,
    #[error("unknown key")]
    UnknownKey,
    #[error("algorithm {0} is not the key's")]
    WrongAlg(String),
    #[error("bad signature")]
    Signature,
    #[error("wrong issuer or type")]
    Claims,
    #[error("expired")]
    Expired,
}

/// Verifies an access token this provider issued: structure, key, algorithm, signature, issuer,
/// expiry. Revocation is the caller's (it needs the store).
pub async fn verify(
    token: &str,
    keys: &KeyRing,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<Result<AccessClaims, Refused>, IdpError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Ok(Err(Refused::Malformed));
    };
    let Some(header) = B64.decode(h).ok().and_then(|b| serde_json::from_slice::<Header>(&b).ok()) else {
        return Ok(Err(Refused::Malformed));
    };
    let Some(kid) = header.kid else { return Ok(Err(Refused::UnknownKey)) };
    let Some(key) = keys.by_kid(&kid, now).await? else { return Ok(Err(Refused::UnknownKey)) };
    if header.alg != key.alg().as_str() {
        return Ok(Err(Refused::WrongAlg(header.alg)));
    }
    let Ok(sig) = B64.decode(s) else { return Ok(Err(Refused::Malformed)) };
    let signing_input = &token[..h.len() + 1 + p.len()];
    if super::keys::verify(&key, signing_input.as_bytes(), &sig).is_err() {
        return Ok(Err(Refused::Signature));
    }
    let Some(claims) = B64.decode(p).ok().and_then(|b| serde_json::from_slice::<AccessClaims>(&b).ok()) else {
        return Ok(Err(Refused::Malformed));
    };
    if claims.iss != issuer || header.typ.as_deref() != Some("at+jwt") {
        return Ok(Err(Refused::Claims));
    }
    if claims.exp <= now.timestamp() {
        return Ok(Err(Refused::Expired));
    }
    Ok(Ok(claims))
}
