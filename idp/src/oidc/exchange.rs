//! The token-exchange grant (RFC 8693) for service clients: a module that received a user's
//! access token exchanges it for one addressed to another module it calls on the user's behalf.
//!
//! Policy is per client (`token_exchange` in `[[clients]]`: the audiences it may ask for). The
//! subject token must be a live access token of this provider, for a person, issued to the
//! client that presents it. The new access token names the same person, is addressed to the
//! audience (its `aud` and `client_id`), and says who acts (`act`: the exchanging client, over
//! the subject token's own `act`, a delegate's). It lives in a grant of its own tied to the
//! subject token's session and delegate, so logout and a revoked delegation end it too.
//! Errors as RFC 8693 §2.2.2 and RFC 6749 §5.2 give them.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use orgid_directory::audit::AuditEvent;
use orgid_directory::idp::GrantRecord;

use super::claims::{self, Act};
use super::responses::{oauth_error, ok_json};
use super::token::Issue;
use crate::audit::Peer;
use crate::crypto::ordered_id;
use crate::{Client, IdpError, Provider};

/// The grant type's URI.
pub(crate) const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The only token type taken and issued.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

fn invalid_request(why: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why)
}

pub(super) async fn exchange_grant(
    p: &Provider,
    client: &Client,
    f: &HashMap<String, String>,
    peer: &Peer,
) -> Result<Response, IdpError> {
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let (Some(subject_token), Some(subject_type)) = (get("subject_token"), get("subject_token_type")) else {
        return Ok(invalid_request("subject_token and subject_token_type are required"));
    };
    if subject_type != ACCESS_TOKEN_TYPE {
        return Ok(invalid_request("only access tokens are exchanged (subject_token_type)"));
    }
    if get("requested_token_type").is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Ok(invalid_request("only access tokens are issued (requested_token_type)"));
    }
    if get("actor_token").is_some() {
        return Ok(invalid_request("actor_token is not supported: the client is the actor"));
    }
    // The target: one audience, in the client's policy (`resource` is not taken).
    if get("resource").is_some() {
        return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_target", "name the target as audience (a client id)"));
    }
    let Some(audience) = get("audience") else { return Ok(invalid_request("audience is required")) };
    let target = match p.client(audience).await? {
        Some(t) if client.token_exchange.iter().any(|a| a == audience) => t,
        _ => {
            let why = "this client may not exchange tokens for that audience";
            return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_target", why));
        }
    };
    // The subject token: live, a person's, issued to this client.
    let Some((held, Some(subject))) = p.live_access(subject_token).await? else {
        return Ok(invalid_request("subject_token is not a live access token of a person"));
    };
    if held.client_id != client.id {
        return Ok(invalid_request("subject_token was issued to another client"));
    }
    let Some(grant) = p.inner.store.token(&held.jti).await?.map(|t| t.grant_id) else {
        return Ok(invalid_request("subject_token is not a live access token of a person"));
    };
    let Some(grant) = p.inner.store.grant(&grant).await? else {
        return Ok(invalid_request("subject_token is not a live access token of a person"));
    };
    // Never wider than the subject token, nor than the audience may have; no ID token. Without
    // a `scope`, what both allow.
    let scope = match get("scope") {
        Some(s) => claims::normalize(s),
        None => {
            let both = held.scope.split(' ').filter(|s| *s != "openid" && target.allows_scope(s));
            both.collect::<Vec<_>>().join(" ")
        }
    };
    if let Some(bad) = scope
        .split(' ')
        .find(|s| !s.is_empty() && (!claims::has(&held.scope, s) || !target.allows_scope(s) || *s == "openid"))
    {
        let why = format!("scope {bad} exceeds the subject token or the audience");
        return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &why));
    }
    let now = p.now();
    let grant_id = ordered_id(now, 15)?;
    let act = Act { sub: client.id.clone(), act: held.act.clone().map(Box::new) };
    let (mut body, records) = p
        .tokens(Issue {
            client: &target,
            grant_id: &grant_id,
            subject: Some(&subject),
            scope: &scope,
            auth_time: grant.auth_time,
            amr: &grant.amr,
            nonce: None,
            code: None,
            refresh: false,
            session_hash: grant.session_hash.as_deref(),
            act: Some(act),
        })
        .await?;
    body["issued_token_type"] = ACCESS_TOKEN_TYPE.into();
    let record = GrantRecord {
        id: grant_id,
        client_id: target.id.clone(),
        login: Some(subject.login.clone()),
        scope: scope.clone(),
        session_hash: grant.session_hash.clone(),
        auth_time: grant.auth_time,
        amr: grant.amr.clone(),
        created_at: now,
        revoked_at: None,
        actor: grant.actor.clone(),
    };
    let ctx = peer.context(Some(&target.id), grant.session_hash.as_deref());
    let issued =
        AuditEvent::token_issued(now, Some(&subject.login), Some(&subject.company), &target.id, "token_exchange", &ctx)
            .attr("scope", scope.as_str())
            .attr("exchanged_by", client.id.as_str())
            .attr("subject_jti", held.jti.as_str())
            .acted_by(grant.actor.as_deref());
    p.inner.store.create_grant(&record, &records, None, &[issued]).await?;
    Ok(ok_json(body))
}
