//! Readers end to end, on synthetic files written to a temporary directory at test time. The
//! people are invented; their ID numbers get a computed GB 11643 check character.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod companies;
mod formats;
mod limits;
mod requests;
mod roster;

use std::path::PathBuf;

use chrono::NaiveDate;
use orgid_directory::{
    Company, CompanyCode, CompanyIndex, Employment, Gender, Grade, IdNumber, OperatingMode, PersonKey, PersonKeyer,
    PersonRecord, Profile, RowError, Tier, Track,
};
use tempfile::TempDir;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// A valid ID number: area 110105, born 1990-01-01, sequence `n`, computed check character.
pub(super) fn id(n: u32) -> String {
    with_check(&format!("11010519900101{:03}", n % 1000))
}

/// Appends the GB 11643 check character to 17 digits.
pub(super) fn with_check(first17: &str) -> String {
    let sum: u32 = first17.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// The same number with a wrong check character.
pub(super) fn bad_check(n: u32) -> String {
    let good = id(n);
    let last = if good.ends_with('0') { '1' } else { '0' };
    format!("{}{last}", &good[..17])
}

pub(super) fn limits() -> orgid_config::LimitsConfig {
    orgid_config::LimitsConfig::default()
}

pub(super) fn keyer() -> PersonKeyer {
    PersonKeyer::new(b"test-secret-0123456789abcdef")
}

pub(super) fn key(n: u32) -> PersonKey {
    keyer().key(&IdNumber::parse(&id(n)).unwrap())
}

fn company(code: &str, name: &str, parent: Option<&str>, tier: Tier, mode: OperatingMode) -> Company {
    Company {
        code: CompanyCode(code.into()),
        name: name.into(),
        parent: parent.map(|p| CompanyCode(p.into())),
        tier,
        mode,
    }
}

/// G 集团总部 ← A 甲公司 ← B 乙公司.
pub(super) fn companies() -> CompanyIndex {
    CompanyIndex::new([
        company("G", "集团总部", None, Tier::Hq, OperatingMode::GroupOperated),
        company("A", "甲公司", Some("G"), Tier::Tier1, OperatingMode::GroupOperated),
        company("B", "乙公司", Some("A"), Tier::Tier2, OperatingMode::Independent),
    ])
    .unwrap()
}

pub(super) fn code(s: &str) -> CompanyCode {
    CompanyCode(s.into())
}

pub(super) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub(super) struct Dir(TempDir);

impl Dir {
    pub fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

pub(super) fn err(file: &std::path::Path, row: u64, column: &str, reason: &str) -> RowError {
    RowError { file: file.display().to_string(), row, column: column.into(), reason: reason.into() }
}

/// The roster's columns, in the order of the forms.
pub(super) const ROSTER_HEADER: [&str; 14] = [
    "公司名称",
    "部门",
    "入职日期",
    "工号",
    "姓名",
    "性别",
    "身份证号码",
    "职务",
    "职级",
    "手机号",
    "公司邮箱",
    "机要岗",
    "状态",
    "离职日期",
];

/// A valid roster row for person `n`, cell by cell in `ROSTER_HEADER` order.
pub(super) fn person_row(n: u32) -> Vec<String> {
    [
        "A".to_owned(),
        "财务部/一科".to_owned(),
        "2020-01-02".to_owned(),
        format!("E{n:04}"),
        format!("测试{n}"),
        "女".to_owned(),
        id(n),
        "会计".to_owned(),
        "P9".to_owned(),
        format!("1380013{n:04}"),
        format!("user{n}@example.cn"),
        "否".to_owned(),
        "在职".to_owned(),
        String::new(),
    ]
    .into()
}

/// What `person_row(n)` reads as.
pub(super) fn person_record(n: u32, source: &str) -> PersonRecord {
    PersonRecord {
        key: key(n),
        profile: Profile {
            employee_number: format!("E{n:04}"),
            name: format!("测试{n}"),
            gender: Some(Gender::Female),
            company: code("A"),
            department: "财务部/一科".into(),
            title: "会计".into(),
            grade: Some(Grade { track: Track::P, level: 9 }),
            mobile: format!("1380013{n:04}"),
            email: format!("user{n}@example.cn"),
            hire_date: Some(date(2020, 1, 2)),
            confidential: false,
        },
        employment: Employment::Active,
        leave_date: None,
        source: source.into(),
    }
}

/// One CSV line, quoting where needed.
pub(super) fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    cells
        .iter()
        .map(|c| {
            let c = c.as_ref();
            if c.contains([',', '"', '\n', '\r']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.to_owned() }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn csv<S: AsRef<str>>(rows: &[Vec<S>]) -> String {
    rows.iter().map(|r| csv_line(r)).collect::<Vec<_>>().join("\r\n") + "\r\n"
}

pub(super) fn roster_csv(rows: &[Vec<String>]) -> String {
    let mut all = vec![ROSTER_HEADER.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()];
    all.extend(rows.iter().cloned());
    csv(&all)
}
