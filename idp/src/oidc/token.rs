//! The token endpoint (RFC 6749 §3.2): authorization code with PKCE, refresh with rotation and
//! reuse detection, client credentials; and the tokens a grant issues (a JWT access token, an
//! opaque refresh token, an ID token with the `org` claim).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm};
use openidconnect::{
    AccessToken, Audience, AuthenticationMethodReference, AuthorizationCode, IdToken, IdTokenClaims, IssuerUrl, Nonce,
};
use orgid_config::GrantType;
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::idp::{CodeTake, GrantRecord, Rotation, Subject, TokenKind, TokenRecord};
use serde_json::json;

use super::claims::{self, OrgClaims};
use super::jwt::{self, AccessClaims};
use super::responses::{client_auth_error, invalid_grant, oauth_error, ok_json, server_error};
use crate::account::active;
use crate::audit::Peer;
use crate::crypto::{ordered_id, random_token, sha256_hex};
use crate::{Client, IdpError, Provider};

/// ID tokens with the `org` claim.
type OrgIdToken = IdToken<OrgClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

pub(crate) fn routes() -> Router<Provider> {
    Router::new().route("/token", post(token))
}

/// Tokens to issue for a grant.
pub(super) struct Issue<'a> {
    pub(super) client: &'a Client,
    pub(super) grant_id: &'a str,
    pub(super) subject: Option<&'a Subject>,
    pub(super) scope: &'a str,
    pub(super) auth_time: Option<DateTime<Utc>>,
    pub(super) amr: &'a [String],
    pub(super) nonce: Option<&'a str>,
    pub(super) code: Option<&'a str>,
    pub(super) refresh: bool,
    /// The SSO session the grant came from (its `sid` goes in the ID token).
    pub(super) session_hash: Option<&'a str>,
    /// Who acts for `subject` (RFC 8693 `act`): a delegate, or a service that exchanged a token.
    pub(super) act: Option<claims::Act>,
}

impl Provider {
    /// Makes the tokens of a response; returns the JSON body and the token records to store.
    pub(super) async fn tokens(&self, i: Issue<'_>) -> Result<(serde_json::Value, Vec<TokenRecord>), IdpError> {
        let now = self.now();
        let o = &self.inner.settings.oidc;
        let access_exp = now + Duration::seconds(o.access_token_ttl_secs as i64);
        let jti = ordered_id(now, 15)?;
        let sub = match i.subject {
            Some(s) => self.subject_id(&s.person_key),
            None => i.client.id.clone(),
        };
        let act = i.act;
        let at_key = self.inner.keys.signer(self.access_token_alg(i.client), now).await?;
        let access = jwt::sign(
            &AccessClaims {
                iss: self.issuer().into(),
                sub: sub.clone(),
                aud: i.client.id.clone(),
                client_id: i.client.id.clone(),
                scope: i.scope.into(),
                jti: jti.clone(),
                iat: now.timestamp(),
                exp: access_exp.timestamp(),
                auth_time: i.auth_time.map(|t| t.timestamp()),
                act: act.clone(),
            },
            &at_key,
        )?;
        let record = |id: String, kind, expires_at| TokenRecord {
            id,
            kind,
            grant_id: i.grant_id.into(),
            client_id: i.client.id.clone(),
            login: i.subject.map(|s| s.login.clone()),
            scope: i.scope.into(),
            issued_at: now,
            expires_at,
            used_at: None,
            revoked_at: None,
        };
        let mut records = vec![record(jti, TokenKind::Access, access_exp)];
        let mut body = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": o.access_token_ttl_secs,
            "scope": i.scope,
        });
        if i.refresh {
            let refresh = random_token(32)?;
            let exp = now + Duration::seconds(o.refresh_token_ttl_secs as i64);
            records.push(record(sha256_hex(&refresh), TokenKind::Refresh, exp));
            body["refresh_token"] = json!(refresh);
        }
        if let Some(s) = i.subject
            && claims::has(i.scope, "openid")
        {
            let key = self.inner.keys.signer(i.client.id_token_alg, now).await?;
            let issuer =
                IssuerUrl::new(self.issuer().into()).map_err(|e| IdpError::Internal(format!("issuer: {e}")))?;
            let mut c = IdTokenClaims::<OrgClaims, CoreGenderClaim>::new(
                issuer,
                vec![Audience::new(i.client.id.clone())],
                now + Duration::seconds(o.id_token_ttl_secs as i64),
                now,
                claims::standard(&sub, s, i.scope),
                OrgClaims { sid: i.session_hash.map(|h| self.sid(h)), act, ..claims::org(s, i.scope) },
            )
            .set_auth_time(i.auth_time)
            .set_nonce(i.nonce.map(|n| Nonce::new(n.into())));
            if !i.amr.is_empty() {
                c = c.set_auth_method_refs(Some(
                    i.amr.iter().map(|a| AuthenticationMethodReference::new(a.clone())).collect(),
                ));
            }
            let at = AccessToken::new(access);
            let code = i.code.map(|c| AuthorizationCode::new(c.into()));
            let id_token = OrgIdToken::new(c, key.as_ref(), super::keys::jws_alg(key.alg()), Some(&at), code.as_ref())
                .map_err(|e| IdpError::Internal(format!("ID token: {e}")))?;
            body["id_token"] = json!(id_token.to_string());
        }
        Ok((body, records))
    }
}

async fn token(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let client = match p.authenticate_client(&headers, get("client_id"), get("client_secret")).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return client_auth_error(e),
        Err(e) => return server_error(&e),
    };
    let result = match get("grant_type") {
        None => Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required")),
        Some("authorization_code") if client.allows(GrantType::AuthorizationCode) => {
            code_grant(&p, &client, &f, &peer).await
        }
        Some("refresh_token") if client.allows(GrantType::RefreshToken) => refresh_grant(&p, &client, &f, &peer).await,
        Some("client_credentials") if client.allows(GrantType::ClientCredentials) && !client.is_public() => {
            credentials_grant(&p, &client, &f, &peer).await
        }
        Some(super::exchange::GRANT) if !client.token_exchange.is_empty() && !client.is_public() => {
            super::exchange::exchange_grant(&p, &client, &f, &peer).await
        }
        Some("authorization_code" | "refresh_token" | "client_credentials" | super::exchange::GRANT) => {
            Ok(oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", "this client may not use this grant"))
        }
        Some(_) => Ok(oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "unsupported grant_type")),
    };
    let res = result.unwrap_or_else(|e| server_error(&e));
    if res.status() == StatusCode::OK
        && let (Some(o), Some(grant)) = (p.observed(), get("grant_type"))
    {
        o.token(&client.id, grant);
    }
    res
}

async fn code_grant(
    p: &Provider,
    client: &Client,
    f: &HashMap<String, String>,
    peer: &Peer,
) -> Result<Response, IdpError> {
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(code) = get("code") else {
        return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "code is required"));
    };
    let now = p.now();
    let hash = sha256_hex(code);
    // The store names the code's account and grant in the record.
    let reuse = AuditEvent::new(now, EventKind::CodeReuse, AuditOutcome::Failure, client_actor(client))
        .context(&peer.context(Some(&client.id), None))
        .reason("authorization code presented again: the tokens it issued are revoked");
    let rec = match p.inner.store.take_code(&hash, now, &reuse).await? {
        CodeTake::Fresh(r) => r,
        CodeTake::Reused { grant_id } => {
            // RFC 6749 §4.1.2: a code used twice revokes what it issued.
            if let Some(g) = &grant_id {
                p.inner.store.revoke_grant(g, now).await?;
            }
            return Ok(invalid_grant("the code was already used; the tokens it issued are revoked"));
        }
        CodeTake::Missing => return Ok(invalid_grant("unknown or expired code")),
    };
    if rec.client_id != client.id {
        return Ok(invalid_grant("the code was issued to another client"));
    }
    if get("redirect_uri") != Some(rec.redirect_uri.as_str()) {
        return Ok(invalid_grant("redirect_uri differs from the authorization request"));
    }
    match (&rec.code_challenge, get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let valid = (43..=128).contains(&verifier.len())
                && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let computed = B64.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
            if !valid || !crate::crypto::ct_eq(computed.as_bytes(), challenge.as_bytes()) {
                return Ok(invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Ok(invalid_grant("code_verifier is required")),
        // A verifier without a challenge is a downgrade attempt (RFC 9700 §2.1.1).
        (None, Some(_)) => return Ok(invalid_grant("code_verifier given but no code_challenge was sent")),
        (None, None) => {}
    }
    let subject = match p.inner.store.subject(&rec.login).await? {
        Some(s) if active(&s) => s,
        _ => return Ok(invalid_grant("the account is not active")),
    };
    if p.inner.store.session(&rec.session_hash).await?.is_none_or(|s| s.ended_at.is_some()) {
        return Ok(invalid_grant("the session that issued the code has ended"));
    }
    let actor = match &rec.actor {
        None => None,
        Some(a) => match p.acting_delegate(&rec.login, a, &client.id).await? {
            Some(d) => Some(d),
            None => return Ok(invalid_grant("the delegation has ended")),
        },
    };
    let grant_id = ordered_id(now, 15)?;
    let refresh = client.allows(GrantType::RefreshToken);
    let (body, records) = p
        .tokens(Issue {
            client,
            grant_id: &grant_id,
            subject: Some(&subject),
            scope: &rec.scope,
            auth_time: Some(rec.auth_time),
            amr: &rec.amr,
            nonce: rec.nonce.as_deref(),
            code: Some(code),
            refresh,
            session_hash: Some(&rec.session_hash),
            act: actor.as_ref().map(|a| claims::Act { sub: p.subject_id(&a.person_key), act: None }),
        })
        .await?;
    let grant = GrantRecord {
        id: grant_id,
        client_id: client.id.clone(),
        login: Some(rec.login.clone()),
        scope: rec.scope.clone(),
        session_hash: Some(rec.session_hash.clone()),
        auth_time: Some(rec.auth_time),
        amr: rec.amr.clone(),
        created_at: now,
        revoked_at: None,
        actor: rec.actor.clone(),
    };
    let ctx = peer.context(Some(&client.id), Some(&rec.session_hash));
    let issued =
        AuditEvent::token_issued(now, Some(&rec.login), Some(&subject.company), &client.id, "authorization_code", &ctx)
            .attr("scope", rec.scope.as_str())
            .acted_by(rec.actor.as_deref());
    p.inner.store.create_grant(&grant, &records, Some(&hash), &[issued]).await?;
    Ok(ok_json(body))
}

async fn refresh_grant(
    p: &Provider,
    client: &Client,
    f: &HashMap<String, String>,
    peer: &Peer,
) -> Result<Response, IdpError> {
    let Some(token) = f.get("refresh_token").filter(|t| !t.is_empty()) else {
        return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is required"));
    };
    let now = p.now();
    let id = sha256_hex(token);
    let Some(rec) = p.inner.store.token(&id).await? else { return Ok(invalid_grant("unknown refresh token")) };
    // Bound to its client: another client cannot use (or burn) it.
    if rec.kind != TokenKind::Refresh || rec.client_id != client.id {
        return Ok(invalid_grant("unknown refresh token"));
    }
    let Some(grant) = p.inner.store.grant(&rec.grant_id).await? else { return Ok(invalid_grant("unknown grant")) };
    let subject = match &rec.login {
        Some(l) => match p.inner.store.subject(l).await? {
            Some(s) if active(&s) => Some(s),
            _ => {
                p.inner.store.revoke_grant(&grant.id, now).await?;
                return Ok(invalid_grant("the account is not active"));
            }
        },
        None => None,
    };
    // Under a delegation: only while it still lets its delegate act here.
    let actor = match (&grant.actor, &rec.login) {
        (Some(a), Some(l)) => match p.acting_delegate(l, a, &client.id).await? {
            Some(d) => Some(d),
            None => {
                p.inner.store.revoke_grant(&grant.id, now).await?;
                return Ok(invalid_grant("the delegation has ended"));
            }
        },
        _ => None,
    };
    // A narrower scope may be asked for; never a wider one.
    let scope = match f.get("scope").filter(|s| !s.is_empty()) {
        None => grant.scope.clone(),
        Some(s) => {
            let asked = claims::normalize(s);
            if asked.split(' ').any(|x| !x.is_empty() && !claims::has(&grant.scope, x)) {
                return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "scope exceeds the original grant"));
            }
            asked
        }
    };
    let (body, records) = p
        .tokens(Issue {
            client,
            grant_id: &grant.id,
            subject: subject.as_ref(),
            scope: &scope,
            auth_time: grant.auth_time,
            amr: &grant.amr,
            nonce: None,
            code: None,
            refresh: true,
            session_hash: grant.session_hash.as_deref(),
            act: actor.as_ref().map(|a| claims::Act { sub: p.subject_id(&a.person_key), act: None }),
        })
        .await?;
    let company = subject.as_ref().map(|s| &s.company);
    let ctx = peer.context(Some(&client.id), grant.session_hash.as_deref());
    let issued = AuditEvent::token_issued(now, rec.login.as_deref(), company, &client.id, "refresh_token", &ctx)
        .attr("scope", scope.as_str())
        .acted_by(grant.actor.as_deref());
    let mut reused = AuditEvent::new(now, EventKind::RefreshReuse, AuditOutcome::Failure, client_actor(client))
        .context(&ctx)
        .reason("refresh token presented again: the whole grant is revoked")
        .attr("grant_id", grant.id.as_str());
    if let Some(login) = &rec.login {
        reused = reused.subject(login, company);
    }
    match p.inner.store.rotate_refresh(&id, &records, now, &issued, &reused).await? {
        Rotation::Rotated => Ok(ok_json(body)),
        Rotation::Reused { .. } => Ok(invalid_grant("the refresh token was already used; the whole grant is revoked")),
        Rotation::Invalid => Ok(invalid_grant("the refresh token is expired or revoked")),
    }
}

async fn credentials_grant(
    p: &Provider,
    client: &Client,
    f: &HashMap<String, String>,
    peer: &Peer,
) -> Result<Response, IdpError> {
    let asked = claims::normalize(f.get("scope").map_or("", String::as_str));
    if let Some(other) = asked.split(' ').find(|s| !s.is_empty() && !client.allows_scope(s)) {
        let why = format!("scope {other} is not allowed for this client");
        return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &why));
    }
    // No user: the user scopes mean nothing here.
    let scope = asked.split(' ').filter(|x| !x.is_empty() && !claims::SCOPES.contains(x)).collect::<Vec<_>>().join(" ");
    // A self-contained token: no grant and no token record, only its audit record, committed
    // (merged with the others of its group commit) before the client gets it. Introspection and
    // revocation know it by its signature, its jti and its client (see `verify.rs`).
    let now = p.now();
    let (body, records) = p
        .tokens(Issue {
            client,
            grant_id: "",
            subject: None,
            scope: &scope,
            auth_time: None,
            amr: &[],
            nonce: None,
            code: None,
            refresh: false,
            session_hash: None,
            act: None,
        })
        .await?;
    let jti = records.first().map(|r| r.id.as_str()).unwrap_or_default();
    let ctx = peer.context(Some(&client.id), None);
    let issued = AuditEvent::token_issued(now, None, None, &client.id, "client_credentials", &ctx)
        .attr("scope", scope.as_str())
        .attr("jti", jti);
    p.inner.store.record_issued(&issued).await?;
    Ok(ok_json(body))
}

/// The client as the actor of what its request did (a replayed code or refresh token: whoever
/// holds it acts through the client, not as the account holder).
fn client_actor(client: &Client) -> Actor {
    Actor::System(format!("client:{}", client.id))
}
