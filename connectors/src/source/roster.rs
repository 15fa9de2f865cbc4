//! The full roster export: every person of the group (or of one source), one row each.

use std::path::Path;

use orgid_config::LimitsConfig;
use orgid_directory::{CompanyIndex, HeldBack, PersonKeyer};

use super::cells::{CompanyLookup, RowCheck};
use super::columns::{Columns, HEADER_ROWS, PERSON, header_row_of};
use super::person::{CURRENT, PersonRows};
use super::table::{RawRow, for_each_row};
use super::{RosterRead, SourceError};

/// The bytes of the shortest roster row a person's columns make in a text file (a real one is
/// longer: 130 to 150 bytes in `bench/gen_roster.py`'s).
const MIN_ROW_BYTES: u64 = 96;

/// The records a roster file may hold, from its size: the records are reserved once, so that a
/// million people are never copied to a table twice their size on the way (the old and the new
/// table, 120 and 240 MB, both held for the copy). Reserved room a file does not fill costs
/// address space, not memory: its pages are never touched.
fn rows_hint(path: &Path, limits: &LimitsConfig) -> usize {
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    usize::try_from((bytes / MIN_ROW_BYTES).min(limits.max_rows)).unwrap_or(0)
}

pub(crate) fn read(
    path: &Path,
    source: &str,
    keyer: &PersonKeyer,
    companies: &CompanyIndex,
    limits: &LimitsConfig,
) -> Result<RosterRead, SourceError> {
    let file = path.display().to_string();
    let mut people = PersonRows::new(&file, source.to_owned(), keyer, CompanyLookup::new(companies));
    let mut out = RosterRead {
        records: Vec::with_capacity(rows_hint(path, limits)),
        rejected: Vec::new(),
        held: HeldBack::default(),
        rows: 0,
    };
    let mut row_of = |row: &RawRow, cols: &Columns| {
        out.rows += 1;
        let mut check = RowCheck::new(&file, row, cols);
        let record = people.check(&mut check, &CURRENT);
        match record {
            Some(r) if check.errors.is_empty() => out.records.push(r),
            _ => {
                people.identify(&check, &CURRENT, &mut out.held);
                out.rejected.append(&mut check.errors);
            }
        }
    };
    // Row by row: only the first rows wait, until the header among them is known.
    let mut head: Vec<RawRow> = Vec::with_capacity(HEADER_ROWS);
    let mut cols: Option<Result<Columns, SourceError>> = None;
    let header = |head: &[RawRow]| -> Result<(Columns, usize), SourceError> {
        let (at, header) = header_row_of(&file, head, PERSON)?;
        Ok((Columns::map(&file, header, PERSON)?, at))
    };
    for_each_row(path, limits, |row| match &cols {
        Some(Ok(c)) => row_of(&row, c),
        Some(Err(_)) => {}
        None => {
            head.push(row);
            if head.len() == HEADER_ROWS {
                cols = Some(header(&head).map(|(c, at)| {
                    head.drain(..=at).for_each(drop);
                    head.drain(..).for_each(|r| row_of(&r, &c));
                    c
                }));
            }
        }
    })?;
    if cols.is_none() {
        let (c, at) = header(&head)?;
        for r in &head[at + 1..] {
            row_of(r, &c);
        }
        cols = Some(Ok(c));
    }
    if let Some(Err(e)) = cols {
        return Err(e);
    }
    people.finish();
    Ok(out)
}
