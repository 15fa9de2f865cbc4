//! What the API (and the console's forms) exchange: request input with field-by-field
//! validation, and the views of requests, grants, accounts, people, late cases and companies.
//! Times are RFC 3339 strings, dates `YYYY-MM-DD`. No view carries an ID number.

use chrono::NaiveDate;
use orgid_directory::workflow::{Origin, Request, RequestKind, RoleGrant, SlaRow};
use orgid_directory::{AccountRow, Company, CompanyCode, Gender, Grade, Profile};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::services::workflow::{PersonRef, PersonRow, Submission};

/// A request to submit: form 1 (open), form 2 (adjust) or a close. Its `Debug` never shows the ID
/// number.
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitInput {
    /// `open`, `adjust` or `close`.
    pub kind: String,
    /// 身份证号码 (18 characters): required to open; only its key is kept.
    #[serde(default)]
    pub id_number: Option<String>,
    /// 工号: the new employee number (open), the person's current one (adjust, close).
    #[serde(default)]
    pub employee_number: String,
    /// For adjust: the employee number after the change, if it changes (a move).
    #[serde(default)]
    pub new_employee_number: Option<String>,
    #[serde(default)]
    pub name: String,
    /// 男/女 (male/female).
    #[serde(default)]
    pub gender: Option<String>,
    /// The company code after the request.
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub title: String,
    /// 职级, `M1`–`M16` or `P1`–`P16`.
    #[serde(default)]
    pub grade: Option<String>,
    #[serde(default)]
    pub mobile: String,
    #[serde(default)]
    pub email: String,
    /// 机要岗.
    #[serde(default)]
    pub confidential: bool,
    /// Hire, move or leaving date, `YYYY-MM-DD`.
    #[serde(default)]
    pub effective_date: Option<String>,
}

impl std::fmt::Debug for SubmitInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubmitInput")
            .field("kind", &self.kind)
            .field("id_number", &self.id_number.as_ref().map(|_| "<redacted>"))
            .field("employee_number", &self.employee_number)
            .field("new_employee_number", &self.new_employee_number)
            .field("name", &self.name)
            .field("company", &self.company)
            .field("effective_date", &self.effective_date)
            .finish_non_exhaustive()
    }
}

/// A problem with one input field: `message` for programs (and English pages), `message_zh`
/// for the Chinese console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
    #[serde(skip)]
    pub message_zh: String,
}

impl FieldError {
    fn new(field: &'static str, message: impl Into<String>, message_zh: impl Into<String>) -> Self {
        FieldError { field, message: message.into(), message_zh: message_zh.into() }
    }

    /// The message in Chinese (`zh`) or English.
    pub fn message_in(&self, zh: bool) -> &str {
        if zh { &self.message_zh } else { &self.message }
    }
}

fn required(errors: &mut Vec<FieldError>, field: &'static str, v: &str) {
    if v.trim().is_empty() {
        errors.push(FieldError::new(field, "必填 (required)", "必填"));
    }
}

/// `v` parsed, or an error naming what the field takes (`what`: in Chinese, with its choices).
fn parse<T: std::str::FromStr<Err = String>>(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    what: &str,
    v: Option<&str>,
) -> Option<T> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<T>() {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(FieldError::new(field, e, format!("“{s}”不是有效的{what}")));
                None
            }
        },
    }
}

fn date(errors: &mut Vec<FieldError>, field: &'static str, v: Option<&str>) -> Option<NaiveDate> {
    let s = v.map(str::trim).filter(|s| !s.is_empty())?;
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            let en = format!("`{s}` is not a date (YYYY-MM-DD)");
            errors.push(FieldError::new(field, en, format!("“{s}”不是有效日期（格式 YYYY-MM-DD）")));
            None
        }
    }
}

impl SubmitInput {
    /// The stored profile of the person an adjustment names (blank fields of form 2 keep it).
    pub async fn current(&self, app: &crate::app::App) -> Result<Option<Profile>, orgid_directory::StoreError> {
        use orgid_directory::PersonStore;
        if self.kind.trim() != "adjust" || self.employee_number.trim().is_empty() {
            return Ok(None);
        }
        Ok(app.store.person_by_employee_number(self.employee_number.trim()).await?.map(|sp| sp.person.profile))
    }

    /// The submission, or every field problem at once. The store's facts about the person (for
    /// adjust and close) are the service's to check.
    pub fn validate(&self, origin: Origin, current: Option<&Profile>) -> Result<Submission, Vec<FieldError>> {
        let mut errors = Vec::new();
        let kind = match self.kind.trim().parse::<RequestKind>() {
            Ok(k) => Some(k),
            Err(e) => {
                errors.push(FieldError::new("kind", e, "申请类型无效（开通、调整或注销）"));
                None
            }
        };
        required(&mut errors, "employee_number", &self.employee_number);
        let effective_date = date(&mut errors, "effective_date", self.effective_date.as_deref());
        let Some(kind) = kind else { return Err(errors) };
        let person = match kind {
            RequestKind::Open => {
                let id = self.id_number.as_deref().unwrap_or("").trim();
                if id.is_empty() {
                    errors.push(FieldError::new("id_number", "必填 (required)", "必填"));
                } else if let Err(e) = orgid_directory::IdNumber::parse(id) {
                    errors.push(FieldError::new("id_number", e.to_string(), e.zh()));
                }
                PersonRef::IdNumber(id.to_string())
            }
            _ => PersonRef::EmployeeNumber(self.employee_number.trim().to_string()),
        };
        let profile = if kind == RequestKind::Close {
            None
        } else {
            for (field, v) in [("name", &self.name), ("company", &self.company), ("department", &self.department)] {
                required(&mut errors, field, v);
            }
            let gender = parse::<Gender>(&mut errors, "gender", "性别（男/女）", self.gender.as_deref());
            let grade = parse::<Grade>(&mut errors, "grade", "职级（M1–M16 或 P1–P16）", self.grade.as_deref());
            // Form 2 states what changes: a blank optional field keeps the person's current value.
            let current = current.filter(|_| kind == RequestKind::Adjust);
            let keep = |given: &str, now: fn(&Profile) -> &str| match (given.trim(), current) {
                ("", Some(c)) => now(c).to_string(),
                (g, _) => g.to_string(),
            };
            let number = match (kind, self.new_employee_number.as_deref().map(str::trim)) {
                (RequestKind::Adjust, Some(n)) if !n.is_empty() => n.to_string(),
                _ => self.employee_number.trim().to_string(),
            };
            let email = keep(&self.email, |c| &c.email);
            let email = email.as_str();
            if !email.is_empty() && !email.contains('@') {
                let en = format!("`{email}` is not an e-mail address");
                errors.push(FieldError::new("email", en, format!("“{email}”不是有效的邮箱地址")));
            }
            let mobile = keep(&self.mobile, |c| &c.mobile);
            let mobile = mobile.as_str();
            let valid_mobile = mobile.len() == 11 && mobile.chars().all(|c| c.is_ascii_digit());
            if !mobile.is_empty() && !valid_mobile {
                errors.push(FieldError::new("mobile", "11 digits (11位手机号)", "应为 11 位数字的手机号"));
            }
            Some(Profile {
                employee_number: number,
                name: self.name.trim().to_string(),
                gender: gender.or(current.and_then(|c| c.gender)),
                company: CompanyCode(self.company.trim().to_string()),
                department: self.department.trim().to_string(),
                title: keep(&self.title, |c| &c.title),
                grade: grade.or(current.and_then(|c| c.grade)),
                mobile: mobile.to_string(),
                email: email.to_string(),
                hire_date: if kind == RequestKind::Open { effective_date } else { current.and_then(|c| c.hire_date) },
                confidential: self.confidential,
            })
        };
        if errors.is_empty() { Ok(Submission { kind, person, profile, effective_date, origin }) } else { Err(errors) }
    }
}

/// An approval decision's comment.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    #[serde(default)]
    pub comment: String,
}

/// One approval or rejection of a step.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalView {
    pub step: String,
    pub by: String,
    pub at: String,
    pub approve: bool,
    pub comment: String,
}

/// A request as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestView {
    pub id: i64,
    /// `open`, `adjust`, `close`.
    pub kind: String,
    /// The responsible company.
    pub company: String,
    pub employee_number: String,
    pub name: String,
    /// The person after the request (name, company, department, title, grade, …).
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    pub effective_date: Option<String>,
    pub origin: String,
    pub requested_by: String,
    pub requested_at: String,
    /// `pending`, `approved`, `rejected`, `applied`, `failed`, `cancelled`.
    pub state: String,
    /// The approval steps (`strategy_office`, `group_hr`, `confidential_office`).
    pub chain: Vec<String>,
    /// The steps still open.
    pub open_steps: Vec<String>,
    pub approvals: Vec<ApprovalView>,
    pub approved_at: Option<String>,
    pub due: Option<String>,
    pub done_at: Option<String>,
    pub error: Option<String>,
}

fn profile_json(p: &Profile) -> serde_json::Value {
    serde_json::json!({
        "employee_number": p.employee_number, "name": p.name, "company": p.company.0,
        "department": p.department, "title": p.title, "grade": p.grade.map(|g| g.to_string()),
        "mobile": p.mobile, "email": p.email, "hire_date": p.hire_date.map(|d| d.to_string()),
        "confidential": p.confidential,
        "gender": p.gender.map(|g| if g == Gender::Male { "male" } else { "female" }),
    })
}

impl From<&Request> for RequestView {
    fn from(r: &Request) -> Self {
        RequestView {
            id: r.id,
            kind: r.kind.as_str().into(),
            company: r.company.0.clone(),
            employee_number: r.employee_number.clone(),
            name: r.name.clone(),
            profile: profile_json(&r.profile),
            before: r.before.as_ref().map(profile_json).unwrap_or_default(),
            effective_date: r.effective_date.map(|d| d.to_string()),
            origin: r.origin.as_str().into(),
            requested_by: r.requested_by.clone(),
            requested_at: r.requested_at.to_rfc3339(),
            state: r.state.as_str().into(),
            chain: r.chain.iter().map(|s| s.as_str().to_string()).collect(),
            open_steps: r.open_steps().iter().map(|s| s.as_str().to_string()).collect(),
            approvals: r
                .approvals
                .iter()
                .map(|a| ApprovalView {
                    step: a.step.as_str().into(),
                    by: a.by.clone(),
                    at: a.at.to_rfc3339(),
                    approve: a.approve,
                    comment: a.comment.clone(),
                })
                .collect(),
            approved_at: r.approved_at.map(|t| t.to_rfc3339()),
            due: r.due.map(|t| t.to_rfc3339()),
            done_at: r.done_at.map(|t| t.to_rfc3339()),
            error: r.error.clone(),
        }
    }
}

/// A role grant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantView {
    pub id: i64,
    pub login: String,
    pub role: String,
    pub company: String,
    pub subtree: bool,
    pub granted_by: String,
    pub granted_at: String,
    pub revoked_at: Option<String>,
}

impl From<&RoleGrant> for GrantView {
    fn from(g: &RoleGrant) -> Self {
        GrantView {
            id: g.id,
            login: g.login.clone(),
            role: g.role.as_str().into(),
            company: g.company.0.clone(),
            subtree: g.subtree,
            granted_by: g.granted_by.clone(),
            granted_at: g.granted_at.to_rfc3339(),
            revoked_at: g.revoked_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A role to grant.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantInput {
    pub login: String,
    /// `group_it_admin`, `group_hr`, `strategy_office`, `confidential_office`, `security_auditor`,
    /// `company_hr`, `company_it` (or the Chinese names).
    pub role: String,
    pub company: String,
    /// Also the company's subsidiaries.
    #[serde(default)]
    pub subtree: bool,
}

/// An account.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    pub login: String,
    pub employee_number: String,
    pub name: String,
    pub company: String,
    pub department: String,
    pub title: String,
    pub grade: Option<String>,
    /// `active`, `locked`, `disabled`, …
    pub status: String,
    pub opened_at: Option<String>,
    pub closed_at: Option<String>,
}

impl From<&AccountRow> for AccountView {
    fn from(a: &AccountRow) -> Self {
        AccountView {
            login: a.login.clone(),
            employee_number: a.employee_number.clone(),
            name: a.name.clone(),
            company: a.company.0.clone(),
            department: a.department.clone(),
            title: a.title.clone(),
            grade: a.grade.clone(),
            status: a.status.to_string(),
            opened_at: a.opened_at.map(|t| t.to_rfc3339()),
            closed_at: a.closed_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A person (with their account, if any).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonView {
    pub employee_number: String,
    pub name: String,
    pub company: String,
    pub department: String,
    pub title: String,
    pub grade: Option<String>,
    pub confidential: bool,
    /// `active` or `left`.
    pub employment: String,
    pub login: Option<String>,
    pub status: Option<String>,
}

impl From<&PersonRow> for PersonView {
    fn from(p: &PersonRow) -> Self {
        PersonView {
            employee_number: p.employee_number.clone(),
            name: p.name.clone(),
            company: p.company.0.clone(),
            department: p.department.clone(),
            title: p.title.clone(),
            grade: p.grade.clone(),
            confidential: p.confidential,
            employment: serde_json::to_value(p.employment)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            login: p.login.clone(),
            status: p.status.map(|s| s.to_string()),
        }
    }
}

/// A late case of the SLA report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlaView {
    /// The responsible role.
    pub role: String,
    pub company: String,
    pub item: String,
    /// `overdue`, `late_submission`, `roster_check`.
    pub case: String,
    pub deadline: String,
    pub done: Option<String>,
    pub late_days: u32,
    pub penalty_points: u32,
}

impl From<&SlaRow> for SlaView {
    fn from(r: &SlaRow) -> Self {
        SlaView {
            role: r.role.as_str().into(),
            company: r.company.0.clone(),
            item: r.item.clone(),
            case: r.case.into(),
            deadline: r.deadline.to_string(),
            done: r.done.map(|d| d.to_string()),
            late_days: r.late_days,
            penalty_points: r.points,
        }
    }
}

/// A company.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompanyView {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
    pub tier: String,
    /// `group_operated` or `independent`.
    pub mode: String,
}

impl From<&Company> for CompanyView {
    fn from(c: &Company) -> Self {
        CompanyView {
            code: c.code.0.clone(),
            name: c.name.clone(),
            parent: c.parent.as_ref().map(|p| p.0.clone()),
            tier: c.tier.as_str().into(),
            mode: c.mode.as_str().into(),
        }
    }
}

/// A company's new operating mode.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeInput {
    /// `group_operated` or `independent`.
    pub mode: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: &[FieldError]) -> Vec<&'static str> {
        e.iter().map(|f| f.field).collect()
    }

    #[test]
    fn form_1_needs_its_fields_and_says_which_are_wrong() {
        let input = SubmitInput { kind: "open".into(), ..Default::default() };
        let Err(e) = input.validate(Origin::Api, None) else { panic!("accepted an empty form") };
        assert_eq!(fields(&e), ["employee_number", "id_number", "name", "company", "department"]);
        let bad = SubmitInput {
            kind: "open".into(),
            id_number: Some("110105194912310021".into()),
            employee_number: "B1".into(),
            name: "张三".into(),
            company: "C021".into(),
            department: "综合部".into(),
            gender: Some("x".into()),
            grade: Some("Z9".into()),
            mobile: "123".into(),
            email: "nope".into(),
            effective_date: Some("2026-13-01".into()),
            ..Default::default()
        };
        let Err(e) = bad.validate(Origin::Api, None) else { panic!("accepted bad fields") };
        assert_eq!(fields(&e), ["effective_date", "id_number", "gender", "grade", "email", "mobile"]);
        let Err(e) = SubmitInput { kind: "move".into(), ..Default::default() }.validate(Origin::Api, None) else {
            panic!("accepted an unknown kind")
        };
        assert_eq!(fields(&e)[0], "kind");
    }

    #[test]
    fn a_submission_never_shows_its_id_number_in_debug_output() {
        let input = SubmitInput {
            kind: "open".into(),
            id_number: Some("110105194912310021".into()),
            name: "张三".into(),
            ..Default::default()
        };
        let shown = format!("{input:?}");
        assert!(!shown.contains("110105194912310021"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("张三"), "{shown}");
    }

    #[test]
    fn form_2_keeps_what_it_leaves_blank_and_a_close_needs_only_the_person() {
        let current = Profile {
            employee_number: "A1".into(),
            name: "王芳".into(),
            gender: Some(Gender::Female),
            company: CompanyCode("C010".into()),
            department: "财务部".into(),
            title: "经理".into(),
            grade: "M12".parse().ok(),
            mobile: "13800000001".into(),
            email: "a1@example.com".into(),
            hire_date: NaiveDate::from_ymd_opt(2020, 3, 1),
            confidential: false,
        };
        let input = SubmitInput {
            kind: "adjust".into(),
            employee_number: "A1".into(),
            name: "王芳".into(),
            company: "C010".into(),
            department: "审计部".into(),
            ..Default::default()
        };
        let s = input.validate(Origin::Console, Some(&current)).unwrap_or_else(|e| panic!("{e:?}"));
        let p = s.profile.unwrap_or_else(|| panic!("no profile"));
        assert_eq!(p.department, "审计部");
        assert_eq!((p.title.as_str(), p.mobile.as_str(), p.email.as_str()), ("经理", "13800000001", "a1@example.com"));
        assert_eq!((p.gender, p.grade, p.hire_date), (current.gender, current.grade, current.hire_date));
        assert_eq!(s.person, PersonRef::EmployeeNumber("A1".into()));

        let close = SubmitInput { kind: "close".into(), employee_number: "A1".into(), ..Default::default() };
        let s = close.validate(Origin::Api, None).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(s.profile.is_none());
    }
}
