//! Relying parties: those of the configuration file and those added with `orgid clients add`,
//! and client authentication (client_secret_basic, client_secret_post, none for public clients).

use axum::http::{HeaderMap, header};
use base64::Engine;
use orgid_config::{GrantType, Secret, SigningAlg};
use orgid_directory::idp::StoredClient;

use crate::{IdpError, Provider};

#[derive(Debug, Clone)]
pub enum ClientSecret {
    /// A public client: no secret, PKCE required.
    None,
    /// From the configuration file.
    Plain(Secret),
    /// SHA-256 (hex) of the secret, from the store.
    Hashed(String),
}

#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub secret: ClientSecret,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grants: Vec<GrantType>,
    pub id_token_alg: SigningAlg,
    pub require_totp: bool,
    /// From the configuration file (cannot be removed with the CLI).
    pub configured: bool,
}

impl Client {
    pub fn is_public(&self) -> bool {
        matches!(self.secret, ClientSecret::None)
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }

    /// Whether `given` is this client's secret, in constant time.
    pub fn secret_matches(&self, given: &str) -> bool {
        let given_hash = hash_client_secret(given);
        let expected = match &self.secret {
            ClientSecret::None => return false,
            ClientSecret::Plain(s) => hash_client_secret(s.expose()),
            ClientSecret::Hashed(h) => h.clone(),
        };
        crate::flow::ct_eq(given_hash.as_bytes(), expected.as_bytes())
    }

    fn from_stored(c: StoredClient) -> Self {
        Client {
            id: c.id,
            name: c.name,
            secret: c.secret_hash.map_or(ClientSecret::None, ClientSecret::Hashed),
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grants: c.grants.iter().filter_map(|g| GrantType::parse(g)).collect(),
            id_token_alg: SigningAlg::parse(&c.id_token_alg).unwrap_or_default(),
            require_totp: c.require_totp,
            configured: false,
        }
    }
}

/// SHA-256 (hex) of a client secret: secrets are long random strings, so a fast hash suffices.
pub fn hash_client_secret(secret: &str) -> String {
    crate::flow::sha256_hex(secret)
}

/// How the client presented itself at the token, introspection or revocation endpoint.
#[derive(Debug)]
pub(crate) enum ClientAuthError {
    /// No or several methods, malformed header: `invalid_request`.
    Malformed(&'static str),
    /// Unknown client or wrong secret: `invalid_client` (401).
    Failed { basic: bool },
}

impl Provider {
    /// Every client: the configuration's first (they win on a clash), then the stored ones.
    pub async fn clients(&self) -> Result<Vec<Client>, IdpError> {
        let mut out: Vec<Client> = self
            .inner
            .settings
            .clients
            .iter()
            .map(|c| Client {
                id: c.id.clone(),
                name: if c.name.is_empty() { c.id.clone() } else { c.name.clone() },
                secret: c.secret.clone().map_or(ClientSecret::None, ClientSecret::Plain),
                redirect_uris: c.redirect_uris.clone(),
                post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
                grants: c.grants.clone(),
                id_token_alg: c.id_token_alg,
                require_totp: c.require_totp,
                configured: true,
            })
            .collect();
        for c in self.inner.store.clients().await? {
            if !out.iter().any(|o| o.id == c.id) {
                out.push(Client::from_stored(c));
            }
        }
        Ok(out)
    }

    pub async fn client(&self, id: &str) -> Result<Option<Client>, IdpError> {
        Ok(self.clients().await?.into_iter().find(|c| c.id == id))
    }

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
