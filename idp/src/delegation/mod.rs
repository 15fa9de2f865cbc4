//! Delegation by authorization: a person lets a colleague act for them in named clients (or all)
//! for a period. The delegate signs in as themselves; when they hold grants in force for the
//! client that asked, a chooser page lets them pick "代 王芳 办理" before the face answers, and
//! what the face issues then names the principal as its subject and the delegate as its actor.
//!
//! Here: the grants' rules over the store (`grant_delegation`, `revoke_delegation`, used by the
//! account page and the operator's CLI), the check every later use repeats (`acting_delegate`:
//! a grant in force covering the client, both accounts active), and the chooser (`answer_for`,
//! `/login/act`). `account.rs` is the person's own page.

mod account;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use chrono::{DateTime, Duration, Utc};
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::idp::{Delegation, DelegationRefusal, SessionRecord, Subject, check_new};
use serde::{Deserialize, Serialize};

use crate::account::active;
use crate::audit::Peer;
use crate::crypto::random_token;
use crate::i18n::{Lang, Msg};
use crate::login::{Acting, Resume, pages};
use crate::respond::{form_lang, page};
use crate::{Client, IdpError, Provider};

pub(crate) fn routes() -> Router<Provider> {
    Router::new().route("/login/act", post(act_post)).merge(account::routes())
}

/// Why a grant of delegation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    #[error("{0}")]
    Rule(#[from] DelegationRefusal),
    #[error("there is no active account `{0}`")]
    NoAccount(String),
    #[error("there is no client `{0}`")]
    UnknownClient(String),
}

/// Text of the delegation pages, zh-CN first.
pub(crate) fn t(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

impl Provider {
    /// Grants `delegate` the right to act for `principal` in `clients` (empty: all) from now
    /// until `until`; audited as done by `by`.
    pub async fn grant_delegation(
        &self,
        principal: &str,
        delegate: &str,
        clients: &[String],
        until: DateTime<Utc>,
        by: &Actor,
        peer: Option<&Peer>,
    ) -> Result<Result<Delegation, GrantRefusal>, IdpError> {
        let now = self.now();
        let mut company = None;
        for login in [principal, delegate] {
            match self.inner.store.subject(login).await? {
                Some(s) if active(&s) => {
                    if login == principal {
                        company = Some(s.company);
                    }
                }
                _ => return Ok(Err(GrantRefusal::NoAccount(login.to_string()))),
            }
        }
        for c in clients {
            if self.client(c).await?.is_none() {
                return Ok(Err(GrantRefusal::UnknownClient(c.clone())));
            }
        }
        let d = Delegation {
            id: random_token(12)?,
            principal: principal.to_string(),
            delegate: delegate.to_string(),
            clients: clients.to_vec(),
            starts_at: now,
            ends_at: until,
            created_at: now,
            created_by: by.id(),
            revoked_at: None,
            revoked_by: None,
        };
        if let Err(why) = check_new(&d) {
            return Ok(Err(why.into()));
        }
        let mut event = AuditEvent::new(now, EventKind::DelegationGrant, AuditOutcome::Success, by.clone())
            .subject(principal, company.as_ref())
            .attr("delegation", d.id.as_str())
            .attr("delegate", delegate)
            .attr("clients", if clients.is_empty() { "*".to_string() } else { clients.join(" ") })
            .attr("ends_at", until.to_rfc3339());
        if let Some(p) = peer {
            event = event.context(&p.context(None, None));
        }
        self.inner.store.add_delegation(&d, &[event]).await?;
        Ok(Ok(d))
    }

    /// Revokes grant `id` (with what was issued under it). `principal`: only a grant of theirs.
    /// `None` if there is no such grant in force.
    pub async fn revoke_delegation(
        &self,
        id: &str,
        principal: Option<&str>,
        by: &Actor,
        peer: Option<&Peer>,
    ) -> Result<Option<Delegation>, IdpError> {
        let Some(d) = self.inner.store.delegation(id).await? else { return Ok(None) };
        if principal.is_some_and(|p| p != d.principal) || d.revoked_at.is_some() {
            return Ok(None);
        }
        let company = self.inner.store.subject(&d.principal).await?.map(|s| s.company);
        let mut event = AuditEvent::new(self.now(), EventKind::DelegationRevoke, AuditOutcome::Success, by.clone())
            .subject(&d.principal, company.as_ref())
            .attr("delegation", id)
            .attr("delegate", d.delegate.as_str());
        if let Some(p) = peer {
            event = event.context(&p.context(None, None));
        }
        Ok(self.inner.store.revoke_delegation(id, &by.id(), self.now(), &[event]).await?)
    }

    /// Every grant of delegation where `login` is principal or delegate (all with `None`).
    pub async fn delegations(&self, login: Option<&str>) -> Result<Vec<Delegation>, IdpError> {
        Ok(self.inner.store.delegations(login).await?)
    }

    /// The delegate's account when `delegate` may act for `principal` in `client_id` now: a
    /// grant in force that covers the client, and both accounts active.
    pub(crate) async fn acting_delegate(
        &self,
        principal: &str,
        delegate: &str,
        client_id: &str,
    ) -> Result<Option<Subject>, IdpError> {
        let now = self.now();
        let grants = self.inner.store.delegations(Some(delegate)).await?;
        if !grants.iter().any(|d| d.delegate == delegate && d.principal == principal && d.allows(client_id, now)) {
            return Ok(None);
        }
        let p = self.inner.store.subject(principal).await?;
        let d = self.inner.store.subject(delegate).await?;
        Ok(match (p, d) {
            (Some(p), Some(d)) if active(&p) && active(&d) => Some(d),
            _ => None,
        })
    }

    pub(crate) async fn delegation_allows(
        &self,
        principal: &str,
        delegate: &str,
        client_id: &str,
    ) -> Result<bool, IdpError> {
        Ok(self.acting_delegate(principal, delegate, client_id).await?.is_some())
    }

    /// The people `delegate` may act for in `client_id` now.
    async fn principals_of(&self, delegate: &str, client_id: &str) -> Result<Vec<Subject>, IdpError> {
        let now = self.now();
        let mut out: Vec<Subject> = Vec::new();
        for d in self.inner.store.delegations(Some(delegate)).await? {
            if d.delegate != delegate || !d.allows(client_id, now) || out.iter().any(|s| s.login == d.principal) {
                continue;
            }
            if let Some(p) = self.inner.store.subject(&d.principal).await?
                && active(&p)
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The face's answer for a signed-in `session`, unless its person holds grants of
    /// delegation for `client`: then the chooser comes first ("act for whom?").
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn answer_for(
        &self,
        headers: &HeaderMap,
        lang: Lang,
        resume: &Resume,
        session: &SessionRecord,
        client: &Client,
        peer: &Peer,
        fresh: bool,
    ) -> Result<Response, IdpError> {
        let principals = self.principals_of(&session.login, &client.id).await?;
        if principals.is_empty() {
            let acting = Acting { actor: None, fresh };
            return self.face(resume.protocol).answer(self, resume, session, client, peer, &acting).await;
        }
        let (csrf, set) = self.csrf(headers)?;
        let choice = Choice {
            resume: resume.clone(),
            session_hash: session.id_hash.clone(),
            delegate: session.login.clone(),
            fresh,
        };
        let sealed = self.seal(CHOICE_PURPOSE, &choice, Duration::minutes(15))?;
        Ok(page(StatusCode::OK, &[set], chooser(lang, &client.name, &csrf, &sealed, &principals)))
    }
}

/// What the chooser's form carries (sealed): the request, and the session it was offered in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Choice {
    resume: Resume,
    session_hash: String,
    delegate: String,
    fresh: bool,
}

const CHOICE_PURPOSE: &str = "act-for";

fn chooser(
    lang: Lang,
    client_name: &str,
    csrf: &str,
    sealed: &str,
    principals: &[Subject],
) -> axum::response::Html<String> {
    let esc = pages::esc;
    let mut buttons = String::new();
    for p in principals {
        let label = match lang {
            Lang::Zh => format!("代 {} 办理", p.name),
            Lang::En => format!("Act for {}", p.name),
        };
        buttons.push_str(&format!(
            "<button type=\"submit\" name=\"for\" value=\"{}\">{}</button>",
            esc(&p.login),
            esc(&label)
        ));
    }
    let body = format!(
        "<h1>{title}</h1><p class=\"sub\">{to}{client}</p><form method=\"post\" action=\"/login/act\">{csrf}{choice}{lang}\
{buttons}<button type=\"submit\" class=\"alt\" name=\"for\" value=\"\">{myself}</button></form>",
        title = esc(t(lang, "以谁的身份办理？", "Act as whom?")),
        to = esc(t(lang, "您有同事的授权，可以代其登录 ", "Colleagues have authorised you to act for them in ")),
        client = esc(client_name),
        csrf = pages::hidden("csrf", csrf),
        choice = pages::hidden("choice", sealed),
        lang = pages::hidden("lang", lang.code()),
        myself = esc(t(lang, "以本人身份继续", "Continue as myself")),
    );
    pages::layout(lang, t(lang, "以谁的身份办理？", "Act as whom?"), &body, None)
}

#[derive(Deserialize)]
struct ActForm {
    csrf: String,
    choice: String,
    #[serde(default, rename = "for")]
    principal: String,
    #[serde(default)]
    lang: String,
}

/// `/login/act`: the chooser's answer. Acting for someone is checked again here (the grant in
/// force for this client, both accounts active) and audited with both people.
async fn act_post(State(p): State<Provider>, peer: Peer, headers: HeaderMap, Form(f): Form<ActForm>) -> Response {
    let lang = form_lang(&f.lang, &headers);
    p.act(&headers, &peer, lang, &f).await.unwrap_or_else(|e| crate::unavailable(&e, lang))
}

impl Provider {
    async fn act(&self, headers: &HeaderMap, peer: &Peer, lang: Lang, f: &ActForm) -> Result<Response, IdpError> {
        let expired = || page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::SessionExpired.text(lang), None));
        if !self.csrf_ok(headers, &f.csrf) {
            return Ok(expired());
        }
        let Some(choice) = self.open::<Choice>(CHOICE_PURPOSE, &f.choice) else { return Ok(expired()) };
        // Offered in this browser's session, still live, to the person it was offered to.
        let Some(session) = self.current_session(headers).await? else { return Ok(expired()) };
        if session.id_hash != choice.session_hash || session.login != choice.delegate {
            return Ok(expired());
        }
        let Some(client) = self.client(&choice.resume.client_id).await? else {
            return Ok(page(StatusCode::BAD_REQUEST, &[], pages::error(lang, Msg::UnknownClient.text(lang), None)));
        };
        let face = self.face(choice.resume.protocol);
        if f.principal.is_empty() {
            let acting = Acting { actor: None, fresh: choice.fresh };
            return face.answer(self, &choice.resume, &session, &client, peer, &acting).await;
        }
        let now = self.now();
        let ctx = peer.context(Some(&client.id), Some(&session.id_hash));
        let principal = self.inner.store.subject(&f.principal).await?;
        let company = principal.as_ref().map(|s| s.company.clone());
        let event = |outcome| {
            AuditEvent::new(now, EventKind::DelegationAct, outcome, Actor::User(session.login.clone()))
                .subject(&f.principal, company.as_ref())
                .context(&ctx)
                .attr("act", session.login.as_str())
        };
        if self.acting_delegate(&f.principal, &session.login, &client.id).await?.is_none() {
            self.inner.store.record_issued(&event(AuditOutcome::Failure).reason("no delegation in force")).await?;
            let msg = t(
                lang,
                "您没有代此人在该系统办理的授权（或授权已结束）。",
                "You are not authorised to act for this person here (or the authorisation has ended).",
            );
            return Ok(page(StatusCode::FORBIDDEN, &[], pages::error(lang, msg, None)));
        }
        self.inner.store.record_issued(&event(AuditOutcome::Success)).await?;
        let as_principal = SessionRecord { login: f.principal.clone(), ..session.clone() };
        let acting = Acting { actor: Some(session.login.clone()), fresh: choice.fresh };
        face.answer(self, &choice.resume, &as_principal, &client, peer, &acting).await
    }
}
