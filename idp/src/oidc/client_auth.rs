//! OAuth client authentication (RFC 6749 §2.3) at the token, introspection and revocation
//! endpoints: client_secret_basic, client_secret_post, or none for a public client.

use axum::http::{HeaderMap, header};
use base64::Engine;

use crate::clients::ClientSecret;
use crate::{Client, IdpError, Provider};

/// How the client presented itself at the token, introspection or revocation endpoint.
#[derive(Debug)]
pub(crate) enum ClientAuthError {
    /// No or several methods, malformed header: `invalid_request`.
    Malformed(&'static str),
    /// Unknown client or wrong secret: `invalid_client` (401).
    Failed { basic: bool },
}

impl Provider {
    /// Authenticates the calling client (RFC 6749 §2.3): HTTP Basic or form fields, exactly one
    /// method; a public client names itself with `client_id` only.
    pub(crate) async fn authenticate_client(
        &self,
        headers: &HeaderMap,
        form_id: Option<&str>,
        form_secret: Option<&str>,
    ) -> Result<Result<Client, ClientAuthError>, IdpError> {
        let basic = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            Some(v) if v.len() > 6 && v[..6].eq_ignore_ascii_case("basic ") => {
                let Some((id, secret)) = base64::engine::general_purpose::STANDARD
                    .decode(v[6..].trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| s.split_once(':').map(|(a, b)| (form_decode(a), form_decode(b))))
                else {
                    return Ok(Err(ClientAuthError::Malformed("malformed Basic credentials")));
                };
                Some((id, secret))
            }
            _ => None,
        };
        let (id, secret, is_basic) = match (basic, form_secret) {
            (Some(_), Some(_)) => {
                return Ok(Err(ClientAuthError::Malformed("more than one client authentication method")));
            }
            (Some((id, secret)), None) => {
                if form_id.is_some_and(|f| f != id) {
                    return Ok(Err(ClientAuthError::Malformed("client_id differs from the Basic credentials")));
                }
                (id, Some(secret), true)
            }
            (None, secret) => match form_id {
                Some(id) => (id.to_string(), secret.map(str::to_string), false),
                None => return Ok(Err(ClientAuthError::Failed { basic: false })),
            },
        };
        let Some(client) = self.client(&id).await? else {
            return Ok(Err(ClientAuthError::Failed { basic: is_basic }));
        };
        let ok = match (&client.secret, &secret) {
            (ClientSecret::None, None) => true,
            (ClientSecret::None, Some(_)) => false,
            (_, Some(s)) => client.secret_matches(s),
            (_, None) => false,
        };
        Ok(if ok { Ok(client) } else { Err(ClientAuthError::Failed { basic: is_basic }) })
    }
}

/// `application/x-www-form-urlencoded` decoding of a Basic credential part (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}
