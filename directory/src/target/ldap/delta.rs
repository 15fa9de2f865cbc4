//! From a run's decisions to directory operations: which OUs and groups to create or move, which
//! entries to add, move, update, lock or unlock, and which memberships change. Incremental: only
//! what the run changed (plus entries whose DN moves with a renamed or moved OU) is touched, so a
//! run without changes sends nothing.
//!
//! Phases (applied in order; operations of one phase run concurrently across entries):
//! `1..=49` structure, by the depth of the resulting DN so parents come first; 50 accounts;
//! 60 memberships.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::{DirOp, DitDelta, Dn, Layout, Node, NodeKind, QueuedOp, TrackedUser, group_attrs, keys, ou_attrs};
use super::{LOCK_ATTR, LOCKED_FOREVER};
use crate::{AccountChange, AccountStatus, CompanyCode, CompanyIndex, PersonKey, Profile};

pub const PHASE_ACCOUNTS: u8 = 50;
pub const PHASE_MEMBERS: u8 = 60;
/// Member values per operation: large groups are written in slices.
const MEMBERS_PER_OP: usize = 1000;

pub struct DeltaInput<'a> {
    pub layout: &'a Layout,
    /// Companies after the run.
    pub companies: &'a CompanyIndex,
    /// The run's account changes.
    pub changes: &'a [AccountChange],
    /// Profiles after the run, for every changed account (borrowed from the plan and the store's
    /// people: a first load has 100,000 of them).
    pub profiles: &'a HashMap<&'a PersonKey, &'a Profile>,
    /// Every tracked OU and group.
    pub nodes: &'a [Node],
    /// Tracked entries of the changed accounts and of every account under `affected_parents`.
    pub tracked: &'a HashMap<PersonKey, TrackedUser>,
}

/// The OU keys whose entries the delta may move without their accounts changing (renamed
/// departments, moved companies): load their tracked users before calling [`delta`].
pub fn affected_parents(
    layout: &Layout,
    companies: &CompanyIndex,
    nodes: &[Node],
    changes: &[AccountChange],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let moved: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Ou)
        .filter(|n| {
            n.key.strip_prefix("company:").is_some_and(|code| {
                let code = CompanyCode(code.to_string());
                companies.contains(&code) && layout.company_dn(companies, &code) != n.dn
            })
        })
        .collect();
    for m in moved {
        out.extend(
            nodes
                .iter()
                .filter(|n| n.kind == NodeKind::Ou && (n.dn == m.dn || n.dn.is_under(&m.dn)))
                .map(|n| n.key.clone()),
        );
    }
    for (code, old, _) in department_changes(changes) {
        out.push(keys::department(&code, &old));
    }
    out.sort();
    out.dedup();
    out
}

/// (company, old department, new department) of in-company department changes.
fn department_changes(changes: &[AccountChange]) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = changes
        .iter()
        .filter(|c| !c.fields.iter().any(|f| f.field == "company"))
        .filter_map(|c| {
            c.fields
                .iter()
                .find(|f| f.field == "department")
                .map(|f| (c.company.0.clone(), f.before.clone(), f.after.clone()))
        })
        .filter(|(_, old, _)| !old.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

struct Builder<'a> {
    input: &'a DeltaInput<'a>,
    /// Nodes as they will be after this delta, by key.
    nodes: HashMap<String, Node>,
    /// DNs of nodes before this delta, by their key after it.
    before: HashMap<String, Dn>,
    /// Node keys renamed by this delta: old → new.
    renamed: BTreeMap<String, String>,
    touched_nodes: BTreeMap<String, Node>,
    ops: Vec<QueuedOp>,
}

impl<'a> Builder<'a> {
    fn push(&mut self, key: &str, phase: u8, op: DirOp) {
        self.ops.push(QueuedOp { key: key.to_string(), phase, op });
    }

    fn structure_phase(dn: &Dn) -> u8 {
        dn.len().clamp(1, 49) as u8
    }

    fn add_node(&mut self, key: String, dn: Dn, kind: NodeKind, attrs: super::Attrs) -> Dn {
        let phase = Self::structure_phase(&dn);
        self.push(&key, phase, DirOp::Add { dn: dn.clone(), attrs });
        let node = Node { key: key.clone(), dn: dn.clone(), kind };
        self.nodes.insert(key.clone(), node.clone());
        self.touched_nodes.insert(key, node);
        dn
    }

    fn ensure_company(&mut self, code: &CompanyCode) -> Dn {
        let key = keys::company(&code.0);
        if let Some(n) = self.nodes.get(&key) {
            return n.dn.clone();
        }
        if let Some(parent) = self.input.companies.get(code).and_then(|c| c.parent.clone()) {
            self.ensure_company(&parent);
        }
        let dn = self.input.layout.company_dn(self.input.companies, code);
        self.add_node(key, dn, NodeKind::Ou, ou_attrs(&code.0))
    }

    /// The OU an account of this profile sits under (created as needed), and its key.
    fn ensure_parent(&mut self, profile: &Profile) -> (String, Dn) {
        let company_dn = self.ensure_company(&profile.company);
        let code = profile.company.0.clone();
        let mut parent = (keys::company(&code), company_dn);
        for prefix in Layout::department_prefixes(&profile.department) {
            let key = keys::department(&code, &prefix);
            let dn = match self.nodes.get(&key) {
                Some(n) => n.dn.clone(),
                None => {
                    let dn = parent.1.child("ou", prefix.rsplit('/').next().unwrap_or(&prefix));
                    let seg = prefix.rsplit('/').next().unwrap_or(&prefix).to_string();
                    self.add_node(key.clone(), dn, NodeKind::Ou, ou_attrs(&seg))
                }
            };
            parent = (key, dn);
        }
        parent
    }

    fn ensure_group(&mut self, key: &str, dn: &Dn, description: &str) {
        if self.nodes.contains_key(key) {
            return;
        }
        if !self.nodes.contains_key(keys::GROUPS_OU) {
            let groups = self.input.layout.groups.clone();
            let name = groups.rdn().map(|r| r.value.to_string()).unwrap_or_default();
            self.add_node(keys::GROUPS_OU.to_string(), groups, NodeKind::Ou, ou_attrs(&name));
        }
        let cn = dn.rdn().map(|r| r.value.to_string()).unwrap_or_default();
        let placeholder = self.input.layout.placeholder_member();
        self.add_node(key.to_string(), dn.clone(), NodeKind::Group, group_attrs(&cn, description, &placeholder));
    }

    /// Moves a node (and everything tracked under it) to `to`, possibly under a new key.
    fn move_node(&mut self, old_key: &str, new_key: &str, to: Dn) {
        let Some(node) = self.nodes.get(old_key).cloned() else { return };
        if node.dn == to {
            return;
        }
        let phase = Self::structure_phase(&to);
        self.push(new_key, phase, DirOp::Move { dn: node.dn.clone(), to: to.clone() });
        let old_prefix = old_key.to_string();
        let rekey = |k: &str| -> String {
            if old_key == new_key {
                return k.to_string();
            }
            match k.strip_prefix(&old_prefix) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{new_key}{rest}"),
                _ => k.to_string(),
            }
        };
        let affected: Vec<Node> =
            self.nodes.values().filter(|n| n.dn == node.dn || n.dn.is_under(&node.dn)).cloned().collect();
        for n in affected {
            let Some(dn) = n.dn.rebase(&node.dn, &to) else { continue };
            let key = rekey(&n.key);
            self.nodes.remove(&n.key);
            if key != n.key {
                let before = self.before.remove(&n.key).unwrap_or_else(|| n.dn.clone());
                self.before.insert(key.clone(), before);
                self.renamed.insert(n.key.clone(), key.clone());
                self.touched_nodes.remove(&n.key);
            }
            let moved = Node { key: key.clone(), dn, kind: n.kind };
            self.nodes.insert(key.clone(), moved.clone());
            self.touched_nodes.insert(key, moved);
        }
    }

    fn current_key(&self, key: &str) -> String {
        self.renamed.get(key).cloned().unwrap_or_else(|| key.to_string())
    }

    /// DN of a tracked entry before and after the structural changes of this delta.
    fn user_dns(&self, t: &TrackedUser) -> Option<(Dn, Dn)> {
        let key = self.current_key(&t.parent);
        let after = self.nodes.get(&key)?.dn.child("uid", &t.login);
        let before =
            self.before.get(&key).cloned().unwrap_or_else(|| self.nodes[&key].dn.clone()).child("uid", &t.login);
        Some((before, after))
    }
}

/// Builds the directory side of a run.
pub fn delta(input: &DeltaInput<'_>) -> DitDelta {
    let nodes: HashMap<String, Node> = input.nodes.iter().map(|n| (n.key.clone(), n.clone())).collect();
    let before: HashMap<String, Dn> = input.nodes.iter().map(|n| (n.key.clone(), n.dn.clone())).collect();
    let mut b =
        Builder { input, nodes, before, renamed: BTreeMap::new(), touched_nodes: BTreeMap::new(), ops: Vec::new() };
    let layout = input.layout;

    // 1. Companies whose place in the tree changed: move their OU (with everything below).
    let mut moved: Vec<(String, Dn)> = input
        .nodes
        .iter()
        .filter_map(|n| {
            let code = CompanyCode(n.key.strip_prefix("company:")?.to_string());
            let want = input.companies.contains(&code).then(|| layout.company_dn(input.companies, &code))?;
            (want != n.dn).then(|| (n.key.clone(), want))
        })
        .collect();
    moved.sort_by_key(|(_, dn)| dn.len());
    for (key, to) in moved {
        if let Some(code) = key.strip_prefix("company:")
            && let Some(parent) = input.companies.get(&CompanyCode(code.to_string())).and_then(|c| c.parent.clone())
        {
            b.ensure_company(&parent);
        }
        b.move_node(&key, &key, to);
    }

    // 2. Departments renamed: every tracked entry under the old OU moves to the same new one,
    //    which does not exist yet: rename the OU (and its group) instead of moving entries.
    let changed: HashMap<&PersonKey, &AccountChange> = input.changes.iter().map(|c| (&c.person_key, c)).collect();
    for (code, old, new) in department_changes(input.changes) {
        let old_key = b.current_key(&keys::department(&code, &old));
        let new_key = keys::department(&code, &new);
        if !b.nodes.contains_key(&old_key) || b.nodes.contains_key(&new_key) {
            continue;
        }
        let under: Vec<&PersonKey> =
            input.tracked.iter().filter(|(_, t)| b.current_key(&t.parent) == old_key).map(|(k, _)| k).collect();
        let all_follow = !under.is_empty()
            && under.iter().all(|k| {
                changed.get(k).is_some_and(|c| {
                    c.fields.iter().any(|f| f.field == "department" && f.before == old && f.after == new)
                })
            });
        if !all_follow {
            continue;
        }
        let company_dn = b.ensure_company(&CompanyCode(code.clone()));
        let parent_path = new.rsplit_once('/').map(|(p, _)| p.to_string());
        let parent_dn = match parent_path {
            Some(pp) => {
                let probe = Profile { company: CompanyCode(code.clone()), department: pp, ..blank_profile() };
                b.ensure_parent(&probe).1
            }
            None => company_dn,
        };
        let to = parent_dn.child("ou", new.rsplit('/').next().unwrap_or(&new));
        b.move_node(&old_key, &new_key, to);
        let (old_group, new_group) = (keys::department_group(&code, &old), keys::department_group(&code, &new));
        if b.nodes.contains_key(&old_group) && !b.nodes.contains_key(&new_group) {
            let to = layout.department_group(&code, &new);
            b.move_node(&old_group, &new_group, to.clone());
            // The group's description names its department: it follows the rename.
            let company_name =
                input.companies.get(&CompanyCode(code.clone())).map(|x| x.name.clone()).unwrap_or_default();
            let mut attrs = super::Attrs::new();
            attrs.insert("description".into(), vec![group_description(&new_group, &company_name, &new)]);
            let phase = Builder::structure_phase(&to);
            b.push(&new_group, phase, DirOp::Replace { dn: to, attrs });
        }
    }

    // 3. The OUs and groups of active accounts first: the operations then come out in phase order
    //    (structure, accounts, memberships) without sorting a first load's 100,000 of them.
    //    Worked out once per company and department (a first load has 100,000 accounts in a few
    //    thousand of them); the confidential group where the first confidential account needs it.
    let mut placements: HashMap<(&CompanyCode, &str), Placement> = HashMap::new();
    for c in input.changes.iter().filter(|c| c.account.status == AccountStatus::Active) {
        let Some(profile) = input.profiles.get(&c.person_key) else { continue };
        let company_name = input.companies.get(&profile.company).map(|x| x.name.as_str()).unwrap_or_default();
        if let Entry::Vacant(slot) = placements.entry((&profile.company, profile.department.as_str())) {
            let parent = b.ensure_parent(profile);
            let mut groups = Vec::with_capacity(2);
            for (gkey, gdn) in layout.groups_of(profile) {
                if gkey != keys::CONFIDENTIAL_GROUP {
                    b.ensure_group(&gkey, &gdn, &group_description(&gkey, company_name, &profile.department));
                    let dn = b.nodes[&gkey].dn.clone();
                    groups.push((gkey, dn));
                }
            }
            slot.insert(Placement { parent, groups });
        }
        if profile.confidential {
            let gkey = keys::CONFIDENTIAL_GROUP;
            b.ensure_group(gkey, &layout.confidential_group(), &group_description(gkey, company_name, ""));
        }
    }
    let mut structure = std::mem::take(&mut b.ops);
    structure.sort_by_key(|o| o.phase); // stable: order within a phase is kept
    // Room for an operation per account and some moves and memberships: a first load never grows
    // (and so never copies) its 100,000 operations.
    b.ops = Vec::with_capacity(structure.len() + input.changes.len() + input.changes.len() / 8 + 16);
    b.ops.extend(structure);

    // 4. Accounts.
    let mut members: BTreeMap<(String, Dn), (Vec<Dn>, Vec<Dn>)> = BTreeMap::new();
    let mut users: Vec<(PersonKey, Option<TrackedUser>)> = Vec::with_capacity(input.changes.len());
    let mut seen: HashSet<&PersonKey> = HashSet::new();
    for c in input.changes {
        seen.insert(&c.person_key);
        let Some(profile) = input.profiles.get(&c.person_key) else { continue };
        let tracked = input.tracked.get(&c.person_key);
        let key = format!("user:{}", c.person_key);
        let old_dns = tracked.and_then(|t| b.user_dns(t));
        let old_groups: Vec<(String, Dn)> = tracked
            .map(|t| {
                t.groups
                    .iter()
                    .filter_map(|g| {
                        let g = b.current_key(g);
                        b.nodes.get(&g).map(|n| (g.clone(), n.dn.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        match (c.account.status, tracked, old_dns) {
            (AccountStatus::Active, _, old) => {
                let place = &placements[&(&profile.company, profile.department.as_str())];
                let (parent_key, parent_dn) = place.parent.clone();
                let dn = parent_dn.child("uid", &c.account.login);
                let company_name = input.companies.get(&profile.company).map(|x| x.name.clone()).unwrap_or_default();
                let entry = layout.account_entry(&c.account.login, profile, &company_name);
                match (tracked, &old) {
                    (Some(t), Some((_, now_dn))) => {
                        if *now_dn != dn {
                            b.push(&key, PHASE_ACCOUNTS, DirOp::Move { dn: now_dn.clone(), to: dn.clone() });
                        }
                        b.push(&key, PHASE_ACCOUNTS, DirOp::UpdateAccount { dn: dn.clone(), entry, unlock: t.locked });
                    }
                    _ => b.push(&key, PHASE_ACCOUNTS, DirOp::AddAccount { dn: dn.clone(), entry }),
                }
                let mut new_groups = Vec::with_capacity(place.groups.len() + 1);
                new_groups.extend(place.groups.iter().cloned());
                if profile.confidential {
                    let gkey = keys::CONFIDENTIAL_GROUP;
                    new_groups.push((gkey.to_string(), b.nodes[gkey].dn.clone()));
                }
                let old_member = old.map(|(before, _)| before);
                for (gk, gdn) in &old_groups {
                    let stays = old_member.as_ref() == Some(&dn) && new_groups.iter().any(|(k, _)| k == gk);
                    if !stays && let Some(m) = &old_member {
                        members.entry((gk.clone(), gdn.clone())).or_default().1.push(m.clone());
                    }
                }
                for (gk, gdn) in &new_groups {
                    let already = old_member.as_ref() == Some(&dn) && old_groups.iter().any(|(k, _)| k == gk);
                    if !already {
                        members.entry((gk.clone(), gdn.clone())).or_default().0.push(dn.clone());
                    }
                }
                // Exactly sized: a first load keeps 100,000 of these lists.
                let mut groups = Vec::with_capacity(new_groups.len());
                groups.extend(new_groups.into_iter().map(|(k, _)| k));
                users.push((
                    c.person_key.clone(),
                    Some(TrackedUser { parent: parent_key, login: c.account.login.clone(), groups, locked: false }),
                ));
            }
            // Closed or waiting: lock the entry and take it out of every group. An entry whose HR
            // facts changed with the closing (a move to a company where the person is not eligible)
            // first follows them, as an active one would: its place and its attributes.
            (_, Some(t), Some((member_dn, now_dn))) => {
                let mut parent = b.current_key(&t.parent);
                let mut dn = now_dn;
                if !c.fields.is_empty() {
                    let (new_parent, parent_dn) = b.ensure_parent(profile);
                    let to = parent_dn.child("uid", &t.login);
                    if to != dn {
                        b.push(&key, PHASE_ACCOUNTS, DirOp::Move { dn: dn.clone(), to: to.clone() });
                    }
                    let company_name =
                        input.companies.get(&profile.company).map(|x| x.name.clone()).unwrap_or_default();
                    let entry = layout.account_entry(&t.login, profile, &company_name);
                    b.push(&key, PHASE_ACCOUNTS, DirOp::UpdateAccount { dn: to.clone(), entry, unlock: false });
                    (parent, dn) = (new_parent, to);
                }
                let mut attrs = super::Attrs::new();
                attrs.insert(LOCK_ATTR.to_string(), vec![LOCKED_FOREVER.to_string()]);
                b.push(&key, PHASE_ACCOUNTS, DirOp::Replace { dn, attrs });
                for (gk, gdn) in &old_groups {
                    members.entry((gk.clone(), gdn.clone())).or_default().1.push(member_dn.clone());
                }
                users.push((
                    c.person_key.clone(),
                    Some(TrackedUser { parent, login: t.login.clone(), groups: Vec::new(), locked: true }),
                ));
            }
            _ => {}
        }
    }

    // 5. Entries that did not change but whose DN moved with an OU: their member values follow.
    let mut others: Vec<(&PersonKey, &TrackedUser)> = input.tracked.iter().filter(|(k, _)| !seen.contains(k)).collect();
    others.sort_by(|a, b| a.0.cmp(b.0));
    for (pk, t) in others {
        let Some((before, after)) = b.user_dns(t) else { continue };
        if before == after {
            continue;
        }
        for g in &t.groups {
            let g = b.current_key(g);
            if let Some(n) = b.nodes.get(&g) {
                let e = members.entry((g.clone(), n.dn.clone())).or_default();
                e.1.push(before.clone());
                e.0.push(after.clone());
            }
        }
        let parent = b.current_key(&t.parent);
        if parent != t.parent {
            users.push((pk.clone(), Some(TrackedUser { parent, ..t.clone() })));
        }
    }
    // Member values are moved, not copied: a first load has a quarter of a million of them.
    for ((gkey, gdn), (add, remove)) in members {
        for chunk in slices(remove) {
            b.push(&gkey, PHASE_MEMBERS, DirOp::RemoveMembers { group: gdn.clone(), members: chunk });
        }
        for chunk in slices(add) {
            b.push(&gkey, PHASE_MEMBERS, DirOp::AddMembers { group: gdn.clone(), members: chunk });
        }
    }

    let mut ops = std::mem::take(&mut b.ops);
    if !ops.is_sorted_by_key(|o| o.phase) {
        ops.sort_by_key(|o| o.phase); // stable: order within a phase is kept
    }
    DitDelta { ops, users, nodes: b.touched_nodes.into_values().collect(), renamed: b.renamed.into_iter().collect() }
}

/// Every membership the tracking records, as `AddMembers` operations (idempotent as the sink
/// applies them): the repair after a run written in parts died between the parts that track
/// accounts in their groups and the last part, which adds them (see `services::parts`).
pub fn memberships(nodes: &[Node], tracked: &[(PersonKey, TrackedUser)]) -> DitDelta {
    let by_key: HashMap<&str, &Node> = nodes.iter().map(|n| (n.key.as_str(), n)).collect();
    let mut members: BTreeMap<&str, Vec<Dn>> = BTreeMap::new();
    for (_, t) in tracked.iter().filter(|(_, t)| !t.locked) {
        let Some(parent) = by_key.get(t.parent.as_str()) else { continue };
        let dn = parent.dn.child("uid", &t.login);
        for g in &t.groups {
            if by_key.get(g.as_str()).is_some_and(|n| n.kind == NodeKind::Group) {
                members.entry(g.as_str()).or_default().push(dn.clone());
            }
        }
    }
    let mut ops = Vec::new();
    for (key, values) in members {
        let group = by_key[key].dn.clone();
        for chunk in slices(values) {
            ops.push(QueuedOp {
                key: key.to_string(),
                phase: PHASE_MEMBERS,
                op: DirOp::AddMembers { group: group.clone(), members: chunk },
            });
        }
    }
    DitDelta { ops, ..DitDelta::default() }
}

/// Where the accounts of one company and department go: their OU (key, DN) and their groups other
/// than the confidential one (key, DN).
struct Placement {
    parent: (String, Dn),
    groups: Vec<(String, Dn)>,
}

fn slices(values: Vec<Dn>) -> Vec<Vec<Dn>> {
    let mut out = Vec::with_capacity(values.len().div_ceil(MEMBERS_PER_OP));
    let mut it = values.into_iter().peekable();
    while it.peek().is_some() {
        out.push(it.by_ref().take(MEMBERS_PER_OP).collect());
    }
    out
}

/// What a group's `description` says: the company, the department, or the confidential posts.
pub fn group_description(key: &str, company_name: &str, department: &str) -> String {
    if key == keys::CONFIDENTIAL_GROUP {
        "机要岗 confidential posts".to_string()
    } else if key.starts_with("group:dept:") {
        format!("{company_name} {department}")
    } else {
        company_name.to_string()
    }
}

fn blank_profile() -> Profile {
    Profile {
        employee_number: String::new(),
        name: String::new(),
        gender: None,
        company: CompanyCode(String::new()),
        department: String::new(),
        title: String::new(),
        grade: None,
        mobile: String::new(),
        email: String::new(),
        hire_date: None,
        confidential: false,
    }
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
