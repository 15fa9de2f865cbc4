//! A private Apache httpd (Debian's `apache2`) as a real relying party: a temp dir with its own
//! configuration, a CGI page under `/protected/` that prints its environment (what an auth
//! module passed on: `REMOTE_USER`, `MELLON_*`, CAS attributes), on a free loopback port.
//!
//! The caller gets the port and dir first ([`Apache::new`]) to write the module's files (keys,
//! metadata) that name them, then [`Apache::start`]s it with the modules to load and the
//! module's directives. Stopped on drop (SIGTERM to its parent process, which stops the workers).
//! [`Apache::cas`] is one set up with `mod_auth_cas` in front of a CAS server.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";
const MOD_AUTH_CAS: &str = "/usr/lib/apache2/modules/mod_auth_cas.so";

pub struct Apache {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

/// The CGI that shows what the module passed on, one `NAME=value` a line.
const INDEX_CGI: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain; charset=utf-8\\n\\n'\nenv | sort\n";

impl Apache {
    /// A temp dir (`www/protected/index.cgi`, `run/`, `logs/`) and a port, not yet serving.
    pub fn new() -> Apache {
        crate::require(APACHE, "apt-get install apache2");
        let dir =
            tempfile::Builder::new().prefix("orgid-apache-").tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        for sub in ["run", "logs", "www/protected"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap_or_else(|e| panic!("mkdir {sub}: {e}"));
        }
        let cgi = dir.path().join("www/protected/index.cgi");
        std::fs::write(&cgi, INDEX_CGI).unwrap_or_else(|e| panic!("writing the CGI: {e}"));
        std::fs::write(dir.path().join("www/index.html"), "public\n").unwrap_or_else(|e| panic!("{e}"));
        // The workers run as www-data: they must reach the pages.
        for p in [dir.path(), &dir.path().join("www"), &dir.path().join("www/protected")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
        Apache { dir, port: crate::free_port(), child: None }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A file in the temp dir, written (readable by the workers).
    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {name}: {e}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    /// Starts httpd with `modules` (`(name, file)`, e.g. `("auth_mellon_module", "mod_auth_mellon.so")`)
    /// loaded besides the basic ones, and `site` (the module's directives and `<Location>`s)
    /// appended to the configuration; waits until it answers. Panics with the error log if the
    /// configuration is refused or the server does not come up.
    pub async fn start(&mut self, modules: &[(&str, &str)], site: &str) {
        let d = self.dir.path().display();
        let mut conf = format!(
            "ServerRoot \"{d}\"\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\nPidFile \"{d}/run/httpd.pid\"\n\
DefaultRuntimeDir \"{d}/run\"\nErrorLog \"{d}/logs/error.log\"\nLogLevel info\n",
            port = self.port
        );
        let basic = [
            ("mpm_prefork_module", "mod_mpm_prefork.so"),
            ("authz_core_module", "mod_authz_core.so"),
            ("authn_core_module", "mod_authn_core.so"),
            ("authz_user_module", "mod_authz_user.so"),
            ("mime_module", "mod_mime.so"),
            ("dir_module", "mod_dir.so"),
            ("cgi_module", "mod_cgi.so"),
            ("env_module", "mod_env.so"),
        ];
        for (name, file) in basic.iter().chain(modules) {
            conf.push_str(&format!("LoadModule {name} {MODULES}/{file}\n"));
        }
        conf.push_str(&format!(
            "User www-data\nGroup www-data\nTypesConfig /etc/mime.types\nDocumentRoot \"{d}/www\"\n\
<Directory \"{d}/www/protected\">\n  Options +ExecCGI\n  AddHandler cgi-script .cgi\n  DirectoryIndex index.cgi\n</Directory>\n{site}\n"
        ));
        let conf_path = self.dir.path().join("httpd.conf");
        std::fs::write(&conf_path, conf).unwrap_or_else(|e| panic!("writing httpd.conf: {e}"));
        let check = Command::new(APACHE).arg("-f").arg(&conf_path).arg("-t").output().unwrap_or_else(|e| panic!("{e}"));
        assert!(check.status.success(), "httpd.conf refused: {}", String::from_utf8_lossy(&check.stderr));
        let child = Command::new(APACHE)
            .arg("-f")
            .arg(&conf_path)
            .arg("-DFOREGROUND")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting apache2: {e}"));
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("apache2 did not come up: {}", self.error_log());
    }

    /// The error log so far (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/error.log")).unwrap_or_default()
    }
}

impl Apache {
    /// httpd with `mod_auth_cas` in front of the CAS server at `cas_base`
    /// (`http://127.0.0.1:PORT`); the page it protects is [`Apache::protected`].
    pub async fn cas(cas_base: &str) -> Apache {
        crate::require(MOD_AUTH_CAS, "apt-get install apache2 libapache2-mod-auth-cas");
        let apache = Apache::new();
        // The module's ticket cache, written by the workers (www-data).
        let cache = apache.dir().join("cas");
        std::fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("mkdir cas: {e}"));
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap_or_else(|e| panic!("{e}"));
        let d = apache.dir().display().to_string();
        let site = format!(
            r#"LogLevel info auth_cas:debug
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
  AuthType CAS
  CASCookie ORGID_TEST_CAS
  CASAuthNHeader CAS-User
  Require valid-user
</Directory>
"#
        );
        let mut apache = apache;
        apache.start(&[("auth_cas_module", "mod_auth_cas.so")], &site).await;
        apache
    }

    /// The protected page's URL (the CAS service it signs in to).
    pub fn protected(&self) -> String {
        format!("http://127.0.0.1:{}/protected/", self.port)
    }

    /// The protected pages as an anchored pattern, for a CAS client's registration.
    pub fn service_pattern(&self) -> String {
        format!("^http://127\\.0\\.0\\.1:{}/protected/.*$", self.port)
    }

    /// The error log, for a failed assertion's message.
    pub fn log(&self) -> String {
        self.error_log()
    }
}

impl Default for Apache {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM to the parent alone (a positive pid, after `--`): httpd stops its own
            // workers. Never a negative (group) pid through kill(1): misread, it reaches every
            // process on the machine.
            let _ = Command::new("kill").args(["-s", "TERM", "--", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}
