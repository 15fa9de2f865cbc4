//! Reconcile's pure part: WeCom's departments and members as read back, against what the store
//! says they should be. Departments and members orgid did not create are reported, never touched.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::ops::{Member, QueuedOp, TrackedDept, WecomOp};
use super::{PHASE_MEMBERS, clean_department_name};

/// A department as WeCom lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedDept {
    pub id: i64,
    pub name: String,
    pub parent: i64,
    pub order: i64,
}

/// A member as WeCom lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedMember {
    pub userid: String,
    pub name: String,
    pub mobile: String,
    pub email: String,
    pub position: String,
    pub department: Vec<i64>,
    pub enabled: bool,
    pub extattr: Vec<(String, String)>,
}

/// One difference between WeCom and the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "drift", rename_all = "snake_case")]
pub enum Drift {
    MissingDepartment {
        id: i64,
        name: String,
    },
    DifferentDepartment {
        id: i64,
        name: String,
        fields: Vec<String>,
    },
    /// Not orgid's: reported, never touched.
    ExtraDepartment {
        id: i64,
        name: String,
    },
    MissingMember {
        userid: String,
    },
    DifferentMember {
        userid: String,
        fields: Vec<String>,
    },
    /// Not orgid's: reported, never touched.
    ExtraMember {
        userid: String,
    },
}

impl Drift {
    pub fn kind(&self) -> &'static str {
        match self {
            Drift::MissingDepartment { .. } => "missing departments",
            Drift::DifferentDepartment { .. } => "differing departments",
            Drift::ExtraDepartment { .. } => "departments not orgid's (left alone)",
            Drift::MissingMember { .. } => "missing members",
            Drift::DifferentMember { .. } => "differing members",
            Drift::ExtraMember { .. } => "members not orgid's (left alone)",
        }
    }

    /// Whether orgid repairs it (the others are only reported).
    pub fn repaired(&self) -> bool {
        !matches!(self, Drift::ExtraDepartment { .. } | Drift::ExtraMember { .. })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Repair {
    pub drift: Vec<Drift>,
    pub ops: Vec<QueuedOp>,
}

/// Counts of drift by kind.
pub fn summary(drift: &[Drift]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for d in drift {
        *out.entry(d.kind()).or_default() += 1;
    }
    out
}

fn member_fields(want: &Member, have: &ObservedMember) -> Vec<String> {
    let mut fields = Vec::new();
    let mut check = |name: &str, same: bool| {
        if !same {
            fields.push(name.to_string());
        }
    };
    check("name", want.name == have.name);
    check("mobile", want.mobile == have.mobile);
    check("email", want.email == have.email);
    check("position", want.position == have.position);
    let (mut a, mut b) = (want.department.clone(), have.department.clone());
    a.sort_unstable();
    b.sort_unstable();
    check("department", a == b);
    check("enable", want.enable == have.enabled);
    check("extattr", want.extattr.iter().all(|kv| have.extattr.contains(kv)));
    fields
}

/// The drift and the operations that repair it. `desired` are every member orgid keeps, by outbox
/// key (`user:<person key>`) (active
/// ones enabled, closed ones it tracks disabled); `observed_members` are those listed in orgid's
/// departments plus any desired userid found elsewhere.
pub fn diff(
    departments: &[TrackedDept],
    desired: &[(String, Member)],
    observed_depts: &[ObservedDept],
    observed_members: &[ObservedMember],
) -> Repair {
    let mut repair = Repair::default();
    let have: HashMap<i64, &ObservedDept> = observed_depts.iter().map(|d| (d.id, d)).collect();
    let ours: HashSet<i64> = departments.iter().map(|d| d.id).collect();
    let mut sorted: Vec<&TrackedDept> = departments.iter().collect();
    sorted.sort_by_key(|d| d.id); // parents were given smaller ids than their children
    for d in sorted {
        let name = clean_department_name(&d.name);
        match have.get(&d.id) {
            None => {
                repair.drift.push(Drift::MissingDepartment { id: d.id, name: name.clone() });
                repair.ops.push(QueuedOp {
                    key: format!("dept:{}", d.id),
                    phase: 1,
                    op: WecomOp::CreateDepartment { id: d.id, name, parent: d.parent, order: d.order },
                });
            }
            Some(o) if o.name != name || o.parent != d.parent || o.order != d.order => {
                let mut fields = Vec::new();
                for (field, differs) in
                    [("name", o.name != name), ("parent", o.parent != d.parent), ("order", o.order != d.order)]
                {
                    if differs {
                        fields.push(field.to_string());
                    }
                }
                repair.drift.push(Drift::DifferentDepartment { id: d.id, name: name.clone(), fields });
                repair.ops.push(QueuedOp {
                    key: format!("dept:{}", d.id),
                    phase: 1,
                    op: WecomOp::UpdateDepartment { id: d.id, name, parent: d.parent, order: d.order },
                });
            }
            Some(_) => {}
        }
    }
    let mut extra_depts: Vec<&ObservedDept> =
        observed_depts.iter().filter(|o| ours.contains(&o.parent) && !ours.contains(&o.id)).collect();
    extra_depts.sort_by_key(|o| o.id);
    for o in extra_depts {
        repair.drift.push(Drift::ExtraDepartment { id: o.id, name: o.name.clone() });
    }

    let seen: HashMap<String, &ObservedMember> =
        observed_members.iter().map(|m| (m.userid.to_ascii_lowercase(), m)).collect();
    let wanted: HashSet<String> = desired.iter().map(|(_, m)| m.userid.to_ascii_lowercase()).collect();
    for (key, want) in desired {
        match seen.get(&want.userid.to_ascii_lowercase()) {
            None if want.enable => {
                repair.drift.push(Drift::MissingMember { userid: want.userid.clone() });
                repair.ops.push(QueuedOp {
                    key: key.clone(),
                    phase: PHASE_MEMBERS,
                    op: WecomOp::PutMember { member: want.clone(), create: true },
                });
            }
            None => {}
            Some(have) => {
                let fields = member_fields(want, have);
                if !fields.is_empty() {
                    repair.drift.push(Drift::DifferentMember { userid: want.userid.clone(), fields });
                    repair.ops.push(QueuedOp {
                        key: key.clone(),
                        phase: PHASE_MEMBERS,
                        op: WecomOp::PutMember { member: want.clone(), create: false },
                    });
                }
            }
        }
    }
    let mut extra: Vec<&str> = observed_members
        .iter()
        .filter(|m| !wanted.contains(&m.userid.to_ascii_lowercase()) && m.department.iter().any(|d| ours.contains(d)))
        .map(|m| m.userid.as_str())
        .collect();
    extra.sort_unstable();
    extra.dedup();
    for userid in extra {
        repair.drift.push(Drift::ExtraMember { userid: userid.to_string() });
    }
    repair
}
