//! Snapshots of a store for `orgid backup` and putting one back for `orgid restore`. SQLite:
//! `VACUUM INTO` (one read transaction, so the copy is consistent while `serve` writes);
//! PostgreSQL: `pg_dump` inside a snapshot exported from our own read-only transaction, so that
//! the audit heads and checkpoints read here describe exactly what the dump holds. The settings the
//! caller names (secrets) are never written into a snapshot.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;

use orgid_directory::StoreError;
use orgid_directory::audit::{ChainHead, Checkpoint};
use sqlx::ConnectOptions;
use sqlx::Connection;

use crate::AnyStore;
use crate::backend::{PG_MIGRATOR, SQLITE_MIGRATOR};
use crate::error::db;

/// Why a snapshot or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// `pg_dump` / `pg_restore`: missing, too old for the server, or failed (with its stderr).
    #[error("{0}")]
    Tool(String),
    /// The target is not a place a restore may write to.
    #[error("{0}")]
    Target(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

/// What a snapshot holds, read from the snapshot itself (SQLite) or in its transaction
/// (PostgreSQL).
#[derive(Debug, Clone)]
pub struct SnapshotMeta {
    /// The highest migration applied.
    pub schema_version: i64,
    pub heads: Vec<ChainHead>,
    pub checkpoints: Vec<Checkpoint>,
    /// The files written, relative to the snapshot folder.
    pub files: Vec<String>,
    /// The settings kept (name, value); PostgreSQL only, where they go beside the dump.
    pub settings: Vec<(String, String)>,
    /// The server's and the dump tool's versions (PostgreSQL only).
    pub server_version: Option<String>,
    pub tool_version: Option<String>,
}

/// The snapshot files' names.
pub const SQLITE_FILE: &str = "orgid.db";
pub const PG_FILE: &str = "orgid.pgdump";

/// The highest migration this build knows for `backend` (`sqlite` or `postgres`).
pub fn latest_schema(backend: &str) -> i64 {
    let m = if backend == "sqlite" { &SQLITE_MIGRATOR } else { &PG_MIGRATOR };
    m.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Opens the store at `url` without migrating it: to read what a restored snapshot holds before
/// anything changes it.
pub async fn open_unmigrated(url: &str) -> Result<AnyStore, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(AnyStore::Sqlite(crate::SqliteStore::open(url, 1).await?))
    } else {
        Ok(AnyStore::Pg(crate::PgStore::open(url, 2).await?))
    }
}

impl AnyStore {
    /// The highest migration applied to this store (0 before any).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        const Q: &str = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";
        match self {
            AnyStore::Sqlite(s) => sqlx::query_scalar(Q).fetch_one(s.pool()).await.map_err(db),
            AnyStore::Pg(s) => sqlx::query_scalar(Q).fetch_one(s.pool()).await.map_err(db),
        }
    }

    /// Writes a consistent snapshot into the (existing, empty) folder `dir`, without the settings
    /// named in `secrets`. `url` is the store's own (PostgreSQL: `pg_dump` connects with it) and
    /// `pg_bin` the folder of `pg_dump` (empty: the `PATH`).
    #[tracing::instrument(skip_all, fields(backend = self.backend()), err)]
    pub async fn snapshot(
        &self,
        url: &str,
        dir: &Path,
        secrets: &[&str],
        pg_bin: &Path,
    ) -> Result<SnapshotMeta, BackupError> {
        match self {
            AnyStore::Sqlite(s) => sqlite_snapshot(s.pool(), &dir.join(SQLITE_FILE), secrets).await,
            AnyStore::Pg(s) => pg_snapshot(s.pool(), url, dir, secrets, pg_bin).await,
        }
    }
}

async fn sqlite_snapshot(pool: &sqlx::SqlitePool, dest: &Path, secrets: &[&str]) -> Result<SnapshotMeta, BackupError> {
    let dest_text = dest.to_str().ok_or_else(|| BackupError::Target("the backup path is not UTF-8".into()))?;
    sqlx::query("VACUUM INTO ?").bind(dest_text).execute(pool).await.map_err(db)?;
    // The copy alone: the secrets out, their pages zeroed and dropped, one self-contained file.
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dest)
        .pragma("secure_delete", "on")
        .connect()
        .await
        .map_err(db)?;
    for name in secrets {
        sqlx::query("DELETE FROM settings WHERE name = ?").bind(*name).execute(&mut conn).await.map_err(db)?;
    }
    sqlx::query("VACUUM").execute(&mut conn).await.map_err(db)?;
    sqlx::query("PRAGMA journal_mode = DELETE").execute(&mut conn).await.map_err(db)?;
    let meta = read_meta_sqlite(&mut conn).await?;
    conn.close().await.map_err(db)?;
    Ok(SnapshotMeta { files: vec![SQLITE_FILE.into()], ..meta })
}

async fn read_meta_sqlite(conn: &mut sqlx::SqliteConnection) -> Result<SnapshotMeta, BackupError> {
    let schema_version: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
    let heads: Vec<(i32, i64, Vec<u8>)> = sqlx::query_as("SELECT chain, pos, hash FROM audit_head ORDER BY chain")
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    let checkpoints: Vec<crate::audit::CheckpointDb> =
        sqlx::query_as("SELECT chain, pos, hash, at, public_key, signature FROM audit_checkpoints ORDER BY chain, pos")
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
    Ok(SnapshotMeta {
        schema_version,
        heads: heads.into_iter().map(crate::audit::head_of).collect(),
        checkpoints: checkpoints.into_iter().map(crate::audit::CheckpointDb::into_domain).collect::<Result<_, _>>()?,
        files: Vec::new(),
        settings: Vec::new(),
        server_version: None,
        tool_version: None,
    })
}

/// A `postgres://` URL without its password, and the password (for `PGPASSWORD`, so that it is
/// never on a command line).
fn split_password(url: &str) -> Result<(String, Option<String>), BackupError> {
    let bad = || BackupError::Target("store.url is not a valid PostgreSQL URL".into());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return Ok((url.to_string(), None)) };
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(percent_decode(p))),
        None => (userinfo, None),
    };
    Ok((format!("{scheme}://{user}@{host}{tail}"), password))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A PostgreSQL client tool (`pg_dump`, `pg_restore`) in `pg_bin` (or the `PATH`).
fn tool(pg_bin: &Path, name: &str) -> PathBuf {
    if pg_bin.as_os_str().is_empty() { PathBuf::from(name) } else { pg_bin.join(name) }
}

/// The major version of a client tool (`pg_dump (PostgreSQL) 15.14 (Debian …)` → 15), and its
/// version line.
async fn tool_major(path: &Path) -> Result<(u32, String), BackupError> {
    let out = tokio::process::Command::new(path).arg("--version").output().await.map_err(|e| {
        BackupError::Tool(format!(
            "cannot run {}: {e} (install the PostgreSQL client of the server's version, or set backup.pg_bin_dir)",
            path.display()
        ))
    })?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major = line
        .split_whitespace()
        .find_map(|w| w.split('.').next().and_then(|m| m.parse::<u32>().ok()))
        .ok_or_else(|| BackupError::Tool(format!("{}: unexpected version `{line}`", path.display())))?;
    Ok((major, line))
}

/// Refuses a client tool older than the server: it could not read everything the server has.
async fn check_tool(path: &Path, server_num: i32) -> Result<String, BackupError> {
    let (major, line) = tool_major(path).await?;
    let server_major = u32::try_from(server_num / 10_000).unwrap_or(0);
    if major < server_major {
        return Err(BackupError::Tool(format!(
            "{} is version {major} but the server is PostgreSQL {server_major}: install the client tools of \
             version {server_major} or later (backup.pg_bin_dir)",
            path.display()
        )));
    }
    Ok(line)
}

async fn run_tool(mut cmd: tokio::process::Command, name: &str) -> Result<(), BackupError> {
    let out =
        cmd.stdin(Stdio::null()).output().await.map_err(|e| BackupError::Tool(format!("cannot run {name}: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(BackupError::Tool(format!("{name} failed ({}): {}", out.status, err.trim())));
    }
    Ok(())
}

async fn pg_snapshot(
    pool: &sqlx::PgPool,
    url: &str,
    dir: &Path,
    secrets: &[&str],
    pg_bin: &Path,
) -> Result<SnapshotMeta, BackupError> {
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await.map_err(db)?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()").fetch_one(&mut *tx).await.map_err(db)?;
    let server_num: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
    let server_version: String =
        sqlx::query_scalar("SELECT current_setting('server_version')").fetch_one(&mut *tx).await.map_err(db)?;
    let pg_dump = tool(pg_bin, "pg_dump");
    let tool_version = check_tool(&pg_dump, server_num).await?;
    let (plain, password) = split_password(url)?;
    let mut cmd = tokio::process::Command::new(&pg_dump);
    cmd.args(["--format=custom", "--no-owner", "--no-privileges"])
        .arg(format!("--snapshot={snapshot}"))
        // The settings go beside the dump, without the secrets.
        .arg("--exclude-table-data=settings")
        .arg("--file")
        .arg(dir.join(PG_FILE))
        .arg("--dbname")
        .arg(plain);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let dump = run_tool(cmd, "pg_dump");
    let read = async {
        let settings: Vec<(String, String)> =
            sqlx::query_as("SELECT name, value FROM settings ORDER BY name").fetch_all(&mut *tx).await.map_err(db)?;
        let settings: Vec<_> = settings.into_iter().filter(|(n, _)| !secrets.contains(&n.as_str())).collect();
        let schema_version: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        let heads: Vec<(i32, i64, Vec<u8>)> = sqlx::query_as("SELECT chain, pos, hash FROM audit_head ORDER BY chain")
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let checkpoints: Vec<crate::audit::CheckpointDb> = sqlx::query_as(
            "SELECT chain, pos, hash, at, public_key, signature FROM audit_checkpoints ORDER BY chain, pos",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        Ok::<_, BackupError>((settings, schema_version, heads, checkpoints))
    };
    // The transaction (and so the exported snapshot) stays open until the dump has finished.
    let (dumped, read) = tokio::join!(dump, read);
    dumped?;
    let (settings, schema_version, heads, checkpoints) = read?;
    tx.rollback().await.map_err(db)?;
    Ok(SnapshotMeta {
        schema_version,
        heads: heads.into_iter().map(crate::audit::head_of).collect(),
        checkpoints: checkpoints.into_iter().map(crate::audit::CheckpointDb::into_domain).collect::<Result<_, _>>()?,
        files: vec![PG_FILE.into()],
        settings,
        server_version: Some(server_version),
        tool_version: Some(tool_version),
    })
}

/// Restores a `pg_dump` snapshot into the empty database of `url`, then its kept settings. The
/// database must hold no tables: a restore never mixes two stores.
#[tracing::instrument(skip_all, err)]
pub async fn restore_postgres(
    url: &str,
    dump: &Path,
    settings: &[(String, String)],
    pg_bin: &Path,
) -> Result<String, BackupError> {
    let store = crate::PgStore::open(url, 2).await?;
    let pool = store.pool();
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_one(pool)
            .await
            .map_err(db)?;
    if tables > 0 {
        store.close().await;
        return Err(BackupError::Target(format!(
            "the database of store.url is not empty ({tables} tables): restore into a new, empty database"
        )));
    }
    let server_num: i32 =
        sqlx::query_scalar("SELECT current_setting('server_version_num')::int").fetch_one(pool).await.map_err(db)?;
    let pg_restore = tool(pg_bin, "pg_restore");
    let version = check_tool(&pg_restore, server_num).await?;
    let (plain, password) = split_password(url)?;
    let mut cmd = tokio::process::Command::new(&pg_restore);
    cmd.args(["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"])
        .arg("--dbname")
        .arg(plain)
        .arg(dump);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let restored = run_tool(cmd, "pg_restore").await;
    if let Err(e) = restored {
        store.close().await;
        return Err(e);
    }
    let mut tx = pool.begin().await.map_err(db)?;
    for (name, value) in settings {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    store.close().await;
    Ok(version)
}

/// Empties the database of `url` again (its `public` schema), after a restore that failed its
/// checks.
pub async fn empty_postgres(url: &str) -> Result<(), StoreError> {
    let store = crate::PgStore::open(url, 1).await?;
    let pool = store.pool();
    let mut conn = pool.acquire().await.map_err(db)?;
    sqlx::query("DROP SCHEMA public CASCADE").execute(&mut *conn).await.map_err(db)?;
    sqlx::query("CREATE SCHEMA public").execute(&mut *conn).await.map_err(db)?;
    drop(conn);
    store.close().await;
    Ok(())
}

/// The file of a `sqlite:` URL (`sqlite://PATH`, `sqlite:PATH`, query dropped).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// The schema version of a SQLite file, read without changing it.
pub async fn sqlite_file_schema(path: &Path) -> Result<i64, BackupError> {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite:")
        .map_err(db)?
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(db)?;
    let v = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut conn)
        .await
        .map_err(db)?;
    conn.close().await.map_err(db)?;
    Ok(v)
}

/// Copies `file` to `dest` (which must not exist), flushed to disk.
pub fn copy_new(file: &Path, dest: &Path) -> Result<(), BackupError> {
    let mut src = std::fs::File::open(file).map_err(io(format!("while opening {}", file.display())))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(io(format!("while creating {}", dest.display())))?;
    std::io::copy(&mut src, &mut out).map_err(io(format!("while writing {}", dest.display())))?;
    out.sync_all().map_err(io(format!("while flushing {}", dest.display())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_leave_the_url_for_the_environment() {
        assert_eq!(
            split_password("postgres://orgid:p%40ss:w@db:5432/orgid?sslmode=require").unwrap(),
            ("postgres://orgid@db:5432/orgid?sslmode=require".to_string(), Some("p@ss:w".to_string()))
        );
        assert_eq!(split_password("postgres://db/orgid").unwrap(), ("postgres://db/orgid".to_string(), None));
        assert_eq!(
            sqlite_path("sqlite:///var/lib/orgid/orgid.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/orgid/orgid.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
