//! The company list: codes, names, the parent of each, tier (企业级别) and operating mode (运营模式).
//! Rows are checked one by one, then as a tree: a row whose parent is unknown (or was itself
//! rejected) is rejected in turn; a cycle cannot be pinned on one row and stops the run.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;

use orgid_config::LimitsConfig;
use orgid_directory::{Company, CompanyCode, CompanyIndex, OperatingMode, RowError, Tier};

use super::cells::RowCheck;
use super::columns::{COMPANY_LIST, Columns, Field, header_row};
use super::limits::shown;
use super::table::read_table;
use super::{CompaniesRead, SourceError};

const MAX_CODE: usize = 64;
const MAX_NAME: usize = 128;

pub(crate) fn read(path: &Path, limits: &LimitsConfig) -> Result<CompaniesRead, SourceError> {
    let file = path.display().to_string();
    let table = read_table(path, limits)?;
    let (at, header) = header_row(&file, &table, COMPANY_LIST)?;
    let cols = Columns::map(&file, header, COMPANY_LIST)?;
    let mut rejected = Vec::new();
    let mut rows = 0;
    let mut valid: Vec<(u64, Company)> = Vec::new();
    let mut first_row_of: HashMap<String, u64> = HashMap::new();
    let mut rejected_codes: HashMap<String, u64> = HashMap::new();
    for row in &table.rows[at + 1..] {
        rows += 1;
        let mut c = RowCheck::new(&file, row, &cols);
        let code = c.required(Field::CompanyCode).map(|x| x.text.clone()).filter(|code| {
            let reason = if code.chars().any(char::is_whitespace) {
                "company code must not contain spaces".to_owned()
            } else if code.chars().count() > MAX_CODE {
                format!("company code is longer than {MAX_CODE} characters")
            } else if let Some(first) = first_row_of.get(code) {
                format!("company code `{code}` already on row {first}")
            } else {
                first_row_of.insert(code.clone(), row.number);
                return true;
            };
            c.fail(Field::CompanyCode, reason);
            false
        });
        let name = c.required(Field::CompanyName).map(|_| c.limited(Field::CompanyName, MAX_NAME));
        let parent = c.cell(Field::ParentCode).map(|x| CompanyCode(x.text.clone()));
        if let (Some(code), Some(parent)) = (&code, &parent)
            && code == &parent.0
        {
            c.fail(Field::ParentCode, "a company cannot be its own parent");
        }
        let tier = c.required(Field::Tier).and_then(|_| c.parse(Field::Tier, |x| Tier::from_str(&x.text)));
        let mode = c.required(Field::Mode).and_then(|_| c.parse(Field::Mode, |x| OperatingMode::from_str(&x.text)));
        match (code, name, tier, mode) {
            (Some(code), Some(name), Some(tier), Some(mode)) if c.errors.is_empty() => {
                valid.push((row.number, Company { code: CompanyCode(code), name, parent, tier, mode }));
            }
            (code, ..) => {
                if let Some(code) = code {
                    rejected_codes.entry(code).or_insert(row.number);
                }
                rejected.append(&mut c.errors);
            }
        }
    }
    reject_orphans(&file, &cols, &mut valid, &mut rejected, &mut rejected_codes);
    rejected.sort_by_key(|e| e.row);
    let companies: Vec<Company> = valid.into_iter().map(|(_, c)| c).collect();
    CompanyIndex::new(companies.clone()).map_err(|e| SourceError::Invalid { file, reason: e.to_string() })?;
    Ok(CompaniesRead { companies, rejected, rows })
}

/// Rejects rows whose parent is not an accepted company, until none is left (a rejected parent
/// takes its subtree with it).
fn reject_orphans(
    file: &str,
    cols: &Columns,
    valid: &mut Vec<(u64, Company)>,
    rejected: &mut Vec<RowError>,
    rejected_codes: &mut HashMap<String, u64>,
) {
    loop {
        let codes: HashSet<&CompanyCode> = valid.iter().map(|(_, c)| &c.code).collect();
        let orphans: Vec<usize> =
            (0..valid.len()).filter(|&i| valid[i].1.parent.as_ref().is_some_and(|p| !codes.contains(p))).collect();
        if orphans.is_empty() {
            return;
        }
        for i in orphans.into_iter().rev() {
            let (row, company) = valid.remove(i);
            let parent = company.parent.map(|p| p.0).unwrap_or_default();
            let reason = match rejected_codes.get(&parent) {
                Some(r) => format!("parent company `{}` was rejected (row {r})", shown(&parent)),
                None => format!("unknown parent company `{}`", shown(&parent)),
            };
            rejected.push(RowError {
                file: file.to_owned(),
                row,
                column: cols.header(Field::ParentCode).to_owned(),
                reason,
            });
            rejected_codes.insert(company.code.0, row);
        }
    }
}
