//! `[workflow]`: delegation and the lifecycle workflow (approvals, SLA, penalties, calendar).

use std::path::PathBuf;

use serde::Deserialize;

/// What the HR sync does with an independent company's roster.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum IndependentRoster {
    /// Differences go to the roster-check report; the company's delegate acts (seed 000 art. 12).
    #[default]
    Check,
    /// Applied like any group-operated company's.
    Apply,
}

/// What the HR sync does with a group-operated company's confidential post (机要岗) that the
/// roster opens: seed 000 art. 11(四) sends it through the confidential office.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConfidentialRoster {
    /// The account waits for an opening request that the confidential office approves.
    #[default]
    Request,
    /// Opened like any other account the roster qualifies.
    Apply,
}

/// `[workflow]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowConfig {
    /// Working days from a request's final approval to done (seed 000 art. 11, 14).
    pub sla_working_days: u32,
    /// Day of the month by which company HR submits the month's requests (art. 8: the 15th).
    pub submission_day: u32,
    /// Penalty points per late case (art. 14).
    pub penalty_points: u32,
    /// Extra calendar files merged over the built-in one (their years replace its years).
    pub calendar: Vec<PathBuf>,
    /// `check` (default) or `apply`: see `IndependentRoster`.
    pub independent_roster: IndependentRoster,
    /// Cron expression (with seconds) of `serve`'s retry of failed requests; empty: no retries.
    pub retry_schedule: String,
    /// `request` (default) or `apply`: see `ConfidentialRoster`.
    pub confidential_roster: ConfidentialRoster,
    /// Whether group HR also confirms a confidential post's requests (seed 000 art. 11(四): the
    /// confidential office alone, which hands them to the IT center).
    pub confidential_group_hr: bool,
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        Self {
            sla_working_days: 2,
            submission_day: 15,
            penalty_points: 10,
            calendar: Vec::new(),
            independent_roster: IndependentRoster::Check,
            retry_schedule: "0 */10 * * * *".into(),
            confidential_roster: ConfidentialRoster::Request,
            confidential_group_hr: false,
        }
    }
}

pub(crate) fn validate(cfg: &crate::Config, err: &mut dyn FnMut(&str, String)) {
    let w = &cfg.workflow;
    if w.sla_working_days == 0 || w.sla_working_days > 30 {
        err("workflow.sla_working_days", format!("is {}, but must be between 1 and 30", w.sla_working_days));
    }
    if w.submission_day == 0 || w.submission_day > 28 {
        err("workflow.submission_day", format!("is {}, but must be a day between 1 and 28", w.submission_day));
    }
    if w.penalty_points > 1000 {
        err("workflow.penalty_points", format!("is {}, but must be at most 1000", w.penalty_points));
    }
    for (i, p) in w.calendar.iter().enumerate() {
        if p.as_os_str().is_empty() {
            err(&format!("workflow.calendar.{i}"), "must be a file path".into());
        } else if !p.is_file() {
            err(&format!("workflow.calendar.{i}"), format!("`{}` is not a readable file", p.display()));
        }
    }
    if !w.retry_schedule.trim().is_empty()
        && let Err(e) = <cron::Schedule as std::str::FromStr>::from_str(&w.retry_schedule)
    {
        err("workflow.retry_schedule", format!("`{}` is not a cron expression with seconds: {e}", w.retry_schedule));
    }
}
