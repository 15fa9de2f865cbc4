//! The console's own client at the provider (`orgid-console`): built in, confidential, its secret
//! derived from the provider's secret so that every replica knows it without storing it.

use base64::Engine;
use orgid_config::{ClientConfig, GrantType, Secret, SigningAlg};

/// The console's client id at the provider.
pub const CLIENT_ID: &str = "orgid-console";

/// The console client's secret: an HMAC of the provider's secret, so every replica knows it
/// without storing it, and it changes if the provider's secret does.
pub fn client_secret(idp_secret: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, idp_secret);
    let tag = ring::hmac::sign(&key, format!("client-secret\0{CLIENT_ID}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
}

fn base(issuer: &str) -> &str {
    issuer.trim_end_matches('/')
}

/// The built-in `orgid-console` client: confidential, code flow only, the scopes the console
/// asks for, its redirect and post-logout addresses under the issuer.
pub fn client_config(idp_secret: &[u8], issuer: &str) -> ClientConfig {
    ClientConfig {
        id: CLIENT_ID.into(),
        name: "账号管理控制台".into(),
        secret: Some(Secret::new(client_secret(idp_secret))),
        redirect_uris: vec![format!("{}/console/callback", base(issuer))],
        post_logout_redirect_uris: vec![format!("{}/console/signed-out", base(issuer))],
        grants: vec![GrantType::AuthorizationCode],
        scopes: vec!["openid".into(), "profile".into()],
        id_token_alg: SigningAlg::RS256,
        access_token_alg: None,
        require_totp: false,
        protocol: orgid_config::ClientProtocol::Oidc,
        services: Vec::new(),
        backchannel_logout_uri: None,
        wecom_login: orgid_config::WecomLogin::default(),
        token_exchange: Vec::new(),
        frontchannel_logout_uri: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_secret_is_derived_and_the_client_is_confidential() {
        let a = client_secret(&[1; 32]);
        assert_eq!(a, client_secret(&[1; 32]));
        assert_ne!(a, client_secret(&[2; 32]));
        assert!(a.len() >= 40);
        let c = client_config(&[1; 32], "https://id.example.com/");
        assert_eq!(c.redirect_uris, ["https://id.example.com/console/callback"]);
        assert_eq!(c.post_logout_redirect_uris, ["https://id.example.com/console/signed-out"]);
        assert_eq!(c.grants, [GrantType::AuthorizationCode]);
        assert!(c.secret.is_some());
    }
}
