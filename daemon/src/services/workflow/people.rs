//! People and accounts, filtered to the principal's scope, and password resets.

use orgid_directory::idp::CredentialStore;
use orgid_directory::workflow::Principal;
use orgid_directory::workflow::rules::{self, Denied};
use orgid_directory::{AccountFilter, AccountRow, AccountStatus, CompanyCode, Employment, PersonStore};
use serde::Serialize;

use super::{Result, WorkflowError, actor, companies, deny, enforce};
use crate::app::App;

/// Which accounts or people to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountQuery {
    pub company: Option<CompanyCode>,
    pub status: Option<AccountStatus>,
    /// Part of a name, login or employee number.
    pub search: Option<String>,
}

fn matches(search: &Option<String>, fields: &[&str]) -> bool {
    match search.as_deref().map(str::trim) {
        None | Some("") => true,
        Some(s) => {
            let s = s.to_lowercase();
            fields.iter().any(|f| f.to_lowercase().contains(&s))
        }
    }
}

/// Accounts in the principal's scope. Naming a company outside it is refused (and audited);
/// a search never reaches outside it.
pub async fn accounts(app: &App, who: &Principal, q: &AccountQuery) -> Result<Vec<AccountRow>> {
    let index = companies(app).await?;
    if let Some(c) = &q.company {
        enforce(app, who, "accounts.list", Some(c), rules::can_view(who, c, &index)).await?;
    }
    let rows = app
        .store
        .accounts(&AccountFilter { company: q.company.clone(), status: q.status, employee_number: None })
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| who.sees(&r.company, &index))
        .filter(|r| matches(&q.search, &[&r.login, &r.name, &r.employee_number]))
        .collect())
}

/// One account by login; refused (and audited) outside the principal's scope.
pub async fn account(app: &App, who: &Principal, login: &str) -> Result<AccountRow> {
    let index = companies(app).await?;
    let Some(subject) = app.store.subject(login).await? else {
        return Err(WorkflowError::NotFound(format!("account {login}")));
    };
    enforce(app, who, "accounts.show", Some(&subject.company), rules::can_view(who, &subject.company, &index)).await?;
    let rows = app
        .store
        .accounts(&AccountFilter {
            company: Some(subject.company.clone()),
            status: None,
            employee_number: Some(subject.employee_number.clone()),
        })
        .await?;
    rows.into_iter().find(|r| r.login == login).ok_or_else(|| WorkflowError::NotFound(format!("account {login}")))
}

/// A person as a delegate or HR sees them (never the ID number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonRow {
    pub employee_number: String,
    pub name: String,
    pub company: CompanyCode,
    pub department: String,
    pub title: String,
    pub grade: Option<String>,
    pub confidential: bool,
    pub employment: Employment,
    pub login: Option<String>,
    pub status: Option<AccountStatus>,
}

/// What the principal may do for a listed person, as the service would decide it: so that a
/// page offers only the actions that would not be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allowed {
    /// Submit a form-2 adjustment or a closing request.
    pub requests: bool,
    /// Reset the password (an active account, not one's own).
    pub reset: bool,
}

/// [`Allowed`] for each of `rows`, in order. Nothing is audited: nothing was attempted.
pub async fn allowed(app: &App, who: &Principal, rows: &[PersonRow]) -> Result<Vec<Allowed>> {
    let index = companies(app).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let Some(company) = index.get(&r.company) else { return Allowed::default() };
            let own = r.login.as_deref() == Some(who.login.as_str()) && !who.operator;
            Allowed {
                requests: r.login.is_some() && rules::can_submit(who, company, r.confidential, &index).is_ok(),
                reset: r.status == Some(AccountStatus::Active)
                    && !own
                    && rules::can_reset_password(who, &r.company, &index).is_ok(),
            }
        })
        .collect())
}

/// People (with or without an account) in the principal's scope.
pub async fn people(app: &App, who: &Principal, q: &AccountQuery) -> Result<Vec<PersonRow>> {
    let index = companies(app).await?;
    if let Some(c) = &q.company {
        enforce(app, who, "people.list", Some(c), rules::can_view(who, c, &index)).await?;
    }
    // Only the companies asked for and in scope are read, not the whole group's people.
    let wanted: Vec<CompanyCode> = match &q.company {
        Some(c) => vec![c.clone()],
        None => index.sorted().into_iter().map(|c| c.code.clone()).filter(|c| who.sees(c, &index)).collect(),
    };
    let mut out: Vec<PersonRow> = app
        .store
        .people_in(&wanted)
        .await?
        .into_iter()
        .filter(|sp| q.status.is_none_or(|s| sp.account.as_ref().is_some_and(|a| a.status == s)))
        .map(|sp| {
            let p = sp.person.profile;
            PersonRow {
                employee_number: p.employee_number,
                name: p.name,
                company: p.company,
                department: p.department,
                title: p.title,
                grade: p.grade.map(|g| g.to_string()),
                confidential: p.confidential,
                employment: sp.person.employment,
                login: sp.account.as_ref().map(|a| a.login.clone()),
                status: sp.account.map(|a| a.status),
            }
        })
        .filter(|r| matches(&q.search, &[r.login.as_deref().unwrap_or(""), &r.name, &r.employee_number]))
        .collect();
    out.sort_by(|a, b| (&a.company, &a.employee_number).cmp(&(&b.company, &b.employee_number)));
    Ok(out)
}

/// Gives `login` a one-time initial password that goes to the account holder through the
/// notifier, never to the caller: the company's IT delegate or group IT. Without a notifier
/// nothing changes.
pub async fn reset_password(app: &App, who: &Principal, login: &str) -> Result<()> {
    let index = companies(app).await?;
    let Some(subject) = app.store.subject(login).await? else {
        return Err(WorkflowError::NotFound(format!("account {login}")));
    };
    enforce(
        app,
        who,
        "password.reset",
        Some(&subject.company),
        rules::can_reset_password(who, &subject.company, &index),
    )
    .await?;
    if login == who.login && !who.operator {
        let d =
            Denied::new("own_password", "change your own password at the login page instead", "own_password", vec![]);
        return Err(deny(app, who, "password.reset", Some(&subject.company), d).await);
    }
    if app.config.notifier.command.is_empty() && !app.config.notices.enabled() {
        return Err(WorkflowError::Invalid(
            "no notifier is configured ([notifier] command, or [notices] channels): the password could not reach its holder; nothing changed"
                .into(),
        ));
    }
    if subject.status != AccountStatus::Active {
        return Err(WorkflowError::Invalid(format!(
            "account {login} is {}: only active accounts get passwords",
            subject.status
        )));
    }
    let provider = crate::services::idp::provider(app).await?;
    let password = provider.reset_password(login, &actor(who)).await.map_err(|e| WorkflowError::Store(e.into()))?;
    crate::services::idp::send_password(app, &subject, &password).await?;
    Ok(())
}
