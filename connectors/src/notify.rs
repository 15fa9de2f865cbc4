//! Notifiers: how a notice (an alert) reaches people. `Mailer` hands mail to an SMTP relay with
//! lettre (RFC 5321 submission, RFC 5322 message, the subject RFC 2047-encoded when it is not
//! ASCII, as Chinese subjects are), without TLS or authentication: a relay on the host or the
//! local network does those.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// Why a notice was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot reach the mail relay {addr}: {why}")]
    Connect { addr: String, why: String },
    #[error("the mail relay answered `{0}`")]
    Refused(String),
    #[error("the mail address `{addr}` is not valid: {why}")]
    Address { addr: String, why: String },
    #[error("the mail relay did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the notice cannot be made into a message: {0}")]
    Message(String),
    #[error("the notice command {0}")]
    Command(String),
    #[error("WeCom did not deliver the notice: {0}")]
    Wecom(String),
}

/// Something that delivers a notice.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, subject: &str, body: &str) -> Result<(), NotifyError>;
}

/// Mail through an SMTP relay.
#[derive(Debug, Clone)]
pub struct Mailer {
    /// `host:port` of the relay.
    pub addr: String,
    pub from: String,
    pub to: Vec<String>,
    pub timeout: Duration,
}

#[async_trait]
impl Notifier for Mailer {
    async fn send(&self, subject: &str, body: &str) -> Result<(), NotifyError> {
        let message = self.message(subject, body)?;
        let (host, port) = match self.addr.rsplit_once(':') {
            Some((h, p)) => (h.trim_start_matches('[').trim_end_matches(']'), p.parse().unwrap_or(25)),
            None => (self.addr.as_str(), 25),
        };
        // Plain SMTP to the relay (no TLS: see the module doc).
        let relay = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(self.timeout))
            .build();
        let sent = tokio::time::timeout(self.timeout, relay.send(message))
            .await
            .map_err(|_| NotifyError::Timeout(self.timeout))?;
        sent.map(drop).map_err(|e| {
            if e.is_permanent() || e.is_transient() {
                NotifyError::Refused(e.to_string().chars().take(200).collect())
            } else {
                NotifyError::Connect { addr: self.addr.clone(), why: e.to_string() }
            }
        })
    }
}

/// A program run once per notice (an SMS or WeCom gateway script, a pager): the subject in
/// `ORGID_ALERT_SUBJECT`, the text on standard input; it has delivered when it exits 0 within
/// `timeout`.
#[derive(Debug, Clone)]
pub struct CommandNotifier {
    /// The program and its arguments (no shell).
    pub argv: Vec<String>,
    pub timeout: Duration,
}

#[async_trait]
impl Notifier for CommandNotifier {
    async fn send(&self, subject: &str, body: &str) -> Result<(), NotifyError> {
        use tokio::io::AsyncWriteExt;
        let Some((program, args)) = self.argv.split_first() else {
            return Err(NotifyError::Command("is empty".into()));
        };
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .env("ORGID_ALERT_SUBJECT", subject)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| NotifyError::Command(format!("`{program}` cannot be started: {e}")))?;
        let run = async {
            if let Some(mut stdin) = child.stdin.take() {
                // A program that does not read its input still gets to answer by its exit.
                let _ = stdin.write_all(body.as_bytes()).await;
            }
            child.wait_with_output().await
        };
        let out = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| NotifyError::Command(format!("`{program}` did not finish within {:?}", self.timeout)))?
            .map_err(|e| NotifyError::Command(format!("`{program}`: {e}")))?;
        if out.status.success() {
            return Ok(());
        }
        let said: String = String::from_utf8_lossy(&out.stderr).trim().chars().take(200).collect();
        Err(NotifyError::Command(format!("`{program}` failed ({}): {said}", out.status)))
    }
}

impl Mailer {
    /// The message: UTF-8 plain text to every recipient.
    fn message(&self, subject: &str, body: &str) -> Result<Message, NotifyError> {
        let mailbox = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| NotifyError::Address { addr: a.chars().take(200).collect(), why: e.to_string() })
        };
        let mut builder =
            Message::builder().from(mailbox(&self.from)?).subject(subject).header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(mailbox(to)?);
        }
        builder.body(body.to_string()).map_err(|e| NotifyError::Message(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn mailer(from: &str) -> Mailer {
        Mailer {
            addr: "127.0.0.1:25".into(),
            from: from.into(),
            to: vec!["sec@example.com".into(), "运维 <ops@example.com>".into()],
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_chinese_subject_is_encoded_and_no_header_can_be_injected() {
        let m = mailer("orgid@example.com")
            .message("告警：登录失败过多\r\nBcc: x@evil.example", "第一行\n.第二行")
            .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        let subject = text.lines().find(|l| l.starts_with("Subject:")).unwrap();
        assert!(subject.starts_with("Subject: =?utf-8?"), "RFC 2047: {subject}");
        assert!(!text.lines().any(|l| l.starts_with("Bcc:")), "{text}");
        assert!(text.contains("To: sec@example.com, =?utf-8?"), "{text}");
    }

    #[test]
    fn the_default_sender_is_an_address() {
        assert!(mailer("orgid@localhost").message("s", "b").is_ok(), "alerts.mail_from's default");
    }

    #[test]
    fn a_bad_address_is_named() {
        let err = mailer("not an address").message("s", "b").unwrap_err();
        assert!(err.to_string().contains("`not an address`"), "{err}");
    }
}
