//! SAML 2.0 identity provider (Web Browser SSO profile): IdP metadata, AuthnRequests by the
//! HTTP-Redirect and HTTP-POST bindings, Responses by HTTP-POST, on the shared login core; and
//! single logout by HTTP-Redirect: SP-initiated (`logout.rs`) and IdP-initiated, from orgid's
//! logout page (`idp_logout.rs`).
//!
//! XML signatures are written by orgid itself over the one canonical form it emits (`xml.rs`:
//! exclusive c14n by construction; `sign.rs`: RSA-SHA256 enveloped signatures); incoming XML is
//! only read (roxmltree, no DTDs), and an SP's signature on a request is checked on the
//! HTTP-Redirect binding, where no canonicalization is involved. Service providers are known by
//! their metadata only: a Response goes to an assertion consumer URL listed there, never to one a
//! request makes up.

mod idp_logout;
mod logout;
pub mod metadata;
mod request;
mod response;
pub(crate) mod sign;
mod sso;
mod xml;

use axum::Router;
use axum::routing::get;

pub use metadata::{MetadataError, ServiceProvider, parse_name_id, parse_sign};
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
        .route("/saml/slo", get(logout::slo_get))
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
            protocol: orgid_config::ClientProtocol::Saml,
            services: Vec::new(),
            backchannel_logout_uri: None,
            wecom_login: orgid_config::WecomLogin::default(),
            token_exchange: Vec::new(),
            frontchannel_logout_uri: None,
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

    /// Every SP: the configuration's, then those registered in the store (read on each use, so
    /// an SP added or removed with the CLI counts at once on every replica).
    async fn saml_sps(&self) -> Result<Vec<ServiceProvider>, IdpError> {
        let mut out = self.inner.settings.saml_sps.clone();
        let stored = self.inner.store.saml_sps().await?;
        if stored.is_empty() {
            return Ok(out);
        }
        let clients = self.inner.store.clients().await?;
        for s in stored {
            let Some(c) = clients.iter().find(|c| c.id == s.id) else { continue };
            if out.iter().any(|o| o.id == s.id) {
                continue;
            }
            match ServiceProvider::from_stored(&s, &c.name, c.require_totp) {
                Ok(sp) => out.push(sp),
                Err(e) => tracing::warn!(sp = %s.id, error = %e, "a stored SAML SP does not load"),
            }
        }
        Ok(out)
    }

    /// The SP with this entity ID.
    pub(crate) async fn saml_sp_by_entity(&self, entity_id: &str) -> Result<Option<ServiceProvider>, IdpError> {
        Ok(self.saml_sps().await?.into_iter().find(|sp| sp.entity_id == entity_id))
    }

    /// The SP with this client id.
    pub(crate) async fn saml_sp(&self, id: &str) -> Result<Option<ServiceProvider>, IdpError> {
        Ok(self.saml_sps().await?.into_iter().find(|sp| sp.id == id))
    }

    /// The IdP metadata document (for `orgid saml metadata` and `/saml/metadata`).
    pub async fn saml_metadata(&self) -> Result<String, IdpError> {
        let key = self.saml_key().await?;
        let slo = format!("{}/saml/slo", self.issuer());
        Ok(metadata::idp(&self.saml_entity_id(), &self.saml_sso_url(), &slo, &key.cert_b64()))
    }
}
