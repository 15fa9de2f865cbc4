//! The identity provider's settings: the issuer and token lifetimes, SSO sessions, the password
//! policy (defaults: MLPS 2.0 level 3), the login guards (the password-hashing pool and the
//! throttling of failed logins), second factor, notifier and the OIDC clients (one per OA module)
//! with the scopes each may ask for.

use serde::Deserialize;

use crate::Secret;

/// `[oidc]`: the provider itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The issuer URL clients see (`https://sso.example.com`); it must be where `orgid serve` is
    /// reachable. Plain `http://` only on loopback.
    pub issuer: String,
    /// Authorization codes live this long and are single-use.
    pub code_ttl_secs: u64,
    pub access_token_ttl_secs: u64,
    pub id_token_ttl_secs: u64,
    /// A refresh token (rotated on every use) expires this long after its grant's last use.
    pub refresh_token_ttl_secs: u64,
    /// A new signing key is made this often; the old one stays published until its tokens expire.
    pub key_rotation_days: u32,
    /// How access tokens are signed for clients that do not say (`access_token_alg` of a client).
    /// Unset: ES256 on a new install; an install that already issued RS256 access tokens before
    /// this setting existed keeps RS256 (its resource servers may expect it) until this is set.
    pub access_token_alg: Option<SigningAlg>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            code_ttl_secs: 60,
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 8 * 3600,
            key_rotation_days: 90,
            access_token_alg: None,
        }
    }
}

/// `[session]`: the SSO session cookie.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused this long ends.
    pub idle_minutes: u32,
    /// A session ends this long after login, used or not.
    pub absolute_hours: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { idle_minutes: 30, absolute_hours: 10 }
    }
}

/// `[password]`: the policy applied at login and at every change. Defaults are the MLPS 2.0
/// level-3 profile of the group's rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    pub min_length: u32,
    /// Of the four classes: lower case, upper case, digits, other characters.
    pub min_classes: u32,
    /// A new password may not equal any of the last `history` ones.
    pub history: u32,
    /// 0 = passwords never expire.
    pub max_age_days: u32,
    /// Warn this many days before expiry.
    pub warn_days: u32,
    /// The initial (or reset) password must be changed at first login.
    pub change_initial: bool,
    /// Consecutive failures that lock the account …
    pub lockout_threshold: u32,
    /// … for this long.
    pub lockout_minutes: u32,
    /// Length of generated one-time initial passwords.
    pub initial_length: u32,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: 8,
            min_classes: 3,
            history: 5,
            max_age_days: 90,
            warn_days: 14,
            change_initial: true,
            lockout_threshold: 5,
            lockout_minutes: 30,
            initial_length: 12,
        }
    }
}

/// `[login]`: what a password check may cost the server. Each check is an argon2id hash of
/// 19 MiB: a bounded pool runs `hash_workers` of them at once and lets `hash_queue` more wait;
/// past that a login is answered 503 with `Retry-After` at once. Failed logins are throttled per
/// source address and per typed login (whether or not it exists), each a sliding budget of
/// `failures_per_…` failures per `failure_window_secs`; past it, 429 with `Retry-After`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Password hashes at once; 0 = the number of cores.
    pub hash_workers: u32,
    /// Logins waiting for a hash beyond those running.
    pub hash_queue: u32,
    /// Failed logins from one source address (an IPv6 address counts by its /64) per window;
    /// 0 = not throttled by address.
    pub failures_per_ip: u32,
    /// Failed logins for one login name per window; 0 = not throttled by login.
    pub failures_per_login: u32,
    pub failure_window_secs: u32,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self { hash_workers: 0, hash_queue: 64, failures_per_ip: 20, failures_per_login: 10, failure_window_secs: 300 }
    }
}

impl LoginConfig {
    /// The number of hash workers: `hash_workers`, or the number of cores when 0.
    pub fn workers(&self) -> usize {
        match self.hash_workers {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n as usize,
        }
    }
}

/// `[totp]`: the second factor (RFC 6238, 6 digits, 30 s).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TotpConfig {
    /// Members of these groups must use a second factor, whatever the client: company codes
    /// (`C010`), department groups (`C010/财务部`) or `confidential`.
    pub required_groups: Vec<String>,
}

/// `[notifier]`: how a reset's one-time initial password reaches its user.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NotifierConfig {
    /// A program and its arguments, run once per reset with the password on standard input and
    /// `ORGID_LOGIN`, `ORGID_NAME`, `ORGID_MAIL`, `ORGID_MOBILE` in its environment (an SMS or mail
    /// gateway script). Empty: the password is printed once for the operator to hand over.
    pub command: Vec<String>,
}

/// An OAuth grant a client may use.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials]
            .into_iter()
            .find(|g| g.as_str() == s)
    }
}

/// The algorithm of a client's ID tokens.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, Default)]
pub enum SigningAlg {
    #[default]
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA].into_iter().find(|a| a.as_str() == s)
    }
}

fn default_grants() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
}

/// The scopes the provider supports (those discovery advertises): a client may ask for these
/// unless its `scopes` say otherwise.
pub const STANDARD_SCOPES: [&str; 6] = ["openid", "profile", "email", "phone", "org", "offline_access"];

/// [`STANDARD_SCOPES`], owned: the default of a client's `scopes`.
pub fn default_scopes() -> Vec<String> {
    STANDARD_SCOPES.iter().map(|s| (*s).to_string()).collect()
}

/// A scope a client may be allowed: an RFC 6749 §3.3 scope token (printable ASCII but space,
/// `"` and `\\`).
pub fn check_scope(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 128 {
        return Err("must be 1 to 128 characters");
    }
    if !s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)) {
        return Err("must be printable ASCII without spaces, `\"` or `\\`");
    }
    Ok(())
}

/// `[[clients]]`: one relying party (an OA module).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub id: String,
    /// Shown on the login page (`name = "协同办公门户"`); defaults to the id.
    #[serde(default)]
    pub name: String,
    /// Absent: a public client (PKCE required, no client authentication).
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default = "default_grants")]
    pub grants: Vec<GrantType>,
    /// The scopes this client may ask for (at the authorization and the token endpoint); a
    /// request for another is `invalid_scope`. Default: [`STANDARD_SCOPES`].
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub id_token_alg: SigningAlg,
    /// How this client's access tokens are signed (RS256, ES256 or EdDSA); unset: the provider's
    /// (`oidc.access_token_alg`).
    #[serde(default)]
    pub access_token_alg: Option<SigningAlg>,
    /// Every login to this client needs the second factor.
    #[serde(default)]
    pub require_totp: bool,
    /// How it signs in: `oidc` (the default) or `cas` (a CAS 3.0 service: `services` instead of
    /// redirect URIs and grants; its `scopes` say which attributes it is given).
    #[serde(default)]
    pub protocol: ClientProtocol,
    /// CAS: the service URLs it may ask tickets for, each an exact URL or an anchored pattern
    /// (`^https://oa\.example\.com/.*$`) whose scheme and host are literal.
    #[serde(default)]
    pub services: Vec<String>,
    /// OIDC: where a logout token is POSTed when a session it got tokens in ends (OpenID
    /// Connect Back-Channel Logout 1.0).
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// What a sign-in with WeCom (`[wecom] sign_in = true`) counts for at this client:
    /// `enough` (the default: WeCom vouches for the person), `step_up` (the password is still
    /// asked, and the second factor where the client needs it) or `off` (not offered).
    #[serde(default)]
    pub wecom_login: WecomLogin,
    /// OIDC: the page orgid's logout page loads in an iframe (with `iss` and `sid`) when a
    /// session it got a code in is logged out (OpenID Connect Front-Channel Logout 1.0).
    #[serde(default)]
    pub frontchannel_logout_uri: Option<String>,
    /// OIDC, confidential clients: the clients (audiences) it may exchange a user's access
    /// token for, with the RFC 8693 token-exchange grant; empty: it may not exchange.
    #[serde(default)]
    pub token_exchange: Vec<String>,
}

/// What a sign-in with WeCom counts for at a client (`wecom_login`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WecomLogin {
    /// WeCom's word is enough (a client that needs the second factor still asks for it).
    #[default]
    Enough,
    /// The password is asked after WeCom's sign-in, as a second step.
    StepUp,
    /// WeCom's sign-in is not offered to this client.
    Off,
}

/// The protocol a client signs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientProtocol {
    #[default]
    Oidc,
    Cas,
    /// A SAML service provider (registered in `[saml]` or with `clients add --protocol saml`,
    /// never as a `[[clients]]` entry).
    Saml,
}

impl ClientProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientProtocol::Oidc => "oidc",
            ClientProtocol::Cas => "cas",
            ClientProtocol::Saml => "saml",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oidc" => Some(ClientProtocol::Oidc),
            "cas" => Some(ClientProtocol::Cas),
            "saml" => Some(ClientProtocol::Saml),
            _ => None,
        }
    }
}

/// `[cas]`: the CAS 3.0 face.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CasConfig {
    /// A service ticket is valid this long (10 to 300 seconds) and once.
    pub ticket_ttl_secs: u64,
}

impl Default for CasConfig {
    fn default() -> Self {
        Self { ticket_ttl_secs: 60 }
    }
}

/// A CAS service a client may register: an exact URL (as a redirect URI), or an anchored
/// pattern `^…$` whose scheme and host are literal, so it can never match another site.
pub fn check_service(s: &str) -> Result<(), String> {
    let Some(body) = s.strip_prefix('^') else {
        return check_redirect_uri(s).map_err(str::to_string);
    };
    let Some(body) = body.strip_suffix('$') else { return Err("a pattern must end with `$`".into()) };
    let rest = body
        .strip_prefix("https://")
        .or_else(|| body.strip_prefix("http://").filter(|_| is_loopback_http(&body.replace("\\.", "."))))
        .ok_or("a pattern must start with `^https://` (http only on loopback)")?;
    let host_end = rest.find(['/', ':']).ok_or("a pattern must have a literal host followed by `/` or `:`")?;
    let host = &rest[..host_end];
    let literal = host.replace("\\.", "");
    if host.is_empty() || !literal.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("a pattern's host must be literal (letters, digits, `-`, `\\.`)".into());
    }
    regex::Regex::new(s).map_err(|e| format!("is not a valid pattern: {e}"))?;
    Ok(())
}

fn is_loopback_http(url: &str) -> bool {
    ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| url.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/'])))
}

/// Checks of the identity-provider sections, as (key, message).
pub(crate) fn validate(cfg: &crate::Config, err: &mut dyn FnMut(&str, String)) {
    let o = &cfg.oidc;
    if !(o.issuer.starts_with("https://") || is_loopback_http(&o.issuer))
        || o.issuer.ends_with('/')
        || o.issuer.contains(['?', '#'])
    {
        err(
            "oidc.issuer",
            format!(
                "`{}` must be an https:// URL (plain http only on 127.0.0.1 or localhost) without a trailing `/`, query or fragment",
                o.issuer
            ),
        );
    }
    for (key, v, max) in [
        ("oidc.code_ttl_secs", o.code_ttl_secs, 600),
        ("oidc.access_token_ttl_secs", o.access_token_ttl_secs, 86_400),
        ("oidc.id_token_ttl_secs", o.id_token_ttl_secs, 86_400),
        ("oidc.refresh_token_ttl_secs", o.refresh_token_ttl_secs, 90 * 86_400),
    ] {
        if v == 0 || v > max {
            err(key, format!("is {v}, but must be between 1 and {max} seconds"));
        }
    }
    if o.key_rotation_days == 0 {
        err("oidc.key_rotation_days", "must be at least 1".into());
    }
    if cfg.session.idle_minutes == 0 {
        err("session.idle_minutes", "must be at least 1".into());
    }
    if cfg.session.absolute_hours == 0 || cfg.session.absolute_hours * 60 < cfg.session.idle_minutes {
        err("session.absolute_hours", "must be at least 1 and not shorter than session.idle_minutes".into());
    }
    let p = &cfg.password;
    if !(6..=128).contains(&p.min_length) {
        err("password.min_length", format!("is {}, but must be between 6 and 128", p.min_length));
    }
    if !(1..=4).contains(&p.min_classes) {
        err("password.min_classes", format!("is {}, but there are 4 character classes (1 to 4)", p.min_classes));
    }
    if p.history > 24 {
        err("password.history", format!("is {}, but at most 24 old passwords are kept", p.history));
    }
    if p.max_age_days != 0 && p.warn_days >= p.max_age_days {
        err("password.warn_days", "must be shorter than password.max_age_days".into());
    }
    if p.lockout_threshold == 0 {
        err("password.lockout_threshold", "must be at least 1".into());
    }
    if p.lockout_minutes == 0 {
        err("password.lockout_minutes", "must be at least 1".into());
    }
    if p.initial_length < p.min_length.max(10) || p.initial_length > 64 {
        err(
            "password.initial_length",
            format!("is {}, but must be between max(10, password.min_length) and 64", p.initial_length),
        );
    }
    let l = &cfg.login;
    if l.hash_workers > 256 {
        err("login.hash_workers", format!("is {}, but must be at most 256 (0 = the number of cores)", l.hash_workers));
    }
    if l.hash_queue > 10_000 {
        err("login.hash_queue", format!("is {}, but must be at most 10000", l.hash_queue));
    }
    if !(1..=86_400).contains(&l.failure_window_secs) {
        err("login.failure_window_secs", format!("is {}, but must be between 1 and 86400", l.failure_window_secs));
    }
    for (key, n) in [("login.failures_per_ip", l.failures_per_ip), ("login.failures_per_login", l.failures_per_login)] {
        if n > 100_000 {
            err(key, format!("is {n}, but must be at most 100000 (0 = no limit)"));
        }
    }
    if !cfg.notifier.command.is_empty() && cfg.notifier.command[0].trim().is_empty() {
        err("notifier.command", "the first element must be a program".into());
    }
    if !(10..=300).contains(&cfg.cas.ticket_ttl_secs) {
        err("cas.ticket_ttl_secs", format!("is {}, but must be between 10 and 300 seconds", cfg.cas.ticket_ttl_secs));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, c) in cfg.clients.iter().enumerate() {
        let key = |k: &str| format!("clients.{i}.{k}");
        if c.id.is_empty() || !c.id.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
            err(&key("id"), format!("`{}` must be letters, digits, `-`, `_` or `.`", c.id));
        } else if !ids.insert(c.id.as_str()) {
            err(&key("id"), format!("`{}` is used by another client", c.id));
        }
        if let Some(u) = &c.backchannel_logout_uri
            && let Err(why) = check_redirect_uri(u)
        {
            err(&key("backchannel_logout_uri"), format!("`{u}` {why}"));
        }
        if let Some(u) = &c.frontchannel_logout_uri
            && let Err(why) = check_redirect_uri(u)
        {
            err(&key("frontchannel_logout_uri"), format!("`{u}` {why}"));
        }
        if !c.token_exchange.is_empty() && (c.secret.is_none() || c.protocol != ClientProtocol::Oidc) {
            err(&key("token_exchange"), "only a confidential OIDC client may exchange tokens".into());
        }
        for (j, a) in c.token_exchange.iter().enumerate() {
            if !cfg.clients.iter().any(|o| o.id == *a && o.protocol == ClientProtocol::Oidc) {
                err(&format!("clients.{i}.token_exchange.{j}"), format!("`{a}` is not an OIDC client of [[clients]]"));
            }
        }
        if c.protocol == ClientProtocol::Saml {
            err(&key("protocol"), "a SAML service provider goes in [[saml.service_providers]], not [[clients]]".into());
            continue;
        }
        if c.protocol == ClientProtocol::Cas {
            if c.services.is_empty() {
                err(&key("services"), "a CAS client needs at least one service".into());
            }
            for (j, s) in c.services.iter().enumerate() {
                if let Err(why) = check_service(s) {
                    err(&format!("clients.{i}.services.{j}"), format!("`{s}` {why}"));
                }
            }
            if let Err(why) = check_scopes(&c.scopes, &[]) {
                err(&key("scopes"), why);
            }
            continue;
        }
        if !c.services.is_empty() {
            err(&key("services"), "only a CAS client (protocol = \"cas\") has services".into());
        }
        if let Some(s) = &c.secret
            && s.expose().len() < 16
        {
            err(&key("secret"), "must be at least 16 characters".into());
        }
        if c.grants.is_empty() {
            err(&key("grants"), "must name at least one grant".into());
        }
        let has_code = c.grants.contains(&GrantType::AuthorizationCode);
        if has_code && c.redirect_uris.is_empty() {
            err(&key("redirect_uris"), "the authorization_code grant needs at least one redirect URI".into());
        }
        if c.secret.is_none() && c.grants.contains(&GrantType::ClientCredentials) {
            err(&key("grants"), "client_credentials needs a confidential client (with a secret)".into());
        }
        if let Err(why) = check_scopes(&c.scopes, &c.grants) {
            err(&key("scopes"), why);
        }
        for (field, uris) in
            [("redirect_uris", &c.redirect_uris), ("post_logout_redirect_uris", &c.post_logout_redirect_uris)]
        {
            for (j, u) in uris.iter().enumerate() {
                if let Err(why) = check_redirect_uri(u) {
                    err(&format!("clients.{i}.{field}.{j}"), format!("`{u}` {why}"));
                }
            }
        }
    }
}

/// A client's scopes: valid tokens, no repeats, and `openid` for the code flow (OpenID Connect
/// requires it there).
pub fn check_scopes(scopes: &[String], grants: &[GrantType]) -> Result<(), String> {
    for (i, s) in scopes.iter().enumerate() {
        check_scope(s).map_err(|why| format!("`{s}` {why}"))?;
        if scopes[..i].contains(s) {
            return Err(format!("`{s}` is listed twice"));
        }
    }
    if grants.contains(&GrantType::AuthorizationCode) && !scopes.iter().any(|s| s == "openid") {
        return Err("the authorization_code grant needs the `openid` scope".into());
    }
    Ok(())
}

/// A redirect URI a client may register: absolute https (http only on loopback), no fragment.
pub fn check_redirect_uri(u: &str) -> Result<(), &'static str> {
    if u.contains('#') {
        return Err("must not have a fragment");
    }
    if !(u.starts_with("https://") || is_loopback_http(u)) {
        return Err("must be an https:// URL (plain http only on 127.0.0.1 or localhost)");
    }
    if u.contains(char::is_whitespace) {
        return Err("must not contain spaces");
    }
    Ok(())
}
