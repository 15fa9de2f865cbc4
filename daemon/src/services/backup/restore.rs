//! `orgid restore`: puts a snapshot back as the configured store, and only one that checks out.
//! Before anything is written: the manifest's sizes and SHA-256s, a schema this build knows, the
//! configured person-key secret, a trusted key for the last checkpoint. After restoring (into a
//! staging file for SQLite, into an empty database for PostgreSQL): the chain heads and the
//! checkpoint are the manifest's, and the whole audit trail verifies. Otherwise the restored copy
//! is removed again and the store left as it was.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use orgid_config::Config;
use orgid_directory::audit::PublicKey;
use orgid_directory::{AuditStore, PersonKeyer, SettingStore};
use orgid_store::backup::{self as snap, latest_schema};
use serde::Serialize;

use super::secrets::{Secrets, install_signing_key};
use super::{MANIFEST, Manifest, SETTINGS_FILE, file_digest};
use crate::app::{App, PERSON_KEY_SECRET};
use crate::output::Format;

/// What a restore did, for the command's report.
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub snapshot: PathBuf,
    pub manifest: Manifest,
    /// The verification's report (`orgid audit verify`'s text).
    pub audit: String,
    /// Commands to run next.
    pub next: Vec<String>,
    /// Where the store that was replaced went (SQLite with `--replace`).
    pub replaced: Option<PathBuf>,
}

/// The snapshot folder of `path`: the folder itself or the folder of its manifest.
fn snapshot_dir(path: &Path) -> PathBuf {
    if path.is_file() { path.parent().map(Path::to_path_buf).unwrap_or_default() } else { path.to_path_buf() }
}

/// Reads the manifest of `dir` and checks every file it lists against it.
pub fn checked_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let text = std::fs::read(dir.join(MANIFEST))
        .with_context(|| format!("{} is not a snapshot: no readable {MANIFEST}", dir.display()))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("refused: {}/{MANIFEST} is not a valid manifest", dir.display()))?;
    if manifest.format != 1 {
        bail!("refused: manifest format {} is not one this orgid reads (1)", manifest.format);
    }
    if manifest.files.is_empty() {
        bail!("refused: the manifest lists no files");
    }
    for f in &manifest.files {
        if f.name.contains(['/', '\\']) || f.name.starts_with('.') {
            bail!("refused: the manifest names a file outside the snapshot ({})", f.name);
        }
        let (sha256, bytes) = file_digest(&dir.join(&f.name))
            .with_context(|| format!("refused: {} of the manifest is missing or unreadable", f.name))?;
        if bytes != f.bytes || sha256 != f.sha256 {
            bail!(
                "refused: {} was altered or damaged since the backup (manifest: {} bytes, SHA-256 {}; found: {bytes} \
                 bytes, SHA-256 {sha256})",
                f.name,
                f.bytes,
                f.sha256
            );
        }
    }
    Ok(manifest)
}

/// The public keys whose checkpoints this configuration trusts.
fn trusted_keys(config: &Config) -> anyhow::Result<Vec<PublicKey>> {
    let mut keys = Vec::new();
    if let Some(s) = crate::services::audit::load_key(&config.audit.signing_key)? {
        keys.push(s.public_key());
    }
    for k in &config.audit.trusted_keys {
        keys.push(k.parse().map_err(anyhow::Error::msg).context("audit.trusted_keys")?);
    }
    Ok(keys)
}

/// The checks that need no store: backend, schema, person-key secret, a trusted key.
fn preflight(config: &Config, manifest: &Manifest) -> anyhow::Result<()> {
    let backend = if config.store.url.expose().starts_with("sqlite:") { "sqlite" } else { "postgres" };
    if manifest.backend != backend {
        bail!(
            "refused: the snapshot is of a {} store but store.url is a {backend} one (restore into the same kind)",
            manifest.backend
        );
    }
    let known = latest_schema(backend);
    if manifest.schema_version > known {
        bail!(
            "refused: the snapshot's schema is version {} (orgid {}), newer than this orgid {} knows ({known}); \
             restore it with orgid {} or later",
            manifest.schema_version,
            manifest.orgid_version,
            env!("CARGO_PKG_VERSION"),
            manifest.orgid_version
        );
    }
    match &config.identity.person_key_secret {
        None => bail!(
            "refused: identity.person_key_secret is not set. The snapshot holds no secret; set it (e.g. \
             ORGID__IDENTITY__PERSON_KEY_SECRET) to the secret of the store that was backed up (fingerprint {})",
            manifest.person_key_fingerprint
        ),
        Some(s) if PersonKeyer::new(s.expose().as_bytes()).fingerprint() != manifest.person_key_fingerprint => bail!(
            "refused: identity.person_key_secret is not the secret of the store that was backed up (its \
             fingerprint is {}); people would no longer match across companies",
            manifest.person_key_fingerprint
        ),
        Some(_) => {}
    }
    if let Some(c) = &manifest.audit.last_checkpoint {
        let trusted = trusted_keys(config)?;
        c.verify(&trusted).map_err(|e| {
            anyhow::anyhow!(
                "refused: {e}. Put the audit signing key at audit.signing_key ({}) or its public key in \
                 audit.trusted_keys",
                config.audit.signing_key.display()
            )
        })?;
    }
    Ok(())
}

/// Restores the snapshot at `path` as `config`'s store. A SQLite store must not exist yet (or,
/// with `replace`, is moved aside); a PostgreSQL database must be empty.
///
/// With `secrets` (an opened `orgid secrets export` file): its audit signing key is put at
/// `audit.signing_key` when no key is there, and its person-key secret is used when
/// `identity.person_key_secret` is not set, and then kept in the restored store as a generated
/// one would be.
pub async fn restore(
    config: &Config,
    path: &Path,
    replace: bool,
    secrets: Option<&Secrets>,
) -> anyhow::Result<RestoreReport> {
    let dir = snapshot_dir(path);
    let manifest = checked_manifest(&dir)?;
    let mut with_secret = config.clone();
    let mut imported = None;
    if let Some(s) = secrets {
        if s.person_key_fingerprint != manifest.person_key_fingerprint {
            bail!(
                "refused: the secrets file is of another install (person-key fingerprint {}, the snapshot's is {})",
                s.person_key_fingerprint,
                manifest.person_key_fingerprint
            );
        }
        install_signing_key(config, s)?;
        if config.identity.person_key_secret.is_none() {
            with_secret.identity.person_key_secret = Some(orgid_config::Secret::new(s.person_key_secret.clone()));
            imported = Some(s.person_key_secret.clone());
        }
    }
    let config = &with_secret;
    preflight(config, &manifest)?;
    let url = config.store.url.expose().to_string();
    let (staged_url, target) = if manifest.backend == "sqlite" {
        let target = snap::sqlite_path(&url).context("refused: store.url names no SQLite file")?;
        if target.exists() && !replace {
            bail!(
                "refused: {} exists; restore into a new path, or pass --replace (the file is kept beside it) after \
                 stopping orgid",
                target.display()
            );
        }
        let staged = with_suffix(&target, ".restoring");
        for p in [staged.clone(), with_suffix(&staged, "-wal"), with_suffix(&staged, "-shm")] {
            let _ = std::fs::remove_file(p);
        }
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("while creating {}", parent.display()))?;
        }
        snap::copy_new(&dir.join(snap::SQLITE_FILE), &staged)?;
        (format!("sqlite://{}", staged.display()), Some(target))
    } else {
        let settings: Vec<(String, String)> = serde_json::from_slice(
            &std::fs::read(dir.join(SETTINGS_FILE)).with_context(|| format!("while reading {SETTINGS_FILE}"))?,
        )
        .with_context(|| format!("refused: {SETTINGS_FILE} is not valid"))?;
        snap::restore_postgres(&url, &dir.join(snap::PG_FILE), &settings, &config.backup.pg_bin_dir)
            .await
            .context("refused")?;
        (url.clone(), None)
    };
    let checked = check_restored(config, &staged_url, &manifest).await;
    let audit = match checked {
        Ok(text) => text,
        Err(e) => {
            match &target {
                Some(_) => {
                    let staged = snap::sqlite_path(&staged_url).unwrap_or_default();
                    for p in [staged.clone(), with_suffix(&staged, "-wal"), with_suffix(&staged, "-shm")] {
                        let _ = std::fs::remove_file(p);
                    }
                }
                None => snap::empty_postgres(&url).await.context("while emptying the database again")?,
            }
            return Err(e.context("refused: the restored store does not check out; nothing was kept"));
        }
    };
    let replaced = match &target {
        Some(target) => put_in_place(&snap::sqlite_path(&staged_url).unwrap_or_default(), target)?,
        None => None,
    };
    if let Some(secret) = imported {
        // Where a generated secret lives: a configuration without one finds it there.
        let store = orgid_store::connect(&url, 1).await.context("while opening the restored store")?;
        store.init_setting(PERSON_KEY_SECRET, &secret).await?;
        store.close().await;
    }
    let mut next = Vec::new();
    if config.ldap.is_some() {
        next.push(
            "orgid ldap reconcile --dry-run, then orgid ldap reconcile: the directory may have changed since the \
             snapshot"
                .to_string(),
        );
    }
    next.push("orgid audit verify".into());
    next.push("start orgid serve (systemctl start orgid)".into());
    Ok(RestoreReport { snapshot: dir, manifest, audit, next, replaced })
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The restored store's heads and checkpoints are the manifest's, and its audit trail verifies
/// (after migrating it forward, as any start would). Returns the verification's text.
async fn check_restored(config: &Config, url: &str, manifest: &Manifest) -> anyhow::Result<String> {
    let raw = snap::open_unmigrated(url).await?;
    let schema = raw.schema_version().await?;
    let heads = raw.audit_heads().await?;
    let checkpoints = raw.audit_checkpoints().await?;
    raw.close().await;
    if schema != manifest.schema_version {
        bail!("the snapshot's schema is version {schema}, but its manifest says {}", manifest.schema_version);
    }
    let mut ours: Vec<_> = heads.iter().filter(|h| h.pos > 0).copied().collect();
    let mut theirs: Vec<_> = manifest.audit.heads.iter().filter(|h| h.pos > 0).copied().collect();
    ours.sort_by_key(|h| h.chain);
    theirs.sort_by_key(|h| h.chain);
    if ours != theirs {
        bail!("the audit chain heads in the snapshot are not the ones its manifest recorded");
    }
    if let Some(c) = &manifest.audit.last_checkpoint
        && !checkpoints.contains(c)
    {
        bail!("the snapshot lacks the signed checkpoint its manifest recorded (chain {} at record {})", c.chain, c.pos);
    }
    let mut cfg = config.clone();
    cfg.store.url = orgid_config::Secret::new(url);
    cfg.store.max_connections = 2;
    let app = App::open(cfg).await.context("while opening the restored store")?;
    let mut text = Vec::new();
    let code = crate::services::audit::verify(&app, &[], Format::Table, &mut text).await;
    app.store.close().await;
    let text = String::from_utf8_lossy(&text).into_owned();
    match code? {
        0 => Ok(text),
        _ => bail!("the audit trail does not verify:\n{}", text.trim_end()),
    }
}

/// Renames the verified staging file to the store's path, the old store (if any) moved aside.
fn put_in_place(staged: &Path, target: &Path) -> anyhow::Result<Option<PathBuf>> {
    let wal = with_suffix(staged, "-wal");
    if wal.exists() && std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0 {
        bail!("{} still has a write-ahead log after closing; run the restore again", staged.display());
    }
    let _ = std::fs::remove_file(&wal);
    let _ = std::fs::remove_file(with_suffix(staged, "-shm"));
    let replaced = if target.exists() {
        let aside = with_suffix(target, &format!(".before-restore-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
        std::fs::rename(target, &aside).with_context(|| format!("while moving {} aside", target.display()))?;
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::rename(with_suffix(target, ext), with_suffix(&aside, ext));
        }
        Some(aside)
    } else {
        None
    };
    std::fs::rename(staged, target).with_context(|| format!("while putting the store at {}", target.display()))?;
    if let Some(parent) = target.parent()
        && let Ok(d) = std::fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(replaced)
}

/// The restore's report for people.
pub fn write_report(r: &RestoreReport, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
    let m = &r.manifest;
    writeln!(
        out,
        "restored {} ({} store, schema {}, taken {} by orgid {})",
        r.snapshot.display(),
        m.backend,
        m.schema_version,
        m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        m.orgid_version
    )?;
    if let Some(p) = &r.replaced {
        writeln!(out, "the previous store was moved to {}", p.display())?;
    }
    match &m.audit.last_checkpoint {
        Some(c) => writeln!(out, "last signed checkpoint: chain {} at record {} ({})", c.chain, c.pos, c.at)?,
        None => {
            writeln!(out, "warning: the snapshot has no signed checkpoint; the chain was checked for consistency only")?
        }
    }
    out.write_all(r.audit.as_bytes())?;
    writeln!(out, "next:")?;
    for (i, n) in r.next.iter().enumerate() {
        writeln!(out, "  {}. {n}", i + 1)?;
    }
    Ok(())
}
