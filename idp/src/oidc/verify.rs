//! Tokens presented back to the provider: ID tokens (as hints, at logout) checked against its
//! published keys, and access and refresh tokens checked against their records, their grant and
//! their account.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use orgid_directory::idp::{Subject, TokenKind, TokenRecord};

use super::jwt::{self, AccessClaims};
use crate::account::active;
use crate::crypto::sha256_hex;
use crate::{IdpError, Provider};

impl Provider {
    /// The `sub` of an ID token this provider signed for `client_id` (expired ones too: hints and
    /// logout accept them). `None` if it is not one.
    pub(crate) async fn id_token_subject(&self, token: &str, client_id: &str) -> Result<Option<String>, IdpError> {
        let Some(payload) = self.verified_payload(token).await? else { return Ok(None) };
        let aud_ok = match &payload["aud"] {
            serde_json::Value::String(a) => a == client_id || client_id.is_empty(),
            serde_json::Value::Array(a) => client_id.is_empty() || a.iter().any(|x| x == client_id),
            _ => false,
        };
        if payload["iss"] != self.issuer() || !aud_ok {
            return Ok(None);
        }
        Ok(payload["sub"].as_str().map(str::to_string))
    }

    /// The payload of a JWS signed by one of this provider's published keys, with the key's own
    /// algorithm (never the header's choice).
    pub(crate) async fn verified_payload(&self, token: &str) -> Result<Option<serde_json::Value>, IdpError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Ok(None);
        };
        let header: Option<serde_json::Value> = B64.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let Some(kid) = header.as_ref().and_then(|h| h["kid"].as_str()) else { return Ok(None) };
        let Some(key) = self.inner.keys.by_kid(kid, self.now()).await? else { return Ok(None) };
        if header.as_ref().and_then(|h| h["alg"].as_str()) != Some(key.alg().as_str()) {
            return Ok(None);
        }
        let Ok(sig) = B64.decode(s) else { return Ok(None) };
        if super::keys::verify(&key, &token.as_bytes()[..h.len() + 1 + p.len()], &sig).is_err() {
            return Ok(None);
        }
        Ok(B64.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// A live access token: signature, issuer, expiry, recorded and not revoked, its grant not
    /// revoked, its account still active.
    pub(crate) async fn live_access(&self, token: &str) -> Result<Option<(AccessClaims, Option<Subject>)>, IdpError> {
        let now = self.now();
        let Ok(claims) = jwt::verify(token, &self.inner.keys, self.issuer(), now).await? else { return Ok(None) };
        let Some(rec) = self.inner.store.token(&claims.jti).await? else {
            let live = is_self_contained(&claims) && self.self_contained_live(&claims).await?;
            return Ok(live.then_some((claims, None)));
        };
        if rec.kind != TokenKind::Access || rec.revoked_at.is_some() || rec.expires_at <= now {
            return Ok(None);
        }
        if self.inner.store.grant(&rec.grant_id).await?.is_none_or(|g| g.revoked_at.is_some()) {
            return Ok(None);
        }
        match &rec.login {
            None => Ok(Some((claims, None))),
            Some(login) => match self.inner.store.subject(login).await? {
                Some(s) if active(&s) => Ok(Some((claims, Some(s)))),
                _ => Ok(None),
            },
        }
    }

    /// A self-contained access token (client credentials, see `token.rs`) whose signature,
    /// issuer and expiry hold: live while its client exists and may still use the grant, and
    /// neither the token was revoked nor its client removed since it was issued.
    pub(super) async fn self_contained_live(&self, claims: &AccessClaims) -> Result<bool, IdpError> {
        let Some(client) = self.client(&claims.client_id).await? else { return Ok(false) };
        if client.is_public() || !client.allows(orgid_config::GrantType::ClientCredentials) {
            return Ok(false);
        }
        let standing = self.inner.store.access_standing(&claims.jti, &claims.client_id).await?;
        // A removal in the second a token was issued (`iat` has whole seconds) kills it too.
        let removed = standing.client_removed_at.is_some_and(|t| t.timestamp_millis() >= claims.iat * 1000);
        Ok(!standing.revoked && !removed)
    }

    /// A live refresh token record (by the token itself).
    pub(super) async fn live_refresh(&self, token: &str) -> Result<Option<TokenRecord>, IdpError> {
        let now = self.now();
        let Some(rec) = self.inner.store.token(&sha256_hex(token)).await? else { return Ok(None) };
        if rec.kind != TokenKind::Refresh || rec.revoked_at.is_some() || rec.used_at.is_some() || rec.expires_at <= now
        {
            return Ok(None);
        }
        if self.inner.store.grant(&rec.grant_id).await?.is_none_or(|g| g.revoked_at.is_some()) {
            return Ok(None);
        }
        if let Some(login) = &rec.login
            && !self.inner.store.subject(login).await?.is_some_and(|s| active(&s))
        {
            return Ok(None);
        }
        Ok(Some(rec))
    }
}

/// Whether an access token has the shape of a self-contained one: issued to a client for
/// itself (`sub` is the client, no sign-in time).
pub(super) fn is_self_contained(claims: &AccessClaims) -> bool {
    claims.sub == claims.client_id && claims.auth_time.is_none()
}
