#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, TimeZone, Utc};
use orgid_config::{EligibilityConfig, LdapConfig, LoginScheme};

use super::*;
use crate::plan::Scope;
use crate::{Company, Employment, OperatingMode, PersonRecord, Plan, PlanInput, Rules, StoredPerson, Tier};

/// The store's side, in memory: people, tracking and nodes after each run.
#[derive(Default)]
struct World {
    people: Vec<StoredPerson>,
    nodes: Vec<Node>,
    tracked: HashMap<PersonKey, TrackedUser>,
}

fn companies(extra_parent_for_c020: &str) -> CompanyIndex {
    let co = |c: &str, p: Option<&str>, tier| Company {
        code: CompanyCode(c.into()),
        name: format!("{c}公司"),
        parent: p.map(|p| CompanyCode(p.into())),
        tier,
        mode: OperatingMode::GroupOperated,
    };
    CompanyIndex::new([
        co("G000", None, Tier::Hq),
        co("C010", Some("G000"), Tier::Tier1),
        co("C011", Some("G000"), Tier::Tier1),
        co("C020", Some(extra_parent_for_c020), Tier::Tier2),
        co("N001", Some("G000"), Tier::Unrated),
    ])
    .unwrap()
}

fn rec(n: u32, company: &str, emp: &str, name: &str, dept: &str, grade: &str) -> PersonRecord {
    PersonRecord {
        key: PersonKey::from(format!("k{n}")),
        profile: Profile {
            employee_number: emp.into(),
            name: name.into(),
            gender: None,
            company: CompanyCode(company.into()),
            department: dept.into(),
            title: "经理".into(),
            grade: grade.parse().ok(),
            mobile: String::new(),
            email: String::new(),
            hire_date: NaiveDate::from_ymd_opt(2010, 1, n),
            confidential: false,
        },
        employment: Employment::Active,
        leave_date: None,
        source: "t".into(),
    }
}

fn layout() -> Layout {
    Layout::new(&LdapConfig::default()).unwrap()
}

impl World {
    /// Plans `records` like a sync, builds the directory delta, and applies both like the store.
    fn run(&mut self, companies: &CompanyIndex, records: &[PersonRecord]) -> DitDelta {
        let rules = Rules::new(EligibilityConfig::default());
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0).unwrap();
        let plan = Plan::compute(&PlanInput {
            held: &Default::default(),
            companies,
            records,
            current: &self.people,
            rules: &rules,
            login_scheme: LoginScheme::Pinyin,
            scope: Scope::Full,
            today: now.date_naive(),
            now,
        });
        let layout = layout();
        let parents = affected_parents(&layout, companies, &self.nodes, &plan.changes);
        let mut profiles: HashMap<&PersonKey, &Profile> =
            self.people.iter().map(|sp| (&sp.person.key, &sp.person.profile)).collect();
        profiles.extend(plan.people.iter().map(|p| (&p.key, &p.profile)));
        let keys: HashSet<&PersonKey> = plan.changes.iter().map(|c| &c.person_key).collect();
        let tracked: HashMap<PersonKey, TrackedUser> = self
            .tracked
            .iter()
            .filter(|(k, t)| keys.contains(k) || parents.contains(&t.parent))
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        let d = delta(&DeltaInput {
            layout: &layout,
            companies,
            changes: &plan.changes,
            profiles: &profiles,
            nodes: &self.nodes,
            tracked: &tracked,
        });
        // The store: people and accounts …
        for p in &plan.people {
            match self.people.iter_mut().find(|sp| sp.person.key == p.key) {
                Some(sp) => sp.person = p.clone().at(chrono::DateTime::UNIX_EPOCH),
                None => {
                    self.people.push(StoredPerson { person: p.clone().at(chrono::DateTime::UNIX_EPOCH), account: None })
                }
            }
        }
        for c in &plan.changes {
            if let Some(sp) = self.people.iter_mut().find(|sp| sp.person.key == c.person_key) {
                sp.account = Some(c.account.clone());
            }
        }
        // … and tracking, in the same transaction.
        for (old, new) in &d.renamed {
            for t in self.tracked.values_mut() {
                if &t.parent == old {
                    t.parent = new.clone();
                }
            }
            self.nodes.retain(|n| &n.key != old);
        }
        for n in &d.nodes {
            self.nodes.retain(|x| x.key != n.key);
            self.nodes.push(n.clone());
        }
        for (k, t) in &d.users {
            match t {
                Some(t) => self.tracked.insert(k.clone(), t.clone()),
                None => self.tracked.remove(k),
            };
        }
        d
    }

    fn node(&self, key: &str) -> String {
        self.nodes.iter().find(|n| n.key == key).map(|n| n.dn.to_string()).unwrap_or_default()
    }
}

fn render(d: &DitDelta) -> Vec<String> {
    d.ops
        .iter()
        .map(|q| match &q.op {
            DirOp::Add { dn, .. } => format!("{} add {dn}", q.phase),
            DirOp::Replace { dn, attrs } => {
                let lock = attrs.get(LOCK_ATTR).map(|v| if v.is_empty() { " unlock" } else { " lock" }).unwrap_or("");
                format!("{} replace {dn}{lock}", q.phase)
            }
            DirOp::Move { dn, to } => format!("{} move {dn} -> {to}", q.phase),
            DirOp::AddMembers { group, members } => {
                format!(
                    "{} +members {group}: {}",
                    q.phase,
                    members
                        .iter()
                        .map(|m| m.rdn().map(|r| r.value.to_string()).unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
            DirOp::RemoveMembers { group, members } => {
                format!(
                    "{} -members {group}: {}",
                    q.phase,
                    members
                        .iter()
                        .map(|m| m.rdn().map(|r| r.value.to_string()).unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
            DirOp::Delete { dn } => format!("{} delete {dn}", q.phase),
            DirOp::AddAccount { dn, .. } => format!("{} add {dn}", q.phase),
            DirOp::UpdateAccount { dn, unlock, .. } => {
                format!("{} replace {dn}{}", q.phase, if *unlock { " unlock" } else { "" })
            }
        })
        .collect()
}

fn month_one() -> Vec<PersonRecord> {
    vec![
        rec(1, "C010", "A1", "张三", "财务部/一科", "M12"),
        rec(2, "C010", "A2", "李四", "财务部/一科", "M13"),
        rec(3, "C020", "B1", "王五", "", "M11"),
        rec(4, "N001", "N1", "赵六", "院办", "M15"),
    ]
}

#[test]
fn first_load_creates_structure_before_accounts_and_memberships_last() {
    let mut w = World::default();
    let d = w.run(&companies("C010"), &month_one());
    assert_eq!(
        render(&d),
        [
            "3 add ou=G000,dc=example,dc=com",
            "3 add ou=groups,dc=example,dc=com",
            "4 add ou=C010,ou=G000,dc=example,dc=com",
            "4 add cn=C010,ou=groups,dc=example,dc=com",
            "4 add cn=C010/财务部/一科,ou=groups,dc=example,dc=com",
            "4 add cn=C020,ou=groups,dc=example,dc=com",
            "5 add ou=财务部,ou=C010,ou=G000,dc=example,dc=com",
            "5 add ou=C020,ou=C010,ou=G000,dc=example,dc=com",
            "6 add ou=一科,ou=财务部,ou=C010,ou=G000,dc=example,dc=com",
            "50 add uid=zhangsan,ou=一科,ou=财务部,ou=C010,ou=G000,dc=example,dc=com",
            "50 add uid=lisi,ou=一科,ou=财务部,ou=C010,ou=G000,dc=example,dc=com",
            "50 add uid=wangwu,ou=C020,ou=C010,ou=G000,dc=example,dc=com",
            "60 +members cn=C010,ou=groups,dc=example,dc=com: zhangsan lisi",
            "60 +members cn=C020,ou=groups,dc=example,dc=com: wangwu",
            "60 +members cn=C010/财务部/一科,ou=groups,dc=example,dc=com: zhangsan lisi",
        ],
        "the pending account of the unrated company gets no entry"
    );
    assert_eq!(d.users.len(), 3);
    assert_eq!(w.tracked[&PersonKey("k1".into())].parent, "dept:C010:财务部/一科");
    assert_eq!(w.tracked[&PersonKey("k1".into())].groups, ["group:company:C010", "group:dept:C010:财务部/一科"]);
    // The same month again sends nothing.
    assert!(w.run(&companies("C010"), &month_one()).is_empty());
}

#[test]
fn department_change_of_one_moves_the_entry_and_its_memberships() {
    let mut w = World::default();
    w.run(&companies("C010"), &month_one());
    let mut m2 = month_one();
    m2[0].profile.department = "审计部".into();
    let d = w.run(&companies("C010"), &m2);
    assert_eq!(
        render(&d),
        [
            "4 add cn=C010/审计部,ou=groups,dc=example,dc=com",
            "5 add ou=审计部,ou=C010,ou=G000,dc=example,dc=com",
            "50 move uid=zhangsan,ou=一科,ou=财务部,ou=C010,ou=G000,dc=example,dc=com -> uid=zhangsan,ou=审计部,ou=C010,ou=G000,dc=example,dc=com",
            "50 replace uid=zhangsan,ou=审计部,ou=C010,ou=G000,dc=example,dc=com",
            "60 -members cn=C010,ou=groups,dc=example,dc=com: zhangsan",
            "60 +members cn=C010,ou=groups,dc=example,dc=com: zhangsan",
            "60 +members cn=C010/审计部,ou=groups,dc=example,dc=com: zhangsan",
            "60 -members cn=C010/财务部/一科,ou=groups,dc=example,dc=com: zhangsan",
        ]
    );
    // The company group's member value changes because the entry's DN changed.
    let DirOp::AddMembers { members, .. } = &d.ops[5].op else { panic!("add members") };
    assert_eq!(members[0].to_string(), "uid=zhangsan,ou=审计部,ou=C010,ou=G000,dc=example,dc=com");
}

#[test]
fn a_renamed_department_renames_its_ou_and_group_instead_of_moving_entries() {
    let mut w = World::default();
    w.run(&companies("C010"), &month_one());
    let mut m2 = month_one();
    m2[0].profile.department = "财务部/核算科".into();
    m2[1].profile.department = "财务部/核算科".into();
    let d = w.run(&companies("C010"), &m2);
    let ops = render(&d);
    assert_eq!(
        ops[0],
        "4 move cn=C010/财务部/一科,ou=groups,dc=example,dc=com -> cn=C010/财务部/核算科,ou=groups,dc=example,dc=com"
    );
    // Its description names the department, and follows the rename (reconcile expects it).
    assert_eq!(ops[1], "4 replace cn=C010/财务部/核算科,ou=groups,dc=example,dc=com");
    let DirOp::Replace { attrs, .. } = &d.ops[1].op else { panic!("replace") };
    assert_eq!(attrs["description"], ["C010公司 财务部/核算科"]);
    assert_eq!(
        ops[2],
        "6 move ou=一科,ou=财务部,ou=C010,ou=G000,dc=example,dc=com -> ou=核算科,ou=财务部,ou=C010,ou=G000,dc=example,dc=com"
    );
    assert!(
        ops.iter().all(|o| !o.starts_with("50 move") && !o.contains(" add ")),
        "no entry moved, nothing recreated: {ops:#?}"
    );
    assert_eq!(
        d.renamed,
        [
            ("dept:C010:财务部/一科".to_string(), "dept:C010:财务部/核算科".to_string()),
            ("group:dept:C010:财务部/一科".to_string(), "group:dept:C010:财务部/核算科".to_string())
        ]
    );
    assert_eq!(w.node("dept:C010:财务部/核算科"), "ou=核算科,ou=财务部,ou=C010,ou=G000,dc=example,dc=com");
    assert_eq!(w.tracked[&PersonKey("k2".into())].parent, "dept:C010:财务部/核算科");
    assert!(
        ops.contains(&"60 +members cn=C010/财务部/核算科,ou=groups,dc=example,dc=com: zhangsan lisi".to_string()),
        "{ops:#?}"
    );
    assert!(w.run(&companies("C010"), &m2).is_empty(), "and then it is stable");
}

#[test]
fn cross_company_move_keeps_the_entry_and_close_locks_it() {
    let mut w = World::default();
    w.run(&companies("C010"), &month_one());
    let mut m2 = month_one();
    m2[2].profile.company = CompanyCode("C011".into());
    m2[2].profile.employee_number = "D9".into();
    m2[2].profile.grade = "M12".parse().ok(); // tier 1 needs M12
    m2[1].employment = Employment::Left;
    let d = w.run(&companies("C010"), &m2);
    assert_eq!(
        render(&d),
        [
            "4 add ou=C011,ou=G000,dc=example,dc=com",
            "4 add cn=C011,ou=groups,dc=example,dc=com",
            "50 replace uid=lisi,ou=一科,ou=财务部,ou=C010,ou=G000,dc=example,dc=com lock",
            "50 move uid=wangwu,ou=C020,ou=C010,ou=G000,dc=example,dc=com -> uid=wangwu,ou=C011,ou=G000,dc=example,dc=com",
            "50 replace uid=wangwu,ou=C011,ou=G000,dc=example,dc=com",
            "60 -members cn=C010,ou=groups,dc=example,dc=com: lisi",
            "60 +members cn=C011,ou=groups,dc=example,dc=com: wangwu",
            "60 -members cn=C020,ou=groups,dc=example,dc=com: wangwu",
            "60 -members cn=C010/财务部/一科,ou=groups,dc=example,dc=com: lisi",
        ]
    );
    let lisi = &w.tracked[&PersonKey("k2".into())];
    assert!(lisi.locked && lisi.groups.is_empty());
    // Rehire: unlocked in place, memberships back.
    let d = w.run(
        &companies("C010"),
        &month_one().into_iter().filter(|r| r.key.as_str() != "k3").chain([m2[2].clone()]).collect::<Vec<_>>(),
    );
    assert_eq!(
        render(&d),
        [
            "50 replace uid=lisi,ou=一科,ou=财务部,ou=C010,ou=G000,dc=example,dc=com unlock",
            "60 +members cn=C010,ou=groups,dc=example,dc=com: lisi",
            "60 +members cn=C010/财务部/一科,ou=groups,dc=example,dc=com: lisi",
        ]
    );
}

#[test]
fn a_company_given_a_new_parent_moves_its_subtree_and_member_values_follow() {
    let mut w = World::default();
    w.run(&companies("C010"), &month_one());
    let d = w.run(&companies("C011"), &month_one());
    assert_eq!(
        render(&d),
        [
            "4 add ou=C011,ou=G000,dc=example,dc=com",
            "5 move ou=C020,ou=C010,ou=G000,dc=example,dc=com -> ou=C020,ou=C011,ou=G000,dc=example,dc=com",
            "60 -members cn=C020,ou=groups,dc=example,dc=com: wangwu",
            "60 +members cn=C020,ou=groups,dc=example,dc=com: wangwu",
        ]
    );
    let DirOp::AddMembers { members, .. } = &d.ops[3].op else { panic!("add") };
    assert_eq!(members[0].to_string(), "uid=wangwu,ou=C020,ou=C011,ou=G000,dc=example,dc=com");
    assert_eq!(w.node("company:C020"), "ou=C020,ou=C011,ou=G000,dc=example,dc=com");
}

#[test]
fn large_groups_are_written_in_slices() {
    let mut w = World::default();
    let many: Vec<PersonRecord> =
        (1..=2500).map(|n| rec(n, "G000", &format!("G{n:05}"), &format!("员工{n}"), "", "")).collect();
    let d = w.run(&companies("C010"), &many);
    let adds: Vec<usize> = d
        .ops
        .iter()
        .filter_map(|q| match &q.op {
            DirOp::AddMembers { members, .. } => Some(members.len()),
            _ => None,
        })
        .collect();
    assert_eq!(adds, [1000, 1000, 500]);
    assert_eq!(d.ops.iter().filter(|q| q.phase == PHASE_ACCOUNTS).count(), 2500);
}
