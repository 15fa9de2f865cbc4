//! Password changes in the login flow: forced (an initial or expired password), offered (the
//! expiry warning's "change now"), or voluntary (`/password`, proving the current password);
//! the policy checks, the history, and the directory's copy. A change is made for the password
//! the form was sealed for (the credential's version): a form posted again, or after another
//! change, changes nothing.

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use orgid_directory::audit::{AuditOutcome, EventKind};
use orgid_directory::idp::PasswordChange;
use serde::Deserialize;

use super::{Checked, Guard, Pending, PendingForm, pages};
use crate::audit::{Peer, by_user};
use crate::i18n::{Lang, Msg};
use crate::respond::{form_lang, lang_of, page};
use crate::{IdpError, Provider, password};

/// What a password change came to.
enum Change {
    /// Set: the credential's new version.
    Done(i64),
    /// Refused by the policy or the directory, with the reason to show.
    Refused(String),
    /// The password changed since the form was sealed.
    Stale,
    Guarded(Guard),
}

impl Provider {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn change_page(
        &self,
        headers: &HeaderMap,
        lang: Lang,
        reason: Msg,
        pending: Option<&Pending>,
        error: Option<&str>,
        notice: Option<&str>,
        status: StatusCode,
    ) -> Result<Response, IdpError> {
        let (csrf, set) = self.csrf(headers)?;
        let sealed = match pending {
            Some(p) => self.seal_pending(p)?,
            None => String::new(),
        };
        let pol = self.password_policy();
        let rules = vec![
            password::Weakness::TooShort(pol.min_length).message(lang),
            password::Weakness::TooFewClasses(pol.min_classes).message(lang),
            password::Weakness::Reused(pol.history).message(lang),
        ];
        let html = pages::change(&pages::ChangePage {
            lang,
            reason,
            error,
            notice,
            csrf: &csrf,
            pending: &sealed,
            rules: &rules,
        });
        Ok(page(status, &[set], html))
    }

    /// Sets a new password after the policy checks, for the credential at `pending.version`.
    async fn change_password(
        &self,
        pending: &Pending,
        new: &str,
        repeat: &str,
        lang: Lang,
        peer: &Peer,
    ) -> Result<Change, IdpError> {
        let login = pending.login.as_str();
        if new != repeat {
            return Ok(Change::Refused(Msg::Mismatch.text(lang).into()));
        }
        let pol = self.password_policy();
        if let Err(w) = password::check_strength(&pol, login, new) {
            return Ok(Change::Refused(w.message(lang)));
        }
        let Some(cred) = self.inner.store.credential(login).await? else { return Ok(Change::Stale) };
        if cred.version != pending.version {
            return Ok(Change::Stale);
        }
        let Ok(place) = self.inner.hashes.try_enter() else { return Ok(Change::Guarded(Guard::Busy)) };
        if place.verify(new, &cred.hash).await? {
            return Ok(Change::Refused(password::Weakness::Unchanged.message(lang)));
        }
        let history = self.inner.store.password_history(login, pol.history.saturating_sub(1)).await?;
        if place.matches_any(new, &history).await? {
            return Ok(Change::Refused(password::Weakness::Reused(pol.history).message(lang)));
        }
        let hash = place.hash(new).await?;
        drop(place);
        if let Some(sink) = &self.inner.passwords
            && let Err(e) = sink.set_password(login, new).await
        {
            tracing::warn!(login, error = %e, "the directory refused a password change");
            return Ok(Change::Refused(Msg::Unavailable.text(lang).into()));
        }
        let keep = pol.history.saturating_sub(1);
        let now = self.now();
        let why = if pending.expired {
            "expired password replaced"
        } else if pending.must_change && cred.must_change {
            "initial password replaced"
        } else {
            "changed by the account holder"
        };
        let ctx = peer.context(pending.req.as_ref().map(|r| r.client_id.as_str()), None);
        let changed =
            by_user(now, EventKind::PasswordChange, AuditOutcome::Success, login, pending.company.as_ref(), &ctx)
                .reason(why);
        match self.inner.store.change_password(login, &hash, pending.version, now, keep, &[changed]).await? {
            PasswordChange::Changed { version } => Ok(Change::Done(version)),
            PasswordChange::Refused => Ok(Change::Stale),
        }
    }
}

/// The expiry warning's answer: change now, or continue the login.
pub(super) async fn continue_post(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Form(f): Form<PendingForm>,
) -> Response {
    let lang = form_lang(&f.lang, &headers);
    let expired = || page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    if !p.csrf_ok(&headers, &f.csrf) {
        return expired();
    }
    let result = async {
        let Some(pending) = p.take_pending(&f.pending).await? else { return Ok(expired()) };
        if f.choice == "change" {
            let pending = Pending { must_change: true, ..pending };
            p.change_page(&headers, lang, Msg::ChangeVoluntary, Some(&pending), None, None, StatusCode::OK)
        } else {
            p.proceed(&headers, &peer, lang, pending).await
        }
    }
    .await;
    result.unwrap_or_else(|e| crate::unavailable(&e, lang))
}

pub(super) async fn password_get(
    State(p): State<Provider>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&q, &headers);
    p.change_page(&headers, lang, Msg::ChangeVoluntary, None, None, None, StatusCode::OK)
        .unwrap_or_else(|e| crate::unavailable(&e, lang))
}

#[derive(Deserialize)]
pub(super) struct ChangeForm {
    csrf: String,
    #[serde(default)]
    pending: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    lang: String,
}

pub(super) async fn password_post(
    State(p): State<Provider>,
    peer: Peer,
    headers: HeaderMap,
    Form(f): Form<ChangeForm>,
) -> Response {
    let lang = form_lang(&f.lang, &headers);
    let expired = || page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    if !p.csrf_ok(&headers, &f.csrf) {
        return expired();
    }
    let result = async {
        // A forced change carries the verified login (its form spent here: it acts once); a
        // voluntary one proves the current password.
        let (pending, voluntary) = if f.pending.is_empty() {
            let login = f.login.trim().to_lowercase();
            let again = |error: &str, status| {
                p.change_page(&headers, lang, Msg::ChangeVoluntary, None, Some(error), None, status)
                    .unwrap_or_else(|e| crate::unavailable(&e, lang))
            };
            match p.check_password(&login, &f.current, None, &peer).await? {
                Checked::Passed(pending) => (pending, true),
                Checked::Failed => return Ok(again(Msg::BadCredentials.text(lang), StatusCode::UNAUTHORIZED)),
                Checked::Guarded(guard) => return Ok(guard.answer(lang, &headers, again)),
            }
        } else {
            match p.take_pending(&f.pending).await? {
                Some(pending) => (pending, false),
                None => return Ok(expired()),
            }
        };
        let reason = if voluntary {
            Msg::ChangeVoluntary
        } else if pending.expired {
            Msg::ChangeExpired
        } else {
            Msg::ChangeInitial
        };
        // Refused: the same form again (a new one: this one is spent), with the reason.
        let keep = (!voluntary).then_some(&pending);
        let again = |error: &str, status| {
            p.change_page(&headers, lang, reason, keep, Some(error), None, status)
                .unwrap_or_else(|e| crate::unavailable(&e, lang))
        };
        let version = match p.change_password(&pending, &f.new, &f.repeat, lang, &peer).await? {
            Change::Done(version) => version,
            Change::Refused(why) => return Ok(again(&why, StatusCode::BAD_REQUEST)),
            Change::Guarded(guard) => return Ok(guard.answer(lang, &headers, again)),
            Change::Stale => return Ok(expired()),
        };
        if voluntary {
            return Ok(page(StatusCode::OK, &[], pages::message(lang, Msg::ChangeTitle, Msg::Changed)));
        }
        let next = Pending { must_change: false, expired: false, warned: true, version, ..pending };
        p.proceed(&headers, &peer, lang, next).await
    }
    .await;
    result.unwrap_or_else(|e| crate::unavailable(&e, lang))
}
