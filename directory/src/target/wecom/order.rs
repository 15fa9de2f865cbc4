//! Where each department sits among its siblings, from the roster: WeCom lists siblings by their
//! `order` (在父部门中的次序值, larger first). Companies keep the company list's order; a
//! department comes before its siblings that first appear later in the roster (row order).
//! Dense ranks below a fixed top, so a department added at the end moves no sibling.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

use super::{company_key, department_key};
use crate::Company;

/// The `order` of the first sibling; the next gets one less.
pub const ORDER_TOP: i64 = 100_000_000;

/// Desired `order` by department key (`company:C`, `dept:C:path`): one entry per distinct
/// department.
pub type DeptOrder = BTreeMap<String, i64>;

/// The order of every company and of every department the rows name, `rows` being (company
/// code, department path) in roster order.
pub fn roster_order<'a>(companies: &[Company], rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> DeptOrder {
    let mut out = DeptOrder::new();
    let mut next: HashMap<String, i64> = HashMap::new();
    let mut place = |out: &mut DeptOrder, key: String, parent: String| {
        if let Entry::Vacant(e) = out.entry(key) {
            let rank = next.entry(parent).or_default();
            e.insert(ORDER_TOP - *rank);
            *rank += 1;
        }
    };
    for c in companies {
        let parent = c.parent.as_ref().map_or_else(String::new, |p| company_key(&p.0));
        place(&mut out, company_key(&c.code.0), parent);
    }
    for (code, path) in rows {
        let mut parent = company_key(code);
        let mut prefix = String::new();
        for seg in path.split('/').map(str::trim).filter(|s| !s.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(seg);
            let key = department_key(code, &prefix);
            place(&mut out, key.clone(), parent);
            parent = key;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompanyCode, OperatingMode, Tier};

    fn company(code: &str, parent: Option<&str>) -> Company {
        Company {
            code: CompanyCode(code.into()),
            name: code.into(),
            parent: parent.map(|p| CompanyCode(p.into())),
            tier: Tier::Unrated,
            mode: OperatingMode::GroupOperated,
        }
    }

    #[test]
    fn siblings_as_first_seen() {
        let companies = [company("G", None), company("B", Some("G")), company("A", Some("G"))];
        let rows = [("A", "研发部/后端"), ("B", "财务部"), ("A", "行政部"), ("A", "研发部/前端"), ("A", "研发部")];
        let o = roster_order(&companies, rows);
        assert_eq!(o["company:G"], ORDER_TOP);
        assert!(o["company:B"] > o["company:A"], "companies in the list's order");
        assert!(o["dept:A:研发部"] > o["dept:A:行政部"]);
        assert!(o["dept:A:研发部/后端"] > o["dept:A:研发部/前端"]);
        assert_eq!(o["dept:B:财务部"], ORDER_TOP, "first among its own siblings");
        assert_eq!(o.len(), 3 + 5);
    }
}
