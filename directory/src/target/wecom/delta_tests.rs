#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use chrono::{NaiveDate, TimeZone, Utc};
use orgid_config::{EligibilityConfig, LoginScheme};

use super::*;
use crate::plan::Scope;
use crate::{Company, Employment, OperatingMode, PersonRecord, Plan, PlanInput, Rules, StoredPerson, Tier};

/// The store's side, in memory: people, departments and members after each run.
#[derive(Default)]
struct World {
    people: Vec<StoredPerson>,
    depts: Vec<TrackedDept>,
    tracked: HashMap<PersonKey, TrackedMember>,
}

fn companies() -> CompanyIndex {
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
    ])
    .unwrap()
}

fn rec(n: u32, company: &str, name: &str, dept: &str) -> PersonRecord {
    PersonRecord {
        key: PersonKey::from(format!("k{n}")),
        profile: Profile {
            employee_number: format!("E{n}"),
            name: name.into(),
            gender: None,
            company: CompanyCode(company.into()),
            department: dept.into(),
            title: "经理".into(),
            grade: "M12".parse().ok(),
            mobile: format!("1380000{n:04}"),
            email: String::new(),
            hire_date: NaiveDate::from_ymd_opt(2010, 1, n),
            confidential: false,
        },
        employment: Employment::Active,
        leave_date: None,
        source: "t".into(),
    }
}

impl World {
    fn run(&mut self, companies: &CompanyIndex, records: &[PersonRecord]) -> WecomDelta {
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
        let left: HashSet<String> = left_departments(&plan.changes).into_iter().collect();
        let mut profiles: HashMap<&PersonKey, &Profile> =
            self.people.iter().map(|sp| (&sp.person.key, &sp.person.profile)).collect();
        profiles.extend(plan.people.iter().map(|p| (&p.key, &p.profile)));
        let keys: HashSet<&PersonKey> = plan.changes.iter().map(|c| &c.person_key).collect();
        let tracked: HashMap<PersonKey, TrackedMember> = self
            .tracked
            .iter()
            .filter(|(k, t)| keys.contains(k) || left.contains(&t.dept))
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        let settings = Settings { root: 1, attr_grade: "职级".into(), ..Settings::default() };
        let list: Vec<Company> = companies.sorted().into_iter().cloned().collect();
        let order = super::super::roster_order(
            &list,
            records.iter().map(|r| (r.profile.company.0.as_str(), r.profile.department.as_str())),
        );
        let d = delta(&DeltaInput {
            settings: &settings,
            companies,
            changes: &plan.changes,
            profiles: &profiles,
            departments: &self.depts,
            tracked: &tracked,
            order: &order,
        });
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
        for (old, new) in &d.renamed {
            for t in self.tracked.values_mut() {
                if &t.dept == old {
                    t.dept = new.clone();
                }
            }
            self.depts.retain(|x| &x.key != old);
        }
        for n in &d.departments {
            self.depts.retain(|x| x.key != n.key);
            self.depts.push(n.clone());
        }
        for (k, t) in &d.members {
            match t {
                Some(t) => self.tracked.insert(k.clone(), t.clone()),
                None => self.tracked.remove(k),
            };
        }
        d
    }

    fn dept(&self, key: &str) -> &TrackedDept {
        self.depts.iter().find(|d| d.key == key).unwrap()
    }
}

fn render(d: &WecomDelta) -> Vec<String> {
    d.ops
        .iter()
        .map(|q| match &q.op {
            WecomOp::CreateDepartment { name, .. } => format!("create dept {name}"),
            WecomOp::UpdateDepartment { name, .. } => format!("update dept {name}"),
            WecomOp::PutMember { member, create } => {
                format!("{} {} enable={}", if *create { "create" } else { "update" }, member.userid, member.enable)
            }
            WecomOp::DeleteMember { userid } => format!("delete {userid}"),
        })
        .collect()
}

#[test]
fn first_load_then_only_what_changed() {
    let cs = companies();
    let mut w = World::default();
    let month1 =
        vec![rec(1, "C010", "张三", "财务部"), rec(2, "C010", "李四", "财务部/一科"), rec(3, "C011", "王五", "")];
    let d = w.run(&cs, &month1);
    assert_eq!(
        render(&d),
        [
            "create dept G000公司",
            "create dept C010公司",
            "create dept C011公司",
            "create dept 财务部",
            "create dept 一科",
            "create zhangsan enable=true",
            "create lisi enable=true",
            "create wangwu enable=true"
        ]
    );
    // Parents first: every department's parent is the root or one made before it.
    let mut known = HashSet::from([1i64]);
    for q in &d.ops {
        if let WecomOp::CreateDepartment { id, parent, .. } = &q.op {
            assert!(known.contains(parent), "{parent} before {id}");
            known.insert(*id);
        }
    }
    let WecomOp::PutMember { member, .. } = &d.ops[5].op else { panic!() };
    assert_eq!(member.department, vec![w.dept("dept:C010:财务部").id]);
    assert_eq!(member.extattr, vec![("职级".to_string(), "M12".to_string())]);
    // Nothing changed: nothing to send.
    assert!(w.run(&cs, &month1).is_empty());

    // A leaver is disabled, not deleted; a rehire enables the same member.
    let d = w.run(&cs, &month1[..2]);
    assert_eq!(render(&d), vec!["update wangwu enable=false"]);
    let d = w.run(&cs, &month1);
    assert_eq!(render(&d), vec!["update wangwu enable=true"]);
}

#[test]
fn renamed_department_keeps_its_id_and_moves_cross_company() {
    let cs = companies();
    let mut w = World::default();
    w.run(&cs, &[rec(1, "C010", "张三", "财务部"), rec(2, "C010", "李四", "财务部"), rec(3, "C010", "王五", "人事部")]);
    let id = w.dept("dept:C010:财务部").id;
    // Both members follow 财务部 → 财务管理部: renamed in place, same id.
    let d = w.run(
        &cs,
        &[rec(1, "C010", "张三", "财务管理部"), rec(2, "C010", "李四", "财务管理部"), rec(3, "C010", "王五", "人事部")],
    );
    assert_eq!(render(&d), vec!["update dept 财务管理部", "update zhangsan enable=true", "update lisi enable=true"]);
    assert_eq!(w.dept("dept:C010:财务管理部").id, id);
    assert!(!w.depts.iter().any(|x| x.key == "dept:C010:财务部"));
    // A cross-company move updates the same member into the new company's department.
    let d = w.run(
        &cs,
        &[rec(1, "C010", "张三", "财务管理部"), rec(2, "C011", "李四", "财务部"), rec(3, "C010", "王五", "人事部")],
    );
    assert_eq!(render(&d), vec!["create dept C011公司", "create dept 财务部", "update lisi enable=true"]);
    assert_eq!(w.tracked[&PersonKey::from("k2".to_string())].dept, "dept:C011:财务部");
}

#[test]
fn long_texts_are_cut_with_a_warning() {
    let mut p = rec(1, "C010", &"长".repeat(70), "部").profile;
    p.title = "职".repeat(130);
    let (m, warnings) = member_of(&Settings::default(), "x", &p, "C", 5, true);
    assert_eq!(m.name.chars().count(), NAME_MAX);
    assert_eq!(m.position.chars().count(), POSITION_MAX);
    assert_eq!(warnings.len(), 2);
}

#[test]
fn reordered_departments_are_updated_in_place() {
    let cs = companies();
    let mut w = World::default();
    let month1 =
        vec![rec(1, "C010", "张三", "财务部"), rec(2, "C010", "李四", "人事部"), rec(3, "C010", "王五", "行政部")];
    w.run(&cs, &month1);
    let (fin, hr, admin) =
        (w.dept("dept:C010:财务部").clone(), w.dept("dept:C010:人事部").clone(), w.dept("dept:C010:行政部").clone());
    assert!(fin.order > hr.order && hr.order > admin.order, "siblings as first seen in the roster");
    // 人事部 now first appears before 财务部: exactly those two move, in place.
    let month2 = vec![month1[1].clone(), month1[0].clone(), month1[2].clone()];
    let d = w.run(&cs, &month2);
    let mut ops = render(&d);
    ops.sort();
    assert_eq!(ops, ["update dept 人事部", "update dept 财务部"]);
    assert_eq!((w.dept("dept:C010:人事部").id, w.dept("dept:C010:人事部").order), (hr.id, fin.order));
    assert_eq!((w.dept("dept:C010:财务部").id, w.dept("dept:C010:财务部").order), (fin.id, hr.order));
    assert_eq!(w.dept("dept:C010:行政部").order, admin.order);
    assert!(w.run(&cs, &month2).is_empty());
}
