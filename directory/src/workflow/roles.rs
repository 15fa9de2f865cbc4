//! Roles, their grants and the principal that holds them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CompanyCode, CompanyIndex};

/// A role of the group's account procedures (`domain.md`, "Who is who").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 集团信息管理中心: operates accounts of group-operated companies; grants roles.
    GroupItAdmin,
    /// 集团人力: confirms requests; audits rosters.
    GroupHr,
    /// 战略服务管理本部: confirms requests of unrated companies.
    StrategyOffice,
    /// 机要室: handles confidential posts.
    ConfidentialOffice,
    /// 安全审计: reads the audit trail only.
    SecurityAuditor,
    /// 企业人力: submits a company's requests.
    CompanyHr,
    /// 信息运维岗: an independent company's IT delegate.
    CompanyIt,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: &'static [Role] = &[
        Role::GroupItAdmin,
        Role::GroupHr,
        Role::StrategyOffice,
        Role::ConfidentialOffice,
        Role::SecurityAuditor,
        Role::CompanyHr,
        Role::CompanyIt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::GroupItAdmin => "group_it_admin",
            Role::GroupHr => "group_hr",
            Role::StrategyOffice => "strategy_office",
            Role::ConfidentialOffice => "confidential_office",
            Role::SecurityAuditor => "security_auditor",
            Role::CompanyHr => "company_hr",
            Role::CompanyIt => "company_it",
        }
    }

    /// The name the group's rules use.
    pub fn label_zh(self) -> &'static str {
        match self {
            Role::GroupItAdmin => "集团信息管理中心",
            Role::GroupHr => "集团人力",
            Role::StrategyOffice => "战略服务管理本部",
            Role::ConfidentialOffice => "机要室",
            Role::SecurityAuditor => "安全审计",
            Role::CompanyHr => "企业人力",
            Role::CompanyIt => "信息运维岗",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    /// The English names, or the Chinese ones of the rules.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        Role::ALL.iter().copied().find(|r| r.as_str() == t.to_ascii_lowercase() || r.label_zh() == t).ok_or_else(|| {
            format!(
                "`{t}` is not a role (one of: {})",
                Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

/// A role held by an account for a company (and, with `subtree`, its descendants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleGrant {
    pub id: i64,
    pub login: String,
    pub role: Role,
    pub company: CompanyCode,
    pub subtree: bool,
    pub granted_by: String,
    pub granted_at: DateTime<Utc>,
    /// Grants are never deleted; a revoked one keeps its history.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl RoleGrant {
    /// Whether this grant reaches `company`.
    pub fn covers(&self, company: &CompanyCode, index: &CompanyIndex) -> bool {
        if &self.company == company {
            return true;
        }
        self.subtree && is_descendant(company, &self.company, index)
    }
}

/// Whether `company` is below `ancestor` in the tree.
pub fn is_descendant(company: &CompanyCode, ancestor: &CompanyCode, index: &CompanyIndex) -> bool {
    let mut cur = index.get(company).and_then(|c| c.parent.as_ref());
    let mut steps = 0;
    while let Some(p) = cur {
        if p == ancestor {
            return true;
        }
        steps += 1;
        if steps > index.len() {
            return false;
        }
        cur = index.get(p).and_then(|c| c.parent.as_ref());
    }
    false
}

/// Who is acting: a login with its (unrevoked) grants, or the operator at the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub login: String,
    pub grants: Vec<RoleGrant>,
    /// The shell operator (`orgid … ` on the server): may do everything.
    #[serde(default)]
    pub operator: bool,
}

impl Principal {
    /// A login with its grants (revoked ones are dropped).
    pub fn new(login: impl Into<String>, grants: Vec<RoleGrant>) -> Self {
        Principal {
            login: login.into(),
            grants: grants.into_iter().filter(|g| g.revoked_at.is_none()).collect(),
            operator: false,
        }
    }

    /// The operator at the command line; the audit trail names them `cli`.
    pub fn operator() -> Self {
        Principal { login: "cli".into(), grants: Vec::new(), operator: true }
    }

    /// Whether the principal holds `role` over `company`.
    pub fn has(&self, role: Role, company: &CompanyCode, index: &CompanyIndex) -> bool {
        self.operator || self.grants.iter().any(|g| g.role == role && g.covers(company, index))
    }

    /// Whether the principal holds `role` anywhere.
    pub fn holds(&self, role: Role) -> bool {
        self.operator || self.grants.iter().any(|g| g.role == role)
    }

    /// Whether any role of the principal reaches `company`, other than the security auditor's
    /// (which reads the audit trail only).
    pub fn sees(&self, company: &CompanyCode, index: &CompanyIndex) -> bool {
        self.operator
            || self.grants.iter().any(|g| g.role != Role::SecurityAuditor && g.covers(company, index))
            || self.holds_group_admin()
    }

    fn holds_group_admin(&self) -> bool {
        self.grants.iter().any(|g| g.role == Role::GroupItAdmin)
    }

    /// The companies where the principal holds `role`, sorted.
    pub fn companies(&self, role: Role, index: &CompanyIndex) -> Vec<CompanyCode> {
        let mut out: Vec<CompanyCode> =
            index.sorted().into_iter().filter(|c| self.has(role, &c.code, index)).map(|c| c.code.clone()).collect();
        out.sort();
        out
    }

    /// The companies any role (but the auditor's) reaches, sorted.
    pub fn visible_companies(&self, index: &CompanyIndex) -> Vec<CompanyCode> {
        let mut out: Vec<CompanyCode> =
            index.sorted().into_iter().filter(|c| self.sees(&c.code, index)).map(|c| c.code.clone()).collect();
        out.sort();
        out
    }

    /// The audit trail's name of the actor kind: admin for group IT and the operator, delegate otherwise.
    pub fn is_admin(&self) -> bool {
        self.operator || self.holds_group_admin()
    }
}
