//! The login flow every face shares: password, forced or voluntary password change, second
//! factor, expiry warning, then a new SSO session, handed back to the face that asked
//! ([`Face::answer`]).
//!
//! The flow's state travels between pages sealed in the forms ([`Pending`]), so any replica
//! serves any step. Each sealed form acts once: its id is spent in the store when it is posted
//! (`take_pending`), and it is bound to the password it was sealed for (the credential's
//! version), so a form posted again, or after the password changed, is refused as expired.
//!
//! A password is checked only past the guards (`guard.rs`): a place in the hashing pool and the
//! budgets of failures per address and per login.

mod change;
mod face;
mod guard;
mod otp;
pub(crate) mod pages;
mod wecom;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use chrono::Duration;
use orgid_directory::audit::{AuditEvent, AuditOutcome, EventKind, LoginFailure};
use orgid_directory::idp::SessionRecord;
use orgid_directory::{AccountStatus, CompanyCode};
use serde::{Deserialize, Serialize};

pub(crate) use face::{Acting, Face, Protocol, Resume};
pub(crate) use guard::Guard;
pub use wecom::{WecomSettings, WecomSignIn};

use crate::audit::{Peer, by_user};
use crate::crypto::{random_token, sha256_hex};
use crate::i18n::{Lang, Msg};
use crate::password::{self, Age};
use crate::respond::{form_lang, page};
use crate::{Client, IdpError, Provider};

pub(crate) fn routes() -> Router<Provider> {
    Router::new()
        .route("/login", post(login_post))
        .route("/login/otp", post(otp::otp_post))
        .route("/login/continue", post(change::continue_post))
        .route("/password", axum::routing::get(change::password_get).post(change::password_post))
        .merge(wecom::routes())
}

/// Where a login stands between pages (sealed in the form).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    login: String,
    /// The face's request the login resumes; none for a password change on its own.
    req: Option<Resume>,
    amr: Vec<String>,
    /// The password was verified at (unix seconds): becomes `auth_time`.
    auth_time: i64,
    /// A TOTP secret being enrolled.
    enrol: Option<String>,
    warned: bool,
    /// The password must be changed before anything else.
    must_change: bool,
    expired: bool,
    /// The account's company, for the audit records of the flow.
    #[serde(default)]
    company: Option<CompanyCode>,
    /// The credential's version the password was verified at: the form is void once the
    /// password changes.
    version: i64,
    /// This form's id, new each time the pending login is sealed, spent when the form is
    /// posted.
    form: String,
}

/// What a password check found.
#[derive(Debug)]
pub(crate) enum Checked {
    /// The password is right and the account may sign in.
    Passed(Pending),
    /// Wrong login or password, or the account cannot sign in: one answer for all of them.
    Failed,
    /// Turned away before the check.
    Guarded(Guard),
}

impl Pending {
    /// A live session that covers `resume`'s login but not the second factor its client needs:
    /// the flow resumes at the second factor (no password change, no expiry warning).
    /// `version`: the credential's now.
    pub(crate) fn second_factor(s: &SessionRecord, resume: Resume, company: CompanyCode, version: i64) -> Self {
        Pending {
            login: s.login.clone(),
            req: Some(resume),
            amr: s.amr.clone(),
            auth_time: s.auth_time.timestamp(),
            enrol: None,
            warned: true,
            must_change: false,
            expired: false,
            company: Some(company),
            version,
            form: String::new(),
        }
    }
}

const FLOW_TTL_MIN: i64 = 15;

/// The purpose a face's request is sealed for in the login form (named when OIDC was the only
/// face; kept so that forms sealed before still open).
const REQUEST_PURPOSE: &str = "authorize";

/// The purpose of a sealed [`Pending`].
const PENDING_PURPOSE: &str = "pending";

impl Provider {
    /// `pending` sealed for a form, with a new form id.
    pub(crate) fn seal_pending(&self, pending: &Pending) -> Result<String, IdpError> {
        let fresh = Pending { form: random_token(16)?, ..pending.clone() };
        self.seal(PENDING_PURPOSE, &fresh, Duration::minutes(FLOW_TTL_MIN))
    }

    /// The pending login of a posted form, spent: `None` if the form is forged, expired, posted
    /// before, or sealed for a password that has changed since.
    pub(crate) async fn take_pending(&self, sealed: &str) -> Result<Option<Pending>, IdpError> {
        let Some(pending) = self.open::<Pending>(PENDING_PURPOSE, sealed) else { return Ok(None) };
        let current = self.inner.store.credential(&pending.login).await?.map(|c| c.version);
        if pending.form.is_empty() || current != Some(pending.version) {
            return Ok(None);
        }
        let spent_until = self.now() + Duration::minutes(FLOW_TTL_MIN);
        let first = self.inner.store.spend_form(&sha256_hex(&pending.form), spent_until).await?;
        Ok(first.then_some(pending))
    }

    /// The login form for `resume`'s client.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn login_page(
        &self,
        headers: &HeaderMap,
        lang: Lang,
        client: &Client,
        resume: &Resume,
        login: &str,
        error: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let result = (|| {
            let (csrf, set) = self.csrf(headers)?;
            let sealed = self.seal(REQUEST_PURPOSE, resume, Duration::minutes(FLOW_TTL_MIN))?;
            let other = match lang {
                Lang::Zh => Lang::En,
                Lang::En => Lang::Zh,
            };
            let switch = self.face(resume.protocol).relink(self, resume, other)?;
            let wecom = self.wecom_offered(client).then(|| self.wecom_start_link(lang, &sealed));
            // Inside the WeCom app, its own sign-in is taken at once (no form to fill on a phone).
            if let Some(link) = &wecom
                && error.is_none()
                && wecom::in_wecom(headers)
            {
                return Ok(crate::respond::see_other(&format!("{link}&via=app"), &[set]));
            }
            let html = pages::login(&pages::LoginPage {
                lang,
                client_name: &client.name,
                login,
                error,
                csrf: &csrf,
                req: &sealed,
                switch: &switch,
                wecom: wecom.as_deref(),
            });
            Ok::<_, IdpError>(page(status, &[set], html))
        })();
        result.unwrap_or_else(|e| crate::unavailable(&e, lang))
    }

    /// A new session (new id: no fixation), then the face's answer to its client.
    async fn complete(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        lang: Lang,
        pending: Pending,
    ) -> Result<Response, IdpError> {
        let now = self.now();
        let id = random_token(32)?;
        let session = SessionRecord {
            id_hash: sha256_hex(&id),
            login: pending.login.clone(),
            auth_time: chrono::DateTime::from_timestamp(pending.auth_time, 0).unwrap_or(now),
            last_seen_at: now,
            expires_at: now + Duration::hours(i64::from(self.inner.settings.session.absolute_hours)),
            amr: pending.amr.clone(),
            ended_at: None,
        };
        let client_id = pending.req.as_ref().map(|r| r.client_id.as_str());
        let ctx = peer.context(client_id, Some(&session.id_hash));
        let login = AuditEvent::login_succeeded(now, &pending.login, pending.company.as_ref(), &ctx)
            .attr("amr", pending.amr.join(" "));
        self.inner.store.record_success(&pending.login, now, &[login]).await?;
        self.seen_login(None);
        // A session this browser had before is ended: one login, one session.
        if let Some(old) = self.session_hash_of(headers)
            && let Some(before) = self.inner.store.session(&old).await?
        {
            let company = self.inner.store.subject(&before.login).await?.map(|s| s.company);
            let ended = by_user(
                now,
                EventKind::Logout,
                AuditOutcome::Success,
                &before.login,
                company.as_ref(),
                &peer.context(client_id, Some(&old)),
            )
            .reason("replaced by a new login in the same browser");
            self.inner.store.end_session(&old, now, &[ended]).await?;
            self.single_logout_soon();
        }
        self.inner.store.create_session(&session).await?;
        let cookie = Some(self.session_cookie(&id));
        let Some(req) = pending.req else {
            return Ok(page(StatusCode::OK, &[cookie], pages::message(lang, Msg::ChangeTitle, Msg::Changed)));
        };
        let Some(client) = self.client(&req.client_id).await? else {
            return Ok(page(
                StatusCode::BAD_REQUEST,
                &[cookie],
                pages::error(lang, Msg::UnknownClient.text(lang), None),
            ));
        };
        // A delegate chooses whom they act for first (`crate::delegation`).
        let mut res = self.answer_for(headers, lang, &req, &session, &client, peer, true).await?;
        if let Some(Ok(v)) = cookie.map(|c| c.parse()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        Ok(res)
    }

    /// After the password (or a later step): change, second factor, warning, or done.
    async fn proceed(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        lang: Lang,
        pending: Pending,
    ) -> Result<Response, IdpError> {
        if pending.must_change || pending.expired {
            let reason = if pending.expired { Msg::ChangeExpired } else { Msg::ChangeInitial };
            return self.change_page(headers, lang, reason, Some(&pending), None, None, StatusCode::OK);
        }
        if let Some(req) = &pending.req
            && !pending.amr.iter().any(|a| a == "otp")
        {
            let client = self.client(&req.client_id).await?;
            let subject = self.inner.store.subject(&pending.login).await?;
            if let (Some(c), Some(s)) = (client, subject)
                && self.needs_otp(&c, &s)
            {
                return Ok(self.otp_step(headers, lang, pending, None).await);
            }
        }
        if !pending.warned
            && let Some(cred) = self.inner.store.credential(&pending.login).await?
            && let Age::ExpiresSoon(days) = password::age(&self.password_policy(), cred.changed_at, self.now())
        {
            let (csrf, set) = self.csrf(headers)?;
            let sealed = self.seal_pending(&Pending { warned: true, ..pending })?;
            return Ok(page(StatusCode::OK, &[set], pages::expiry_warning(lang, &csrf, &sealed, days)));
        }
        self.complete(headers, peer, lang, pending).await
    }

    /// Checks a login and password, past the guards (a hashing place, the failure budgets of the
    /// address and the login, charged up front and given back on success); on failure counts it
    /// (and locks) without telling the caller more than "wrong login or password".
    ///
    /// It runs to its end in a task of its own even when the browser goes away: dropped halfway
    /// (a closed tab, a lost phone signal), an attempt kept the budget it was charged, and twenty
    /// such attempts from one office's address throttled everyone behind it.
    async fn check_password(
        &self,
        login: &str,
        pw: &str,
        client_id: Option<&str>,
        peer: &Peer,
    ) -> Result<Checked, IdpError> {
        let (p, login, pw, client_id, peer) =
            (self.clone(), login.to_string(), pw.to_string(), client_id.map(str::to_string), peer.clone());
        tokio::spawn(async move { p.check_password_to_the_end(&login, &pw, client_id.as_deref(), &peer).await })
            .await
            .map_err(|e| IdpError::Internal(format!("password check task: {e}")))?
    }

    async fn check_password_to_the_end(
        &self,
        login: &str,
        pw: &str,
        client_id: Option<&str>,
        peer: &Peer,
    ) -> Result<Checked, IdpError> {
        let now = self.now();
        let ctx = peer.context(client_id, None);
        let rules = self.throttle_rules(login, peer);
        let subject = self.inner.store.subject(login).await?;
        let company = subject.as_ref().map(|s| s.company.clone());
        let failed = |why| AuditEvent::login_failed(now, login, company.as_ref(), why, &ctx);
        // The budgets first, charged before the check: a burst from one address holds at most
        // its budget of places in the pool, and the others find room.
        if let Some(wait) = self.inner.store.charge_attempt(&rules, now).await? {
            let guard = Guard::Throttled(wait);
            let refused = failed(LoginFailure::Throttled).attr("retry_after_secs", guard.retry_after().to_string());
            self.inner.store.record_refusal(&refused).await?;
            self.seen_login(Some(LoginFailure::Throttled));
            return Ok(Checked::Guarded(guard));
        }
        let Ok(place) = self.inner.hashes.try_enter() else {
            tracing::warn!("password check turned away: every hashing place is taken");
            self.inner.store.refund_attempt(&rules, now).await?;
            return Ok(Checked::Guarded(Guard::Busy));
        };
        let cred = match &subject {
            Some(_) => self.inner.store.credential(login).await?,
            None => None,
        };
        // Nothing to verify: a dummy hash, through the same pool at the same cost.
        let matches = match &cred {
            Some(c) => place.verify(pw, &c.hash).await?,
            None => place.verify_dummy(pw).await?,
        };
        drop(place);
        let (Some(subject), Some(cred)) = (subject, cred) else {
            let why = if company.is_some() { LoginFailure::NoPassword } else { LoginFailure::UnknownUser };
            self.count_failure(login, &failed(why)).await?;
            return Ok(Checked::Failed);
        };
        if cred.locked_until.is_some_and(|t| t > now) {
            self.inner.store.record_refusal(&failed(LoginFailure::Locked)).await?;
            self.seen_login(Some(LoginFailure::Locked));
            return Ok(Checked::Failed);
        }
        if !matches {
            self.count_failure(login, &failed(LoginFailure::BadPassword)).await?;
            return Ok(Checked::Failed);
        }
        if subject.status != AccountStatus::Active || subject.departed {
            let why = if subject.departed { LoginFailure::Departed } else { LoginFailure::Disabled };
            self.inner.store.record_refusal(&failed(why)).await?;
            self.seen_login(Some(why));
            return Ok(Checked::Failed);
        }
        // Not a failure: what was charged goes back.
        self.inner.store.refund_attempt(&rules, now).await?;
        let expired = password::age(&self.password_policy(), cred.changed_at, now) == Age::Expired;
        Ok(Checked::Passed(Pending {
            login: login.to_string(),
            req: None,
            amr: vec!["pwd".into()],
            auth_time: now.timestamp(),
            enrol: None,
            warned: false,
            must_change: cred.must_change && self.password_policy().change_initial,
            expired,
            company: Some(subject.company),
            version: cred.version,
            form: String::new(),
        }))
    }

    /// A failed password or second factor, counted toward the lockout and recorded (with the
    /// lockout it causes) by the store. Returns whether the login is now locked.
    async fn count_failure(&self, login: &str, attempt: &AuditEvent) -> Result<bool, IdpError> {
        let pol = self.password_policy();
        let lock_until = attempt.at + Duration::minutes(i64::from(pol.lockout_minutes));
        let count = self.inner.store.record_failure(login, pol.lockout_threshold, lock_until, attempt).await?;
        let why = attempt.reason.as_deref().and_then(|r| r.parse().ok()).unwrap_or(LoginFailure::BadPassword);
        self.seen_login(Some(why));
        Ok(count.locked_until.is_some())
    }
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    req: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    lang: String,
}

async fn login_post(State(p): State<Provider>, peer: Peer, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    let lang = form_lang(&f.lang, &headers);
    let expired = || page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
    if !p.csrf_ok(&headers, &f.csrf) {
        return expired();
    }
    let Some(req) = p.open::<Resume>(REQUEST_PURPOSE, &f.req) else { return expired() };
    let client = match p.client(&req.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::UnknownClient.text(lang), None)),
        Err(e) => return crate::unavailable(&e, lang),
    };
    let login = f.login.trim().to_lowercase();
    let again = |error: &str, status| p.login_page(&headers, lang, &client, &req, &login, Some(error), status);
    match p.check_password(&login, &f.password, Some(&client.id), &peer).await {
        Ok(Checked::Passed(mut pending)) => {
            pending.req = Some(req.clone());
            p.proceed(&headers, &peer, lang, pending).await.unwrap_or_else(|e| crate::unavailable(&e, lang))
        }
        Ok(Checked::Failed) => again(Msg::BadCredentials.text(lang), StatusCode::UNAUTHORIZED),
        Ok(Checked::Guarded(guard)) => guard.answer(lang, &headers, again),
        Err(e) => crate::unavailable(&e, lang),
    }
}

/// The form of the steps after the password (second factor, expiry warning).
#[derive(Deserialize)]
struct PendingForm {
    csrf: String,
    pending: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    choice: String,
    #[serde(default)]
    lang: String,
}
