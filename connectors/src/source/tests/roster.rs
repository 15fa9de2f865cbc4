//! Roster validation: one test per rule. Each writes a good row 2 and a row 3 with one defect,
//! and checks that row 2 still passes and row 3 is reported exactly.

use std::path::PathBuf;

use super::*;
use crate::source::cells::ID_AS_NUMBER;
use crate::source::{RosterRead, SourceError, read_roster};

const COMPANY: usize = 0;
const DEPARTMENT: usize = 1;
const HIRE_DATE: usize = 2;
const EMPLOYEE_NUMBER: usize = 3;
const NAME: usize = 4;
const GENDER: usize = 5;
const ID_NUMBER: usize = 6;
const TITLE: usize = 7;
const GRADE: usize = 8;
const MOBILE: usize = 9;
const EMAIL: usize = 10;
const CONFIDENTIAL: usize = 11;
const STATUS: usize = 12;
const LEAVE_DATE: usize = 13;

fn read_rows(rows: &[Vec<String>]) -> (PathBuf, RosterRead) {
    let d = Dir::new();
    let p = d.write("roster.csv", roster_csv(rows));
    let r = read_roster(&p, "hr", &keyer(), &companies(), &limits()).unwrap();
    (p, r)
}

/// Person 1 unchanged on row 2, person 2 with `edit` on row 3.
fn with_edit(edit: impl FnOnce(&mut Vec<String>)) -> (PathBuf, RosterRead) {
    let mut second = person_row(2);
    edit(&mut second);
    read_rows(&[person_row(1), second])
}

/// Asserts that row 3 was rejected for exactly one cell.
fn rejected_for(column: usize, value: &str, reason: &str) {
    let (p, r) = with_edit(|row| row[column] = value.into());
    assert_eq!(r.records, vec![person_record(1, "hr")], "the good row must pass");
    assert_eq!(r.rejected, vec![err(&p, 3, ROSTER_HEADER[column], reason)]);
    assert_eq!(r.rows, 2);
}

/// Reads row 3 with `value` in `column`, expecting it accepted.
fn accepted(column: usize, value: &str) -> PersonRecord {
    let (_, r) = with_edit(|row| row[column] = value.into());
    assert_eq!(r.rejected, vec![], "{value}");
    assert_eq!(r.records.len(), 2);
    r.records[1].clone()
}

#[test]
fn id_number_of_the_wrong_length() {
    rejected_for(ID_NUMBER, "11010519900101002", "invalid ID number: must be 18 characters, found 17");
}

#[test]
fn id_number_with_a_wrong_check_character() {
    rejected_for(ID_NUMBER, &bad_check(2), "invalid ID number: check character does not match (GB 11643)");
}

#[test]
fn id_number_with_an_impossible_birth_date() {
    rejected_for(
        ID_NUMBER,
        &with_check("11010519901301002"),
        "invalid ID number: birth date part (characters 7–14) is not a valid date",
    );
}

#[test]
fn id_number_mangled_into_scientific_notation() {
    rejected_for(ID_NUMBER, "1.10105E+17", ID_AS_NUMBER);
}

#[test]
fn required_values_must_not_be_empty() {
    rejected_for(ID_NUMBER, "", "required value is empty");
    rejected_for(NAME, "", "required value is empty");
    rejected_for(EMPLOYEE_NUMBER, " ", "required value is empty");
    rejected_for(COMPANY, "", "required value is empty");
}

#[test]
fn duplicate_id_number_is_reported_on_the_later_row_without_the_number() {
    let mut third = person_row(3);
    third[ID_NUMBER] = id(1).to_lowercase();
    let (p, r) = read_rows(&[person_row(1), person_row(2), third]);
    assert_eq!(r.records, vec![person_record(1, "hr"), person_record(2, "hr")]);
    assert_eq!(r.rejected, vec![err(&p, 4, "身份证号码", "same ID number as row 2")]);
}

#[test]
fn duplicate_employee_number_is_reported_on_the_later_row() {
    let mut third = person_row(3);
    third[EMPLOYEE_NUMBER] = "E0002".into();
    let (p, r) = read_rows(&[person_row(1), person_row(2), third]);
    assert_eq!(r.records.len(), 2);
    assert_eq!(r.rejected, vec![err(&p, 4, "工号", "same employee number as row 3")]);
}

#[test]
fn no_id_number_in_errors_or_debug_output() {
    let mut dup = person_row(3);
    dup[ID_NUMBER] = id(1);
    let mut bad = person_row(4);
    bad[ID_NUMBER] = bad_check(4);
    let (_, r) = read_rows(&[person_row(1), dup, bad]);
    assert_eq!(r.rejected.len(), 2);
    let shown = format!("{r:?} {}", r.rejected.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "));
    for n in [1, 3, 4] {
        assert!(!shown.contains(&id(n)[..14]), "ID number {n} leaked: {shown}");
    }
}

#[test]
fn dates() {
    rejected_for(HIRE_DATE, "2024-13-01", "`2024-13-01` is not a date (write 2024-03-01)");
    rejected_for(LEAVE_DATE, "下周", "`下周` is not a date (write 2024-03-01)");
    assert_eq!(accepted(HIRE_DATE, "2024年3月1日").profile.hire_date, Some(date(2024, 3, 1)));
    assert_eq!(accepted(HIRE_DATE, "20240301").profile.hire_date, Some(date(2024, 3, 1)));
    assert_eq!(accepted(HIRE_DATE, "").profile.hire_date, None);
}

#[test]
fn mobile() {
    rejected_for(MOBILE, "1380013", "`1380013` is not a mainland mobile number (11 digits starting with 1)");
    assert_eq!(accepted(MOBILE, "+86 138-0013-0002").profile.mobile, "13800130002");
    assert_eq!(accepted(MOBILE, "").profile.mobile, "");
}

#[test]
fn email() {
    rejected_for(EMAIL, "user2.example.cn", "`user2.example.cn` is not an email address");
    rejected_for(EMAIL, "user 2@example.cn", "`user 2@example.cn` is not an email address");
    assert_eq!(accepted(EMAIL, "").profile.email, "");
}

#[test]
fn grade() {
    rejected_for(GRADE, "M17", "`M17` is not a grade (M1–M16 or P1–P16)");
    assert_eq!(accepted(GRADE, "m12").profile.grade, Some(Grade { track: Track::M, level: 12 }));
    assert_eq!(accepted(GRADE, "").profile.grade, None);
}

#[test]
fn gender() {
    rejected_for(GENDER, "未知", "`未知` is not a gender (男/女)");
    assert_eq!(accepted(GENDER, "男").profile.gender, Some(Gender::Male));
    assert_eq!(accepted(GENDER, "").profile.gender, None);
}

#[test]
fn company_by_code_or_name() {
    rejected_for(COMPANY, "丙公司", "unknown company `丙公司`");
    assert_eq!(accepted(COMPANY, "乙公司").profile.company, code("B"));
    assert_eq!(accepted(COMPANY, "B").profile.company, code("B"));
    assert_eq!(accepted(COMPANY, "集团总部").profile.company, code("G"));
}

#[test]
fn status_and_confidential_post() {
    rejected_for(STATUS, "退休", "`退休` is not a status (在职 or 离职)");
    rejected_for(CONFIDENTIAL, "maybe", "`maybe` is not 是 or 否");
    assert!(accepted(CONFIDENTIAL, "是").profile.confidential);
    assert!(!accepted(CONFIDENTIAL, "").profile.confidential);
    let left = accepted(STATUS, "离职");
    assert_eq!((left.employment, left.leave_date), (Employment::Left, None));
    // A future leaver: a leaving date while still 在职.
    let leaving = accepted(LEAVE_DATE, "2030-06-30");
    assert_eq!((leaving.employment, leaving.leave_date), (Employment::Active, Some(date(2030, 6, 30))));
}

#[test]
fn control_and_bidi_characters() {
    rejected_for(NAME, "测\u{7}试", "contains a control or bidirectional-override character (U+0007)");
    rejected_for(TITLE, "会\u{202E}计", "contains a control or bidirectional-override character (U+202E)");
    rejected_for(DEPARTMENT, "财务部\u{2066}", "contains a control or bidirectional-override character (U+2066)");
    rejected_for(EMAIL, "a\u{85}b@example.cn", "contains a control or bidirectional-override character (U+0085)");
}

#[test]
fn name_length() {
    rejected_for(NAME, &"名".repeat(65), "longer than 64 characters");
    assert_eq!(accepted(NAME, &"名".repeat(64)).profile.name, "名".repeat(64));
}

#[test]
fn employee_number_shape() {
    rejected_for(EMPLOYEE_NUMBER, "E 02", "employee number must not contain spaces");
    rejected_for(EMPLOYEE_NUMBER, &"9".repeat(33), "employee number is longer than 32 characters");
    assert_eq!(accepted(EMPLOYEE_NUMBER, &"9".repeat(32)).profile.employee_number, "9".repeat(32));
}

#[test]
fn every_failing_cell_of_a_row_is_reported() {
    let (p, r) = with_edit(|row| {
        row[HIRE_DATE] = "2024-02-30".into();
        row[GRADE] = "Z1".into();
        row[MOBILE] = "12345".into();
        row[EMAIL] = "nobody".into();
    });
    assert_eq!(r.records, vec![person_record(1, "hr")]);
    assert_eq!(
        r.rejected,
        vec![
            err(&p, 3, "入职日期", "`2024-02-30` is not a date (write 2024-03-01)"),
            err(&p, 3, "职级", "`Z1` is not a grade (M1–M16 or P1–P16)"),
            err(&p, 3, "手机号", "`12345` is not a mainland mobile number (11 digits starting with 1)"),
            err(&p, 3, "公司邮箱", "`nobody` is not an email address"),
        ]
    );
}

#[test]
fn department_paths_are_normalised() {
    assert_eq!(accepted(DEPARTMENT, " 财务部 ／ 一科 \\ 二组 /").profile.department, "财务部/一科/二组");
    assert_eq!(accepted(DEPARTMENT, "").profile.department, "");
}

#[test]
fn missing_required_column_is_named() {
    let d = Dir::new();
    let header: Vec<&str> = ROSTER_HEADER.iter().copied().filter(|h| *h != "工号").collect();
    let p = d.write("roster.csv", csv(&[header]));
    let e = read_roster(&p, "hr", &keyer(), &companies(), &limits()).unwrap_err();
    assert!(matches!(&e, SourceError::MissingColumn { column, .. } if column == "工号"));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: missing column 工号 (expected one of: 工号, 员工编号, 员工工号, employee_number, employee_no, emp_no)",
            p.display()
        )
    );
}

#[test]
fn optional_columns_may_be_absent() {
    let d = Dir::new();
    let p =
        d.write("roster.csv", "工号,姓名,身份证号码,公司名称,部门\nE0001,测试1,".to_owned() + &id(1) + ",A,财务部\n");
    let r = read_roster(&p, "hr", &keyer(), &companies(), &limits()).unwrap();
    let mut want = person_record(1, "hr");
    want.profile = Profile {
        gender: None,
        department: "财务部".into(),
        title: String::new(),
        grade: None,
        mobile: String::new(),
        email: String::new(),
        hire_date: None,
        ..want.profile
    };
    assert_eq!(r.records, vec![want]);
}
