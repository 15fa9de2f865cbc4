//! The lock check: orgid closes accounts by setting `pwdAccountLockedTime`, which only works when
//! the server runs ppolicy with `pwdLockout: TRUE`. A probe entry proves it end to end.

use std::collections::HashSet;

use ldap3::Mod;
use orgid_directory::target::ldap::{Dn, LOCK_ATTR, LOCKED_FOREVER};
use ring::rand::{SecureRandom, SystemRandom};

use super::error::{SinkError, from_ldap_error, from_result, rc};
use super::{LdapSink, LockCheck};

impl LdapSink {
    /// Proves that locking works: adds a probe inetOrgPerson `uid=orgid-lock-probe-<random>`
    /// under `parent`, sets a random password, checks that it can bind (on a separate
    /// connection), locks it with `pwdAccountLockedTime`, checks that it can no longer bind
    /// (rc 49), and deletes the probe whatever happened.
    #[tracing::instrument(skip_all, fields(parent = %parent))]
    pub async fn lock_check(&self, parent: &Dn) -> Result<LockCheck, SinkError> {
        let probe = parent.child("uid", &format!("orgid-lock-probe-{}", random_hex(6)?));
        let password = random_hex(18)?;
        let probe_s = probe.to_string();
        let mut attrs = vec![
            ("objectClass".to_string(), HashSet::from(["top".to_string(), "inetOrgPerson".to_string()])),
            ("cn".to_string(), HashSet::from(["orgid lock probe".to_string()])),
            ("sn".to_string(), HashSet::from(["probe".to_string()])),
        ];
        if let Some(rdn) = probe.rdn() {
            attrs.push(("uid".to_string(), HashSet::from([rdn.value.to_string()])));
        }
        let res = self.handle().add(&probe_s, attrs).await.map_err(|e| from_ldap_error("add", &probe_s, e))?;
        if res.rc != rc::SUCCESS {
            return Err(from_result("add", &probe_s, &res));
        }
        let outcome = self.lock_probe(&probe, &password).await;
        let cleanup = match self.handle().delete(&probe_s).await {
            Ok(res) if res.rc == rc::SUCCESS || res.rc == rc::NO_SUCH_OBJECT => Ok(()),
            Ok(res) => Err(from_result("delete", &probe_s, &res)),
            Err(e) => Err(from_ldap_error("delete", &probe_s, e)),
        };
        match (outcome, cleanup) {
            (Ok(check), Ok(())) => Ok(check),
            (Ok(_), Err(left)) => Err(left),
            (Err(e), cleanup) => {
                if let Err(left) = cleanup {
                    tracing::warn!(error = %left, "could not delete the lock probe");
                }
                Err(e)
            }
        }
    }

    async fn lock_probe(&self, probe: &Dn, password: &str) -> Result<LockCheck, SinkError> {
        let probe_s = probe.to_string();
        self.set_password(probe, password).await?;
        let unlocked = self.probe_bind(&probe_s, password).await?;
        if unlocked != rc::SUCCESS {
            return Err(SinkError::Refused {
                op: "bind",
                dn: probe_s,
                rc: unlocked,
                message: "the unlocked lock probe could not bind, so the check proves nothing".into(),
            });
        }
        let lock = vec![Mod::Replace(LOCK_ATTR.to_string(), HashSet::from([LOCKED_FOREVER.to_string()]))];
        let res = self.handle().modify(&probe_s, lock).await.map_err(|e| from_ldap_error("lock", &probe_s, e))?;
        match res.rc {
            rc::SUCCESS => {}
            // No ppolicy schema at all: nothing can read the attribute.
            rc::UNDEFINED_ATTRIBUTE_TYPE => return Ok(LockCheck::NotEnforced),
            _ => return Err(from_result("lock", &probe_s, &res)),
        }
        match self.probe_bind(&probe_s, password).await? {
            rc::INVALID_CREDENTIALS => Ok(LockCheck::Enforced),
            rc::SUCCESS => Ok(LockCheck::NotEnforced),
            code => Err(SinkError::Refused {
                op: "bind",
                dn: probe_s,
                rc: code,
                message: format!("{} while bound as the locked lock probe", super::error::rc_name(code)),
            }),
        }
    }

    /// The result code of a simple bind as `dn` on a fresh connection (then closed).
    async fn probe_bind(&self, dn: &str, password: &str) -> Result<u32, SinkError> {
        let mut ldap = self.spec.open().await?;
        let res = self.spec.bind(&mut ldap, dn, password).await;
        let _ = ldap.unbind().await;
        Ok(res?.rc)
    }
}

fn random_hex(bytes: usize) -> Result<String, SinkError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| SinkError::Config("the system random number generator failed".into()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
