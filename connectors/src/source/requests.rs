//! The request forms from company HR: form 1 (账号开通信息收集表, one person to open per row) and
//! form 2 (账号调整信息收集表, one person's before and after state per row), told apart by their
//! 异动前/异动后 columns.

use std::path::Path;

use orgid_config::LimitsConfig;
use orgid_directory::{CompanyIndex, PersonKeyer};

use super::cells::{CompanyLookup, RowCheck};
use super::columns::{ADJUSTMENT, Columns, Field, PERSON, Spec, header_row, mentions};
use super::person::{AFTER, CURRENT, PersonRows};
use super::table::read_table;
use super::{Adjustment, Opening, Requests, RequestsRead, SourceError};

fn is_form2_field(f: Field) -> bool {
    matches!(
        f,
        Field::BeforeCompany
            | Field::BeforeDepartment
            | Field::BeforeEmployeeNumber
            | Field::BeforeTitle
            | Field::BeforeGrade
            | Field::BeforeEmail
            | Field::AfterCompany
            | Field::AfterDepartment
            | Field::MoveDate
            | Field::AfterEmployeeNumber
            | Field::AfterTitle
            | Field::AfterGrade
            | Field::AfterEmail
    )
}

pub(crate) fn read(
    path: &Path,
    keyer: &PersonKeyer,
    companies: &CompanyIndex,
    limits: &LimitsConfig,
) -> Result<RequestsRead, SourceError> {
    let file = path.display().to_string();
    let table = read_table(path, limits)?;
    let either: Vec<Spec> = PERSON.iter().chain(ADJUSTMENT).copied().collect();
    let (at, header) = header_row(&file, &table, &either)?;
    let form2 = mentions(header, ADJUSTMENT, is_form2_field);
    let cols = Columns::map(&file, header, if form2 { ADJUSTMENT } else { PERSON })?;
    let source = path.file_name().map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
    let mut people = PersonRows::new(&file, source, keyer, CompanyLookup::new(companies));
    let mut rejected = Vec::new();
    let mut rows = 0;
    let mut openings = Vec::new();
    let mut adjustments = Vec::new();
    for row in &table.rows[at + 1..] {
        rows += 1;
        let mut c = RowCheck::new(&file, row, &cols);
        if form2 {
            let before_company = c.company(Field::BeforeCompany, &people.companies);
            let before_employee_number = c.employee_number(Field::BeforeEmployeeNumber);
            let move_date = c.date(Field::MoveDate);
            let record = people.check(&mut c, &AFTER);
            if let (Some(record), Some(before_company), Some(before_employee_number), true) =
                (record, before_company, before_employee_number, c.errors.is_empty())
            {
                adjustments.push(Adjustment {
                    row: row.number,
                    before_employee_number,
                    before_company,
                    move_date,
                    record,
                });
                continue;
            }
        } else if let Some(record) = people.check(&mut c, &CURRENT)
            && c.errors.is_empty()
        {
            openings.push(Opening { row: row.number, record });
            continue;
        }
        rejected.append(&mut c.errors);
    }
    people.finish();
    let requests = if form2 { Requests::Adjustment(adjustments) } else { Requests::Opening(openings) };
    Ok(RequestsRead { requests, rejected, rows })
}
