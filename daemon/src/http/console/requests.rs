//! Request pages: my requests (and all in scope), the new-request forms (form 1 open, form 2
//! adjust, close) validated field by field, a request's details with its decision and cancel
//! forms, and the approval inbox. Everything goes through `crate::services::workflow`, as the API does.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use orgid_directory::CompanyStore;
use orgid_directory::workflow::{Origin, Request, RequestKind, RequestState};

use super::i18n::{Lang, T, word};
use super::pages::{esc, with_lang};
use super::{Console, Session, bad_request, fmt_time, parse_id, service_error, table, unavailable};
use crate::http::api::dto::{FieldError, SubmitInput};
use crate::services::workflow::{self as wf, RequestQuery};

fn rows(c: &Console, lang: Lang, list: &[Request], names: &HashMap<String, String>) -> Vec<Vec<String>> {
    list.iter()
        .map(|r| {
            vec![
                format!("<a href=\"{}\">{}</a>", esc(&with_lang(&format!("/console/requests/{}", r.id), lang)), r.id),
                esc(&word(r.kind.as_str(), lang)),
                esc(&super::company_label(names, &r.company.0)),
                esc(&r.employee_number),
                esc(&r.name),
                format!("<span class=\"state\">{}</span>", esc(&word(r.state.as_str(), lang))),
                esc(&super::i18n::actor(&r.requested_by, lang)),
                esc(&fmt_time(c, Some(r.requested_at))),
                esc(&fmt_time(c, r.due)),
            ]
        })
        .collect()
}

const COLUMNS: [T; 9] =
    [T::Id, T::Kind, T::Company, T::EmployeeNumber, T::Name, T::State, T::RequestedBy, T::RequestedAt, T::Due];

/// `GET /console/requests[?all=1]`.
pub async fn list(State(c): State<Console>, s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let lang = s.lang;
    let who = match c.principal(&s).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let all = q.get("all").is_some_and(|v| v == "1");
    let query = RequestQuery { mine: !all, ..RequestQuery::default() };
    let list = match wf::requests(&c.app, &who, &query).await {
        Ok(l) => l,
        Err(e) => return service_error(&s, e),
    };
    let names = c.names().await;
    let (title, other, other_href) = if all {
        (T::AllRequests, T::MyRequests, "/console/requests")
    } else {
        (T::MyRequests, T::AllRequests, "/console/requests?all=1")
    };
    let body = format!(
        "<h1>{}</h1><p><a href=\"{}\">{}</a> · <a href=\"{}\">{}</a></p>{}",
        esc(title.text(lang)),
        esc(&with_lang(other_href, lang)),
        esc(other.text(lang)),
        esc(&with_lang("/console/requests/new", lang)),
        esc(T::NewRequest.text(lang)),
        table(lang, "requests", &COLUMNS, &rows(&c, lang, &list, &names))
    );
    s.page(title.text(lang), &body, if all { "/console/requests?all=1" } else { "/console/requests" })
}

/// `GET /console/inbox`: pending requests with a step I may decide, each with its decision form.
pub async fn inbox(State(c): State<Console>, s: Session) -> Response {
    let lang = s.lang;
    let who = match c.principal(&s).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let list = match wf::requests(&c.app, &who, &RequestQuery { inbox: true, ..RequestQuery::default() }).await {
        Ok(l) => l,
        Err(e) => return service_error(&s, e),
    };
    let mut cols = COLUMNS.to_vec();
    cols.push(T::Actions);
    let mut table_rows = rows(&c, lang, &list, &c.names().await);
    for (row, r) in table_rows.iter_mut().zip(&list) {
        row.push(decision_form(&s, r.id, "inbox"));
    }
    let body = format!("<h1>{}</h1>{}", esc(T::Inbox.text(lang)), table(lang, "inbox", &cols, &table_rows));
    s.page(T::Inbox.text(lang), &body, "/console/inbox")
}

fn decision_form(s: &Session, id: i64, back: &str) -> String {
    let lang = s.lang;
    format!(
        "<form method=\"post\" action=\"/console/requests/{id}/decide\" class=\"decide\" id=\"decide-{id}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"back\" value=\"{back}\">\
<input type=\"hidden\" name=\"lang\" value=\"{code}\">\
<input type=\"text\" name=\"comment\" placeholder=\"{comment}\" aria-label=\"{comment}\"> \
<button type=\"submit\" name=\"decision\" value=\"approve\" class=\"primary approve\">{approve}</button> \
<button type=\"submit\" name=\"decision\" value=\"reject\" class=\"reject\">{reject}</button></form>",
        csrf = esc(&s.csrf),
        back = esc(back),
        code = lang.code(),
        comment = esc(T::Comment.text(lang)),
        approve = esc(T::Approve.text(lang)),
        reject = esc(T::Reject.text(lang)),
    )
}

/// `GET /console/requests/{id}`.
pub async fn show(State(c): State<Console>, s: Session, Path(id): Path<String>) -> Response {
    let lang = s.lang;
    let who = match c.principal(&s).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return service_error(&s, e),
    };
    let r = match wf::request(&c.app, &who, id).await {
        Ok(r) => r,
        Err(e) => return service_error(&s, e),
    };
    let index = match c.app.store.companies().await.map(orgid_directory::CompanyIndex::new) {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => return unavailable(lang, &e),
        Err(e) => return unavailable(lang, &e),
    };
    let names = c.names().await;
    let p = &r.profile;
    let mut dl = vec![
        (T::Id, r.id.to_string()),
        (T::Kind, word(r.kind.as_str(), lang)),
        (T::State, word(r.state.as_str(), lang)),
        (T::Company, super::company_label(&names, &r.company.0)),
        (T::EmployeeNumber, r.employee_number.clone()),
        (T::Name, r.name.clone()),
        (T::Department, p.department.clone()),
        (T::Title, p.title.clone()),
        (T::Grade, p.grade.map(|g| g.to_string()).unwrap_or_default()),
        (T::Confidential, if p.confidential { "✓".into() } else { String::new() }),
        (T::EffectiveDate, r.effective_date.map(|d| d.to_string()).unwrap_or_default()),
        (T::RequestedBy, format!("{} ({})", super::i18n::actor(&r.requested_by, lang), word(r.origin.as_str(), lang))),
        (T::RequestedAt, fmt_time(&c, Some(r.requested_at))),
        (T::Chain, r.chain.iter().map(|st| word(st.as_str(), lang)).collect::<Vec<_>>().join("、")),
        (T::Due, fmt_time(&c, r.due)),
        (T::Done, fmt_time(&c, r.done_at)),
    ];
    if let Some(e) = &r.error {
        dl.push((T::Failure, e.clone()));
    }
    let dl: String = dl
        .iter()
        .map(|(k, v)| {
            format!("<dt>{}</dt><dd id=\"f-{}\">{}</dd>", esc(k.text(lang)), format!("{k:?}").to_lowercase(), esc(v))
        })
        .collect();
    let approvals: Vec<Vec<String>> = r
        .approvals
        .iter()
        .map(|a| {
            vec![
                esc(&word(a.step.as_str(), lang)),
                esc(&super::i18n::actor(&a.by, lang)),
                esc(if a.approve { T::Approve.text(lang) } else { T::Reject.text(lang) }),
                esc(&a.comment),
                esc(&fmt_time(&c, Some(a.at))),
            ]
        })
        .collect();
    let mut actions = String::new();
    if !wf::decidable(&who, &r, &index).is_empty() {
        actions.push_str(&decision_form(&s, r.id, "show"));
    }
    if r.requested_by == s.login && matches!(r.state, RequestState::Pending | RequestState::Failed) {
        actions.push_str(&format!(
            "<form method=\"post\" action=\"/console/requests/{}/cancel\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<input type=\"hidden\" name=\"lang\" value=\"{}\"><button type=\"submit\" id=\"cancel\">{}</button></form>",
            r.id,
            esc(&s.csrf),
            lang.code(),
            esc(T::CancelRequest.text(lang))
        ));
    }
    let body = format!(
        "<h1>{} {}</h1><dl id=\"request\">{dl}</dl><h2>{}</h2>{}{actions}",
        esc(T::Id.text(lang)),
        r.id,
        esc(T::Approvals.text(lang)),
        table(lang, "approvals", &[T::Step, T::By, T::Decision, T::Comment, T::DecidedAt], &approvals),
    );
    s.page(&format!("{} {}", T::Id.text(lang), r.id), &body, &format!("/console/requests/{}", r.id))
}

/// `POST /console/requests/{id}/decide`: approve or reject, back to the inbox or the request.
pub async fn decide(
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
    let approve = match f.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("reject") => false,
        _ => return bad_request(&s),
    };
    let comment = f.get("comment").map(|c| c.trim()).unwrap_or("");
    if let Err(e) = wf::approve(&c.app, &who, id, approve, comment).await {
        return service_error(&s, e);
    }
    let back = if f.get("back").is_some_and(|b| b == "inbox") {
        "/console/inbox".to_string()
    } else {
        format!("/console/requests/{id}")
    };
    s.redirect(&back)
}

/// `POST /console/requests/{id}/cancel`.
pub async fn cancel(
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
    if let Err(e) = wf::cancel(&c.app, &who, id).await {
        return service_error(&s, e);
    }
    s.redirect(&format!("/console/requests/{id}"))
}

fn kind_of(v: Option<&String>) -> RequestKind {
    v.and_then(|k| k.parse().ok()).unwrap_or(RequestKind::Open)
}

/// The form's fields, in order, with which kinds show them.
const FIELDS: [(&str, T, &[RequestKind]); 13] = {
    use RequestKind::{Adjust, Close, Open};
    [
        ("id_number", T::IdNumber, &[Open]),
        ("employee_number", T::EmployeeNumber, &[Open, Adjust, Close]),
        ("new_employee_number", T::NewEmployeeNumber, &[Adjust]),
        ("name", T::Name, &[Open, Adjust]),
        ("gender", T::Gender, &[Open, Adjust]),
        ("company", T::Company, &[Open, Adjust]),
        ("department", T::Department, &[Open, Adjust]),
        ("title", T::Title, &[Open, Adjust]),
        ("grade", T::Grade, &[Open, Adjust]),
        ("mobile", T::Mobile, &[Open, Adjust]),
        ("email", T::Email, &[Open, Adjust]),
        ("confidential", T::Confidential, &[Open, Adjust]),
        ("effective_date", T::EffectiveDate, &[Open, Adjust, Close]),
    ]
};

/// The fields a request of `kind` cannot go without (as `api::dto` checks them), marked `*`.
fn required(kind: RequestKind, field: &str) -> bool {
    match field {
        "employee_number" => true,
        "id_number" => kind == RequestKind::Open,
        "name" | "company" | "department" => kind != RequestKind::Close,
        _ => false,
    }
}

struct FormPage<'a> {
    kind: RequestKind,
    values: &'a HashMap<String, String>,
    errors: &'a [FieldError],
    /// A refusal or service error, shown above the form.
    alert: Option<String>,
    companies: Vec<(String, String)>,
}

fn render_form(s: &Session, p: &FormPage<'_>) -> Response {
    let lang = s.lang;
    let tabs: String =
        [(RequestKind::Open, T::Form1), (RequestKind::Adjust, T::Form2), (RequestKind::Close, T::FormClose)]
            .iter()
            .map(|(k, t)| {
                let label = esc(t.text(lang));
                if *k == p.kind {
                    format!("<strong>{label}</strong>")
                } else {
                    format!(
                        "<a href=\"{}\">{label}</a>",
                        esc(&with_lang(&format!("/console/requests/new?kind={k}"), lang))
                    )
                }
            })
            .collect::<Vec<_>>()
            .join(" · ");
    let value = |name: &str| p.values.get(name).map(String::as_str).unwrap_or("");
    let mut fields = String::new();
    for (name, label, kinds) in FIELDS {
        if !kinds.contains(&p.kind) {
            continue;
        }
        let input = match name {
            "gender" => {
                let opt = |v: &str, t: T| {
                    let sel = if value(name) == v { " selected" } else { "" };
                    format!("<option value=\"{v}\"{sel}>{}</option>", esc(t.text(lang)))
                };
                format!(
                    "<select id=\"gender\" name=\"gender\"><option value=\"\">{}</option>{}{}</select>",
                    esc(T::Choose.text(lang)),
                    opt("male", T::Male),
                    opt("female", T::Female)
                )
            }
            "company" => {
                let opts: String = p
                    .companies
                    .iter()
                    .map(|(code, cname)| {
                        let sel = if value(name) == code { " selected" } else { "" };
                        format!("<option value=\"{}\"{sel}>{} {}</option>", esc(code), esc(code), esc(cname))
                    })
                    .collect();
                format!(
                    "<select id=\"company\" name=\"company\" required aria-required=\"true\"><option value=\"\">{}</option>{opts}</select>",
                    esc(T::Choose.text(lang))
                )
            }
            "confidential" => {
                let checked = if value(name) == "on" { " checked" } else { "" };
                format!("<input type=\"checkbox\" id=\"confidential\" name=\"confidential\"{checked}>")
            }
            "effective_date" => {
                format!("<input type=\"date\" id=\"{name}\" name=\"{name}\" value=\"{}\">", esc(value(name)))
            }
            _ => {
                let req = if required(p.kind, name) { " required aria-required=\"true\"" } else { "" };
                let mode = match name {
                    "mobile" => " inputmode=\"tel\"",
                    "email" => " inputmode=\"email\"",
                    _ => "",
                };
                format!("<input type=\"text\" id=\"{name}\" name=\"{name}\" value=\"{}\"{req}{mode}>", esc(value(name)))
            }
        };
        let err: String = p
            .errors
            .iter()
            .filter(|e| e.field == name)
            .map(|e| {
                format!("<div class=\"field-err\" id=\"err-{name}\">{}</div>", esc(e.message_in(s.lang == Lang::Zh)))
            })
            .collect();
        let class = if required(p.kind, name) { " class=\"req\"" } else { "" };
        fields.push_str(&format!(
            "<div class=\"field\"><label for=\"{name}\"{class}>{}</label>{input}{err}</div>",
            esc(label.text(lang))
        ));
    }
    let mut alert = p
        .alert
        .as_deref()
        .map(|a| format!("<div class=\"err\" role=\"alert\" id=\"error\">{}</div>", esc(a)))
        .unwrap_or_default();
    if !p.errors.is_empty() {
        alert.push_str(&format!("<div class=\"err\" role=\"alert\">{}</div>", esc(T::FixFields.text(lang))));
    }
    // `novalidate`: the server's checks answer, each in the page's language next to its field
    // (the browser's own bubbles would be in the browser's language); `*` and `aria-required`
    // mark what is needed.
    let body = format!(
        "<h1>{}</h1><p>{tabs}</p>{alert}<form method=\"post\" action=\"/console/requests/new\" id=\"request-form\" novalidate>\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"kind\" value=\"{}\">\
<input type=\"hidden\" name=\"lang\" value=\"{}\">{fields}<div><button type=\"submit\" class=\"primary\" id=\"submit\">{}</button></div></form>",
        esc(T::NewRequest.text(lang)),
        esc(&s.csrf),
        p.kind,
        lang.code(),
        esc(T::Submit.text(lang)),
    );
    let status =
        if p.errors.is_empty() && p.alert.is_none() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let mut res = s.page(T::NewRequest.text(lang), &body, &format!("/console/requests/new?kind={}", p.kind));
    *res.status_mut() = status;
    res
}

/// The companies the user may see, for the form's select.
async fn company_choices(
    c: &Console,
    who: &orgid_directory::workflow::Principal,
) -> Result<Vec<(String, String)>, String> {
    let list = c.app.store.companies().await.map_err(|e| e.to_string())?;
    let index = orgid_directory::CompanyIndex::new(list.clone()).map_err(|e| e.to_string())?;
    let mut out: Vec<(String, String)> =
        list.into_iter().filter(|co| who.sees(&co.code, &index)).map(|co| (co.code.0, co.name)).collect();
    out.sort();
    Ok(out)
}

/// `GET /console/requests/new?kind=open|adjust|close`.
pub async fn new_form(State(c): State<Console>, s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let who = match c.principal(&s).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let companies = match company_choices(&c, &who).await {
        Ok(list) => list,
        Err(e) => return unavailable(s.lang, &e),
    };
    let kind = kind_of(q.get("kind"));
    // Form 2 and close start from the person's current record (looked up within the scope).
    let mut values = HashMap::new();
    if let Some(number) = q.get("employee_number").map(|n| n.trim()).filter(|n| !n.is_empty())
        && kind != RequestKind::Open
    {
        let query = wf::AccountQuery { search: Some(number.to_string()), ..wf::AccountQuery::default() };
        match wf::people(&c.app, &who, &query).await {
            Ok(rows) => {
                if let Some(p) = rows.into_iter().find(|p| p.employee_number == number) {
                    for (k, v) in [
                        ("employee_number", p.employee_number),
                        ("name", p.name),
                        ("company", p.company.0),
                        ("department", p.department),
                        ("title", p.title),
                        ("grade", p.grade.unwrap_or_default()),
                    ] {
                        values.insert(k.to_string(), v);
                    }
                    if p.confidential {
                        values.insert("confidential".into(), "on".into());
                    }
                }
            }
            Err(e) => return service_error(&s, e),
        }
    }
    render_form(&s, &FormPage { kind, values: &values, errors: &[], alert: None, companies })
}

/// `POST /console/requests/new`: validate, submit, and show the request (or the form again
/// with the errors next to their fields).
pub async fn new_submit(
    State(c): State<Console>,
    s: Session,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let who = match c.form_principal(&s, &headers, &f).await {
        Ok(w) => w,
        Err(res) => return res,
    };
    let companies = match company_choices(&c, &who).await {
        Ok(list) => list,
        Err(e) => return unavailable(s.lang, &e),
    };
    let kind = kind_of(f.get("kind"));
    let get = |k: &str| f.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let input = SubmitInput {
        kind: kind.as_str().into(),
        id_number: get("id_number"),
        employee_number: get("employee_number").unwrap_or_default(),
        new_employee_number: get("new_employee_number"),
        name: get("name").unwrap_or_default(),
        gender: get("gender"),
        company: get("company").unwrap_or_default(),
        department: get("department").unwrap_or_default(),
        title: get("title").unwrap_or_default(),
        grade: get("grade"),
        mobile: get("mobile").unwrap_or_default(),
        email: get("email").unwrap_or_default(),
        confidential: f.get("confidential").is_some_and(|v| v == "on"),
        effective_date: get("effective_date"),
    };
    let page = |errors: &[FieldError], alert: Option<String>| {
        render_form(&s, &FormPage { kind, values: &f, errors, alert, companies: companies.clone() })
    };
    let current = match input.current(&c.app).await {
        Ok(cur) => cur,
        Err(e) => return unavailable(s.lang, &e),
    };
    let submission = match input.validate(Origin::Console, current.as_ref()) {
        Ok(sub) => sub,
        Err(errors) => return page(&errors, None),
    };
    match wf::submit(&c.app, &who, submission).await {
        Ok(r) => s.redirect(&format!("/console/requests/{}", r.id)),
        Err(wf::WorkflowError::Denied(d)) => {
            page(&[], Some(format!("{}{}", T::Denied.text(s.lang), super::i18n::denial(&d, s.lang))))
        }
        Err(wf::WorkflowError::Invalid(why)) | Err(wf::WorkflowError::NotFound(why)) => page(&[], Some(why)),
        Err(e) => service_error(&s, e),
    }
}
