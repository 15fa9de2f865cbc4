//! The workers of the targets orgid keeps equal to its decisions (OpenLDAP, WeCom): each pushes
//! its outbox on the leader, and purges and reconciles on its schedule.

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::on_schedule;
use crate::services::Shared;
use crate::services::targets::{ldap, wecom};
use orgid_connectors::ldap::LockCheck;
use orgid_directory::target::TargetId;

/// Keeps LDAP caught up with the store: checks at start that locked entries cannot bind, then
/// pushes the outbox every few seconds (a sync also pushes as soon as it is applied).
pub async fn directory_worker(s: Shared, cancel: CancellationToken) {
    let Some(cfg) = s.app().config.ldap.clone() else { return };
    if cfg.lock_check {
        let health = ldap::health(&cfg).await;
        match (health.connection, health.locks) {
            (Err(e), _) => error!("directory not reachable at start: {e}"),
            (Ok(()), Some(Ok(LockCheck::Enforced))) => {
                info!("directory: locked entries cannot bind (ppolicy enforced)")
            }
            (Ok(()), Some(Ok(LockCheck::NotEnforced))) => error!(
                "DIRECTORY DOES NOT ENFORCE LOCKS: a locked entry could still bind, so closed accounts can log in. \
                 Load ppolicy with a default policy that has pwdLockout: TRUE."
            ),
            (Ok(()), Some(Err(e))) => error!("directory: the lock check failed: {e}"),
            (Ok(()), None) => {}
        }
    }
    loop {
        if s.is_leader() {
            match ldap::push(&s.app()).await {
                Ok(r) => s.metrics.record_directory(&r),
                Err(e) => error!("directory worker: {e:#}"),
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
    }
}

/// On `ldap.reconcile_schedule`: purge entries past their grace period, then reconcile.
pub async fn directory_upkeep(s: Shared, cancel: CancellationToken) {
    if s.app().config.ldap.is_none() {
        return;
    }
    let spec = |c: &orgid_config::Config| c.ldap.as_ref().map(|l| l.reconcile_schedule.clone()).unwrap_or_default();
    let metrics = &s.metrics;
    on_schedule(&s, "ldap.reconcile_schedule", spec, &cancel, |app| async move {
        let mut report = Vec::new();
        match ldap::purge(&app, false, &mut report).await {
            Ok(_) => info!("directory purge: {}", String::from_utf8_lossy(&report).lines().last().unwrap_or_default()),
            Err(e) => error!("directory purge failed: {e:#}"),
        }
        let mut report = Vec::new();
        match ldap::reconcile(&app, false, &mut report).await {
            Ok(code) => {
                if code == 0 {
                    metrics.record_reconcile(TargetId::Ldap);
                }
                let text = String::from_utf8_lossy(&report);
                let first =
                    text.lines().find(|l| l.starts_with("drift") || l.starts_with("no drift")).unwrap_or_default();
                if code == 0 { info!("directory reconcile: {first}") } else { error!("directory reconcile: {first}") }
            }
            Err(e) => error!("directory reconcile failed: {e:#}"),
        }
    })
    .await;
}

/// Keeps WeCom caught up with the store: pushes its outbox every few seconds on the leader (a
/// sync also pushes as soon as it is applied).
pub async fn wecom_worker(s: Shared, cancel: CancellationToken) {
    if s.app().config.wecom.is_none() {
        return;
    }
    if let Err(e) = wecom::health(&s.app()).await {
        error!("WeCom not reachable at start: {e}");
    }
    loop {
        if s.is_leader() {
            match wecom::push(&s.app()).await {
                Ok(r) => s.metrics.record_wecom(&r),
                Err(e) => error!("WeCom worker: {e:#}"),
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
    }
}

/// On `wecom.reconcile_schedule`: purge members past their grace period, then reconcile.
pub async fn wecom_upkeep(s: Shared, cancel: CancellationToken) {
    if s.app().config.wecom.is_none() {
        return;
    }
    let spec = |c: &orgid_config::Config| c.wecom.as_ref().map(|w| w.reconcile_schedule.clone()).unwrap_or_default();
    let metrics = &s.metrics;
    on_schedule(&s, "wecom.reconcile_schedule", spec, &cancel, |app| async move {
        let mut report = Vec::new();
        if let Err(e) = wecom::purge(&app, false, &mut report).await {
            error!("WeCom purge failed: {e:#}");
        }
        let mut report = Vec::new();
        match wecom::reconcile(&app, false, &mut report).await {
            Ok(code) => {
                if code == 0 {
                    metrics.record_reconcile(TargetId::Wecom);
                }
                let text = String::from_utf8_lossy(&report);
                let first =
                    text.lines().find(|l| l.starts_with("drift") || l.starts_with("no drift")).unwrap_or_default();
                if code == 0 { info!("WeCom reconcile: {first}") } else { error!("WeCom reconcile: {first}") }
            }
            Err(e) => error!("WeCom reconcile failed: {e:#}"),
        }
    })
    .await;
}
