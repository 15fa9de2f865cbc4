//! `orgid wecom …`: the WeCom (企业微信) target's status, push, retry, reconcile and purge.

use std::io::Write;

use clap::Subcommand;
use orgid_directory::target::TargetId;

use crate::app::App;
use crate::output::local;
use crate::services::targets::{self, wecom};

#[derive(Debug, Subcommand)]
pub enum WecomCommand {
    /// Whether WeCom takes the credentials, and the outbox backlog.
    Status,
    /// Apply the waiting operations now, those waiting out a retry delay too.
    Push,
    /// Put parked operations back in the queue (after fixing their cause) and push.
    Retry,
    /// Compare WeCom's address book with the store; report drift and repair it (members and
    /// departments orgid did not create are reported, never touched).
    Reconcile {
        /// Report only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete the members of accounts disabled longer than `safety.purge_after_days`.
    Purge {
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(app: &App, command: WecomCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    if app.config.wecom.is_none() && !matches!(command, WecomCommand::Status) {
        anyhow::bail!("no [wecom] section is configured");
    }
    match command {
        WecomCommand::Status => status(app, out).await,
        WecomCommand::Reconcile { dry_run } => wecom::reconcile(app, dry_run, out).await,
        WecomCommand::Purge { dry_run } => wecom::purge(app, dry_run, out).await,
        WecomCommand::Push | WecomCommand::Retry => {
            if matches!(command, WecomCommand::Retry) {
                let n = targets::unpark(app, TargetId::Wecom).await?;
                writeln!(out, "{n} parked operations queued again")?;
            }
            let hurried = targets::hurry(app, TargetId::Wecom).await?;
            if hurried > 0 {
                writeln!(out, "{hurried} operations waiting to be retried are tried now")?;
            }
            let r = wecom::push(app).await?;
            writeln!(out, "{} operations applied, {} refused", r.applied, r.refused)?;
            let left = targets::stats(app, TargetId::Wecom).await?;
            writeln!(out, "{} waiting ({} parked)", left.pending, left.parked)?;
            if let Some(e) = r.unavailable {
                writeln!(out, "WeCom NOT reachable: {e}")?;
                return Ok(1);
            }
            Ok(if left.pending == 0 { 0 } else { 1 })
        }
    }
}

/// `orgid wecom status`: credentials, backlog, tracking. Exit 0 when all is well.
async fn status(app: &App, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    let Some(cfg) = &app.config.wecom else {
        writeln!(out, "WeCom is not configured (no [wecom] section)")?;
        return Ok(0);
    };
    let mut healthy = true;
    writeln!(out, "wecom       {} corp {} (root department {})", cfg.base_url, cfg.corp_id, cfg.root_department)?;
    match wecom::health(app).await {
        Ok(n) => writeln!(out, "connection  ok ({n} departments under the root)")?,
        Err(e) => {
            healthy = false;
            writeln!(out, "connection  FAILED: {e}")?;
        }
    }
    let s = targets::stats(app, TargetId::Wecom).await?;
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
        writeln!(out, "            parked operations need attention; after fixing the cause run `orgid wecom retry`")?;
    }
    let (depts, members) = wecom::tracked(app).await?;
    writeln!(out, "tracked     {depts} departments, {members} members")?;
    Ok(if healthy { 0 } else { 1 })
}
