//! Password changes in the login flow: forced (an initial or expired password), offered (the
//! expiry warning's "change now"), or voluntary (`/password`, proving the current password);
//! the policy checks, the history, and the directory's copy.

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Duration;
use orgid_directory::audit::{AuditOutcome, EventKind};
use serde::Deserialize;

use super::{FLOW_TTL_MIN, PENDING_PURPOSE, Pending, PendingForm, pages};
use crate::audit::{Peer, by_user};
use crate::i18n::{Lang, Msg};
use crate::respond::{form_lang, lang_of, page};
use crate::{IdpError, Provider, password};

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
            Some(p) => self.seal(PENDING_PURPOSE, p, Duration::minutes(FLOW_TTL_MIN))?,
            None => String::new(),
        };
        let pol = &self.inner.settings.password;
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

    /// Sets a new password after the policy checks; returns the refusal message if any.
    async fn change_password(
        &self,
        pending: &Pending,
        new: &str,
        repeat: &str,
        lang: Lang,
        peer: &Peer,
    ) -> Result<Option<String>, IdpError> {
        let login = pending.login.as_str();
        if new != repeat {
            return Ok(Some(Msg::Mismatch.text(lang).into()));
        }
        let pol = &self.inner.settings.password;
        if let Err(w) = password::check_strength(pol, login, new) {
            return Ok(Some(w.message(lang)));
        }
        let Some(cred) = self.inner.store.credential(login).await? else {
            return Ok(Some(Msg::BadCredentials.text(lang).into()));
        };
        if password::verify(new.to_string(), cred.hash.clone()).await {
            return Ok(Some(password::Weakness::Unchanged.message(lang)));
        }
        let history = self.inner.store.password_history(login, pol.history.saturating_sub(1)).await?;
        if password::matches_any(new, history).await {
            return Ok(Some(password::Weakness::Reused(pol.history).message(lang)));
        }
        let hash = password::hash(new.to_string()).await?;
        if let Some(sink) = &self.inner.passwords
            && let Err(e) = sink.set_password(login, new).await
        {
            tracing::warn!(login, error = %e, "the directory refused a password change");
            return Ok(Some(Msg::Unavailable.text(lang).into()));
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
        self.inner.store.set_password(login, &hash, false, now, keep, &[changed]).await?;
        Ok(None)
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
    if !p.csrf_ok(&headers, &f.csrf) {
        return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    }
    let Some(pending) = p.open::<Pending>(PENDING_PURPOSE, &f.pending) else {
        return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    };
    let result = if f.choice == "change" {
        p.change_page(
            &headers,
            lang,
            Msg::ChangeVoluntary,
            Some(&Pending { must_change: true, ..pending }),
            None,
            None,
            StatusCode::OK,
        )
    } else {
        p.proceed(&headers, &peer, lang, pending).await
    };
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
    if !p.csrf_ok(&headers, &f.csrf) {
        return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    }
    let result = async {
        // A forced change carries the verified login; a voluntary one proves the current password.
        let (pending, voluntary) = if f.pending.is_empty() {
            let login = f.login.trim().to_lowercase();
            match p.check_password(&login, &f.current, None, &peer).await? {
                Some(pending) => (pending, true),
                None => {
                    let err = Msg::BadCredentials.text(lang);
                    return p.change_page(
                        &headers,
                        lang,
                        Msg::ChangeVoluntary,
                        None,
                        Some(err),
                        None,
                        StatusCode::UNAUTHORIZED,
                    );
                }
            }
        } else {
            match p.open::<Pending>(PENDING_PURPOSE, &f.pending) {
                Some(pending) => (pending, false),
                None => {
                    return Ok(page(
                        StatusCode::BAD_REQUEST,
                        &[],
                        pages::error(lang, Msg::SessionExpired.text(lang), None),
                    ));
                }
            }
        };
        let reason = if voluntary {
            Msg::ChangeVoluntary
        } else if pending.expired {
            Msg::ChangeExpired
        } else {
            Msg::ChangeInitial
        };
        if let Some(refusal) = p.change_password(&pending, &f.new, &f.repeat, lang, &peer).await? {
            let keep = (!voluntary).then_some(&pending);
            return p.change_page(&headers, lang, reason, keep, Some(&refusal), None, StatusCode::BAD_REQUEST);
        }
        if voluntary {
            return Ok(page(StatusCode::OK, &[], pages::message(lang, Msg::ChangeTitle, Msg::Changed)));
        }
        let next = Pending { must_change: false, expired: false, warned: true, ..pending };
        p.proceed(&headers, &peer, lang, next).await
    }
    .await;
    result.unwrap_or_else(|e| crate::unavailable(&e, lang))
}
