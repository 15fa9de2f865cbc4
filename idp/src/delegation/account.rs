//! `/account/delegations`: a person's own page of delegation, in the browser session they signed
//! in with. It grants and revokes only for the session's own person: no field names a principal
//! (a form that tries is refused), so a delegate acting for someone can never grant that
//! person's rights further. It lists the grants given and received, and what delegates did in
//! the person's name (from the audit trail).

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Duration;
use orgid_directory::audit::Actor;
use orgid_directory::idp::{Delegation, SessionRecord};
use serde::Deserialize;

use super::t;
use crate::audit::Peer;
use crate::i18n::Lang;
use crate::login::pages::{self, esc, hidden};
use crate::respond::{form_lang, lang_of, page, see_other};
use crate::{IdpError, Provider};

pub(super) fn routes() -> Router<Provider> {
    Router::new()
        .route("/account/delegations", get(show).post(grant))
        .route("/account/delegations/revoke", post(revoke))
}

/// How many of the acts in the person's name the page shows.
const ACTS_SHOWN: u32 = 50;

async fn show(
    State(p): State<Provider>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&q, &headers);
    p.delegation_page(&headers, lang, None, StatusCode::OK).await.unwrap_or_else(|e| crate::unavailable(&e, lang))
}

/// The grant form. Unknown fields are refused: there is no principal to name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantForm {
    csrf: String,
    delegate: String,
    /// Client ids separated by spaces or commas; empty: every client.
    #[serde(default)]
    clients: String,
    days: String,
    #[serde(default)]
    lang: String,
}

async fn grant(State(p): State<Provider>, peer: Peer, headers: HeaderMap, Form(f): Form<GrantForm>) -> Response {
    let lang = form_lang(&f.lang, &headers);
    let result = async {
        let Some(s) = p.account_session(&headers, &f.csrf).await? else { return Ok(signed_out(lang)) };
        let Some(days) = f.days.trim().parse::<i64>().ok().filter(|d| (1..=366).contains(d)) else {
            let msg = t(lang, "期限须为 1 至 366 天。", "The period must be 1 to 366 days.");
            return p.delegation_page(&headers, lang, Some(msg.to_string()), StatusCode::BAD_REQUEST).await;
        };
        let clients: Vec<String> =
            f.clients.split([' ', ',', '，']).filter(|c| !c.is_empty()).map(str::to_string).collect();
        let until = p.now() + Duration::days(days);
        let delegate = f.delegate.trim().to_lowercase();
        let by = Actor::User(s.login.clone());
        match p.grant_delegation(&s.login, &delegate, &clients, until, &by, Some(&peer)).await? {
            Ok(_) => Ok(see_other(&format!("/account/delegations?lang={}", lang.code()), &[])),
            Err(why) => p.delegation_page(&headers, lang, Some(why.to_string()), StatusCode::BAD_REQUEST).await,
        }
    };
    result.await.unwrap_or_else(|e: IdpError| crate::unavailable(&e, lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeForm {
    csrf: String,
    id: String,
    #[serde(default)]
    lang: String,
}

async fn revoke(State(p): State<Provider>, peer: Peer, headers: HeaderMap, Form(f): Form<RevokeForm>) -> Response {
    let lang = form_lang(&f.lang, &headers);
    let result = async {
        let Some(s) = p.account_session(&headers, &f.csrf).await? else { return Ok(signed_out(lang)) };
        let by = Actor::User(s.login.clone());
        // Only the person's own grants: another id is "not found".
        match p.revoke_delegation(&f.id, Some(&s.login), &by, Some(&peer)).await? {
            Some(_) => Ok(see_other(&format!("/account/delegations?lang={}", lang.code()), &[])),
            None => {
                let msg = t(lang, "没有这项授权。", "There is no such authorisation.");
                p.delegation_page(&headers, lang, Some(msg.to_string()), StatusCode::NOT_FOUND).await
            }
        }
    };
    result.await.unwrap_or_else(|e: IdpError| crate::unavailable(&e, lang))
}

fn signed_out(lang: Lang) -> Response {
    let msg = t(lang, "请先登录，再打开此页。", "Please sign in first, then open this page.");
    page(StatusCode::UNAUTHORIZED, &[], pages::error(lang, msg, None))
}

impl Provider {
    /// The browser's live session, for a posted form whose CSRF token is right.
    async fn account_session(&self, headers: &HeaderMap, csrf: &str) -> Result<Option<SessionRecord>, IdpError> {
        if !self.csrf_ok(headers, csrf) {
            return Ok(None);
        }
        self.current_session(headers).await
    }

    async fn delegation_page(
        &self,
        headers: &HeaderMap,
        lang: Lang,
        error: Option<String>,
        status: StatusCode,
    ) -> Result<Response, IdpError> {
        let Some(s) = self.current_session(headers).await? else { return Ok(signed_out(lang)) };
        let (csrf, set) = self.csrf(headers)?;
        let now = self.now();
        let all = self.inner.store.delegations(Some(&s.login)).await?;
        let acts = self.inner.store.delegated_acts(&s.login, ACTS_SHOWN).await?;
        let mut names = std::collections::HashMap::new();
        for d in &all {
            for l in [&d.principal, &d.delegate] {
                if !names.contains_key(l) {
                    let n = self.inner.store.subject(l).await?.map_or_else(|| l.clone(), |x| x.name);
                    names.insert(l.clone(), n);
                }
            }
        }
        let name = |l: &str| names.get(l).cloned().unwrap_or_else(|| l.to_string());
        let when = |d: &Delegation| {
            let state = if d.revoked_at.is_some() {
                t(lang, "已撤销", "revoked")
            } else if d.in_force(now) {
                t(lang, "有效", "in force")
            } else {
                t(lang, "已结束", "ended")
            };
            let clients = if d.clients.is_empty() {
                t(lang, "全部系统", "every client").to_string()
            } else {
                d.clients.join(", ")
            };
            format!("{clients} · {} {} · {state}", t(lang, "至", "until"), d.ends_at.format("%Y-%m-%d %H:%M UTC"))
        };
        let mut given = String::new();
        let mut received = String::new();
        for d in &all {
            if d.principal == s.login {
                let button = if d.revoked_at.is_none() && d.ends_at > now {
                    format!(
                        "<form method=\"post\" action=\"/account/delegations/revoke\">{}{}{}<button class=\"alt\" type=\"submit\">{}</button></form>",
                        hidden("csrf", &csrf),
                        hidden("id", &d.id),
                        hidden("lang", lang.code()),
                        esc(t(lang, "撤销", "Revoke"))
                    )
                } else {
                    String::new()
                };
                given.push_str(&format!(
                    "<li data-id=\"{}\">{} ({}) — {}{button}</li>",
                    esc(&d.id),
                    esc(&name(&d.delegate)),
                    esc(&d.delegate),
                    esc(&when(d))
                ));
            } else {
                received.push_str(&format!(
                    "<li>{} ({}) — {}</li>",
                    esc(&name(&d.principal)),
                    esc(&d.principal),
                    esc(&when(d))
                ));
            }
        }
        let mut done = String::new();
        for a in &acts {
            done.push_str(&format!(
                "<li>{} · {} · {} · {} · {}</li>",
                esc(&a.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
                esc(&a.delegate),
                esc(a.client_id.as_deref().unwrap_or("")),
                esc(&a.kind),
                esc(&a.outcome)
            ));
        }
        let none = format!("<li>{}</li>", esc(t(lang, "无", "none")));
        let or_none = |s: &str| if s.is_empty() { none.clone() } else { s.to_string() };
        let body = format!(
            "<h1>{title}</h1><p class=\"sub\">{me}</p>{err}\
<h2>{given_t}</h2><ul id=\"given\">{given}</ul><h2>{received_t}</h2><ul id=\"received\">{received}</ul>\
<h2>{acts_t}</h2><ul id=\"acts\">{done}</ul>\
<h2>{new_t}</h2><form method=\"post\" action=\"/account/delegations\">{csrf}{lang_f}\
<label for=\"delegate\">{delegate_l}</label><input type=\"text\" id=\"delegate\" name=\"delegate\" required>\
<label for=\"clients\">{clients_l}</label><input type=\"text\" id=\"clients\" name=\"clients\">\
<label for=\"days\">{days_l}</label><input type=\"text\" id=\"days\" name=\"days\" value=\"7\" inputmode=\"numeric\" required>\
<button type=\"submit\">{grant_b}</button></form>",
            title = esc(t(lang, "授权他人代办", "Delegation")),
            me = esc(&format!("{} {}", t(lang, "当前账号：", "Signed in as"), s.login)),
            err = pages::alert("err", error.as_deref()),
            given_t = esc(t(lang, "我给出的授权", "Authorisations I gave")),
            received_t = esc(t(lang, "我收到的授权", "Authorisations I hold")),
            acts_t = esc(t(lang, "他人以我的名义办理的记录", "Done in my name by others")),
            new_t = esc(t(lang, "新的授权", "New authorisation")),
            given = or_none(&given),
            received = or_none(&received),
            done = or_none(&done),
            csrf = hidden("csrf", &csrf),
            lang_f = hidden("lang", lang.code()),
            delegate_l = esc(t(lang, "被授权人账号", "Colleague's login")),
            clients_l = esc(t(
                lang,
                "系统（客户端 ID，空格分隔；留空为全部）",
                "Clients (ids, space-separated; empty for all)"
            )),
            days_l = esc(t(lang, "期限（天）", "Period (days)")),
            grant_b = esc(t(lang, "授权", "Grant")),
        );
        Ok(page(status, &[set], pages::layout(lang, t(lang, "授权他人代办", "Delegation"), &body, None)))
    }
}
