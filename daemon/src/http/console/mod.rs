//! The web console under `/console/`: server-rendered pages (zh-CN by default, no scripts) for
//! delegates, HR and approvers. It signs people in through orgid's own OpenID Connect provider as
//! the built-in confidential client `orgid-console` (see [`login`]), and keeps a sealed session
//! cookie (HttpOnly, SameSite=Lax, Secure unless the issuer is plain http on loopback). Every form
//! carries a CSRF token.

mod i18n;
mod lists;
mod login;
pub mod pages;
mod requests;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use orgid_idp::Provider;
use serde::Deserialize;

use crate::app::App;
pub use i18n::{CONSOLE, Lang, T};
use pages::esc;
pub use session::Session;

pub use crate::services::idp::console_client::{CLIENT_ID, client_config, client_secret};

fn base(issuer: &str) -> &str {
    issuer.trim_end_matches('/')
}

/// What every console handler shares.
#[derive(Clone)]
pub struct Console {
    pub app: Arc<App>,
    pub provider: Provider,
    secret: Arc<str>,
}

impl Console {
    pub fn new(app: Arc<App>, provider: Provider, idp_secret: &[u8]) -> Self {
        Console { app, provider, secret: client_secret(idp_secret).into() }
    }

    fn issuer(&self) -> &str {
        base(self.provider.issuer())
    }
}

/// The console's routes.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(home))
        .route("/console/login", get(login::start))
        .route("/console/callback", get(login::callback))
        .route("/console/logout", post(login::logout))
        .route("/console/signed-out", get(login::signed_out))
        .route("/console/requests", get(requests::list))
        .route("/console/requests/new", get(requests::new_form).post(requests::new_submit))
        .route("/console/requests/{id}", get(requests::show))
        .route("/console/requests/{id}/decide", post(requests::decide))
        .route("/console/requests/{id}/cancel", post(requests::cancel))
        .route("/console/inbox", get(requests::inbox))
        .route("/console/people", get(lists::people))
        .route("/console/accounts/{login}/reset-password", post(lists::reset_password))
        .route("/console/overdue", get(lists::overdue))
        .route("/console/roster-checks", get(lists::roster_checks))
        .route("/console/roles", get(lists::roles).post(lists::grant))
        .route("/console/roles/{id}/revoke", post(lists::revoke))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(console)
}

/// `?lang=` on any page.
#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    #[serde(default)]
    pub lang: Option<String>,
}

/// The page's language: `?lang=`, else `Accept-Language`, else Chinese.
pub fn lang_of(headers: &HeaderMap, explicit: Option<&str>) -> Lang {
    Lang::pick(explicit, headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

async fn home(State(c): State<Console>, s: Session) -> Response {
    let lang = s.lang;
    let subject = match orgid_directory::idp::CredentialStore::subject(&c.app.store, &s.login).await {
        Ok(sub) => sub,
        Err(e) => return unavailable(lang, &e),
    };
    let who = match c.principal(&s).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let company = subject.map(|s| format!("{} {}", s.company.0, s.company_name)).unwrap_or_default();
    let names = match c.company_names().await {
        Ok(n) => n,
        Err(e) => return unavailable(lang, &e),
    };
    let roles = who
        .grants
        .iter()
        .map(|g| (i18n::word(g.role.as_str(), lang), company_label(&names, &g.company.0), g.subtree))
        .collect();
    let bar = s.bar("/console/");
    s.respond(pages::render(&HomePage {
        lang,
        title: T::Home.text(lang),
        bar: Some(&bar),
        home: pages::with_lang("/console/", lang),
        switch: pages::switch_of("/console/", lang),
        name: &s.name,
        login: &s.login,
        company,
        roles,
    }))
}

#[derive(askama::Template)]
#[template(path = "console/home.html")]
struct HomePage<'a> {
    lang: Lang,
    title: &'a str,
    bar: Option<&'a pages::Bar<'a>>,
    home: String,
    switch: String,
    name: &'a str,
    login: &'a str,
    company: String,
    /// `(role, company, with its subsidiaries)`.
    roles: Vec<(String, String, bool)>,
}

/// A company as people read it: its code and its name.
pub fn company_label(names: &std::collections::HashMap<String, String>, code: &str) -> String {
    match names.get(code) {
        Some(name) => format!("{code} {name}"),
        None => code.to_string(),
    }
}

impl Console {
    /// Every company's name by code, to show beside codes.
    pub async fn company_names(&self) -> anyhow::Result<std::collections::HashMap<String, String>> {
        let list = orgid_directory::CompanyStore::companies(&self.app.store).await?;
        Ok(list.into_iter().map(|c| (c.code.0, c.name)).collect())
    }

    /// [`Console::company_names`] for a list that shows codes: on a store failure the codes
    /// alone (logged), since the names only help to read them.
    pub async fn names(&self) -> std::collections::HashMap<String, String> {
        self.company_names().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "company names not read");
            Default::default()
        })
    }

    /// The signed-in user's roles, as of now.
    pub async fn principal(&self, s: &Session) -> Result<orgid_directory::workflow::Principal, Response> {
        crate::services::workflow::principal(&self.app, &s.login).await.map_err(|e| service_error(s, e))
    }

    /// Whether a submitted form's CSRF token is this browser's.
    pub fn csrf_ok(&self, headers: &HeaderMap, form: &std::collections::HashMap<String, String>) -> bool {
        form.get("csrf").is_some_and(|t| self.provider.csrf_ok(headers, t))
    }

    /// The checks of every form post: its CSRF token, then the user's roles.
    pub async fn form_principal(
        &self,
        s: &Session,
        headers: &HeaderMap,
        form: &std::collections::HashMap<String, String>,
    ) -> Result<orgid_directory::workflow::Principal, Response> {
        if !self.csrf_ok(headers, form) {
            return Err(bad_request(s));
        }
        self.principal(s).await
    }
}

impl Console {
    /// The checks of a form posted about one thing (`/…/{id}/…`): its id, its CSRF token, the
    /// user's roles.
    pub async fn id_post(
        &self,
        s: &Session,
        headers: &HeaderMap,
        form: &std::collections::HashMap<String, String>,
        id: &str,
    ) -> Result<(orgid_directory::workflow::Principal, i64), Response> {
        let id = parse_id(id).map_err(|e| service_error(s, e))?;
        Ok((self.form_principal(s, headers, form).await?, id))
    }
}

/// A malformed or forged form: 400.
pub fn bad_request(s: &Session) -> Response {
    (StatusCode::BAD_REQUEST, pages::error(s.lang, T::BadRequest.text(s.lang))).into_response()
}

/// A numeric id from the path; anything else is not found.
pub fn parse_id(id: &str) -> Result<i64, crate::services::workflow::WorkflowError> {
    id.parse::<i64>().map_err(|_| crate::services::workflow::WorkflowError::NotFound(id.to_string()))
}

/// A refusal or failure of the service, as a page: 403 with the reason, 404, 422, or 503.
pub fn service_error(s: &Session, e: crate::services::workflow::WorkflowError) -> Response {
    use crate::services::workflow::WorkflowError as W;
    let lang = s.lang;
    let (status, msg) = match e {
        W::Denied(d) => (StatusCode::FORBIDDEN, format!("{}{}", T::Denied.text(lang), i18n::denial(&d, lang))),
        W::NotFound(_) => (StatusCode::NOT_FOUND, T::NotFound.text(lang).to_string()),
        W::Invalid(why) => (StatusCode::UNPROCESSABLE_ENTITY, why),
        W::Store(e) => return unavailable(lang, &format!("{e:#}")),
    };
    let body = format!(
        "<h1>{}</h1><div class=\"err\" role=\"alert\" id=\"error\">{}</div>",
        esc(T::ErrorTitle.text(lang)),
        esc(&msg)
    );
    let mut res = s.page(T::ErrorTitle.text(lang), &body, "/console/");
    *res.status_mut() = status;
    res
}

/// A table; `rows` hold HTML already escaped.
/// A time as the console shows it: minutes, in the group's zone; nothing for none.
pub fn fmt_time(c: &Console, t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.with_timezone(&c.app.tz).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

pub fn table(lang: Lang, id: &str, headers: &[T], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return format!("<p class=\"note\" id=\"{id}\">{}</p>", esc(T::Nothing.text(lang)));
    }
    let head: String = headers.iter().map(|h| format!("<th>{}</th>", esc(h.text(lang)))).collect();
    // On a phone each row is a card and each cell names its column (`data-label`, shown by the
    // stylesheet); on a wider screen a table that is still too wide scrolls inside its box.
    let body: String = rows
        .iter()
        .map(|r| {
            let cells: String = r
                .iter()
                .zip(headers.iter().chain(std::iter::repeat(&T::Actions)))
                .map(|(c, h)| format!("<td data-label=\"{}\">{c}</td>", esc(h.text(lang))))
                .collect();
            format!("<tr>{cells}</tr>")
        })
        .collect();
    format!(
        "<div class=\"table-wrap\"><table id=\"{id}\" class=\"cards\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
}

/// A store failure seen by a browser: logged, a plain 503 page.
pub fn unavailable(lang: Lang, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console failure");
    (StatusCode::SERVICE_UNAVAILABLE, pages::error(lang, T::Unavailable.text(lang))).into_response()
}

/// Headers every console response carries: the provider's (no framing, no scripts, no caching),
/// with forms limited to this origin.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = orgid_idp::security_headers(req, next).await;
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

/// Where to go back to after signing in: a console page of this origin, nothing else.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console/") && !n.contains("//") && !n.contains('\\') => n.to_string(),
        _ => "/console/".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_followed_after_login() {
        assert_eq!(safe_next(Some("/console/requests?x=1")), "/console/requests?x=1");
        for bad in ["https://evil.example/", "//evil.example/console/", "/console//evil", "/console/\\evil", "/token"] {
            assert_eq!(safe_next(Some(bad)), "/console/", "{bad}");
        }
        assert_eq!(safe_next(None), "/console/");
    }
}
