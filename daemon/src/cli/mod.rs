//! The command line, one file per command group. Each command is thin: parse, open the app,
//! call a service, print.

pub mod accounts;
pub mod audit;
pub mod backup;
pub mod clients;
pub mod delegations;
pub mod demo;
pub mod ldap;
pub mod notices;
pub mod report;
pub mod serve;
pub mod wecom;
pub mod workflow;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use orgid_config::{Config, LogFormat};
use orgid_directory::RunId;

use crate::app::App;
use crate::output::Format;
use crate::output::encoding::{Encoded, Encoding};
use crate::output::progress::Progress;

#[derive(Debug, Parser)]
#[command(
    name = "orgid",
    version,
    about = "Accounts and single sign-on for a corporate group: HR rosters in, accounts out"
)]
pub struct Cli {
    /// Configuration file. Without it, `orgid.toml` is read if present, else defaults apply.
    #[arg(long, global = true, env = "ORGID_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format on stderr (overrides [log] format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// Encoding of `--format csv` output: UTF-8 with a byte-order mark (what Excel needs to read
    /// Chinese), plain UTF-8, or GBK.
    #[arg(long, global = true, value_enum, default_value = "utf-8-bom")]
    pub encoding: Encoding,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the configured sources once: plan, check the safety limits, apply.
    Sync {
        /// Print the plan without writing anything.
        #[arg(long, conflicts_with = "approve")]
        dry_run: bool,
        /// Apply the plan of a run that a safety limit held.
        #[arg(long, value_name = "RUN_ID")]
        approve: Option<RunId>,
        /// Output of the report.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Print the time and peak memory of each phase (read, load, plan, delta, store,
        /// directory) on stderr; the JSON report has them as `timings` either way.
        #[arg(long)]
        timings: bool,
    },
    /// Import a form-1 (opening) or form-2 (adjustment) request file (.xlsx or CSV).
    Import {
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Accounts: list them, or explain one person's.
    Accounts {
        #[command(subcommand)]
        command: accounts::AccountsCommand,
    },
    /// Delegation by authorization: grant, revoke and list, for someone absent.
    Delegations {
        #[command(subcommand)]
        command: delegations::DelegationsCommand,
    },
    /// The OIDC clients (OA modules) registered in the store, besides the configuration's.
    Clients {
        #[command(subcommand)]
        command: clients::ClientsCommand,
    },
    /// The run ledger.
    Runs {
        #[command(subcommand)]
        command: accounts::RunsCommand,
    },
    /// The LDAP directory: status, push the outbox, retry parked operations.
    Ldap {
        #[command(subcommand)]
        command: ldap::LdapCommand,
    },
    /// WeCom (企业微信): status, push the outbox, retry parked operations, reconcile, purge.
    Wecom {
        #[command(subcommand)]
        command: wecom::WecomCommand,
    },
    /// Personal notices (a password nearing expiry) by WeCom and mail: one sweep.
    Notices {
        #[command(subcommand)]
        command: notices::NoticesCommand,
    },
    /// The audit trail: verify the chain, query, report, checkpoints, purge.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Roles of delegates, HR and approvers, scoped to companies.
    Roles {
        #[command(subcommand)]
        command: workflow::RolesCommand,
    },
    /// Open / adjust / close requests and their approvals.
    Requests {
        #[command(subcommand)]
        command: workflow::RequestsCommand,
    },
    /// Workflow reports: SLA lateness with penalty points, independent companies' roster checks.
    Reports {
        #[command(subcommand)]
        command: workflow::ReportsCommand,
    },
    /// A consistent snapshot of the store (while `serve` runs), with a manifest; no secrets.
    Backup {
        /// The folder the snapshot's folder goes in (default: backup.dir).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Put a snapshot back as the configured store: refused if altered, of a newer schema, or if
    /// its audit trail does not verify.
    Restore {
        /// The snapshot's folder (or its manifest.json).
        path: PathBuf,
        /// Move an existing SQLite store aside instead of refusing (stop orgid first).
        #[arg(long)]
        replace: bool,
        /// A file of `orgid secrets export`: its person-key secret and audit signing key are put
        /// back with the store (passphrase: ORGID_SECRETS_PASSPHRASE or --passphrase-file).
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
        /// The passphrase of --secrets, on the first line of FILE.
        #[arg(long, value_name = "FILE", requires = "secrets")]
        passphrase_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// The two secrets a snapshot never holds (the person-key secret, the audit signing key),
    /// exported encrypted with a passphrase for `orgid restore --secrets`.
    Secrets {
        #[command(subcommand)]
        command: backup::SecretsCommand,
    },
    /// The long-running daemon: scheduled syncs, the directory worker, /healthz, /readyz, /metrics.
    Serve,
    /// Run the store's migrations and exit.
    Migrate,
    /// Check the configuration: every error with its key, line and reason.
    CheckConfig,
    /// Print a documented configuration file with every default.
    ConfigExample,
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `orgid man > /usr/share/man/man1/orgid.1`.
    Man,
    /// Run the demo: a synthetic group's HR files, synced into a local SQLite store, then served.
    Demo {
        /// Where the demo's files and database go.
        #[arg(long, default_value = "orgid-demo")]
        dir: PathBuf,
        /// Sync and print, then exit instead of serving.
        #[arg(long)]
        no_serve: bool,
        /// Address to serve on; the issuer, the demo client's callback and every printed
        /// address follow it.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
}

pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    ExitCode::from(main_with(args, std::env::vars(), &mut std::io::stdout(), &mut std::io::stderr()))
}

/// The whole program on these arguments, environment and standard streams; returns the exit code.
/// A reader that goes away (`orgid sync | head -2`) ends nothing: what is left to print is
/// dropped, the command finishes, and its own exit code stands; nothing here panics on a closed
/// stream.
pub fn main_with(
    args: Vec<std::ffi::OsString>,
    env: impl IntoIterator<Item = (String, String)>,
    stdout: &mut (dyn Write + Send),
    stderr: &mut dyn Write,
) -> u8 {
    let mut stderr = crate::output::PipeOut::new(stderr);
    let (cli, csv) = match parse(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = write!(stderr, "{}", e.render());
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    let config = match load_config(cli.config.as_deref(), env) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(stderr, "orgid: configuration is not valid:\n{e}");
            return 2;
        }
    };
    let format = match cli.log_format {
        Some(LogFormatArg::Json) => LogFormat::Json,
        Some(LogFormatArg::Text) => LogFormat::Text,
        None => config.log.format,
    };
    crate::telemetry::init(format, &config.log.level, crate::telemetry::colour(std::env::var_os("NO_COLOR")));
    // One-shot commands run on one thread: a push is thousands of small LDAP requests, and
    // handing each response from the connection's task to another thread costs more than it gains.
    let mut builder = if matches!(cli.command, Command::Serve | Command::Demo { .. }) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(stderr, "orgid: cannot start the runtime: {e}");
            return 1;
        }
    };
    let mut stdout = crate::output::PipeOut::new(stdout);
    let mut stdout = Encoded::new(&mut stdout, if csv { cli.encoding } else { Encoding::Utf8 });
    match runtime.block_on(run(cli.command, config, cli.config, &mut stdout)) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(stderr, "orgid: {e:#}");
            1
        }
    }
}

/// The configuration of `--config FILE` (which must exist), else of `orgid.toml` if present.
pub fn load_config(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, orgid_config::ConfigErrors> {
    let (path, must_exist) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from("orgid.toml"), false),
    };
    Config::load(&path, must_exist, env)
}

/// Parses `args` (with `args[0]` the program name) and runs the command with `env` as the
/// environment, writing to `out`: the whole CLI in-process, for tests. Returns the exit code.
pub async fn run_args(args: &[&str], env: Vec<(String, String)>, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    let (cli, csv) = match parse(args.iter().map(std::ffi::OsString::from).collect()) {
        Ok(c) => c,
        Err(e) => {
            write!(out, "{e}")?;
            return Ok(2);
        }
    };
    let config = match load_config(cli.config.as_deref(), env) {
        Ok(c) => c,
        Err(e) => {
            writeln!(out, "orgid: configuration is not valid:\n{e}")?;
            return Ok(2);
        }
    };
    let mut out = Encoded::new(out, if csv { cli.encoding } else { Encoding::Utf8 });
    // On the heap: the future of every command is large (in a debug build, too large for the
    // 2 MB stack of a test thread that awaits it).
    Box::pin(run(cli.command, config, cli.config, &mut out)).await
}

/// The command line parsed, and whether its command writes CSV (`--format csv` at any depth),
/// which `--encoding` then applies to.
fn parse(args: Vec<std::ffi::OsString>) -> Result<(Cli, bool), clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    fn csv(m: &clap::ArgMatches) -> bool {
        let here = matches!(m.try_get_one::<Format>("format"), Ok(Some(Format::Csv)));
        here || m.subcommand().is_some_and(|(_, sub)| csv(sub))
    }
    let matches = Cli::command().try_get_matches_from(args)?;
    Ok((Cli::from_arg_matches(&matches)?, csv(&matches)))
}

/// Runs one command; returns the process exit code.
pub async fn run(
    command: Command,
    config: Config,
    config_path: Option<PathBuf>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<u8> {
    match command {
        Command::CheckConfig => {
            let origin =
                config_path.map_or_else(|| "defaults (no orgid.toml)".to_string(), |p| p.display().to_string());
            writeln!(out, "configuration OK: {origin}")?;
            writeln!(out, "  store:    {}", store_kind(config.store.url.expose()))?;
            writeln!(
                out,
                "  sources:  {}",
                config.sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            )?;
            let schedule =
                if config.sync.schedule.is_empty() { "none".to_string() } else { config.sync.schedule.clone() };
            writeln!(out, "  schedule: {schedule} ({})", config.sync.timezone)?;
            for s in &config.sources {
                for p in [&s.companies, &s.roster] {
                    if !p.exists() {
                        writeln!(out, "  warning: source {}: {} does not exist", s.name, p.display())?;
                    }
                }
            }
            Ok(0)
        }
        Command::ConfigExample => {
            out.write_all(orgid_config::EXAMPLE.as_bytes())?;
            Ok(0)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "orgid", out);
            Ok(0)
        }
        Command::Man => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)?;
            Ok(0)
        }
        Command::Migrate => {
            let store =
                orgid_store::connect(config.store.url.expose(), 1).await.context("while migrating the store")?;
            store.migrate().await?;
            writeln!(out, "migrations applied ({})", store.backend())?;
            Ok(0)
        }
        Command::Backup { to, format } => {
            let app = App::open(config).await?;
            let code = backup::backup(&app, to.as_deref(), format, out).await?;
            app.store.close().await;
            Ok(code)
        }
        Command::Restore { path, replace, secrets, passphrase_file, format } => {
            let secrets = backup::Secrets { file: secrets, passphrase_file };
            backup::restore(&config, &path, replace, &secrets, format, out).await
        }
        Command::Secrets { command } => {
            let app = App::open(config).await?;
            let code = backup::secrets(&app, command, out).await;
            app.store.close().await;
            code
        }
        Command::Serve => serve::serve(App::open(config).await?, config_path).await.map(|()| 0),
        Command::Ldap { command } => ldap::run(&App::open(config).await?, command, out).await,
        Command::Wecom { command } => wecom::run(&App::open(config).await?, command, out).await,
        Command::Notices { command } => notices::run(&App::open(config).await?, command, out).await,
        Command::Accounts { command } => accounts::run(&App::open(config).await?, command, out).await,
        Command::Clients { command } => clients::run(&App::open(config).await?, command, out).await,
        Command::Delegations { command } => delegations::run(&App::open(config).await?, command, out).await,
        Command::Runs { command } => accounts::runs(&App::open(config).await?, command, out).await,
        Command::Audit { command } => {
            let app = App::open(config).await?;
            let code = audit::run(&app, command, out).await?;
            app.store.close().await;
            Ok(code)
        }
        Command::Roles { command } => workflow::roles(&App::open(config).await?, command, out).await,
        Command::Requests { command } => workflow::requests(&App::open(config).await?, command, out).await,
        Command::Reports { command } => workflow::reports(&App::open(config).await?, command, out).await,
        Command::Demo { dir, no_serve, listen } => demo::demo(&dir, no_serve, listen, out).await,
        Command::Sync { dry_run, approve, format, timings } => {
            let app = App::open(config).await?;
            let progress = Progress::new(format == Format::Table);
            let report = match approve {
                Some(id) => crate::services::sync::approve(&app, id, "cli").await?,
                None => crate::services::sync::sync(&app, dry_run, "cli", &progress).await?,
            };
            let phases = progress.timings().map(|t| t.report());
            drop(progress);
            if let (true, Some(t)) = (timings, &phases) {
                crate::output::timings::write_table(t, &mut std::io::stderr())?;
            }
            report::write_run_report(&report, format, phases.as_ref(), out)?;
            app.store.close().await;
            Ok(report.exit_code())
        }
        Command::Import { file, dry_run, format } => {
            let app = App::open(config).await?;
            let progress = Progress::new(format == Format::Table);
            let report = crate::services::import::import(&app, &file, dry_run, "cli", &progress).await?;
            drop(progress);
            report::write_run_report(&report, format, None, out)?;
            app.store.close().await;
            Ok(report.exit_code())
        }
    }
}

fn store_kind(url: &str) -> String {
    match url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        Some(path) => format!("SQLite ({path})"),
        // Never print the URL of a server: it may carry a password.
        None => "PostgreSQL".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent_and_takes_the_documented_forms() {
        Cli::command().debug_assert();
        for args in [
            &["orgid", "--config", "x.toml", "sync", "--dry-run"][..],
            &["orgid", "sync", "--approve", "7"],
            &["orgid", "import", "form1.xlsx"],
            &["orgid", "accounts", "list", "--company", "C01", "--status", "pending_approval", "--format", "json"],
            &["orgid", "accounts", "explain", "E001"],
            &["orgid", "runs", "list"],
            &["orgid", "runs", "show", "3"],
            &["orgid", "serve", "--log-format", "json"],
            &["orgid", "audit", "verify", "--public-key", &"ab".repeat(32)],
            &[
                "orgid", "audit", "query", "--login", "zhangsan", "--type", "login", "--type", "lockout", "--format",
                "csv",
            ],
            &["orgid", "audit", "query", "--outcome", "failure", "--ip", "10.0.0.1", "--since", "2024-05-01", "--all"],
            &["orgid", "audit", "report", "--since", "2024-05-01", "--until", "2024-06-01", "--format", "json"],
            &["orgid", "audit", "purge", "--dry-run", "--retention-days", "200"],
            &["orgid", "audit", "export-checkpoints"],
            &["orgid", "accounts", "reset-password", "zhangwei"],
            &["orgid", "clients", "add", "portal", "--redirect-uri", "https://p/cb", "--redirect-uri", "https://p/cb2"],
            &["orgid", "clients", "add", "app", "--public", "--redirect-uri", "http://127.0.0.1:9/cb"],
            &["orgid", "clients", "list", "--format", "json"],
            &["orgid", "clients", "remove", "portal"],
            &["orgid", "backup", "--to", "/var/backups/orgid"],
            &["orgid", "restore", "/var/backups/orgid/orgid-20261205T011500000Z", "--replace"],
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
        assert!(Cli::try_parse_from(["orgid", "sync", "--dry-run", "--approve", "1"]).is_err());
        assert!(Cli::try_parse_from(["orgid", "accounts", "list", "--status", "gone"]).is_err());
        assert!(Cli::try_parse_from(["orgid", "runs", "show", "x"]).is_err());
        assert!(Cli::try_parse_from(["orgid", "audit", "query", "--type", "logon"]).is_err());
        assert!(Cli::try_parse_from(["orgid", "audit", "query", "--ip", "10.0.0"]).is_err());
    }

    #[test]
    fn server_urls_are_never_printed() {
        assert_eq!(store_kind("postgres://orgid:secret@db/orgid"), "PostgreSQL");
        assert_eq!(store_kind("sqlite://orgid.db"), "SQLite (orgid.db)");
    }
}
