//! A private PostgreSQL 15 for the whole test process, a fresh database per test.
//!
//! Lifetime: `postgres` runs under a small `sh` guard whose stdin is a pipe from this process.
//! The pipe is never closed by us; when the test process exits (normally, by panic or by a
//! signal) the kernel closes it, the guard's `cat` sees end-of-file, and the guard stops
//! postgres (SIGINT, fast shutdown), waits for it and deletes the data dir. So no server or temp
//! dir outlives `cargo test`, and nothing depends on destructors of statics (which never run).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PGBIN: &str = "/usr/lib/postgresql/15/bin";
const INSTALL: &str = "install PostgreSQL 15: apt-get install -y postgresql";
const PASSWORD: &str = "pgpass";

/// Stops postgres when our end of its stdin closes (see the module doc). `$1` is the temp dir,
/// the rest is the postgres command line. The dir is removed only once the server had started
/// (`cleanup` exists), so that a failed start can be retried on another port.
const GUARD: &str = r#"D=$1; shift
"$@" </dev/null >"$D/server.log" 2>&1 &
pg=$!
echo "$pg" >"$D/server.pid"
cat >/dev/null
kill -INT "$pg" 2>/dev/null
wait "$pg"
if [ -e "$D/cleanup" ]; then rm -rf "$D"; fi
"#;

#[derive(Debug)]
pub struct Postgres {
    dir: PathBuf,
    port: u16,
    next_db: AtomicU64,
    /// Held for its stdin: dropping that pipe stops the server.
    _guard: Child,
}

static SHARED: OnceLock<Postgres> = OnceLock::new();

impl Postgres {
    /// The server of this test process, started (initdb + start, about a second) on first use.
    /// Blocks; panics with the reason (and the server log) if it cannot start.
    pub fn shared() -> &'static Postgres {
        SHARED.get_or_init(Postgres::start)
    }

    fn start() -> Postgres {
        require_binaries();
        let owner = if crate::is_root() { Some(postgres_user()) } else { None };
        // Short path: the socket (`-k`) must stay under 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("orgid-pg-")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("temp dir for PostgreSQL: {e}"))
            .keep();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {dir:?}: {e}"));
        }
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, PASSWORD).unwrap_or_else(|e| panic!("writing {pwfile:?}: {e}"));
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown: {e}"));
        }
        let out = as_owner(Command::new(format!("{PGBIN}/initdb")), owner, &dir)
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap_or_else(|e| panic!("running initdb: {e}"));
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            panic!("initdb failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }

        let mut last_log = String::new();
        for _ in 0..3 {
            let port = crate::free_port();
            let mut guard = as_owner(Command::new("/bin/sh"), owner, &dir)
                .args(["-c", GUARD, "sh"])
                .arg(&dir)
                .arg(format!("{PGBIN}/postgres"))
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-p", &port.to_string(), "-k"])
                .arg(&dir)
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=64MB"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting postgres: {e}"));
            match wait_ready(&dir, port) {
                Ok(()) => {
                    std::fs::write(dir.join("cleanup"), "").unwrap_or_else(|e| panic!("writing to {dir:?}: {e}"));
                    return Postgres { dir, port, next_db: AtomicU64::new(1), _guard: guard };
                }
                Err(log) => {
                    last_log = log;
                    // Closing its stdin makes the guard stop whatever started and exit.
                    drop(guard.stdin.take());
                    let _ = guard.wait();
                    let _ = std::fs::remove_file(dir.join("server.pid"));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("PostgreSQL did not start; server log:\n{last_log}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the `postgres` database, as the superuser.
    pub fn admin_url(&self) -> String {
        self.url("postgres")
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database (`t_<n>`) and returns its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!("t_{}", self.next_db.fetch_add(1, Ordering::Relaxed));
        let out = tokio::process::Command::new(format!("{PGBIN}/psql"))
            .arg("-h")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres", "-X", "-q"])
            .args(["-v", "ON_ERROR_STOP=1", "-c", &format!("CREATE DATABASE {name}")])
            .output()
            .await
            .unwrap_or_else(|e| panic!("running psql: {e}"));
        if !out.status.success() {
            panic!("CREATE DATABASE {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        self.url(&name)
    }
}

fn require_binaries() {
    for bin in ["initdb", "postgres", "psql", "pg_isready"] {
        crate::require(&format!("{PGBIN}/{bin}"), INSTALL);
    }
}

/// initdb and postgres refuse to run as root: run them as `postgres` (like `runuser -u postgres`,
/// without an intermediate process between the guard and the server).
fn as_owner(mut cmd: Command, owner: Option<(u32, u32)>, dir: &Path) -> Command {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid).env("HOME", dir).env("USER", "postgres");
    }
    cmd.current_dir(dir);
    cmd
}

fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_else(|e| panic!("reading /etc/passwd: {e}"));
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == "postgres").then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?))).flatten()
        })
        .unwrap_or_else(|| panic!("no `postgres` user in /etc/passwd: {INSTALL}"))
}

/// Waits until the server accepts connections; on failure returns its log.
fn wait_ready(dir: &Path, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = || {
        let mut s = String::new();
        let _ = std::fs::File::open(dir.join("server.log")).and_then(|mut f| f.read_to_string(&mut s));
        s
    };
    loop {
        let ok = Command::new(format!("{PGBIN}/pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-t", "1"])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
        if !server_alive(dir) || Instant::now() > deadline {
            return Err(log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the server the guard started is still running (not gone, not a zombie). Unknown yet
/// (no pid file) counts as alive.
fn server_alive(dir: &Path) -> bool {
    let Ok(pid) = std::fs::read_to_string(dir.join("server.pid")) else { return true };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) else { return false };
    // The state follows the parenthesised command name.
    stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))
}
