//! Request forms: form 1 (opening) and form 2 (adjustment), told apart by their headers.

use super::*;
use crate::source::{Adjustment, Opening, Requests, SourceError, read_requests};

const FORM1_HEADER: [&str; 11] =
    ["公司名称", "部门", "入职日期", "工号", "姓名", "性别", "身份证号码", "职务", "职级", "手机号", "公司邮箱"];

/// Form 2 as HR fills it in: the after side repeats 姓名 (first occurrence wins).
const FORM2_HEADER: [&str; 19] = [
    "异动前公司",
    "异动前部门",
    "入职日期",
    "异动前工号",
    "姓名",
    "性别",
    "身份证号码",
    "异动前职务",
    "异动前职级",
    "手机号",
    "异动前公司邮箱",
    "异动后公司",
    "异动后部门",
    "异动日期",
    "异动后工号",
    "姓名",
    "异动后职务",
    "异动后职级",
    "异动后公司邮箱",
];

fn form2_row(n: u32) -> Vec<String> {
    [
        "甲公司",
        "财务部/一科",
        "2020-01-02",
        &format!("E{n:04}"),
        &format!("测试{n}"),
        "女",
        &id(n),
        "会计",
        "P9",
        &format!("1380013{n:04}"),
        &format!("user{n}@example.cn"),
        "B",
        "财务部 / 二科",
        "2024/7/1",
        &format!("B{n:04}"),
        "(ignored)",
        "主管会计",
        "M11",
        &format!("user{n}@b.example.cn"),
    ]
    .map(str::to_owned)
    .into()
}

fn adjustment(n: u32, row: u64, source: &str) -> Adjustment {
    let mut record = person_record(n, source);
    record.profile.company = code("B");
    record.profile.department = "财务部/二科".into();
    record.profile.employee_number = format!("B{n:04}");
    record.profile.title = "主管会计".into();
    record.profile.grade = Some(Grade { track: Track::M, level: 11 });
    record.profile.email = format!("user{n}@b.example.cn");
    Adjustment {
        row,
        before_employee_number: format!("E{n:04}"),
        before_company: code("A"),
        move_date: Some(date(2024, 7, 1)),
        record,
    }
}

#[test]
fn form1_is_read_as_openings() {
    let d = Dir::new();
    let mut bad = person_row(3)[..11].to_vec();
    bad[8] = "M0".into();
    let rows =
        vec![FORM1_HEADER.map(str::to_owned).to_vec(), person_row(1)[..11].to_vec(), bad, person_row(2)[..11].to_vec()];
    let p = d.write("开通申请-甲公司-202407.csv", csv(&rows));
    let r = read_requests(&p, &keyer(), &companies(), &limits()).unwrap();
    let src = "开通申请-甲公司-202407.csv";
    assert_eq!(
        r.requests,
        Requests::Opening(vec![
            Opening { row: 2, record: person_record(1, src) },
            Opening { row: 4, record: person_record(2, src) },
        ])
    );
    assert_eq!(r.rejected, vec![err(&p, 3, "职级", "`M0` is not a grade (M1–M16 or P1–P16)")]);
    assert_eq!(r.rows, 3);
}

#[test]
fn form1_accepts_the_roster_extras() {
    let d = Dir::new();
    let mut row = person_row(1);
    row[11] = "是".into();
    let p = d.write("open.csv", roster_csv(&[row]));
    let r = read_requests(&p, &keyer(), &companies(), &limits()).unwrap();
    let mut want = person_record(1, "open.csv");
    want.profile.confidential = true;
    assert_eq!(r.requests, Requests::Opening(vec![Opening { row: 2, record: want }]));
}

#[test]
fn form2_is_read_as_adjustments_of_the_after_state() {
    let d = Dir::new();
    let mut moved_in_company = form2_row(2);
    moved_in_company[11] = "甲公司".into();
    moved_in_company[14] = "E0002".into();
    let rows = vec![FORM2_HEADER.map(str::to_owned).to_vec(), form2_row(1), vec![], moved_in_company];
    let p = d.write("adjust.csv", csv(&rows));
    let r = read_requests(&p, &keyer(), &companies(), &limits()).unwrap();
    let mut second = adjustment(2, 4, "adjust.csv");
    second.record.profile.company = code("A");
    second.record.profile.employee_number = "E0002".into();
    assert_eq!(r.requests, Requests::Adjustment(vec![adjustment(1, 2, "adjust.csv"), second]));
    assert_eq!(r.rejected, vec![]);
    assert_eq!(r.rows, 2);
}

#[test]
fn form2_with_english_headers() {
    let d = Dir::new();
    let header = [
        "before_company",
        "before_department",
        "hire_date",
        "before_employee_number",
        "name",
        "gender",
        "id_number",
        "before_title",
        "before_grade",
        "mobile",
        "before_email",
        "after_company",
        "after_department",
        "move_date",
        "after_employee_number",
        "name",
        "after_title",
        "after_grade",
        "after_email",
    ];
    let p = d.write("adjust.csv", csv(&[header.map(str::to_owned).to_vec(), form2_row(1)]));
    let r = read_requests(&p, &keyer(), &companies(), &limits()).unwrap();
    assert_eq!(r.requests, Requests::Adjustment(vec![adjustment(1, 2, "adjust.csv")]));
}

#[test]
fn form2_row_errors_name_both_sides() {
    let d = Dir::new();
    let mut bad = form2_row(2);
    bad[0] = "丁公司".into();
    bad[3] = String::new();
    bad[13] = "2024-07-32".into();
    bad[17] = "P99".into();
    let rows = vec![FORM2_HEADER.map(str::to_owned).to_vec(), form2_row(1), bad];
    let p = d.write("adjust.csv", csv(&rows));
    let r = read_requests(&p, &keyer(), &companies(), &limits()).unwrap();
    assert_eq!(r.requests, Requests::Adjustment(vec![adjustment(1, 2, "adjust.csv")]));
    assert_eq!(
        r.rejected,
        vec![
            err(&p, 3, "异动前公司", "unknown company `丁公司`"),
            err(&p, 3, "异动前工号", "required value is empty"),
            err(&p, 3, "异动日期", "`2024-07-32` is not a date (write 2024-03-01)"),
            err(&p, 3, "异动后职级", "`P99` is not a grade (M1–M16 or P1–P16)"),
        ]
    );
}

#[test]
fn form2_duplicate_after_employee_number() {
    let d = Dir::new();
    let mut dup = form2_row(2);
    dup[14] = "B0001".into();
    let rows = vec![FORM2_HEADER.map(str::to_owned).to_vec(), form2_row(1), dup];
    let p = d.write("adjust.csv", csv(&rows));
    let r = read_requests(&p, &keyer(), &companies(), &limits()).unwrap();
    assert_eq!(r.rejected, vec![err(&p, 3, "异动后工号", "same employee number as row 2")]);
}

#[test]
fn form2_missing_after_column_is_named() {
    let d = Dir::new();
    let header: Vec<String> = FORM2_HEADER.iter().filter(|h| **h != "异动后工号").map(|h| (*h).to_owned()).collect();
    let p = d.write("adjust.csv", csv(&[header]));
    let e = read_requests(&p, &keyer(), &companies(), &limits()).unwrap_err();
    assert!(matches!(&e, SourceError::MissingColumn { column, .. } if column == "异动后工号"), "{e}");
}

#[test]
fn form1_missing_column_is_named() {
    let d = Dir::new();
    let header: Vec<String> = FORM1_HEADER.iter().filter(|h| **h != "部门").map(|h| (*h).to_owned()).collect();
    let p = d.write("open.csv", csv(&[header]));
    let e = read_requests(&p, &keyer(), &companies(), &limits()).unwrap_err();
    assert!(
        matches!(&e, SourceError::MissingColumn { column, aliases, .. }
        if column == "部门" && aliases == "部门, 所属部门, 部门名称, department, dept"),
        "{e}"
    );
}
