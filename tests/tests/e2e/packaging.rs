//! Packaging: the systemd unit passes `systemd-analyze verify` and scores well in `systemd-analyze
//! security` (where systemd-analyze is installed); the Dockerfile builds in a Rust stage and runs
//! on Debian slim as its own user; completions and the man page come from the parser.

use std::path::PathBuf;

use crate::sync::orgid;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit = std::fs::read_to_string(repo().join("packaging/systemd/orgid.service")).unwrap();
    for line in [
        "Type=notify",
        "User=orgid",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ReadWritePaths=/var/lib/orgid",
        "Restart=on-failure",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(line)), "{line} in the unit");
    }
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze is not installed: the unit was not verified");
        return;
    };
    // verify wants the program to exist and be executable: this test's own binary stands in.
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let path = dir.path().join("orgid.service");
    std::fs::write(&path, unit.replace("/usr/bin/orgid", exe.to_str().unwrap())).unwrap();
    let out = std::process::Command::new(&analyze).args(["verify", "--man=no"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new(&analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for orgid.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in: {text}"));
    eprintln!("systemd-analyze security: exposure {score} (0 = best, 10 = worst)");
    assert!(score <= 2.0, "exposure {score}: {text}");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
        .ok_or(())
}

#[test]
fn the_dockerfile_builds_in_rust_and_runs_on_debian_slim_as_its_own_user() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].starts_with("FROM rust:") && froms[0].ends_with(" AS build"), "{}", froms[0]);
    assert!(froms[1].starts_with("FROM debian:") && froms[1].contains("-slim"), "{}", froms[1]);
    let runtime = &text[text.find(froms[1]).unwrap()..];
    assert!(runtime.contains("COPY --from=build /out/orgid /usr/bin/orgid"), "the binary comes from the build stage");
    assert!(!runtime.contains("cargo"), "no toolchain in the runtime stage");
    assert!(runtime.lines().any(|l| l == "USER orgid"), "not root");
    assert!(runtime.contains("postgresql-client"), "pg_dump for backups of a PostgreSQL store");
    assert!(text.contains("cargo build --release --locked -p orgid"));
    let compose = std::fs::read_to_string(repo().join("packaging/compose.yaml")).unwrap();
    for s in [
        "  postgres:",
        "  openldap:",
        "  orgid:",
        "ORGID__STORE__URL: postgres://",
        "ORGID__LDAP__URL: ldap://openldap",
    ] {
        assert!(compose.contains(s), "{s} in compose.yaml");
    }
    // The packaged configuration is valid and puts the store and backups where the unit may write.
    let cfg = orgid_config::Config::load(&repo().join("packaging/orgid.toml"), true, Vec::new())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.store.url.expose(), "sqlite:///var/lib/orgid/orgid.db");
    assert_eq!(cfg.backup.dir, PathBuf::from("/var/backups/orgid"));
}

#[tokio::test]
async fn completions_and_the_man_page_come_from_the_parser() {
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("orgid.toml");
    std::fs::write(&path, "").unwrap();
    let (code, bash) = orgid(&path, &["completions", "bash"]).await;
    assert_eq!(code, 0);
    assert!(bash.contains("_orgid()") && bash.contains("restore") && bash.contains("backup"), "{bash}");
    let (code, zsh) = orgid(&path, &["completions", "zsh"]).await;
    assert_eq!(code, 0);
    assert!(zsh.starts_with("#compdef orgid"), "{zsh}");
    let (code, man) = orgid(&path, &["man"]).await;
    assert_eq!(code, 0);
    assert!(man.contains(".TH orgid 1") && man.contains("backup") && man.contains("restore"), "{man}");
}
