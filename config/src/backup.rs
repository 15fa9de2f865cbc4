//! `[backup]`: where `orgid backup` writes snapshots, `serve`'s schedule of them, how many are
//! kept, and where the PostgreSQL client tools are.

use std::path::PathBuf;

use serde::Deserialize;

/// `[backup]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// The folder of snapshots (`orgid backup` without `--to`, and the schedule); relative paths
    /// are relative to this file. Each snapshot is a folder `orgid-<UTC time>` in it.
    pub dir: PathBuf,
    /// Cron (with seconds) of a snapshot inside `serve`, in `sync.timezone`; "" = none.
    pub schedule: String,
    /// Snapshots kept in `dir` after a scheduled one (the oldest go first); at least 1.
    pub keep: u32,
    /// Folder of `pg_dump` and `pg_restore` (PostgreSQL stores); "" = found on the `PATH`. They
    /// must be of the server's major version or later.
    pub pg_bin_dir: PathBuf,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("backups"), schedule: String::new(), keep: 7, pg_bin_dir: PathBuf::new() }
    }
}

pub(crate) fn validate(cfg: &crate::Config, err: &mut dyn FnMut(&str, String)) {
    let b = &cfg.backup;
    if b.dir.as_os_str().is_empty() {
        err("backup.dir", "must name a folder".into());
    }
    if b.keep == 0 {
        err("backup.keep", "must be at least 1 (the snapshot just taken)".into());
    }
    if !b.schedule.trim().is_empty()
        && let Err(e) = <cron::Schedule as std::str::FromStr>::from_str(&b.schedule)
    {
        err("backup.schedule", format!("`{}` is not a cron expression with seconds: {e}", b.schedule));
    }
    if !b.pg_bin_dir.as_os_str().is_empty() && !b.pg_bin_dir.is_dir() {
        err("backup.pg_bin_dir", format!("`{}` is not a folder", b.pg_bin_dir.display()));
    }
}
