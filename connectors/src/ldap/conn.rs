//! Opening connections: the URL, StartTLS, the trust anchors from `ldap.ca_file`, the timeout and
//! the simple bind. Kept apart so that the lock check can open a second connection exactly like
//! the first.

use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapResult};
use orgid_config::LdapConfig;
use orgid_directory::target::ldap::Dn;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::error::{SinkError, describe, rc, transport_message};

/// How to reach the server; cheap to clone.
#[derive(Clone)]
pub(crate) struct ConnSpec {
    url: String,
    /// `scheme://host:port` of `url`, for messages.
    pub(crate) endpoint: String,
    starttls: bool,
    /// `None`: ldap3's default, the platform's roots.
    tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) timeout: Duration,
}

impl ConnSpec {
    pub(crate) fn from_config(cfg: &LdapConfig) -> Result<ConnSpec, SinkError> {
        let url = cfg.url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| SinkError::Config(format!("ldap.url `{url}` must start with ldap:// or ldaps://")))?;
        if scheme != "ldap" && scheme != "ldaps" {
            return Err(SinkError::Config(format!("ldap.url `{url}` must start with ldap:// or ldaps://")));
        }
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority.is_empty() {
            return Err(SinkError::Config(format!("ldap.url `{url}` names no host")));
        }
        if cfg.starttls && scheme == "ldaps" {
            return Err(SinkError::Config("ldap.starttls is set but ldap.url is already ldaps://".into()));
        }
        let tls = if cfg.ca_file.trim().is_empty() { None } else { Some(client_config(cfg.ca_file.trim())?) };
        Ok(ConnSpec {
            url: url.to_string(),
            endpoint: format!("{scheme}://{authority}"),
            starttls: cfg.starttls,
            tls,
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
        })
    }

    /// A new connection (TCP, then TLS or StartTLS as configured), driven on the runtime; not
    /// bound yet.
    pub(crate) async fn open(&self) -> Result<Ldap, SinkError> {
        let mut settings = LdapConnSettings::new().set_conn_timeout(self.timeout).set_starttls(self.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.url).await.map_err(|e| match e {
            ldap3::LdapError::Timeout { .. } => SinkError::Unavailable(format!(
                "cannot connect to {}: timed out after {:?}",
                self.endpoint, self.timeout
            )),
            ldap3::LdapError::UrlParsing { .. } | ldap3::LdapError::UnknownScheme(_) => {
                SinkError::Config(format!("ldap.url `{}`: {e}", self.url))
            }
            ldap3::LdapError::LdapResult { result } => SinkError::Unavailable(format!(
                "StartTLS refused by {}: {} (rc {})",
                self.endpoint,
                describe(&result),
                result.rc
            )),
            other => {
                SinkError::Unavailable(format!("cannot connect to {}: {}", self.endpoint, transport_message(&other)))
            }
        })?;
        // The driver ends by itself when the last `Ldap` handle is dropped or the server goes away.
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        Ok(ldap)
    }

    /// A simple bind; returns the server's result (success or not) unless the connection failed.
    pub(crate) async fn bind(&self, ldap: &mut Ldap, dn: &str, password: &str) -> Result<LdapResult, SinkError> {
        ldap.with_timeout(self.timeout).simple_bind(dn, password).await.map_err(|e| match e {
            ldap3::LdapError::LdapResult { result } => {
                SinkError::Unavailable(format!("bind as {dn}: {}", describe(&result)))
            }
            other => {
                SinkError::Unavailable(format!("bind as {dn} at {}: {}", self.endpoint, transport_message(&other)))
            }
        })
    }

    /// Connects and binds as the configured account; a refused bind is a configuration error.
    pub(crate) async fn open_bound(&self, bind_dn: &str, password: &str) -> Result<Ldap, SinkError> {
        if bind_dn.trim().is_empty() {
            return Err(SinkError::Config("ldap.bind_dn is empty".into()));
        }
        bind_dn.parse::<Dn>().map_err(|e| SinkError::Config(format!("ldap.bind_dn is not a DN: {e}")))?;
        let mut ldap = self.open().await?;
        let res = self.bind(&mut ldap, bind_dn, password).await?;
        match res.rc {
            rc::SUCCESS => Ok(ldap),
            rc::BUSY | rc::UNAVAILABLE => Err(SinkError::Unavailable(format!(
                "bind as {bind_dn} at {}: {} (rc {})",
                self.endpoint,
                describe(&res),
                res.rc
            ))),
            rc::INVALID_CREDENTIALS => Err(SinkError::Config(format!(
                "bind as {bind_dn} at {} refused: invalid credentials (rc 49); check ldap.bind_dn and ldap.bind_password",
                self.endpoint
            ))),
            code => Err(SinkError::Config(format!(
                "bind as {bind_dn} at {} refused: {} (rc {code})",
                self.endpoint,
                describe(&res)
            ))),
        }
    }
}

/// A rustls client configuration that trusts exactly the certificates of the PEM file `path`.
fn client_config(path: &str) -> Result<Arc<rustls::ClientConfig>, SinkError> {
    let pem = std::fs::read(path).map_err(|e| SinkError::Config(format!("ldap.ca_file `{path}`: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| SinkError::Config(format!("ldap.ca_file `{path}`: not PEM certificates: {e}")))?;
        roots.add(cert).map_err(|e| SinkError::Config(format!("ldap.ca_file `{path}`: unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(SinkError::Config(format!("ldap.ca_file `{path}` holds no PEM certificate")));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| SinkError::Config(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> LdapConfig {
        LdapConfig { url: url.into(), ..LdapConfig::default() }
    }

    fn config_error(r: Result<ConnSpec, SinkError>) -> String {
        match r {
            Err(SinkError::Config(m)) => m,
            Err(other) => panic!("expected a configuration error, got {other:?}"),
            Ok(_) => panic!("expected a configuration error, got a spec"),
        }
    }

    #[test]
    fn urls_are_checked() {
        let spec = ConnSpec::from_config(&cfg("ldap://127.0.0.1:389/??base")).expect("spec");
        assert_eq!(spec.endpoint, "ldap://127.0.0.1:389");
        assert_eq!(
            config_error(ConnSpec::from_config(&cfg("http://h"))),
            "ldap.url `http://h` must start with ldap:// or ldaps://"
        );
        assert_eq!(config_error(ConnSpec::from_config(&cfg("ldap:///"))), "ldap.url `ldap:///` names no host");
        let mut c = cfg("ldaps://h");
        c.starttls = true;
        assert_eq!(config_error(ConnSpec::from_config(&c)), "ldap.starttls is set but ldap.url is already ldaps://");
    }

    #[test]
    fn ca_files_must_hold_certificates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = cfg("ldaps://h");
        c.ca_file = dir.path().join("missing.pem").display().to_string();
        assert!(config_error(ConnSpec::from_config(&c)).starts_with("ldap.ca_file `"));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        c.ca_file = empty.display().to_string();
        assert_eq!(
            config_error(ConnSpec::from_config(&c)),
            format!("ldap.ca_file `{}` holds no PEM certificate", c.ca_file)
        );
    }
}
