//! The SLA and penalty report, and the independent companies' roster checks, in scope.

use chrono::{Datelike, NaiveDate};
use orgid_directory::WorkflowStore;
use orgid_directory::workflow::{Principal, RequestFilter, Role, RosterCheck, SlaRow, sla};

use super::{Result, calendar, companies, sla_rules};
use crate::app::App;

/// Late cases (overdue requests, late submissions, unresolved roster checks of independent
/// companies) whose deadline falls in `month` (all when `None`), for the companies the principal
/// sees; the security auditor sees them all.
pub async fn sla_report(app: &App, who: &Principal, month: Option<NaiveDate>) -> Result<Vec<SlaRow>> {
    let index = companies(app).await?;
    let requests = app.store.requests(&RequestFilter::default()).await?;
    let checks = app.store.roster_checks(false).await?;
    let cal = calendar(app)?;
    let rows = sla::late_cases(&requests, &checks, &index, &cal, &app.tz, app.clock.now(), &sla_rules(app));
    let auditor = who.holds(Role::SecurityAuditor);
    Ok(rows
        .into_iter()
        .filter(|r| auditor || who.sees(&r.company, &index))
        .filter(|r| month.is_none_or(|m| r.deadline.year() == m.year() && r.deadline.month() == m.month()))
        .collect())
}

/// Roster checks of the companies the principal sees (unresolved only with `open_only`).
pub async fn roster_checks(app: &App, who: &Principal, open_only: bool) -> Result<Vec<RosterCheck>> {
    let index = companies(app).await?;
    Ok(app.store.roster_checks(open_only).await?.into_iter().filter(|c| who.sees(&c.company, &index)).collect())
}
