//! The second factor step of the login flow: who needs it (the client asks for it, or the
//! account is in a group that must), enrolling a TOTP secret on first use, checking a code.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use orgid_directory::audit::{AuditEvent, LoginFailure};
use orgid_directory::idp::Subject;

use super::{Pending, PendingForm, pages};
use crate::audit::Peer;
use crate::i18n::{Lang, Msg};
use crate::respond::{form_lang, page};
use crate::{Client, IdpError, Provider};

impl Provider {
    /// Whether this login to this client needs the second factor.
    pub(crate) fn needs_otp(&self, client: &Client, subject: &Subject) -> bool {
        client.require_totp
            || crate::account::groups(subject).iter().any(|g| self.inner.settings.totp.required_groups.contains(g))
    }

    /// The second factor page (with a new secret to enrol when the account has none).
    pub(crate) async fn otp_step(
        &self,
        headers: &HeaderMap,
        lang: Lang,
        mut pending: Pending,
        error: Option<&str>,
    ) -> Response {
        let result = async {
            let cred = self.inner.store.credential(&pending.login).await?;
            if cred.as_ref().and_then(|c| c.totp_secret.as_ref()).is_none() && pending.enrol.is_none() {
                pending.enrol = Some(crate::totp::new_secret()?);
            }
            let (csrf, set) = self.csrf(headers)?;
            let sealed = self.seal_pending(&pending)?;
            let uri = pending.enrol.as_ref().map(|k| crate::totp::uri("orgid", &pending.login, k));
            let enrol = pending.enrol.as_deref().zip(uri.as_deref());
            let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
            Ok::<_, IdpError>(page(status, &[set], pages::otp(lang, &csrf, &sealed, enrol, error)))
        }
        .await;
        result.unwrap_or_else(|e| crate::unavailable(&e, lang))
    }
}

pub(super) async fn otp_post(
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
        // Spent here: a code, right or wrong, is tried once per form (a wrong one gets a new form).
        let Some(mut pending) = p.take_pending(&f.pending).await? else { return Ok(expired()) };
        let cred = p.inner.store.credential(&pending.login).await?;
        let secret = match (&pending.enrol, cred.as_ref().and_then(|c| c.totp_secret.clone())) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => k,
            (None, None) => return Ok(expired()),
        };
        if !crate::totp::verify(&secret, &f.code, p.now().timestamp()) {
            let ctx = peer.context(pending.req.as_ref().map(|r| r.client_id.as_str()), None);
            let attempt = AuditEvent::login_failed(
                p.now(),
                &pending.login,
                pending.company.as_ref(),
                LoginFailure::SecondFactorFailed,
                &ctx,
            );
            if p.count_failure(&pending.login, &attempt).await? {
                return Ok(page(
                    StatusCode::UNAUTHORIZED,
                    &[],
                    pages::error(lang, Msg::BadCredentials.text(lang), None),
                ));
            }
            return Ok(p.otp_step(&headers, lang, pending, Some(Msg::OtpWrong.text(lang))).await);
        }
        if let Some(k) = pending.enrol.take() {
            p.inner.store.set_totp(&pending.login, Some(&k)).await?;
        }
        pending.amr.push("otp".into());
        p.proceed(&headers, &peer, lang, pending).await
    }
    .await;
    result.unwrap_or_else(|e: IdpError| crate::unavailable(&e, lang))
}
