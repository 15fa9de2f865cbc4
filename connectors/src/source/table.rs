//! Any HR file (.xlsx/.xls/.ods workbook, or CSV/TSV in UTF-8, UTF-16 or GBK) read into rows of
//! trimmed text cells, each row carrying its spreadsheet row number. Knows nothing of columns.

use std::io::{Cursor, Read, Seek};
use std::path::Path;

use calamine::{Data, DataRef, Dimensions, ExcelDateTimeType, Reader};
use chrono::NaiveDate;
use orgid_config::LimitsConfig;

use super::SourceError;
use super::limits::{RowLimit, SHOWN_CHARS, check_unpacked, file_too_large, prefix};

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
    /// Text of `chars` characters, more than the `max` allowed: `Cell::text` keeps only its first
    /// `SHOWN_CHARS`, so a huge value is never held, stored or printed.
    TooLong {
        chars: usize,
        max: usize,
    },
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

    /// A text cell of at most `max` characters; a longer one keeps only its beginning.
    pub fn limited(s: &str, max: usize) -> Self {
        let s = s.trim();
        if s.len() <= max || s.char_indices().nth(max).is_none() {
            return Cell { text: s.to_owned(), kind: CellKind::Text };
        }
        Cell { text: prefix(s, SHOWN_CHARS).to_owned(), kind: CellKind::TooLong { chars: s.chars().count(), max } }
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

/// The column as Excel names it: A, B, … Z, AA, AB, …
pub(crate) fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

pub(crate) fn read_table(path: &Path, limits: &LimitsConfig) -> Result<Table, SourceError> {
    let mut rows = Vec::new();
    for_each_row(path, limits, |row| rows.push(row))?;
    Ok(Table { rows })
}

/// The non-empty rows of a file, in order, one at a time, without holding them all (a roster of
/// 100,000 people is read straight into records). Same rows as [`read_table`]. A file beyond
/// `limits` is refused as soon as that is known: its size before it is read, an .xlsx's unpacked
/// size before it is inflated, its rows at the first one over.
pub(crate) fn for_each_row(
    path: &Path,
    limits: &LimitsConfig,
    mut visit: impl FnMut(RawRow),
) -> Result<(), SourceError> {
    let file = path.display().to_string();
    let unreadable = |reason: String| SourceError::Unreadable { file: file.clone(), reason };
    let bytes = read_limited(&file, path, limits)?;
    let mut out = Rows { limit: RowLimit::new(&file, limits), max_chars: limits.max_cell_chars, visit: &mut visit };
    let zip = bytes.starts_with(b"PK\x03\x04");
    let ole = bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
    if zip || ole {
        if zip {
            check_unpacked(&file, &bytes, limits)?;
        }
        return read_workbook(&bytes, zip, &mut out).map_err(|e| match e {
            Failed::Refused(e) => e,
            Failed::Unreadable(reason) => unreadable(reason),
        });
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if matches!(ext.as_deref(), Some("xlsx" | "xlsm" | "xls" | "ods")) {
        return Err(unreadable("not a valid spreadsheet workbook".into()));
    }
    let text = decode_text(bytes).map_err(unreadable)?;
    visit_delimited(&file, &text, &mut out)
}

/// The file's bytes, unless it is larger than `limits.max_file_mb`: then it is not read at all
/// (and a file that grows while it is read is cut off one byte past the limit).
fn read_limited(file: &str, path: &Path, limits: &LimitsConfig) -> Result<Vec<u8>, SourceError> {
    let unreadable = |e: std::io::Error| SourceError::Unreadable { file: file.to_owned(), reason: e.to_string() };
    let max = limits.max_file_bytes();
    let f = std::fs::File::open(path).map_err(unreadable)?;
    let size = f.metadata().map_err(unreadable)?.len();
    if size > max {
        return Err(file_too_large(file, Some(size), limits));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    f.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > max {
        return Err(file_too_large(file, None, limits));
    }
    Ok(bytes)
}

/// Where the rows of a file go: empty ones dropped, the others counted against the row limit.
struct Rows<'v> {
    limit: RowLimit<'v>,
    max_chars: usize,
    visit: &'v mut dyn FnMut(RawRow),
}

impl Rows<'_> {
    fn row(&mut self, number: u64, cells: Vec<Cell>) -> Result<(), SourceError> {
        if let Some(row) = raw_row(number, cells) {
            self.limit.count(number)?;
            (self.visit)(row);
        }
        Ok(())
    }
}

/// Why a workbook could not be read: a limit (already a `SourceError`) or anything else.
enum Failed {
    Refused(SourceError),
    Unreadable(String),
}

impl From<SourceError> for Failed {
    fn from(e: SourceError) -> Self {
        Failed::Refused(e)
    }
}

impl From<String> for Failed {
    fn from(e: String) -> Self {
        Failed::Unreadable(e)
    }
}

fn read_workbook(bytes: &[u8], zip: bool, out: &mut Rows<'_>) -> Result<(), Failed> {
    let cursor = Cursor::new(bytes);
    if !zip {
        let mut xls: calamine::Xls<_> =
            calamine::open_workbook_from_rs(cursor).map_err(|e| format!("not a valid xls file: {e}"))?;
        let merges = xls.merge_cells_by_sheet_id(0).unwrap_or_default();
        return read_range(xls.worksheet_range_at(0), merges, out);
    }
    match calamine::open_workbook_from_rs::<calamine::Xlsx<_>, _>(cursor.clone()) {
        Ok(xlsx) => read_xlsx(xlsx, out),
        Err(xlsx_err) => match calamine::open_workbook_from_rs::<calamine::Ods<_>, _>(cursor) {
            Ok(mut ods) => read_range(ods.worksheet_range_at(0), Vec::new(), out),
            Err(_) => Err(format!("not a valid xlsx file: {xlsx_err}").into()),
        },
    }
}

/// The first worksheet of an .xlsx, cell by cell as it is parsed: the rows are counted (and the
/// file refused at the first one over the limit) without building the whole sheet first.
fn read_xlsx<RS: Read + Seek>(mut book: calamine::Xlsx<RS>, out: &mut Rows<'_>) -> Result<(), Failed> {
    let Some(name) = book.sheet_names().first().cloned() else {
        return Err("the workbook has no worksheet".to_owned().into());
    };
    let cannot = |e: calamine::XlsxError| format!("cannot read the first worksheet: {e}");
    let merges = match book.merge_cells_by_sheet_name(&name) {
        Ok(m) => m,
        Err(calamine::XlsxError::NotAWorksheet(_)) => Vec::new(),
        Err(e) => return Err(cannot(e).into()),
    };
    let mut cells = match book.worksheet_cells_reader(&name) {
        Ok(reader) => reader,
        // A chart sheet first: no rows, as an empty sheet.
        Err(calamine::XlsxError::NotAWorksheet(_)) => return Ok(()),
        Err(e) => return Err(cannot(e).into()),
    };
    let mut sheet = Sheet::new(merges, out.max_chars);
    while let Some(cell) = cells.next_cell().map_err(cannot)? {
        let (row, col) = cell.get_position();
        sheet.cell(row, col, cell.get_value(), out)?;
    }
    Ok(sheet.finish(out)?)
}

/// A worksheet read whole by calamine (.xls, .ods), handed on like an .xlsx's.
fn read_range<E: std::fmt::Display>(
    range: Option<Result<calamine::Range<Data>, E>>,
    merges: Vec<Dimensions>,
    out: &mut Rows<'_>,
) -> Result<(), Failed> {
    let range = match range {
        None => return Err("the workbook has no worksheet".to_owned().into()),
        Some(r) => r.map_err(|e| format!("cannot read the first worksheet: {e}"))?,
    };
    let Some((first_row, first_col)) = range.start() else {
        return Ok(());
    };
    let mut sheet = Sheet::new(merges, out.max_chars);
    for (r, c, value) in range.used_cells() {
        let (row, col) = (first_row + r as u32, first_col + c as u32);
        sheet.cell(row, col, &borrowed(value), out)?;
    }
    Ok(sheet.finish(out)?)
}

/// Cells of a worksheet, given in row order, made into rows; merged ranges are filled in.
struct Sheet {
    merges: Merges,
    max_chars: usize,
    /// The row being gathered (0-based) and its cells by column.
    current: Option<(u32, Vec<Cell>)>,
}

impl Sheet {
    fn new(merges: Vec<Dimensions>, max_chars: usize) -> Self {
        Sheet { merges: Merges::new(merges), max_chars, current: None }
    }

    fn cell(&mut self, row: u32, col: u32, value: &DataRef<'_>, out: &mut Rows<'_>) -> Result<(), Failed> {
        if matches!(value, DataRef::Empty) {
            return Ok(());
        }
        match &self.current {
            Some((r, _)) if *r > row => {
                return Err(
                    format!("the worksheet's rows are out of order (row {} after row {})", row + 1, r + 1).into()
                );
            }
            Some((r, _)) if *r < row => self.flush(out)?,
            _ => {}
        }
        let cells = &mut self.current.get_or_insert_with(|| (row, Vec::new())).1;
        let col = col as usize;
        if cells.len() <= col {
            cells.resize(col + 1, Cell::new(""));
        }
        cells[col] = workbook_cell(value, self.max_chars);
        Ok(())
    }

    fn flush(&mut self, out: &mut Rows<'_>) -> Result<(), SourceError> {
        let Some((row, mut cells)) = self.current.take() else { return Ok(()) };
        self.merges.fill(row, &mut cells);
        out.row(u64::from(row) + 1, cells)
    }

    fn finish(mut self, out: &mut Rows<'_>) -> Result<(), SourceError> {
        self.flush(out)
    }
}

/// The merged ranges of a worksheet. Excel keeps a merged range's value in its top-left cell and
/// shows it over the whole range: HR merges 公司名称 over each company's rows. Each row of a range
/// gets that value in the range's first column, and its other cells are empty, as Excel shows
/// them. A row that holds nothing but merged values stays empty (it is nobody's row).
struct Merges {
    /// Ranges not reached yet, the last one first to start.
    pending: Vec<Dimensions>,
    /// Ranges covering the current row, with their value once their first row was read.
    active: Vec<(Dimensions, Option<Cell>)>,
}

impl Merges {
    fn new(mut ranges: Vec<Dimensions>) -> Self {
        ranges.sort_by_key(|d| std::cmp::Reverse(d.start.0));
        Merges { pending: ranges, active: Vec::new() }
    }

    /// Fills row `row` (0-based), whose cells are `cells` by column.
    fn fill(&mut self, row: u32, cells: &mut Vec<Cell>) {
        while let Some(d) = self.pending.pop_if(|d| d.start.0 <= row) {
            self.active.push((d, None));
        }
        self.active.retain(|(d, _)| d.end.0 >= row);
        for (d, value) in &mut self.active {
            if d.start.0 == row {
                *value = cells.get(d.start.1 as usize).filter(|c| !c.is_empty()).cloned();
            }
            // Every covered cell but the top-left one.
            let first = d.start.1 as usize + usize::from(d.start.0 == row);
            let end = (d.end.1 as usize + 1).min(cells.len());
            for cell in cells.get_mut(first..end).unwrap_or_default() {
                *cell = Cell::new("");
            }
        }
        if cells.iter().all(Cell::is_empty) {
            return;
        }
        for (d, value) in &self.active {
            if let (true, Some(value)) = (d.start.0 < row, value) {
                let col = d.start.1 as usize;
                if cells.len() <= col {
                    cells.resize(col + 1, Cell::new(""));
                }
                cells[col] = value.clone();
            }
        }
    }
}

/// A whole sheet's value as the cells reader gives it (text borrowed, not copied).
fn borrowed(d: &Data) -> DataRef<'_> {
    match d {
        Data::Int(i) => DataRef::Int(*i),
        Data::Float(f) => DataRef::Float(*f),
        Data::String(s) => DataRef::SharedString(s),
        Data::Bool(b) => DataRef::Bool(*b),
        Data::DateTime(dt) => DataRef::DateTime(*dt),
        Data::DateTimeIso(s) => DataRef::DateTimeIso(s.clone()),
        Data::DurationIso(s) => DataRef::DurationIso(s.clone()),
        Data::Error(e) => DataRef::Error(e.clone()),
        Data::Empty => DataRef::Empty,
    }
}

fn workbook_cell(d: &DataRef<'_>, max_chars: usize) -> Cell {
    match d {
        DataRef::Empty => Cell::new(""),
        DataRef::SharedString(s) => Cell::limited(s, max_chars),
        DataRef::String(s) => Cell::limited(s, max_chars),
        DataRef::Int(i) => Cell { text: i.to_string(), kind: CellKind::Number(*i as f64) },
        DataRef::Float(f) => Cell { text: number_text(*f), kind: CellKind::Number(*f) },
        DataRef::Bool(b) => Cell::new(if *b { "TRUE" } else { "FALSE" }),
        DataRef::DateTime(dt) => match dt.as_datetime().filter(|_| dt.is_datetime()) {
            Some(t) => Cell { text: t.date().format("%Y-%m-%d").to_string(), kind: CellKind::Date(t.date()) },
            None => Cell { text: number_text(dt.as_f64()), kind: CellKind::Number(dt.as_f64()) },
        },
        DataRef::DateTimeIso(s) => {
            let day = s.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            match day {
                Some(day) => Cell { text: day.format("%Y-%m-%d").to_string(), kind: CellKind::Date(day) },
                None => Cell::limited(s, max_chars),
            }
        }
        DataRef::DurationIso(s) => Cell::limited(s, max_chars),
        DataRef::Error(e) => Cell { text: e.to_string(), kind: CellKind::Error },
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
fn decode_text(mut bytes: Vec<u8>) -> Result<String, String> {
    // UTF-8 text becomes the string in place: a roster of a million people is some 140 MB, which
    // a copy would hold twice while it is read.
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
        return String::from_utf8(bytes).map_err(|_| "starts with a UTF-8 BOM but is not valid UTF-8".into());
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
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e.into_bytes(),
    };
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(&bytes);
    if had_errors {
        return Err("text is neither UTF-8 nor GBK/GB18030".into());
    }
    Ok(text.into_owned())
}

/// Comma-separated, or tab-separated when the first line with a separator has tabs and no commas.
#[cfg(test)]
fn read_delimited(text: &str) -> Result<Table, SourceError> {
    let mut rows = Vec::new();
    let limits = LimitsConfig::default();
    let mut visit = |row| rows.push(row);
    let mut out = Rows { limit: RowLimit::new("f.csv", &limits), max_chars: limits.max_cell_chars, visit: &mut visit };
    visit_delimited("f.csv", text, &mut out)?;
    Ok(Table { rows })
}

/// The rows of delimited text (see `read_delimited`), one at a time. A quote that would swallow
/// rows refuses the file first (see `quotes`).
fn visit_delimited(file: &str, text: &str, out: &mut Rows<'_>) -> Result<(), SourceError> {
    let first = text.lines().find(|l| l.contains(',') || l.contains('\t')).unwrap_or("");
    let delimiter = if first.contains('\t') && !first.contains(',') { b'\t' } else { b',' };
    super::quotes::check(file, text, delimiter)?;
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    // The csv reader skips blank lines and a quoted cell may span lines. A record's position is
    // where the previous one ended, so the blank lines it skipped are the line breaks that open
    // its stretch of text; each record is one spreadsheet row however many lines it spans.
    let mut next_row = 1u64;
    for record in reader.records() {
        let record =
            record.map_err(|e| SourceError::Unreadable { file: file.to_owned(), reason: format!("bad CSV: {e}") })?;
        let start = record.position().map_or(0, |p| p.byte() as usize);
        next_row += blank_lines_at(text.as_bytes(), start);
        let cells = record.iter().map(|c| Cell::limited(c, out.max_chars)).collect();
        out.row(next_row, cells)?;
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
        assert_eq!(decode_text("\u{FEFF}姓名".as_bytes().to_vec()).as_deref(), Ok("姓名"));
        assert_eq!(decode_text("姓名".as_bytes().to_vec()).as_deref(), Ok("姓名"));
        let (gbk, _, _) = encoding_rs::GBK.encode("姓名,部门");
        assert_eq!(decode_text(gbk.to_vec()).as_deref(), Ok("姓名,部门"));
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend("工号".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode_text(utf16).as_deref(), Ok("工号"));
        assert!(decode_text(b"\x00\x01binary".to_vec()).is_err());
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
    fn columns_are_named_as_in_excel() {
        let names: Vec<String> = [0, 2, 25, 26, 27, 51, 52, 701, 702].into_iter().map(column_letter).collect();
        assert_eq!(names, ["A", "C", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
    }

    #[test]
    fn a_cell_over_the_limit_keeps_only_what_a_message_shows() {
        let c = Cell::limited(" 经理 ", 2);
        assert!(c.kind == CellKind::Text && c.text == "经理");
        let long = "职".repeat(5000);
        let c = Cell::limited(&long, 1000);
        assert!(c.kind == CellKind::TooLong { chars: 5000, max: 1000 });
        assert_eq!(c.text, "职".repeat(SHOWN_CHARS));
        let t = read_delimited(&format!("a,b\n1,{long}\n")).expect("csv");
        assert!(t.rows[1].cells[1].kind == CellKind::TooLong { chars: 5000, max: 1000 });
    }

    fn texts(cells: &[Cell]) -> Vec<&str> {
        cells.iter().map(|c| c.text.as_str()).collect()
    }

    fn dims(start: (u32, u32), end: (u32, u32)) -> Dimensions {
        Dimensions { start, end }
    }

    #[test]
    fn merged_ranges_give_their_value_to_every_row_in_their_first_column() {
        // A2:A4 holds 甲公司 (rows 2-4), B2:C2 is one cell, A6:A7 is merged over a row of nothing.
        let mut m = Merges::new(vec![dims((5, 0), (6, 0)), dims((1, 0), (3, 0)), dims((1, 1), (1, 2))]);
        let row = |cells: &[&str]| cells.iter().map(|c| Cell::new(c)).collect::<Vec<_>>();
        let mut got = Vec::new();
        for (r, cells) in [
            (0, row(&["公司名称", "部门", "姓名"])),
            (1, row(&["甲公司", "财务部", "stale"])),
            (2, row(&["", "", "张三"])),
            (3, row(&["", "人事部"])),
            (4, row(&["", "销售部", "李四"])),
            (5, row(&["乙公司"])),
            (6, row(&[""])),
        ] {
            let mut cells = cells;
            m.fill(r, &mut cells);
            got.push(texts(&cells).join("|"));
        }
        assert_eq!(
            got,
            [
                "公司名称|部门|姓名",
                "甲公司|财务部|",
                "甲公司||张三",
                "甲公司|人事部",
                "|销售部|李四",
                "乙公司",
                "", // nothing of its own: stays empty
            ]
        );
    }

    #[test]
    fn tabs_are_the_separator_only_without_commas() {
        let t = read_delimited("a\tb\n1\t2,5\n").expect("tsv");
        assert_eq!(t.rows[1].cells.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["1", "2,5"]);
        let t = read_delimited("a,b\tc\n").expect("csv");
        assert_eq!(t.rows[0].cells.len(), 2);
    }
}
