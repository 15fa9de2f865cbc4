//! The company list: rows, then the tree.

use super::*;
use crate::source::{SourceError, read_companies};

const HEADER: &str = "公司编码,公司名称,上级公司编码,企业级别,运营模式";

fn read(text: &str) -> (std::path::PathBuf, Result<crate::source::CompaniesRead, SourceError>) {
    let d = Dir::new();
    let p = d.write("companies.csv", text);
    let r = read_companies(&p, &limits());
    (p, r)
}

#[test]
fn a_valid_tree() {
    let (_, r) = read(&format!(
        "{HEADER}\nG,集团总部,,集团,集团统一运营\nA,甲公司,G,1,集团统一运营\nB,乙公司,A,二级,独立运营\nN,新公司,G,未定级,统一运营\n"
    ));
    let r = r.unwrap();
    assert_eq!(
        r.companies,
        vec![
            company("G", "集团总部", None, Tier::Hq, OperatingMode::GroupOperated),
            company("A", "甲公司", Some("G"), Tier::Tier1, OperatingMode::GroupOperated),
            company("B", "乙公司", Some("A"), Tier::Tier2, OperatingMode::Independent),
            company("N", "新公司", Some("G"), Tier::Unrated, OperatingMode::GroupOperated),
        ]
    );
    assert_eq!((r.rejected.len(), r.rows), (0, 4));
}

#[test]
fn english_headers() {
    let (_, r) = read("Code,Name,Parent_Code,Tier,Operating Mode\nG,Group,,hq,group\nX,Sub,G,tier 1,independent\n");
    let r = r.unwrap();
    assert_eq!(r.companies[1], company("X", "Sub", Some("G"), Tier::Tier1, OperatingMode::Independent));
}

#[test]
fn unknown_parent_is_rejected_with_its_subtree() {
    let (p, r) = read(&format!(
        "{HEADER}\nG,集团总部,,集团,集团统一运营\nA,甲公司,Q,1,集团统一运营\nB,乙公司,A,2,独立运营\nC,丙公司,G,2,独立运营\n"
    ));
    let r = r.unwrap();
    assert_eq!(r.companies.iter().map(|c| c.code.0.as_str()).collect::<Vec<_>>(), ["G", "C"]);
    assert_eq!(
        r.rejected,
        vec![
            err(&p, 3, "上级公司编码", "unknown parent company `Q`"),
            err(&p, 4, "上级公司编码", "parent company `A` was rejected (row 3)"),
        ]
    );
    assert_eq!(r.rows, 4);
}

#[test]
fn bad_tier_and_mode() {
    let (p, r) = read(&format!("{HEADER}\nG,集团总部,,集团,集团统一运营\nA,甲公司,G,5,外包\nB,乙公司,A,2,独立运营\n"));
    let r = r.unwrap();
    assert_eq!(r.companies.len(), 1);
    assert_eq!(
        r.rejected,
        vec![
            err(&p, 3, "企业级别", "`5` is not a tier (集团, 1, 2, 3, 4 or 未定级)"),
            err(&p, 3, "运营模式", "`外包` is not an operating mode (集团统一运营 or 独立运营)"),
            err(&p, 4, "上级公司编码", "parent company `A` was rejected (row 3)"),
        ]
    );
}

#[test]
fn duplicate_code_empty_values_and_own_parent() {
    let (p, r) = read(&format!(
        "{HEADER}\nG,集团总部,,集团,集团统一运营\nG,另一个,,1,集团统一运营\n,无编码,G,1,独立运营\nS,自己,S,1,独立运营\n"
    ));
    let r = r.unwrap();
    assert_eq!(r.companies.len(), 1);
    assert_eq!(
        r.rejected,
        vec![
            err(&p, 3, "公司编码", "company code `G` already on row 2"),
            err(&p, 4, "公司编码", "required value is empty"),
            err(&p, 5, "上级公司编码", "a company cannot be its own parent"),
        ]
    );
}

#[test]
fn a_cycle_stops_the_run() {
    let (p, r) = read(&format!("{HEADER}\nG,集团总部,,集团,集团统一运营\nA,甲,B,1,独立运营\nB,乙,A,1,独立运营\n"));
    let e = r.unwrap_err();
    assert!(matches!(e, SourceError::Invalid { .. }));
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{}: company list: company `", p.display()))
            && shown.ends_with("is its own ancestor"),
        "{shown}"
    );
}

#[test]
fn missing_tier_column() {
    let (p, r) = read("公司编码,公司名称,上级公司编码,运营模式\nG,集团总部,,集团统一运营\n");
    assert_eq!(
        r.unwrap_err().to_string(),
        format!("{}: missing column 企业级别 (expected one of: 企业级别, 公司级别, tier)", p.display())
    );
}
