//! ELIG-1..5 of the group's rules (`domain.md`): who gets an account, and why. Thresholds are
//! configuration; this module only applies them.

use std::fmt;

use chrono::NaiveDate;
use orgid_config::EligibilityConfig;
use serde::{Deserialize, Serialize};

use crate::{Company, PersonRecord, Tier};

/// The rules in force, from configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    pub config: EligibilityConfig,
}

impl Rules {
    pub fn new(config: EligibilityConfig) -> Self {
        Self { config }
    }

    fn min_level(&self, tier: Tier) -> u8 {
        let g = &self.config.min_grade;
        match tier {
            Tier::Hq => g.hq,
            Tier::Tier1 => g.tier1,
            Tier::Tier2 => g.tier2,
            Tier::Tier3 => g.tier3,
            Tier::Tier4 => g.tier4,
            Tier::Unrated => g.unrated,
        }
    }

    /// Decides for one person in their current company as of `today`.
    pub fn decide(&self, record: &PersonRecord, company: &Company, today: NaiveDate) -> Decision {
        let p = &record.profile;
        let grade = p.grade.map_or_else(|| "no grade".to_string(), |g| g.to_string());
        if record.has_left(today) {
            let when = record.leave_date.map(|d| format!(" on {d}")).unwrap_or_default();
            return Decision::new(Outcome::NotEligible, Rule::Leaver, format!("left the company{when} (离职)"));
        }
        if p.confidential && self.config.confidential_always {
            return Decision::new(
                Outcome::Eligible,
                Rule::Confidential,
                format!("confidential post (机要岗) always has an account, whatever the grade ({grade})"),
            );
        }
        let min = self.min_level(company.tier);
        let meets = min == 0 || p.grade.is_some_and(|g| g.level >= min);
        let threshold = if min == 0 { "every grade".to_string() } else { format!("M{min}/P{min} and above") };
        let tier = company.tier.label_zh();
        match company.tier {
            Tier::Unrated if meets && self.config.unrated_requires_approval => Decision::new(
                Outcome::NeedsApproval,
                Rule::Unrated,
                format!("{tier}: {grade} meets {threshold}, but the strategy office and group HR must confirm"),
            ),
            _ if meets => {
                let rule = match company.tier {
                    Tier::Hq => Rule::Hq,
                    Tier::Tier1 => Rule::Tier1,
                    Tier::Unrated => Rule::Unrated,
                    _ => Rule::Tier2To4,
                };
                Decision::new(Outcome::Eligible, rule, format!("{tier}: {grade} meets {threshold}"))
            }
            _ => Decision::new(Outcome::NotEligible, Rule::BelowGrade, format!("{tier}: {grade} is below {threshold}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Eligible,
    NeedsApproval,
    NotEligible,
}

/// The rule that decided, with the code used in `domain.md` where there is one. Tables and
/// JSON both show its code (`BELOW-GRADE`), never the variant's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum Rule {
    /// ELIG-1: tier 1, grade at or above its threshold.
    Tier1,
    /// ELIG-2: tiers 2–4, grade at or above their threshold.
    Tier2To4,
    /// ELIG-3: confidential post.
    Confidential,
    /// ELIG-4: unrated company, by approval.
    Unrated,
    /// ELIG-5: headquarters.
    Hq,
    /// Below the tier's threshold.
    BelowGrade,
    /// Left the company.
    Leaver,
    /// No longer in any roster that covers their company.
    Absent,
    /// Approved by an operator.
    Approved,
}

impl Rule {
    pub fn code(self) -> &'static str {
        match self {
            Rule::Tier1 => "ELIG-1",
            Rule::Tier2To4 => "ELIG-2",
            Rule::Confidential => "ELIG-3",
            Rule::Unrated => "ELIG-4",
            Rule::Hq => "ELIG-5",
            Rule::BelowGrade => "BELOW-GRADE",
            Rule::Leaver => "LEAVER",
            Rule::Absent => "ABSENT",
            Rule::Approved => "APPROVED",
        }
    }

    /// What the rule says, in Chinese (the thresholds are configuration: see `explain`).
    pub fn label_zh(self) -> &'static str {
        match self {
            Rule::Tier1 => "一级企业，职级达到开通标准",
            Rule::Tier2To4 => "二至四级企业，职级达到开通标准",
            Rule::Confidential => "机要岗，不论职级均开通",
            Rule::Unrated => "未定级企业，须战略服务管理本部和集团人力确认",
            Rule::Hq => "集团总部人员",
            Rule::BelowGrade => "职级未达开通标准",
            Rule::Leaver => "已离职",
            Rule::Absent => "已不在花名册中",
            Rule::Approved => "已批准开通",
        }
    }

    pub const ALL: [Rule; 9] = [
        Rule::Tier1,
        Rule::Tier2To4,
        Rule::Confidential,
        Rule::Unrated,
        Rule::Hq,
        Rule::BelowGrade,
        Rule::Leaver,
        Rule::Absent,
        Rule::Approved,
    ];
}

impl From<Rule> for &'static str {
    fn from(r: Rule) -> Self {
        r.code()
    }
}

impl TryFrom<String> for Rule {
    type Error = String;

    /// The code; the variant's name too, as JSON written before the codes had it.
    fn try_from(s: String) -> Result<Self, String> {
        Rule::ALL
            .into_iter()
            .find(|r| r.code() == s || format!("{r:?}") == s)
            .ok_or_else(|| format!("`{s}` is not a rule code"))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub rule: Rule,
    pub explanation: String,
}

impl Decision {
    fn new(outcome: Outcome, rule: Rule, explanation: String) -> Self {
        Self { outcome, rule, explanation }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompanyCode, Employment, Grade, OperatingMode, PersonKey, Profile};

    fn company(tier: Tier) -> Company {
        Company {
            code: CompanyCode("C".into()),
            name: "C".into(),
            parent: None,
            tier,
            mode: OperatingMode::GroupOperated,
        }
    }

    fn person(grade: Option<&str>, confidential: bool) -> PersonRecord {
        PersonRecord {
            key: PersonKey("k".into()),
            profile: Profile {
                employee_number: "E1".into(),
                name: "张三".into(),
                gender: None,
                company: CompanyCode("C".into()),
                department: "财务部".into(),
                title: "经理".into(),
                grade: grade.map(|g| g.parse::<Grade>().expect("grade")),
                mobile: String::new(),
                email: String::new(),
                hire_date: None,
                confidential,
            },
            employment: Employment::Active,
            leave_date: None,
            source: "t".into(),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).expect("date")
    }

    fn decide(tier: Tier, grade: Option<&str>, confidential: bool) -> (Outcome, Rule) {
        let d = Rules::new(EligibilityConfig::default()).decide(&person(grade, confidential), &company(tier), today());
        (d.outcome, d.rule)
    }

    #[test]
    fn elig1_tier1_needs_grade_12_on_either_track_inclusive() {
        assert_eq!(decide(Tier::Tier1, Some("M12"), false), (Outcome::Eligible, Rule::Tier1));
        assert_eq!(decide(Tier::Tier1, Some("P12"), false), (Outcome::Eligible, Rule::Tier1));
        assert_eq!(decide(Tier::Tier1, Some("P16"), false), (Outcome::Eligible, Rule::Tier1));
        assert_eq!(decide(Tier::Tier1, Some("M11"), false), (Outcome::NotEligible, Rule::BelowGrade));
        assert_eq!(decide(Tier::Tier1, None, false), (Outcome::NotEligible, Rule::BelowGrade));
    }

    #[test]
    fn elig2_tiers_2_to_4_need_grade_11() {
        for tier in [Tier::Tier2, Tier::Tier3, Tier::Tier4] {
            assert_eq!(decide(tier, Some("M11"), false), (Outcome::Eligible, Rule::Tier2To4));
            assert_eq!(decide(tier, Some("P11"), false), (Outcome::Eligible, Rule::Tier2To4));
            assert_eq!(decide(tier, Some("P10"), false), (Outcome::NotEligible, Rule::BelowGrade));
        }
    }

    #[test]
    fn elig3_confidential_posts_always_whatever_grade_or_tier() {
        for tier in [Tier::Tier1, Tier::Tier4, Tier::Unrated] {
            assert_eq!(decide(tier, Some("P3"), true), (Outcome::Eligible, Rule::Confidential));
            assert_eq!(decide(tier, None, true), (Outcome::Eligible, Rule::Confidential));
        }
    }

    #[test]
    fn elig4_unrated_only_by_approval_and_only_above_threshold() {
        assert_eq!(decide(Tier::Unrated, Some("M11"), false), (Outcome::NeedsApproval, Rule::Unrated));
        assert_eq!(decide(Tier::Unrated, Some("M5"), false), (Outcome::NotEligible, Rule::BelowGrade));
    }

    #[test]
    fn elig5_hq_everyone_by_default() {
        assert_eq!(decide(Tier::Hq, Some("P1"), false), (Outcome::Eligible, Rule::Hq));
        assert_eq!(decide(Tier::Hq, None, false), (Outcome::Eligible, Rule::Hq));
    }

    #[test]
    fn thresholds_come_from_configuration() {
        let mut cfg = EligibilityConfig::default();
        cfg.min_grade.tier1 = 14;
        cfg.min_grade.hq = 10;
        cfg.unrated_requires_approval = false;
        cfg.confidential_always = false;
        let rules = Rules::new(cfg);
        let d = |t, g, c| rules.decide(&person(g, c), &company(t), today()).outcome;
        assert_eq!(d(Tier::Tier1, Some("M13"), false), Outcome::NotEligible);
        assert_eq!(d(Tier::Tier1, Some("M14"), false), Outcome::Eligible);
        assert_eq!(d(Tier::Hq, Some("P9"), false), Outcome::NotEligible);
        assert_eq!(d(Tier::Unrated, Some("M11"), false), Outcome::Eligible);
        assert_eq!(d(Tier::Tier1, Some("P3"), true), Outcome::NotEligible);
    }

    #[test]
    fn leavers_are_not_eligible_from_their_leaving_date() {
        let rules = Rules::new(EligibilityConfig::default());
        let mut p = person(Some("M15"), true);
        p.leave_date = Some(today());
        let d = rules.decide(&p, &company(Tier::Tier1), today());
        assert_eq!((d.outcome, d.rule), (Outcome::NotEligible, Rule::Leaver));
        p.leave_date = today().succ_opt();
        assert_eq!(rules.decide(&p, &company(Tier::Tier1), today()).outcome, Outcome::Eligible, "not yet left");
        p.leave_date = None;
        p.employment = Employment::Left;
        assert_eq!(rules.decide(&p, &company(Tier::Tier1), today()).rule, Rule::Leaver);
    }

    #[test]
    fn explanations_name_tier_grade_and_threshold() {
        let d = Rules::new(EligibilityConfig::default()).decide(
            &person(Some("M11"), false),
            &company(Tier::Tier1),
            today(),
        );
        assert_eq!(d.explanation, "一级企业: M11 is below M12/P12 and above");
    }
}
