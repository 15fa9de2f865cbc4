//! The SSO session every face shares: its cookie (the id; the store keeps its SHA-256), finding
//! this browser's live session within its idle and absolute limits, and ending it.
//!
//! Sessions are made at the end of a login (`login::complete`), one per browser.

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use orgid_directory::audit::{AuditOutcome, EventKind};
use orgid_directory::idp::SessionRecord;

use crate::audit::{Peer, by_user};
use crate::crypto::sha256_hex;
use crate::{IdpError, Provider};

const SESSION_COOKIE_SECURE: &str = "__Host-orgid_session";
const SESSION_COOKIE_PLAIN: &str = "orgid_session";
const CSRF_COOKIE_SECURE: &str = "__Host-orgid_csrf";
const CSRF_COOKIE_PLAIN: &str = "orgid_csrf";

/// The value of the cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Provider {
    /// The names of the session and CSRF cookies.
    pub(crate) fn cookie_names(&self) -> (&'static str, &'static str) {
        if self.inner.settings.secure_cookies() {
            (SESSION_COOKIE_SECURE, CSRF_COOKIE_SECURE)
        } else {
            (SESSION_COOKIE_PLAIN, CSRF_COOKIE_PLAIN)
        }
    }

    pub(crate) fn cookie_attrs(&self) -> &'static str {
        if self.inner.settings.secure_cookies() {
            "; Path=/; HttpOnly; Secure; SameSite=Lax"
        } else {
            "; Path=/; HttpOnly; SameSite=Lax"
        }
    }

    /// `Set-Cookie` for a new session id.
    pub(crate) fn session_cookie(&self, id: &str) -> String {
        format!("{}={id}{}", self.cookie_names().0, self.cookie_attrs())
    }

    pub(crate) fn clear_session_cookie(&self) -> String {
        format!("{}={}; Max-Age=0", self.cookie_names().0, self.cookie_attrs())
    }

    /// The live session of this browser: not ended, within its absolute and idle limits, its
    /// account still active.
    pub(crate) async fn current_session(&self, headers: &HeaderMap) -> Result<Option<SessionRecord>, IdpError> {
        let Some(id) = cookie(headers, self.cookie_names().0) else { return Ok(None) };
        let Some(s) = self.inner.store.session(&sha256_hex(id)).await? else { return Ok(None) };
        if self.session_expired(&s, self.now()) {
            return Ok(None);
        }
        match self.inner.store.subject(&s.login).await? {
            Some(sub) if sub.status == orgid_directory::AccountStatus::Active && !sub.departed => Ok(Some(s)),
            _ => Ok(None),
        }
    }

    /// The raw session id of this browser, for logout.
    pub(crate) fn session_hash_of(&self, headers: &HeaderMap) -> Option<String> {
        cookie(headers, self.cookie_names().0).map(sha256_hex)
    }

    pub(crate) fn session_expired(&self, s: &SessionRecord, now: DateTime<Utc>) -> bool {
        let idle = chrono::Duration::minutes(i64::from(self.inner.settings.session.idle_minutes));
        s.ended_at.is_some() || s.expires_at <= now || s.last_seen_at + idle <= now
    }

    /// Whether the provider session `hash` is live: not ended (signed out from any client, or the
    /// account's sessions ended by a password reset or a closed account) and within its idle and
    /// absolute limits. With `seen`, a live session is marked as used now: a page view in one of
    /// orgid's own clients is activity in the single sign-on session.
    pub async fn session_live(&self, hash: &str, seen: bool) -> Result<bool, IdpError> {
        let now = self.now();
        let Some(s) = self.inner.store.session(hash).await? else { return Ok(false) };
        if self.session_expired(&s, now) {
            return Ok(false);
        }
        if seen {
            self.inner.store.touch_session(hash, now).await?;
        }
        Ok(true)
    }

    /// Ends this browser's session, if it has one, with the grants issued through it; recorded as
    /// a logout by the account holder, through `client_id` if a client asked. The caller clears
    /// the cookie ([`Provider::clear_session_cookie`]).
    pub(crate) async fn end_browser_session(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        client_id: Option<&str>,
    ) -> Result<(), IdpError> {
        if let Some(hash) = self.session_hash_of(headers)
            && let Some(session) = self.inner.store.session(&hash).await?
        {
            let now = self.now();
            let company = self.inner.store.subject(&session.login).await?.map(|s| s.company);
            let ctx = peer.context(client_id, Some(&hash));
            let logout = by_user(now, EventKind::Logout, AuditOutcome::Success, &session.login, company.as_ref(), &ctx);
            self.inner.store.end_session(&hash, now, &[logout]).await?;
            self.single_logout_soon();
        }
        Ok(())
    }
}
