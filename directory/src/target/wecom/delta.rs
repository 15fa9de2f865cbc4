//! From a run's decisions to WeCom operations: which departments to create, rename or move (in
//! place: a department keeps its id, so its members never leave it), and which members to
//! create, update, disable or enable. Incremental: only what the run changed is touched, so a run
//! without changes sends nothing.
//!
//! Phases: `1..=49` departments, by depth so parents come first; 50 members.

use std::collections::{BTreeMap, HashMap};

use orgid_config::WecomConfig;

use super::ops::{Member, NAME_MAX, POSITION_MAX, QueuedOp, TrackedDept, TrackedMember, WecomDelta, WecomOp};
use super::{DeptOrder, clean_department_name, company_key, department_key, truncate_chars};
use crate::{AccountChange, AccountStatus, CompanyCode, CompanyIndex, PersonKey, Profile};

pub const PHASE_MEMBERS: u8 = 50;
/// Department ids orgid gives start here (WeCom numbers hand-made ones from 2 up).
const FIRST_ID: i64 = 100_000;

/// What of `[wecom]` the pure part needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub root: i64,
    pub attr_grade: String,
    pub attr_company: String,
    pub attr_employee_number: String,
}

impl Settings {
    pub fn new(cfg: &WecomConfig) -> Self {
        Settings {
            root: cfg.root_department,
            attr_grade: cfg.attr_grade.clone(),
            attr_company: cfg.attr_company.clone(),
            attr_employee_number: cfg.attr_employee_number.clone(),
        }
    }
}

pub struct DeltaInput<'a> {
    pub settings: &'a Settings,
    /// Companies after the run.
    pub companies: &'a CompanyIndex,
    pub changes: &'a [AccountChange],
    /// Profiles after the run, for every changed account.
    pub profiles: &'a HashMap<&'a PersonKey, &'a Profile>,
    /// Every tracked department.
    pub departments: &'a [TrackedDept],
    /// Tracked members of the changed accounts and of every department in [`left_departments`].
    pub tracked: &'a HashMap<PersonKey, TrackedMember>,
    /// The departments' order from the whole roster ([`super::roster_order`]); empty when the
    /// run has no roster (an approval, a request): orders are then left as they are.
    pub order: &'a DeptOrder,
}

/// The department keys some account of the run leaves inside its company (possibly renamed
/// departments): load their tracked members before calling [`delta`].
pub fn left_departments(changes: &[AccountChange]) -> Vec<String> {
    let mut v: Vec<String> =
        department_changes(changes).into_iter().map(|(code, old, _)| department_key(&code, &old)).collect();
    v.dedup();
    v
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

/// The member an account is, with the texts cut to WeCom's limits (and why, for the log).
pub fn member_of(
    settings: &Settings,
    login: &str,
    profile: &Profile,
    company_name: &str,
    department: i64,
    enable: bool,
) -> (Member, Vec<String>) {
    let mut warnings = Vec::new();
    let (name, cut) = truncate_chars(profile.name.trim(), NAME_MAX);
    if cut {
        warnings.push(format!("{login}: name longer than {NAME_MAX} characters, cut for WeCom"));
    }
    let (position, cut) = truncate_chars(profile.title.trim(), POSITION_MAX);
    if cut {
        warnings.push(format!("{login}: position longer than {POSITION_MAX} characters, cut for WeCom"));
    }
    let mut extattr = Vec::new();
    let mut attr = |key: &str, value: String| {
        if !key.is_empty() {
            extattr.push((key.to_string(), truncate_chars(&value, 32).0));
        }
    };
    attr(&settings.attr_grade, profile.grade.map(|g| g.to_string()).unwrap_or_default());
    attr(&settings.attr_company, company_name.to_string());
    attr(&settings.attr_employee_number, profile.employee_number.clone());
    let member = Member {
        userid: login.to_string(),
        name,
        mobile: profile.mobile.trim().to_string(),
        email: profile.email.trim().to_string(),
        position,
        department: vec![department],
        enable,
        extattr,
    };
    (member, warnings)
}

struct Builder<'a> {
    input: &'a DeltaInput<'a>,
    /// Departments as they will be after this delta, by key.
    depts: HashMap<String, TrackedDept>,
    /// Depth of each department key (1: a top company).
    depth: HashMap<String, u8>,
    next_id: i64,
    touched: BTreeMap<String, TrackedDept>,
    renamed: Vec<(String, String)>,
    ops: Vec<QueuedOp>,
}

impl Builder<'_> {
    fn push(&mut self, key: String, phase: u8, op: WecomOp) {
        self.ops.push(QueuedOp { key, phase, op });
    }

    fn company_name(&self, code: &CompanyCode) -> String {
        self.input.companies.get(code).map(|c| c.name.clone()).unwrap_or_else(|| code.0.clone())
    }

    fn company_depth(&self, code: &CompanyCode) -> u8 {
        let mut depth = 1u8;
        let mut at = self.input.companies.get(code).and_then(|c| c.parent.clone());
        while let Some(p) = at {
            depth = depth.saturating_add(1);
            at = self.input.companies.get(&p).and_then(|c| c.parent.clone());
        }
        depth
    }

    fn create(&mut self, key: String, name: String, parent: i64, depth: u8) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let order = self.input.order.get(&key).copied().unwrap_or_default();
        let dept = TrackedDept { key: key.clone(), id, name: name.clone(), parent, order };
        self.push(format!("dept:{id}"), depth.clamp(1, 49), WecomOp::CreateDepartment { id, name, parent, order });
        self.depts.insert(key.clone(), dept.clone());
        self.depth.insert(key.clone(), depth);
        self.touched.insert(key, dept);
        id
    }

    fn update(&mut self, key: &str, name: String, parent: i64, depth: u8) {
        let Some(d) = self.depts.get_mut(key) else { return };
        let order = self.input.order.get(key).copied().unwrap_or(d.order);
        if d.name == name && d.parent == parent && d.order == order {
            return;
        }
        d.name = name.clone();
        d.parent = parent;
        d.order = order;
        let (id, dept) = (d.id, d.clone());
        self.touched.insert(key.to_string(), dept);
        self.depth.insert(key.to_string(), depth);
        self.push(format!("dept:{id}"), depth.clamp(1, 49), WecomOp::UpdateDepartment { id, name, parent, order });
    }

    /// The company's department (created with its parents as needed): (id, depth).
    fn ensure_company(&mut self, code: &CompanyCode) -> i64 {
        let key = company_key(&code.0);
        if let Some(d) = self.depts.get(&key) {
            return d.id;
        }
        let parent = match self.input.companies.get(code).and_then(|c| c.parent.clone()) {
            Some(p) => self.ensure_company(&p),
            None => self.input.settings.root,
        };
        let name = clean_department_name(&self.company_name(code));
        let depth = self.company_depth(code);
        self.create(key, name, parent, depth)
    }

    /// The department of a company and path (created with its parents as needed): (key, id).
    fn ensure_department(&mut self, code: &CompanyCode, path: &str) -> (String, i64) {
        let mut parent = (company_key(&code.0), self.ensure_company(code));
        let mut depth = self.company_depth(code);
        let mut prefix = String::new();
        for seg in path.split('/').map(str::trim).filter(|s| !s.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(seg);
            depth = depth.saturating_add(1);
            let key = department_key(&code.0, &prefix);
            let id = match self.depts.get(&key) {
                Some(d) => d.id,
                None => self.create(key.clone(), clean_department_name(seg), parent.1, depth),
            };
            parent = (key, id);
        }
        parent
    }

    /// Renames `old` (and the keys of its sub-departments) to `new`.
    fn rekey(&mut self, old: &str, new: &str) {
        let keys: Vec<String> = self
            .depts
            .keys()
            .filter(|k| k.as_str() == old || k.strip_prefix(old).is_some_and(|r| r.starts_with('/')))
            .cloned()
            .collect();
        for k in keys {
            let new_key = format!("{new}{}", &k[old.len()..]);
            if let Some(mut d) = self.depts.remove(&k) {
                d.key = new_key.clone();
                self.touched.remove(&k);
                self.touched.insert(new_key.clone(), d.clone());
                self.depts.insert(new_key.clone(), d);
            }
            if let Some(depth) = self.depth.remove(&k) {
                self.depth.insert(new_key.clone(), depth);
            }
            self.renamed.push((k, new_key));
        }
    }
}

/// Builds the WeCom side of a run.
pub fn delta(input: &DeltaInput<'_>) -> WecomDelta {
    let depts: HashMap<String, TrackedDept> = input.departments.iter().map(|d| (d.key.clone(), d.clone())).collect();
    let next_id = input.departments.iter().map(|d| d.id + 1).max().unwrap_or(FIRST_ID).max(FIRST_ID);
    let mut b = Builder {
        input,
        depts,
        depth: HashMap::new(),
        next_id,
        touched: BTreeMap::new(),
        renamed: Vec::new(),
        ops: Vec::new(),
    };
    let mut warnings = Vec::new();

    // 1. Companies renamed or moved in the group's tree: their department follows, in place.
    let mut companies: Vec<(CompanyCode, String)> = input
        .departments
        .iter()
        .filter_map(|d| d.key.strip_prefix("company:").map(|c| (CompanyCode(c.to_string()), d.key.clone())))
        .filter(|(code, _)| input.companies.contains(code))
        .collect();
    companies.sort_by_key(|(code, _)| b.company_depth(code));
    for (code, key) in companies {
        let parent = match input.companies.get(&code).and_then(|c| c.parent.clone()) {
            Some(p) => b.ensure_company(&p),
            None => input.settings.root,
        };
        let name = clean_department_name(&b.company_name(&code));
        let depth = b.company_depth(&code);
        b.update(&key, name, parent, depth);
    }

    // 2. Departments renamed: when every tracked member of the old one follows to the same new
    //    one, which does not exist yet, the department is renamed (and moved) in place.
    let changed: HashMap<&PersonKey, &AccountChange> = input.changes.iter().map(|c| (&c.person_key, c)).collect();
    for (code, old, new) in department_changes(input.changes) {
        let (old_key, new_key) = (department_key(&code, &old), department_key(&code, &new));
        if !b.depts.contains_key(&old_key) || b.depts.contains_key(&new_key) {
            continue;
        }
        let mut under = input.tracked.iter().filter(|(_, t)| t.dept == old_key).peekable();
        let all_follow = under.peek().is_some()
            && under.all(|(k, _)| {
                changed.get(k).is_some_and(|c| {
                    c.fields.iter().any(|f| f.field == "department" && f.before == old && f.after == new)
                })
            });
        if !all_follow {
            continue;
        }
        let code = CompanyCode(code);
        let parent = match new.rsplit_once('/') {
            Some((pp, _)) => b.ensure_department(&code, pp).1,
            None => b.ensure_company(&code),
        };
        let seg = new.rsplit('/').next().unwrap_or(&new).to_string();
        let depth = b.company_depth(&code).saturating_add(new.split('/').count() as u8);
        b.rekey(&old_key, &new_key);
        b.update(&new_key, clean_department_name(&seg), parent, depth);
    }

    // 3. Departments of active accounts, then the members.
    let mut members = Vec::with_capacity(input.changes.len());
    let mut member_ops = Vec::with_capacity(input.changes.len());
    for c in input.changes {
        let Some(profile) = input.profiles.get(&c.person_key) else { continue };
        let tracked = input.tracked.get(&c.person_key);
        let active = c.account.status == AccountStatus::Active;
        if !active && tracked.is_none() {
            continue;
        }
        let (dept_key, dept_id) = b.ensure_department(&profile.company, &profile.department);
        let company_name = b.company_name(&profile.company);
        let login = tracked.map_or(c.account.login.as_str(), |t| t.userid.as_str());
        let (member, cut) = member_of(input.settings, login, profile, &company_name, dept_id, active);
        warnings.extend(cut);
        let create = tracked.is_none();
        member_ops.push(QueuedOp {
            key: format!("user:{}", c.person_key),
            phase: PHASE_MEMBERS,
            op: WecomOp::PutMember { member, create },
        });
        members.push((
            c.person_key.clone(),
            Some(TrackedMember { userid: login.to_string(), dept: dept_key, enabled: active }),
        ));
    }
    // 4. Departments the roster reorders: moved among their siblings in place.
    for key in input.order.keys() {
        let Some(d) = b.depts.get(key).cloned() else { continue };
        let depth = match key.strip_prefix("dept:").and_then(|r| r.split_once(':')) {
            Some((code, path)) => {
                b.company_depth(&CompanyCode(code.to_string())).saturating_add(path.split('/').count() as u8)
            }
            None => key.strip_prefix("company:").map_or(1, |code| b.company_depth(&CompanyCode(code.to_string()))),
        };
        b.update(key, d.name, d.parent, depth);
    }
    let mut ops = std::mem::take(&mut b.ops);
    ops.sort_by_key(|o| o.phase); // stable: parents before children, in the order they were made
    ops.extend(member_ops);
    WecomDelta { ops, departments: b.touched.into_values().collect(), renamed: b.renamed, members, warnings }
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
