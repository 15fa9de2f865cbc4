//! `orgid roles …`, `orgid requests …` and `orgid reports sla|roster-checks`: the workflow service
//! at the command line. Without `--as LOGIN` the operator acts (every role, audited as `cli`);
//! with it, that login's roles and scope apply, as in the console.

use std::io::Write;
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::Subcommand;
use orgid_directory::CompanyCode;
use orgid_directory::workflow::{Principal, Request, RequestState, Role, RoleGrant};

use crate::app::App;
use crate::output::{Format, Table, local};
use crate::services::workflow::{self as wf, RequestQuery, WorkflowError};

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Grant a role for a company (group IT only; never to oneself).
    Grant {
        #[arg(long)]
        login: String,
        /// group_it_admin, group_hr, strategy_office, confidential_office, security_auditor,
        /// company_hr, company_it (or the Chinese names).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, value_name = "CODE")]
        company: String,
        /// The role also reaches the company's subsidiaries.
        #[arg(long)]
        subtree: bool,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
    },
    /// Revoke a grant by id (it is kept, marked revoked).
    Revoke {
        id: i64,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
    },
    List {
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Requests in scope, newest first.
    List {
        #[arg(long, value_parser = parse_state)]
        state: Option<RequestState>,
        #[arg(long, value_name = "CODE")]
        company: Option<String>,
        /// Only those waiting for a step I may approve.
        #[arg(long)]
        inbox: bool,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    Show {
        id: i64,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// Approve the first open step of the request I may decide; the last approval applies it.
    Approve {
        id: i64,
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
    },
    Reject {
        id: i64,
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
    },
    Cancel {
        id: i64,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
    },
    /// Submit every row of a form-1 or form-2 file (.xlsx or CSV) as a request.
    Submit {
        file: PathBuf,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Request closing the account of the person with this employee number (leaving on `--date`).
    Close {
        employee_number: String,
        #[arg(long, value_parser = parse_date)]
        date: Option<NaiveDate>,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
    },
    /// Apply approved requests and retry failed ones (what `serve` does on workflow.retry_schedule).
    Apply,
}

#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Late cases and penalty points per responsible role and company.
    Sla {
        /// Only cases whose deadline is in this month (YYYY-MM).
        #[arg(long, value_parser = parse_month)]
        month: Option<NaiveDate>,
        /// Points per responsible role and company instead of the cases.
        #[arg(long)]
        totals: bool,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Differences between group HR's roster and independent companies' accounts.
    RosterChecks {
        /// Resolved ones too.
        #[arg(long)]
        all: bool,
        #[arg(long = "as", value_name = "LOGIN")]
        acting: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn parse_state(s: &str) -> Result<RequestState, String> {
    s.parse()
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
}

fn parse_month(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{}-01", s.trim()), "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a month (YYYY-MM)"))
}

async fn acting(app: &App, login: Option<&str>) -> anyhow::Result<Principal> {
    Ok(match login {
        None => Principal::operator(),
        Some(l) => wf::principal(app, l).await.map_err(err)?,
    })
}

/// A workflow error as the command's error (a refusal names its code).
fn err(e: WorkflowError) -> anyhow::Error {
    match e {
        WorkflowError::Denied(d) => anyhow::anyhow!("refused ({}): {}", d.code, d.reason),
        WorkflowError::Store(e) => e,
        other => anyhow::anyhow!("{other}"),
    }
}

fn grants_table(grants: &[RoleGrant], tz: chrono_tz::Tz) -> Table {
    Table {
        header: vec!["id", "login", "role", "company", "subtree", "granted_by", "granted_at", "revoked_at"],
        rows: grants
            .iter()
            .map(|g| {
                vec![
                    g.id.to_string(),
                    g.login.clone(),
                    g.role.as_str().into(),
                    g.company.0.clone(),
                    g.subtree.to_string(),
                    g.granted_by.clone(),
                    local(Some(g.granted_at), tz),
                    local(g.revoked_at, tz),
                ]
            })
            .collect(),
    }
}

fn requests_table(requests: &[Request], tz: chrono_tz::Tz) -> Table {
    Table {
        header: vec!["id", "kind", "company", "employee_number", "name", "state", "waiting_for", "requested_by", "due"],
        rows: requests
            .iter()
            .map(|r| {
                let waiting = if r.state == RequestState::Pending {
                    r.open_steps().iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
                } else {
                    String::new()
                };
                vec![
                    r.id.to_string(),
                    r.kind.as_str().into(),
                    r.company.0.clone(),
                    r.employee_number.clone(),
                    r.name.clone(),
                    r.state.as_str().into(),
                    waiting,
                    r.requested_by.clone(),
                    local(r.due, tz),
                ]
            })
            .collect(),
    }
}

fn said(r: &Request, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    writeln!(out, "request {} is {}", r.id, r.state)?;
    if let Some(e) = &r.error {
        writeln!(out, "error: {e}")?;
        return Ok(1);
    }
    Ok(0)
}

pub async fn roles(app: &App, command: RolesCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    match command {
        RolesCommand::Grant { login, role, company, subtree, acting: a } => {
            let who = acting(app, a.as_deref()).await?;
            let g = wf::grant_role(app, &who, &login, role, &CompanyCode(company), subtree).await.map_err(err)?;
            writeln!(
                out,
                "granted {} to {} for {}{} (grant {})",
                g.role,
                g.login,
                g.company,
                if g.subtree { " and its subsidiaries" } else { "" },
                g.id
            )?;
        }
        RolesCommand::Revoke { id, acting: a } => {
            let who = acting(app, a.as_deref()).await?;
            let g = wf::revoke_role(app, &who, id).await.map_err(err)?;
            writeln!(out, "revoked grant {id}: {} no longer holds {} for {}", g.login, g.role, g.company)?;
        }
        RolesCommand::List { acting: a, format } => {
            let who = acting(app, a.as_deref()).await?;
            let grants = wf::list_roles(app, &who).await.map_err(err)?;
            grants_table(&grants, app.tz).emit(format, &grants, out)?;
        }
    }
    Ok(0)
}

pub async fn requests(app: &App, command: RequestsCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    match command {
        RequestsCommand::List { state, company, inbox, acting: a, format } => {
            let who = acting(app, a.as_deref()).await?;
            let q = RequestQuery { state, company: company.map(CompanyCode), inbox, mine: false };
            let list = wf::requests(app, &who, &q).await.map_err(err)?;
            requests_table(&list, app.tz).emit(format, &list, out)?;
            Ok(0)
        }
        RequestsCommand::Show { id, acting: a, format } => {
            let who = acting(app, a.as_deref()).await?;
            let r = wf::request(app, &who, id).await.map_err(err)?;
            requests_table(std::slice::from_ref(&r), app.tz).emit(format, &r, out)?;
            Ok(0)
        }
        RequestsCommand::Approve { id, comment, acting: a } => {
            let who = acting(app, a.as_deref()).await?;
            let r = wf::approve(app, &who, id, true, &comment).await.map_err(err)?;
            said(&r, out)
        }
        RequestsCommand::Reject { id, comment, acting: a } => {
            let who = acting(app, a.as_deref()).await?;
            let r = wf::approve(app, &who, id, false, &comment).await.map_err(err)?;
            said(&r, out)
        }
        RequestsCommand::Cancel { id, acting: a } => {
            let who = acting(app, a.as_deref()).await?;
            let r = wf::cancel(app, &who, id).await.map_err(err)?;
            said(&r, out)
        }
        RequestsCommand::Submit { file, acting: a, format } => {
            let who = acting(app, a.as_deref()).await?;
            let (done, rejected) = wf::submit_file(app, &who, &file).await.map_err(err)?;
            requests_table(&done, app.tz).emit(format, &done, out)?;
            for e in &rejected {
                writeln!(
                    out,
                    "row {} rejected: {}{}",
                    e.row,
                    if e.column.is_empty() { String::new() } else { format!("{}: ", e.column) },
                    e.reason
                )?;
            }
            Ok(if rejected.is_empty() { 0 } else { 4 })
        }
        RequestsCommand::Close { employee_number, date, acting: a } => {
            let who = acting(app, a.as_deref()).await?;
            let s = wf::Submission {
                kind: orgid_directory::workflow::RequestKind::Close,
                person: wf::PersonRef::EmployeeNumber(employee_number),
                profile: None,
                effective_date: date,
                origin: orgid_directory::workflow::Origin::Cli,
            };
            let r = wf::submit(app, &who, s).await.map_err(err)?;
            said(&r, out)
        }
        RequestsCommand::Apply => {
            let done = wf::apply_approved(app).await.map_err(err)?;
            let failed = done.iter().filter(|r| r.state == RequestState::Failed).count();
            writeln!(out, "{} requests applied, {failed} failed", done.len() - failed)?;
            Ok(if failed == 0 { 0 } else { 1 })
        }
    }
}

pub async fn reports(app: &App, command: ReportsCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    match command {
        ReportsCommand::Sla { month, totals: true, acting: a, format } => {
            let who = acting(app, a.as_deref()).await?;
            let rows = wf::sla_report(app, &who, month).await.map_err(err)?;
            let sums = orgid_directory::workflow::sla::totals(&rows);
            let table = Table {
                header: vec!["role", "company", "cases", "points"],
                rows: sums
                    .iter()
                    .map(|t| {
                        vec![t.role.as_str().into(), t.company.0.clone(), t.cases.to_string(), t.points.to_string()]
                    })
                    .collect(),
            };
            table.emit(format, &sums, out)?;
        }
        ReportsCommand::Sla { month, totals: false, acting: a, format } => {
            let who = acting(app, a.as_deref()).await?;
            let rows = wf::sla_report(app, &who, month).await.map_err(err)?;
            let table = Table {
                header: vec!["role", "company", "case", "item", "deadline", "done", "late_working_days", "points"],
                rows: rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.role.as_str().into(),
                            r.company.0.clone(),
                            r.case.into(),
                            r.item.clone(),
                            r.deadline.to_string(),
                            r.done.map(|d| d.to_string()).unwrap_or_default(),
                            r.late_days.to_string(),
                            r.points.to_string(),
                        ]
                    })
                    .collect(),
            };
            table.emit(format, &rows, out)?;
        }
        ReportsCommand::RosterChecks { all, acting: a, format } => {
            let who = acting(app, a.as_deref()).await?;
            let checks = wf::roster_checks(app, &who, !all).await.map_err(err)?;
            let table = Table {
                header: vec!["id", "company", "kind", "employee_number", "name", "detail", "first_seen", "resolved_at"],
                rows: checks
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.to_string(),
                            c.company.0.clone(),
                            c.kind.as_str().into(),
                            c.employee_number.clone(),
                            c.name.clone(),
                            c.detail.clone(),
                            local(Some(c.first_seen), app.tz),
                            local(c.resolved_at, app.tz),
                        ]
                    })
                    .collect(),
            };
            table.emit(format, &checks, out)?;
        }
    }
    Ok(0)
}
