//! List pages: people and accounts in scope (with search), overdue cases, and roles (group IT
//! grants and revokes; everybody else sees their own).

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use orgid_directory::CompanyCode;
use orgid_directory::workflow::Role;

use super::i18n::{Lang, T, employment, word};
use super::pages::{self, esc, with_lang};
use super::{Console, Session, bad_request, fmt_time, service_error, table};
use crate::services::workflow::{self as wf, AccountQuery};

/// `GET /console/people?search=&company=`.
pub async fn people(State(c): State<Console>, s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let lang = s.lang;
    let who = match c.principal(&s).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let query = AccountQuery { company: get("company").map(CompanyCode), status: None, search: get("search") };
    let list = match wf::people(&c.app, &who, &query).await {
        Ok(l) => l,
        Err(e) => return service_error(&s, e),
    };
    let allowed = match wf::allowed(&c.app, &who, &list).await {
        Ok(a) => a,
        Err(e) => return service_error(&s, e),
    };
    let names = c.names().await;
    let rows: Vec<Vec<String>> = list
        .iter()
        .zip(&allowed)
        .map(|(p, may)| {
            vec![
                esc(&super::company_label(&names, &p.company.0)),
                esc(&p.employee_number),
                esc(&p.name),
                esc(&p.department),
                esc(&p.title),
                esc(p.grade.as_deref().unwrap_or("")),
                esc(employment(p.employment, lang)),
                esc(p.login.as_deref().unwrap_or("")),
                esc(&p.status.map(|st| word(st.as_str(), lang)).unwrap_or_default()),
                match &p.login {
                    // Only what would not be refused: form 2 and closing where the user may
                    // submit, a reset where they are the IT delegate or group IT.
                    Some(login) if may.requests || may.reset => {
                        let link = |kind: &str, t: T| {
                            let href =
                                format!("/console/requests/new?kind={kind}&employee_number={}", p.employee_number);
                            format!("<a href=\"{}\">{}</a>", esc(&with_lang(&href, lang)), esc(t.text(lang)))
                        };
                        let reset = if may.reset {
                            let action = format!("/console/accounts/{}/reset-password", pages::path_segment(login));
                            format!(
                                "<form method=\"post\" action=\"{}\" class=\"inline\"><input type=\"hidden\" \
                                 name=\"csrf\" value=\"{}\"><button type=\"submit\">{}</button></form>",
                                esc(&with_lang(&action, lang)),
                                esc(&s.csrf),
                                esc(T::ResetPassword.text(lang))
                            )
                        } else {
                            String::new()
                        };
                        let requests = if may.requests {
                            format!("{} · {}", link("adjust", T::Form2), link("close", T::FormClose))
                        } else {
                            String::new()
                        };
                        let sep = if may.requests && may.reset { " · " } else { "" };
                        format!("{requests}{sep}{reset}")
                    }
                    _ => String::new(),
                },
            ]
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><form method=\"get\" action=\"/console/people\" id=\"search-form\"><input type=\"hidden\" name=\"lang\" value=\"{}\">\
<input type=\"text\" id=\"search\" name=\"search\" value=\"{}\" placeholder=\"{}\" aria-label=\"{}\"> \
<button type=\"submit\" class=\"primary\">{}</button></form>{}",
        esc(T::People.text(lang)),
        lang.code(),
        esc(query.search.as_deref().unwrap_or("")),
        esc(T::SearchHint.text(lang)),
        esc(T::Search.text(lang)),
        esc(T::Search.text(lang)),
        table(
            lang,
            "people",
            &[
                T::Company,
                T::EmployeeNumber,
                T::Name,
                T::Department,
                T::Title,
                T::Grade,
                T::Employment,
                T::Login,
                T::Status,
                T::Actions
            ],
            &rows
        ),
    );
    s.page(T::People.text(lang), &body, "/console/people")
}

/// `GET /console/overdue`: the late cases in my scope.
pub async fn overdue(State(c): State<Console>, s: Session) -> Response {
    let lang = s.lang;
    let who = match c.principal(&s).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let list = match wf::sla_report(&c.app, &who, None).await {
        Ok(l) => l,
        Err(e) => return service_error(&s, e),
    };
    let names = c.names().await;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                esc(&word(r.role.as_str(), lang)),
                esc(&super::company_label(&names, &r.company.0)),
                esc(&super::i18n::sla_subject(&r.subject, lang)),
                esc(&word(r.case, lang)),
                esc(&r.deadline.to_string()),
                r.late_days.to_string(),
                r.points.to_string(),
            ]
        })
        .collect();
    let body = format!(
        "<h1>{}</h1>{}",
        esc(T::Overdue.text(lang)),
        table(
            lang,
            "overdue",
            &[T::ResponsibleRole, T::Company, T::Item, T::Case, T::Deadline, T::LateDays, T::Points],
            &rows
        )
    );
    s.page(T::Overdue.text(lang), &body, "/console/overdue")
}

/// `GET /console/roster-checks[?all=1]`: how group HR's roster differs from what the independent
/// companies in my scope keep (open ones; with `all`, resolved ones too), for their IT delegates
/// to act on with a request.
pub async fn roster_checks(State(c): State<Console>, s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let lang = s.lang;
    let who = match c.principal(&s).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let all = q.get("all").is_some_and(|v| v == "1");
    let list = match wf::roster_checks(&c.app, &who, !all).await {
        Ok(l) => l,
        Err(e) => return service_error(&s, e),
    };
    let names = c.names().await;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                esc(&super::company_label(&names, &r.company.0)),
                esc(&r.employee_number),
                esc(&r.name),
                esc(&word(r.kind.as_str(), lang)),
                // In Chinese when it was recorded in Chinese too (checks older than that have not).
                esc(if lang == Lang::Zh && !r.detail_zh.is_empty() { &r.detail_zh } else { &r.detail }),
                esc(&fmt_time(&c, Some(r.first_seen))),
                esc(&fmt_time(&c, Some(r.last_seen))),
                esc(match r.resolved_at {
                    Some(_) => T::Resolved.text(lang),
                    None => T::Open.text(lang),
                }),
            ]
        })
        .collect();
    let toggle = if all { "/console/roster-checks" } else { "/console/roster-checks?all=1" };
    let body = format!(
        "<h1>{}</h1><p><a href=\"{}\" id=\"toggle-resolved\">{} / {}</a></p>{}",
        esc(T::RosterChecks.text(lang)),
        esc(&with_lang(toggle, lang)),
        esc(T::Open.text(lang)),
        esc(T::Resolved.text(lang)),
        table(
            lang,
            "roster-checks",
            &[T::Company, T::EmployeeNumber, T::Name, T::Difference, T::Item, T::FirstSeen, T::LastSeen, T::State],
            &rows
        )
    );
    s.page(T::RosterChecks.text(lang), &body, "/console/roster-checks")
}

/// `GET /console/roles`.
pub async fn roles(State(c): State<Console>, s: Session) -> Response {
    let lang = s.lang;
    let who = match c.principal(&s).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let list = match wf::list_roles(&c.app, &who).await {
        Ok(l) => l,
        Err(e) => return service_error(&s, e),
    };
    let admin = who.is_admin();
    let names = match c.company_names().await {
        Ok(n) => n,
        Err(e) => return super::unavailable(lang, &e),
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|g| {
            let action = match (&g.revoked_at, admin && g.login != s.login) {
                (Some(_), _) => esc(T::Revoked.text(lang)),
                (None, true) => format!(
                    "<form method=\"post\" action=\"/console/roles/{}/revoke\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<input type=\"hidden\" name=\"lang\" value=\"{}\"><button type=\"submit\">{}</button></form>",
                    g.id,
                    esc(&s.csrf),
                    lang.code(),
                    esc(T::Revoke.text(lang))
                ),
                (None, false) => String::new(),
            };
            vec![
                g.id.to_string(),
                esc(&g.login),
                esc(&word(g.role.as_str(), lang)),
                esc(&super::company_label(&names, &g.company.0)),
                if g.subtree { "✓".into() } else { String::new() },
                // `cli`: granted with `orgid roles grant` by the operator.
                esc(&super::i18n::actor(&g.granted_by, lang)),
                action,
            ]
        })
        .collect();
    let form = if admin {
        let opts: String = Role::ALL
            .iter()
            .map(|r| format!("<option value=\"{}\">{}</option>", r.as_str(), esc(&word(r.as_str(), lang))))
            .collect();
        let mut companies: Vec<(&String, &String)> = names.iter().collect();
        companies.sort();
        let company_opts: String = companies
            .iter()
            .map(|(code, name)| format!("<option value=\"{}\">{} {}</option>", esc(code), esc(code), esc(name)))
            .collect();
        format!(
            "<h2>{grant}</h2><form method=\"post\" action=\"/console/roles\" id=\"grant-form\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<input type=\"hidden\" name=\"lang\" value=\"{code}\"><div class=\"field\"><label for=\"login\" class=\"req\">{login}</label><input type=\"text\" id=\"login\" name=\"login\" required autocapitalize=\"none\"></div>\
<div class=\"field\"><label for=\"role\" class=\"req\">{role}</label><select id=\"role\" name=\"role\" required><option value=\"\">{choose}</option>{opts}</select></div>\
<div class=\"field\"><label for=\"company\" class=\"req\">{company}</label><select id=\"company\" name=\"company\" required><option value=\"\">{choose}</option>{company_opts}</select></div>\
<label><input type=\"checkbox\" name=\"subtree\"> {subtree}</label><button type=\"submit\" class=\"primary\">{grant}</button></form>",
            grant = esc(T::Grant.text(lang)),
            csrf = esc(&s.csrf),
            code = lang.code(),
            login = esc(T::Login.text(lang)),
            role = esc(T::Role.text(lang)),
            company = esc(T::Company.text(lang)),
            subtree = esc(T::Subtree.text(lang)),
            choose = esc(T::Choose.text(lang)),
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>{}</h1>{}{form}",
        esc(T::Roles.text(lang)),
        table(lang, "grants", &[T::Id, T::Login, T::Role, T::Company, T::Subtree, T::GrantedBy, T::Actions], &rows)
    );
    s.page(T::Roles.text(lang), &body, "/console/roles")
}

/// `POST /console/roles`: grant (group IT).
pub async fn grant(
    State(c): State<Console>,
    s: Session,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let who = match c.form_principal(&s, &headers, &f).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let get = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let Ok(role) = get("role").parse::<Role>() else { return bad_request(&s) };
    let subtree = f.get("subtree").is_some_and(|v| v == "on");
    match wf::grant_role(&c.app, &who, &get("login"), role, &CompanyCode(get("company")), subtree).await {
        Ok(_) => s.redirect("/console/roles"),
        Err(e) => service_error(&s, e),
    }
}

/// `POST /console/roles/{id}/revoke` (group IT).
pub async fn revoke(
    State(c): State<Console>,
    s: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let (who, id) = match c.id_post(&s, &headers, &f, &id).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match wf::revoke_role(&c.app, &who, id).await {
        Ok(_) => s.redirect("/console/roles"),
        Err(e) => service_error(&s, e),
    }
}

/// `POST /console/accounts/{login}/reset-password`: a one-time initial password, sent to the
/// holder through the notifier (never shown); the company's IT delegate or group IT.
pub async fn reset_password(
    State(c): State<Console>,
    s: Session,
    headers: HeaderMap,
    Path(login): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let who = match c.form_principal(&s, &headers, &f).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let lang = s.lang;
    match wf::reset_password(&c.app, &who, &login).await {
        Ok(()) => {
            let body = format!(
                "<h1>{}</h1><p class=\"note\" role=\"status\" id=\"reset-sent\">{} <strong>{}</strong></p>\
                 <p><a href=\"{}\">{}</a></p>",
                esc(T::ResetPassword.text(lang)),
                esc(T::ResetSent.text(lang)),
                esc(&login),
                esc(&with_lang("/console/people", lang)),
                esc(T::People.text(lang))
            );
            s.page(T::ResetPassword.text(lang), &body, "/console/people")
        }
        Err(e) => service_error(&s, e),
    }
}
