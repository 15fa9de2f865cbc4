//! `orgid accounts …` and `orgid runs …`: the accounts as the store holds them, why a person has
//! an account or not, password resets and unlocks, and the run ledger.

use std::io::Write;

use clap::Subcommand;
use orgid_directory::{
    AccountFilter, AccountStatus, CompanyCode, CompanyStore, PersonRecord, PersonStore, RunId, RunStore,
};

use crate::app::App;
use crate::cli::report;
use crate::output::Format;
use crate::services::idp;

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    List {
        #[arg(long, value_name = "CODE")]
        company: Option<String>,
        #[arg(long, value_parser = parse_status)]
        status: Option<AccountStatus>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Why this person has, lacks or awaits an account.
    Explain {
        employee_number: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Give the account a random one-time initial password (changed at first login), sent through
    /// the notifier or printed once; ends its sessions.
    ResetPassword { login: String },
    /// Lift a lockout after failed logins.
    Unlock { login: String },
    /// End every sign-in session of the account; the OA modules it signed in to are told (CAS
    /// single logout, OIDC back-channel logout).
    EndSessions { login: String },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    Show {
        run_id: RunId,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

fn parse_status(s: &str) -> Result<AccountStatus, String> {
    s.parse()
}

pub async fn run(app: &App, command: AccountsCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    match command {
        AccountsCommand::List { company, status, format } => {
            let filter = AccountFilter { company: company.map(CompanyCode), status, employee_number: None };
            let rows = app.store.accounts(&filter).await?;
            report::write_accounts(&rows, format, app.tz, out)?;
            Ok(0)
        }
        AccountsCommand::Explain { employee_number, format } => {
            let Some(sp) = app.store.person_by_employee_number(&employee_number).await? else {
                anyhow::bail!("no person with employee number `{employee_number}` in the store");
            };
            let companies = app.store.companies().await?;
            let company = companies.iter().find(|c| c.code == sp.person.profile.company);
            let decision = company.map(|c| {
                let record = PersonRecord {
                    key: sp.person.key.clone(),
                    profile: sp.person.profile.clone(),
                    employment: sp.person.employment,
                    leave_date: sp.person.leave_date,
                    source: sp.person.source.clone(),
                };
                app.rules.decide(&record, c, app.today())
            });
            report::write_explanation(&sp, company, decision.as_ref(), format, app.tz, out)?;
            Ok(0)
        }
        AccountsCommand::ResetPassword { login } => {
            match idp::reset_password(app, &login).await? {
                idp::Reset::Shown(password) => {
                    writeln!(
                        out,
                        "one-time initial password for {login} (shown once; it must be changed at first login):"
                    )?;
                    writeln!(out, "{password}")?;
                }
                idp::Reset::Sent => {
                    writeln!(out, "a one-time initial password was sent to {login} through the notifier")?
                }
            }
            Ok(0)
        }
        AccountsCommand::Unlock { login } => {
            idp::unlock(app, &login).await?;
            writeln!(out, "{login} unlocked")?;
            Ok(0)
        }
        AccountsCommand::EndSessions { login } => {
            idp::end_sessions(app, &login).await?;
            writeln!(out, "every session of {login} ended; its applications are told")?;
            Ok(0)
        }
    }
}

pub async fn runs(app: &App, command: RunsCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    match command {
        RunsCommand::List { limit, format } => {
            let runs = app.store.runs(limit).await?;
            report::write_runs(&runs, format, app.tz, out)?;
            Ok(0)
        }
        RunsCommand::Show { run_id, format } => {
            let Some(detail) = app.store.run(run_id).await? else {
                anyhow::bail!("there is no run {run_id}; see `orgid runs list`");
            };
            report::write_run_detail(&detail, format, app.tz, out)?;
            Ok(0)
        }
    }
}
