//! Notifiers: how a notice (an alert) reaches people. `Mailer` speaks SMTP (RFC 5321) to a relay:
//! EHLO, MAIL FROM, RCPT TO, DATA, QUIT, in UTF-8 (8BITMIME when offered), without TLS or
//! authentication (a relay on the host or the local network does those). Written here rather than
//! with a mail crate: these five commands are all orgid sends, and a crate such as lettre brings
//! some forty more to build for them.

use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Why a notice was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot reach the mail relay {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("the mail relay answered `{0}`")]
    Refused(String),
    #[error("mail relay: {0}")]
    Io(#[from] std::io::Error),
    #[error("the mail relay did not answer within {0:?}")]
    Timeout(Duration),
}

/// Something that delivers a notice.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, subject: &str, body: &str) -> Result<(), NotifyError>;
}

/// Mail through an SMTP relay.
#[derive(Debug, Clone)]
pub struct Mailer {
    pub addr: String,
    pub from: String,
    pub to: Vec<String>,
    pub timeout: Duration,
}

#[async_trait]
impl Notifier for Mailer {
    async fn send(&self, subject: &str, body: &str) -> Result<(), NotifyError> {
        tokio::time::timeout(self.timeout, self.session(subject, body))
            .await
            .map_err(|_| NotifyError::Timeout(self.timeout))?
    }
}

/// One line of headers or text: no bare CR or LF can end it early and inject another.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

impl Mailer {
    async fn session(&self, subject: &str, body: &str) -> Result<(), NotifyError> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|source| NotifyError::Connect { addr: self.addr.clone(), source })?;
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        expect(&mut read, 220).await?;
        write.write_all(b"EHLO orgid\r\n").await?;
        expect(&mut read, 250).await?;
        write.write_all(format!("MAIL FROM:<{}>\r\n", one_line(&self.from)).as_bytes()).await?;
        expect(&mut read, 250).await?;
        for to in &self.to {
            write.write_all(format!("RCPT TO:<{}>\r\n", one_line(to)).as_bytes()).await?;
            expect(&mut read, 250).await?;
        }
        write.write_all(b"DATA\r\n").await?;
        expect(&mut read, 354).await?;
        let mut msg = format!(
            "From: <{}>\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
            one_line(&self.from),
            self.to.iter().map(|t| format!("<{}>", one_line(t))).collect::<Vec<_>>().join(", "),
            one_line(subject),
            chrono::Utc::now().to_rfc2822(),
        );
        for line in body.lines() {
            // Dot-stuffing (RFC 5321 4.5.2): a line starting with "." gets another.
            if line.starts_with('.') {
                msg.push('.');
            }
            msg.push_str(&line.replace('\r', ""));
            msg.push_str("\r\n");
        }
        msg.push_str(".\r\n");
        write.write_all(msg.as_bytes()).await?;
        expect(&mut read, 250).await?;
        write.write_all(b"QUIT\r\n").await?;
        let _ = expect(&mut read, 221).await;
        Ok(())
    }
}

/// Reads one reply (its continuation lines too) and checks its code.
async fn expect<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R, code: u16) -> Result<(), NotifyError> {
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Err(NotifyError::Refused("(connection closed)".into()));
        }
        let got: Option<u16> = line.get(..3).and_then(|c| c.parse().ok());
        if got != Some(code) {
            return Err(NotifyError::Refused(line.trim_end().chars().take(200).collect()));
        }
        // "250-…" continues, "250 …" ends.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}
