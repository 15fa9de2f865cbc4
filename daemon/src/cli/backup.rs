//! `orgid backup` and `orgid restore`: snapshots of the store and putting one back.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use orgid_config::Config;

use crate::app::App;
use crate::output::{Format, write_json};
use crate::services::backup::{self, restore, secrets as exported};

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Write the person-key secret and the audit signing key, encrypted (argon2id and
    /// ChaCha20-Poly1305), into a new FILE. The passphrase comes from ORGID_SECRETS_PASSPHRASE or
    /// --passphrase-file, never from the command line; keep it apart from the file.
    Export {
        file: PathBuf,
        /// The passphrase, on the first line of this file.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

/// `orgid secrets export FILE`.
pub async fn secrets(app: &App, command: SecretsCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    let SecretsCommand::Export { file, passphrase_file, format } = command;
    let pass = exported::passphrase(passphrase_file.as_deref())?;
    let report = exported::export(app, &file, &pass).await?;
    if format == Format::Json {
        write_json(&report, out)?;
        return Ok(0);
    }
    writeln!(out, "secrets written, encrypted: {}", report.path.display())?;
    writeln!(out, "  person-key secret (fingerprint {})", report.person_key_fingerprint)?;
    match report.audit_signing_key {
        true => writeln!(out, "  audit signing key")?,
        false => writeln!(out, "  no audit signing key yet (audit.signing_key does not exist)")?,
    }
    writeln!(out, "put back with: orgid restore SNAPSHOT --secrets {}", report.path.display())?;
    Ok(0)
}

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
    writeln!(
        out,
        "  left out: the person-key secret and the audit signing key (keep them elsewhere, or `orgid secrets export FILE`)"
    )?;
    Ok(0)
}

/// `--secrets FILE [--passphrase-file FILE]` of `orgid restore`.
pub struct Secrets {
    pub file: Option<PathBuf>,
    pub passphrase_file: Option<PathBuf>,
}

/// `orgid restore PATH [--replace] [--secrets FILE]`: the configured store becomes the snapshot,
/// if it checks out.
pub async fn restore(
    config: &Config,
    path: &Path,
    replace: bool,
    secrets: &Secrets,
    format: Format,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<u8> {
    let opened = match &secrets.file {
        Some(f) => {
            let pass = exported::passphrase(secrets.passphrase_file.as_deref())?;
            let bytes = std::fs::read(f).with_context(|| format!("while reading the secrets file {}", f.display()))?;
            Some(exported::open(&bytes, &pass)?)
        }
        None => None,
    };
    let report = restore::restore(config, path, replace, opened.as_ref()).await?;
    if format == Format::Json {
        write_json(&report, out)?;
    } else {
        restore::write_report(&report, out)?;
    }
    Ok(0)
}
