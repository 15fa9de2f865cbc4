//! OpenID Connect Back-Channel Logout 1.0: the logout token a client with a
//! `backchannel_logout_uri` gets when a session it had tokens in ends (§2.4: `iss`, `aud`,
//! `iat`, `exp`, `jti`, `sub`, `sid`, `events`, no `nonce`; `typ: logout+jwt`), signed as its
//! ID tokens are. The sweep and retries are the core's (`slo.rs`).

use chrono::Duration;
use orgid_directory::idp::LogoutNotice;
use serde::Serialize;

use crate::slo::LogoutMessage;
use crate::{IdpError, Provider};

/// The event a logout token carries.
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

#[derive(Serialize)]
struct LogoutClaims {
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    sid: String,
    events: serde_json::Value,
}

impl Provider {
    /// The `sid` of a session (what ID tokens and logout tokens carry): opaque, stable, and not
    /// the stored hash (which names the session in the audit trail).
    pub(crate) fn sid(&self, session_hash: &str) -> String {
        use base64::Engine;
        let tag = ring::hmac::sign(&self.inner.secret, format!("sid\0{session_hash}").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag.as_ref()[..18])
    }

    /// The logout token for `n`'s client, to its back-channel URI; `None` if the client is gone
    /// or has no such URI any more.
    pub(crate) async fn logout_token(&self, n: &LogoutNotice) -> Result<Option<LogoutMessage>, IdpError> {
        let Some(client) = self.client(&n.client_id).await? else { return Ok(None) };
        let Some(uri) = client.backchannel_logout_uri.clone() else { return Ok(None) };
        let now = self.now();
        let sub = self.inner.store.subject(&n.login).await?.map(|s| self.subject_id(&s.person_key));
        let claims = LogoutClaims {
            iss: self.issuer().into(),
            aud: client.id.clone(),
            iat: now.timestamp(),
            exp: (now + Duration::minutes(2)).timestamp(),
            jti: crate::crypto::random_token(16)?,
            sub,
            sid: self.sid(&n.session_hash),
            events: serde_json::json!({ BACKCHANNEL_EVENT: {} }),
        };
        let key = self.inner.keys.signer(client.id_token_alg, now).await?;
        let token = super::jwt::sign_typed(&claims, &key, "logout+jwt")?;
        Ok(Some(LogoutMessage { url: uri, field: "logout_token", value: token, redirect_ok: false }))
    }
}
