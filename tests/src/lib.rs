//! The test kit: real servers for end-to-end tests, each on a free loopback port in its own temp
//! dir. `Postgres` is one server per test process with a fresh database per test; `Slapd` is one
//! server per test; `Apache` (httpd with an auth module, mod_auth_cas or mod_auth_mellon, in front
//! of a CGI page) one per test; `WecomDouble` answers WeCom's API; `TestDatabase` gives a store URL
//! for either backend.

mod apache;
pub mod browser;
mod pg;
mod slapd;
mod smtp;
pub mod wecom;

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub use apache::Apache;
pub use browser::Browser;
pub use pg::Postgres;
pub use slapd::Slapd;
pub use smtp::Smtp;
pub use wecom::WecomDouble;

/// The store backends, for tests that run the same body against both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An empty store database: a SQLite file in a temp dir, or a fresh database on the shared
/// PostgreSQL server. The SQLite file goes away on drop; PostgreSQL databases go with the server.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> Self {
        let dir =
            tempfile::Builder::new().prefix("orgid-sqlite-").tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let url = format!("sqlite:{}", dir.path().join("orgid.db").display());
        Self { url, backend: Backend::Sqlite, _dir: Some(dir) }
    }

    pub async fn postgres() -> Self {
        let url = Postgres::shared().fresh_database().await;
        Self { url, backend: Backend::Postgres, _dir: None }
    }
}

/// A loopback port that was free a moment ago. Racy by nature: servers started on it are retried
/// on a new port if they fail to bind.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("binding 127.0.0.1:0: {e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("local address: {e}")).port()
}

/// Whether this process runs as root (the owner of `/proc/self` is our effective uid).
pub(crate) fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Panics with the install command if `path` is missing.
pub(crate) fn require(path: &str, install: &str) {
    if !Path::new(path).exists() {
        panic!("{path} not found: {install}");
    }
}
