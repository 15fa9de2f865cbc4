//! A private Apache httpd (Debian's `apache2`) with `mod_auth_cas`: a real CAS client in front of
//! a CGI page that prints what the module passed on (`REMOTE_USER`, the `CAS_*` attribute
//! headers). One server per test, on a free loopback port, from a temp dir; stopped (its process
//! group) on drop.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const APACHE: &str = "/usr/sbin/apache2";
const MOD_AUTH_CAS: &str = "/usr/lib/apache2/modules/mod_auth_cas.so";
const INSTALL: &str = "apt-get install apache2 libapache2-mod-auth-cas";

pub struct Apache {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

/// The page behind CAS: the CGI environment, one `NAME=value` a line.
const CGI: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain; charset=utf-8\\n\\n'\nenv | sort\n";

fn config(d: &Path, port: u16, cas_base: &str) -> String {
    let d = d.display();
    format!(
        r#"ServerRoot "{d}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{d}/run/httpd.pid"
DefaultRuntimeDir "{d}/run"
ErrorLog "{d}/logs/error.log"
LogLevel warn auth_cas:debug
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module  /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authn_core_module  /usr/lib/apache2/modules/mod_authn_core.so
LoadModule authz_user_module  /usr/lib/apache2/modules/mod_authz_user.so
LoadModule mime_module        /usr/lib/apache2/modules/mod_mime.so
LoadModule dir_module         /usr/lib/apache2/modules/mod_dir.so
LoadModule cgi_module         /usr/lib/apache2/modules/mod_cgi.so
LoadModule auth_cas_module    {MOD_AUTH_CAS}
User www-data
Group www-data
TypesConfig /etc/mime.types
DocumentRoot "{d}/www"
CASLoginURL {cas_base}/cas/login
CASValidateURL {cas_base}/cas/p3/serviceValidate
CASVersion 2
CASCookiePath {d}/cas/
CASAttributePrefix CAS-
CASDebug On
CASSSOEnabled On
CASValidateSAML Off
CASCertificatePath /etc/ssl/certs/
<Directory "{d}/www/protected">
  Options +ExecCGI
  AddHandler cgi-script .cgi
  DirectoryIndex index.cgi
  AuthType CAS
  CASCookie ORGID_TEST_CAS
  CASAuthNHeader CAS-User
  Require valid-user
</Directory>
"#
    )
}

impl Apache {
    /// Starts httpd in front of the CAS server at `cas_base` (`http://127.0.0.1:PORT`); the
    /// protected page is [`Apache::protected`].
    pub async fn start(cas_base: &str) -> Apache {
        crate::require(APACHE, INSTALL);
        crate::require(MOD_AUTH_CAS, INSTALL);
        let mut last = String::new();
        for _ in 0..3 {
            let mut a = Apache::launch(crate::free_port(), cas_base);
            match a.wait_ready().await {
                Ok(()) => return a,
                Err(log) => last = log,
            }
        }
        panic!("apache2 did not start; log:\n{last}");
    }

    fn launch(port: u16, cas_base: &str) -> Apache {
        let dir =
            tempfile::Builder::new().prefix("orgid-apache-").tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let d = dir.path();
        for sub in ["run", "logs", "cas", "www/protected"] {
            std::fs::create_dir_all(d.join(sub)).unwrap_or_else(|e| panic!("{sub}: {e}"));
        }
        std::fs::write(d.join("httpd.conf"), config(d, port, cas_base)).unwrap_or_else(|e| panic!("httpd.conf: {e}"));
        let cgi = d.join("www/protected/index.cgi");
        std::fs::write(&cgi, CGI).unwrap_or_else(|e| panic!("index.cgi: {e}"));
        // The children run as www-data: the tree readable, the CGI executable, the module's
        // cookie cache writable.
        for (p, mode) in [(d.to_path_buf(), 0o755), (d.join("www"), 0o755), (d.join("www/protected"), 0o755)] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(d.join("cas"), std::fs::Permissions::from_mode(0o777))
            .unwrap_or_else(|e| panic!("{e}"));
        let log = std::fs::File::create(d.join("logs/stdout.log")).unwrap_or_else(|e| panic!("log: {e}"));
        let err = log.try_clone().unwrap_or_else(|e| panic!("log: {e}"));
        let child = Command::new(APACHE)
            .arg("-f")
            .arg(d.join("httpd.conf"))
            .arg("-DFOREGROUND")
            .env("APACHE_RUN_DIR", d.join("run"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {APACHE}: {e}"));
        Apache { dir, port, child }
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(self.log());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(self.log())
    }

    /// The protected page's URL (the CAS service it signs in to).
    pub fn protected(&self) -> String {
        format!("http://127.0.0.1:{}/protected/", self.port)
    }

    /// The service URLs as an anchored pattern, for the CAS client's registration.
    pub fn service_pattern(&self) -> String {
        format!("^http://127\\.0\\.0\\.1:{}/protected/.*$", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The error log and stdout, for a failed assertion's message.
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join("logs").join(f)).unwrap_or_default();
        format!("{}{}", read("error.log"), read("stdout.log"))
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        // The whole process group: the parent and its prefork children.
        let pgid = self.child.id();
        let _ = Command::new("/usr/bin/kill")
            .args(["-TERM", "--", &format!("-{pgid}")])
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
