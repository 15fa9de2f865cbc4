//! Column headers: the Chinese names of the forms plus English aliases, matched after
//! normalisation (whitespace, `_`, `-` and `*` removed, case folded, a trailing "(…)" note dropped),
//! and the search for the header row below any title rows. A field found in two columns is refused:
//! which of them holds the truth cannot be guessed.

use std::collections::HashMap;

use super::SourceError;
use super::limits::shown;
use super::table::{RawRow, Table, column_letter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    // Company list.
    CompanyCode,
    CompanyName,
    ParentCode,
    Tier,
    Mode,
    // A person (roster, form 1, the shared and "after" fields of form 2).
    Company,
    Department,
    HireDate,
    EmployeeNumber,
    Name,
    Gender,
    IdNumber,
    Title,
    Grade,
    Mobile,
    Email,
    Confidential,
    Status,
    LeaveDate,
    // Form 2.
    BeforeCompany,
    BeforeDepartment,
    BeforeEmployeeNumber,
    BeforeTitle,
    BeforeGrade,
    BeforeEmail,
    AfterCompany,
    AfterDepartment,
    MoveDate,
    AfterEmployeeNumber,
    AfterTitle,
    AfterGrade,
    AfterEmail,
}

/// One expected column: the first alias is the header of the forms, used in messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub field: Field,
    pub required: bool,
    pub aliases: &'static [&'static str],
    /// The form has this column twice by design: the first one is read, the others ignored.
    pub repeated: bool,
}

const fn req(field: Field, aliases: &'static [&'static str]) -> Spec {
    Spec { field, required: true, aliases, repeated: false }
}

const fn opt(field: Field, aliases: &'static [&'static str]) -> Spec {
    Spec { field, required: false, aliases, repeated: false }
}

pub(crate) const COMPANY_LIST: &[Spec] = &[
    req(Field::CompanyCode, &["公司编码", "企业编码", "code", "company_code"]),
    req(Field::CompanyName, &["公司名称", "企业名称", "name", "company_name"]),
    opt(Field::ParentCode, &["上级公司编码", "上级企业编码", "parent", "parent_code"]),
    req(Field::Tier, &["企业级别", "公司级别", "tier"]),
    req(Field::Mode, &["运营模式", "mode", "operating_mode"]),
];

const COMPANY: &[&str] = &["公司名称", "公司", "所属公司", "公司编码", "company", "company_code", "company_name"];
const DEPARTMENT: &[&str] = &["部门", "所属部门", "部门名称", "department", "dept"];
const HIRE_DATE: &[&str] = &["入职日期", "入职时间", "hire_date"];
const EMPLOYEE_NUMBER: &[&str] = &["工号", "员工编号", "员工工号", "employee_number", "employee_no", "emp_no"];
const NAME: &[&str] = &["姓名", "name", "full_name"];
const GENDER: &[&str] = &["性别", "gender", "sex"];
const ID_NUMBER: &[&str] = &["身份证号码", "身份证号", "身份证", "id_number", "id_no", "id_card"];
const TITLE: &[&str] = &["职务", "岗位", "title", "position", "job_title"];
const GRADE: &[&str] = &["职级", "grade"];
const MOBILE: &[&str] = &["手机号", "手机号码", "手机", "mobile", "mobile_phone", "phone"];
const EMAIL: &[&str] = &["公司邮箱", "邮箱", "电子邮箱", "email", "mail"];
const CONFIDENTIAL: &[&str] = &["机要岗", "是否机要岗", "confidential"];
const STATUS: &[&str] = &["状态", "在职状态", "员工状态", "status"];
const LEAVE_DATE: &[&str] = &["离职日期", "离职时间", "leave_date"];

/// Form 1 and the roster: the roster only differs in what it means (the full population).
pub(crate) const PERSON: &[Spec] = &[
    req(Field::Company, COMPANY),
    req(Field::Department, DEPARTMENT),
    opt(Field::HireDate, HIRE_DATE),
    req(Field::EmployeeNumber, EMPLOYEE_NUMBER),
    req(Field::Name, NAME),
    opt(Field::Gender, GENDER),
    req(Field::IdNumber, ID_NUMBER),
    opt(Field::Title, TITLE),
    opt(Field::Grade, GRADE),
    opt(Field::Mobile, MOBILE),
    opt(Field::Email, EMAIL),
    opt(Field::Confidential, CONFIDENTIAL),
    opt(Field::Status, STATUS),
    opt(Field::LeaveDate, LEAVE_DATE),
];

pub(crate) const ADJUSTMENT: &[Spec] = &[
    req(Field::BeforeCompany, &["异动前公司", "异动前公司名称", "before_company"]),
    opt(Field::BeforeDepartment, &["异动前部门", "before_department"]),
    opt(Field::HireDate, HIRE_DATE),
    req(Field::BeforeEmployeeNumber, &["异动前工号", "before_employee_number"]),
    // HR's form 2 repeats 姓名 on its 异动后 side.
    Spec { repeated: true, ..req(Field::Name, NAME) },
    opt(Field::Gender, GENDER),
    req(Field::IdNumber, ID_NUMBER),
    opt(Field::BeforeTitle, &["异动前职务", "before_title"]),
    opt(Field::BeforeGrade, &["异动前职级", "before_grade"]),
    opt(Field::Mobile, MOBILE),
    opt(Field::BeforeEmail, &["异动前公司邮箱", "异动前邮箱", "before_email"]),
    req(Field::AfterCompany, &["异动后公司", "异动后公司名称", "after_company"]),
    req(Field::AfterDepartment, &["异动后部门", "after_department"]),
    opt(Field::MoveDate, &["异动日期", "move_date"]),
    req(Field::AfterEmployeeNumber, &["异动后工号", "after_employee_number"]),
    opt(Field::AfterTitle, &["异动后职务", "after_title"]),
    opt(Field::AfterGrade, &["异动后职级", "after_grade"]),
    opt(Field::AfterEmail, &["异动后公司邮箱", "异动后邮箱", "after_email"]),
    opt(Field::Confidential, CONFIDENTIAL),
    opt(Field::Status, STATUS),
    opt(Field::LeaveDate, LEAVE_DATE),
];

/// Removes whitespace (also inside: "公司名\n称"), `_`, `-` and `*` (a "required" mark), folds
/// case, and drops a trailing note in parentheses ("入职日期(yyyy-mm-dd)").
pub(crate) fn normalise(header: &str) -> String {
    let mut s: String = header
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '*' | '＊'))
        .flat_map(char::to_lowercase)
        .collect();
    for (open, close) in [('(', ')'), ('（', '）')] {
        if s.ends_with(close)
            && let Some(i) = s.rfind(open)
            && i > 0
        {
            s.truncate(i);
        }
    }
    s
}

fn matches(spec: &Spec, normalised: &str) -> bool {
    spec.aliases.iter().any(|a| normalise(a) == normalised)
}

/// The header row: the first non-empty row, unless it looks like a title ("账号开通信息收集表")
/// and one of the next few rows has at least two known headers.
pub(crate) fn header_row<'t>(file: &str, table: &'t Table, specs: &[Spec]) -> Result<(usize, &'t RawRow), SourceError> {
    header_row_of(file, &table.rows, specs)
}

/// Rows [`header_row`] looks at: only these first ones can be the header.
pub(crate) const HEADER_ROWS: usize = 6;

/// [`header_row`] among the first rows of a file (all that it looks at: [`HEADER_ROWS`]).
pub(crate) fn header_row_of<'t>(
    file: &str,
    rows: &'t [RawRow],
    specs: &[Spec],
) -> Result<(usize, &'t RawRow), SourceError> {
    let known =
        |row: &RawRow| row.cells.iter().filter(|c| specs.iter().any(|s| matches(s, &normalise(&c.text)))).count();
    let first =
        rows.first().ok_or_else(|| SourceError::Invalid { file: file.into(), reason: "no header row".into() })?;
    let found = rows.iter().enumerate().take(HEADER_ROWS).find(|(_, r)| known(r) >= 2);
    Ok(found.unwrap_or((0, first)))
}

/// Whether the header has a column of one of the selected fields.
pub(crate) fn mentions(header: &RawRow, specs: &[Spec], select: impl Fn(Field) -> bool) -> bool {
    header.cells.iter().any(|c| {
        let n = normalise(&c.text);
        specs.iter().any(|s| select(s.field) && matches(s, &n))
    })
}

/// Where each expected field sits in a file, with the header as written there.
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    at: HashMap<Field, (usize, String)>,
}

impl Columns {
    /// Maps the header. A field in two columns is refused (unless its spec is `repeated`: then
    /// the first one is read), and so is a required field in none.
    pub fn map(file: &str, header: &RawRow, specs: &[Spec]) -> Result<Columns, SourceError> {
        let mut at: HashMap<Field, (usize, String)> = HashMap::new();
        for (i, cell) in header.cells.iter().enumerate() {
            let n = normalise(&cell.text);
            if n.is_empty() {
                continue;
            }
            let Some(spec) = specs.iter().find(|s| matches(s, &n)) else { continue };
            match at.get(&spec.field) {
                None => {
                    at.insert(spec.field, (i, shown(&cell.text).into_owned()));
                }
                Some(_) if spec.repeated => {}
                Some((first, written)) => {
                    let (a, b) = (column_letter(*first), column_letter(i));
                    let columns = if normalise(written) == n {
                        format!("columns {a} and {b}")
                    } else {
                        format!("columns {a} as `{written}` and {b} as `{}`", shown(&cell.text))
                    };
                    return Err(SourceError::At {
                        file: file.into(),
                        row: header.number,
                        column: None,
                        reason: format!(
                            "column {} appears twice ({columns}); keep one, so that it is clear which to read",
                            spec.aliases[0]
                        ),
                    });
                }
            }
        }
        if let Some(spec) = specs.iter().find(|s| s.required && !at.contains_key(&s.field)) {
            return Err(SourceError::MissingColumn {
                file: file.into(),
                column: spec.aliases[0].into(),
                aliases: spec.aliases.join(", "),
            });
        }
        Ok(Columns { at })
    }

    pub fn index(&self, f: Field) -> Option<usize> {
        self.at.get(&f).map(|(i, _)| *i)
    }

    /// The header text as it appears in the file (empty if the column is absent).
    pub fn header(&self, f: Field) -> &str {
        self.at.get(&f).map_or("", |(_, h)| h.as_str())
    }

    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.at.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::table::Cell;

    fn row(number: u64, cells: &[&str]) -> RawRow {
        RawRow { number, cells: cells.iter().map(|c| Cell::new(c)).collect() }
    }

    #[test]
    fn headers_are_normalised() {
        assert_eq!(normalise("公司名\n称"), "公司名称");
        assert_eq!(normalise(" 入职 日期（yyyy-mm-dd） "), "入职日期");
        assert_eq!(normalise("*Employee_Number"), "employeenumber");
        assert_eq!(normalise("E-mail"), "email");
        assert_eq!(normalise("(备注)"), "(备注)");
    }

    #[test]
    fn a_title_row_above_the_header_is_skipped() {
        let t = Table {
            rows: vec![row(1, &["账号开通信息收集表"]), row(2, &["姓名", "工号"]), row(3, &["x", "1"])]
        };
        let (i, r) = header_row("f.csv", &t, PERSON).expect("header");
        assert_eq!((i, r.number), (1, 2));
        let t = Table { rows: vec![row(4, &["foo", "bar"]), row(5, &["x", "1"])] };
        let (i, r) = header_row("f.csv", &t, PERSON).expect("header");
        assert_eq!((i, r.number), (0, 4));
    }

    #[test]
    fn a_field_twice_is_refused_and_missing_required_is_named() {
        let h = row(1, &["公司", "部门", "工号", "姓名", "身份证号码", "工号"]);
        let e = Columns::map("f.csv", &h, PERSON).expect_err("twice");
        assert_eq!(
            e.to_string(),
            "f.csv: row 1: column 工号 appears twice (columns C and F); keep one, so that it is clear which to read"
        );
        let h = row(2, &["公司编码", "部门", "工号", "姓名", "身份证号码", "公司名称"]);
        let e = Columns::map("f.csv", &h, PERSON).expect_err("two spellings");
        assert_eq!(
            e.to_string(),
            "f.csv: row 2: column 公司名称 appears twice (columns A as `公司编码` and F as `公司名称`); keep one, so \
             that it is clear which to read"
        );
        let h = row(1, &["公司", "部门", "工号", "姓名", "身份证号码", "备注", "备注"]);
        let c = Columns::map("f.csv", &h, PERSON).expect("an unknown column twice is ignored");
        assert_eq!(c.index(Field::Name), Some(3));
        assert_eq!(c.index(Field::Mobile), None);
        let h = row(1, &["公司", "部门", "工号", "姓名"]);
        let e = Columns::map("f.csv", &h, PERSON).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "f.csv: missing column 身份证号码 (expected one of: 身份证号码, 身份证号, 身份证, id_number, id_no, id_card)"
        );
    }

    #[test]
    fn form2_may_repeat_its_name_column_and_the_first_is_read() {
        let h = row(
            1,
            &["异动前公司", "异动前工号", "姓名", "身份证号码", "异动后公司", "异动后部门", "异动后工号", "姓名"],
        );
        let c = Columns::map("f.csv", &h, ADJUSTMENT).expect("mapped");
        assert_eq!(c.index(Field::Name), Some(2));
        let h = row(
            1,
            &["异动前公司", "异动前工号", "姓名", "身份证号码", "异动后公司", "异动后部门", "异动后工号", "异动后工号"],
        );
        let e = Columns::map("f.csv", &h, ADJUSTMENT).expect_err("twice");
        assert!(e.to_string().contains("column 异动后工号 appears twice (columns G and H)"), "{e}");
    }
}
