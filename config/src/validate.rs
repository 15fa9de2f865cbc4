//! Checks that types alone cannot express. Each error is (dotted key, what is wrong).

use std::collections::HashSet;
use std::str::FromStr;

use crate::Config;

pub(crate) fn validate(cfg: &Config) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    let mut err = |key: &str, msg: String| errs.push((key.to_string(), msg));

    let url = cfg.store.url.expose();
    if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        err("store.url", "must start with `sqlite:` or `postgres://`".into());
    }
    if cfg.store.max_connections == 0 {
        err("store.max_connections", "must be at least 1".into());
    }
    if let Some(secret) = &cfg.identity.person_key_secret
        && secret.expose().len() < 16
    {
        err("identity.person_key_secret", "must be at least 16 characters (it keys the ID-number hash)".into());
    }
    let g = &cfg.eligibility.min_grade;
    for (name, v) in [
        ("hq", g.hq),
        ("tier1", g.tier1),
        ("tier2", g.tier2),
        ("tier3", g.tier3),
        ("tier4", g.tier4),
        ("unrated", g.unrated),
    ] {
        if v > 16 {
            err(&format!("eligibility.min_grade.{name}"), format!("is {v}, but grades go from 1 to 16 (0 = everyone)"));
        }
    }
    for (key, v) in [
        ("safety.max_close_share", cfg.safety.max_close_share),
        ("safety.max_shrink_share", cfg.safety.max_shrink_share),
    ] {
        if !(0.0..=1.0).contains(&v) || v.is_nan() {
            err(key, format!("is {v}, but must be a share between 0.0 and 1.0 (0.05 = 5%)"));
        }
    }
    let l = &cfg.limits;
    for (key, v) in [
        ("limits.max_file_mb", l.max_file_mb),
        ("limits.max_xlsx_unpacked_mb", l.max_xlsx_unpacked_mb),
        ("limits.max_rows", l.max_rows),
        ("limits.max_cell_chars", l.max_cell_chars as u64),
    ] {
        if v == 0 {
            err(key, "must be at least 1".into());
        }
    }
    for (key, mb) in [("limits.max_file_mb", l.max_file_mb), ("limits.max_xlsx_unpacked_mb", l.max_xlsx_unpacked_mb)] {
        if mb > 1 << 20 {
            err(key, format!("is {mb}, more than 1,048,576 MB (1 TB), which no HR file needs"));
        }
    }
    if cfg.sync.timezone.parse::<chrono_tz::Tz>().is_err() {
        err("sync.timezone", format!("`{}` is not an IANA time zone such as `Asia/Shanghai`", cfg.sync.timezone));
    }
    if !cfg.sync.schedule.trim().is_empty()
        && let Err(e) = cron::Schedule::from_str(&cfg.sync.schedule)
    {
        err(
            "sync.schedule",
            format!(
                "`{}` is not a cron expression with seconds (`sec min hour day month weekday`, e.g. `0 30 2 * * *`): {e}",
                cfg.sync.schedule
            ),
        );
    }
    if cfg.server.listen.parse::<std::net::SocketAddr>().is_err() {
        err("server.listen", format!("`{}` is not an address:port such as `127.0.0.1:8080`", cfg.server.listen));
    }
    if let Err(e) = cfg.log.level.parse::<LevelFilterCheck>() {
        err("log.level", e);
    }
    if let Some(l) = &cfg.ldap {
        if l.transactions {
            err(
                "ldap.transactions",
                "LDAP transactions were removed: they made the first load slower, not faster, and \
                 crashed slapd 2.5.13 (issue 15); remove the key (plain adds are pipelined instead)"
                    .into(),
            );
        }
        if !(l.url.starts_with("ldap://") || l.url.starts_with("ldaps://")) {
            err("ldap.url", format!("`{}` must start with ldap:// or ldaps://", l.url));
        }
        if l.starttls && l.url.starts_with("ldaps://") {
            err("ldap.starttls", "StartTLS upgrades a plain ldap:// connection; an ldaps:// URL is already TLS".into());
        }
        if !looks_like_dn(&l.base_dn) {
            err("ldap.base_dn", format!("`{}` is not a DN such as `dc=example,dc=com`", l.base_dn));
        }
        if !l.bind_dn.is_empty() && !looks_like_dn(&l.bind_dn) {
            err("ldap.bind_dn", format!("`{}` is not a DN such as `cn=admin,dc=example,dc=com`", l.bind_dn));
        }
        if l.groups_ou.trim().is_empty() || l.groups_ou.contains([',', '=', '+']) {
            err("ldap.groups_ou", "must be a plain OU name such as `groups`".into());
        }
        if l.concurrency == 0 || l.concurrency > 1024 {
            err("ldap.concurrency", format!("is {}, but must be between 1 and 1024", l.concurrency));
        }
        if l.timeout_secs == 0 {
            err("ldap.timeout_secs", "must be at least 1".into());
        }
        if !l.ca_file.is_empty() && !std::path::Path::new(&l.ca_file).is_file() {
            err("ldap.ca_file", format!("`{}` is not a readable file", l.ca_file));
        }
        if !l.reconcile_schedule.trim().is_empty()
            && let Err(e) = cron::Schedule::from_str(&l.reconcile_schedule)
        {
            err(
                "ldap.reconcile_schedule",
                format!("`{}` is not a cron expression with seconds: {e}", l.reconcile_schedule),
            );
        }
        let a = &l.attributes;
        for (key, v) in [
            ("display_name", &a.display_name),
            ("employee_number", &a.employee_number),
            ("mail", &a.mail),
            ("mobile", &a.mobile),
            ("title", &a.title),
            ("grade", &a.grade),
            ("company", &a.company),
            ("department", &a.department),
        ] {
            if v.is_empty()
                || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                || !v.starts_with(|c: char| c.is_ascii_alphabetic())
            {
                err(&format!("ldap.attributes.{key}"), format!("`{v}` is not an LDAP attribute name"));
            }
        }
    }
    let a = &cfg.audit;
    if a.retention_days < 180 && !a.allow_short_retention {
        err(
            "audit.retention_days",
            format!(
                "is {}, but audit records must be kept at least 180 days (six months); set \
                 audit.allow_short_retention = true to force a shorter retention",
                a.retention_days
            ),
        );
    }
    if a.retention_days == 0 {
        err("audit.retention_days", "must be at least 1".into());
    }
    if !a.checkpoint_schedule.trim().is_empty()
        && let Err(e) = cron::Schedule::from_str(&a.checkpoint_schedule)
    {
        err(
            "audit.checkpoint_schedule",
            format!("`{}` is not a cron expression with seconds: {e}", a.checkpoint_schedule),
        );
    }
    if a.signing_key.as_os_str().is_empty() {
        err("audit.signing_key", "must name a file".into());
    }
    for (i, k) in a.trusted_keys.iter().enumerate() {
        if k.trim().len() != 64 || !k.trim().chars().all(|c| c.is_ascii_hexdigit()) {
            err(&format!("audit.trusted_keys.{i}"), "is not an Ed25519 public key (64 hex digits)".into());
        }
    }
    if working_minutes(&a.working_hours).is_none() {
        err("audit.working_hours", format!("`{}` is not a range such as `08:00-19:00`", a.working_hours));
    }
    if a.working_days.iter().any(|d| !(1..=7).contains(d)) {
        err("audit.working_days", "days are ISO weekdays, 1 (Monday) to 7 (Sunday)".into());
    }
    let mut names = HashSet::new();
    for (i, s) in cfg.sources.iter().enumerate() {
        if s.name.trim().is_empty() {
            err(&format!("sources.{i}.name"), "must not be empty".into());
        } else if !names.insert(s.name.as_str()) {
            err(&format!("sources.{i}.name"), format!("`{}` is used by another source", s.name));
        }
    }
    crate::idp::validate(cfg, &mut err);
    crate::saml::validate(cfg, &mut err);
    crate::workflow::validate(cfg, &mut err);
    crate::backup::validate(cfg, &mut err);
    crate::alerts::validate(cfg, &mut err);
    crate::wecom::validate(cfg, &mut err);
    crate::notices::validate(cfg, &mut err);
    errs
}

/// `HH:MM-HH:MM` with the start before the end, as minutes after midnight.
pub(crate) fn working_minutes(s: &str) -> Option<(u32, u32)> {
    let minutes = |t: &str| {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
    };
    let (a, b) = s.split_once('-')?;
    let (a, b) = (minutes(a)?, minutes(b)?);
    (a < b).then_some((a, b))
}

/// `attr=value` pairs separated by commas (the server has the last word).
fn looks_like_dn(s: &str) -> bool {
    !s.trim().is_empty()
        && s.split(',').all(|rdn| rdn.split_once('=').is_some_and(|(a, v)| !a.trim().is_empty() && !v.is_empty()))
}

/// A light check of a `RUST_LOG`-style filter: comma-separated `target`, `level` or `target=level`.
struct LevelFilterCheck;

impl FromStr for LevelFilterCheck {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item.contains(char::is_whitespace) {
                return Err(format!("`{item}` is not a `target=level` item"));
            }
            if let Some((_, level)) = item.rsplit_once('=')
                && !LEVELS.contains(&level.to_ascii_lowercase().as_str())
            {
                return Err(format!("`{level}` is not a level (off, error, warn, info, debug, trace)"));
            }
        }
        Ok(LevelFilterCheck)
    }
}
