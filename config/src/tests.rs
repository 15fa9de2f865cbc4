#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml(text, "orgid.toml", Path::new("/etc/orgid"), Vec::new())
}

fn parse_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::from_toml(text, "orgid.toml", Path::new("/etc/orgid"), env)
}

fn only_error(r: Result<Config, ConfigErrors>) -> ConfigError {
    let errs = r.expect_err("config should be rejected").0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().expect("one error")
}

#[test]
fn empty_file_gives_the_documented_defaults() {
    let cfg = parse("").expect("defaults are valid");
    assert_eq!(cfg.store.url.expose(), "sqlite://orgid.db");
    assert_eq!(cfg.eligibility.min_grade, MinGrade { hq: 0, tier1: 12, tier2: 11, tier3: 11, tier4: 11, unrated: 11 });
    assert!(cfg.eligibility.confidential_always);
    assert!(cfg.eligibility.unrated_requires_approval);
    assert_eq!(cfg.safety.max_close_count, 500);
    assert!((cfg.safety.max_close_share - 0.05).abs() < 1e-12);
    assert!(cfg.sources.is_empty());
    assert!(cfg.identity.person_key_secret.is_none());
}

#[test]
fn the_shipped_example_is_valid_and_equals_the_defaults() {
    let cfg = parse(EXAMPLE).expect("example parses");
    let def = parse("").expect("defaults");
    assert_eq!(cfg.eligibility.min_grade, def.eligibility.min_grade);
    assert_eq!(cfg.sync.schedule, def.sync.schedule);
    assert_eq!(cfg.server.listen, def.server.listen);
    assert_eq!(cfg.limits, def.limits);
    assert_eq!(format!("{:?}", cfg.login), format!("{:?}", def.login));
    assert_eq!(cfg.backup, def.backup);
}

#[test]
fn alerts_need_a_relay_for_their_recipients() {
    let cfg = parse("[alerts]\nmail_to = [\"sec@example.com\"]\nsmtp_url = \"smtp://127.0.0.1:25\"\n").expect("valid");
    assert_eq!(cfg.alerts.smtp_addr(), Some("127.0.0.1:25"));
    assert_eq!(cfg.alerts.failures_per_ip, 20);
    let e = only_error(parse("[alerts]\nwindow_secs = 60\nmail_to = [\"sec@example.com\"]\n"));
    assert_eq!(e.key.as_deref(), Some("alerts.smtp_url"));
    let e = only_error(parse("[alerts]\nmail_to = [\"not an address\"]\nsmtp_url = \"smtp://h:25\"\n"));
    assert_eq!(e.key.as_deref(), Some("alerts.mail_to.0"));
    assert_eq!(e.location.as_deref(), Some("orgid.toml:2:12"), "the element itself");
}

#[test]
fn alerts_working_hours_are_checked_by_key_and_line() {
    let cfg = parse("[alerts]\nworking_hours = \"08:30-17:45\"\n").expect("valid");
    assert_eq!(cfg.alerts.working_minutes(), Some((510, 1065)));
    assert!(cfg.alerts.off_hours_admin && cfg.alerts.audit_chain && cfg.alerts.parked_operations);
    assert!(!cfg.alerts.enabled(), "no recipients: alerts off");
    assert_eq!(parse("[alerts]\nworking_hours = \"00:00-24:00\"\n").unwrap().alerts.working_minutes(), Some((0, 1440)));
    for bad in ["18:00-09:00", "9-18", "09:00-25:00", "09:60-18:00", "09:00"] {
        let e = only_error(parse(&format!("[alerts]\naudit_chain = true\nworking_hours = \"{bad}\"\n")));
        assert_eq!(e.key.as_deref(), Some("alerts.working_hours"), "{bad}");
        assert_eq!(e.location.as_deref(), Some("orgid.toml:3:1"), "{bad}: {e}");
        assert!(e.message.contains("HH:MM-HH:MM"), "{e}");
    }
    let e = only_error(parse("[alerts]\nverify_schedule = \"0 45 3 * *\"\n"));
    assert_eq!((e.key.as_deref(), e.location.as_deref()), (Some("alerts.verify_schedule"), Some("orgid.toml:2:1")));
    let e = only_error(parse("[alerts]\nparked_operations = \"yes\"\n"));
    assert_eq!(e.location.as_deref(), Some("orgid.toml:2:21"), "{e}");
    assert!(e.message.contains("expected a boolean"), "{e}");
}

#[test]
fn backup_section_is_checked_by_key_and_line() {
    let cfg = parse("[backup]\ndir = \"snapshots\"\nschedule = \"0 15 1 * * *\"\nkeep = 3\n").expect("valid");
    assert_eq!(cfg.backup.dir, Path::new("/etc/orgid/snapshots"), "relative to the file");
    assert_eq!(cfg.backup.keep, 3);
    let e = only_error(parse("[backup]\nkeep = 2\nschedule = \"daily\"\n"));
    assert_eq!(e.key.as_deref(), Some("backup.schedule"));
    assert_eq!(e.location.as_deref(), Some("orgid.toml:3:1"));
    let e = only_error(parse("[backup]\nkeep = 0\n"));
    assert_eq!(e.key.as_deref(), Some("backup.keep"));
    assert_eq!(e.location.as_deref(), Some("orgid.toml:2:1"));
    let e = only_error(parse("[backup]\nkept = 2\n"));
    assert!(e.message.contains("kept"), "{e}");
}

#[test]
fn issue_forms_of_sources_and_thresholds_parse() {
    let cfg = parse(
        r#"
[eligibility.min_grade]
hq = 0
tier1 = 12
tier2 = 11
tier3 = 11
tier4 = 11

[[sources]]
name = "group-hr"
kind = "roster"
companies = "data/companies.csv"
roster = "/srv/hr/roster.xlsx"
"#,
    )
    .expect("valid");
    assert_eq!(cfg.sources.len(), 1);
    assert_eq!(cfg.sources[0].companies, PathBuf::from("/etc/orgid/data/companies.csv"), "relative to the file");
    assert_eq!(cfg.sources[0].roster, PathBuf::from("/srv/hr/roster.xlsx"), "absolute stays");
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let e = only_error(parse("[store]\nurl = \"sqlite://x.db\"\nmax_conections = 3\n"));
    assert_eq!(e.location.as_deref(), Some("orgid.toml:3:1"));
    assert!(e.message.contains("unknown field `max_conections`"), "{}", e.message);
}

#[test]
fn wrong_type_is_named_with_its_line() {
    let e = only_error(parse("[safety]\nmax_close_count = \"many\"\n"));
    assert_eq!(e.location.as_deref(), Some("orgid.toml:2:19"));
    assert!(e.message.contains("invalid type"), "{}", e.message);
}

#[test]
fn semantic_errors_name_key_and_line_and_are_all_reported() {
    let errs =
        parse("[sync]\nschedule = \"0 30 2 * *\"\ntimezone = \"Mars/Olympus\"\n[eligibility.min_grade]\ntier1 = 17\n")
            .expect_err("invalid")
            .0;
    let keys: Vec<_> = errs.iter().map(|e| e.key.clone().unwrap_or_default()).collect();
    assert_eq!(keys, ["eligibility.min_grade.tier1", "sync.timezone", "sync.schedule"]);
    assert_eq!(errs[0].location.as_deref(), Some("orgid.toml:5:1"));
    assert_eq!(errs[2].location.as_deref(), Some("orgid.toml:2:1"));
    assert!(errs[0].message.contains("1 to 16"));
    let shown = ConfigErrors(errs).to_string();
    assert!(shown.contains("orgid.toml:3:1: key `sync.timezone`: `Mars/Olympus` is not an IANA time zone"), "{shown}");
}

#[test]
fn duplicate_source_names_are_rejected() {
    let src = "[[sources]]\nname = \"a\"\nkind = \"roster\"\ncompanies = \"c\"\nroster = \"r\"\n";
    let e = only_error(parse(&format!("{src}{src}")));
    assert_eq!(e.key.as_deref(), Some("sources.1.name"));
    assert_eq!(e.location.as_deref(), Some("orgid.toml:7:1"), "the second block's name line");
}

#[test]
fn short_person_key_secret_is_rejected_without_echoing_it() {
    let e = only_error(parse("[identity]\nperson_key_secret = \"hunter2\"\n"));
    assert_eq!(e.key.as_deref(), Some("identity.person_key_secret"));
    assert!(!e.to_string().contains("hunter2"));
}

#[test]
fn env_overrides_win_and_are_typed() {
    let cfg = parse_env(
        "[store]\nurl = \"sqlite://a.db\"\n",
        &[
            ("ORGID__STORE__URL", "postgres://u:p@127.0.0.1:5432/orgid"),
            ("ORGID__ELIGIBILITY__MIN_GRADE__TIER1", "13"),
            ("ORGID__SAFETY__MAX_CLOSE_SHARE", "0.1"),
            ("PATH", "/usr/bin"),
        ],
    )
    .expect("valid");
    assert_eq!(cfg.store.url.expose(), "postgres://u:p@127.0.0.1:5432/orgid");
    assert_eq!(cfg.eligibility.min_grade.tier1, 13);
    assert!((cfg.safety.max_close_share - 0.1).abs() < 1e-12);
}

#[test]
fn bad_env_override_names_the_variable() {
    let e = only_error(parse_env("", &[("ORGID__SAFETY__MAX_CLOSE_SHARE", "2.5")]));
    assert_eq!(e.location.as_deref(), Some("environment ORGID__SAFETY__MAX_CLOSE_SHARE"));
    let e = only_error(parse_env("", &[("ORGID__STORE__NOPE", "1")]));
    assert!(e.location.as_deref().is_some_and(|l| l.contains("ORGID__STORE__NOPE")), "{e}");
    assert!(e.message.contains("unknown field `nope`"), "{e}");
}

#[test]
fn secrets_do_not_leak_through_debug() {
    let cfg = parse("[store]\nurl = \"postgres://orgid:s3cr3t@db/orgid\"\n[identity]\nperson_key_secret = \"0123456789abcdef-secret\"\n")
        .expect("valid");
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("s3cr3t") && !dbg.contains("abcdef-secret"), "{dbg}");
}

#[test]
fn missing_default_file_means_defaults_but_a_named_file_must_exist() {
    let dir = std::env::temp_dir().join("orgid-config-test-missing");
    let missing = dir.join("orgid.toml");
    assert!(Config::load(&missing, false, Vec::new()).is_ok());
    let e = Config::load(&missing, true, Vec::new()).expect_err("must exist");
    assert!(e.to_string().contains("cannot read the configuration file"), "{e}");
}

#[test]
fn ldap_transactions_were_removed_and_setting_them_on_names_the_key() {
    let base = "[ldap]\nurl = \"ldap://127.0.0.1:3890\"\nbind_dn = \"cn=admin,dc=example,dc=com\"\n";
    assert!(parse(&format!("{base}transactions = false\n")).is_ok(), "the old default still loads");
    let errs = parse(&format!("{base}transactions = true\n")).expect_err("removed").0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].key.as_deref(), Some("ldap.transactions"));
    assert!(errs[0].message.contains("removed"), "{}", errs[0].message);
}

#[test]
fn ldap_section_is_optional_and_validated() {
    assert!(parse("").expect("defaults").ldap.is_none());
    let cfg = parse(
        "[ldap]\nurl = \"ldap://127.0.0.1:3890\"\nbind_dn = \"cn=admin,dc=example,dc=com\"\nbind_password = \"pw\"\n",
    )
    .expect("valid");
    let l = cfg.ldap.expect("ldap");
    assert_eq!(l.base_dn, "dc=example,dc=com");
    assert_eq!(l.attributes.grade, "employeeType");
    assert!(!format!("{l:?}").contains("\"pw\""), "the bind password is redacted");
    let errs =
        parse("[ldap]\nurl = \"http://x\"\nbase_dn = \"example.com\"\n[ldap.attributes]\ngrade = \"bad attr\"\n")
            .expect_err("bad")
            .0;
    let keys: Vec<_> = errs.iter().map(|e| e.key.clone().unwrap_or_default()).collect();
    assert_eq!(keys, ["ldap.url", "ldap.base_dn", "ldap.attributes.grade"]);
    assert_eq!(errs[2].location.as_deref(), Some("orgid.toml:5:1"));
    let e = only_error(parse_env("", &[("ORGID__LDAP__URL", "ldaps://h:636"), ("ORGID__LDAP__STARTTLS", "true")]));
    assert_eq!(e.key.as_deref(), Some("ldap.starttls"));
}

#[test]
fn audit_defaults_and_retention_floor() {
    let cfg = parse("").expect("defaults");
    assert_eq!(cfg.audit.retention_days, 180);
    assert_eq!(cfg.audit.signing_key, PathBuf::from("/etc/orgid/audit-signing.key"), "relative to the file");
    assert_eq!(cfg.audit.working_minutes(), Some((8 * 60, 19 * 60)));
    let e = only_error(parse("[audit]\nretention_days = 90\n"));
    assert_eq!(e.key.as_deref(), Some("audit.retention_days"));
    assert_eq!(e.location.as_deref(), Some("orgid.toml:2:1"));
    assert!(e.message.contains("at least 180 days"), "{}", e.message);
    let forced = parse("[audit]\nretention_days = 90\nallow_short_retention = true\n").expect("forced");
    assert_eq!(forced.audit.retention_days, 90);
}

#[test]
fn audit_keys_are_validated() {
    let errs = parse(
        "[audit]\ncheckpoint_schedule = \"hourly\"\ntrusted_keys = [\"abc\"]\nworking_hours = \"19:00-08:00\"\nworking_days = [0, 8]\n",
    )
    .expect_err("invalid")
    .0;
    let keys: Vec<&str> = errs.iter().filter_map(|e| e.key.as_deref()).collect();
    assert_eq!(
        keys,
        ["audit.checkpoint_schedule", "audit.trusted_keys.0", "audit.working_hours", "audit.working_days"]
    );
}

#[test]
fn clients_and_password_policy_are_validated_with_their_keys() {
    let cfg = parse(
        r#"
[[clients]]
id = "portal"
secret = "0123456789abcdef0123"
redirect_uris = ["https://portal.example.com/cb", "http://127.0.0.1:9000/cb"]
id_token_alg = "EdDSA"
access_token_alg = "EdDSA"
"#,
    )
    .expect("valid");
    assert_eq!(cfg.clients[0].grants, [GrantType::AuthorizationCode, GrantType::RefreshToken]);
    assert_eq!(cfg.clients[0].id_token_alg, SigningAlg::EdDSA);
    assert_eq!(cfg.clients[0].access_token_alg, Some(SigningAlg::EdDSA));
    assert_eq!(cfg.oidc.access_token_alg, None, "unset: the install's default");
    assert_eq!(cfg.password.lockout_threshold, 5);

    let errs = parse(
        r#"
[oidc]
issuer = "http://sso.example.com/"
[password]
min_classes = 5
[[clients]]
id = "portal"
redirect_uris = ["http://portal.example.com/cb#x"]
grants = ["client_credentials", "authorization_code"]
[[clients]]
id = "portal"
secret = "short"
grants = ["authorization_code"]
"#,
    )
    .expect_err("invalid");
    let keys: Vec<_> = errs.0.iter().filter_map(|e| e.key.clone()).collect();
    for k in [
        "oidc.issuer",
        "password.min_classes",
        "clients.0.redirect_uris.0",
        "clients.0.grants",
        "clients.1.id",
        "clients.1.secret",
        "clients.1.redirect_uris",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} missing in {errs}");
    }
    assert!(!errs.to_string().contains("short\""), "{errs}");
    let issuer = errs.0.iter().find(|e| e.key.as_deref() == Some("oidc.issuer")).expect("issuer error");
    assert!(issuer.location.as_deref().is_some_and(|l| l.ends_with(":3:1")), "{issuer:?}");
}

#[test]
fn cas_services_and_back_channel_uris_are_validated_with_their_keys() {
    let cfg = parse(
        r#"
[cas]
ticket_ttl_secs = 30
[[clients]]
id = "seeyon"
protocol = "cas"
services = ['^https://oa\.example\.com/seeyon/.*$', "https://hr.example.com/cas"]
scopes = ["profile", "org"]
[[clients]]
id = "portal"
redirect_uris = ["https://p.example.com/cb"]
backchannel_logout_uri = "https://p.example.com/bcl"
"#,
    )
    .expect("valid");
    assert_eq!(cfg.clients[0].protocol, crate::ClientProtocol::Cas);
    assert_eq!(cfg.clients[1].protocol, crate::ClientProtocol::Oidc, "the default");
    assert_eq!(cfg.cas.ticket_ttl_secs, 30);
    assert_eq!(crate::CasConfig::default().ticket_ttl_secs, 60);

    let errs = parse(
        r#"
[cas]
ticket_ttl_secs = 301
[[clients]]
id = "open"
protocol = "cas"
services = ['^https://.*$', '^https://oa\.example\.com/.*', "https://oa.example.com/#x", '^http://oa\.example\.com/.*$']
[[clients]]
id = "none"
protocol = "cas"
[[clients]]
id = "portal"
redirect_uris = ["https://p.example.com/cb"]
services = ["https://p.example.com/"]
backchannel_logout_uri = "http://p.example.com/bcl"
"#,
    )
    .expect_err("invalid");
    let keys: Vec<_> = errs.0.iter().filter_map(|e| e.key.clone()).collect();
    for k in [
        "cas.ticket_ttl_secs",
        "clients.0.services.0",
        "clients.0.services.1",
        "clients.0.services.2",
        "clients.0.services.3",
        "clients.1.services",
        "clients.2.services",
        "clients.2.backchannel_logout_uri",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} missing in {errs}");
    }
    assert!(crate::check_service(r"^http://127\.0\.0\.1:8080/oa/.*$").is_ok(), "plain http on loopback");
}

#[test]
fn client_scopes_and_login_guards_have_defaults_and_are_validated() {
    let cfg = parse("[[clients]]\nid = \"portal\"\nredirect_uris = [\"https://p.example.com/cb\"]\n").expect("valid");
    assert_eq!(cfg.clients[0].scopes, STANDARD_SCOPES, "by default, what discovery advertises");
    let l = &cfg.login;
    assert_eq!((l.hash_workers, l.hash_queue, l.failures_per_ip, l.failures_per_login), (0, 64, 20, 10));
    assert_eq!(l.failure_window_secs, 300);
    assert!(l.workers() >= 1, "0 workers means the number of cores");
    assert_eq!(LoginConfig { hash_workers: 3, ..LoginConfig::default() }.workers(), 3);
    let cfg = parse(
        "[[clients]]\nid = \"batch\"\nsecret = \"0123456789abcdef0123\"\ngrants = [\"client_credentials\"]\n\
         scopes = [\"hr.read\", \"hr:write\"]\n",
    )
    .expect("custom scopes without openid: no code flow");
    assert_eq!(cfg.clients[0].scopes, ["hr.read", "hr:write"]);

    let errs = parse(
        r#"
[login]
hash_workers = 1000
hash_queue = 20000
failure_window_secs = 0
[[clients]]
id = "portal"
redirect_uris = ["https://p.example.com/cb"]
scopes = ["profile"]
[[clients]]
id = "other"
redirect_uris = ["https://p.example.com/cb"]
scopes = ["openid", "bad scope"]
[[clients]]
id = "third"
redirect_uris = ["https://p.example.com/cb"]
scopes = ["openid", "openid"]
"#,
    )
    .expect_err("invalid");
    let keys: Vec<_> = errs.0.iter().filter_map(|e| e.key.clone()).collect();
    assert_eq!(
        keys,
        [
            "login.hash_workers",
            "login.hash_queue",
            "login.failure_window_secs",
            "clients.0.scopes",
            "clients.1.scopes",
            "clients.2.scopes"
        ],
        "{errs}"
    );
    assert!(errs.to_string().contains("needs the `openid` scope"), "{errs}");
    let env = parse_env("", &[("ORGID__LOGIN__FAILURES_PER_IP", "0")]).expect("0 = no limit");
    assert_eq!(env.login.failures_per_ip, 0);
}

#[test]
fn workflow_settings_are_validated_with_key_and_line() {
    let cfg = parse("").unwrap();
    assert_eq!((cfg.workflow.sla_working_days, cfg.workflow.submission_day, cfg.workflow.penalty_points), (2, 15, 10));
    assert_eq!(cfg.workflow.independent_roster, IndependentRoster::Check);
    let e = only_error(parse("[workflow]\nsla_working_days = 2\nsubmission_day = 31\n"));
    assert_eq!(e.key.as_deref(), Some("workflow.submission_day"));
    assert_eq!(e.location.as_deref(), Some("orgid.toml:3:1"));
    // Deadlines end at the end of the day in `sync.timezone`: there is no second time zone.
    let e = only_error(parse("[workflow]\ntimezone = \"Asia/Shanghai\"\n"));
    assert!(e.message.contains("timezone"), "{e}");
    let e = only_error(parse("[workflow]\nindependent_roster = \"ignore\"\n"));
    assert!(e.message.contains("ignore"), "{e}");
    let e = only_error(parse("[workflow]\ncalendar = [\"holidays-2027.toml\"]\n"));
    assert_eq!(e.key.as_deref(), Some("workflow.calendar.0"));
    assert!(e.message.contains("/etc/orgid/holidays-2027.toml"), "relative to the file's folder: {e}");
    let e = only_error(parse("[workflow]\nretry_schedule = \"every minute\"\n"));
    assert_eq!(e.key.as_deref(), Some("workflow.retry_schedule"));
    assert!(parse("[workflow]\nindependent_roster = \"apply\"\nretry_schedule = \"\"\n").is_ok());
    // Seed 000 art. 11(四): confidential posts through the confidential office alone, by default.
    assert_eq!(cfg.workflow.confidential_roster, crate::ConfidentialRoster::Request);
    assert!(!cfg.workflow.confidential_group_hr);
    let e = only_error(parse("[workflow]\nconfidential_roster = \"open\"\n"));
    assert!(e.message.contains("open"), "{e}");
    let set = parse("[workflow]\nconfidential_roster = \"apply\"\nconfidential_group_hr = true\n").unwrap();
    assert_eq!(
        (set.workflow.confidential_roster, set.workflow.confidential_group_hr),
        (crate::ConfidentialRoster::Apply, true)
    );
}

#[test]
fn file_limits_have_defaults_are_validated_and_reject_unknown_keys() {
    let cfg = parse("").expect("defaults");
    assert_eq!(
        cfg.limits,
        LimitsConfig { max_file_mb: 100, max_xlsx_unpacked_mb: 500, max_rows: 2_000_000, max_cell_chars: 1000 }
    );
    assert_eq!(cfg.limits.max_file_bytes(), 100 * 1_048_576);
    assert_eq!(cfg.limits.max_xlsx_unpacked_bytes(), 500 * 1_048_576);
    let cfg = parse(
        "[limits]
max_rows = 10
max_cell_chars = 64
",
    )
    .expect("valid");
    assert_eq!((cfg.limits.max_rows, cfg.limits.max_cell_chars, cfg.limits.max_file_mb), (10, 64, 100));

    let errs = parse(
        "[limits]
max_file_mb = 0
max_xlsx_unpacked_mb = 2000000
max_rows = 0
max_cell_chars = 0
",
    )
    .expect_err("invalid")
    .0;
    let got: Vec<(&str, &str, &str)> = errs
        .iter()
        .map(|e| (e.key.as_deref().unwrap_or(""), e.location.as_deref().unwrap_or(""), e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("limits.max_file_mb", "orgid.toml:2:1", "must be at least 1"),
            ("limits.max_rows", "orgid.toml:4:1", "must be at least 1"),
            ("limits.max_cell_chars", "orgid.toml:5:1", "must be at least 1"),
            (
                "limits.max_xlsx_unpacked_mb",
                "orgid.toml:3:1",
                "is 2000000, more than 1,048,576 MB (1 TB), which no HR file needs"
            ),
        ]
    );

    let e = only_error(parse(
        "[limits]
max_cells = 5
",
    ));
    assert_eq!(e.location.as_deref(), Some("orgid.toml:2:1"));
    assert!(e.message.contains("unknown field `max_cells`"), "{}", e.message);
    let cfg = parse_env("", &[("ORGID__LIMITS__MAX_ROWS", "50")]).expect("override");
    assert_eq!(cfg.limits.max_rows, 50);
}

#[test]
fn saml_service_providers_are_checked_and_their_metadata_found_beside_the_file() {
    let cfg = parse("[[saml.service_providers]]\nid = \"oa\"\nmetadata = \"saml/oa.xml\"\nname_id = \"login\"\n")
        .expect("valid");
    let sp = &cfg.saml.service_providers[0];
    assert_eq!(sp.metadata, Path::new("/etc/orgid/saml/oa.xml"));
    assert_eq!((sp.name_id, sp.sign), (SamlNameId::Login, SamlSign::Both));
    assert_eq!(sp.attributes.len(), SAML_ATTRIBUTES.len(), "all attributes by default");
    let e = only_error(parse(
        "[[saml.service_providers]]\nid = \"oa\"\nmetadata = \"oa.xml\"\nattributes = [\"salary\"]\n",
    ));
    assert_eq!(e.key.as_deref(), Some("saml.service_providers[0].attributes"));
    let e = only_error(parse(
        "[[clients]]\nid = \"oa\"\nredirect_uris = [\"https://oa.example/cb\"]\n\
         [[saml.service_providers]]\nid = \"oa\"\nmetadata = \"oa.xml\"\n",
    ));
    assert_eq!(e.key.as_deref(), Some("saml.service_providers[0].id"));
    assert!(parse("[[saml.service_providers]]\nid = \"oa\"\nmetadata = \"oa.xml\"\nsign = \"never\"\n").is_err());
    let e = only_error(parse("[saml]\nassertion_ttl_secs = 0\n"));
    assert_eq!(e.key.as_deref(), Some("saml.assertion_ttl_secs"));
}

#[test]
fn wecom_section_takes_its_secrets_from_the_environment_and_never_prints_them() {
    let text = "[wecom]\ncorp_id = \"ww1\"\nattr_grade = \"职级\"\n";
    let e = only_error(parse(text));
    assert_eq!(e.key.as_deref(), Some("wecom.contacts_secret"));
    let cfg = parse_env(text, &[("ORGID__WECOM__CONTACTS_SECRET", "s3cr3t-contacts")]).expect("valid");
    let w = cfg.wecom.as_ref().expect("wecom");
    assert_eq!(
        (w.base_url.as_str(), w.root_department, w.attr_grade.as_str()),
        ("https://qyapi.weixin.qq.com", 1, "职级")
    );
    assert_eq!(w.contacts_secret.expose(), "s3cr3t-contacts");
    assert!(!format!("{cfg:?}").contains("s3cr3t-contacts"));
    let e = only_error(parse("[wecom]\ncorp_id = \"ww1\"\ncontacts_secret = \"x\"\nbase_url = \"ftp://x\"\n"));
    assert_eq!(e.key.as_deref(), Some("wecom.base_url"));
    assert!(parse("").expect("defaults").wecom.is_none());
}

#[test]
fn wecom_sign_in_and_notices_need_the_app_and_a_relay() {
    let base = "[wecom]\ncorp_id = \"ww1\"\ncontacts_secret = \"x\"\n";
    let e = only_error(parse(&format!("{base}sign_in = true\n")));
    assert_eq!(e.key.as_deref(), Some("wecom.sign_in"));
    let app = format!("{base}agent_id = 1000002\napp_secret = \"y\"\nsign_in = true\n");
    let cfg = parse(&app).expect("valid");
    let w = cfg.wecom.as_ref().expect("wecom");
    assert_eq!(
        (w.oauth_url.as_str(), w.sso_url.as_str()),
        ("https://open.weixin.qq.com", "https://login.work.weixin.qq.com")
    );
    let client =
        "[[clients]]\nid = \"fin\"\nredirect_uris = [\"https://fin.example.com/cb\"]\nwecom_login = \"step_up\"\n";
    let cfg = parse(&format!("{client}{app}")).expect("valid");
    assert_eq!(cfg.clients[0].wecom_login, crate::WecomLogin::StepUp);
    assert!(parse(&format!("{}{app}", client.replace("step_up", "maybe"))).is_err());

    let e = only_error(parse("[notices]\nchannels = [\"mail\"]\n"));
    assert_eq!(e.key.as_deref(), Some("notices.channels"));
    let e = only_error(parse(&format!("[notices]\nchannels = [\"wecom\"]\n{base}")));
    assert_eq!(e.key.as_deref(), Some("notices.channels"));
    let e = only_error(parse("[notices]\nchannels = [\"sms\"]\n"));
    assert_eq!(e.key.as_deref(), Some("notices.channels"));
    let ok = parse("[alerts]\nsmtp_url = \"smtp://127.0.0.1:25\"\n[notices]\nchannels = [\"mail\"]\n").expect("valid");
    assert!(ok.notices.mail() && !ok.notices.wecom());
    assert_eq!((ok.notices.interval_secs, ok.notices.retry_secs), (300, 30));
}

#[test]
fn a_token_exchange_policy_names_oidc_clients_and_needs_a_secret() {
    let errs = parse(
        r#"
[oidc]
issuer = "https://id.example.com"
[[clients]]
id = "gateway"
secret = "gateway-secret-0123456789"
redirect_uris = ["https://g.example.com/cb"]
token_exchange = ["hr-api", "nobody"]
[[clients]]
id = "public"
redirect_uris = ["https://p.example.com/cb"]
token_exchange = ["hr-api"]
[[clients]]
id = "hr-api"
secret = "hr-api-secret-0123456789ab"
redirect_uris = ["https://h.example.com/cb"]
"#,
    )
    .expect_err("invalid");
    let keys: Vec<_> = errs.0.iter().filter_map(|e| e.key.clone()).collect();
    assert!(keys.iter().any(|k| k == "clients.0.token_exchange.1"), "{errs}");
    assert!(keys.iter().any(|k| k == "clients.1.token_exchange"), "{errs}");
    assert!(!keys.iter().any(|k| k == "clients.0.token_exchange.0"), "{errs}");
}
