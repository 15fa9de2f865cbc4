//! `orgid clients …`: the OIDC and CAS clients and SAML service providers (OA modules) registered in the store, besides the
//! configuration's.

use std::io::Write;

use clap::Subcommand;

use crate::app::App;
use crate::output::{Format, Table};
use crate::services::idp::{self, NewClient, provider};

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; a confidential client's secret is generated and shown once.
    Add(Box<AddClient>),
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Remove a client registered in the store and revoke its grants.
    Remove { id: String },
}

/// The arguments of `orgid clients add`.
#[derive(Debug, clap::Args)]
pub struct AddClient {
    id: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// No secret: PKCE is required.
    #[arg(long)]
    public: bool,
    /// authorization_code, refresh_token, client_credentials (default: the first two).
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// A scope the client may ask for, repeated for each (default: the standard ones,
    /// openid profile email phone org offline_access; a CAS client: profile email org, the
    /// attributes its services get); any other is refused.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    #[arg(long, default_value = "RS256")]
    id_token_alg: String,
    /// RS256, ES256 or EdDSA (default: the provider's, `oidc.access_token_alg`).
    #[arg(long)]
    access_token_alg: Option<String>,
    #[arg(long)]
    require_totp: bool,
    /// oidc (default), cas or saml (a SAML service provider, known by its --metadata).
    #[arg(long)]
    protocol: Option<String>,
    /// CAS: a service URL, or an anchored pattern `^https://oa\.example\.com/.*$` (its
    /// scheme and host literal); repeated for each.
    #[arg(long = "service")]
    services: Vec<String>,
    /// OIDC: where logout tokens are POSTed when a session it signed in with ends.
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// SAML: the SP's metadata file (entity ID, assertion consumers, certificate).
    #[arg(long)]
    metadata: Option<std::path::PathBuf>,
    /// SAML: `persistent` (the opaque `sub`, the default) or `login`.
    #[arg(long, default_value = "persistent")]
    name_id: String,
    /// SAML: what is signed, `assertion`, `response` or `both` (the default).
    #[arg(long, default_value = "both")]
    sign: String,
    /// SAML: an attribute released to the SP, repeated for each (default: all of them).
    #[arg(long = "attribute")]
    attributes: Vec<String>,
}

pub async fn run(app: &App, command: ClientsCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    match command {
        ClientsCommand::Add(add) => {
            let AddClient {
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
                metadata,
                name_id,
                sign,
                attributes,
            } = *add;
            if protocol.as_deref() == Some("saml") {
                let Some(path) = metadata else { anyhow::bail!("--protocol saml needs --metadata FILE") };
                let xml =
                    std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
                let sp =
                    idp::NewSamlSp { id: id.clone(), name, metadata: xml, name_id, sign, attributes, require_totp };
                let entity = idp::add_saml_sp(app, sp).await?;
                writeln!(out, "SAML service provider `{id}` added ({entity})")?;
                return Ok(0);
            }
            if metadata.is_some() {
                anyhow::bail!("--metadata is for --protocol saml");
            }
            let new = NewClient {
                id: id.clone(),
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
            };
            let secret = idp::add_client(app, new).await?;
            writeln!(out, "client `{id}` added")?;
            if let Some(s) = secret {
                writeln!(out, "client secret (shown once; orgid keeps only its hash): {s}")?;
            }
            Ok(0)
        }
        ClientsCommand::List { format } => list_clients(app, format, out).await,
        ClientsCommand::Remove { id } => {
            idp::remove_client(app, &id).await?;
            writeln!(out, "client `{id}` removed; its grants are revoked")?;
            Ok(0)
        }
    }
}

pub async fn list_clients(app: &App, format: Format, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    let provider = provider(app).await?;
    let clients = provider.clients().await?;
    let table = Table {
        header: vec![
            "id",
            "name",
            "type",
            "source",
            "grants",
            "scopes",
            "id_token_alg",
            "access_token_alg",
            "require_totp",
            "redirect_uris",
            "protocol",
            "services",
            "backchannel_logout_uri",
        ],
        rows: clients
            .iter()
            .map(|c| {
                vec![
                    c.id.clone(),
                    c.name.clone(),
                    (if c.is_public() { "public" } else { "confidential" }).into(),
                    (if c.configured { "config" } else { "store" }).into(),
                    c.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" "),
                    c.scopes.join(" "),
                    c.id_token_alg.as_str().into(),
                    provider.access_token_alg(c).as_str().into(),
                    c.require_totp.to_string(),
                    c.redirect_uris.join(" "),
                    c.protocol.as_str().into(),
                    c.services.join(" "),
                    c.backchannel_logout_uri.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    };
    table.emit(format, &table.records(), out)?;
    Ok(0)
}
