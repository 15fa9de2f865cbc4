//! Files that must not be trusted as they are: too large, too many rows, a cell too long, a
//! column twice, a quote left open; and merged cells, read as Excel shows them.

use std::path::{Path, PathBuf};

use orgid_config::LimitsConfig;
use rust_xlsxwriter::{Format, Workbook};

use super::*;
use crate::source::{Requests, RosterRead, SourceError, read_companies, read_requests, read_roster};

fn roster(path: &Path, limits: &LimitsConfig) -> Result<RosterRead, SourceError> {
    read_roster(path, "hr", &keyer(), &companies(), limits)
}

fn header() -> Vec<String> {
    ROSTER_HEADER.iter().map(|s| (*s).to_owned()).collect()
}

/// An .xlsx of `rows` (the first is the header), all cells text.
fn xlsx(d: &Dir, name: &str, rows: &[Vec<String>]) -> PathBuf {
    let path = d.write(name, "");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, v).unwrap();
        }
    }
    wb.save(&path).unwrap();
    path
}

#[test]
fn a_file_larger_than_the_limit_is_refused_unread() {
    let d = Dir::new();
    let rows: Vec<Vec<String>> = (1..=12_000).map(person_row).collect();
    let p = d.write("roster.csv", roster_csv(&rows));
    let size = std::fs::metadata(&p).unwrap().len();
    assert!(size > 1 << 20, "the fixture must be over 1 MB ({size})");
    let small = LimitsConfig { max_file_mb: 1, ..limits() };
    let e = roster(&p, &small).unwrap_err();
    assert!(matches!(e, SourceError::TooLarge { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: the file is {:.1} MB ({size} bytes), more than the 1 MB allowed (limits.max_file_mb); it was not read",
            p.display(),
            size as f64 / 1_048_576.0
        )
    );
    assert_eq!(roster(&p, &limits()).unwrap().rows, 12_000, "the default limit reads it");
}

#[test]
fn an_xlsx_that_would_unpack_past_the_limit_is_refused_before_it_is_inflated() {
    let d = Dir::new();
    // 2,000 titles of 900 characters each: 5 MB of shared strings that deflate to almost nothing.
    let mut rows = vec![header()];
    for n in 1..=2000 {
        let mut r = person_row(n);
        r[7] = format!("{}{n}", "经".repeat(900));
        rows.push(r);
    }
    let p = xlsx(&d, "roster.xlsx", &rows);
    assert!(std::fs::metadata(&p).unwrap().len() < 1 << 20, "small on disk");
    let small = LimitsConfig { max_xlsx_unpacked_mb: 1, ..limits() };
    let e = roster(&p, &small).unwrap_err();
    assert!(matches!(e, SourceError::TooLarge { .. }), "{e}");
    let text = e.to_string();
    assert!(text.starts_with(&format!("{}: the workbook would unpack to ", p.display())), "{text}");
    assert!(text.contains("(xl/sharedStrings.xml alone "), "{text}");
    assert!(text.ends_with("more than the 1 MB allowed (limits.max_xlsx_unpacked_mb); it was not unpacked"), "{text}");
    assert_eq!(roster(&p, &limits()).unwrap().rows, 2000, "the default limit reads it");
}

#[test]
fn a_file_with_more_rows_than_the_limit_is_refused_at_the_first_row_over() {
    let d = Dir::new();
    let rows: Vec<Vec<String>> = (1..=5).map(person_row).collect();
    let limits = LimitsConfig { max_rows: 4, ..limits() };
    // The header and three people fit; the fourth person (row 5) is one too many.
    let csv_path = d.write("roster.csv", roster_csv(&rows));
    let mut all = vec![header()];
    all.extend(rows.iter().cloned());
    let xlsx_path = xlsx(&d, "roster.xlsx", &all);
    for p in [csv_path, xlsx_path] {
        let e = roster(&p, &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: row 5: the file has more than the 4 rows allowed (limits.max_rows); it was refused here",
                p.display()
            )
        );
        assert_eq!(roster(&p, &LimitsConfig { max_rows: 6, ..limits }).unwrap().records.len(), 5);
    }
    let forms = d.write("form1.csv", roster_csv(&rows));
    let e = read_requests(&forms, &keyer(), &companies(), &limits).unwrap_err();
    assert!(e.to_string().contains("row 5: the file has more than the 4 rows allowed"), "{e}");
    let list = d.write(
        "companies.csv",
        "公司编码,公司名称,上级公司编码,企业级别,运营模式\nG,集团,,集团,集团统一运营\nA,甲,G,1,集团统一运营\n",
    );
    let e = read_companies(&list, &LimitsConfig { max_rows: 2, ..limits }).unwrap_err();
    assert!(e.to_string().contains("row 3: the file has more than the 2 rows allowed"), "{e}");
}

#[test]
fn a_cell_longer_than_the_limit_rejects_its_row_only_and_is_never_kept_whole() {
    let d = Dir::new();
    // 800,000 characters in a CSV; an .xlsx cell holds at most 32,767.
    for (chars, p) in [(800_000, "roster.csv"), (30_000, "roster.xlsx")] {
        let mut bad = person_row(2);
        bad[7] = "职务".repeat(chars / 2);
        let rows = vec![person_row(1), bad, person_row(3)];
        let p = if p.ends_with(".csv") {
            d.write(p, roster_csv(&rows))
        } else {
            xlsx(&d, p, &[vec![header()], rows].concat())
        };
        let r = roster(&p, &limits()).unwrap();
        assert_eq!(r.records, vec![person_record(1, "hr"), person_record(3, "hr")]);
        let reason = format!(
            "{chars} characters, more than the 1000 allowed (limits.max_cell_chars): `{}…`",
            "职务".repeat(100)
        );
        assert_eq!(r.rejected, vec![err(&p, 3, "职务", &reason)]);
        assert_eq!(r.rows, 3);
    }
    // The limit is the configured one, in characters (CJK counts one each).
    let p = d.write("r2.csv", roster_csv(&[person_row(1)]));
    let r = roster(&p, &LimitsConfig { max_cell_chars: 5, ..limits() }).unwrap();
    let columns: Vec<&str> = r.rejected.iter().map(|e| e.column.as_str()).collect();
    assert_eq!(columns, ["部门", "入职日期", "身份证号码", "手机号", "公司邮箱"]);
    assert!(r.rejected.iter().all(|e| e.reason.contains("more than the 5 allowed")));
    assert_eq!(r.rejected[2].reason, "18 characters, more than the 5 allowed (limits.max_cell_chars)");
    assert!(!format!("{:?}", r.rejected).contains(&id(1)[..6]), "an ID number is never shown, even cut short");
}

#[test]
fn a_request_form_with_a_cell_too_long_rejects_that_row() {
    let d = Dir::new();
    let mut bad = person_row(2)[..11].to_vec();
    bad[4] = "名".repeat(5000);
    let rows = vec![ROSTER_HEADER[..11].iter().map(|s| (*s).to_owned()).collect(), person_row(1)[..11].to_vec(), bad];
    let p = d.write("form1.csv", csv(&rows));
    let r = read_requests(&p, &keyer(), &companies(), &limits()).unwrap();
    let Requests::Opening(open) = r.requests else { panic!("form 1") };
    assert_eq!(open.len(), 1);
    assert_eq!(r.rejected.len(), 1);
    assert_eq!((r.rejected[0].row, r.rejected[0].column.as_str()), (3, "姓名"));
    assert!(r.rejected[0].reason.chars().count() < 300, "{}", r.rejected[0].reason);
}

#[test]
fn a_column_twice_is_refused_by_name_in_every_kind_of_file() {
    let d = Dir::new();
    let mut h = header();
    h.push("工号".into());
    let mut row = person_row(1);
    row.push("E9999".into());
    let p = d.write("roster.csv", csv(&[h.clone(), row.clone()]));
    let e = roster(&p, &limits()).unwrap_err();
    let want = "row 1: column 工号 appears twice (columns D and O); keep one, so that it is clear which to read";
    assert_eq!(e.to_string(), format!("{}: {want}", p.display()));
    let p = xlsx(&d, "roster.xlsx", &[h.clone(), row.clone()]);
    assert_eq!(roster(&p, &limits()).unwrap_err().to_string(), format!("{}: {want}", p.display()));

    // Form 1, below a title row.
    let mut form = vec![vec!["账号开通信息收集表".to_owned()], h[..11].to_vec(), row[..11].to_vec()];
    form[1][9] = "手机号码".into();
    form[1][10] = "手机".into();
    let p = d.write("form1.csv", csv(&form));
    let e = read_requests(&p, &keyer(), &companies(), &limits()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: row 2: column 手机号 appears twice (columns J as `手机号码` and K as `手机`); keep one, so that it is \
             clear which to read",
            p.display()
        )
    );

    let list = d.write("companies.csv", "公司编码,公司名称,公司编码,企业级别,运营模式\nG,集团,G,集团,集团统一运营\n");
    let e = read_companies(&list, &limits()).unwrap_err();
    assert!(
        e.to_string().ends_with(
            "row 1: column 公司编码 appears twice (columns A and C); keep one, so that it is clear which to read"
        ),
        "{e}"
    );
}

#[test]
fn a_quote_left_open_refuses_the_file_at_its_row() {
    let d = Dir::new();
    let mut rows: Vec<String> = vec![csv_line(&ROSTER_HEADER)];
    rows.extend((1..=10).map(|n| csv_line(&person_row(n))));
    // Row 7 (person 6): the department opens a quote that never closes.
    rows[6] = rows[6].replacen(",财务部/一科,", ",\"财务部/一科,", 1);
    let text = rows.join("\r\n") + "\r\n";
    let p = d.write("roster.csv", &text);
    let e = roster(&p, &limits()).unwrap_err();
    assert!(matches!(e, SourceError::At { row: 7, .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: row 7, column B: a quote opens here and never closes: the rest of the file (lines 7–11) would be \
             read as one value; close the quote, or write a quote inside a value as \"\"",
            p.display()
        )
    );
    // The same quote closed by a later, well-quoted value: rows 8 and 9 would still vanish.
    let mut later = rows.clone();
    later[9] = later[9].replacen(",会计,", ",\"会计\",", 1);
    let p = d.write("later.csv", later.join("\n") + "\n");
    let e = roster(&p, &limits()).unwrap_err();
    assert!(e.to_string().contains("row 7, column B: a quote opens here and closes only on line 10"), "{e}");

    // GBK and quoted cells with commas and line breaks are fine.
    let mut fine = person_row(2);
    fine[7] = "会计, 出纳".into();
    fine[1] = "财务部".into();
    let mut note = header();
    note.push("备注".into());
    let mut with_note = person_row(1);
    with_note.push("调入,\n待定".into());
    fine.push("a \"quoted\" word".into());
    let text = csv(&[note, with_note, fine]);
    let p = d.write("fine.csv", encoding_rs::GBK.encode(&text).0);
    let r = roster(&p, &limits()).unwrap();
    assert_eq!((r.records.len(), r.rejected.len()), (2, 0), "{:?}", r.rejected);
    assert_eq!(r.records[1].profile.title, "会计, 出纳");
}

/// A roster as HR exports it: a title merged across the columns, 公司名称 merged down over each
/// company's rows, and a 职务 merged over two people.
#[test]
fn merged_cells_are_one_value_for_every_row_they_cover() {
    let d = Dir::new();
    let path = d.write("roster.xlsx", "");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let plain = Format::new();
    ws.merge_range(0, 0, 0, 13, "员工花名册", &plain).unwrap();
    for (c, h) in ROSTER_HEADER.iter().enumerate() {
        ws.write_string(1, c as u16, *h).unwrap();
    }
    // Rows 3–6 are 甲公司 (A), rows 7–8 乙公司 (B): one merged cell each.
    for (i, n) in (1..=6u32).enumerate() {
        let r = 2 + i as u32;
        for (c, v) in person_row(n).iter().enumerate().skip(1) {
            ws.write_string(r, c as u16, v).unwrap();
        }
    }
    ws.merge_range(2, 0, 5, 0, "甲公司", &plain).unwrap();
    ws.merge_range(6, 0, 7, 0, "乙公司", &plain).unwrap();
    // 职务 merged over persons 1 and 2 too.
    ws.merge_range(2, 7, 3, 7, "会计", &plain).unwrap();
    wb.save(&path).unwrap();

    let r = roster(&path, &limits()).unwrap();
    assert_eq!(r.rejected, vec![], "no row lacks its company");
    let mut want: Vec<PersonRecord> = (1..=6).map(|n| person_record(n, "hr")).collect();
    for w in &mut want[4..] {
        w.profile.company = code("B");
    }
    assert_eq!(r.records, want);
    assert_eq!(r.rows, 6);

    // Form 1 likewise.
    let path = d.write("form1.xlsx", "");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ROSTER_HEADER[..11].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (i, n) in (1..=3u32).enumerate() {
        for (c, v) in person_row(n)[..11].iter().enumerate().skip(1) {
            ws.write_string(1 + i as u32, c as u16, v).unwrap();
        }
    }
    ws.merge_range(1, 0, 3, 0, "A", &plain).unwrap();
    wb.save(&path).unwrap();
    let r = read_requests(&path, &keyer(), &companies(), &limits()).unwrap();
    let Requests::Opening(open) = r.requests else { panic!("form 1") };
    assert_eq!(r.rejected, vec![]);
    assert_eq!(
        open.iter().map(|o| (o.row, o.record.profile.company.0.as_str())).collect::<Vec<_>>(),
        [(2, "A"), (3, "A"), (4, "A")]
    );
}
