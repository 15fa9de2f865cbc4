//! Self-contained (client-credentials) access tokens in the store, on both backends: their issue
//! recorded by audit records alone (merged per client when committed together, every `jti`
//! kept), revocation by `jti`, a client's removal, and the purge of revocations that expired.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;

use orgid_directory::audit::{AuditEvent, RequestContext};
use orgid_directory::idp::{AccessStanding, ClientStore, GrantStore, IdpUpkeepStore, StoredClient};

use super::audit::all_records;
use super::store::{Env, at};

both_backends!(self_contained_tokens_are_recorded_merged_revoked_and_purged);

fn issued(client: &str, jti: &str) -> AuditEvent {
    AuditEvent::token_issued(at(1), None, None, client, "client_credentials", &RequestContext::default())
        .attr("scope", "api")
        .attr("jti", jti)
}

async fn self_contained_tokens_are_recorded_merged_revoked_and_purged(e: Env) {
    let s = &e.store;
    // 40 issues at once, of two clients: each call returns once its record is committed.
    let jtis: Vec<String> = (0..40).map(|i| format!("{i:032}")).collect();
    let calls = jtis.iter().enumerate().map(|(i, j)| {
        let (s, j) = (s.clone(), j.clone());
        tokio::spawn(async move { s.record_issued(&issued(if i % 2 == 0 { "svc" } else { "batch" }, &j)).await })
    });
    for c in calls.collect::<Vec<_>>() {
        c.await.unwrap().unwrap();
    }
    let records: Vec<_> = all_records(s).await.into_iter().filter(|r| r.fields.kind == "token_issued").collect();
    let mut named = BTreeSet::new();
    let mut counted = 0;
    for r in &records {
        let d: serde_json::Value = serde_json::from_str(r.fields.details.as_deref().unwrap()).unwrap();
        let list: Vec<String> = d["attrs"]["jti"].as_str().unwrap().split(',').map(String::from).collect();
        assert_eq!(d["attrs"]["count"], list.len().to_string(), "{d}");
        counted += list.len();
        named.extend(list);
    }
    assert_eq!(counted, 40, "each jti named once");
    assert_eq!(named, jtis.iter().cloned().collect(), "every issue recorded");
    assert!(records.len() <= 40, "{} records", records.len());

    // Revoked by jti (twice is once); the other stays.
    s.revoke_access(&jtis[0], "svc", at(60), at(2)).await.unwrap();
    s.revoke_access(&jtis[0], "svc", at(60), at(3)).await.unwrap();
    let standing = |j: &str, c: &str| {
        let (s, j, c) = (s.clone(), j.to_string(), c.to_string());
        async move { s.access_standing(&j, &c).await.unwrap() }
    };
    assert_eq!(standing(&jtis[0], "svc").await, AccessStanding { revoked: true, client_removed_at: None });
    assert_eq!(standing(&jtis[2], "svc").await, AccessStanding::default());

    // A client's removal, kept when a client of the same id is added again and removed later.
    let client = StoredClient {
        id: "svc".into(),
        name: "svc".into(),
        secret_hash: Some("0".repeat(64)),
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grants: vec!["client_credentials".into()],
        scopes: vec!["api".into()],
        id_token_alg: "ES256".into(),
        access_token_alg: None,
        require_totp: false,
        created_at: at(0),
        protocol: "oidc".into(),
        services: vec![],
        backchannel_logout_uri: None,
    };
    s.add_client(&client, &[]).await.unwrap();
    s.remove_client("svc", at(5), &[]).await.unwrap();
    assert_eq!(standing(&jtis[2], "svc").await.client_removed_at, Some(at(5)));
    assert_eq!(standing(&jtis[1], "batch").await, AccessStanding::default(), "another client untouched");
    s.add_client(&client, &[]).await.unwrap();
    s.remove_client("svc", at(9), &[]).await.unwrap();
    assert_eq!(standing(&jtis[2], "svc").await.client_removed_at, Some(at(9)));

    // A revocation goes once its token has expired anyway.
    s.purge_expired(at(59)).await.unwrap();
    assert!(standing(&jtis[0], "svc").await.revoked, "not yet expired");
    s.purge_expired(at(60)).await.unwrap();
    assert!(!standing(&jtis[0], "svc").await.revoked, "purged with its token's expiry");
}
