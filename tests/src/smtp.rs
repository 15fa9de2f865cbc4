//! A real local SMTP server per test: aiosmtpd (PyPI: `python3 -m pip install aiosmtpd`) on a free
//! loopback port, its Mailbox handler writing each message it accepts into a maildir in a temp
//! dir. Stopped by PID on drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "install aiosmtpd: python3 -m pip install aiosmtpd";

#[derive(Debug)]
pub struct Smtp {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Smtp {
    /// Starts the server and waits until it answers; panics with the reason if it cannot.
    pub async fn start() -> Smtp {
        let ok = Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
        assert!(ok, "aiosmtpd is not installed: {INSTALL}");
        for _ in 0..3 {
            let dir =
                tempfile::Builder::new().prefix("orgid-smtp-").tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
            let maildir = dir.path().join("mail");
            let port = crate::free_port();
            let child = Command::new("python3")
                .args(["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Mailbox", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .arg(&maildir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting aiosmtpd: {e}; {INSTALL}"));
            let mut smtp = Smtp { dir, port, child };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    return smtp;
                }
                if smtp.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Most likely the port was taken in the meantime (dropping it stops it): another one.
            drop(smtp);
        }
        panic!("aiosmtpd did not start");
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, as text.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail").join(sub)) {
                for e in entries.flatten() {
                    out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
