//! The guards in front of a password check: a place in the hashing pool (none left: 503), and
//! the budgets of failed logins per source address and per typed login, kept in the store so
//! that replicas share them (spent: 429, audited). Both answer with `Retry-After`: a page for a
//! browser (the form again, with the reason), JSON for a program. The typed login is throttled
//! whether or not it exists, with the same words, so the answers tell nothing about accounts.

use std::net::IpAddr;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use orgid_directory::idp::ThrottleRule;

use crate::Provider;
use crate::audit::Peer;
use crate::crypto::sha256_hex;
use crate::i18n::{Lang, Msg};

/// Why a login was turned away before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// A failure budget is spent: try again after this long.
    Throttled(Duration),
    /// Every hashing place is taken.
    Busy,
}

/// How long a client turned away by a full pool should wait: a queue drains in well under that.
const BUSY_RETRY_SECS: u64 = 2;

impl Guard {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Guard::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Guard::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whole seconds, at least one.
    pub(crate) fn retry_after(self) -> u64 {
        match self {
            Guard::Throttled(wait) => u64::try_from((wait.num_milliseconds() + 999) / 1000).unwrap_or(1).max(1),
            Guard::Busy => BUSY_RETRY_SECS,
        }
    }

    pub(crate) fn message(self, lang: Lang) -> String {
        match self {
            Guard::Throttled(_) => {
                let minutes = self.retry_after().div_ceil(60);
                crate::i18n::fill(Msg::Throttled.text(lang), &[("minutes", &minutes.to_string())])
            }
            Guard::Busy => Msg::Busy.text(lang).to_string(),
        }
    }

    /// The OAuth-style error code of the JSON answer.
    fn code(self) -> &'static str {
        match self {
            Guard::Throttled(_) => "slow_down",
            Guard::Busy => "temporarily_unavailable",
        }
    }

    /// The answer: `page(message, status)` for a browser, JSON for a client that asks for it
    /// (`Accept: application/json` without `text/html`); `Retry-After` on both.
    pub(crate) fn answer(
        self,
        lang: Lang,
        headers: &HeaderMap,
        page: impl FnOnce(&str, StatusCode) -> Response,
    ) -> Response {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let message = self.message(lang);
        let mut res = if accept.contains("application/json") && !accept.contains("text/html") {
            let body = serde_json::json!({
                "error": self.code(),
                "error_description": message,
                "retry_after": self.retry_after(),
            });
            (self.status(), Json(body)).into_response()
        } else {
            page(&message, self.status())
        };
        *res.status_mut() = self.status();
        if let Ok(v) = HeaderValue::from_str(&self.retry_after().to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

/// The key a source address is throttled by: IPv4 as it is (an IPv4-mapped IPv6 address too),
/// IPv6 by its /64, which one subscriber usually holds whole.
pub(crate) fn address_key(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                return format!("ip6\0{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]);
            }
        },
        v4 => v4,
    };
    format!("ip\0{ip}")
}

impl Provider {
    /// The budgets a login attempt is charged to: its source address and the login typed.
    pub(crate) fn throttle_rules(&self, login: &str, peer: &Peer) -> Vec<ThrottleRule> {
        let l = &self.inner.settings.login;
        let window = Duration::seconds(i64::from(l.failure_window_secs));
        let rule = |key: String, burst: u32| ThrottleRule {
            key: sha256_hex(&key),
            burst,
            interval: window / i32::try_from(burst).unwrap_or(i32::MAX),
        };
        let mut rules = Vec::with_capacity(2);
        if l.failures_per_ip > 0
            && let Some(ip) = peer.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok())
        {
            rules.push(rule(address_key(ip), l.failures_per_ip));
        }
        if l.failures_per_login > 0 {
            rules.push(rule(format!("login\0{login}"), l.failures_per_login));
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn addresses_key_by_ipv4_or_ipv6_slash_64() {
        let k = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(k("10.1.2.3"), format!("ip\0{}", "10.1.2.3"));
        assert_eq!(k("::ffff:10.1.2.3"), k("10.1.2.3"), "a mapped IPv4 address is that address");
        assert_eq!(k("2001:db8:1:2:aaaa::1"), k("2001:db8:1:2:bbbb::9"), "one /64");
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
    }

    #[test]
    fn the_answer_waits_at_least_a_second_and_names_minutes() {
        assert_eq!(Guard::Throttled(Duration::milliseconds(1)).retry_after(), 1);
        assert_eq!(Guard::Throttled(Duration::milliseconds(61_500)).retry_after(), 62);
        assert!(Guard::Throttled(Duration::seconds(61)).message(Lang::En).contains("in 2 minute(s)"));
        let h = HeaderMap::new();
        let page = Guard::Busy.answer(Lang::En, &h, |m, s| (s, m.to_string()).into_response());
        assert_eq!(
            (page.status(), page.headers()[header::RETRY_AFTER].to_str().unwrap()),
            (StatusCode::SERVICE_UNAVAILABLE, "2")
        );
        let mut json = HeaderMap::new();
        json.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let res = Guard::Throttled(Duration::seconds(30)).answer(Lang::En, &json, |_, _| unreachable!());
        assert_eq!(
            (res.status(), res.headers()[header::RETRY_AFTER].to_str().unwrap()),
            (StatusCode::TOO_MANY_REQUESTS, "30")
        );
    }
}
