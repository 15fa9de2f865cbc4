//! Bearer access tokens presented to orgid's own APIs (RFC 6750): the admin API checks each call
//! with [`Provider::authenticate`].

use orgid_directory::CompanyCode;

use crate::{IdpError, Provider};

/// The account behind a live access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub login: String,
    /// The token's `sub` (opaque, per person).
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    pub scope: String,
    /// The account's display name and company, from the store (as of this call).
    pub name: String,
    pub company: CompanyCode,
}

/// Why a bearer token was refused. Callers answer 401 `invalid_token` either way and say no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerRefused {
    /// Malformed, badly signed, expired, revoked, its grant revoked, or its account no longer active.
    #[error("the token is not a live access token of this provider")]
    Invalid,
    /// A client-credentials token: it names a client, not an account, and the APIs act for people.
    #[error("the token was issued to a client for itself, not to an account")]
    NoAccount,
}

impl Provider {
    /// Checks an access token presented as a bearer credential: signature and key (via
    /// [`super::jwt::verify`]), issuer, expiry, its record (not revoked, grant not revoked) and
    /// its account (still active). Client-credentials tokens are refused.
    pub async fn authenticate(&self, token: &str) -> Result<Result<Authenticated, BearerRefused>, IdpError> {
        match self.live_access(token).await? {
            None => Ok(Err(BearerRefused::Invalid)),
            Some((_, None)) => Ok(Err(BearerRefused::NoAccount)),
            Some((claims, Some(subject))) => Ok(Ok(Authenticated {
                login: subject.login,
                sub: claims.sub,
                client_id: claims.client_id,
                scope: claims.scope,
                name: subject.name,
                company: subject.company,
            })),
        }
    }

    /// The provider session (its id's hash) a live access token of an account was issued
    /// through, if any: a client of orgid's own (the console) binds its session to it.
    pub async fn access_session(&self, token: &str) -> Result<Option<String>, IdpError> {
        let Some((claims, Some(_))) = self.live_access(token).await? else { return Ok(None) };
        let Some(t) = self.inner.store.token(&claims.jti).await? else { return Ok(None) };
        Ok(self.inner.store.grant(&t.grant_id).await?.and_then(|g| g.session_hash))
    }
}
