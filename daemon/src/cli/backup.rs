//! `orgid backup` and `orgid restore`: snapshots of the store and putting one back.

use std::io::Write;
use std::path::Path;

use orgid_config::Config;

use crate::app::App;
use crate::output::{Format, write_json};
use crate::services::backup::{self, restore};

/// `orgid backup [--to DIR]`: a snapshot of the store while it is in use.
pub async fn backup(app: &App, to: Option<&Path>, format: Format, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    let report = backup::backup(app, to, None).await?;
    if format == Format::Json {
        write_json(&report, out)?;
        return Ok(0);
    }
    let m = &report.manifest;
    writeln!(out, "backup written: {}", report.path.display())?;
    writeln!(out, "  store:    {} (schema {}), orgid {}", m.backend, m.schema_version, m.orgid_version)?;
    for f in &m.files {
        writeln!(out, "  file:     {} ({} bytes, SHA-256 {})", f.name, f.bytes, f.sha256)?;
    }
    let chains = m.audit.heads.iter().filter(|h| h.pos > 0).count();
    writeln!(out, "  audit:    {} records in {chains} chains", m.audit.records)?;
    match &m.audit.last_checkpoint {
        Some(c) => writeln!(out, "  signed:   chain {} at record {} ({})", c.chain, c.pos, c.at)?,
        None => writeln!(out, "  signed:   no checkpoint yet (run `orgid audit checkpoint` before backing up)")?,
    }
    writeln!(out, "  left out: the person-key secret and the audit signing key (keep them elsewhere)")?;
    Ok(0)
}

/// `orgid restore PATH [--replace]`: the configured store becomes the snapshot, if it checks out.
pub async fn restore(
    config: &Config,
    path: &Path,
    replace: bool,
    format: Format,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<u8> {
    let report = restore::restore(config, path, replace).await?;
    if format == Format::Json {
        write_json(&report, out)?;
    } else {
        restore::write_report(&report, out)?;
    }
    Ok(0)
}
