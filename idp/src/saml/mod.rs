//! SAML 2.0 identity provider (Web Browser SSO profile): IdP metadata, AuthnRequests by the
//! HTTP-Redirect and HTTP-POST bindings, Responses by HTTP-POST, on the shared login core.
//!
//! XML signatures are written by orgid itself over the one canonical form it emits (`xml.rs`:
//! exclusive c14n by construction; `sign.rs`: RSA-SHA256 enveloped signatures); incoming XML is
//! only read (roxmltree, no DTDs), and an SP's signature on a request is checked on the
//! HTTP-Redirect binding, where no canonicalization is involved. Service providers are known by
//! their metadata only: a Response goes to an assertion consumer URL listed there, never to one a
//! request makes up.

pub mod metadata;
mod request;
mod response;
pub(crate) mod sign;
mod sso;
mod xml;

use axum::Router;
use axum::routing::get;

pub use metadata::{MetadataError, ServiceProvider};
pub(crate) use sso::Saml;

use crate::clients::{Client, ClientSecret};
use crate::{IdpError, Provider};

pub(crate) const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub(crate) const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub(crate) const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub(crate) const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

pub(crate) fn routes() -> Router<Provider> {
    Router::new()
        .route("/saml/metadata", get(sso::metadata_get))
        .route("/saml/sso", get(sso::sso_get).post(sso::sso_post))
        .route("/saml/sso/resume", get(sso::resume_get))
}

/// The login flow knows an SP as a client: its id, name and second-factor rule. It has no
/// redirect URIs, grants or scopes, so the OIDC face refuses it.
pub(crate) fn clients(sps: &[ServiceProvider]) -> Vec<Client> {
    sps.iter()
        .map(|sp| Client {
            id: sp.id.clone(),
            name: sp.name.clone(),
            secret: ClientSecret::None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grants: Vec::new(),
            scopes: Vec::new(),
            id_token_alg: orgid_config::SigningAlg::RS256,
            access_token_alg: None,
            require_totp: sp.require_totp,
            configured: true,
        })
        .collect()
}

impl Provider {
    /// orgid's SAML entity ID: where its metadata is.
    pub fn saml_entity_id(&self) -> String {
        format!("{}/saml/metadata", self.issuer())
    }

    pub(crate) fn saml_sso_url(&self) -> String {
        format!("{}/saml/sso", self.issuer())
    }

    /// The SP with this entity ID.
    pub(crate) async fn saml_sp_by_entity(&self, entity_id: &str) -> Result<Option<ServiceProvider>, IdpError> {
        Ok(self.inner.settings.saml_sps.iter().find(|sp| sp.entity_id == entity_id).cloned())
    }

    /// The SP with this client id.
    pub(crate) async fn saml_sp(&self, id: &str) -> Result<Option<ServiceProvider>, IdpError> {
        Ok(self.inner.settings.saml_sps.iter().find(|sp| sp.id == id).cloned())
    }

    /// The IdP metadata document (for `orgid saml metadata` and `/saml/metadata`).
    pub async fn saml_metadata(&self) -> Result<String, IdpError> {
        let key = self.saml_key().await?;
        Ok(metadata::idp(&self.saml_entity_id(), &self.saml_sso_url(), &key.cert_b64()))
    }
}
