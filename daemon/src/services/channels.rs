//! The channels a person is told through (a leaf: `notices` and `idp` use it): WeCom's app
//! message to the member whose userid is the login, and mail through the alerts' relay.

use std::time::Duration;

use orgid_connectors::notify::{Mailer, Notifier};
use orgid_connectors::wecom::WecomNotifier;

use crate::app::App;

/// The notifier of `channel` (`wecom` or `mail`) for one recipient (a userid or an address).
pub fn notifier(app: &App, channel: &str, recipient: &str) -> Result<Box<dyn Notifier>, String> {
    match channel {
        "wecom" => {
            let w = app.config.wecom.as_ref().ok_or("[wecom] is not configured")?;
            let to = vec![recipient.to_string()];
            WecomNotifier::new(w, to).map(|n| Box::new(n) as Box<dyn Notifier>).map_err(|e| e.to_string())
        }
        "mail" => {
            let a = &app.config.alerts;
            let addr = a.smtp_addr().ok_or("alerts.smtp_url is not set")?;
            Ok(Box::new(Mailer {
                addr: addr.to_string(),
                from: a.mail_from.clone(),
                to: vec![recipient.to_string()],
                timeout: Duration::from_secs(30),
            }))
        }
        other => Err(format!("no channel `{other}`")),
    }
}

/// The (channel, recipient) pairs that reach a person under `[notices] channels`.
pub fn recipients(app: &App, login: &str, email: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if app.config.notices.wecom() {
        out.push(("wecom", login.to_string()));
    }
    if app.config.notices.mail() && !email.trim().is_empty() {
        out.push(("mail", email.trim().to_string()));
    }
    out
}
