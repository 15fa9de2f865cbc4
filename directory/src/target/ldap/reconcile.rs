//! Reconciliation: the directory as it should be (the store's people and accounts, placed where
//! orgid tracks them) against the directory as it is (a paged search of orgid's subtrees), the
//! drift between the two, and the operations that repair it. Only orgid's own subtrees — its
//! company OUs and its groups OU — are read and repaired; every other entry is left alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::delta::PHASE_MEMBERS;
use super::{
    Attrs, DirOp, Dn, LOCK_ATTR, LOCKED_FOREVER, Layout, Node, NodeKind, PHASE_ACCOUNTS, QueuedOp, TrackedUser,
};
use super::{group_attrs, group_description, ou_attrs};
use crate::{CompanyCode, CompanyIndex, PersonKey, StoredPerson};

/// An entry as read from the server (attribute names as the server spells them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub dn: Dn,
    pub attrs: Attrs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ou,
    Group,
    User,
}

/// An entry as it should be.
#[derive(Debug, Clone)]
pub struct Desired {
    key: String,
    dn: Dn,
    kind: Kind,
    attrs: Attrs,
}

impl Desired {
    pub fn dn(&self) -> &Dn {
        &self.dn
    }

    pub fn attrs(&self) -> &Attrs {
        &self.attrs
    }
}

/// One difference, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "drift", rename_all = "snake_case")]
pub enum Drift {
    Missing { dn: String },
    Extra { dn: String },
    Differs { dn: String, attributes: Vec<String>, edited_by: Option<String> },
    Members { dn: String, missing: usize, extra: usize, edited_by: Option<String> },
}

#[derive(Debug, Clone, Default)]
pub struct Repair {
    pub drift: Vec<Drift>,
    pub ops: Vec<QueuedOp>,
}

/// Everything orgid tracks, placed and filled from the store.
pub fn desired(
    layout: &Layout,
    companies: &CompanyIndex,
    people: &[StoredPerson],
    nodes: &[Node],
    tracked: &[(PersonKey, TrackedUser)],
) -> Vec<Desired> {
    let by_key: HashMap<&PersonKey, &StoredPerson> = people.iter().map(|sp| (&sp.person.key, sp)).collect();
    let node_dn: HashMap<&str, &Dn> = nodes.iter().map(|n| (n.key.as_str(), &n.dn)).collect();
    let mut members: HashMap<&str, Vec<Dn>> = HashMap::new();
    let mut out = Vec::with_capacity(nodes.len() + tracked.len());
    for (pk, t) in tracked {
        let (Some(parent), Some(sp)) = (node_dn.get(t.parent.as_str()), by_key.get(pk)) else { continue };
        let dn = parent.child("uid", &t.login);
        let profile = &sp.person.profile;
        let company_name = companies.get(&profile.company).map(|c| c.name.as_str()).unwrap_or_default();
        let mut attrs = layout.user_attrs(&t.login, profile, company_name);
        if t.locked {
            attrs.insert(LOCK_ATTR.to_string(), vec![LOCKED_FOREVER.to_string()]);
        }
        for g in &t.groups {
            members.entry(g.as_str()).or_default().push(dn.clone());
        }
        out.push(Desired { key: format!("user:{pk}"), dn, kind: Kind::User, attrs });
    }
    let placeholder = layout.placeholder_member();
    for n in nodes {
        let name = n.dn.rdn().map(|r| r.value.to_string()).unwrap_or_default();
        let (kind, attrs) = match n.kind {
            NodeKind::Ou => (Kind::Ou, ou_attrs(&name)),
            NodeKind::Group => {
                let (company_name, department) = group_context(&n.key, companies);
                let mut attrs =
                    group_attrs(&name, &group_description(&n.key, &company_name, &department), &placeholder);
                let mut m: Vec<String> =
                    members.remove(n.key.as_str()).unwrap_or_default().iter().map(Dn::to_string).collect();
                m.push(placeholder.to_string());
                attrs.insert("member".into(), m);
                (Kind::Group, attrs)
            }
        };
        out.push(Desired { key: n.key.clone(), dn: n.dn.clone(), kind, attrs });
    }
    out
}

fn group_context(key: &str, companies: &CompanyIndex) -> (String, String) {
    let rest = key.strip_prefix("group:company:").or_else(|| key.strip_prefix("group:dept:")).unwrap_or_default();
    let (code, dept) = rest.split_once(':').unwrap_or((rest, ""));
    let name = companies.get(&CompanyCode(code.to_string())).map(|c| c.name.clone()).unwrap_or_default();
    (name, dept.to_string())
}

/// The subtrees orgid owns: its top-level company OUs and its groups OU.
pub fn managed_roots(layout: &Layout, nodes: &[Node]) -> Vec<Dn> {
    let mut roots: Vec<Dn> = nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Ou && n.dn.parent().as_ref() == Some(&layout.base))
        .map(|n| n.dn.clone())
        .collect();
    roots.sort();
    roots.dedup();
    roots
}

fn get<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a Vec<String>> {
    attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn sorted(v: Option<&Vec<String>>) -> Vec<String> {
    let mut v = v.cloned().unwrap_or_default();
    v.sort();
    v
}

/// Compares and plans the repair. `bind_dn` is orgid's own identity: an entry last modified by
/// anyone else was edited by hand, which the report says.
pub fn diff(layout: &Layout, desired: &[Desired], observed: &[Observed], roots: &[Dn], bind_dn: &Dn) -> Repair {
    let in_scope = |dn: &Dn| roots.iter().any(|r| dn == r || dn.is_under(r));
    let seen: HashMap<&Dn, &Observed> = observed.iter().filter(|o| in_scope(&o.dn)).map(|o| (&o.dn, o)).collect();
    let wanted: BTreeSet<&Dn> = desired.iter().map(|d| &d.dn).collect();
    let mut repair = Repair::default();
    let edited_by = |o: &Observed| {
        get(&o.attrs, "modifiersName")
            .and_then(|v| v.first())
            .filter(|m| m.parse::<Dn>().ok().as_ref() != Some(bind_dn))
            .cloned()
    };
    let user_attrs: Vec<String> = {
        let mut v = layout.managed_user_attrs();
        v.push(LOCK_ATTR.to_string());
        v
    };
    for d in desired {
        let Some(o) = seen.get(&d.dn) else {
            repair.drift.push(Drift::Missing { dn: d.dn.to_string() });
            let phase = if d.kind == Kind::User { PHASE_ACCOUNTS } else { d.dn.len().clamp(1, 49) as u8 };
            repair.ops.push(QueuedOp {
                key: d.key.clone(),
                phase,
                op: DirOp::Add { dn: d.dn.clone(), attrs: d.attrs.clone() },
            });
            continue;
        };
        match d.kind {
            Kind::Ou => {}
            Kind::User => {
                let differ: Vec<String> = user_attrs
                    .iter()
                    .filter(|a| sorted(get(&d.attrs, a)) != sorted(get(&o.attrs, a)))
                    .cloned()
                    .collect();
                if !differ.is_empty() {
                    let attrs: Attrs =
                        differ.iter().map(|a| (a.clone(), get(&d.attrs, a).cloned().unwrap_or_default())).collect();
                    repair.drift.push(Drift::Differs {
                        dn: d.dn.to_string(),
                        attributes: differ,
                        edited_by: edited_by(o),
                    });
                    repair.ops.push(QueuedOp {
                        key: d.key.clone(),
                        phase: PHASE_ACCOUNTS,
                        op: DirOp::Replace { dn: d.dn.clone(), attrs },
                    });
                }
            }
            Kind::Group => {
                let parse = |v: Option<&Vec<String>>| -> BTreeSet<Dn> {
                    v.map(|v| v.iter().filter_map(|m| m.parse().ok()).collect()).unwrap_or_default()
                };
                let want = parse(get(&d.attrs, "member"));
                let have = parse(get(&o.attrs, "member"));
                let add: Vec<Dn> = want.difference(&have).cloned().collect();
                let remove: Vec<Dn> = have.difference(&want).cloned().collect();
                if !add.is_empty() || !remove.is_empty() {
                    repair.drift.push(Drift::Members {
                        dn: d.dn.to_string(),
                        missing: add.len(),
                        extra: remove.len(),
                        edited_by: edited_by(o),
                    });
                    // Add first: a group must never be left without a member.
                    for chunk in add.chunks(1000) {
                        repair.ops.push(QueuedOp {
                            key: d.key.clone(),
                            phase: PHASE_MEMBERS,
                            op: DirOp::AddMembers { group: d.dn.clone(), members: chunk.to_vec() },
                        });
                    }
                    for chunk in remove.chunks(1000) {
                        repair.ops.push(QueuedOp {
                            key: d.key.clone(),
                            phase: PHASE_MEMBERS,
                            op: DirOp::RemoveMembers { group: d.dn.clone(), members: chunk.to_vec() },
                        });
                    }
                }
                if sorted(get(&d.attrs, "description")) != sorted(get(&o.attrs, "description")) {
                    let mut attrs = Attrs::new();
                    attrs.insert("description".into(), get(&d.attrs, "description").cloned().unwrap_or_default());
                    repair.drift.push(Drift::Differs {
                        dn: d.dn.to_string(),
                        attributes: vec!["description".into()],
                        edited_by: edited_by(o),
                    });
                    repair.ops.push(QueuedOp {
                        key: d.key.clone(),
                        phase: PHASE_MEMBERS,
                        op: DirOp::Replace { dn: d.dn.clone(), attrs },
                    });
                }
            }
        }
    }
    // Extra entries in orgid's subtrees: deepest first, so a subtree goes leaf by leaf.
    let mut extra: Vec<&Dn> = seen.keys().filter(|dn| !wanted.contains(*dn)).copied().collect();
    extra.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    for dn in extra {
        repair.drift.push(Drift::Extra { dn: dn.to_string() });
        let phase = 70 + (49u8.saturating_sub(dn.len().min(49) as u8));
        repair.ops.push(QueuedOp { key: format!("extra:{dn}"), phase, op: DirOp::Delete { dn: dn.clone() } });
    }
    repair.ops.sort_by_key(|o| o.phase);
    repair
}

/// Counts per kind of drift, for the report's first line.
pub fn summary(drift: &[Drift]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for d in drift {
        let k = match d {
            Drift::Missing { .. } => "missing",
            Drift::Extra { .. } => "extra",
            Drift::Differs { .. } => "differing",
            Drift::Members { .. } => "memberships",
        };
        *m.entry(k).or_default() += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Account, AccountStatus, Company, Employment, OperatingMode, Person, Profile, Tier};
    use chrono::{TimeZone, Utc};
    use orgid_config::LdapConfig;

    #[allow(clippy::type_complexity)]
    fn setup() -> (Layout, CompanyIndex, Vec<StoredPerson>, Vec<Node>, Vec<(PersonKey, TrackedUser)>) {
        let layout = Layout::new(&LdapConfig::default()).unwrap();
        let companies = CompanyIndex::new([Company {
            code: CompanyCode("G000".into()),
            name: "集团".into(),
            parent: None,
            tier: Tier::Hq,
            mode: OperatingMode::GroupOperated,
        }])
        .unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let profile = Profile {
            employee_number: "G1".into(),
            name: "张伟".into(),
            gender: None,
            company: CompanyCode("G000".into()),
            department: String::new(),
            title: "总裁".into(),
            grade: None,
            mobile: String::new(),
            email: String::new(),
            hire_date: None,
            confidential: false,
        };
        let key = PersonKey("k1".into());
        let people = vec![StoredPerson {
            person: Person {
                key: key.clone(),
                profile,
                employment: Employment::Active,
                leave_date: None,
                source: "t".into(),
                updated_at: at,
            },
            account: Some(Account {
                login: "zhangwei".into(),
                status: AccountStatus::Active,
                rule: "ELIG-5".into(),
                opened_at: Some(at),
                closed_at: None,
                updated_at: at,
            }),
        }];
        let g = layout.base.child("ou", "G000");
        let nodes = vec![
            Node { key: "company:G000".into(), dn: g.clone(), kind: NodeKind::Ou },
            Node { key: "ou:groups".into(), dn: layout.groups.clone(), kind: NodeKind::Ou },
            Node { key: "group:company:G000".into(), dn: layout.company_group("G000"), kind: NodeKind::Group },
        ];
        let tracked = vec![(
            key,
            TrackedUser {
                parent: "company:G000".into(),
                login: "zhangwei".into(),
                groups: vec!["group:company:G000".into()],
                locked: false,
            },
        )];
        (layout, companies, people, nodes, tracked)
    }

    fn observed_from(desired: &[Desired]) -> Vec<Observed> {
        desired.iter().map(|d| Observed { dn: d.dn.clone(), attrs: d.attrs.clone() }).collect()
    }

    #[test]
    fn an_equal_directory_has_no_drift_and_unmanaged_entries_are_ignored() {
        let (layout, companies, people, nodes, tracked) = setup();
        let want = desired(&layout, &companies, &people, &nodes, &tracked);
        let mut seen = observed_from(&want);
        seen.push(Observed { dn: "cn=admin,dc=example,dc=com".parse().unwrap(), attrs: Attrs::new() });
        seen.push(Observed { dn: "uid=svc,ou=services,dc=example,dc=com".parse().unwrap(), attrs: Attrs::new() });
        let roots = managed_roots(&layout, &nodes);
        assert_eq!(
            roots.iter().map(Dn::to_string).collect::<Vec<_>>(),
            ["ou=G000,dc=example,dc=com", "ou=groups,dc=example,dc=com"]
        );
        let r = diff(&layout, &want, &seen, &roots, &"cn=admin,dc=example,dc=com".parse().unwrap());
        assert!(r.drift.is_empty() && r.ops.is_empty(), "{:?}", r.drift);
    }

    #[test]
    fn drift_is_found_named_and_repaired() {
        let (layout, companies, people, nodes, tracked) = setup();
        let want = desired(&layout, &companies, &people, &nodes, &tracked);
        let mut seen = observed_from(&want);
        let user = seen.iter_mut().find(|o| o.dn.to_string().starts_with("uid=zhangwei")).unwrap();
        user.attrs.insert("title".into(), vec!["被改了".into()]);
        user.attrs.insert("modifiersName".into(), vec!["cn=someone,dc=example,dc=com".into()]);
        let group = seen.iter_mut().find(|o| o.dn.to_string().starts_with("cn=G000")).unwrap();
        group.attrs.insert(
            "member".into(),
            vec![
                "cn=orgid-placeholder,ou=groups,dc=example,dc=com".into(),
                "uid=intruder,ou=G000,dc=example,dc=com".into(),
            ],
        );
        seen.retain(|o| !o.dn.to_string().starts_with("ou=groups") || o.dn.len() > 3);
        seen.push(Observed { dn: "uid=intruder,ou=G000,dc=example,dc=com".parse().unwrap(), attrs: Attrs::new() });
        let roots = managed_roots(&layout, &nodes);
        let r = diff(&layout, &want, &seen, &roots, &"cn=admin,dc=example,dc=com".parse().unwrap());
        assert_eq!(
            r.drift,
            [
                Drift::Differs {
                    dn: "uid=zhangwei,ou=G000,dc=example,dc=com".into(),
                    attributes: vec!["title".into()],
                    edited_by: Some("cn=someone,dc=example,dc=com".into())
                },
                Drift::Missing { dn: "ou=groups,dc=example,dc=com".into() },
                Drift::Members {
                    dn: "cn=G000,ou=groups,dc=example,dc=com".into(),
                    missing: 1,
                    extra: 1,
                    edited_by: None
                },
                Drift::Extra { dn: "uid=intruder,ou=G000,dc=example,dc=com".into() },
            ]
        );
        let phases: Vec<u8> = r.ops.iter().map(|o| o.phase).collect();
        assert_eq!(
            phases,
            [3, PHASE_ACCOUNTS, PHASE_MEMBERS, PHASE_MEMBERS, 115],
            "structure by depth, deepest removals first"
        );
        let DirOp::Replace { attrs, .. } = &r.ops[1].op else { panic!("replace") };
        assert_eq!(attrs.get("title"), Some(&vec!["总裁".to_string()]));
        assert_eq!(summary(&r.drift).get("differing"), Some(&1));
    }
}
