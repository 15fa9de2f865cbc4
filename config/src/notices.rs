//! `[notices]`: what people are told about their own account (a password nearing expiry at 14, 7
//! and 1 days), and through which channels: `wecom` (the app's message to the member whose userid
//! is the login: `[wecom]` `agent_id` and `app_secret`) and `mail` (to the person's address,
//! through `alerts.smtp_url` from `alerts.mail_from`). No channel: no notices.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NoticesConfig {
    /// `wecom`, `mail`, or both; empty: off.
    pub channels: Vec<String>,
    /// How often `serve` looks for notices due and sends what waits, in seconds.
    pub interval_secs: u64,
    /// The first wait after a failed send, in seconds; it doubles with each failure, up to 6 hours.
    pub retry_secs: u64,
}

impl Default for NoticesConfig {
    fn default() -> Self {
        Self { channels: Vec::new(), interval_secs: 300, retry_secs: 30 }
    }
}

impl NoticesConfig {
    pub fn enabled(&self) -> bool {
        !self.channels.is_empty()
    }

    pub fn wecom(&self) -> bool {
        self.channels.iter().any(|c| c == "wecom")
    }

    pub fn mail(&self) -> bool {
        self.channels.iter().any(|c| c == "mail")
    }
}

pub(crate) fn validate(cfg: &crate::Config, err: &mut dyn FnMut(&str, String)) {
    let n = &cfg.notices;
    for c in &n.channels {
        if c != "wecom" && c != "mail" {
            err("notices.channels", format!("`{c}` is not a channel: `wecom` or `mail`"));
        }
    }
    let app = cfg.wecom.as_ref().is_some_and(|w| w.agent_id > 0 && !w.app_secret.expose().is_empty());
    if n.wecom() && !app {
        err("notices.channels", "`wecom` needs [wecom] with agent_id and app_secret (the app that sends them)".into());
    }
    if n.mail() && cfg.alerts.smtp_addr().is_none() {
        err("notices.channels", "`mail` needs alerts.smtp_url (smtp://host:port), the relay notices go through".into());
    }
    if n.interval_secs == 0 {
        err("notices.interval_secs", "must be at least 1".into());
    }
}
