//! The OpenID Connect face: discovery and JWKS, authorize (code flow with PKCE), token, userinfo,
//! revocation and introspection, RP-initiated and back-channel logout, and the keys, JWTs and claims behind them.
//! Built on the shared core (login flow, SSO session, clients, audit); the core never imports it.

mod authorize;
mod backchannel;
mod bearer;
mod claims;
mod client_auth;
mod discovery;
mod exchange;
pub mod jwt;
pub mod keys;
mod logout;
mod responses;
mod revocation;
mod token;
mod userinfo;
mod verify;

use axum::Router;

pub(crate) use authorize::Oidc;
pub use backchannel::BACKCHANNEL_EVENT;
pub use bearer::{Authenticated, BearerRefused};

use crate::Provider;

/// The face's routes.
pub(crate) fn routes() -> Router<Provider> {
    discovery::routes()
        .merge(authorize::routes())
        .merge(token::routes())
        .merge(userinfo::routes())
        .merge(revocation::routes())
        .merge(logout::routes())
}
