//! The LDAP sink: one bound connection (ldap3) that applies outbox operations idempotently and
//! pipelined, reads and pages through entries, sets passwords with RFC 3062 so the server hashes
//! them, and proves that account locking is enforced. DNs are rendered with `Dn`'s RFC 4514
//! `Display`; filters built from values go through [`filter_eq`] (RFC 4515 escaping).

mod apply;
mod conn;
mod error;
mod lock;
mod schedule;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::AtomicBool;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, Scope, SearchEntry};
use orgid_config::LdapConfig;
use orgid_directory::target::ldap::{DirOp, Dn, QueuedOp};
use orgid_directory::target::{ApplyError, TargetClient};

pub use apply::PERMISSIVE_MODIFY_OID;
pub use error::SinkError;

use conn::ConnSpec;
use error::{from_ldap_error, from_result, rc};

/// Entries per page of a subtree search (RFC 2696); slapd's default size limit is 500.
pub const PAGE_SIZE: i32 = 500;

/// A bound connection to the directory and the settings it was opened with.
pub struct LdapSink {
    ldap: Ldap,
    spec: ConnSpec,
    /// Turns queued account facts into attributes (the configured mapping).
    layout: orgid_directory::target::ldap::Layout,
    concurrency: usize,
    /// Member changes use Permissive Modify until the server shows it does not honour it.
    permissive: AtomicBool,
}

impl fmt::Debug for LdapSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapSink")
            .field("endpoint", &self.spec.endpoint)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// Whether a locked entry really cannot bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockCheck {
    Enforced,
    /// The locked probe could still bind (no ppolicy, or a policy without `pwdLockout`).
    NotEnforced,
}

/// An entry as read: its parsed DN and the attributes (names as the server returns them).
/// Values that are not UTF-8 (binary attributes) are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapEntry {
    pub dn: Dn,
    pub attrs: BTreeMap<String, Vec<String>>,
}

/// `(attr=value)` with the value escaped per RFC 4515, so `*`, `(`, `)`, `\` and NUL match
/// literally.
pub fn filter_eq(attr: &str, value: &str) -> String {
    format!("({attr}={})", ldap3::ldap_escape(value))
}

impl LdapSink {
    /// Connects (ldap:// or ldaps://, StartTLS when configured, `ldap.ca_file` as the only trust
    /// anchor when set) and binds as `ldap.bind_dn`. `ldap.timeout_secs` bounds the connect and
    /// every operation.
    #[tracing::instrument(skip_all, fields(url = %cfg.url, bind_dn = %cfg.bind_dn), err)]
    pub async fn connect(cfg: &LdapConfig) -> Result<LdapSink, SinkError> {
        let spec = ConnSpec::from_config(cfg)?;
        let ldap = spec.open_bound(&cfg.bind_dn, cfg.bind_password.expose()).await?;
        let layout = orgid_directory::target::ldap::Layout::new(cfg).map_err(SinkError::Config)?;
        Ok(LdapSink { ldap, spec, layout, concurrency: cfg.concurrency.max(1), permissive: AtomicBool::new(true) })
    }

    /// Whether member changes still go out with Permissive Modify (false once the server turned
    /// it down and the sink fell back to one value per request).
    pub fn uses_permissive_modify(&self) -> bool {
        self.permissive.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops using Permissive Modify, as after a server that does not honour it. For tests of
    /// the fallback.
    #[doc(hidden)]
    pub fn disable_permissive_modify(&self) {
        self.permissive.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// A handle on the shared connection with the operation timeout set.
    fn handle(&self) -> Ldap {
        let mut ldap = self.ldap.clone();
        ldap.with_timeout(self.spec.timeout);
        ldap
    }

    /// Paged (RFC 2696, [`PAGE_SIZE`]) subtree search. A missing `base` gives no entries.
    pub async fn search_subtree(&self, base: &Dn, filter: &str, attrs: &[&str]) -> Result<Vec<LdapEntry>, SinkError> {
        self.search_subtree_paged(base, filter, attrs, PAGE_SIZE).await
    }

    /// [`search_subtree`](Self::search_subtree) with another page size.
    #[tracing::instrument(skip_all, fields(base = %base, filter), err)]
    pub async fn search_subtree_paged(
        &self,
        base: &Dn,
        filter: &str,
        attrs: &[&str],
        page_size: i32,
    ) -> Result<Vec<LdapEntry>, SinkError> {
        let base_s = base.to_string();
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(page_size.max(1)))];
        let mut ldap = self.handle();
        let mut stream = ldap
            .streaming_search_with(adapters, &base_s, Scope::Subtree, filter, attrs)
            .await
            .map_err(|e| from_ldap_error("search", &base_s, e))?;
        let mut entries = Vec::new();
        while let Some(found) = stream.next().await.map_err(|e| from_ldap_error("search", &base_s, e))? {
            let found = SearchEntry::construct(found);
            match found.dn.parse::<Dn>() {
                Ok(dn) => entries.push(LdapEntry { dn, attrs: found.attrs.into_iter().collect() }),
                // Not written by orgid (multi-valued RDN, #-hex value): nothing orgid manages.
                Err(e) => tracing::warn!(dn = %found.dn, error = %e, "skipping an entry whose DN orgid cannot parse"),
            }
        }
        let res = stream.finish().await;
        match res.rc {
            rc::SUCCESS => Ok(entries),
            rc::NO_SUCH_OBJECT => Ok(Vec::new()),
            _ => Err(from_result("search", &base_s, &res)),
        }
    }

    /// Base-scope read with the given attributes (`["*", "+"]` for all, operational included);
    /// `None` if the entry does not exist.
    pub async fn read(&self, dn: &Dn, attrs: &[&str]) -> Result<Option<LdapEntry>, SinkError> {
        let dn_s = dn.to_string();
        let ldap3::SearchResult(found, res) = self
            .handle()
            .search(&dn_s, Scope::Base, "(objectClass=*)", attrs.to_vec())
            .await
            .map_err(|e| from_ldap_error("read", &dn_s, e))?;
        match res.rc {
            rc::SUCCESS => Ok(found.into_iter().next().map(|found| {
                let found = SearchEntry::construct(found);
                // The server names the entry we asked for; keep our DN if its spelling does not parse.
                let parsed = found.dn.parse::<Dn>().unwrap_or_else(|_| dn.clone());
                LdapEntry { dn: parsed, attrs: found.attrs.into_iter().collect() }
            })),
            rc::NO_SUCH_OBJECT => Ok(None),
            _ => Err(from_result("read", &dn_s, &res)),
        }
    }

    /// RFC 3062 Password Modify as the bound account, so that the server hashes the password
    /// under its own scheme (never a plain replace of `userPassword`, which slapd stores as is).
    #[tracing::instrument(skip_all, fields(dn = %dn), err)]
    pub async fn set_password(&self, dn: &Dn, new_password: &str) -> Result<(), SinkError> {
        let dn_s = dn.to_string();
        let exop = PasswordModify { user_id: Some(&dn_s), old_pass: None, new_pass: Some(new_password) };
        let res = self.handle().extended(exop).await.map_err(|e| from_ldap_error("password modify", &dn_s, e))?.1;
        if res.rc == rc::SUCCESS { Ok(()) } else { Err(from_result("password modify", &dn_s, &res)) }
    }

    /// Unbinds and closes the connection (errors ignored: the connection is gone either way).
    pub async fn unbind(self) {
        let mut ldap = self.ldap;
        let _ = ldap.unbind().await;
    }
}

/// What the outbox keeps for a refused or unavailable operation.
impl From<SinkError> for ApplyError {
    fn from(e: SinkError) -> Self {
        match e {
            SinkError::Skipped => ApplyError::Skipped,
            SinkError::Unavailable(why) => ApplyError::Unavailable(why),
            e @ (SinkError::Refused { .. } | SinkError::Config(_)) => ApplyError::Refused(e.to_string()),
        }
    }
}

/// OpenLDAP as a target: the outbox's LDAP operations, applied pipelined (see `apply.rs`).
#[async_trait::async_trait]
impl TargetClient for LdapSink {
    type Op = DirOp;

    async fn apply(&self, ops: &[&QueuedOp]) -> Vec<Result<(), ApplyError>> {
        self.apply_refs(ops).await.into_iter().map(|r| r.map_err(ApplyError::from)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemon runs the sink inside spawned tasks: every future must stay `Send`.
    #[allow(dead_code)]
    fn futures_are_send(s: &'static LdapSink, ops: &'static [QueuedOp], dn: &'static Dn) {
        fn send<T: Send>(_: T) {}
        send(LdapSink::apply(s, ops));
        send(TargetClient::apply(s, Box::leak(ops.iter().collect::<Vec<_>>().into_boxed_slice())));
        send(s.apply_refs(Box::leak(ops.iter().collect::<Vec<_>>().into_boxed_slice())));
        send(s.search_subtree(dn, "(objectClass=*)", &["*"]));
        send(s.read(dn, &["*"]));
        send(s.set_password(dn, "x"));
        send(s.lock_check(dn));
        send(LdapSink::connect(Box::leak(Box::new(LdapConfig::default()))));
    }

    #[test]
    fn filters_escape_values_per_rfc_4515() {
        assert_eq!(filter_eq("uid", "a*(b)\\c\0"), "(uid=a\\2a\\28b\\29\\5cc\\00)");
        assert_eq!(filter_eq("cn", "张三"), "(cn=张三)");
    }
}
