//! `orgid audit …`: verify the chain, query and export records, the review report, checkpoints
//! and purge. The work is in `services::audit`; this parses and dispatches.

use std::io::Write;
use std::net::IpAddr;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use clap::Subcommand;
use orgid_directory::audit::{AuditFilter, AuditOutcome, AuditScope, Cursor, EventKind, PublicKey};
use orgid_directory::{AuditStore, CompanyCode};

use crate::app::App;
use crate::output::{Format, write_json};
use crate::services::audit::{self, report};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole chain and the signed checkpoints; exit 1 naming the first bad record.
    Verify {
        /// A trusted public key (hex) besides the configured signing key's; repeatable.
        #[arg(long = "public-key", value_name = "HEX")]
        public_keys: Vec<PublicKey>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Records, newest first (filters combine).
    Query {
        #[command(flatten)]
        filter: FilterArgs,
        /// Records per page.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue after this cursor (the `next` of a previous page).
        #[arg(long, value_name = "CURSOR")]
        after: Option<Cursor>,
        /// Every matching record (ignores --limit), in the order written.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// The security review of a period as a self-contained HTML page (charts, printable) or JSON.
    Report {
        /// Start (default: 30 days before --until): `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` (local) or RFC 3339.
        #[arg(long)]
        since: Option<String>,
        /// End, exclusive (default: now).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_enum, default_value = "html")]
        format: ReportFormat,
    },
    /// Sign a checkpoint of the chain head now (`serve` does it on audit.checkpoint_schedule).
    Checkpoint,
    /// Every signed checkpoint as JSON lines, for an external log system.
    ExportCheckpoints,
    /// The public key (hex) of the checkpoint signing key.
    PublicKey,
    /// Delete records older than the retention, anchored by a signed checkpoint.
    Purge {
        /// Show what would go.
        #[arg(long)]
        dry_run: bool,
        /// Retention in days (default: audit.retention_days).
        #[arg(long)]
        retention_days: Option<u32>,
        /// Allow a retention shorter than 180 days.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Json,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Subject account.
    #[arg(long)]
    pub login: Option<String>,
    #[arg(long, value_name = "CODE")]
    pub company: Option<String>,
    /// Event type (repeatable): login, logout, token_issued, account_open, sync_finished, …
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_kind)]
    pub kinds: Vec<EventKind>,
    #[arg(long, value_parser = parse_outcome)]
    pub outcome: Option<AuditOutcome>,
    #[arg(long, value_name = "ADDRESS")]
    pub ip: Option<IpAddr>,
    #[arg(long = "client", value_name = "CLIENT_ID")]
    pub client_id: Option<String>,
    /// From (inclusive): `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` (in sync.timezone) or RFC 3339.
    #[arg(long)]
    pub since: Option<String>,
    /// Until (exclusive), same forms.
    #[arg(long)]
    pub until: Option<String>,
}

fn parse_kind(s: &str) -> Result<EventKind, String> {
    s.parse()
}

fn parse_outcome(s: &str) -> Result<AuditOutcome, String> {
    s.parse()
}

impl FilterArgs {
    pub fn to_filter(&self, tz: Tz) -> anyhow::Result<AuditFilter> {
        Ok(AuditFilter {
            login: self.login.clone(),
            company: self.company.clone().map(CompanyCode),
            kinds: self.kinds.clone(),
            outcome: self.outcome,
            source_ip: self.ip.map(|ip| ip.to_canonical().to_string()),
            client_id: self.client_id.clone(),
            since: self.since.as_deref().map(|s| parse_time(s, tz)).transpose().context("--since")?,
            until: self.until.as_deref().map(|s| parse_time(s, tz)).transpose().context("--until")?,
        })
    }
}

/// `YYYY-MM-DD` (local midnight), `YYYY-MM-DD HH:MM[:SS]` or `…T…` (local), or RFC 3339.
pub fn parse_time(s: &str, tz: Tz) -> anyhow::Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    let naive = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).or_else(|| {
        ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    });
    match naive.map(|n| tz.from_local_datetime(&n).earliest()) {
        Some(Some(t)) => Ok(t.to_utc()),
        Some(None) => bail!("`{s}` does not exist in {tz} (a clock change)"),
        None => bail!("`{s}` is not a time: use YYYY-MM-DD, YYYY-MM-DD HH:MM (in {tz}) or RFC 3339"),
    }
}

pub async fn run(app: &App, command: AuditCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    match command {
        AuditCommand::Verify { public_keys, format } => audit::verify(app, &public_keys, format, out).await,
        AuditCommand::Query { filter, limit, after, all, format } => {
            let filter = filter.to_filter(app.tz)?;
            audit::query(app, &AuditScope::All, &filter, limit, after, all, format, out).await
        }
        AuditCommand::Report { since, until, format } => {
            let until = until.as_deref().map(|s| parse_time(s, app.tz)).transpose().context("--until")?;
            let until = until.unwrap_or_else(|| app.clock.now());
            let since = since.as_deref().map(|s| parse_time(s, app.tz)).transpose().context("--since")?;
            let since = since.unwrap_or(until - chrono::Duration::days(30));
            if since >= until {
                bail!("--since must be before --until");
            }
            let report = report::build(app, since, until).await?;
            match format {
                ReportFormat::Json => write_json(&report, out)?,
                ReportFormat::Html => out.write_all(report::html(&report, app.tz).as_bytes())?,
            }
            Ok(0)
        }
        AuditCommand::Checkpoint => {
            let signed = audit::checkpoint(app).await?;
            if signed.is_empty() {
                writeln!(out, "nothing new to sign: every chain's head has its checkpoint")?;
            }
            for c in signed {
                let key = c.public_key.fingerprint();
                writeln!(out, "checkpoint of chain {} at record {}: {} (key {key})", c.chain, c.pos, c.hash)?;
            }
            Ok(0)
        }
        AuditCommand::ExportCheckpoints => {
            for c in app.store.audit_checkpoints().await? {
                writeln!(out, "{}", serde_json::to_string(&c)?)?;
            }
            Ok(0)
        }
        AuditCommand::PublicKey => {
            let (signer, _) = audit::signer(app, true).await?;
            writeln!(out, "{}", signer.public_key())?;
            Ok(0)
        }
        AuditCommand::Purge { dry_run, retention_days, force } => {
            audit::purge(app, dry_run, retention_days, force, out).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_the_configured_zone() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(parse_time("2024-05-01", tz).unwrap().to_rfc3339(), "2024-04-30T16:00:00+00:00");
        assert_eq!(parse_time("2024-05-01 08:30", tz).unwrap().to_rfc3339(), "2024-05-01T00:30:00+00:00");
        assert_eq!(parse_time("2024-05-01T08:30:15", tz).unwrap().to_rfc3339(), "2024-05-01T00:30:15+00:00");
        assert_eq!(parse_time("2024-05-01T08:30:00Z", tz).unwrap().to_rfc3339(), "2024-05-01T08:30:00+00:00");
        let e = parse_time("yesterday", tz).unwrap_err().to_string();
        assert!(e.contains("is not a time"), "{e}");
    }
}
