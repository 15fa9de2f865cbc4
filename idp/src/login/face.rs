//! What the login flow needs from a protocol face: the request it resumes once someone is signed
//! in ([`Resume`], opaque to the core but for its client), and the [`Face`] that answers it.
//!
//! The faces are wired to their [`Protocol`] at the crate root (`Provider::face`).

use axum::response::Response;
use orgid_directory::idp::SessionRecord;
use serde::{Deserialize, Serialize};

use crate::audit::Peer;
use crate::i18n::Lang;
use crate::{Client, IdpError, Provider};

/// The protocol a login was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Protocol {
    /// OpenID Connect (also what a login sealed before faces were named resumes).
    #[default]
    Oidc,
    /// CAS 3.0.
    Cas,
    /// SAML 2.0 Web Browser SSO.
    Saml,
}

/// A face's request, carried (sealed) through the login pages: the core reads its protocol and
/// client; the rest is the face's own fields, kept as they were given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Resume {
    #[serde(default)]
    pub protocol: Protocol,
    pub client_id: String,
    #[serde(flatten)]
    pub request: serde_json::Map<String, serde_json::Value>,
}

/// For whom a face answers, and how the session was reached.
#[derive(Debug, Clone, Default)]
pub(crate) struct Acting {
    /// The delegate acting for the session's person (delegation by authorization): the session
    /// the face is given names the principal, and what it issues names this login as the actor.
    pub actor: Option<String>,
    /// The login just presented credentials (not an existing session): CAS's `renew`.
    pub fresh: bool,
}

/// A protocol face, as the login flow sees it.
#[async_trait::async_trait]
pub(crate) trait Face: Send + Sync {
    /// The address that asks for the same request again with the pages in `lang` (the login
    /// page's language link).
    fn relink(&self, p: &Provider, resume: &Resume, lang: Lang) -> Result<String, IdpError>;

    /// The answer to the client once the login has its `session` (new, or one that already
    /// covered the request): what the protocol issues, and where the browser goes with it.
    /// `acting`: who answers for whom (see [`Acting`]).
    async fn answer(
        &self,
        p: &Provider,
        resume: &Resume,
        session: &SessionRecord,
        client: &Client,
        peer: &Peer,
        acting: &Acting,
    ) -> Result<Response, IdpError>;
}
