//! `orgid ldap …`: the OpenLDAP target's status, push, retry, reconcile, purge and LDIF export.

use std::io::Write;

use clap::Subcommand;
use orgid_connectors::ldap::LockCheck;
use orgid_directory::target::TargetId;

use crate::app::App;
use crate::output::local;
use crate::services::targets::{self, ldap};

#[derive(Debug, Subcommand)]
pub enum LdapCommand {
    /// Connection, whether locked entries really cannot bind, and the outbox backlog.
    Status,
    /// Apply the waiting operations now, those waiting out a retry delay too.
    Push,
    /// Put parked operations back in the queue (after fixing their cause) and push.
    Retry,
    /// Compare the directory with the store; report drift and repair it.
    Reconcile {
        /// Report only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete the entries of accounts disabled longer than `safety.purge_after_days`.
    Purge {
        #[arg(long)]
        dry_run: bool,
    },
    /// Write the whole managed tree, as the store has it, as LDIF for `slapadd` (a first load
    /// of a large new directory); then `orgid ldap reconcile` proves it and tracks it.
    Export {
        /// The LDIF file to write.
        #[arg(long, value_name = "FILE")]
        ldif: std::path::PathBuf,
    },
}

pub async fn run(app: &App, command: LdapCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    if app.config.ldap.is_none() && !matches!(command, LdapCommand::Status) {
        anyhow::bail!("no [ldap] section is configured");
    }
    match command {
        LdapCommand::Status => status(app, out).await,
        LdapCommand::Reconcile { dry_run } => ldap::reconcile(app, dry_run, out).await,
        LdapCommand::Purge { dry_run } => ldap::purge(app, dry_run, out).await,
        LdapCommand::Export { ldif } => {
            let file =
                std::fs::File::create(&ldif).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", ldif.display()))?;
            let n = ldap::export_ldif(app, &mut std::io::BufWriter::new(file)).await?;
            writeln!(out, "{n} entries written to {}", ldif.display())?;
            Ok(0)
        }
        LdapCommand::Push | LdapCommand::Retry => {
            if matches!(command, LdapCommand::Retry) {
                let n = targets::unpark(app, TargetId::Ldap).await?;
                writeln!(out, "{n} parked operations queued again")?;
            }
            // The operator says the cause is fixed: nothing waits out its retry delay.
            let hurried = targets::hurry(app, TargetId::Ldap).await?;
            if hurried > 0 {
                writeln!(out, "{hurried} operations waiting to be retried are tried now")?;
            }
            let r = ldap::push(app).await?;
            writeln!(out, "{} operations applied, {} refused", r.applied, r.refused)?;
            let left = targets::stats(app, TargetId::Ldap).await?;
            writeln!(out, "{} waiting ({} parked)", left.pending, left.parked)?;
            if let Some(e) = r.unavailable {
                writeln!(out, "directory NOT reachable: {e}")?;
                return Ok(1);
            }
            Ok(if left.pending == 0 { 0 } else { 1 })
        }
    }
}

/// `orgid ldap status`: connection, lock enforcement, backlog. Exit 0 when all is well.
async fn status(app: &App, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    let Some(cfg) = &app.config.ldap else {
        writeln!(out, "LDAP is not configured (no [ldap] section)")?;
        return Ok(0);
    };
    let mut healthy = true;
    let tls = if cfg.url.starts_with("ldaps://") {
        "LDAPS"
    } else if cfg.starttls {
        "StartTLS"
    } else {
        "none"
    };
    writeln!(out, "directory   {} as {} (base {}, TLS: {tls})", cfg.url, cfg.bind_dn, cfg.base_dn)?;
    let health = ldap::health(cfg).await;
    match health.connection {
        Ok(()) => {
            writeln!(out, "connection  ok")?;
            if let Some(locks) = health.locks {
                match locks {
                    Ok(LockCheck::Enforced) => {
                        writeln!(out, "locks       enforced: a locked probe entry could not bind")?
                    }
                    Ok(LockCheck::NotEnforced) => {
                        healthy = false;
                        writeln!(
                            out,
                            "locks       NOT ENFORCED: a locked probe entry could still bind. Closed accounts can log in to LDAP!"
                        )?;
                        writeln!(
                            out,
                            "            Load the ppolicy overlay with a default policy that has pwdLockout: TRUE."
                        )?;
                    }
                    Err(e) => {
                        healthy = false;
                        writeln!(out, "locks       could not be checked: {e}")?;
                    }
                }
            }
        }
        Err(e) => {
            healthy = false;
            writeln!(out, "connection  FAILED: {e}")?;
        }
    }
    let s = targets::stats(app, TargetId::Ldap).await?;
    let oldest = if s.oldest.is_some() { local(s.oldest, app.tz) } else { "-".into() };
    writeln!(
        out,
        "outbox      {} pending ({} due, {} retrying, {} parked); oldest {oldest}",
        s.pending, s.due, s.retrying, s.parked
    )?;
    if let Some(e) = &s.last_error {
        writeln!(out, "last error  {e}")?;
    }
    if s.parked > 0 {
        healthy = false;
        writeln!(out, "            parked operations need attention; after fixing the cause run `orgid ldap retry`")?;
    }
    writeln!(out, "tracked     {} OUs and groups", ldap::tracked_nodes(app).await?)?;
    Ok(if healthy { 0 } else { 1 })
}
