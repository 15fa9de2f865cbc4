//! `orgid delegations …`: delegation by authorization for someone absent (an operator grants or
//! revokes it for them), and the list of grants. The rules are the provider's (the same as the
//! account page's); this only parses and prints.

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;

use crate::app::App;
use crate::output::{Format, Table};
use crate::services::idp;

#[derive(Debug, Subcommand)]
pub enum DelegationsCommand {
    /// Let DELEGATE act for PRINCIPAL in the named clients (every client without --client) until
    /// a date (exclusive, in UTC) or for a number of days.
    Grant {
        principal: String,
        delegate: String,
        /// A client id (repeat for several); none: every client.
        #[arg(long = "client", value_name = "ID")]
        clients: Vec<String>,
        #[arg(long, value_name = "DAYS", conflicts_with = "until")]
        days: Option<u32>,
        /// The first day it no longer holds (YYYY-MM-DD, UTC).
        #[arg(long, value_name = "DATE")]
        until: Option<NaiveDate>,
    },
    /// End a grant now (what was issued under it is revoked).
    Revoke { id: String },
    /// The grants, all or those where LOGIN is principal or delegate.
    List {
        #[arg(long)]
        login: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

pub async fn run(app: &App, command: DelegationsCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    let provider = idp::provider(app).await?;
    let by = idp::operator();
    match command {
        DelegationsCommand::Grant { principal, delegate, clients, days, until } => {
            let until: DateTime<Utc> = match (days, until) {
                (Some(d), None) => app.clock.now() + chrono::Duration::days(i64::from(d)),
                (None, Some(date)) => date.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or_default(),
                _ => anyhow::bail!("give --days or --until"),
            };
            match provider.grant_delegation(&principal, &delegate, &clients, until, &by, None).await? {
                Ok(d) => {
                    writeln!(out, "{}", d.id)?;
                    Ok(0)
                }
                Err(why) => {
                    writeln!(out, "refused: {why}")?;
                    Ok(2)
                }
            }
        }
        DelegationsCommand::Revoke { id } => match provider.revoke_delegation(&id, None, &by, None).await? {
            Some(d) => {
                writeln!(out, "revoked: {} no longer acts for {}", d.delegate, d.principal)?;
                Ok(0)
            }
            None => anyhow::bail!("there is no grant `{id}` in force; see `orgid delegations list`"),
        },
        DelegationsCommand::List { login, format } => {
            let all = provider.delegations(login.as_deref()).await?;
            let now = app.clock.now();
            let table = Table {
                header: vec!["id", "principal", "delegate", "clients", "from", "until", "state", "granted by"],
                rows: all
                    .iter()
                    .map(|d| {
                        let state = if d.revoked_at.is_some() {
                            "revoked"
                        } else if d.in_force(now) {
                            "in force"
                        } else {
                            "ended"
                        };
                        vec![
                            d.id.clone(),
                            d.principal.clone(),
                            d.delegate.clone(),
                            if d.clients.is_empty() { "*".into() } else { d.clients.join(" ") },
                            d.starts_at.to_rfc3339(),
                            d.ends_at.to_rfc3339(),
                            state.into(),
                            d.created_by.clone(),
                        ]
                    })
                    .collect(),
            };
            table.emit(format, &all, out)?;
            Ok(0)
        }
    }
}
