//! The console session: a cookie sealed by the provider (HMAC, purpose-bound, expiring) holding
//! the signed-in login, its display name, the ID token (the logout hint) and the browser's
//! provider session it signed in through. It lapses after `session.idle_minutes` without a page
//! view and `session.absolute_hours` after sign-in, and at once when the account stops being
//! active or the provider session ends (a sign-out at the provider from any client, the account's
//! sessions ended by a password reset): the cookie alone, even replayed, is not a session. A
//! console page view counts as activity in the provider session.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use orgid_directory::AccountStatus;
use orgid_directory::idp::CredentialStore;
use serde::{Deserialize, Serialize};

use super::i18n::{Lang, T};
use super::pages::{self, Bar, with_lang};
use super::{Console, lang_of};

const PURPOSE: &str = "console-session";
/// A page view renews the cookie (and marks the provider session used) at most this often.
const RENEW_SECS: i64 = 60;

fn due_for_renewal(data: &Data, now: i64) -> bool {
    now - data.seen >= RENEW_SECS
}
const COOKIE_SECURE: &str = "__Host-orgid_console";
const COOKIE_PLAIN: &str = "orgid_console";

/// What the session cookie holds. No `Debug`: it holds the ID token.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Data {
    pub login: String,
    pub name: String,
    /// Sign-in and last renewal, Unix seconds.
    pub start: i64,
    pub seen: i64,
    /// The ID token of the sign-in, sent back as `id_token_hint` at logout.
    pub idt: String,
    /// The hash of the provider session the sign-in went through.
    pub sso: String,
}

impl Console {
    fn session_cookie_name(&self) -> &'static str {
        if self.provider.secure_cookies() { COOKIE_SECURE } else { COOKIE_PLAIN }
    }

    /// Cookie attributes: host-only, whole origin, HttpOnly, SameSite=Lax, Secure over https.
    pub(super) fn cookie_attrs(&self) -> &'static str {
        if self.provider.secure_cookies() {
            "; Path=/; HttpOnly; Secure; SameSite=Lax"
        } else {
            "; Path=/; HttpOnly; SameSite=Lax"
        }
    }

    /// `Set-Cookie` for a session holding `data`, valid for the idle limit from now.
    pub(super) fn session_cookie(&self, data: &Data) -> Result<String, orgid_idp::IdpError> {
        let idle = Duration::minutes(i64::from(self.provider.session_settings().idle_minutes));
        let sealed = self.provider.seal(PURPOSE, data, idle)?;
        Ok(format!("{}={sealed}{}", self.session_cookie_name(), self.cookie_attrs()))
    }

    pub(super) fn clear_session_cookie(&self) -> String {
        format!("{}=; Max-Age=0{}", self.session_cookie_name(), self.cookie_attrs())
    }

    /// The session of this request, if it is authentic, not expired, and its account active.
    pub(super) async fn session_data(&self, headers: &axum::http::HeaderMap) -> Result<Option<Data>, Response> {
        let Some(raw) = orgid_idp::cookie(headers, self.session_cookie_name()) else { return Ok(None) };
        let Some(data) = self.provider.open::<Data>(PURPOSE, raw) else { return Ok(None) };
        let now = self.app.clock.now().timestamp();
        let absolute = i64::from(self.provider.session_settings().absolute_hours) * 3600;
        if data.start + absolute <= now {
            return Ok(None);
        }
        match CredentialStore::subject(&self.app.store, &data.login).await {
            Ok(Some(s)) if s.status == AccountStatus::Active && !s.departed => {}
            Ok(_) => return Ok(None),
            Err(e) => return Err(super::unavailable(Lang::Zh, &e)),
        }
        let seen = due_for_renewal(&data, now);
        match self.provider.session_live(&data.sso, seen).await {
            Ok(true) => Ok(Some(data)),
            Ok(false) => Ok(None),
            Err(e) => Err(super::unavailable(Lang::Zh, &e)),
        }
    }
}

/// A signed-in console user. As an extractor it sends a browser without a session to sign in
/// (and back to this page afterwards).
pub struct Session {
    pub login: String,
    pub name: String,
    pub lang: Lang,
    /// The CSRF token every form of the page must carry.
    pub csrf: String,
    /// Cookies to set with the page (a renewed session, a new CSRF cookie).
    set_cookies: Vec<String>,
}

impl Session {
    /// The top bar of the page at `path`.
    pub fn bar(&self, path: &str) -> Bar<'_> {
        let nav = [
            ("/console/requests", T::MyRequests),
            ("/console/requests/new", T::NewRequest),
            ("/console/inbox", T::Inbox),
            ("/console/people", T::People),
            ("/console/overdue", T::Overdue),
            ("/console/roster-checks", T::RosterChecks),
            ("/console/roles", T::Roles),
        ]
        .into_iter()
        .map(|(href, t)| (with_lang(href, self.lang), t.text(self.lang), path == href))
        .collect();
        Bar { name: &self.name, csrf: &self.csrf, nav }
    }

    /// The page with the top bar, and the session's cookies.
    pub fn page(&self, title: &str, body: &str, path: &str) -> Response {
        let bar = self.bar(path);
        self.respond(pages::layout(self.lang, title, Some(&bar), body, &pages::switch_of(path, self.lang)))
    }

    /// A rendered page with the session's cookies.
    pub fn respond(&self, html: axum::response::Html<String>) -> Response {
        let mut res = html.into_response();
        self.attach(&mut res);
        res
    }

    /// A redirect (303) to the console page `path`, in this language, with the session's cookies.
    pub fn redirect(&self, path: &str) -> Response {
        let mut res = Redirect::to(&with_lang(path, self.lang)).into_response();
        self.attach(&mut res);
        res
    }

    /// Adds the session's `Set-Cookie` headers to `res`.
    pub fn attach(&self, res: &mut Response) {
        for c in &self.set_cookies {
            if let Ok(v) = HeaderValue::from_str(c) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
        }
    }
}

fn query_lang(parts: &Parts) -> Option<String> {
    let q = parts.uri.query()?;
    url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "lang").map(|(_, v)| v.into_owned())
}

impl FromRequestParts<Console> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, Self::Rejection> {
        let lang = lang_of(&parts.headers, query_lang(parts).as_deref());
        let Some(mut data) = c.session_data(&parts.headers).await? else {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/console/");
            let next = if parts.method == Method::GET { next } else { "/console/" };
            let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", next).finish();
            return Err(Redirect::to(&with_lang(&format!("/console/login?{q}"), lang)).into_response());
        };
        let mut set_cookies = Vec::new();
        let now = c.app.clock.now().timestamp();
        if due_for_renewal(&data, now) {
            data.seen = now;
            set_cookies.push(c.session_cookie(&data).map_err(|e| super::unavailable(lang, &e))?);
        }
        let (csrf, set) = c.provider.csrf(&parts.headers).map_err(|e| super::unavailable(lang, &e))?;
        set_cookies.extend(set);
        Ok(Session { login: data.login, name: data.name, lang, csrf, set_cookies })
    }
}
