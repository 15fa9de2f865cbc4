//! The domain of orgid: companies, people and their accounts, the group's eligibility rules, the
//! sync plan (desired vs current), the run ledger and the store traits. Everything here is pure:
//! no database, network or runtime; time comes in as arguments.

pub mod audit;
pub mod clock;
pub mod company;
pub mod eligibility;
pub mod error;
pub mod grade;
pub mod idnumber;
pub mod idp;
pub mod ledger;
pub mod login;
pub mod notice;
pub mod person;
pub mod plan;
pub mod safety;
pub mod store;
pub mod target;
pub mod workflow;

pub use clock::{Clock, FixedClock, SystemClock};
pub use company::{Company, CompanyCode, CompanyIndex, OperatingMode, Tier};
pub use eligibility::{Decision, Outcome, Rule, Rules};
pub use error::DirectoryError;
pub use grade::{Grade, Track};
pub use idnumber::{IdNumber, IdNumberError, PersonKey, PersonKeyer};
pub use ledger::{NewRun, OpCounts, RowError, RunDetail, RunId, RunKind, RunStatus, RunSummary};
pub use person::{Account, AccountStatus, Employment, Gender, Person, PersonRecord, Profile, StoredPerson};
pub use plan::{AccountChange, HeldBack, Op, Plan, PlanInput, Scope};
pub use store::{
    AccountFilter, AccountRow, AuditStore, CompanyStore, PersonStore, RunOutcome, RunPart, RunStore, SettingStore,
    Store, StoreError, WorkflowStore,
};
