//! `orgid demo`: writes the synthetic group of `examples/` (embedded in the binary) to a folder,
//! syncs it into a SQLite store there, prints what happened, then serves.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use orgid_config::Config;
use orgid_directory::workflow::{Principal, Role};
use orgid_directory::{AccountFilter, CompanyCode, PersonStore};

use crate::app::App;
use crate::cli::report;
use crate::output::Format;
use crate::output::progress::Progress;

const FILES: [(&str, &[u8]); 4] = [
    ("companies.csv", include_bytes!("../../../examples/companies.csv")),
    ("roster.csv", include_bytes!("../../../examples/roster.csv")),
    ("form1-opening.csv", include_bytes!("../../../examples/form1-opening.csv")),
    ("form2-adjustment.csv", include_bytes!("../../../examples/form2-adjustment.csv")),
];

pub async fn demo(dir: &Path, no_serve: bool, listen: SocketAddr, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    // Where a browser on this machine reaches it: an unspecified address (0.0.0.0) is reached
    // on loopback, which the provider also accepts as a plain-HTTP issuer.
    let reach = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => SocketAddr::from(([127, 0, 0, 1], listen.port())),
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, listen.port())),
        _ => listen,
    };
    let base = format!("http://{reach}");
    std::fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
    for (name, bytes) in FILES {
        std::fs::write(dir.join(name), bytes).with_context(|| format!("while writing {name}"))?;
    }
    let db = dir.join("orgid.db");
    let config_text = format!(
        "# Written by `orgid demo`.\n[store]\nurl = \"sqlite://{}\"\n\n[server]\nlisten = \"{listen}\"\n\n[oidc]\nissuer = \"{base}\"\n\n[[sources]]\nname = \"group-hr\"\nkind = \"roster\"\ncompanies = \"companies.csv\"\nroster = \"roster.csv\"\n\n\
         # The demo relying party: log in through the provider, the code shows in the address bar.\n\
         [[clients]]\nid = \"demo\"\nname = \"演示应用 (demo)\"\nsecret = \"demo-secret-not-for-production\"\n\
         redirect_uris = [\"{base}/demo/callback\"]\n\n\
         # The demo's cast includes a confidential post (陈静, 机要员) who holds two roles: this group\n\
         # opens confidential posts from the roster directly. By default (`request`) such an opening\n\
         # waits for the confidential office (seed 000 art. 11).\n\
         [workflow]\nconfidential_roster = \"apply\"\n",
        db.display()
    );
    let config_path = dir.join("orgid.toml");
    std::fs::write(&config_path, &config_text)?;
    let config = Config::from_toml(&config_text, &config_path.display().to_string(), dir, std::env::vars())
        .map_err(|e| anyhow::anyhow!("demo configuration: {e}"))?;
    let app = App::open(config).await?;

    writeln!(out, "orgid demo: a synthetic group of 7 companies and 16 HR rows in {}\n", dir.display())?;
    writeln!(out, "$ orgid sync")?;
    let report = crate::services::sync::sync(&app, false, "demo", &Progress::new(true)).await?;
    report::write_run_report(&report, Format::Table, None, out)?;
    writeln!(out, "\n$ orgid accounts list")?;
    let rows = app.store.accounts(&AccountFilter::default()).await?;
    report::write_accounts(&rows, Format::Table, app.tz, out)?;
    let cfg = config_path.display();
    writeln!(
        out,
        "\nTry next (each as its own command):\n  \
         orgid --config {cfg} accounts explain N0001        # why 孙浩 waits for approval (ELIG-4)\n  \
         orgid --config {cfg} accounts explain A0102        # why 刘强 has no account (below ELIG-1)\n  \
         orgid --config {cfg} import {}/form1-opening.csv   # a GBK opening request (form 1)\n  \
         orgid --config {cfg} import {}/form2-adjustment.csv  # a cross-company move (form 2)\n  \
         orgid --config {cfg} runs list\n  \
         orgid --config {cfg} requests list                 # N0001's opening, waiting for its approvals\n  \
         orgid --config {cfg} reports roster-checks         # what the roster says about independent C021\n",
        dir.display(),
        dir.display()
    )?;
    out.flush()?;
    // Two demo users with one-time initial passwords (changed at first login).
    let provider = crate::services::idp::provider(&app).await?;
    let mut users = Vec::new();
    for row in rows.iter().filter(|r| r.status == orgid_directory::AccountStatus::Active).take(2) {
        users.push((
            row.login.clone(),
            row.name.clone(),
            provider.reset_password(&row.login, &crate::services::idp::operator()).await?,
        ));
    }
    // Their roles, so that the console has something to show: the first runs group IT and group
    // HR; the second is the strategy office and the IT delegate of the independent company C021.
    const ROLES: [&[(Role, &str, bool)]; 2] = [
        &[(Role::GroupItAdmin, "G000", true), (Role::GroupHr, "G000", true)],
        &[(Role::StrategyOffice, "G000", true), (Role::CompanyIt, "C021", false)],
    ];
    let operator = Principal::operator();
    let mut held = Vec::new();
    for ((login, _, _), roles) in users.iter().zip(ROLES) {
        let mut names = Vec::new();
        for &(role, company, subtree) in roles {
            crate::services::workflow::grant_role(&app, &operator, login, role, &CompanyCode(company.into()), subtree)
                .await
                .map_err(|e| anyhow::anyhow!("demo role {role} for {login}: {e}"))?;
            names.push(format!("{role}@{company}{}", if subtree { "+" } else { "" }));
        }
        held.push(names.join(", "));
    }
    writeln!(out, "\nSingle sign-on (OpenID Connect), issuer {}:", provider.issuer())?;
    for ((login, name, pw), roles) in users.iter().zip(&held) {
        writeln!(out, "  demo user {login} ({name}), one-time password: {pw}, roles: {roles}")?;
    }
    writeln!(
        out,
        "  console: {base}/console (sign in as either; N0001's opening waits for the strategy \
         office and group HR: one approval each)"
    )?;
    writeln!(
        out,
        "  1. open {base}/authorize?client_id=demo&response_type=code&scope=openid%20profile%20org\
         &redirect_uri={}&state=demo\n  \
         2. log in, set your own password; the browser lands on {base}/demo/callback, which redeems the code \
         and shows the tokens decoded\n  \
         3. or by hand: curl -s -u demo:demo-secret-not-for-production -d grant_type=authorization_code -d code=CODE \\\n       \
         -d redirect_uri={base}/demo/callback {base}/token",
        url::form_urlencoded::byte_serialize(format!("{base}/demo/callback").as_bytes()).collect::<String>()
    )?;
    if no_serve {
        out.flush()?;
        return Ok(0);
    }
    writeln!(out, "\nServing on http://{}/ (healthz, readyz, metrics, OIDC); Ctrl-C stops.", app.config.server.listen)?;
    out.flush()?;
    crate::cli::serve::serve(app, Some(config_path)).await?;
    Ok(0)
}
