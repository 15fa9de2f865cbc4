//! The full roster export: every person of the group (or of one source), one row each.

use std::path::Path;

use orgid_directory::{CompanyIndex, PersonKeyer};

use super::cells::{CompanyLookup, RowCheck};
use super::columns::{Columns, PERSON, header_row};
use super::person::{CURRENT, PersonRows};
use super::table::read_table;
use super::{RosterRead, SourceError};

pub(crate) fn read(
    path: &Path,
    source: &str,
    keyer: &PersonKeyer,
    companies: &CompanyIndex,
) -> Result<RosterRead, SourceError> {
    let file = path.display().to_string();
    let table = read_table(path)?;
    let (at, header) = header_row(&file, &table, PERSON)?;
    let cols = Columns::map(&file, header, PERSON)?;
    let mut people = PersonRows::new(&file, source.to_owned(), keyer, CompanyLookup::new(companies));
    let mut out = RosterRead { records: Vec::new(), rejected: Vec::new(), rows: 0 };
    for row in &table.rows[at + 1..] {
        out.rows += 1;
        let mut check = RowCheck::new(&file, row, &cols);
        let record = people.check(&mut check, &CURRENT);
        match record {
            Some(r) if check.errors.is_empty() => out.records.push(r),
            _ => out.rejected.append(&mut check.errors),
        }
    }
    people.finish();
    Ok(out)
}
