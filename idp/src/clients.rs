//! Relying parties, for every face: the registry (those of the configuration file and those added
//! with `orgid clients add`) and their secrets. How a client authenticates is its protocol's
//! business (OAuth's is in the OIDC face).

use std::sync::Arc;

use orgid_config::{ClientProtocol, GrantType, Secret, SigningAlg, WecomLogin};
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
    /// The scopes it may ask for; any other is `invalid_scope`.
    pub scopes: Vec<String>,
    pub id_token_alg: SigningAlg,
    /// How its access tokens are signed; `None`: the provider's default.
    pub access_token_alg: Option<SigningAlg>,
    pub require_totp: bool,
    /// From the configuration file (cannot be removed with the CLI).
    pub configured: bool,
    /// How it signs in (OIDC or CAS).
    pub protocol: ClientProtocol,
    /// CAS: the service URLs and anchored patterns it may ask tickets for.
    pub services: Vec<String>,
    /// OIDC: where its back-channel logout tokens go.
    pub backchannel_logout_uri: Option<String>,
    /// What a sign-in with WeCom counts for here (clients added with the CLI: `enough`).
    pub wecom_login: WecomLogin,
    /// OIDC: the audiences it may exchange a user's access token for (RFC 8693); configured
    /// clients only.
    pub token_exchange: Vec<String>,
    /// OIDC: its front-channel logout page (configured clients only).
    pub frontchannel_logout_uri: Option<String>,
}

impl Client {
    pub fn is_public(&self) -> bool {
        matches!(self.secret, ClientSecret::None)
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether `given` is this client's secret, in constant time.
    pub fn secret_matches(&self, given: &str) -> bool {
        let given_hash = hash_client_secret(given);
        let expected = match &self.secret {
            ClientSecret::None => return false,
            ClientSecret::Plain(s) => hash_client_secret(s.expose()),
            ClientSecret::Hashed(h) => h.clone(),
        };
        crate::crypto::ct_eq(given_hash.as_bytes(), expected.as_bytes())
    }

    fn from_stored(c: StoredClient) -> Self {
        Client {
            id: c.id,
            name: c.name,
            secret: c.secret_hash.map_or(ClientSecret::None, ClientSecret::Hashed),
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grants: c.grants.iter().filter_map(|g| GrantType::parse(g)).collect(),
            scopes: c.scopes,
            id_token_alg: SigningAlg::parse(&c.id_token_alg).unwrap_or_default(),
            access_token_alg: c.access_token_alg.as_deref().and_then(SigningAlg::parse),
            require_totp: c.require_totp,
            configured: false,
            protocol: ClientProtocol::parse(&c.protocol).unwrap_or_default(),
            services: c.services,
            backchannel_logout_uri: c.backchannel_logout_uri,
            wecom_login: WecomLogin::default(),
            token_exchange: Vec::new(),
            frontchannel_logout_uri: None,
        }
    }
}

/// SHA-256 (hex) of a client secret: secrets are long random strings, so a fast hash suffices.
pub fn hash_client_secret(secret: &str) -> String {
    crate::crypto::sha256_hex(secret)
}

/// The clients of the configuration file (and its SAML SPs), made when the provider starts and
/// at each reload.
pub(crate) fn configured(
    clients: &[orgid_config::ClientConfig],
    saml_sps: &[crate::saml::ServiceProvider],
) -> Vec<Client> {
    let mut out: Vec<Client> = clients
        .iter()
        .map(|c| Client {
            id: c.id.clone(),
            name: if c.name.is_empty() { c.id.clone() } else { c.name.clone() },
            secret: c.secret.clone().map_or(ClientSecret::None, ClientSecret::Plain),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grants: c.grants.clone(),
            scopes: c.scopes.clone(),
            id_token_alg: c.id_token_alg,
            access_token_alg: c.access_token_alg,
            require_totp: c.require_totp,
            configured: true,
            protocol: c.protocol,
            services: c.services.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            wecom_login: c.wecom_login,
            token_exchange: c.token_exchange.clone(),
            frontchannel_logout_uri: c.frontchannel_logout_uri.clone(),
        })
        .collect();
    out.extend(crate::saml::clients(saml_sps));
    out
}

impl Provider {
    /// The configuration's clients in force.
    fn configured_clients(&self) -> Arc<Vec<Client>> {
        self.inner.configured.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Puts `clients` (a reloaded configuration's, validated) in force in place of the
    /// configuration's clients, at once and whole: a request sees the old list or the new one.
    /// Tokens already issued stay as they are; a removed client's are dead at their next check
    /// (it is unknown), its grants' records stay until they expire.
    pub fn set_clients(&self, clients: &[orgid_config::ClientConfig]) {
        let new = Arc::new(configured(clients, &self.inner.settings.saml_sps));
        *self.inner.configured.write().unwrap_or_else(std::sync::PoisonError::into_inner) = new;
    }

    /// Every client: the configuration's first (they win on a clash), then the stored ones.
    pub async fn clients(&self) -> Result<Vec<Client>, IdpError> {
        let mut out = (*self.configured_clients()).clone();
        for c in self.inner.store.clients().await? {
            if !out.iter().any(|o| o.id == c.id) {
                out.push(Client::from_stored(c));
            }
        }
        Ok(out)
    }

    /// The client `id`: one of the configuration's without a look in the store (they win on a
    /// clash), else the store's as it is now (a client removed a moment ago is unknown at once).
    pub async fn client(&self, id: &str) -> Result<Option<Client>, IdpError> {
        if let Some(c) = self.configured_clients().iter().find(|c| c.id == id) {
            return Ok(Some(c.clone()));
        }
        Ok(self.inner.store.clients().await?.into_iter().find(|c| c.id == id).map(Client::from_stored))
    }

    /// How `client`'s access tokens are signed: its own algorithm, else the provider's default.
    pub fn access_token_alg(&self, client: &Client) -> SigningAlg {
        client.access_token_alg.unwrap_or(self.inner.settings.access_token_alg)
    }
}
