//! A private OpenLDAP slapd per test: mdb backend, the ppolicy overlay with a default policy
//! that enforces `pwdAccountLockedTime` (`pwdLockout: TRUE`), the base entry and `ou=policies`.
//! Stopped by PID on drop (SIGTERM, then SIGKILL after 5 s); its temp dir goes with it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SLAPD: &str = "/usr/sbin/slapd";
const INSTALL: &str = "install slapd: apt-get install -y slapd ldap-utils";
const BASE_DN: &str = "dc=example,dc=com";
const BIND_DN: &str = "cn=admin,dc=example,dc=com";
const BIND_PASSWORD: &str = "secret";

const SEED: &str = "dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=policies,dc=example,dc=com
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,dc=example,dc=com
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
";

#[derive(Debug)]
pub struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Slapd {
    /// Starts slapd on a free loopback port and seeds it; panics with the reason (and slapd's
    /// log) if it cannot.
    pub async fn start() -> Slapd {
        for bin in [SLAPD, "/usr/bin/ldapsearch", "/usr/bin/ldapadd", "/usr/bin/ldapmodify", "/usr/bin/ldapwhoami"] {
            crate::require(bin, INSTALL);
        }
        let mut last_log = String::new();
        for _ in 0..3 {
            let mut slapd = Slapd::launch(crate::free_port());
            match slapd.wait_ready().await {
                Ok(()) => {
                    slapd.add(SEED).await;
                    return slapd;
                }
                // Most likely the port was taken in the meantime: try another.
                Err(log) => last_log = log,
            }
        }
        panic!("slapd did not start; log:\n{last_log}");
    }

    fn launch(port: u16) -> Slapd {
        let dir = tempfile::Builder::new().prefix("orgid-slapd-").tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        std::fs::create_dir(dir.path().join("data")).unwrap_or_else(|e| panic!("creating the data dir: {e}"));
        std::fs::write(dir.path().join("slapd.conf"), config(dir.path()))
            .unwrap_or_else(|e| panic!("writing slapd.conf: {e}"));
        let log = std::fs::File::create(dir.path().join("slapd.log")).unwrap_or_else(|e| panic!("slapd.log: {e}"));
        let err = log.try_clone().unwrap_or_else(|e| panic!("slapd.log: {e}"));
        // `-d 0` keeps slapd in the foreground, so the child is slapd itself.
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(dir.path().join("slapd.conf"))
            .args(["-h", &format!("ldap://127.0.0.1:{port}/"), "-d", "0"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {SLAPD}: {e}"));
        Slapd { dir, port, child }
    }

    /// How slapd ended, if it has (a crash shows as a signal); `None` while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn base_dn(&self) -> &'static str {
        BASE_DN
    }

    /// The rootdn.
    pub fn bind_dn(&self) -> &'static str {
        BIND_DN
    }

    pub fn bind_password(&self) -> &'static str {
        BIND_PASSWORD
    }

    /// Adds the entries of `ldif` as the rootdn; panics with ldapadd's message on failure.
    pub async fn add(&self, ldif: &str) {
        self.ldap_tool("/usr/bin/ldapadd", ldif).await;
    }

    /// Applies `ldif` change records as the rootdn; panics with ldapmodify's message on failure.
    pub async fn modify(&self, ldif: &str) {
        self.ldap_tool("/usr/bin/ldapmodify", ldif).await;
    }

    /// Binds as `dn` with `password` (`ldapwhoami`) and returns the LDAP result code: 0 on
    /// success, 49 for invalid credentials (also a locked account).
    pub async fn bind_result(&self, dn: &str, password: &str) -> i32 {
        let out = tokio::process::Command::new("/usr/bin/ldapwhoami")
            .args(["-x", "-H", &self.url(), "-D", dn, "-w", password])
            .output()
            .await
            .unwrap_or_else(|e| panic!("running ldapwhoami: {e}"));
        out.status.code().unwrap_or(-1)
    }

    /// `ldapsearch` as the rootdn, LDIF output without comments; panics on failure.
    pub async fn search(&self, base: &str, scope: &str, filter: &str) -> String {
        let out = tokio::process::Command::new("/usr/bin/ldapsearch")
            .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &self.url(), "-D", BIND_DN, "-w", BIND_PASSWORD])
            .args(["-b", base, "-s", scope, filter])
            .output()
            .await
            .unwrap_or_else(|e| panic!("running ldapsearch: {e}"));
        if !out.status.success() {
            panic!("ldapsearch -b {base} {filter} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills slapd at once (SIGKILL, as a crash would stop it) and waits until it is gone; the
    /// data stays for [`restart`](Self::restart).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts slapd again on the same port and data (after [`kill`](Self::kill)); panics with
    /// its log if it does not answer.
    pub async fn restart(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("slapd.log"))
            .unwrap_or_else(|e| panic!("slapd.log: {e}"));
        let err = log.try_clone().unwrap_or_else(|e| panic!("slapd.log: {e}"));
        self.child = Command::new(SLAPD)
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &format!("ldap://127.0.0.1:{}/", self.port), "-d", "0"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {SLAPD}: {e}"));
        if let Err(log) = self.wait_ready().await {
            panic!("slapd did not start again; log:\n{log}");
        }
    }

    async fn ldap_tool(&self, tool: &str, ldif: &str) {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", BIND_DN, "-w", BIND_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {tool}: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(ldif.as_bytes()).await.unwrap_or_else(|e| panic!("writing to {tool}: {e}"));
        }
        let out = child.wait_with_output().await.unwrap_or_else(|e| panic!("running {tool}: {e}"));
        if !out.status.success() {
            panic!("{tool} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
        }
    }

    /// Polls the root DSE until slapd answers; on failure returns its log.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = tokio::process::Command::new("/usr/bin/ldapsearch")
                .args(["-x", "-H", &self.url(), "-b", "", "-s", "base", "(objectClass=*)"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            let exited = self.child.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                return Err(std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, wait up to 5 s, then SIGKILL; always reaps the child.
    fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("/usr/bin/kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "include   /etc/ldap/schema/core.schema
include   /etc/ldap/schema/cosine.schema
include   /etc/ldap/schema/inetorgperson.schema
include   /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile   {d}/slapd.pid
argsfile  {d}/slapd.args
database  mdb
maxsize   1073741824
suffix    \"{BASE_DN}\"
rootdn    \"{BIND_DN}\"
rootpw    {BIND_PASSWORD}
directory {d}/data
dbnosync
index     objectClass eq
index     uid,employeeNumber eq
overlay   ppolicy
ppolicy_default \"cn=default,ou=policies,{BASE_DN}\"
"
    )
}
