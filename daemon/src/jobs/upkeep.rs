//! Upkeep that every replica runs: the provider's keys and expired records, and the leader lease
//! that decides which replica runs the scheduled jobs.

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::services::Shared;

/// Every ten minutes: signing keys rotated when due (any replica may; the store lets one win)
/// and, on the leader, expired codes, tokens, sessions and keys deleted.
pub async fn idp_upkeep(s: Shared, provider: orgid_idp::Provider, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
        }
        let result = if s.is_leader() { provider.upkeep().await } else { provider.ensure_keys().await.map(|_| ()) };
        if let Err(e) = result {
            error!("identity provider upkeep: {e}");
        }
    }
}

/// Every few seconds, on every replica (the store lets one take each notice): the single-logout
/// notices of sessions that ended, expired or lost their account, delivered.
pub async fn single_logout(provider: orgid_idp::Provider, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(SINGLE_LOGOUT_SECS)) => {}
        }
        if let Err(e) = provider.single_logout().await {
            error!("single logout: {e}");
        }
    }
}

/// How often `single_logout` sweeps.
const SINGLE_LOGOUT_SECS: u64 = 5;

/// Keeps the leader lease, or waits for it: a replica whose leader stops takes over within 10 s.
pub async fn leadership(s: Shared, mut lease: Option<orgid_store::LeaderLease>, cancel: CancellationToken) {
    if lease.is_some() {
        info!("this replica holds the leader lease and runs the scheduled jobs");
    } else {
        info!("another replica holds the leader lease; this one serves and stands by");
    }
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
        }
        match lease.as_mut() {
            Some(l) => {
                if !l.still_held().await {
                    error!("lost the leader lease (its database connection failed); standing by");
                    lease = None;
                    s.set_leader(false);
                }
            }
            None => match s.app().store.try_lease().await {
                Ok(Some(l)) => {
                    info!("took over the leader lease");
                    lease = Some(l);
                    s.set_leader(true);
                }
                Ok(None) => {}
                Err(e) => error!("leader lease: {e}"),
            },
        }
    }
    drop(lease); // releases it for the next replica
}
