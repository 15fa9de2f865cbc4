//! The audit service: verify the chain, query and export records, sign and export checkpoints,
//! purge past retention, and the review report (`report`). Also the checkpoint signing key: a
//! file outside the database, generated with mode 0600 on first use.

pub mod report;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use orgid_directory::AuditStore;
use orgid_directory::audit::lifecycle::{audit_purge_event, key_rotation_event};
use orgid_directory::audit::{
    Actor, AuditFilter, AuditOutcome, AuditRecord, AuditScope, ChainHead, ChainReport, ChainVerifier, Checkpoint,
    CheckpointSigner, Cursor, EventKind, Hash, Order, PageRequest, PublicKey, trusted_checkpoints,
};
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;
use serde::Serialize;

use crate::app::App;
use crate::output::{Format, Table, defuse_formula, local, write_json};

/// Records read per round trip by the verification walk.
const WALK_BATCH: u32 = 10_000;

// ---- the signing key ----------------------------------------------------------------------------

/// Loads the key file; `None` if it does not exist. Refuses a file others can read.
pub fn load_key(path: &Path) -> anyhow::Result<Option<CheckpointSigner>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("while reading audit.signing_key {}", path.display())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "audit.signing_key {} is readable by others (mode {:o}); run `chmod 600` on it",
                path.display(),
                mode & 0o777
            );
        }
    }
    CheckpointSigner::from_pkcs8(&bytes)
        .map(Some)
        .with_context(|| format!("audit.signing_key {} is not an Ed25519 PKCS#8 key", path.display()))
}

/// Writes a new key, readable by its owner only; fails if the file appeared meanwhile.
fn create_key(path: &Path) -> anyhow::Result<CheckpointSigner> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("no system randomness for the audit signing key"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).with_context(|| format!("while creating audit.signing_key {}", path.display()))?;
    f.write_all(pkcs8.as_ref())?;
    f.sync_all()?;
    Ok(CheckpointSigner::from_pkcs8(pkcs8.as_ref())?)
}

/// The signer of the configured key file, created (and its creation recorded) if `create` and
/// missing. Returns whether it was created.
pub async fn signer(app: &App, create: bool) -> anyhow::Result<(CheckpointSigner, bool)> {
    let path: &PathBuf = &app.config.audit.signing_key;
    if let Some(s) = load_key(path)? {
        return Ok((s, false));
    }
    if !create {
        bail!("audit.signing_key {} does not exist", path.display());
    }
    let s = create_key(path)?;
    tracing::info!(key = %s.public_key().fingerprint(), path = %path.display(), "created the audit signing key");
    Ok((s, true))
}

/// The public keys whose checkpoints are trusted: the configured key's, the configured earlier
/// ones, and `extra`.
fn trusted_keys(app: &App, extra: &[PublicKey]) -> anyhow::Result<Vec<PublicKey>> {
    let mut keys: Vec<PublicKey> = extra.to_vec();
    if let Some(s) = load_key(&app.config.audit.signing_key)? {
        keys.push(s.public_key());
    }
    for k in &app.config.audit.trusted_keys {
        keys.push(k.parse().map_err(anyhow::Error::msg).context("audit.trusted_keys")?);
    }
    Ok(keys)
}

// ---- commands -------------------------------------------------------------------------------------

/// Signs the head of every chain that moved since its latest checkpoint (all of them when the
/// key is new). A new key (first use, or replaced) is recorded as a key rotation.
pub async fn checkpoint(app: &App) -> anyhow::Result<Vec<Checkpoint>> {
    let (signer, _) = signer(app, true).await?;
    let checkpoints = app.store.audit_checkpoints().await?;
    let heads = app.store.audit_heads().await?;
    let latest_key = checkpoints.iter().max_by_key(|c| c.at).map(|c| c.public_key);
    let rotated = latest_key != Some(signer.public_key());
    let now = app.clock.now();
    let signed: Vec<Checkpoint> = heads
        .iter()
        .filter(|h| h.pos > 0)
        .filter(|h| {
            let last = checkpoints.iter().filter(|c| c.chain == h.chain).map(|c| c.pos).max();
            rotated || last != Some(h.pos)
        })
        .map(|h| signer.sign(*h, now))
        .collect();
    if signed.is_empty() {
        return Ok(signed);
    }
    let events = if rotated {
        let old = latest_key.map(|k| k.fingerprint());
        vec![key_rotation_event(
            "audit_checkpoint",
            old.as_deref(),
            &signer.public_key().fingerprint(),
            &Actor::System("audit".into()),
            now,
        )]
    } else {
        Vec::new()
    };
    app.store.add_audit_checkpoints(&signed, &events).await?;
    Ok(signed)
}

#[derive(Serialize)]
struct VerifyJson<'a> {
    ok: bool,
    chains: &'a [ChainReport],
    checkpoint_errors: Vec<String>,
    /// Records found past the head of their chain (should not exist): (chain, position).
    after_head: &'a [(i32, i64)],
    trusted_keys: Vec<String>,
}

/// Walks one chain up to `head`.
async fn verify_chain(app: &App, head: ChainHead, checkpoints: Vec<(i64, Hash)>) -> anyhow::Result<ChainReport> {
    let mut v = ChainVerifier::new(head.chain, checkpoints);
    let mut after = 0;
    loop {
        let batch = app.store.audit_chain(head.chain, after, head.pos, WALK_BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.pos;
        for r in &batch {
            v.push(r);
        }
        if v.failed() {
            break;
        }
    }
    Ok(v.finish(head))
}

/// The first problem of each chain, as (chain, position, what): `verify`'s walk for the alert
/// job's periodic verification.
pub async fn chain_problems(app: &App) -> anyhow::Result<Vec<(i32, i64, String)>> {
    let trusted = trusted_keys(app, &[])?;
    let checkpoints = app.store.audit_checkpoints().await?;
    let heads = app.store.audit_heads().await?;
    let (mut good, _) = trusted_checkpoints(&checkpoints, &trusted);
    let mut problems = Vec::new();
    for head in &heads {
        let report = verify_chain(app, *head, good.remove(&head.chain).unwrap_or_default()).await?;
        if let Some(p) = report.problem {
            problems.push((head.chain, p.first_pos(), p.to_string()));
        }
    }
    Ok(problems)
}

/// `orgid audit verify`: exit 0 intact, 1 broken.
pub async fn verify(
    app: &App,
    extra_keys: &[PublicKey],
    format: Format,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<u8> {
    let trusted = trusted_keys(app, extra_keys)?;
    // Checkpoints before the heads: every checkpoint read is then at or below its head.
    let checkpoints = app.store.audit_checkpoints().await?;
    let heads = app.store.audit_heads().await?;
    let (mut good, bad) = trusted_checkpoints(&checkpoints, &trusted);
    let mut reports = Vec::with_capacity(heads.len());
    for head in &heads {
        reports.push(verify_chain(app, *head, good.remove(&head.chain).unwrap_or_default()).await?);
    }
    // A record past the head the walk started from, while the head has not moved past it, was
    // not appended by orgid (an appender would have moved the head, or collided with it).
    let mut after_head = Vec::new();
    for h in app.store.audit_heads().await? {
        if let Some(r) = app.store.audit_chain(h.chain, h.pos, i64::MAX, 1).await?.first() {
            after_head.push((h.chain, r.pos));
        }
    }
    let ok = reports.iter().all(|r| r.problem.is_none()) && bad.is_empty() && after_head.is_empty();
    if format == Format::Json {
        write_json(
            &VerifyJson {
                ok,
                chains: &reports,
                checkpoint_errors: bad.iter().map(ToString::to_string).collect(),
                after_head: &after_head,
                trusted_keys: trusted.iter().map(ToString::to_string).collect(),
            },
            out,
        )?;
        return Ok(if ok { 0 } else { 1 });
    }
    let total: u64 = reports.iter().map(|r| r.records).sum();
    if ok {
        let chains = if reports.len() == 1 { "1 chain".to_string() } else { format!("{} chains", reports.len()) };
        writeln!(out, "audit trail intact: {total} records in {chains}")?;
    }
    for r in &reports {
        match (&r.problem, r.first, r.last) {
            (Some(p), _, _) => writeln!(out, "AUDIT CHAIN {} BROKEN at record {}: {p}", r.chain, p.first_pos())?,
            (None, Some(f), Some(l)) => {
                let anchor = match r.anchor {
                    Some(0) | None => "from the start".to_string(),
                    Some(a) => format!("from the signed purge checkpoint at record {a}"),
                };
                writeln!(out, "  chain {}: {} records {f} to {l}, {anchor}", r.chain, r.records)?;
            }
            (None, _, _) => {}
        }
    }
    for (chain, pos) in &after_head {
        writeln!(out, "AUDIT CHAIN {chain} BROKEN: record {pos} was inserted after the chain head")?;
    }
    for e in &bad {
        writeln!(out, "CHECKPOINT NOT TRUSTED: {e}")?;
    }
    if trusted.is_empty() {
        writeln!(
            out,
            "warning: no trusted signing key (audit.signing_key does not exist and no --public-key): \
             signed checkpoints were not checked"
        )?;
    } else {
        writeln!(
            out,
            "{} of {} signed checkpoints trusted; {} within the records checked matched",
            checkpoints.len() - bad.len(),
            checkpoints.len(),
            reports.iter().map(|r| r.checkpoints_matched).sum::<u64>()
        )?;
    }
    Ok(if ok { 0 } else { 1 })
}

/// A record as exports and the API show it: the record (times in UTC, details as JSON) and its
/// time in the configured zone.
#[derive(Debug, Serialize)]
pub struct RecordView {
    #[serde(flatten)]
    pub record: AuditRecord,
    pub at_local: String,
}

impl RecordView {
    pub fn new(r: &AuditRecord, tz: Tz) -> Self {
        RecordView { record: r.clone(), at_local: local(Some(r.fields.at), tz) }
    }
}

/// The details on one line: `field: before → after; …; name=value …`.
fn details_line(r: &AuditRecord) -> String {
    let Some(d) = r.fields.details() else { return r.fields.details.clone().unwrap_or_default() };
    let mut parts: Vec<String> = d.changes.iter().map(|c| format!("{}: {} → {}", c.field, c.before, c.after)).collect();
    parts.extend(d.attrs.iter().map(|(k, v)| format!("{k}={v}")));
    parts.join("; ")
}

const HEADER: [&str; 16] = [
    "seq",
    "time",
    "type",
    "outcome",
    "actor_kind",
    "actor",
    "login",
    "company",
    "client_id",
    "source_ip",
    "user_agent",
    "session_id",
    "reason",
    "details",
    "hash",
    "time_utc",
];

fn row(r: &AuditRecord, tz: Tz) -> Vec<String> {
    let f = &r.fields;
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        r.seq.to_string(),
        local(Some(f.at), tz),
        f.kind.clone(),
        f.outcome.clone(),
        f.actor_kind.clone(),
        f.actor.clone(),
        o(&f.login),
        o(&f.company),
        o(&f.client_id),
        o(&f.source_ip),
        o(&f.user_agent),
        o(&f.session_id),
        o(&f.reason),
        details_line(r),
        r.hash.to_hex(),
        f.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    ]
}

/// The table for people: the columns of `row` that fit a terminal.
fn screen_table(records: &[AuditRecord], tz: Tz) -> Table {
    Table {
        header: vec!["seq", "time", "type", "outcome", "actor", "login", "company", "ip", "reason", "details"],
        rows: records
            .iter()
            .map(|r| {
                let mut c = row(r, tz);
                let actor = format!("{}:{}", c[4], c[5]);
                let mut take = |i: usize| std::mem::take(&mut c[i]);
                vec![take(0), take(1), take(2), take(3), actor, take(6), take(7), take(9), take(12), take(13)]
            })
            .collect(),
    }
}

/// `orgid audit query`: one page newest first, or (`all`) every record in the order written —
/// streamed page by page for JSON and CSV, so an export of millions of records stays small.
#[allow(clippy::too_many_arguments)]
pub async fn query(
    app: &App,
    scope: &AuditScope,
    filter: &AuditFilter,
    limit: u32,
    after: Option<Cursor>,
    all: bool,
    format: Format,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<u8> {
    if !all {
        let page = PageRequest { after, ..PageRequest::first(Order::NewestFirst, limit) };
        let p = app.store.audit_query(scope, filter, page).await?;
        match format {
            Format::Json => {
                #[derive(Serialize)]
                struct Page {
                    records: Vec<RecordView>,
                    next: Option<Cursor>,
                }
                let records = p.records.iter().map(|r| RecordView::new(r, app.tz)).collect();
                write_json(&Page { records, next: p.next }, out)?;
            }
            Format::Csv => Table { header: HEADER.to_vec(), rows: p.records.iter().map(|r| row(r, app.tz)).collect() }
                .write_csv(out)?,
            Format::Table => {
                screen_table(&p.records, app.tz).write_table(out)?;
                if let Some(n) = p.next {
                    writeln!(out, "more: --after {n}")?;
                }
            }
        }
        return Ok(0);
    }
    let page = PageRequest { order: Order::OldestFirst, after, limit: PageRequest::MAX_LIMIT };
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, out);
    match format {
        Format::Json => {
            write!(out, "{{\"records\": [")?;
            let mut first = true;
            each_page(app, scope, filter, page, |records| {
                for r in records {
                    out.write_all(if first { b"\n  " } else { b",\n  " })?;
                    serde_json::to_writer(&mut out, &RecordView::new(r, app.tz))?;
                    first = false;
                }
                Ok(())
            })
            .await?;
            writeln!(out, "\n], \"next\": null}}")?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record(HEADER)?;
            each_page(app, scope, filter, page, |records| {
                for r in records {
                    w.write_record(row(r, app.tz).iter().map(|c| defuse_formula(c)))?;
                }
                Ok(())
            })
            .await?;
            w.flush()?;
        }
        Format::Table => {
            let mut all = Vec::new();
            each_page(app, scope, filter, page, |records| {
                all.extend_from_slice(records);
                Ok(())
            })
            .await?;
            screen_table(&all, app.tz).write_table(&mut out)?;
        }
    }
    out.flush()?;
    Ok(0)
}

/// Calls `f` with each page of the records, from `page` on.
pub(crate) async fn each_page(
    app: &App,
    scope: &AuditScope,
    filter: &AuditFilter,
    mut page: PageRequest,
    mut f: impl FnMut(&[AuditRecord]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    loop {
        let p = app.store.audit_query(scope, filter, page).await?;
        f(&p.records)?;
        match p.next {
            Some(n) => page.after = Some(n),
            None => return Ok(()),
        }
    }
}

/// `orgid audit purge`.
pub async fn purge(
    app: &App,
    dry_run: bool,
    days: Option<u32>,
    force: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<u8> {
    let cfg = &app.config.audit;
    let days = days.unwrap_or(cfg.retention_days);
    if days < 180 && !(force || cfg.allow_short_retention) {
        bail!(
            "a retention of {days} days is less than the 180 days (six months) the law requires; pass --force to purge anyway"
        );
    }
    if days == 0 {
        bail!("a retention of 0 days would purge the record of the purge itself");
    }
    let now = app.clock.now();
    let cutoff = now - chrono::Duration::days(i64::from(days));
    let points = app.store.audit_purge_points(cutoff).await?;
    if points.is_empty() {
        writeln!(out, "no audit records older than {days} days ({})", local(Some(cutoff), app.tz))?;
        return Ok(0);
    }
    let mut count = 0u64;
    let mut ranges = Vec::new();
    for p in &points {
        let first = app.store.audit_chain(p.chain, 0, p.pos, 1).await?.first().map_or(p.pos, |r| r.pos);
        count += u64::try_from(p.pos - first + 1).unwrap_or(0);
        ranges.push(format!("chain {}: {first} to {}", p.chain, p.pos));
    }
    if dry_run {
        writeln!(
            out,
            "would purge {count} records ({}) older than {days} days ({})",
            ranges.join("; "),
            local(Some(cutoff), app.tz)
        )?;
        return Ok(0);
    }
    let (signer, _) = signer(app, true).await?;
    let anchors: Vec<Checkpoint> = points.iter().map(|p| signer.sign(*p, now)).collect();
    let through = points.iter().map(|p| format!("{}:{}", p.chain, p.pos)).collect::<Vec<_>>().join(",");
    let event = audit_purge_event(&through, count, cutoff, days, &Actor::Admin("cli".into()), now);
    let deleted = app.store.purge_audit(&anchors, &event).await?;
    writeln!(
        out,
        "purged {deleted} records older than {days} days ({}); signed checkpoints anchor the rest",
        ranges.join("; ")
    )?;
    Ok(0)
}

/// Records a SIGHUP's verdict on the configuration file; a failure to record is logged.
pub async fn record_config_reload(store: &dyn AuditStore, verdict: Result<&str, &str>) {
    let event =
        orgid_directory::audit::lifecycle::config_reload_event(verdict, &Actor::System("serve".into()), Utc::now());
    if let Err(e) = store.append_audit(&[event]).await {
        tracing::error!("the configuration reload could not be audited: {e}");
    }
}

/// Login name → latest time, from `AuditStore::audit_latest`.
pub(crate) async fn latest(app: &App, kinds: &[EventKind]) -> anyhow::Result<HashMap<String, DateTime<Utc>>> {
    Ok(app.store.audit_latest(kinds, AuditOutcome::Success).await?.into_iter().collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_new_key_file_is_private_and_loads_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit.key");
        assert!(load_key(&path).unwrap().is_none());
        let created = create_key(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let loaded = load_key(&path).unwrap().unwrap();
        assert_eq!(loaded.public_key(), created.public_key());
        assert!(create_key(&path).is_err(), "never overwritten");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = load_key(&path).err().unwrap().to_string();
            assert!(e.contains("readable by others"), "{e}");
        }
    }
}
