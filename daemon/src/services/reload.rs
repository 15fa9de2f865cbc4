//! SIGHUP: the configuration file is read and validated again, and what can change without a
//! restart is put in force whole and at once (a new `App` over the same store replaces the old
//! one; each job sees the old or the new configuration, never a mix). A file that does not
//! validate changes nothing: the errors name the key and the line. Sections that a restart
//! applies (the store, the listener, the provider's other settings) are named in the log; the
//! configuration's OIDC clients and the password policy are replaced in place.

use orgid_config::Config;

use crate::app::App;
use crate::services::Shared;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reloaded {
    /// Sections (or keys) whose new values are in force.
    pub applied: Vec<&'static str>,
    /// Sections that changed in the file but only take effect at a restart.
    pub restart_needed: Vec<&'static str>,
}

impl Reloaded {
    /// One line for the log and the audit trail.
    pub fn summary(&self) -> String {
        let applied = if self.applied.is_empty() { "nothing changed".to_string() } else { self.applied.join(", ") };
        if self.restart_needed.is_empty() {
            format!("applied: {applied}")
        } else {
            format!("applied: {applied}; changed but applied only at a restart: {}", self.restart_needed.join(", "))
        }
    }
}

/// Whether two values differ (by their `Debug` forms: secrets are redacted there, so a changed
/// secret alone is not seen; every secret is restart-only anyway).
fn differs<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") != format!("{b:?}")
}

/// The configuration in force after a reload from `old` to `new`: `old` with the sections that can
/// change in place taken from `new`.
pub fn merge(old: &Config, new: Config) -> (Config, Reloaded) {
    let mut merged = old.clone();
    let mut r = Reloaded::default();
    macro_rules! live {
        ($($field:ident => $name:literal),* $(,)?) => {$(
            if differs(&old.$field, &new.$field) {
                merged.$field = new.$field.clone();
                r.applied.push($name);
            }
        )*};
    }
    // Read by the jobs and the services they call at each run.
    live!(
        eligibility => "eligibility",
        safety => "safety",
        limits => "limits",
        sync => "sync",
        sources => "sources",
        audit => "audit",
        workflow => "workflow",
        backup => "backup",
        notifier => "notifier",
        alerts => "alerts",
        // Put in force in the provider by the caller (`cli/serve.rs`), like the clients.
        password => "password",
    );
    // Put in force in the provider by the caller (`cli/serve.rs`); a client whose secret alone
    // changed is a change too.
    let secrets =
        |c: &Config| c.clients.iter().map(|c| c.secret.as_ref().map(|s| s.expose().to_string())).collect::<Vec<_>>();
    if differs(&old.clients, &new.clients) || secrets(old) != secrets(&new) {
        merged.clients = new.clients.clone();
        r.applied.push("clients");
    }
    if old.log.level != new.log.level {
        merged.log.level = new.log.level.clone();
        r.applied.push("log.level");
    }
    if old.log.format != new.log.format {
        r.restart_needed.push("log.format");
    }
    match (&mut merged.ldap, &new.ldap) {
        (Some(m), Some(n)) if m.reconcile_schedule != n.reconcile_schedule => {
            m.reconcile_schedule = n.reconcile_schedule.clone();
            r.applied.push("ldap.reconcile_schedule");
        }
        _ => {}
    }
    let mut old_ldap = old.ldap.clone();
    if let (Some(o), Some(n)) = (&mut old_ldap, &new.ldap) {
        o.reconcile_schedule = n.reconcile_schedule.clone();
    }
    if differs(&old_ldap, &new.ldap) {
        r.restart_needed.push("ldap");
    }
    for (name, changed) in [
        ("store", differs(&old.store, &new.store)),
        ("identity", differs(&old.identity, &new.identity)),
        ("accounts", differs(&old.accounts, &new.accounts)),
        ("server", differs(&old.server, &new.server)),
        ("oidc", differs(&old.oidc, &new.oidc)),
        ("session", differs(&old.session, &new.session)),
        ("login", differs(&old.login, &new.login)),
        ("totp", differs(&old.totp, &new.totp)),
    ] {
        if changed {
            r.restart_needed.push(name);
        }
    }
    (merged, r)
}

/// Puts the reloadable part of `new` (read and validated by the caller) in force.
pub fn reload(shared: &Shared, new: Config) -> Reloaded {
    let old = shared.app();
    let (merged, report) = merge(&old.config, new);
    if !report.applied.is_empty() {
        shared.replace(App::reconfigured(&old, merged));
    }
    report
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    fn cfg(text: &str) -> Config {
        Config::from_toml(text, "orgid.toml", Path::new(""), Vec::new()).unwrap()
    }

    #[test]
    fn reloadable_sections_are_taken_and_the_rest_waits_for_a_restart() {
        let old = cfg("[safety]\nmax_close_count = 500\n[server]\nlisten = \"127.0.0.1:8080\"\n");
        let new =
            cfg("[safety]\nmax_close_count = 20\n[server]\nlisten = \"127.0.0.1:9090\"\n[sync]\nschedule = \"\"\n\
             [log]\nlevel = \"debug\"\n[[clients]]\nid = \"p\"\nredirect_uris = [\"https://p.example.com/cb\"]\n");
        let (merged, r) = merge(&old, new);
        assert_eq!(merged.safety.max_close_count, 20);
        assert_eq!(merged.sync.schedule, "");
        assert_eq!(merged.log.level, "debug");
        assert_eq!(merged.server.listen, "127.0.0.1:8080", "the listener stays until a restart");
        assert_eq!(merged.clients.len(), 1, "the clients are put in force");
        assert_eq!(r.applied, ["safety", "sync", "clients", "log.level"]);
        assert_eq!(r.restart_needed, ["server"]);
        assert!(r.summary().contains("applied only at a restart: server"), "{}", r.summary());
        let (_, same) = merge(&merged, merged.clone());
        assert_eq!(same, Reloaded::default());
    }

    #[test]
    fn the_password_policy_is_reloaded() {
        let (merged, r) = merge(&cfg(""), cfg("[password]\nmin_length = 14\ninitial_length = 16\n"));
        assert_eq!((merged.password.min_length, r.applied), (14, vec!["password"]));
    }

    #[test]
    fn a_client_whose_secret_alone_changed_is_reloaded() {
        let client = |secret: &str| {
            format!("[[clients]]\nid = \"svc\"\nsecret = \"{secret}\"\ngrants = [\"client_credentials\"]\n")
        };
        let old = cfg(&client("old-secret-0123456789abcd"));
        let (merged, r) = merge(&old, cfg(&client("new-secret-0123456789abcd")));
        assert_eq!(r.applied, ["clients"]);
        assert_eq!(
            merged.clients[0].secret.as_ref().map(|s| s.expose().to_string()).as_deref(),
            Some("new-secret-0123456789abcd")
        );
    }

    #[test]
    fn only_the_reconcile_schedule_of_ldap_is_live() {
        let base = "[ldap]\nurl = \"ldap://127.0.0.1:389\"\nbase_dn = \"dc=example,dc=com\"\n";
        let old = cfg(base);
        let (merged, r) = merge(&old, cfg(&format!("{base}reconcile_schedule = \"\"\n")));
        assert_eq!(merged.ldap.unwrap().reconcile_schedule, "");
        assert_eq!((r.applied, r.restart_needed), (vec!["ldap.reconcile_schedule"], Vec::<&str>::new()));
        let (merged, r) = merge(&old, cfg(&base.replace("389", "3389")));
        assert_eq!(merged.ldap.unwrap().url, "ldap://127.0.0.1:389");
        assert_eq!(r.restart_needed, ["ldap"]);
    }
}
