//! Wiring of the identity provider: its secret, its store, the LDAP password sink, the console's
//! built-in client, and what `orgid clients …` and `orgid accounts reset-password|unlock` do.

pub mod console_client;

use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::Utc;
use orgid_config::{GrantType, LdapConfig, SigningAlg};
use orgid_directory::SettingStore;
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::idp::{ClientStore, CredentialStore, IdpStore, SamlSpStore, StoredClient, StoredSamlSp};
use orgid_directory::store::LdapStore;
use orgid_idp::{PasswordSink, Provider, Settings};
use orgid_store::AnyStore;
use ring::rand::{SecureRandom, SystemRandom};

use crate::app::App;

const SECRET_KEY: &str = "idp_secret";
/// The install's default access-token algorithm (set by migration 0009).
const ACCESS_ALG_KEY: &str = "idp.access_token_alg";

/// The operator at the command line, as the audit trail names them.
pub(crate) fn operator() -> Actor {
    Actor::Admin("cli".into())
}

/// An administrative action of the operator, at the wall-clock time.
fn admin_event(kind: EventKind) -> AuditEvent {
    AuditEvent::new(Utc::now(), kind, AuditOutcome::Success, operator())
}

/// The provider over the app's store, with the LDAP password sink when `[ldap]` is configured.
/// The built-in console client (`orgid-console`) is among the provider's clients, unless the
/// configuration defines a client of that id itself.
pub async fn provider(app: &App) -> anyhow::Result<Provider> {
    let secret = idp_secret(app).await?;
    let mut settings = Settings::from_config(&app.config);
    if app.config.oidc.access_token_alg.is_none() {
        // The install's default (migration 0009): ES256 when it was new, RS256 when it had
        // already issued access tokens.
        let stored = app.store.setting(ACCESS_ALG_KEY).await.context("while reading the access-token default")?;
        settings.access_token_alg = stored.as_deref().and_then(SigningAlg::parse).unwrap_or(SigningAlg::ES256);
    }
    settings.clients = client_configs(&app.config, &secret);
    settings.saml_sps = saml_sps(&app.config)?;
    let store: Arc<dyn IdpStore> = Arc::new(app.store.clone());
    let passwords: Option<Arc<dyn PasswordSink>> = app
        .config
        .ldap
        .clone()
        .map(|cfg| Arc::new(LdapPasswords { cfg, store: app.store.clone() }) as Arc<dyn PasswordSink>);
    let provider = Provider::new(settings, store, app.clock.clone(), &secret, passwords);
    if let Some(w) = app.config.wecom.as_ref().filter(|w| w.sign_in) {
        let api = orgid_connectors::wecom::Api::new(w, &w.app_secret).context("while setting up WeCom sign-in")?;
        provider.sign_in_with_wecom(Arc::new(WecomCodes { api }));
    }
    Ok(provider)
}

/// WeCom's sign-in codes turned into userids through the app's `auth/getuserinfo`.
struct WecomCodes {
    api: orgid_connectors::wecom::Api,
}

#[async_trait::async_trait]
impl orgid_idp::WecomSignIn for WecomCodes {
    async fn userid(&self, code: &str) -> Result<Option<String>, String> {
        match self.api.get("auth/getuserinfo", &[("code", code.to_string())]).await {
            // A non-member (an `openid` only) is nobody orgid knows.
            Ok(v) => {
                Ok(v.get("userid").and_then(serde_json::Value::as_str).filter(|u| !u.is_empty()).map(str::to_string))
            }
            Err(e) if e.code() == Some(orgid_connectors::wecom::codes::INVALID_CODE) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The configuration's SAML service providers, each with its metadata file read.
fn saml_sps(config: &orgid_config::Config) -> anyhow::Result<Vec<orgid_idp::saml::ServiceProvider>> {
    config
        .saml
        .service_providers
        .iter()
        .map(|sp| {
            let xml = std::fs::read_to_string(&sp.metadata).with_context(|| {
                format!("while reading the metadata of SAML SP `{}` ({})", sp.id, sp.metadata.display())
            })?;
            orgid_idp::saml::ServiceProvider::from_config(sp, &xml)
                .with_context(|| format!("while reading the metadata of SAML SP `{}`", sp.id))
        })
        .collect()
}

/// The configuration's clients and the built-in console client (unless the configuration
/// defines a client of that id itself).
fn client_configs(config: &orgid_config::Config, secret: &[u8]) -> Vec<orgid_config::ClientConfig> {
    let mut clients = config.clients.clone();
    if !clients.iter().any(|c| c.id == console_client::CLIENT_ID) {
        clients.push(console_client::client_config(secret, &config.oidc.issuer));
    }
    clients
}

/// Puts the clients of `app`'s configuration (just reloaded) in force in `provider`.
pub async fn reload_clients(app: &App, provider: &Provider) -> anyhow::Result<()> {
    let secret = idp_secret(app).await?;
    provider.set_clients(&client_configs(&app.config, &secret));
    Ok(())
}

/// The provider's secret (made on first use, then kept in the store for its life).
pub(crate) async fn idp_secret(app: &App) -> anyhow::Result<Vec<u8>> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    let secret =
        app.store.init_setting(SECRET_KEY, &hex::encode(bytes)).await.context("while keeping the idp secret")?;
    hex::decode(secret).context("the stored idp secret is not hex")
}

/// Sets directory passwords with the Password Modify extended operation (RFC 3062), on the entry
/// orgid tracks for the account; the server hashes the password.
struct LdapPasswords {
    cfg: LdapConfig,
    store: AnyStore,
}

#[async_trait::async_trait]
impl PasswordSink for LdapPasswords {
    async fn set_password(&self, login: &str, password: &str) -> Result<(), String> {
        let subject = self.store.subject(login).await.map_err(|e| e.to_string())?.ok_or("no such account")?;
        let tracked = self.store.tracked_users(&[subject.person_key]).await.map_err(|e| e.to_string())?;
        let Some((_, user)) = tracked.into_iter().next() else {
            // Not in the directory yet (queued or LDAP added later): the store's password rules.
            return Ok(());
        };
        let nodes = self.store.tracked_nodes().await.map_err(|e| e.to_string())?;
        let parent = nodes.iter().find(|n| n.key == user.parent).ok_or("the entry's parent OU is not tracked")?;
        let dn = parent.dn.child("uid", &user.login);
        let sink = orgid_connectors::ldap::LdapSink::connect(&self.cfg).await.map_err(|e| e.to_string())?;
        let result = sink.set_password(&dn, password).await.map_err(|e| e.to_string());
        sink.unbind().await;
        result
    }
}

/// A client to register (`orgid clients add`).
#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// No secret: PKCE is required.
    pub public: bool,
    pub grants: Vec<String>,
    /// The scopes it may ask for; none given: the standard ones (what discovery advertises).
    pub scopes: Vec<String>,
    pub id_token_alg: String,
    /// Empty: the provider's default.
    pub access_token_alg: Option<String>,
    pub require_totp: bool,
    /// `oidc` (default) or `cas`.
    pub protocol: Option<String>,
    /// CAS: its service URLs and anchored patterns (`^https://oa\.example\.com/.*$`).
    pub services: Vec<String>,
    /// OIDC: where its back-channel logout tokens go.
    pub backchannel_logout_uri: Option<String>,
}

/// Registers a client in the store; returns its generated secret (a confidential client's), which
/// the caller shows once: orgid keeps only its hash.
pub async fn add_client(app: &App, new: NewClient) -> anyhow::Result<Option<String>> {
    let NewClient {
        id,
        name,
        redirect_uris,
        post_logout_redirect_uris,
        public,
        grants,
        scopes,
        id_token_alg,
        access_token_alg,
        require_totp,
        protocol,
        services,
        backchannel_logout_uri,
    } = new;
    let (id, id_token_alg) = (id.as_str(), id_token_alg.as_str());
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        bail!("client id `{id}` must be letters, digits, `-`, `_` or `.`");
    }
    if app.config.clients.iter().any(|c| c.id == id) {
        bail!("client `{id}` is defined in the configuration file");
    }
    for u in redirect_uris.iter().chain(&post_logout_redirect_uris).chain(&backchannel_logout_uri) {
        orgid_config::check_redirect_uri(u).map_err(|why| anyhow::anyhow!("URI `{u}` {why}"))?;
    }
    let protocol = match protocol.as_deref() {
        None => orgid_config::ClientProtocol::Oidc,
        Some(p) => orgid_config::ClientProtocol::parse(p)
            .ok_or_else(|| anyhow::anyhow!("unknown --protocol `{p}` (oidc, cas)"))?,
    };
    if protocol == orgid_config::ClientProtocol::Cas {
        return add_cas_client(app, id, name, services, scopes, require_totp).await;
    }
    if !services.is_empty() {
        bail!("--service is for CAS clients (--protocol cas)");
    }
    let grants: Vec<GrantType> = if grants.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        grants
            .iter()
            .map(|g| GrantType::parse(g).ok_or_else(|| anyhow::anyhow!("unknown grant `{g}`")))
            .collect::<Result<_, _>>()?
    };
    if grants.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        bail!("the authorization_code grant needs at least one --redirect-uri");
    }
    if public && grants.contains(&GrantType::ClientCredentials) {
        bail!("client_credentials needs a confidential client (drop --public)");
    }
    let scopes = if scopes.is_empty() { orgid_config::default_scopes() } else { scopes };
    orgid_config::check_scopes(&scopes, &grants).map_err(|why| anyhow::anyhow!("--scope: {why}"))?;
    let alg = SigningAlg::parse(id_token_alg)
        .ok_or_else(|| anyhow::anyhow!("unknown --id-token-alg `{id_token_alg}` (RS256, ES256, EdDSA)"))?;
    let access_alg = access_token_alg
        .map(|a| {
            SigningAlg::parse(&a)
                .ok_or_else(|| anyhow::anyhow!("unknown --access-token-alg `{a}` (RS256, ES256, EdDSA)"))
        })
        .transpose()?;
    let secret = if public { None } else { Some(orgid_idp::keys::random_token(32)?) };
    let client = StoredClient {
        id: id.into(),
        name: name.unwrap_or_else(|| id.into()),
        secret_hash: secret.as_deref().map(orgid_idp::hash_client_secret),
        redirect_uris,
        post_logout_redirect_uris,
        grants: grants.iter().map(|g| g.as_str().to_string()).collect(),
        scopes,
        id_token_alg: alg.as_str().into(),
        access_token_alg: access_alg.map(|a| a.as_str().to_string()),
        require_totp,
        created_at: Utc::now(),
        protocol: protocol.as_str().into(),
        services: Vec::new(),
        backchannel_logout_uri,
    };
    let added = admin_event(EventKind::ClientAdd)
        .client(id)
        .reason(format!("client `{id}` registered"))
        .attr("grants", client.grants.join(" "))
        .attr("scopes", client.scopes.join(" "))
        .attr("redirect_uris", client.redirect_uris.join(" "))
        .attr("type", if public { "public" } else { "confidential" });
    app.store.add_client(&client, &[added]).await.with_context(|| format!("while adding client `{id}`"))?;
    Ok(secret)
}

/// Registers a CAS service client: no secret, no grants; its scopes say which attributes its
/// services get.
async fn add_cas_client(
    app: &App,
    id: &str,
    name: Option<String>,
    services: Vec<String>,
    scopes: Vec<String>,
    require_totp: bool,
) -> anyhow::Result<Option<String>> {
    if services.is_empty() {
        bail!("a CAS client needs at least one --service");
    }
    for s in &services {
        orgid_config::check_service(s).map_err(|why| anyhow::anyhow!("--service `{s}` {why}"))?;
    }
    let scopes = if scopes.is_empty() { vec!["profile".into(), "email".into(), "org".into()] } else { scopes };
    orgid_config::check_scopes(&scopes, &[]).map_err(|why| anyhow::anyhow!("--scope: {why}"))?;
    let client = StoredClient {
        id: id.into(),
        name: name.unwrap_or_else(|| id.into()),
        secret_hash: None,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        grants: Vec::new(),
        scopes,
        id_token_alg: SigningAlg::RS256.as_str().into(),
        access_token_alg: None,
        require_totp,
        created_at: Utc::now(),
        protocol: "cas".into(),
        services,
        backchannel_logout_uri: None,
    };
    let added = admin_event(EventKind::ClientAdd)
        .client(id)
        .reason(format!("CAS client `{id}` registered"))
        .attr("protocol", "cas")
        .attr("services", client.services.join(" "))
        .attr("scopes", client.scopes.join(" "));
    app.store.add_client(&client, &[added]).await.with_context(|| format!("while adding client `{id}`"))?;
    Ok(None)
}

/// A SAML service provider to register (`orgid clients add --protocol saml`).
#[derive(Debug, Clone)]
pub struct NewSamlSp {
    pub id: String,
    pub name: Option<String>,
    /// The SP's metadata document.
    pub metadata: String,
    pub name_id: String,
    pub sign: String,
    /// Empty: all of them.
    pub attributes: Vec<String>,
    pub require_totp: bool,
}

/// Registers a SAML SP in the store (a client without redirect URIs, grants or scopes, and its
/// metadata); returns its entity ID. Refused when the id or the entity ID is taken.
pub async fn add_saml_sp(app: &App, new: NewSamlSp) -> anyhow::Result<String> {
    let id = new.id.as_str();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        bail!("client id `{id}` must be letters, digits, `-`, `_` or `.`");
    }
    if app.config.clients.iter().any(|c| c.id == id) || app.config.saml.service_providers.iter().any(|c| c.id == id) {
        bail!("client `{id}` is defined in the configuration file");
    }
    orgid_idp::saml::parse_name_id(&new.name_id)
        .ok_or_else(|| anyhow::anyhow!("unknown --name-id `{}` (persistent, login)", new.name_id))?;
    orgid_idp::saml::parse_sign(&new.sign)
        .ok_or_else(|| anyhow::anyhow!("unknown --sign `{}` (assertion, response, both)", new.sign))?;
    let attributes = if new.attributes.is_empty() {
        orgid_config::SAML_ATTRIBUTES.iter().map(|a| a.to_string()).collect()
    } else {
        new.attributes
    };
    if let Some(a) = attributes.iter().find(|a| !orgid_config::SAML_ATTRIBUTES.contains(&a.as_str())) {
        bail!("unknown --attribute `{a}` ({})", orgid_config::SAML_ATTRIBUTES.join(", "));
    }
    if app.store.clients().await?.iter().any(|c| c.id == id) {
        bail!("client `{id}` already exists");
    }
    let sp = orgid_idp::saml::metadata::parse(&new.metadata).context("while reading the SP's metadata")?;
    let mut taken: Vec<String> = saml_sps(&app.config)?.into_iter().map(|s| s.entity_id).collect();
    for s in app.store.saml_sps().await? {
        if let Ok(other) = orgid_idp::saml::metadata::parse(&s.metadata) {
            taken.push(other.entity_id);
        }
    }
    if taken.contains(&sp.entity_id) {
        bail!("a SAML SP with entity ID `{}` is registered already", sp.entity_id);
    }
    let client = StoredClient {
        id: id.into(),
        name: new.name.unwrap_or_else(|| id.into()),
        secret_hash: None,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        grants: Vec::new(),
        scopes: Vec::new(),
        id_token_alg: SigningAlg::RS256.as_str().into(),
        access_token_alg: None,
        require_totp: new.require_totp,
        created_at: Utc::now(),
        protocol: "saml".into(),
        services: Vec::new(),
        backchannel_logout_uri: None,
    };
    let stored =
        StoredSamlSp { id: id.into(), metadata: new.metadata, name_id: new.name_id, sign: new.sign, attributes };
    let added = admin_event(EventKind::ClientAdd)
        .client(id)
        .reason(format!("SAML service provider `{id}` registered"))
        .attr("protocol", "saml")
        .attr("entity_id", sp.entity_id.as_str())
        .attr("acs", sp.acs.iter().map(|a| a.url.as_str()).collect::<Vec<_>>().join(" "))
        .attr("attributes", stored.attributes.join(" "));
    app.store.add_saml_sp(&client, &stored, &[added]).await.with_context(|| format!("while adding SAML SP `{id}`"))?;
    Ok(sp.entity_id)
}

/// Removes a client registered in the store and revokes its grants.
pub async fn remove_client(app: &App, id: &str) -> anyhow::Result<()> {
    if app.config.clients.iter().any(|c| c.id == id) {
        bail!("client `{id}` is defined in the configuration file: remove it there");
    }
    let removed =
        admin_event(EventKind::ClientRemove).client(id).reason(format!("client `{id}` removed: grants revoked"));
    match app.store.remove_client(id, removed.at, std::slice::from_ref(&removed)).await {
        Ok(()) => Ok(()),
        Err(orgid_directory::StoreError::NotFound(_)) => bail!("there is no client `{id}`; see `orgid clients list`"),
        Err(e) => Err(e.into()),
    }
}

/// Where a reset's one-time password went.
#[derive(Debug)]
pub enum Reset {
    /// No notifier is configured: the caller shows it once.
    Shown(String),
    /// The notifier delivered it to the holder.
    Sent,
}

/// `orgid accounts reset-password LOGIN`: a random one-time initial password, sent through the
/// notifier, or returned to be shown once when none is configured.
pub async fn reset_password(app: &App, login: &str) -> anyhow::Result<Reset> {
    let Some(subject) = app.store.subject(login).await? else {
        bail!("there is no account `{login}`; see `orgid accounts list`");
    };
    if subject.status != orgid_directory::AccountStatus::Active {
        bail!("account `{login}` is {}: only active accounts get passwords", subject.status.as_str());
    }
    let provider = provider(app).await?;
    let password = provider.reset_password(login, &operator()).await?;
    // The ended sessions' applications are told now (a running `serve` retries what fails).
    if let Err(e) = provider.single_logout().await {
        tracing::warn!("single logout: {e}; `serve` retries it");
    }
    if app.config.notifier.command.is_empty() && !app.config.notices.enabled() {
        return Ok(Reset::Shown(password));
    }
    send_password(app, &subject, &password).await?;
    Ok(Reset::Sent)
}

/// `orgid accounts end-sessions LOGIN`: ends every SSO session of the account and tells the
/// clients of those sessions (single logout). The sweep of a running `serve` delivers what this
/// process has no time to.
pub async fn end_sessions(app: &App, login: &str) -> anyhow::Result<()> {
    if app.store.subject(login).await?.is_none() {
        bail!("there is no account `{login}`; see `orgid accounts list`");
    }
    let provider = provider(app).await?;
    provider.end_sessions(login, &operator()).await?;
    // Delivered here (a running `serve` retries what fails).
    if let Err(e) = provider.single_logout().await {
        tracing::warn!("single logout: {e}; `serve` retries it");
    }
    Ok(())
}

/// Hands a one-time password to the configured notifier (on its stdin, never in its arguments or
/// environment), which delivers it to the account holder. Errors if no notifier is configured.
pub(crate) async fn send_password(
    app: &App,
    subject: &orgid_directory::idp::Subject,
    password: &str,
) -> anyhow::Result<()> {
    let cmd = &app.config.notifier.command;
    if cmd.is_empty() && app.config.notices.enabled() {
        return send_password_by_notice(app, subject, password).await;
    }
    if cmd.is_empty() {
        bail!("no notifier is configured ([notifier] command, or [notices] channels)");
    }
    let login = &subject.login;
    let mut child = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .env("ORGID_LOGIN", login)
        .env("ORGID_NAME", &subject.name)
        .env("ORGID_MAIL", &subject.email)
        .env("ORGID_MOBILE", &subject.mobile)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("while starting the notifier `{}`", cmd[0]))?;
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(password.as_bytes()).await.context("while handing the password to the notifier")?;
    }
    let status = child.wait().await.context("while waiting for the notifier")?;
    if !status.success() {
        bail!(
            "the notifier `{}` failed ({status}); the new password is in force but did not reach {login}: run the reset again",
            cmd[0]
        );
    }
    Ok(())
}

/// The one-time password told at once through the `[notices]` channels (WeCom, mail). It is never
/// stored: a channel that fails is not retried, and the notice is recorded as sent, once per
/// channel that took it, with [`notice::ONE_TIME_PASSWORD_KEPT`] as its body. Delivered when at
/// least one channel took it.
async fn send_password_by_notice(
    app: &App,
    subject: &orgid_directory::idp::Subject,
    password: &str,
) -> anyhow::Result<()> {
    use orgid_directory::notice::{self, Notice, NoticeStore};

    use crate::services::channels;
    let now = app.clock.now();
    let login = &subject.login;
    let login_url = format!("{}/password", app.config.oidc.issuer.trim_end_matches('/'));
    let (title, body) = notice::one_time_password_text(&subject.name, login, password, &login_url);
    let key = format!("one_time_password:{login}:{}", now.timestamp_millis());
    let (mut delivered, mut failed) = (Vec::new(), Vec::new());
    for (channel, to) in channels::recipients(app, login, &subject.email) {
        let sent = match channels::notifier(app, channel, &to) {
            Ok(n) => n.send(&title, &body).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => delivered.push(Notice {
                key: key.clone(),
                channel: channel.into(),
                recipient: to,
                subject: title.clone(),
                body: notice::ONE_TIME_PASSWORD_KEPT.into(),
                attempts: 0,
            }),
            Err(e) => failed.push(format!("{channel}: {e}")),
        }
    }
    if delivered.is_empty() {
        bail!(
            "the new password is in force but did not reach {login} ({}): run the reset again",
            if failed.is_empty() { "no channel reaches them".to_string() } else { failed.join("; ") }
        );
    }
    if !failed.is_empty() {
        tracing::warn!(login = %login, "the one-time password reached only some channels: {}", failed.join("; "));
    }
    app.store.queue_notices(&delivered, now).await?;
    for n in &delivered {
        app.store.notice_sent(&n.key, &n.channel, now).await?;
    }
    Ok(())
}

/// Lifts a lockout after failed logins.
pub async fn unlock(app: &App, login: &str) -> anyhow::Result<()> {
    let company = app.store.subject(login).await?.map(|s| s.company);
    let unlocked = admin_event(EventKind::Unlock).subject(login, company.as_ref()).reason("failures and lock cleared");
    match app.store.unlock(login, &[unlocked]).await {
        Ok(()) => Ok(()),
        Err(orgid_directory::StoreError::NotFound(_)) => bail!("account `{login}` has no password yet"),
        Err(e) => Err(e.into()),
    }
}
