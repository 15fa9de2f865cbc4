//! Checking the cells of one row: every failing cell becomes a `RowError` naming its column, and
//! the row is used only when none failed. The value parsers below are pure and never echo an ID
//! number.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use orgid_directory::{CompanyCode, CompanyIndex, Employment, RowError};

use super::columns::{Columns, Field};
use super::limits::{SHOWN_CHARS, shown};
use super::table::{Cell, CellKind, RawRow, excel_serial_date};

pub(crate) const ID_AS_NUMBER: &str = "ID number stored as a number in Excel; format the column as text";

/// Control characters (C0, DEL, C1) and bidirectional overrides/isolates, which can disguise a
/// value in a directory listing.
pub(crate) fn forbidden_char(s: &str) -> Option<char> {
    s.chars().find(
        |&c| matches!(c, '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'),
    )
}

/// Accepts 2024-03-01, 2024/3/1, 2024.3.1, 20240301, 2024年3月1日 (a time after a space or `T` is
/// ignored), a workbook date cell, and an Excel serial number in a workbook number cell.
pub(crate) fn parse_date(cell: &Cell) -> Result<NaiveDate, String> {
    let bad = || format!("`{}` is not a date (write 2024-03-01)", cell.text);
    let date = match cell.kind {
        CellKind::Date(d) => Some(d),
        CellKind::Number(f) if !is_compact_date(&cell.text) => excel_serial_date(f),
        _ => parse_date_text(&cell.text),
    }
    .ok_or_else(bad)?;
    if !(1900..=2100).contains(&date.year()) {
        return Err(format!("date {date} is out of range (1900–2100)"));
    }
    Ok(date)
}

fn is_compact_date(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_date_text(s: &str) -> Option<NaiveDate> {
    let day = s.split([' ', 'T']).next().unwrap_or("");
    let num = |p: &str, max_len: usize| {
        (!p.is_empty() && p.len() <= max_len && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse::<u32>().ok())?
    };
    let (y, m, d) = if is_compact_date(day) {
        (&day[..4], &day[4..6], &day[6..])
    } else {
        let parts: Vec<&str> = day.strip_suffix('日').unwrap_or(day).split(['-', '/', '.', '年', '月']).collect();
        match parts[..] {
            [y, m, d] if y.len() == 4 => (y, m, d),
            _ => return None,
        }
    };
    NaiveDate::from_ymd_opt(i32::try_from(num(y, 4)?).ok()?, num(m, 2)?, num(d, 2)?)
}

/// A mainland mobile number, returned as its 11 digits (+86 / 86 prefix, spaces, dashes dropped).
pub(crate) fn parse_mobile(s: &str) -> Result<String, String> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    let digits = if digits.len() == 13 { digits.strip_prefix("86").unwrap_or(digits) } else { digits };
    if digits.len() == 11 && digits.starts_with('1') && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits.to_owned())
    } else {
        Err(format!("`{s}` is not a mainland mobile number (11 digits starting with 1)"))
    }
}

pub(crate) fn check_email(s: &str) -> Result<(), String> {
    let bad = || Err(format!("`{s}` is not an email address"));
    if s.chars().any(char::is_whitespace) {
        return bad();
    }
    let Some((local, domain)) = s.split_once('@') else { return bad() };
    let labels_ok = domain.split('.').all(|l| !l.is_empty());
    if local.is_empty() || domain.contains('@') || !domain.contains('.') || !labels_ok {
        return bad();
    }
    Ok(())
}

/// 机要岗: 是/否 and the usual spellings; empty means no.
pub(crate) fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.to_lowercase().as_str() {
        "" | "否" | "n" | "no" | "false" | "0" => Ok(false),
        "是" | "y" | "yes" | "true" | "1" => Ok(true),
        _ => Err(format!("`{s}` is not 是 or 否")),
    }
}

/// 状态: empty means 在职.
pub(crate) fn parse_status(s: &str) -> Result<Employment, String> {
    match s.to_lowercase().as_str() {
        "" | "在职" | "在岗" | "active" => Ok(Employment::Active),
        "离职" | "已离职" | "left" => Ok(Employment::Left),
        _ => Err(format!("`{s}` is not a status (在职 or 离职)")),
    }
}

/// "财务部 / 一科" → "财务部/一科"; `/`, `／` and `\` separate segments, empty segments are dropped.
pub(crate) fn normalise_department(s: &str) -> String {
    s.split(['/', '／', '\\']).map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>().join("/")
}

/// Companies by code, then by exact name.
pub(crate) struct CompanyLookup<'a> {
    index: &'a CompanyIndex,
    by_name: HashMap<&'a str, Vec<&'a CompanyCode>>,
}

impl<'a> CompanyLookup<'a> {
    pub fn new(index: &'a CompanyIndex) -> Self {
        let mut by_name: HashMap<&str, Vec<&CompanyCode>> = HashMap::new();
        for c in index.sorted() {
            by_name.entry(c.name.as_str()).or_default().push(&c.code);
        }
        Self { index, by_name }
    }

    pub fn find(&self, s: &str) -> Result<CompanyCode, String> {
        let code = CompanyCode(s.to_owned());
        if self.index.contains(&code) {
            return Ok(code);
        }
        match self.by_name.get(s).map(Vec::as_slice) {
            Some([one]) => Ok((*one).clone()),
            Some(_) => Err(format!("company name `{s}` is shared by several companies; use the company code")),
            None => Err(format!("unknown company `{s}`")),
        }
    }
}

/// The cells of one row under a header, and the errors found so far.
pub(crate) struct RowCheck<'a> {
    file: &'a str,
    pub row: u64,
    cells: &'a [Cell],
    cols: &'a Columns,
    /// Fields whose cell already failed the character check: not checked again.
    bad: Vec<Field>,
    pub errors: Vec<RowError>,
}

impl<'a> RowCheck<'a> {
    /// Starts with the checks that apply to every cell read: length, characters and Excel error
    /// values.
    pub fn new(file: &'a str, row: &'a RawRow, cols: &'a Columns) -> Self {
        let mut me = RowCheck { file, row: row.number, cells: &row.cells, cols, bad: Vec::new(), errors: Vec::new() };
        let mut fields: Vec<(usize, Field)> = cols.fields().filter_map(|f| cols.index(f).map(|i| (i, f))).collect();
        fields.sort_unstable_by_key(|(i, _)| *i);
        for (_, f) in fields {
            let Some(cell) = me.raw(f) else { continue };
            let reason = if let CellKind::TooLong { chars, max } = cell.kind {
                // The cell holds only the beginning of the value; an ID number is never shown.
                let start = if f == Field::IdNumber { String::new() } else { format!(": `{}…`", cell.text) };
                Some(format!("{chars} characters, more than the {max} allowed (limits.max_cell_chars){start}"))
            } else if cell.kind == CellKind::Error {
                Some(format!("the cell holds an Excel error ({})", cell.text))
            } else {
                forbidden_char(&cell.text)
                    .map(|c| format!("contains a control or bidirectional-override character (U+{:04X})", u32::from(c)))
            };
            if let Some(reason) = reason {
                me.fail(f, reason);
                me.bad.push(f);
            }
        }
        me
    }

    pub fn raw(&self, f: Field) -> Option<&'a Cell> {
        self.cols.index(f).and_then(|i| self.cells.get(i))
    }

    pub fn fail(&mut self, f: Field, reason: impl Into<String>) {
        let mut reason = reason.into();
        // Parsers quote the value they refuse: a reason shows at most `SHOWN_CHARS` of it.
        if let Some(cell) = self.raw(f)
            && cell.text.len() > SHOWN_CHARS
            && reason.contains(&cell.text)
        {
            reason = reason.replace(&cell.text, &shown(&cell.text));
        }
        self.errors.push(RowError {
            file: self.file.to_owned(),
            row: self.row,
            column: self.cols.header(f).to_owned(),
            reason,
        });
    }

    /// The cell, if the column exists, the cell is non-empty and it passed the character check.
    pub fn cell(&self, f: Field) -> Option<&'a Cell> {
        self.raw(f).filter(|c| !c.is_empty() && !self.bad.contains(&f))
    }

    pub fn text(&self, f: Field) -> &'a str {
        self.cell(f).map_or("", |c| c.text.as_str())
    }

    /// A required value: reports an empty cell.
    pub fn required(&mut self, f: Field) -> Option<&'a Cell> {
        let cell = self.cell(f);
        if cell.is_none() && !self.bad.contains(&f) {
            self.fail(f, "required value is empty");
        }
        cell
    }

    /// Runs `parse` on a non-empty cell and reports its error.
    pub fn parse<T>(&mut self, f: Field, parse: impl FnOnce(&Cell) -> Result<T, String>) -> Option<T> {
        let cell = self.cell(f)?;
        parse(cell).map_err(|e| self.fail(f, e)).ok()
    }

    pub fn date(&mut self, f: Field) -> Option<NaiveDate> {
        self.parse(f, parse_date)
    }

    /// A text value with a length limit (reported when too long).
    pub fn limited(&mut self, f: Field, max: usize) -> String {
        let s = self.text(f);
        if s.chars().count() > max {
            self.fail(f, format!("longer than {max} characters"));
        }
        s.to_owned()
    }

    pub fn company(&mut self, f: Field, lookup: &CompanyLookup) -> Option<CompanyCode> {
        let cell = self.required(f)?;
        lookup.find(&cell.text).map_err(|e| self.fail(f, e)).ok()
    }

    /// 工号: required, at most 32 characters, no spaces.
    pub fn employee_number(&mut self, f: Field) -> Option<String> {
        let s = &self.required(f)?.text;
        if s.chars().count() > 32 {
            self.fail(f, "employee number is longer than 32 characters");
            None
        } else if s.chars().any(char::is_whitespace) {
            self.fail(f, "employee number must not contain spaces");
            None
        } else {
            Some(s.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Cell {
        Cell::new(s)
    }

    #[test]
    fn dates_in_the_usual_spellings() {
        let d = NaiveDate::from_ymd_opt(2024, 3, 1);
        for s in
            ["2024-03-01", "2024/3/1", "2024.3.1", "20240301", "2024年3月1日", "2024-03-01 00:00:00", "2024-3-1T08:00"]
        {
            assert_eq!(parse_date(&text(s)).ok(), d, "{s}");
        }
        assert_eq!(parse_date(&Cell { text: "45352".into(), kind: CellKind::Number(45352.0) }).ok(), d);
        assert_eq!(parse_date(&Cell { text: "20240301".into(), kind: CellKind::Number(20_240_301.0) }).ok(), d);
        for s in ["2024-02-30", "24-3-1", "2024-3", "45352", "2024/3/1/2", "三月", "2024-003-01"] {
            assert_eq!(parse_date(&text(s)), Err(format!("`{s}` is not a date (write 2024-03-01)")));
        }
        assert_eq!(parse_date(&text("1899-12-31")), Err("date 1899-12-31 is out of range (1900–2100)".into()));
    }

    #[test]
    fn mobiles_are_normalised_to_eleven_digits() {
        for s in ["13800138000", "+86 138-0013-8000", "86 13800138000", "138 0013 8000"] {
            assert_eq!(parse_mobile(s).as_deref(), Ok("13800138000"), "{s}");
        }
        for s in ["1380013800", "23800138000", "1380013800a", "+1 13800138000", "010-12345678"] {
            assert!(parse_mobile(s).is_err(), "{s}");
        }
    }

    #[test]
    fn emails_get_a_reasonable_check() {
        assert_eq!(check_email("zhang.san@example.cn"), Ok(()));
        for s in ["zhang", "@example.cn", "a@b", "a@@b.cn", "a b@c.cn", "a@b..cn", "a@.cn"] {
            assert_eq!(check_email(s), Err(format!("`{s}` is not an email address")));
        }
    }

    #[test]
    fn yes_no_status_and_departments() {
        assert_eq!(parse_yes_no("是"), Ok(true));
        assert_eq!(parse_yes_no("Y"), Ok(true));
        assert_eq!(parse_yes_no(""), Ok(false));
        assert_eq!(parse_yes_no("FALSE"), Ok(false));
        assert_eq!(parse_yes_no("也许"), Err("`也许` is not 是 or 否".into()));
        assert_eq!(parse_status(""), Ok(Employment::Active));
        assert_eq!(parse_status("Left"), Ok(Employment::Left));
        assert_eq!(parse_status("退休"), Err("`退休` is not a status (在职 or 离职)".into()));
        assert_eq!(normalise_department(" 财务部 ／ 一科 /"), "财务部/一科");
        assert_eq!(normalise_department("财务部\\\\一科"), "财务部/一科");
    }

    #[test]
    fn row_check_reports_excel_errors_and_bad_characters_once_per_cell() {
        use crate::source::columns::PERSON;
        let row = |number, cells: &[&str]| RawRow { number, cells: cells.iter().map(|c| Cell::new(c)).collect() };
        let header = row(1, &["公司名称", "部门", "工号", "姓名", "身份证号码", "备注"]);
        let cols = Columns::map("f.xlsx", &header, PERSON).expect("mapped");
        let mut data = row(7, &["A", "财务部", "", "张\u{1B}三", "", "free\ntext"]);
        data.cells[2] = Cell { text: "#N/A".into(), kind: CellKind::Error };
        let mut c = RowCheck::new("f.xlsx", &data, &cols);
        assert!(c.required(Field::EmployeeNumber).is_none());
        assert!(c.required(Field::Name).is_none());
        assert_eq!(c.required(Field::Department).map(|x| x.text.clone()).as_deref(), Some("财务部"));
        c.required(Field::IdNumber);
        let got: Vec<(u64, &str, &str)> =
            c.errors.iter().map(|e| (e.row, e.column.as_str(), e.reason.as_str())).collect();
        assert_eq!(
            got,
            [
                (7, "工号", "the cell holds an Excel error (#N/A)"),
                (7, "姓名", "contains a control or bidirectional-override character (U+001B)"),
                (7, "身份证号码", "required value is empty"),
            ]
        );
    }

    #[test]
    fn a_cell_too_long_is_its_row_error_and_no_reason_shows_more_than_200_characters_of_a_value() {
        use crate::source::columns::PERSON;
        let header = RawRow {
            number: 1,
            cells: ["公司名称", "部门", "工号", "姓名", "身份证号码", "手机号"].map(Cell::new).into(),
        };
        let cols = Columns::map("f.csv", &header, PERSON).expect("mapped");
        let title = format!("{}x", "职".repeat(1000));
        let mobile = "1".repeat(900);
        let data = RawRow {
            number: 5,
            cells: vec![
                Cell::limited(&title, 1000),
                Cell::new("财务部"),
                Cell::new("E1"),
                Cell::new("张三"),
                Cell::new(""),
                Cell::limited(&mobile, 1000),
            ],
        };
        let mut c = RowCheck::new("f.csv", &data, &cols);
        assert!(c.cell(Field::Company).is_none(), "a cell too long is not read");
        assert!(c.required(Field::Company).is_none());
        c.parse(Field::Mobile, |x| parse_mobile(&x.text));
        let got: Vec<(u64, &str, &str)> =
            c.errors.iter().map(|e| (e.row, e.column.as_str(), e.reason.as_str())).collect();
        let want_title =
            format!("1001 characters, more than the 1000 allowed (limits.max_cell_chars): `{}…`", "职".repeat(200));
        let want_mobile = format!("`{}…` is not a mainland mobile number (11 digits starting with 1)", "1".repeat(200));
        assert_eq!(got, [(5, "公司名称", want_title.as_str()), (5, "手机号", want_mobile.as_str())]);
    }

    #[test]
    fn forbidden_characters() {
        assert_eq!(forbidden_char("张三"), None);
        assert_eq!(forbidden_char("张\u{202E}三"), Some('\u{202E}'));
        assert_eq!(forbidden_char("a\u{85}"), Some('\u{85}'));
        assert_eq!(forbidden_char("a\u{2069}"), Some('\u{2069}'));
        assert_eq!(forbidden_char("a\u{7F}"), Some('\u{7F}'));
    }
}
