//! `[alerts]`: rules evaluated over the audit trail as it is written, and where their notices go
//! (mail through an SMTP relay).

use serde::Deserialize;

/// `[alerts]`. No recipients: no alerts.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Failed logins from one address (IPv6: as recorded) within `window_secs` that raise one
    /// alert; 0 = off.
    pub failures_per_ip: u32,
    /// Failed logins of one typed login within `window_secs`; 0 = off.
    pub failures_per_login: u32,
    /// An attempt to log in to a disabled account or a departed person's: one alert per login
    /// and window.
    pub disabled_logins: bool,
    /// A sync or import that failed, or that a safety limit held; a backup that failed.
    pub sync_problems: bool,
    /// An administrator's action outside `working_hours` on a working day of the workflow's
    /// calendar (`workflow.calendar`, holidays off), in `sync.timezone`: one alert per
    /// administrator and window.
    pub off_hours_admin: bool,
    /// `HH:MM-HH:MM`, local time in `sync.timezone`; the end is not included.
    pub working_hours: String,
    /// A record of the audit trail that does not chain to the one before it: one alert per chain.
    pub audit_chain: bool,
    /// A target operation parked after its retries: one alert per operation.
    pub parked_operations: bool,
    /// Cron (with seconds, in `sync.timezone`) of a whole verification of the audit trail in
    /// `serve` (with `audit_chain`): a record altered after it was read is found there; "" = none.
    pub verify_schedule: String,
    pub window_secs: u32,
    /// Who receives the notices (e-mail addresses); empty: no alerts.
    pub mail_to: Vec<String>,
    pub mail_from: String,
    /// The relay: `smtp://host:port` (plain SMTP to a relay on the host or the local network).
    pub smtp_url: String,
    /// A program and its arguments run once per alert, beside the mail or instead of it (an SMS
    /// or WeCom gateway script): the subject in `ORGID_ALERT_SUBJECT`, the text on standard
    /// input; exit 0 = delivered. Empty: none.
    pub command: Vec<String>,
    /// WeCom members (userids) told through the app's message API (`[wecom]` `agent_id` and
    /// `app_secret`), beside the mail and the command. Empty: none.
    pub wecom_to: Vec<String>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            failures_per_ip: 20,
            failures_per_login: 0,
            disabled_logins: true,
            sync_problems: true,
            off_hours_admin: true,
            working_hours: "09:00-18:00".into(),
            audit_chain: true,
            parked_operations: true,
            verify_schedule: "0 45 3 * * *".into(),
            window_secs: 60,
            mail_to: Vec::new(),
            mail_from: "orgid@localhost".into(),
            smtp_url: String::new(),
            command: Vec::new(),
            wecom_to: Vec::new(),
        }
    }
}

impl AlertsConfig {
    /// Whether notices have somewhere to go: without recipients or a command, alerts are off.
    pub fn enabled(&self) -> bool {
        !self.mail_to.is_empty() || !self.command.is_empty() || !self.wecom_to.is_empty()
    }

    /// `working_hours` as (start, end), minutes after midnight; `None` if it does not parse.
    pub fn working_minutes(&self) -> Option<(u32, u32)> {
        let (a, b) = self.working_hours.split_once('-')?;
        let minutes = |t: &str| {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (start, end) = (minutes(a)?, minutes(b)?);
        (start < end).then_some((start, end))
    }

    /// `host:port` of `smtp_url`.
    pub fn smtp_addr(&self) -> Option<&str> {
        self.smtp_url.strip_prefix("smtp://").map(|a| a.trim_end_matches('/')).filter(|a| a.contains(':'))
    }
}

fn is_address(a: &str) -> bool {
    a.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        && !a.contains(|c: char| c.is_whitespace() || c == '<' || c == '>' || c.is_control())
}

pub(crate) fn validate(cfg: &crate::Config, err: &mut dyn FnMut(&str, String)) {
    let a = &cfg.alerts;
    if a.window_secs == 0 || a.window_secs > 86_400 {
        err("alerts.window_secs", format!("is {}, but must be between 1 and 86400", a.window_secs));
    }
    for (i, to) in a.mail_to.iter().enumerate() {
        if !is_address(to) {
            err(&format!("alerts.mail_to.{i}"), format!("`{to}` is not an e-mail address"));
        }
    }
    if a.working_minutes().is_none() {
        err(
            "alerts.working_hours",
            format!("`{}` is not `HH:MM-HH:MM` with the start before the end (e.g. `09:00-18:00`)", a.working_hours),
        );
    }
    if !a.verify_schedule.trim().is_empty()
        && let Err(e) = <cron::Schedule as std::str::FromStr>::from_str(&a.verify_schedule)
    {
        err("alerts.verify_schedule", format!("`{}` is not a cron expression with seconds: {e}", a.verify_schedule));
    }
    if !is_address(&a.mail_from) {
        err("alerts.mail_from", format!("`{}` is not an e-mail address", a.mail_from));
    }
    if a.command.first().is_some_and(|p| p.trim().is_empty()) {
        err("alerts.command", "names no program (its first element is empty)".into());
    }
    if !a.mail_to.is_empty() && a.smtp_addr().is_none() {
        err("alerts.smtp_url", format!("`{}` is not `smtp://host:port` (needed with alerts.mail_to)", a.smtp_url));
    }
}
