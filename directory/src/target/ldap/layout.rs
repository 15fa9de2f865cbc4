//! Where things live in the directory (defaults; names come from configuration):
//! `ou=<company code>` nested by parent company under the base DN, `ou=<segment>` per department
//! path segment under its company, `uid=<login>` under its department, and `groupOfNames` entries
//! under `ou=<groups_ou>`: one per company, one per department, one for confidential posts.

use std::collections::BTreeMap;

use orgid_config::{LdapAttributes, LdapConfig};

use super::{AccountEntry, Dn};
use crate::{CompanyCode, CompanyIndex, Profile};

/// Attribute name → values (an empty list removes the attribute in a replace).
pub type Attrs = BTreeMap<String, Vec<String>>;

/// The value of `pwdAccountLockedTime` that ppolicy reads as "locked until an administrator
/// unlocks".
pub const LOCKED_FOREVER: &str = "000001010000Z";
pub const LOCK_ATTR: &str = "pwdAccountLockedTime";

#[derive(Debug, Clone)]
pub struct Layout {
    pub base: Dn,
    pub groups: Dn,
    pub attrs: LdapAttributes,
}

/// Stable keys of the nodes orgid creates, independent of where they currently are.
pub mod keys {
    pub fn company(code: &str) -> String {
        format!("company:{code}")
    }
    pub fn department(code: &str, path: &str) -> String {
        format!("dept:{code}:{path}")
    }
    pub fn company_group(code: &str) -> String {
        format!("group:company:{code}")
    }
    pub fn department_group(code: &str, path: &str) -> String {
        format!("group:dept:{code}:{path}")
    }
    pub const CONFIDENTIAL_GROUP: &str = "group:confidential";
    pub const GROUPS_OU: &str = "ou:groups";
}

impl Layout {
    pub fn new(cfg: &LdapConfig) -> Result<Layout, String> {
        let base: Dn = cfg.base_dn.parse().map_err(|e| format!("ldap.base_dn: {e}"))?;
        if base.is_empty() {
            return Err("ldap.base_dn must not be empty".into());
        }
        let groups = base.child("ou", &cfg.groups_ou);
        Ok(Layout { base, groups, attrs: cfg.attributes.clone() })
    }

    /// `ou=<code>` under its parent company's OU, up to the base DN.
    pub fn company_dn(&self, companies: &CompanyIndex, code: &CompanyCode) -> Dn {
        let mut chain = vec![code.0.clone()];
        let mut cur = companies.get(code).and_then(|c| c.parent.clone());
        while let Some(p) = cur {
            if chain.len() > companies.len() {
                break; // a cycle; CompanyIndex refuses those, this only guards the loop
            }
            chain.push(p.0.clone());
            cur = companies.get(&p).and_then(|c| c.parent.clone());
        }
        chain.iter().rev().fold(self.base.clone(), |dn, c| dn.child("ou", c))
    }

    /// Department OUs nest by path segment: `财务部/一科` → `ou=一科,ou=财务部,<company>`.
    pub fn department_dn(&self, company_dn: &Dn, path: &str) -> Dn {
        path.split('/').filter(|s| !s.is_empty()).fold(company_dn.clone(), |dn, seg| dn.child("ou", seg))
    }

    /// Every department path prefix of `path` (`财务部`, `财务部/一科`), outermost first.
    pub fn department_prefixes(path: &str) -> Vec<String> {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        (1..=segs.len()).map(|n| segs[..n].join("/")).collect()
    }

    pub fn company_group(&self, code: &str) -> Dn {
        self.groups.child("cn", code)
    }

    pub fn department_group(&self, code: &str, path: &str) -> Dn {
        self.groups.child("cn", &format!("{code}/{path}"))
    }

    pub fn confidential_group(&self) -> Dn {
        self.groups.child("cn", "confidential")
    }

    /// `groupOfNames` requires a member; every group keeps this one so it can never be empty.
    pub fn placeholder_member(&self) -> Dn {
        self.groups.child("cn", "orgid-placeholder")
    }

    /// The groups (key, DN) an active account belongs to.
    pub fn groups_of(&self, profile: &Profile) -> Vec<(String, Dn)> {
        let code = &profile.company.0;
        let mut out = vec![(keys::company_group(code), self.company_group(code))];
        if !profile.department.is_empty() {
            out.push((
                keys::department_group(code, &profile.department),
                self.department_group(code, &profile.department),
            ));
        }
        if profile.confidential {
            out.push((keys::CONFIDENTIAL_GROUP.to_string(), self.confidential_group()));
        }
        out
    }

    /// The attributes of an account's entry (never the ID number). Empty fields are left out.
    pub fn user_attrs(&self, login: &str, profile: &Profile, company_name: &str) -> Attrs {
        self.entry_attrs(&self.account_entry(login, profile, company_name))
    }

    /// The facts of an account's entry, as queued in the outbox.
    pub fn account_entry(&self, login: &str, profile: &Profile, company_name: &str) -> AccountEntry {
        AccountEntry {
            login: login.to_string(),
            name: profile.name.clone(),
            employee_number: profile.employee_number.clone(),
            mail: profile.email.clone(),
            mobile: profile.mobile.clone(),
            title: profile.title.clone(),
            grade: profile.grade.map(|g| g.to_string()).unwrap_or_default(),
            company_name: company_name.to_string(),
            department: profile.department.clone(),
        }
    }

    /// Every managed attribute of an entry with its value, an empty list where the fact is empty
    /// (a replace with these removes what no longer applies).
    pub fn entry_replace(&self, e: &AccountEntry) -> Attrs {
        let a = &self.attrs;
        let (sn, given) = split_name(&e.name);
        let one = |v: &str| if v.is_empty() { Vec::new() } else { vec![v.to_string()] };
        let mut attrs = Attrs::new();
        attrs.insert("cn".into(), one(&e.name));
        attrs.insert("sn".into(), one(if sn.is_empty() { &e.name } else { &sn }));
        attrs.insert("givenName".into(), one(&given));
        for (k, v) in [
            (&a.display_name, &e.name),
            (&a.employee_number, &e.employee_number),
            (&a.mail, &e.mail),
            (&a.mobile, &e.mobile),
            (&a.title, &e.title),
            (&a.grade, &e.grade),
            (&a.company, &e.company_name),
            (&a.department, &e.department),
        ] {
            attrs.insert(k.clone(), one(v));
        }
        attrs
    }

    /// The attributes of a new entry: the managed ones that have a value, `uid` and the classes.
    pub fn entry_attrs(&self, e: &AccountEntry) -> Attrs {
        let mut attrs: Attrs = self.entry_replace(e).into_iter().filter(|(_, v)| !v.is_empty()).collect();
        attrs.insert("uid".into(), vec![e.login.clone()]);
        attrs.insert(
            "objectClass".into(),
            ["top", "person", "organizationalPerson", "inetOrgPerson"].iter().map(|s| s.to_string()).collect(),
        );
        attrs
    }

    /// The attribute names orgid writes on accounts: a replace of these covers every change.
    /// Derived from [`Layout::entry_replace`], so the two can never disagree.
    pub fn managed_user_attrs(&self) -> Vec<String> {
        self.entry_replace(&AccountEntry::default()).into_keys().collect()
    }
}

pub fn ou_attrs(name: &str) -> Attrs {
    let mut attrs = Attrs::new();
    attrs.insert("objectClass".into(), vec!["top".into(), "organizationalUnit".into()]);
    attrs.insert("ou".into(), vec![name.to_string()]);
    attrs
}

pub fn group_attrs(cn: &str, description: &str, placeholder: &Dn) -> Attrs {
    let mut attrs = Attrs::new();
    attrs.insert("objectClass".into(), vec!["top".into(), "groupOfNames".into()]);
    attrs.insert("cn".into(), vec![cn.to_string()]);
    if !description.is_empty() {
        attrs.insert("description".into(), vec![description.to_string()]);
    }
    attrs.insert("member".into(), vec![placeholder.to_string()]);
    attrs
}

/// Two-character Chinese surnames (复姓) that must not be cut after their first character.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "慕容", "尉迟", "长孙", "宇文", "司徒", "夏侯", "独孤",
    "南宫", "西门", "公孙", "轩辕", "端木", "澹台", "呼延", "申屠", "万俟", "闻人", "赫连", "钟离", "宗政", "濮阳",
    "太史", "公冶", "东郭", "百里", "第五", "司空", "左丘", "拓跋", "仲孙", "单于", "亓官", "司寇", "子车", "颛孙",
    "壤驷", "公良", "漆雕", "乐正", "宰父", "谷梁", "梁丘", "段干", "巫马", "公西", "东门", "羊舌", "微生", "公羊",
    "梁丘", "夹谷", "鲜于", "闾丘",
];

/// (surname, given name). Chinese names: a compound surname when one applies, else the first
/// character. Names with `·` (transliterated): the part after the last `·` is the surname. Latin
/// names: the last word.
pub fn split_name(name: &str) -> (String, String) {
    let name = name.trim();
    if let Some((given, family)) = name.rsplit_once(['·', '•']) {
        return (family.trim().to_string(), given.trim().to_string());
    }
    let is_cjk = name.chars().next().is_some_and(|c| ('\u{3400}'..='\u{9FFF}').contains(&c));
    if is_cjk {
        let chars: Vec<char> = name.chars().collect();
        if chars.len() > 2 && COMPOUND_SURNAMES.iter().any(|s| name.starts_with(s)) {
            return (chars[..2].iter().collect(), chars[2..].iter().collect());
        }
        if chars.len() >= 2 {
            return (chars[..1].iter().collect(), chars[1..].iter().collect());
        }
        return (name.to_string(), String::new());
    }
    match name.rsplit_once(' ') {
        Some((given, family)) => (family.to_string(), given.trim().to_string()),
        None => (name.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Company, OperatingMode, Tier};

    fn layout() -> Layout {
        Layout::new(&LdapConfig::default()).expect("layout")
    }

    #[test]
    fn names_split_with_compound_surnames() {
        let s = |n: &str| split_name(n);
        assert_eq!(s("张三"), ("张".into(), "三".into()));
        assert_eq!(s("欧阳娜娜"), ("欧阳".into(), "娜娜".into()));
        assert_eq!(s("司马光"), ("司马".into(), "光".into()));
        assert_eq!(s("欧阳"), ("欧".into(), "阳".into()), "two characters: one-character surname 欧");
        assert_eq!(s("王"), ("王".into(), String::new()));
        assert_eq!(s("阿依古丽·买买提"), ("买买提".into(), "阿依古丽".into()));
        assert_eq!(s("John Smith"), ("Smith".into(), "John".into()));
        assert_eq!(s("Madonna"), ("Madonna".into(), String::new()));
    }

    #[test]
    fn companies_nest_and_departments_nest_by_path() {
        let co = |c: &str, p: Option<&str>| Company {
            code: CompanyCode(c.into()),
            name: c.into(),
            parent: p.map(|p| CompanyCode(p.into())),
            tier: Tier::Tier1,
            mode: OperatingMode::GroupOperated,
        };
        let idx =
            CompanyIndex::new([co("G000", None), co("C010", Some("G000")), co("C020", Some("C010"))]).expect("tree");
        let l = layout();
        let c = l.company_dn(&idx, &CompanyCode("C020".into()));
        assert_eq!(c.to_string(), "ou=C020,ou=C010,ou=G000,dc=example,dc=com");
        assert_eq!(
            l.department_dn(&c, "财务部/一科").to_string(),
            "ou=一科,ou=财务部,ou=C020,ou=C010,ou=G000,dc=example,dc=com"
        );
        assert_eq!(l.department_dn(&c, ""), c);
        assert_eq!(Layout::department_prefixes("财务部/一科"), ["财务部", "财务部/一科"]);
        assert_eq!(
            l.department_group("C020", "财务部/一科").to_string(),
            "cn=C020/财务部/一科,ou=groups,dc=example,dc=com"
        );
    }

    #[test]
    fn user_attributes_follow_the_mapping_and_skip_empty_values() {
        let mut cfg = LdapConfig::default();
        cfg.attributes.grade = "businessCategory".into();
        let l = Layout::new(&cfg).expect("layout");
        let p = Profile {
            employee_number: "A01".into(),
            name: "欧阳娜娜".into(),
            gender: None,
            company: CompanyCode("C010".into()),
            department: "财务部".into(),
            title: "经理".into(),
            grade: "M12".parse().ok(),
            mobile: String::new(),
            email: "a@example.com".into(),
            hire_date: None,
            confidential: true,
        };
        let a = l.user_attrs("ouyangnana", &p, "示例公司");
        let get = |k: &str| a.get(k).map(|v| v.join("|")).unwrap_or_default();
        assert_eq!(get("uid"), "ouyangnana");
        assert_eq!(
            (get("cn"), get("sn"), get("givenName"), get("displayName")),
            ("欧阳娜娜".into(), "欧阳".into(), "娜娜".into(), "欧阳娜娜".into())
        );
        assert_eq!(
            (get("employeeNumber"), get("businessCategory"), get("o"), get("ou")),
            ("A01".into(), "M12".into(), "示例公司".into(), "财务部".into())
        );
        assert!(!a.contains_key("mobile") && !a.contains_key("employeeType"));
        assert_eq!(get("objectClass"), "top|person|organizationalPerson|inetOrgPerson");
        let groups: Vec<String> = l.groups_of(&p).into_iter().map(|(k, _)| k).collect();
        assert_eq!(groups, ["group:company:C010", "group:dept:C010:财务部", "group:confidential"]);
    }
}
