//! Notices in WeCom: a text message from the app (its agent id and secret) to members, through
//! the message API (消息推送 `message/send`), behind the same `Notifier` trait as mail and the
//! command.

use async_trait::async_trait;
use orgid_config::WecomConfig;
use serde_json::Value;

use super::{Api, WecomError};
use crate::notify::{Notifier, NotifyError};

/// WeCom's limit on a text message's content, in bytes.
const CONTENT_MAX: usize = 2048;

#[derive(Debug)]
pub struct WecomNotifier {
    api: Api,
    agent_id: i64,
    to: Vec<String>,
}

impl WecomNotifier {
    pub fn new(cfg: &WecomConfig, to: Vec<String>) -> Result<WecomNotifier, WecomError> {
        Ok(WecomNotifier { api: Api::new(cfg, &cfg.app_secret)?, agent_id: cfg.agent_id, to })
    }
}

/// The first `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[async_trait]
impl Notifier for WecomNotifier {
    async fn send(&self, subject: &str, body: &str) -> Result<(), NotifyError> {
        let content = format!("{subject}\n\n{body}");
        let to: Vec<&str> = self.to.iter().map(String::as_str).collect();
        let v = self
            .api
            .send_text(self.agent_id, &to, cut(&content, CONTENT_MAX))
            .await
            .map_err(|e| NotifyError::Wecom(e.to_string()))?;
        match v.get("invaliduser").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(invalid) => Err(NotifyError::Wecom(format!("unknown members: {invalid}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(super::cut("告警", 4), "告");
        assert_eq!(super::cut("ab", 10), "ab");
    }
}
