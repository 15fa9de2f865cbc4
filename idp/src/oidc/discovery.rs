//! Discovery (`/.well-known/openid-configuration`, OpenID Connect Discovery 1.0) and the JWKS
//! endpoint, with the openidconnect types.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use openidconnect::core::{
    CoreClaimName, CoreClientAuthMethod, CoreGrantType, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AuthUrl, EmptyAdditionalProviderMetadata, EndSessionUrl, IssuerUrl, JsonWebKeySetUrl, LanguageTag,
    LogoutProviderMetadata, ProviderMetadataWithLogout, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use orgid_config::SigningAlg;

use super::{claims, keys};
use crate::{IdpError, Provider};

pub(crate) fn routes() -> Router<Provider> {
    Router::new().route("/.well-known/openid-configuration", get(discovery)).route("/jwks", get(jwks))
}

fn cacheable(mut res: Response, secs: u32) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={secs}")) {
        res.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    res
}

impl Provider {
    /// The discovery document.
    pub fn metadata(&self) -> Result<serde_json::Value, IdpError> {
        let iss = self.issuer();
        let bad = |e: &dyn std::fmt::Display| IdpError::Internal(format!("issuer URL: {e}"));
        let meta = ProviderMetadataWithLogout::new(
            IssuerUrl::new(iss.into()).map_err(|e| bad(&e))?,
            AuthUrl::new(format!("{iss}/authorize")).map_err(|e| bad(&e))?,
            JsonWebKeySetUrl::new(format!("{iss}/jwks")).map_err(|e| bad(&e))?,
            vec![ResponseTypes::new(vec![CoreResponseType::Code])],
            vec![CoreSubjectIdentifierType::Public],
            [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA].into_iter().map(keys::jws_alg).collect(),
            LogoutProviderMetadata {
                end_session_endpoint: Some(EndSessionUrl::new(format!("{iss}/logout")).map_err(|e| bad(&e))?),
                additional_metadata: EmptyAdditionalProviderMetadata {},
            },
        )
        .set_token_endpoint(Some(TokenUrl::new(format!("{iss}/token")).map_err(|e| bad(&e))?))
        .set_userinfo_endpoint(Some(UserInfoUrl::new(format!("{iss}/userinfo")).map_err(|e| bad(&e))?))
        .set_scopes_supported(Some(claims::SCOPES.iter().map(|s| Scope::new((*s).into())).collect()))
        .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
        .set_grant_types_supported(Some(vec![
            CoreGrantType::AuthorizationCode,
            CoreGrantType::RefreshToken,
            CoreGrantType::ClientCredentials,
            CoreGrantType::Extension(super::exchange::GRANT.into()),
        ]))
        .set_token_endpoint_auth_methods_supported(Some(vec![
            CoreClientAuthMethod::ClientSecretBasic,
            CoreClientAuthMethod::ClientSecretPost,
            CoreClientAuthMethod::None,
        ]))
        .set_claims_supported(Some(
            [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "amr",
                "sid",
                "name",
                "preferred_username",
                "email",
                "email_verified",
                "phone_number",
                "phone_number_verified",
                "org",
            ]
            .into_iter()
            .map(|c| CoreClaimName::new(c.into()))
            .collect(),
        ))
        .set_ui_locales_supported(Some(vec![LanguageTag::new("zh-CN".into()), LanguageTag::new("en".into())]))
        .set_claims_parameter_supported(Some(false))
        .set_request_parameter_supported(Some(false))
        .set_request_uri_parameter_supported(Some(false));
        let mut v = serde_json::to_value(&meta).map_err(|e| IdpError::Internal(format!("metadata: {e}")))?;
        if let Some(o) = v.as_object_mut() {
            for (k, val) in [
                ("revocation_endpoint", serde_json::json!(format!("{iss}/revoke"))),
                ("introspection_endpoint", serde_json::json!(format!("{iss}/introspect"))),
                (
                    "revocation_endpoint_auth_methods_supported",
                    serde_json::json!(["client_secret_basic", "client_secret_post"]),
                ),
                (
                    "introspection_endpoint_auth_methods_supported",
                    serde_json::json!(["client_secret_basic", "client_secret_post"]),
                ),
                ("code_challenge_methods_supported", serde_json::json!(["S256"])),
                ("authorization_response_iss_parameter_supported", serde_json::json!(true)),
                ("prompt_values_supported", serde_json::json!(["none", "login"])),
                ("backchannel_logout_supported", serde_json::json!(true)),
                ("backchannel_logout_session_supported", serde_json::json!(true)),
                ("frontchannel_logout_supported", serde_json::json!(true)),
                ("frontchannel_logout_session_supported", serde_json::json!(true)),
            ] {
                o.insert(k.into(), val);
            }
        }
        Ok(v)
    }
}

async fn discovery(State(p): State<Provider>) -> Response {
    match p.metadata() {
        Ok(v) => cacheable(Json(v).into_response(), 3600),
        Err(e) => crate::unavailable(&e, crate::i18n::Lang::Zh),
    }
}

async fn jwks(State(p): State<Provider>) -> Response {
    match p.inner.keys.jwks(p.now()).await {
        // Short: a rotated key must reach clients quickly.
        Ok(set) => cacheable(Json(set).into_response(), 300),
        Err(e) => crate::unavailable(&e, crate::i18n::Lang::Zh),
    }
}
