//! Companies of the group: the tree, the tier (集团 / 一级..四级 / 未定级) and the operating mode.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DirectoryError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CompanyCode(pub String);

impl fmt::Display for CompanyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Hq,
    Tier1,
    Tier2,
    Tier3,
    Tier4,
    Unrated,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Hq => "hq",
            Tier::Tier1 => "tier1",
            Tier::Tier2 => "tier2",
            Tier::Tier3 => "tier3",
            Tier::Tier4 => "tier4",
            Tier::Unrated => "unrated",
        }
    }

    /// The label of the company list (企业级别).
    pub fn label_zh(self) -> &'static str {
        match self {
            Tier::Hq => "集团",
            Tier::Tier1 => "一级企业",
            Tier::Tier2 => "二级企业",
            Tier::Tier3 => "三级企业",
            Tier::Tier4 => "四级企业",
            Tier::Unrated => "新加入未定级企业",
        }
    }
}

impl FromStr for Tier {
    type Err = String;
    /// Accepts the company list's values (集团, 1–4, 一级…四级, 未定级) and the English names.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        Ok(match t.to_ascii_lowercase().as_str() {
            "集团" | "集团总部" | "总部" | "hq" | "headquarters" | "group" | "0" => Tier::Hq,
            "1" | "一级" | "一级企业" | "tier1" | "tier 1" => Tier::Tier1,
            "2" | "二级" | "二级企业" | "tier2" | "tier 2" => Tier::Tier2,
            "3" | "三级" | "三级企业" | "tier3" | "tier 3" => Tier::Tier3,
            "4" | "四级" | "四级企业" | "tier4" | "tier 4" => Tier::Tier4,
            "未定级" | "新加入未定级" | "新加入未定级企业" | "unrated" => Tier::Unrated,
            _ => return Err(format!("`{t}` is not a tier (集团, 1, 2, 3, 4 or 未定级)")),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatingMode {
    /// 集团统一运营: the group IT center acts on confirmed requests.
    GroupOperated,
    /// 独立运营: the company's IT delegate acts inside the company.
    Independent,
}

impl OperatingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OperatingMode::GroupOperated => "group_operated",
            OperatingMode::Independent => "independent",
        }
    }
}

impl FromStr for OperatingMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        Ok(match t.to_ascii_lowercase().as_str() {
            "集团统一运营" | "统一运营" | "group" | "group_operated" | "group-operated" => {
                OperatingMode::GroupOperated
            }
            "独立运营" | "independent" => OperatingMode::Independent,
            _ => return Err(format!("`{t}` is not an operating mode (集团统一运营 or 独立运营)")),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    pub code: CompanyCode,
    pub name: String,
    pub parent: Option<CompanyCode>,
    pub tier: Tier,
    pub mode: OperatingMode,
}

/// Companies by code, checked as a tree: unique codes, known parents, no cycles.
#[derive(Debug, Clone, Default)]
pub struct CompanyIndex {
    by_code: HashMap<CompanyCode, Company>,
}

impl CompanyIndex {
    pub fn new(companies: impl IntoIterator<Item = Company>) -> Result<Self, DirectoryError> {
        let mut by_code = HashMap::new();
        for c in companies {
            if let Some(prev) = by_code.insert(c.code.clone(), c) {
                return Err(DirectoryError::CompanyList(format!("company code `{}` appears twice", prev.code)));
            }
        }
        let index = Self { by_code };
        for c in index.by_code.values() {
            if let Some(p) = &c.parent
                && !index.by_code.contains_key(p)
            {
                return Err(DirectoryError::CompanyList(format!("company `{}` names unknown parent `{p}`", c.code)));
            }
            let mut seen = 0usize;
            let mut cur = c.parent.as_ref();
            while let Some(p) = cur {
                seen += 1;
                if p == &c.code || seen > index.by_code.len() {
                    return Err(DirectoryError::CompanyList(format!("company `{}` is its own ancestor", c.code)));
                }
                cur = index.by_code.get(p).and_then(|x| x.parent.as_ref());
            }
        }
        Ok(index)
    }

    pub fn get(&self, code: &CompanyCode) -> Option<&Company> {
        self.by_code.get(code)
    }

    pub fn contains(&self, code: &CompanyCode) -> bool {
        self.by_code.contains_key(code)
    }

    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }

    /// Companies sorted parents first (then by code), for deterministic writes.
    pub fn sorted(&self) -> Vec<&Company> {
        let depth = |c: &Company| {
            let mut d = 0;
            let mut cur = c.parent.as_ref();
            while let Some(p) = cur {
                d += 1;
                cur = self.by_code.get(p).and_then(|x| x.parent.as_ref());
            }
            d
        };
        let mut v: Vec<&Company> = self.by_code.values().collect();
        v.sort_by(|a, b| depth(a).cmp(&depth(b)).then_with(|| a.code.cmp(&b.code)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn co(code: &str, parent: Option<&str>) -> Company {
        Company {
            code: CompanyCode(code.into()),
            name: code.into(),
            parent: parent.map(|p| CompanyCode(p.into())),
            tier: Tier::Tier1,
            mode: OperatingMode::GroupOperated,
        }
    }

    #[test]
    fn tiers_and_modes_parse_from_the_company_list_values() {
        assert_eq!("集团".parse(), Ok(Tier::Hq));
        assert_eq!(" 2 ".parse(), Ok(Tier::Tier2));
        assert_eq!("四级".parse(), Ok(Tier::Tier4));
        assert_eq!("未定级".parse(), Ok(Tier::Unrated));
        assert!("5".parse::<Tier>().is_err());
        assert_eq!("独立运营".parse(), Ok(OperatingMode::Independent));
        assert_eq!("集团统一运营".parse(), Ok(OperatingMode::GroupOperated));
        assert!("外包".parse::<OperatingMode>().is_err());
    }

    #[test]
    fn tree_is_checked() {
        assert!(CompanyIndex::new([co("G", None), co("A", Some("G")), co("B", Some("A"))]).is_ok());
        let dup = CompanyIndex::new([co("G", None), co("G", None)]).expect_err("dup");
        assert!(dup.to_string().contains("twice"));
        let unknown = CompanyIndex::new([co("A", Some("X"))]).expect_err("unknown");
        assert!(unknown.to_string().contains("unknown parent `X`"));
        let cycle = CompanyIndex::new([co("A", Some("B")), co("B", Some("A"))]).expect_err("cycle");
        assert!(cycle.to_string().contains("own ancestor"));
    }

    #[test]
    fn sorted_puts_parents_first() {
        let idx = CompanyIndex::new([co("C", Some("B")), co("B", Some("A")), co("A", None)]).expect("ok");
        let codes: Vec<_> = idx.sorted().iter().map(|c| c.code.0.clone()).collect();
        assert_eq!(codes, ["A", "B", "C"]);
    }
}
