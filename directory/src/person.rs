//! People (from HR) and their accounts (what orgid decided). A person exists once, keyed by the
//! HMAC of their ID number; the employee number and company may change over their life.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{CompanyCode, Grade, PersonKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
}

impl FromStr for Gender {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "男" | "m" | "male" => Ok(Gender::Male),
            "女" | "f" | "female" => Ok(Gender::Female),
            other => Err(format!("`{other}` is not a gender (男/女)")),
        }
    }
}

/// The HR facts about a person that accounts are made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub employee_number: String,
    pub name: String,
    pub gender: Option<Gender>,
    pub company: CompanyCode,
    /// Department path, segments joined by `/` (`财务部/一科`).
    pub department: String,
    pub title: String,
    pub grade: Option<Grade>,
    pub mobile: String,
    pub email: String,
    pub hire_date: Option<NaiveDate>,
    /// 机要岗
    pub confidential: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Employment {
    /// 在职
    Active,
    /// 离职
    Left,
}

/// One validated row of HR data, already keyed: the ID number does not travel further than the
/// parser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRecord {
    pub key: PersonKey,
    pub profile: Profile,
    pub employment: Employment,
    pub leave_date: Option<NaiveDate>,
    /// Where it came from, for the ledger: `source-name` or a file name.
    pub source: String,
}

impl PersonRecord {
    /// The person as the store keeps them, written at `at`.
    pub fn at(self, at: DateTime<Utc>) -> Person {
        Person {
            key: self.key,
            profile: self.profile,
            employment: self.employment,
            leave_date: self.leave_date,
            source: self.source,
            updated_at: at,
        }
    }

    /// Whether the person has left as of `today` (离职, or a leaving date that has come).
    pub fn has_left(&self, today: NaiveDate) -> bool {
        self.employment == Employment::Left || self.leave_date.is_some_and(|d| d <= today)
    }
}

/// A person as the store keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub key: PersonKey,
    pub profile: Profile,
    pub employment: Employment,
    pub leave_date: Option<NaiveDate>,
    pub source: String,
    pub updated_at: DateTime<Utc>,
}

impl Person {
    /// The person as a plan writes them (the store sets the time).
    pub fn record(self) -> PersonRecord {
        PersonRecord {
            key: self.key,
            profile: self.profile,
            employment: self.employment,
            leave_date: self.leave_date,
            source: self.source,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Disabled,
    PendingApproval,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Disabled => "disabled",
            AccountStatus::PendingApproval => "pending_approval",
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(AccountStatus::Active),
            "disabled" => Ok(AccountStatus::Disabled),
            "pending_approval" => Ok(AccountStatus::PendingApproval),
            other => Err(format!("`{other}` is not an account status (active, disabled, pending_approval)")),
        }
    }
}

/// A person's account on the platform. At most one per person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub login: String,
    pub status: AccountStatus,
    /// The rule that last decided the status (`ELIG-1`, `LEAVER`, …).
    pub rule: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A person with their account, as loaded for planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPerson {
    pub person: Person,
    pub account: Option<Account>,
}
