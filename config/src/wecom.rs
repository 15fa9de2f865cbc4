//! `[wecom]`: WeCom (企业微信), the mobile half of the collaboration platform. orgid keeps its
//! address book equal to its decisions through the contacts API (the 通讯录同步 secret) and, with
//! an app's agent id and secret, may later send it notices. Secrets come from the file or from
//! `ORGID__WECOM__CONTACTS_SECRET` / `ORGID__WECOM__APP_SECRET`, and are never printed.

use serde::Deserialize;

use crate::Secret;

/// `[wecom]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct WecomConfig {
    /// The API's base URL; only a test double changes it.
    pub base_url: String,
    /// The enterprise's corp id (我的企业 → 企业信息 → 企业ID).
    pub corp_id: String,
    /// The contacts-sync secret (管理工具 → 通讯录同步 → Secret), with API edit rights.
    pub contacts_secret: Secret,
    /// A self-built app's AgentId and Secret (notices and sign-in; optional for contacts).
    pub agent_id: i64,
    pub app_secret: Secret,
    /// The department id orgid's companies go under (1 = the enterprise's root).
    pub root_department: i64,
    /// Extended attributes (自定义字段, defined first in the admin console) by name; "" = not sent.
    pub attr_grade: String,
    pub attr_company: String,
    pub attr_employee_number: String,
    pub timeout_secs: u64,
    /// Pause after a frequency-limit answer (45009, 45033, 45011) before trying again, in ms.
    pub throttle_ms: u64,
    /// Cron (with seconds) of `orgid wecom reconcile` inside `serve`; "" = never.
    pub reconcile_schedule: String,
    /// Sign in with WeCom: inside the WeCom app (OAuth2 web authorization, `snsapi_base`) and
    /// by a QR code on the login page (web login). Needs `agent_id` and `app_secret`; the
    /// app's trusted domain must be the issuer's host.
    pub sign_in: bool,
    /// Where WeCom's OAuth2 authorization page is (`/connect/oauth2/authorize`); only a test
    /// double changes it.
    pub oauth_url: String,
    /// Where WeCom's web login page is (`/wwlogin/sso/login`); only a test double changes it.
    pub sso_url: String,
}

impl Default for WecomConfig {
    fn default() -> Self {
        Self {
            base_url: "https://qyapi.weixin.qq.com".into(),
            corp_id: String::new(),
            contacts_secret: Secret::new(""),
            agent_id: 0,
            app_secret: Secret::new(""),
            root_department: 1,
            attr_grade: String::new(),
            attr_company: String::new(),
            attr_employee_number: String::new(),
            timeout_secs: 10,
            throttle_ms: 1000,
            reconcile_schedule: String::new(),
            sign_in: false,
            oauth_url: "https://open.weixin.qq.com".into(),
            sso_url: "https://login.work.weixin.qq.com".into(),
        }
    }
}

pub(crate) fn validate(cfg: &crate::Config, err: &mut dyn FnMut(&str, String)) {
    let app = cfg.wecom.as_ref().is_some_and(|w| w.agent_id > 0 && !w.app_secret.expose().is_empty());
    if !cfg.alerts.wecom_to.is_empty() && !app {
        err("alerts.wecom_to", "needs [wecom] with agent_id and app_secret (the app that sends the notices)".into());
    }
    let Some(w) = &cfg.wecom else { return };
    if !(w.base_url.starts_with("https://") || w.base_url.starts_with("http://")) {
        err("wecom.base_url", format!("`{}` must start with https:// or http://", w.base_url));
    }
    for (key, url) in [("wecom.oauth_url", &w.oauth_url), ("wecom.sso_url", &w.sso_url)] {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            err(key, format!("`{url}` must start with https:// or http://"));
        }
    }
    if w.sign_in && !app {
        err("wecom.sign_in", "needs agent_id and app_secret (the app whose sign-in WeCom vouches for)".into());
    }
    if w.corp_id.trim().is_empty() {
        err("wecom.corp_id", "must be set (the enterprise's corp id)".into());
    }
    if w.contacts_secret.expose().is_empty() {
        err("wecom.contacts_secret", "must be set, in the file or in ORGID__WECOM__CONTACTS_SECRET".into());
    }
    if w.root_department < 1 {
        err("wecom.root_department", "must be a department id, 1 or more".into());
    }
    if w.timeout_secs == 0 {
        err("wecom.timeout_secs", "must be at least 1".into());
    }
    if !w.reconcile_schedule.trim().is_empty()
        && let Err(e) = <cron::Schedule as std::str::FromStr>::from_str(&w.reconcile_schedule)
    {
        err(
            "wecom.reconcile_schedule",
            format!("`{}` is not a cron expression with seconds: {e}", w.reconcile_schedule),
        );
    }
}
