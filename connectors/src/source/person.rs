//! One person per row, shared by the roster and both forms: validates the cells, keys the ID
//! number and catches a person or an employee number appearing twice in the same file.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::str::FromStr;

use orgid_directory::{CompanyCode, Gender, Grade, HeldBack, IdNumber, PersonKey, PersonKeyer, PersonRecord, Profile};

use super::cells::{
    CompanyLookup, ID_AS_NUMBER, RowCheck, check_email, normalise_department, parse_mobile, parse_status, parse_yes_no,
};
use super::columns::Field;
use super::table::{Cell, CellKind};

/// Which columns hold the person's state: the roster's and form 1's, or form 2's 异动后 ones.
pub(crate) struct Side {
    pub company: Field,
    pub department: Field,
    pub employee_number: Field,
    pub title: Field,
    pub grade: Field,
    pub email: Field,
}

pub(crate) const CURRENT: Side = Side {
    company: Field::Company,
    department: Field::Department,
    employee_number: Field::EmployeeNumber,
    title: Field::Title,
    grade: Field::Grade,
    email: Field::Email,
};

pub(crate) const AFTER: Side = Side {
    company: Field::AfterCompany,
    department: Field::AfterDepartment,
    employee_number: Field::AfterEmployeeNumber,
    title: Field::AfterTitle,
    grade: Field::AfterGrade,
    email: Field::AfterEmail,
};

const MAX_NAME: usize = 64;

/// The per-file state of person rows.
pub(crate) struct PersonRows<'a> {
    file: &'a str,
    source: String,
    keyer: &'a PersonKeyer,
    pub companies: CompanyLookup<'a>,
    ids: HashMap<PersonKey, u64>,
    employee_numbers: HashMap<String, u64>,
    numeric_employee_numbers: u64,
}

impl<'a> PersonRows<'a> {
    pub fn new(file: &'a str, source: String, keyer: &'a PersonKeyer, companies: CompanyLookup<'a>) -> Self {
        Self {
            file,
            source,
            keyer,
            companies,
            ids: HashMap::new(),
            employee_numbers: HashMap::new(),
            numeric_employee_numbers: 0,
        }
    }

    /// Checks every person cell of the row; the record is `Some` when all of them passed (the
    /// caller still drops it if its own checks on the same row failed).
    pub fn check(&mut self, c: &mut RowCheck<'_>, side: &Side) -> Option<PersonRecord> {
        let company = c.company(side.company, &self.companies);
        let department = normalise_department(c.text(side.department));
        let hire_date = c.date(Field::HireDate);
        let employee_number = self.employee_number(c, side.employee_number);
        let name = c.required(Field::Name).map(|_| c.limited(Field::Name, MAX_NAME));
        let gender = c.parse(Field::Gender, |x| Gender::from_str(&x.text));
        let key = self.key(c);
        let title = c.text(side.title).to_owned();
        let grade = c.parse(side.grade, |x| Grade::from_str(&x.text));
        let mobile = c.parse(Field::Mobile, |x| parse_mobile(&x.text)).unwrap_or_default();
        let email = c.parse(side.email, |x| check_email(&x.text).map(|()| x.text.clone())).unwrap_or_default();
        let confidential = c.parse(Field::Confidential, |x| parse_yes_no(&x.text)).unwrap_or(false);
        let employment =
            c.parse(Field::Status, |x| parse_status(&x.text)).unwrap_or(orgid_directory::Employment::Active);
        let leave_date = c.date(Field::LeaveDate);
        if !c.errors.is_empty() {
            return None;
        }
        Some(PersonRecord {
            key: key?,
            profile: Profile {
                employee_number: employee_number?,
                name: name?,
                gender,
                company: company?,
                department,
                title,
                grade,
                mobile,
                email,
                hire_date,
                confidential,
            },
            employment,
            leave_date,
            source: self.source.clone(),
        })
    }

    fn employee_number(&mut self, c: &mut RowCheck<'_>, f: Field) -> Option<String> {
        if c.cell(f).is_some_and(|x| matches!(x.kind, CellKind::Number(_))) {
            self.numeric_employee_numbers += 1;
        }
        let number = c.employee_number(f)?;
        match self.employee_numbers.entry(number.clone()) {
            Entry::Occupied(first) => {
                c.fail(f, format!("same employee number as row {}", first.get()));
                None
            }
            Entry::Vacant(v) => {
                v.insert(c.row);
                Some(number)
            }
        }
    }

    /// Validates the ID number and keys it at once; errors never repeat the number.
    fn key(&mut self, c: &mut RowCheck<'_>) -> Option<PersonKey> {
        let cell = c.required(Field::IdNumber)?;
        if matches!(cell.kind, CellKind::Number(_)) || looks_like_a_number(cell) {
            c.fail(Field::IdNumber, ID_AS_NUMBER);
            return None;
        }
        let id =
            IdNumber::parse(&cell.text).map_err(|e| c.fail(Field::IdNumber, format!("invalid ID number: {e}"))).ok()?;
        match self.ids.entry(self.keyer.key(&id)) {
            Entry::Occupied(first) => {
                c.fail(Field::IdNumber, format!("same ID number as row {}", first.get()));
                None
            }
            Entry::Vacant(v) => {
                let key = v.key().clone();
                v.insert(c.row);
                Some(key)
            }
        }
    }

    /// Who a rejected row is about, as far as its cells tell, added to `held`: its keyed ID number,
    /// else its employee number, else the company it names; a row that tells none of these may
    /// be anyone's. Duplicates and bad values still identify (a typo must lock nobody out).
    pub fn identify(&self, c: &RowCheck<'_>, side: &Side, held: &mut HeldBack) {
        let text = |f: Field| c.raw(f).map(|x| x.text.trim()).filter(|s| !s.is_empty());
        if let Some(id) = text(Field::IdNumber).and_then(|s| IdNumber::parse(s).ok()) {
            held.keys.insert(self.keyer.key(&id));
        } else if let Some(number) = text(side.employee_number) {
            held.employee_numbers.insert(number.to_owned());
        } else if let Some(company) = text(side.company) {
            held.companies.insert(self.companies.find(company).unwrap_or_else(|_| CompanyCode(company.to_owned())));
        } else {
            held.anyone = true;
        }
        // The employee number too, when the ID number keyed: a stored person whose ID number
        // was mistyped in this row is still found by it.
        if let Some(number) = text(side.employee_number) {
            held.employee_numbers.insert(number.to_owned());
        }
    }

    /// Logs, once per file, what Excel may have done to employee numbers typed as numbers.
    pub fn finish(&self) {
        if self.numeric_employee_numbers > 0 {
            tracing::warn!(
                file = self.file,
                rows = self.numeric_employee_numbers,
                "employee numbers stored as numbers in Excel; a leading zero, if any, was lost"
            );
        }
    }
}

/// "1.10105E+17": what an ID number becomes when Excel saved it as a number into a CSV.
fn looks_like_a_number(cell: &Cell) -> bool {
    let s = cell.text.to_ascii_uppercase();
    s.contains("E+") && s.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'E' | '+'))
}
