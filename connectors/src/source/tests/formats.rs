//! File formats and encodings: the same roster as UTF-8, UTF-8 with BOM, GBK, TSV and xlsx.

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

use super::*;
use crate::source::cells::ID_AS_NUMBER;
use crate::source::{SourceError, read_roster};

const COMPANY_COLUMN: usize = 0;

fn read(path: &std::path::Path) -> Result<crate::source::RosterRead, SourceError> {
    read_roster(path, "hr", &keyer(), &companies(), &limits())
}

#[test]
fn utf8_csv_reads_every_field() {
    let d = Dir::new();
    let p = d.write("roster.csv", roster_csv(&[person_row(1), person_row(2)]));
    let r = read(&p).unwrap();
    assert_eq!(r.records, vec![person_record(1, "hr"), person_record(2, "hr")]);
    assert_eq!(r.rejected, vec![]);
    assert_eq!(r.rows, 2);
}

#[test]
fn utf8_with_bom() {
    let d = Dir::new();
    let p = d.write("roster.csv", format!("\u{FEFF}{}", roster_csv(&[person_row(1)])));
    let r = read(&p).unwrap();
    assert_eq!(r.records, vec![person_record(1, "hr")]);
}

#[test]
fn gbk() {
    let d = Dir::new();
    let text = roster_csv(&[person_row(3)]);
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&bytes).is_err(), "the fixture must not be valid UTF-8");
    let p = d.write("roster.csv", &bytes);
    let r = read(&p).unwrap();
    assert_eq!(r.records, vec![person_record(3, "hr")]);
}

#[test]
fn tab_separated() {
    let d = Dir::new();
    let lines = [ROSTER_HEADER.join("\t"), person_row(4).join("\t")];
    let p = d.write("roster.txt", lines.join("\n"));
    let r = read(&p).unwrap();
    assert_eq!(r.records, vec![person_record(4, "hr")]);
}

#[test]
fn xlsx_numbers_dates_and_real_row_numbers() {
    let d = Dir::new();
    let path = d.write("roster.xlsx", "");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let day = Format::new().set_num_format("yyyy-mm-dd");
    ws.write_string(0, 0, "员工花名册").unwrap();
    for (c, h) in ROSTER_HEADER.iter().enumerate() {
        ws.write_string(1, c as u16, *h).unwrap();
    }
    // Sheet rows 3, 4 and 6 (row 5 left empty).
    for (r, n) in [(2u32, 1u32), (3, 2), (5, 3)] {
        for (c, v) in person_row(n).iter().enumerate() {
            ws.write_string(r, c as u16, v).unwrap();
        }
    }
    // Row 3: employee number and mobile typed as numbers, hire date a real date cell.
    ws.write_number(2, 3, 1234.0).unwrap();
    ws.write_number(2, 9, 13_800_130_001.0).unwrap();
    ws.write_datetime_with_format(2, 2, ExcelDateTime::from_ymd(2024, 3, 1).unwrap(), &day).unwrap();
    // Row 4: hire date as a bare serial number, leave date as a date cell.
    ws.write_number(3, 2, 45352.0).unwrap();
    ws.write_datetime_with_format(3, 13, ExcelDateTime::from_ymd(2025, 6, 30).unwrap(), &day).unwrap();
    // Row 6: the ID number typed as a number.
    ws.write_number(5, 6, 110_105_199_001_010_030.0).unwrap();
    wb.save(&path).unwrap();

    let r = read(&path).unwrap();
    let mut first = person_record(1, "hr");
    first.profile.employee_number = "1234".into();
    first.profile.hire_date = Some(date(2024, 3, 1));
    let mut second = person_record(2, "hr");
    second.profile.hire_date = Some(date(2024, 3, 1));
    second.leave_date = Some(date(2025, 6, 30));
    assert_eq!(r.records, vec![first, second]);
    assert_eq!(r.rejected, vec![err(&path, 6, "身份证号码", ID_AS_NUMBER)]);
    assert_eq!(r.rows, 3);
}

#[test]
fn blank_rows_are_skipped_but_counted() {
    let d = Dir::new();
    let text = format!(
        "{}\n\n{}\n,,,,\n{}\n",
        csv_line(&ROSTER_HEADER),
        csv_line(&person_row(1)),
        csv_line(&{
            let mut r = person_row(2);
            r[8] = "Q9".into();
            r
        })
    );
    let p = d.write("roster.csv", text);
    let r = read(&p).unwrap();
    assert_eq!(r.records, vec![person_record(1, "hr")]);
    assert_eq!(r.rejected, vec![err(&p, 5, "职级", "`Q9` is not a grade (M1–M16 or P1–P16)")]);
    assert_eq!(r.rows, 2);
}

#[test]
fn a_title_row_above_the_header_is_skipped() {
    let d = Dir::new();
    let p = d.write("roster.csv", format!("员工花名册,,\n{}", roster_csv(&[person_row(1)])));
    let r = read(&p).unwrap();
    assert_eq!(r.records, vec![person_record(1, "hr")]);
    assert_eq!(r.rows, 1);
}

#[test]
fn unreadable_files() {
    let d = Dir::new();
    let missing = d.0.path().join("nope.csv");
    let e = read(&missing).unwrap_err();
    assert!(matches!(&e, SourceError::Unreadable { file, .. } if *file == missing.display().to_string()), "{e}");

    let corrupt = d.write("roster.xlsx", b"PK\x03\x04 this is not a zip archive");
    let e = read(&corrupt).unwrap_err();
    assert!(matches!(&e, SourceError::Unreadable { reason, .. } if reason.starts_with("not a valid xlsx file")), "{e}");

    let renamed = d.write("roster2.xlsx", roster_csv(&[person_row(1)]));
    let e = read(&renamed).unwrap_err();
    assert!(
        matches!(&e, SourceError::Unreadable { reason, .. } if reason == "not a valid spreadsheet workbook"),
        "{e}"
    );

    let binary = d.write("roster.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR");
    let e = read(&binary).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: cannot read: not a spreadsheet or a CSV text file", binary.display()));
}

#[test]
fn an_empty_file_has_no_header_and_a_header_alone_has_no_rows() {
    let d = Dir::new();
    let empty = d.write("empty.csv", "\u{FEFF}\r\n\r\n");
    let e = read(&empty).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: no header row", empty.display()));
    assert!(matches!(e, SourceError::Invalid { .. }));

    let header_only = d.write("header.csv", roster_csv(&[]));
    let r = read(&header_only).unwrap();
    assert_eq!((r.records.len(), r.rejected.len(), r.rows), (0, 0, 0));
}

#[test]
fn english_headers_and_headers_with_line_breaks() {
    let d = Dir::new();
    let english = [
        "Company",
        "Department",
        "Hire Date",
        "EMPLOYEE_NUMBER",
        "name",
        "gender",
        "id_number",
        "title",
        "grade",
        "mobile",
        "email",
        "confidential",
        "status",
        "leave_date",
    ];
    let p = d.write("en.csv", csv(&[english.iter().map(|s| (*s).to_owned()).collect(), person_row(1)]));
    assert_eq!(read(&p).unwrap().records, vec![person_record(1, "hr")]);

    // Line breaks and spaces inside headers, a "required" mark, an unknown column with free text.
    let mut header: Vec<String> = ROSTER_HEADER.iter().map(|s| (*s).to_owned()).collect();
    header[0] = "公司名\n称".into();
    header[2] = "入职 日期".into();
    header[4] = "*姓名".into();
    header.push("备注".into());
    let mut by_name = person_row(2);
    by_name[COMPANY_COLUMN] = "乙公司".into();
    by_name.push("调入\n待定".into());
    let mut unknown = person_row(3);
    unknown[COMPANY_COLUMN] = "Z".into();
    let p = d.write("broken.csv", csv(&[header, by_name, unknown]));
    let r = read(&p).unwrap();
    let mut want = person_record(2, "hr");
    want.profile.company = code("B");
    assert_eq!(r.records, vec![want]);
    // The column is named as written in the file.
    assert_eq!(r.rejected, vec![err(&p, 3, "公司名\n称", "unknown company `Z`")]);
}
