//! Applying a batch of outbox operations: the scheduling (phases, per-key chains, pipelining on
//! the one connection) and the idempotent meaning of each `DirOp` on a real server.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use futures_util::stream::{self, StreamExt};
use ldap3::controls::RawControl;
use ldap3::{Mod, Scope};
use orgid_directory::target::ldap::{Attrs, DirOp, Dn, QueuedOp};

use super::LdapSink;
use super::error::{SinkError, from_ldap_error, from_result, rc};
use super::schedule::schedule_of;

/// Permissive Modify (Active Directory's OID, implemented by OpenLDAP 2.4+ without listing it in
/// the root DSE): adding a present value or deleting an absent one is not an error.
pub const PERMISSIVE_MODIFY_OID: &str = "1.2.840.113556.1.4.1413";

pub(crate) const NOT_ATTEMPTED: &str = "not attempted: the connection failed earlier in this batch";

impl LdapSink {
    /// Applies ops; returns one result per op, same order. Phases run one after the other
    /// (ascending); inside a phase ops with the same key run in the given order and different
    /// keys run side by side, up to `ldap.concurrency` in flight. After a failure, later
    /// ops with the same key (in any later phase too) are `Skipped`; after a transport failure
    /// every op not yet attempted is `Unavailable`.
    pub async fn apply(&self, ops: &[QueuedOp]) -> Vec<Result<(), SinkError>> {
        let ops: Vec<&QueuedOp> = ops.iter().collect();
        self.apply_refs(&ops).await
    }

    /// [`apply`](Self::apply) of borrowed operations (the outbox worker's, which stay with their
    /// outbox items).
    #[tracing::instrument(skip_all, fields(ops = ops.len()))]
    pub async fn apply_refs(&self, ops: &[&QueuedOp]) -> Vec<Result<(), SinkError>> {
        let mut results: Vec<Option<Result<(), SinkError>>> = std::iter::repeat_with(|| None).take(ops.len()).collect();
        let down = std::sync::atomic::AtomicBool::new(false);
        let mut failed: HashSet<&str> = HashSet::new();
        for phase in schedule_of(ops) {
            let (failed_ref, down_ref) = (&failed, &down);
            let chains = phase.chains.into_iter().map(|chain| async move {
                let mut out = Vec::with_capacity(chain.len());
                let mut broken = chain.first().is_some_and(|&i| failed_ref.contains(ops[i].key.as_str()));
                for i in chain {
                    let result = if down_ref.load(Ordering::SeqCst) {
                        Err(SinkError::Unavailable(NOT_ATTEMPTED.into()))
                    } else if broken {
                        Err(SinkError::Skipped)
                    } else {
                        let r = self.apply_one(&ops[i].op).await;
                        if let Err(e) = &r {
                            broken = true;
                            if e.is_unavailable() {
                                down_ref.store(true, Ordering::SeqCst);
                            }
                        }
                        r
                    };
                    out.push((i, result));
                }
                out
            });
            let done: Vec<Vec<(usize, Result<(), SinkError>)>> =
                stream::iter(chains).buffer_unordered(self.concurrency).collect().await;
            for (i, result) in done.into_iter().flatten() {
                if result.is_err() {
                    failed.insert(ops[i].key.as_str());
                }
                results[i] = Some(result);
            }
        }
        // Every index belongs to exactly one chain, so every slot is filled.
        results.into_iter().map(|r| r.unwrap_or(Err(SinkError::Skipped))).collect()
    }

    pub(crate) async fn apply_one(&self, op: &DirOp) -> Result<(), SinkError> {
        match op {
            DirOp::Add { dn, attrs } => self.add_entry(dn, attrs).await,
            DirOp::Replace { dn, attrs } => {
                let mods = attrs.iter().map(|(k, v)| Mod::Replace(k.clone(), v.iter().cloned().collect())).collect();
                if !self.modify_found("replace", &dn.to_string(), mods).await? {
                    // The entry is gone (deleted by hand): there is nothing to change, and a
                    // replace that failed forever would hold up every later operation of the
                    // entry, reconcile's add among them, which brings it back whole.
                    tracing::warn!(%dn, "a replace found no entry; `orgid ldap reconcile` restores it");
                }
                Ok(())
            }
            DirOp::AddAccount { dn, entry } => {
                // The add carries the values; only an entry that exists already needs the empty
                // managed attributes too (a replace with them removes what no longer applies), so
                // they are made only then: a first load adds 100,000 new entries.
                let attrs = self.layout.entry_attrs(entry);
                match self.add_new(dn, &attrs).await? {
                    true => Ok(()),
                    false => {
                        let mut attrs = self.layout.entry_replace(entry);
                        attrs.extend(self.layout.entry_attrs(entry));
                        self.add_entry(dn, &attrs).await
                    }
                }
            }
            DirOp::UpdateAccount { dn, entry, unlock } => {
                let mut attrs = self.layout.entry_replace(entry);
                if *unlock {
                    attrs.insert(orgid_directory::target::ldap::LOCK_ATTR.to_string(), Vec::new());
                }
                let mods = attrs.into_iter().map(|(k, v)| Mod::Replace(k, v.into_iter().collect())).collect();
                if self.modify_found("replace", &dn.to_string(), mods).await? {
                    return Ok(());
                }
                // The entry is gone (deleted by hand): made again from the same facts, so that
                // an update never fails forever.
                tracing::warn!(%dn, "an account update found no entry; adding it");
                let mut attrs = self.layout.entry_replace(entry);
                attrs.extend(self.layout.entry_attrs(entry));
                self.add_entry(dn, &attrs).await
            }
            DirOp::Move { dn, to } => self.move_entry(dn, to).await,
            DirOp::AddMembers { group, members } => self.members(group, members, true).await,
            DirOp::RemoveMembers { group, members } => self.members(group, members, false).await,
            DirOp::Delete { dn } => {
                let dn_s = dn.to_string();
                let res = self.handle().delete(&dn_s).await.map_err(|e| from_ldap_error("delete", &dn_s, e))?;
                match res.rc {
                    rc::SUCCESS | rc::NO_SUCH_OBJECT => Ok(()),
                    _ => Err(from_result("delete", &dn_s, &res)),
                }
            }
        }
    }

    /// Add; if the entry exists, replace every given attribute except `objectClass` and the RDN's
    /// (an empty list then removes the attribute, so the entry ends as a fresh add would make it).
    async fn add_entry(&self, dn: &Dn, attrs: &Attrs) -> Result<(), SinkError> {
        let dn_s = dn.to_string();
        let values: Vec<(String, HashSet<String>)> = attrs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
            .collect();
        let res = self.handle().add(&dn_s, values).await.map_err(|e| from_ldap_error("add", &dn_s, e))?;
        match res.rc {
            rc::SUCCESS => Ok(()),
            rc::ENTRY_ALREADY_EXISTS => {
                let rdn_attr = dn.rdn().map(|r| &*r.attr).unwrap_or_default();
                let mods = attrs
                    .iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("objectClass") && !k.eq_ignore_ascii_case(rdn_attr))
                    .map(|(k, v)| Mod::Replace(k.clone(), v.iter().cloned().collect()))
                    .collect();
                self.modify("add (replace existing)", &dn_s, mods).await
            }
            _ => Err(from_result("add", &dn_s, &res)),
        }
    }

    /// Adds a new entry; `false` if it exists already (nothing changed then).
    async fn add_new(&self, dn: &Dn, attrs: &Attrs) -> Result<bool, SinkError> {
        let dn_s = dn.to_string();
        let values: Vec<(&str, HashSet<&str>)> = attrs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
            .collect();
        let res = self.handle().add(&dn_s, values).await.map_err(|e| from_ldap_error("add", &dn_s, e))?;
        match res.rc {
            rc::SUCCESS => Ok(true),
            rc::ENTRY_ALREADY_EXISTS => Ok(false),
            _ => Err(from_result("add", &dn_s, &res)),
        }
    }

    /// `modify`, with a missing entry answered `false` instead of refused.
    async fn modify_found(&self, op: &'static str, dn_s: &str, mods: Vec<Mod<String>>) -> Result<bool, SinkError> {
        if mods.is_empty() {
            return Ok(true);
        }
        let res = self.handle().modify(dn_s, mods).await.map_err(|e| from_ldap_error(op, dn_s, e))?;
        match res.rc {
            rc::SUCCESS => Ok(true),
            rc::NO_SUCH_OBJECT => Ok(false),
            _ => Err(from_result(op, dn_s, &res)),
        }
    }

    async fn modify(&self, op: &'static str, dn_s: &str, mods: Vec<Mod<String>>) -> Result<(), SinkError> {
        if mods.is_empty() {
            return Ok(());
        }
        let res = self.handle().modify(dn_s, mods).await.map_err(|e| from_ldap_error(op, dn_s, e))?;
        if res.rc == rc::SUCCESS { Ok(()) } else { Err(from_result(op, dn_s, &res)) }
    }

    /// modDN to `to` (new superior only when the parent changes). "No such object" while `to`
    /// exists, or "already exists" while `dn` is gone, means an earlier attempt did it.
    async fn move_entry(&self, dn: &Dn, to: &Dn) -> Result<(), SinkError> {
        let dn_s = dn.to_string();
        if dn == to {
            return Ok(());
        }
        let Some(rdn) = to.rdn() else {
            return Err(SinkError::Refused { op: "move", dn: dn_s, rc: 34, message: "the new DN is empty".into() });
        };
        let new_rdn = Dn::from(vec![rdn.clone()]).to_string();
        let new_parent = to.parent().unwrap_or_default();
        let new_sup = (dn.parent().as_ref() != Some(&new_parent)).then(|| new_parent.to_string());
        let res = self
            .handle()
            .modifydn(&dn_s, &new_rdn, true, new_sup.as_deref())
            .await
            .map_err(|e| from_ldap_error("move", &dn_s, e))?;
        match res.rc {
            rc::SUCCESS => Ok(()),
            rc::NO_SUCH_OBJECT if self.exists(to).await? => Ok(()),
            rc::ENTRY_ALREADY_EXISTS if !self.exists(dn).await? => Ok(()),
            _ => Err(from_result("move", &dn_s, &res)),
        }
    }

    /// Adds or deletes `member` values. With Permissive Modify in one request; if the server
    /// turns the control down (rc 12) or ignores it (rc 20), the sink stops using it and changes
    /// one value per request, taking "already there"/"already gone" (rc 20/16) as done.
    async fn members(&self, group: &Dn, members: &[Dn], add: bool) -> Result<(), SinkError> {
        if members.is_empty() {
            return Ok(());
        }
        let group_s = group.to_string();
        let op = if add { "add members" } else { "remove members" };
        let change = |values: HashSet<String>| {
            if add { Mod::Add("member".to_string(), values) } else { Mod::Delete("member".to_string(), values) }
        };
        if self.permissive.load(Ordering::SeqCst) {
            let control = RawControl { ctype: PERMISSIVE_MODIFY_OID.into(), crit: true, val: None };
            let values = members.iter().map(Dn::to_string).collect();
            let res = self
                .handle()
                .with_controls(control)
                .modify(&group_s, vec![change(values)])
                .await
                .map_err(|e| from_ldap_error(op, &group_s, e))?;
            match res.rc {
                rc::SUCCESS => return Ok(()),
                // slapd 2.5 answers a permissive delete whose LAST listed value is absent with
                // noSuchAttribute and changes nothing: one value at a time for this request.
                rc::NO_SUCH_ATTRIBUTE if !add => {}
                // The server refuses the control, or ignored it: stop using it.
                rc::UNAVAILABLE_CRITICAL_EXTENSION | rc::ATTRIBUTE_OR_VALUE_EXISTS => {
                    if self.permissive.swap(false, Ordering::SeqCst) {
                        tracing::warn!(
                            rc = res.rc,
                            "the LDAP server does not honour Permissive Modify; changing members one value at a time"
                        );
                    }
                }
                _ => return Err(from_result(op, &group_s, &res)),
            }
        }
        let tolerated = if add { rc::ATTRIBUTE_OR_VALUE_EXISTS } else { rc::NO_SUCH_ATTRIBUTE };
        for member in members {
            let res = self
                .handle()
                .modify(&group_s, vec![change(HashSet::from([member.to_string()]))])
                .await
                .map_err(|e| from_ldap_error(op, &group_s, e))?;
            if res.rc != rc::SUCCESS && res.rc != tolerated {
                return Err(from_result(op, &group_s, &res));
            }
        }
        Ok(())
    }

    /// Whether `dn` exists (a base search for no attributes).
    pub(crate) async fn exists(&self, dn: &Dn) -> Result<bool, SinkError> {
        let dn_s = dn.to_string();
        let res = self
            .handle()
            .search(&dn_s, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| from_ldap_error("read", &dn_s, e))?;
        match res.1.rc {
            rc::SUCCESS => Ok(!res.0.is_empty()),
            rc::NO_SUCH_OBJECT => Ok(false),
            _ => Err(from_result("read", &dn_s, &res.1)),
        }
    }
}
