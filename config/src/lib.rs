//! orgid's configuration: one TOML file, every key with a default, `ORGID__SECTION__KEY` environment
//! overrides, unknown keys rejected, and semantic validation whose errors name the key, the line and
//! what is wrong. Rules that another group would set differently (grade thresholds, safety limits)
//! live here as data; the code that applies them lives in `orgid-directory`.

mod alerts;
mod backup;
mod idp;
mod notices;
mod saml;
mod secret;
mod validate;
mod wecom;
mod workflow;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use alerts::AlertsConfig;
pub use backup::BackupConfig;
pub use idp::{
    CasConfig, ClientConfig, ClientProtocol, GrantType, LoginConfig, NotifierConfig, OidcConfig, PasswordConfig,
    STANDARD_SCOPES, SessionConfig, SigningAlg, TotpConfig, WecomLogin, check_redirect_uri, check_scope, check_scopes,
    check_service, default_scopes,
};
pub use notices::NoticesConfig;
pub use saml::{SAML_ATTRIBUTES, SamlConfig, SamlNameId, SamlSign, SamlSpConfig};
pub use secret::Secret;
pub use wecom::WecomConfig;
pub use workflow::{ConfidentialRoster, IndependentRoster, WorkflowConfig};

/// The environment prefix of overrides: `ORGID__STORE__URL=postgres://…` sets `[store] url`.
pub const ENV_PREFIX: &str = "ORGID__";

/// The whole configuration, validated.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreConfig,
    pub identity: IdentityConfig,
    pub eligibility: EligibilityConfig,
    pub safety: SafetyConfig,
    /// How large an HR file may be before it is refused.
    pub limits: LimitsConfig,
    pub accounts: AccountsConfig,
    pub sync: SyncConfig,
    pub server: ServerConfig,
    pub log: LogConfig,
    pub audit: AuditConfig,
    /// The directory the OA modules read. Absent: orgid keeps only its store.
    pub ldap: Option<LdapConfig>,
    /// WeCom (企业微信), the mobile office. Absent: orgid does not touch it.
    pub wecom: Option<WecomConfig>,
    pub sources: Vec<SourceConfig>,
    /// The OpenID Connect provider of `orgid serve`.
    pub oidc: OidcConfig,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    /// The password-hashing pool and the throttling of failed logins.
    pub login: LoginConfig,
    pub totp: TotpConfig,
    pub notifier: NotifierConfig,
    /// The relying parties (OA modules). More can be added with `orgid clients add`.
    pub clients: Vec<ClientConfig>,
    /// The CAS 3.0 face (its services are `[[clients]]` with `protocol = "cas"`).
    pub cas: CasConfig,
    /// The SAML 2.0 identity provider and its service providers.
    pub saml: SamlConfig,
    /// Delegation, approvals, SLA and penalties.
    pub workflow: WorkflowConfig,
    /// Snapshots of the store (`orgid backup`, and on a schedule in `serve`).
    pub backup: BackupConfig,
    /// Alert rules over the audit trail and where their notices go.
    pub alerts: AlertsConfig,
    /// Personal notices (a password nearing expiry) by WeCom and mail.
    pub notices: NoticesConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` (created on first run, WAL) or `postgres://USER:PASS@HOST:PORT/DB`.
    pub url: Secret,
    pub max_connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { url: Secret::new("sqlite://orgid.db"), max_connections: 8 }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Key of the HMAC that turns an ID number into a person key. When unset, orgid generates one
    /// on first start and keeps it in the store; when set, it must stay the same for the life of
    /// the store (orgid refuses to start on a different one).
    pub person_key_secret: Option<Secret>,
}

/// ELIG-1..5 of the group's rules, as numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EligibilityConfig {
    /// Lowest grade level (either track, M or P) that gets an account, per company tier.
    /// 0 means everyone in that tier.
    pub min_grade: MinGrade,
    /// Confidential posts (机要岗) always get an account, whatever the grade (ELIG-3).
    pub confidential_always: bool,
    /// People of unrated companies wait for the strategy office and group HR (ELIG-4).
    pub unrated_requires_approval: bool,
}

impl Default for EligibilityConfig {
    fn default() -> Self {
        Self { min_grade: MinGrade::default(), confidential_always: true, unrated_requires_approval: true }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MinGrade {
    pub hq: u8,
    pub tier1: u8,
    pub tier2: u8,
    pub tier3: u8,
    pub tier4: u8,
    /// Applies to unrated companies once their people are approved.
    pub unrated: u8,
}

impl Default for MinGrade {
    fn default() -> Self {
        Self { hq: 0, tier1: 12, tier2: 11, tier3: 11, tier4: 11, unrated: 11 }
    }
}

/// Limits that stop a sync before it does damage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyConfig {
    /// A plan that closes more than this many accounts is held for `orgid sync --approve`.
    pub max_close_count: u64,
    /// … or more than this share of the active accounts (0.05 = 5%).
    pub max_close_share: f64,
    /// A roster with fewer active people than this share of the last good run's is refused.
    pub max_shrink_share: f64,
    /// Disabled accounts are purged only after this many days (directory sink).
    pub purge_after_days: u32,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self { max_close_count: 500, max_close_share: 0.05, max_shrink_share: 0.10, purge_after_days: 180 }
    }
}

/// Limits on the HR files orgid reads: the sources' company lists and rosters (`orgid sync`) and
/// request files (`orgid import`, the console). A file beyond them is refused before it is read in
/// full; a cell beyond them rejects its row only.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// A file larger than this many MB (1 MB = 1,048,576 bytes) is refused unread.
    pub max_file_mb: u64,
    /// An .xlsx (a zip archive) whose parts declare more than this many MB once unpacked is
    /// refused before anything is inflated.
    pub max_xlsx_unpacked_mb: u64,
    /// A file with more rows than this (non-empty ones, titles and header included) is refused at
    /// the first row over.
    pub max_rows: u64,
    /// A cell longer than this many characters rejects its row; the person is left as they were.
    pub max_cell_chars: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self { max_file_mb: 100, max_xlsx_unpacked_mb: 500, max_rows: 2_000_000, max_cell_chars: 1000 }
    }
}

impl LimitsConfig {
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_mb.saturating_mul(1 << 20)
    }

    pub fn max_xlsx_unpacked_bytes(&self) -> u64 {
        self.max_xlsx_unpacked_mb.saturating_mul(1 << 20)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LoginScheme {
    /// Full-name pinyin (张三 → zhangsan, then zhangsan2 …); ASCII names lowercased.
    #[default]
    Pinyin,
    /// The employee number at the time the account is opened.
    EmployeeNumber,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    pub login_scheme: LoginScheme,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Cron expression with seconds (`sec min hour day month weekday`), in `timezone`. Empty: no
    /// scheduled sync.
    pub schedule: String,
    /// IANA zone used for schedules and for showing times (`Asia/Shanghai`).
    pub timezone: String,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self { schedule: "0 30 2 * * *".into(), timezone: "Asia/Shanghai".into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:8080".into() }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// `RUST_LOG`-style filter; `RUST_LOG` itself wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

/// The audit trail: retention, signed checkpoints and the review report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Records older than this many days may be purged (`orgid audit purge`). The Cybersecurity
    /// Law asks for at least six months: less than 180 is refused unless `allow_short_retention`.
    pub retention_days: u32,
    pub allow_short_retention: bool,
    /// Cron (with seconds) of the signed checkpoint inside `serve`; "" = only `orgid audit checkpoint`.
    pub checkpoint_schedule: String,
    /// The Ed25519 key (PKCS#8) that signs checkpoints, generated with mode 0600 on first use.
    /// Keep it out of the database and its backups: a key next to the records proves nothing.
    /// Relative paths are relative to this file.
    pub signing_key: PathBuf,
    /// Public keys (hex) of earlier signing keys whose checkpoints are still trusted.
    pub trusted_keys: Vec<String>,
    /// Local office hours of the report's "logins outside working hours" (`HH:MM-HH:MM`) …
    pub working_hours: String,
    /// … on these ISO weekdays (1 = Monday … 7 = Sunday).
    pub working_days: Vec<u8>,
    /// Active accounts without a login for this many days are listed as dormant. (Expired
    /// passwords are those older than `password.max_age_days`.)
    pub dormant_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention_days: 180,
            allow_short_retention: false,
            checkpoint_schedule: "0 0 * * * *".into(),
            signing_key: PathBuf::from("audit-signing.key"),
            trusted_keys: Vec::new(),
            working_hours: "08:00-19:00".into(),
            working_days: vec![1, 2, 3, 4, 5],
            dormant_days: 90,
        }
    }
}

impl AuditConfig {
    /// The office hours as (start, end) minutes after midnight, if `working_hours` is valid.
    pub fn working_minutes(&self) -> Option<(u32, u32)> {
        validate::working_minutes(&self.working_hours)
    }
}

/// The LDAP sink: where, as whom, and how entries are named.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    pub bind_dn: String,
    pub bind_password: Secret,
    /// Everything orgid writes lives under this DN; it must exist.
    pub base_dn: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    pub starttls: bool,
    /// PEM file of the CA that signed the server's certificate (LDAPS and StartTLS); empty: the
    /// system's roots.
    pub ca_file: String,
    pub timeout_secs: u64,
    /// Writes kept in flight on the connection (pipelining).
    pub concurrency: usize,
    /// Removed (issue 15): LDAP transactions (RFC 5805) made a first load slower in every
    /// benchmark and crashed slapd 2.5.13. `true` is a configuration error naming the key;
    /// `false` (what it always meant by default) is accepted so that old files still load.
    pub transactions: bool,
    /// The OU (under `base_dn`) that holds orgid's groups.
    pub groups_ou: String,
    /// At start and in `orgid ldap status`, prove that a locked entry cannot bind.
    pub lock_check: bool,
    /// Cron (with seconds) of `orgid ldap reconcile` and the purge inside `serve`; "" = never.
    pub reconcile_schedule: String,
    pub attributes: LdapAttributes,
}

impl Default for LdapConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            bind_dn: String::new(),
            bind_password: Secret::new(""),
            base_dn: "dc=example,dc=com".into(),
            starttls: false,
            ca_file: String::new(),
            timeout_secs: 10,
            concurrency: 32,
            transactions: false,
            groups_ou: "groups".into(),
            lock_check: true,
            reconcile_schedule: "0 0 3 * * *".into(),
            attributes: LdapAttributes::default(),
        }
    }
}

/// Which LDAP attribute carries which HR field. `cn`, `sn`, `givenName` and `uid` are fixed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LdapAttributes {
    pub display_name: String,
    pub employee_number: String,
    pub mail: String,
    pub mobile: String,
    pub title: String,
    pub grade: String,
    pub company: String,
    pub department: String,
}

impl Default for LdapAttributes {
    fn default() -> Self {
        Self {
            display_name: "displayName".into(),
            employee_number: "employeeNumber".into(),
            mail: "mail".into(),
            mobile: "mobile".into(),
            title: "title".into(),
            grade: "employeeType".into(),
            company: "o".into(),
            department: "ou".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A company list plus a full roster export (files: .xlsx, or CSV in UTF-8 or GBK).
    Roster,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    /// Company list file; relative paths are relative to the config file.
    pub companies: PathBuf,
    /// Roster file; relative paths are relative to the config file.
    pub roster: PathBuf,
}

/// A configuration error, with the key it concerns and, when it came from the file, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `file:line:column` or `environment ORGID__…`, when known.
    pub location: Option<String>,
    /// Dotted key path (`sync.schedule`), when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// All errors found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Loads `path` (a missing file at the default path means "all defaults"), applies environment
    /// overrides from `env`, resolves relative source paths against the file's folder and
    /// validates.
    pub fn load(
        path: &Path,
        must_exist: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => String::new(),
            Err(e) => {
                return Err(ConfigErrors(vec![ConfigError {
                    location: Some(path.display().to_string()),
                    key: None,
                    message: format!("cannot read the configuration file: {e}"),
                }]));
            }
        };
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_toml(&text, &path.display().to_string(), &base, env)
    }

    /// Parses `text` (named `origin` in errors), applies overrides and validates.
    pub fn from_toml(
        text: &str,
        origin: &str,
        base_dir: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let located = |span: Option<std::ops::Range<usize>>| {
            span.map(|s| {
                let (line, col) = line_col(text, s.start);
                format!("{origin}:{line}:{col}")
            })
            .or_else(|| Some(origin.to_string()))
        };
        // First pass on the text alone: type and unknown-key errors carry a span.
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                location: located(e.span()),
                key: None,
                message: e.message().trim().to_string(),
            }])
        })?;
        let overrides = env_overrides(env);
        if !overrides.is_empty() {
            let mut table: toml::Table = toml::from_str(text).map_err(|e| {
                ConfigErrors(vec![ConfigError { location: located(e.span()), key: None, message: e.to_string() }])
            })?;
            for (var, keys, value) in &overrides {
                apply_override(&mut table, keys, value).map_err(|message| {
                    ConfigErrors(vec![ConfigError {
                        location: Some(format!("environment {var}")),
                        key: Some(keys.join(".")),
                        message,
                    }])
                })?;
            }
            cfg = Config::deserialize(toml::Value::Table(table)).map_err(|e| {
                let vars: Vec<&str> = overrides.iter().map(|(v, _, _)| v.as_str()).collect();
                ConfigErrors(vec![ConfigError {
                    location: Some(format!("environment ({})", vars.join(", "))),
                    key: None,
                    message: e.message().trim().to_string(),
                }])
            })?;
        }
        for source in &mut cfg.sources {
            for p in [&mut source.companies, &mut source.roster] {
                if p.is_relative() && !base_dir.as_os_str().is_empty() {
                    *p = base_dir.join(&*p);
                }
            }
        }
        if cfg.audit.signing_key.is_relative() && !base_dir.as_os_str().is_empty() {
            cfg.audit.signing_key = base_dir.join(&cfg.audit.signing_key);
        }
        for p in [&mut cfg.backup.dir, &mut cfg.backup.pg_bin_dir] {
            if p.is_relative() && !p.as_os_str().is_empty() && !base_dir.as_os_str().is_empty() {
                *p = base_dir.join(&*p);
            }
        }
        for p in &mut cfg.workflow.calendar {
            if p.is_relative() && !base_dir.as_os_str().is_empty() {
                *p = base_dir.join(&*p);
            }
        }
        for sp in &mut cfg.saml.service_providers {
            if sp.metadata.is_relative() && !base_dir.as_os_str().is_empty() {
                sp.metadata = base_dir.join(&sp.metadata);
            }
        }
        let errors = validate::validate(&cfg);
        if errors.is_empty() {
            return Ok(cfg);
        }
        let spans = toml::de::DeTable::parse(text).ok();
        Err(ConfigErrors(
            errors
                .into_iter()
                .map(|(key, message)| {
                    let env_var = overrides
                        .iter()
                        .find(|(_, keys, _)| key.starts_with(&keys.join(".")))
                        .map(|(v, _, _)| format!("environment {v}"));
                    let location = env_var.or_else(|| {
                        spans.as_ref().and_then(|t| key_span(t.get_ref(), &key)).and_then(|s| located(Some(s)))
                    });
                    ConfigError { location: location.or_else(|| Some(origin.to_string())), key: Some(key), message }
                })
                .collect(),
        ))
    }
}

/// `ORGID__A__B_C=v` → (`ORGID__A__B_C`, [`a`, `b_c`], `v`), sorted for determinism.
fn env_overrides(env: impl IntoIterator<Item = (String, String)>) -> Vec<(String, Vec<String>, String)> {
    let mut out: Vec<_> = env
        .into_iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(ENV_PREFIX)?;
            let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            (!keys.iter().any(String::is_empty)).then_some((k, keys, v))
        })
        .collect();
    out.sort();
    out
}

fn apply_override(table: &mut toml::Table, keys: &[String], raw: &str) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("empty key")?;
    let mut cur = table;
    for k in parents {
        let entry = cur.entry(k.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| format!("`{k}` is not a section"))?;
    }
    // A value that parses as TOML (number, boolean, array) is taken as such; anything else is text.
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    cur.insert(last.clone(), value);
    Ok(())
}

fn key_span(table: &toml::de::DeTable<'_>, dotted: &str) -> Option<std::ops::Range<usize>> {
    let mut parts = dotted.split('.');
    let first = parts.next()?;
    let (mut key_span, mut value) =
        table.iter().find(|(k, _)| k.get_ref().as_ref() == first).map(|(k, v)| (k.span(), v))?;
    for part in parts {
        let next = match value.get_ref() {
            toml::de::DeValue::Table(t) => {
                t.iter().find(|(k, _)| k.get_ref().as_ref() == part).map(|(k, v)| (k.span(), v))
            }
            toml::de::DeValue::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)).map(|v| (v.span(), v)),
            _ => None,
        };
        match next {
            Some((s, v)) => {
                key_span = s;
                value = v;
            }
            None => break,
        }
    }
    Some(key_span)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A documented example of every key with its default, printed by `orgid config-example`.
pub const EXAMPLE: &str = include_str!("../orgid.example.toml");

#[cfg(test)]
mod tests;
