//! Backups: `orgid backup` and `serve`'s schedule write a consistent snapshot of the store into a
//! folder of its own with a manifest (versions, the audit chain heads and last signed checkpoint,
//! every file's size and SHA-256), then keep the newest `backup.keep`. `restore` puts one back.
//! The person-key secret and the audit signing key are never in a snapshot; `secrets.rs` exports
//! them apart, encrypted with a passphrase.

pub mod restore;
pub mod secrets;

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use orgid_directory::AuditStore;
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, ChainHead, Checkpoint, EventKind};
use serde::{Deserialize, Serialize};

use crate::app::{App, PERSON_KEY_SECRET};

/// The manifest's file name, in each snapshot folder.
pub const MANIFEST: &str = "manifest.json";
/// The settings kept beside a PostgreSQL dump (its `settings` table, secrets left out).
pub const SETTINGS_FILE: &str = "settings.json";
/// The format of the manifest this build writes and reads.
const FORMAT: u32 = 1;
/// Snapshot folders are `orgid-<UTC time>`; an unfinished one is `.orgid-<UTC time>.partial`.
const PREFIX: &str = "orgid-";

/// What a snapshot is and holds. Written last: a folder without one is not a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub orgid_version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The highest store migration applied.
    pub schema_version: i64,
    pub created_at: DateTime<Utc>,
    pub files: Vec<FileEntry>,
    pub audit: AuditState,
    /// Identifies the person-key secret the snapshot's people were keyed with (not the secret).
    pub person_key_fingerprint: String,
    /// What was deliberately left out.
    pub left_out: Vec<String>,
    /// The server's and `pg_dump`'s versions (PostgreSQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PgVersions>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditState {
    /// The head of every chain at the moment of the snapshot.
    pub heads: Vec<ChainHead>,
    /// The newest signed checkpoint in the snapshot, if any.
    pub last_checkpoint: Option<Checkpoint>,
    /// Records in the snapshot's chains (their heads' positions summed).
    pub records: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgVersions {
    pub server: String,
    pub pg_dump: String,
}

/// A snapshot written: its folder and manifest.
#[derive(Debug, Serialize)]
pub struct BackupReport {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Older snapshots removed to keep `backup.keep`.
    pub pruned: Vec<PathBuf>,
}

/// The SHA-256 (hex) and size of a file.
pub fn file_digest(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("while opening {}", path.display()))?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).with_context(|| format!("while reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        ctx.update(&buf[..n]);
    }
    Ok((hex::encode(ctx.finish()), bytes))
}

/// Writes a snapshot of the app's store into a new folder under `dir` (the configured
/// `backup.dir` when `None`); with `keep`, removes the oldest snapshots beyond that many. The
/// outcome is recorded in the audit trail (after the snapshot: it is not in it).
#[tracing::instrument(skip_all, err)]
pub async fn backup(app: &App, dir: Option<&Path>, keep: Option<u32>) -> anyhow::Result<BackupReport> {
    let result = write_backup(app, dir, keep).await;
    let event = match &result {
        Ok(r) => {
            AuditEvent::new(app.clock.now(), EventKind::Backup, AuditOutcome::Success, Actor::System("backup".into()))
                .attr("path", r.path.display().to_string())
                .attr("records", r.manifest.audit.records.to_string())
        }
        Err(e) => {
            AuditEvent::new(app.clock.now(), EventKind::Backup, AuditOutcome::Failure, Actor::System("backup".into()))
                .reason(format!("{e:#}"))
        }
    };
    if let Err(e) = app.store.append_audit(&[event]).await {
        tracing::error!("the backup could not be audited: {e}");
    }
    result
}

async fn write_backup(app: &App, dir: Option<&Path>, keep: Option<u32>) -> anyhow::Result<BackupReport> {
    let dir = dir.unwrap_or(&app.config.backup.dir);
    std::fs::create_dir_all(dir).with_context(|| format!("while creating the backup folder {}", dir.display()))?;
    let now = app.clock.now();
    let name = format!("{PREFIX}{}", now.format("%Y%m%dT%H%M%S%3fZ"));
    let partial = dir.join(format!(".{name}.partial"));
    let done = dir.join(&name);
    if done.exists() {
        bail!("{} exists already", done.display());
    }
    create_private_dir(&partial)?;
    let written = write_snapshot(app, &partial, now).await;
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &done).with_context(|| format!("while naming the snapshot {}", done.display()))?;
    sync_dir(dir);
    let pruned = match keep {
        Some(k) => prune(dir, k)?,
        None => Vec::new(),
    };
    tracing::info!(path = %done.display(), records = manifest.audit.records, "backup written");
    Ok(BackupReport { path: done, manifest, pruned })
}

async fn write_snapshot(app: &App, partial: &Path, now: DateTime<Utc>) -> anyhow::Result<Manifest> {
    let meta = app
        .store
        .snapshot(app.config.store.url.expose(), partial, &[PERSON_KEY_SECRET], &app.config.backup.pg_bin_dir)
        .await
        .context("while taking the snapshot")?;
    let mut names = meta.files.clone();
    if app.store.backend() == "postgres" {
        let text = serde_json::to_vec_pretty(&meta.settings)?;
        write_synced(&partial.join(SETTINGS_FILE), &text)?;
        names.push(SETTINGS_FILE.into());
    }
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let (sha256, bytes) = file_digest(&partial.join(&name))?;
        files.push(FileEntry { name, bytes, sha256 });
    }
    let last_checkpoint = meta.checkpoints.iter().max_by_key(|c| (c.at, c.chain, c.pos)).cloned();
    let manifest = Manifest {
        format: FORMAT,
        orgid_version: env!("CARGO_PKG_VERSION").into(),
        backend: app.store.backend().into(),
        schema_version: meta.schema_version,
        created_at: now,
        files,
        audit: AuditState { records: meta.heads.iter().map(|h| h.pos).sum(), heads: meta.heads, last_checkpoint },
        person_key_fingerprint: app.keyer.fingerprint(),
        left_out: vec![
            "settings.person_key_secret (identity.person_key_secret: keep it in your secret store)".into(),
            "the audit signing key (audit.signing_key: a file outside the store)".into(),
        ],
        postgres: match (meta.server_version, meta.tool_version) {
            (Some(server), Some(pg_dump)) => Some(PgVersions { server, pg_dump }),
            _ => None,
        },
    };
    write_synced(&partial.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
    Ok(manifest)
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path).with_context(|| format!("while creating {}", path.display()))
}

fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).with_context(|| format!("while creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all().with_context(|| format!("while flushing {}", path.display()))
}

/// Makes a rename in `dir` durable (best effort: not every filesystem syncs folders).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The snapshot folders in `dir` (those with a manifest), oldest first.
pub fn snapshots(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("while listing {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST).is_file())
        .collect();
    // The names are UTC times of one width: their order is the snapshots' order.
    found.sort();
    Ok(found)
}

/// Removes the oldest snapshots in `dir` beyond the newest `keep`.
pub fn prune(dir: &Path, keep: u32) -> anyhow::Result<Vec<PathBuf>> {
    let all = snapshots(dir)?;
    let excess = all.len().saturating_sub(keep.max(1) as usize);
    let mut removed = Vec::new();
    for p in all.into_iter().take(excess) {
        std::fs::remove_dir_all(&p).with_context(|| format!("while removing the old snapshot {}", p.display()))?;
        removed.push(p);
    }
    Ok(removed)
}
