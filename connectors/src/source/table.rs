//! Any HR file (.xlsx/.xls/.ods workbook, or CSV/TSV in UTF-8, UTF-16 or GBK) read into rows of
//! trimmed text cells, each row carrying its spreadsheet row number. Knows nothing of columns.

use std::io::Cursor;
use std::path::Path;

use calamine::{Data, ExcelDateTimeType, Reader, Sheets};
use chrono::NaiveDate;

use super::SourceError;

/// What the cell was before it became text: the validators need to know that a number came from
/// Excel (an ID number typed as a number has lost digits; a date may be a serial number).
///
/// Cells, rows and tables are deliberately not `Debug`: a cell may hold an ID number.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum CellKind {
    Text,
    /// A numeric workbook cell; `Cell::text` holds it without a trailing ".0".
    Number(f64),
    /// A workbook date cell; `Cell::text` holds it as `YYYY-MM-DD`.
    Date(NaiveDate),
    /// A workbook error value (#N/A, #REF!, …), in `Cell::text`.
    Error,
}

#[derive(Clone, PartialEq)]
pub(crate) struct Cell {
    pub text: String,
    pub kind: CellKind,
}

impl Cell {
    pub fn new(s: &str) -> Self {
        Cell { text: s.trim().to_owned(), kind: CellKind::Text }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

#[derive(Clone)]
pub(crate) struct RawRow {
    /// Spreadsheet row number: the first line of the file is 1.
    pub number: u64,
    pub cells: Vec<Cell>,
}

/// The non-empty rows of a file, in order. Empty rows are dropped but still counted in the row
/// numbers, so a number always points at the row a person sees in Excel.
#[derive(Clone, Default)]
pub(crate) struct Table {
    pub rows: Vec<RawRow>,
}

pub(crate) fn read_table(path: &Path) -> Result<Table, SourceError> {
    let mut rows = Vec::new();
    for_each_row(path, |row| rows.push(row))?;
    Ok(Table { rows })
}

/// The non-empty rows of a file, in order, one at a time, without holding them all (a roster of
/// 100,000 people is read straight into records). Same rows as [`read_table`].
pub(crate) fn for_each_row(path: &Path, mut visit: impl FnMut(RawRow)) -> Result<(), SourceError> {
    let unreadable = |reason: String| SourceError::Unreadable { file: path.display().to_string(), reason };
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let zip = bytes.starts_with(b"PK\x03\x04");
    let ole = bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
    if zip || ole {
        return read_workbook(bytes, zip, &mut visit).map_err(unreadable);
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if matches!(ext.as_deref(), Some("xlsx" | "xlsm" | "xls" | "ods")) {
        return Err(unreadable("not a valid spreadsheet workbook".into()));
    }
    let text = decode_text(&bytes).map_err(unreadable)?;
    drop(bytes);
    visit_delimited(&text, &mut visit).map_err(unreadable)
}

fn read_workbook(bytes: Vec<u8>, zip: bool, visit: &mut dyn FnMut(RawRow)) -> Result<(), String> {
    let cursor = Cursor::new(bytes);
    let mut book: Sheets<_> = if zip {
        match calamine::open_workbook_from_rs::<calamine::Xlsx<_>, _>(cursor.clone()) {
            Ok(x) => Sheets::Xlsx(x),
            Err(xlsx_err) => match calamine::open_workbook_from_rs::<calamine::Ods<_>, _>(cursor) {
                Ok(o) => Sheets::Ods(o),
                Err(_) => return Err(format!("not a valid xlsx file: {xlsx_err}")),
            },
        }
    } else {
        Sheets::Xls(calamine::open_workbook_from_rs(cursor).map_err(|e| format!("not a valid xls file: {e}"))?)
    };
    let range = match book.worksheet_range_at(0) {
        None => return Err("the workbook has no worksheet".into()),
        Some(r) => r.map_err(|e| format!("cannot read the first worksheet: {e}"))?,
    };
    let Some((first_row, _)) = range.start() else {
        return Ok(());
    };
    for (i, row) in range.rows().enumerate() {
        let cells: Vec<Cell> = row.iter().map(workbook_cell).collect();
        if let Some(row) = raw_row(u64::from(first_row) + 1 + i as u64, cells) {
            visit(row);
        }
    }
    Ok(())
}

fn workbook_cell(d: &Data) -> Cell {
    match d {
        Data::Empty => Cell::new(""),
        Data::String(s) => Cell::new(s),
        Data::Int(i) => Cell { text: i.to_string(), kind: CellKind::Number(*i as f64) },
        Data::Float(f) => Cell { text: number_text(*f), kind: CellKind::Number(*f) },
        Data::Bool(b) => Cell::new(if *b { "TRUE" } else { "FALSE" }),
        Data::DateTime(dt) => match dt.as_datetime().filter(|_| dt.is_datetime()) {
            Some(t) => Cell { text: t.date().format("%Y-%m-%d").to_string(), kind: CellKind::Date(t.date()) },
            None => Cell { text: number_text(dt.as_f64()), kind: CellKind::Number(dt.as_f64()) },
        },
        Data::DateTimeIso(s) => {
            let day = s.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            match day {
                Some(day) => Cell { text: day.format("%Y-%m-%d").to_string(), kind: CellKind::Date(day) },
                None => Cell::new(s),
            }
        }
        Data::DurationIso(s) => Cell::new(s),
        Data::Error(e) => Cell { text: e.to_string(), kind: CellKind::Error },
    }
}

/// Excel stores every number as a float: `1234.0` is the employee number `1234`.
pub(crate) fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { format!("{f}") }
}

/// Serial numbers of Excel's 1900 date system, for numbers typed into a date column.
pub(crate) fn excel_serial_date(f: f64) -> Option<NaiveDate> {
    if !(1.0..2_958_466.0).contains(&f) {
        return None;
    }
    calamine::ExcelDateTime::new(f, ExcelDateTimeType::DateTime, false).as_datetime().map(|t| t.date())
}

/// Strict UTF-8 first (after a BOM), UTF-16 when it has a BOM, else GB18030 (a superset of GBK).
fn decode_text(bytes: &[u8]) -> Result<String, String> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8(rest.to_vec()).map_err(|_| "starts with a UTF-8 BOM but is not valid UTF-8".into());
    }
    for (bom, enc) in [(&b"\xFF\xFE"[..], encoding_rs::UTF_16LE), (&b"\xFE\xFF"[..], encoding_rs::UTF_16BE)] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            let (text, had_errors) = enc.decode_without_bom_handling(rest);
            if had_errors {
                return Err("not valid UTF-16 text".into());
            }
            return Ok(text.into_owned());
        }
    }
    if bytes.contains(&0) {
        return Err("not a spreadsheet or a CSV text file".into());
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_owned());
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err("text is neither UTF-8 nor GBK/GB18030".into());
    }
    Ok(text.into_owned())
}

/// Comma-separated, or tab-separated when the first line with a separator has tabs and no commas.
#[cfg(test)]
fn read_delimited(text: &str) -> Result<Table, String> {
    let mut rows = Vec::new();
    visit_delimited(text, &mut |row| rows.push(row))?;
    Ok(Table { rows })
}

/// The rows of delimited text (see `read_delimited`), one at a time.
fn visit_delimited(text: &str, visit: &mut dyn FnMut(RawRow)) -> Result<(), String> {
    let first = text.lines().find(|l| l.contains(',') || l.contains('\t')).unwrap_or("");
    let delimiter = if first.contains('\t') && !first.contains(',') { b'\t' } else { b',' };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    // The csv reader skips blank lines and a quoted cell may span lines. A record's position is
    // where the previous one ended, so the blank lines it skipped are the line breaks that open
    // its stretch of text; each record is one spreadsheet row however many lines it spans.
    let mut next_row = 1u64;
    for record in reader.records() {
        let record = record.map_err(|e| format!("bad CSV: {e}"))?;
        let start = record.position().map_or(0, |p| p.byte() as usize);
        next_row += blank_lines_at(text.as_bytes(), start);
        let cells = record.iter().map(Cell::new).collect();
        if let Some(row) = raw_row(next_row, cells) {
            visit(row);
        }
        next_row += 1;
    }
    Ok(())
}

/// Line breaks at `start`, before any content; the `\n` of a `\r\n` split across `start` is
/// the end of the previous line, not a blank one.
fn blank_lines_at(bytes: &[u8], start: usize) -> u64 {
    let rest = bytes.get(start..).unwrap_or_default();
    let prefix = &rest[..rest.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(rest.len())];
    let mut lines = prefix.iter().filter(|&&b| b == b'\n').count() as u64;
    if prefix.first() == Some(&b'\n') && start > 0 && bytes.get(start - 1) == Some(&b'\r') {
        lines -= 1;
    }
    lines
}

/// A row without its trailing empty cells; `None` when nothing is left.
fn raw_row(number: u64, mut cells: Vec<Cell>) -> Option<RawRow> {
    while cells.last().is_some_and(Cell::is_empty) {
        cells.pop();
    }
    (!cells.is_empty()).then_some(RawRow { number, cells })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lose_the_trailing_zero_fraction_only() {
        assert_eq!(number_text(1234.0), "1234");
        assert_eq!(number_text(-7.0), "-7");
        assert_eq!(number_text(1.5), "1.5");
    }

    #[test]
    fn excel_serials_become_dates() {
        assert_eq!(excel_serial_date(45352.0), NaiveDate::from_ymd_opt(2024, 3, 1));
        assert_eq!(excel_serial_date(0.0), None);
        assert_eq!(excel_serial_date(20_240_301.0), None);
    }

    #[test]
    fn decoding_prefers_utf8_then_gbk() {
        assert_eq!(decode_text("\u{FEFF}姓名".as_bytes()).as_deref(), Ok("姓名"));
        assert_eq!(decode_text("姓名".as_bytes()).as_deref(), Ok("姓名"));
        let (gbk, _, _) = encoding_rs::GBK.encode("姓名,部门");
        assert_eq!(decode_text(&gbk).as_deref(), Ok("姓名,部门"));
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend("工号".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode_text(&utf16).as_deref(), Ok("工号"));
        assert!(decode_text(b"\x00\x01binary").is_err());
    }

    #[test]
    fn csv_row_numbers_count_blank_lines_and_not_line_breaks_inside_cells() {
        for eol in ["\n", "\r\n"] {
            let text = "\n,\na,b\n\n\"x\ny\",1\n,\n\n\n2,3\n4\n".replace('\n', eol);
            let t = read_delimited(&text).expect("csv");
            let got: Vec<(u64, Vec<&str>)> =
                t.rows.iter().map(|r| (r.number, r.cells.iter().map(|c| c.text.as_str()).collect())).collect();
            let cell = format!("x{eol}y");
            let want = vec![(3, vec!["a", "b"]), (5, vec![cell.as_str(), "1"]), (9, vec!["2", "3"]), (10, vec!["4"])];
            assert_eq!(got, want, "{eol:?}");
        }
    }

    #[test]
    fn tabs_are_the_separator_only_without_commas() {
        let t = read_delimited("a\tb\n1\t2,5\n").expect("tsv");
        assert_eq!(t.rows[1].cells.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["1", "2,5"]);
        let t = read_delimited("a,b\tc\n").expect("csv");
        assert_eq!(t.rows[0].cells.len(), 2);
    }
}
