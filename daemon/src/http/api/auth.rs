//! Bearer authentication of the admin API (RFC 6750): `Authorization: Bearer <access token>`
//! issued by orgid's own provider to an account (not a client-credentials token), live (not
//! expired, revoked, or of a closed account).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use orgid_directory::workflow::Principal;
use orgid_idp::{Authenticated, BearerRefused};

use super::Api;
use super::error::ApiError;

/// The authenticated caller of an API operation, with their roles.
#[derive(Debug, Clone)]
pub struct Caller {
    pub auth: Authenticated,
    /// The account's unrevoked role grants, as of this call.
    pub who: Principal,
}

/// The token of an `Authorization: Bearer` header: `Ok(None)` without one (or with another
/// scheme), `Err` when it is malformed.
pub fn bearer_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(v) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(ApiError::malformed_credentials());
    }
    let v = v.to_str().map_err(|_| ApiError::malformed_credentials())?;
    let Some((scheme, token)) = v.split_once(' ') else {
        return if v.eq_ignore_ascii_case("bearer") { Err(ApiError::malformed_credentials()) } else { Ok(None) };
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim();
    // RFC 6750 §2.1 b64token.
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() || !token.chars().all(b64token) {
        return Err(ApiError::malformed_credentials());
    }
    Ok(Some(token))
}

impl FromRequestParts<Api> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer_token(parts)? else { return Err(ApiError::no_token()) };
        match api.provider.authenticate(token).await {
            Ok(Ok(auth)) => {
                let who = crate::services::workflow::principal(&api.app, &auth.login).await.map_err(ApiError::from)?;
                Ok(Caller { auth, who })
            }
            Ok(Err(BearerRefused::Invalid)) => Err(ApiError::invalid_token()),
            Ok(Err(BearerRefused::NoAccount)) => {
                tracing::info!("admin API: a client-credentials token was refused");
                Err(ApiError::invalid_token())
            }
            Err(e) => Err(ApiError::unavailable(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(values: &[&str]) -> Parts {
        let mut b = axum::http::Request::builder();
        for v in values {
            b = b.header(header::AUTHORIZATION, *v);
        }
        b.body(()).unwrap_or_default().into_parts().0
    }

    #[test]
    fn bearer_header_forms() {
        assert_eq!(bearer_token(&parts(&[])).ok().flatten(), None);
        assert_eq!(bearer_token(&parts(&["Bearer abc.def-_"])).ok().flatten(), Some("abc.def-_"));
        assert_eq!(bearer_token(&parts(&["bearer abc"])).ok().flatten(), Some("abc"));
        assert_eq!(bearer_token(&parts(&["Basic dXNlcjpwdw=="])).ok().flatten(), None);
        for bad in ["Bearer", "Bearer ", "Bearer a b", "Bearer a\"b"] {
            assert!(bearer_token(&parts(&[bad])).is_err(), "{bad}");
        }
        assert!(bearer_token(&parts(&["Bearer a", "Bearer b"])).is_err());
    }
}
