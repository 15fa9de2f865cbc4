//! What the commands print: run reports, account lists, explanations and the ledger, as tables
//! for people and JSON/CSV for scripts. Times are shown in the configured zone.

use std::io::Write;

use chrono_tz::Tz;
use orgid_directory::{
    AccountRow, Company, Decision, Employment, OpCounts, Outcome, RowError, RunDetail, RunSummary, StoredPerson,
};
use serde_json::json;

use crate::output::timings::TimingReport;
use crate::output::{Format, Table, local, write_json};
use crate::services::ledger::RunReport;

fn counts_line(c: &OpCounts) -> String {
    format!(
        "open {}, reopen {}, adjust {}, move {}, close {}, pending approval {}, people updated {}",
        c.open, c.reopen, c.adjust, c.moved, c.close, c.pending_approval, c.people_updated
    )
}

fn rejected_table(rejected: &[RowError]) -> Table {
    Table {
        header: vec!["file", "row", "column", "reason"],
        rows: rejected
            .iter()
            .map(|r| vec![r.file.clone(), r.row.to_string(), r.column.clone(), r.reason.clone()])
            .collect(),
    }
}

pub fn write_run_report(
    report: &RunReport,
    format: Format,
    timings: Option<&TimingReport>,
    out: &mut (dyn Write + Send),
) -> std::io::Result<()> {
    let (run, plan, rejected, message) = match report {
        RunReport::DryRun { plan, rejected, hold, .. } => (None, Some(plan), rejected, hold.clone()),
        RunReport::Applied { run, plan, rejected, .. } => (Some(*run), Some(plan), rejected, None),
        RunReport::Held { run, reason, plan, rejected } => (Some(*run), Some(plan), rejected, Some(reason.clone())),
        RunReport::Failed { run, message, rejected } => (*run, None, rejected, Some(message.clone())),
    };
    match format {
        Format::Json => {
            // Streamed from borrowed data: a report of 100,000 changes is never built as a tree.
            #[derive(serde::Serialize)]
            struct RunJson<'a> {
                run: Option<orgid_directory::RunId>,
                status: &'a str,
                message: Option<String>,
                counts: Option<&'a OpCounts>,
                changes: Option<&'a [orgid_directory::AccountChange]>,
                warnings: Option<&'a [String]>,
                rejected: &'a [RowError],
                directory: serde_json::Value,
                #[serde(skip_serializing_if = "Option::is_none")]
                timings: Option<&'a TimingReport>,
            }
            let body = RunJson {
                run,
                status: report.status(),
                message,
                counts: plan.map(|p| &p.counts),
                changes: plan.map(|p| &p.changes[..]),
                warnings: plan.map(|p| &p.warnings[..]),
                rejected,
                directory: directory_json(report),
                timings,
            };
            write_json(&body, out)
        }
        Format::Csv => {
            let rows = plan.map(|p| &p.changes[..]).unwrap_or_default();
            change_table(rows).write_csv(out)
        }
        Format::Table => {
            match report {
                RunReport::DryRun { .. } => writeln!(out, "dry run: nothing was written")?,
                RunReport::Applied { run, .. } if report.directory_incomplete() => {
                    writeln!(out, "run {run}: INCOMPLETE, the store has it, the directory does not yet")?
                }
                RunReport::Applied { run, status, .. } => writeln!(out, "run {run}: {status}")?,
                RunReport::Held { run, .. } => writeln!(out, "run {run}: HELD, nothing was written")?,
                RunReport::Failed { run: Some(run), .. } => writeln!(out, "run {run}: FAILED, nothing was written")?,
                RunReport::Failed { run: None, .. } => writeln!(out, "FAILED, nothing was written")?,
            }
            if let Some(m) = &message {
                writeln!(out, "  {m}")?;
            }
            if let Some(plan) = plan {
                writeln!(out, "  {}", counts_line(&plan.counts))?;
                for w in &plan.warnings {
                    writeln!(out, "  warning: {w}")?;
                }
                if matches!(report, RunReport::DryRun { .. }) && !plan.changes.is_empty() {
                    writeln!(out)?;
                    change_table(&plan.changes).write_table(out)?;
                }
            }
            match report {
                RunReport::Applied { directory: Some(d), .. } => match &d.unavailable {
                    None => writeln!(out, "  directory: {} operations applied, {} refused", d.applied, d.refused)?,
                    Some(e) => writeln!(
                        out,
                        "  directory: NOT reachable ({e}); the changes wait in the outbox (`orgid ldap status`)"
                    )?,
                },
                RunReport::DryRun { directory_ops: Some(n), .. } => {
                    writeln!(out, "  directory: {n} operations planned")?
                }
                _ => {}
            }
            if !rejected.is_empty() {
                writeln!(out, "\n{} rejected rows:", rejected.len())?;
                rejected_table(rejected).write_table(out)?;
            }
            Ok(())
        }
    }
}

fn directory_json(report: &RunReport) -> serde_json::Value {
    match report {
        RunReport::Applied { directory: Some(d), .. } => json!(d),
        RunReport::DryRun { directory_ops: Some(n), .. } => json!({ "planned": n }),
        _ => serde_json::Value::Null,
    }
}

fn change_table(changes: &[orgid_directory::AccountChange]) -> Table {
    Table {
        header: vec!["op", "login", "employee_number", "name", "company", "status", "rule", "changed", "reason"],
        rows: changes
            .iter()
            .map(|c| {
                let changed = c
                    .fields
                    .iter()
                    .map(|f| format!("{}: {} → {}", f.field, f.before, f.after))
                    .collect::<Vec<_>>()
                    .join("; ");
                vec![
                    c.op.as_str().into(),
                    c.account.login.clone(),
                    c.employee_number.clone(),
                    c.name.clone(),
                    c.company.0.clone(),
                    c.account.status.as_str().into(),
                    c.account.rule.clone(),
                    changed,
                    c.reason.clone(),
                ]
            })
            .collect(),
    }
}

pub fn write_accounts(
    rows: &[AccountRow],
    format: Format,
    tz: Tz,
    out: &mut (dyn Write + Send),
) -> std::io::Result<()> {
    if format == Format::Json {
        return write_json(&rows, out);
    }
    let table = Table {
        header: vec![
            "login",
            "employee_number",
            "name",
            "company",
            "department",
            "title",
            "grade",
            "status",
            "rule",
            "updated",
        ],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.login.clone(),
                    r.employee_number.clone(),
                    r.name.clone(),
                    r.company.0.clone(),
                    r.department.clone(),
                    r.title.clone(),
                    r.grade.clone().unwrap_or_default(),
                    r.status.as_str().into(),
                    r.rule.clone(),
                    local(Some(r.updated_at), tz),
                ]
            })
            .collect(),
    };
    match format {
        Format::Csv => table.write_csv(out),
        _ => table.write_table(out),
    }
}

pub fn write_explanation(
    sp: &StoredPerson,
    company: Option<&Company>,
    decision: Option<&Decision>,
    format: Format,
    tz: Tz,
    out: &mut (dyn Write + Send),
) -> std::io::Result<()> {
    let p = &sp.person.profile;
    if format == Format::Json {
        return write_json(
            &json!({
                "employee_number": p.employee_number,
                "name": p.name,
                "company": company.map(|c| json!({"code": c.code, "name": c.name, "tier": c.tier, "mode": c.mode})),
                "department": p.department,
                "title": p.title,
                "grade": p.grade,
                "confidential": p.confidential,
                "employment": sp.person.employment,
                "leave_date": sp.person.leave_date,
                "decision": decision,
                "account": sp.account,
            }),
            out,
        );
    }
    let yes_no = |b: bool| if b { "yes (是)" } else { "no (否)" };
    writeln!(out, "employee number  {}", p.employee_number)?;
    writeln!(out, "name             {}", p.name)?;
    match company {
        Some(c) => writeln!(
            out,
            "company          {} {} — {} ({}), {}",
            c.code,
            c.name,
            c.tier.label_zh(),
            c.tier.as_str(),
            c.mode.as_str()
        )?,
        None => writeln!(out, "company          {} (not in the company list)", p.company)?,
    }
    writeln!(out, "department       {}", p.department)?;
    writeln!(out, "title            {}", p.title)?;
    writeln!(out, "grade            {}", p.grade.map(|g| g.to_string()).unwrap_or_else(|| "-".into()))?;
    writeln!(out, "confidential     {}", yes_no(p.confidential))?;
    let leave = sp.person.leave_date.map(|d| format!(", leaving date {d}")).unwrap_or_default();
    let employment = match sp.person.employment {
        Employment::Active => "在职 (employed)",
        Employment::Left => "离职 (left)",
    };
    writeln!(out, "employment       {employment}{leave}")?;
    if let Some(d) = decision {
        let outcome = match d.outcome {
            Outcome::Eligible => "eligible (可开通)",
            Outcome::NeedsApproval => "eligible after approval (待确认)",
            Outcome::NotEligible => "not eligible (不可开通)",
        };
        writeln!(out, "decision         {outcome}")?;
        writeln!(out, "rule             {}: {}", d.rule.code(), d.explanation)?;
    }
    match &sp.account {
        Some(a) => {
            let mut when = vec![format!("decided by {}", a.rule)];
            if a.opened_at.is_some() {
                when.push(format!("opened {}", local(a.opened_at, tz)));
            }
            if a.closed_at.is_some() {
                when.push(format!("closed {}", local(a.closed_at, tz)));
            }
            writeln!(out, "account          {} — {} ({})", a.login, a.status, when.join(", "))?;
        }
        None => writeln!(out, "account          none")?,
    }
    Ok(())
}

fn run_row(r: &RunSummary, tz: Tz) -> Vec<String> {
    vec![
        r.id.to_string(),
        r.kind.as_str().into(),
        r.status.as_str().into(),
        local(Some(r.started_at), tz),
        local(r.finished_at, tz),
        r.sources.join(","),
        r.counts.open.to_string(),
        r.counts.reopen.to_string(),
        r.counts.adjust.to_string(),
        r.counts.moved.to_string(),
        r.counts.close.to_string(),
        r.counts.pending_approval.to_string(),
        r.rejected_rows.to_string(),
        r.message.clone().unwrap_or_default(),
    ]
}

const RUN_HEADER: [&str; 14] = [
    "id", "kind", "status", "started", "finished", "sources", "open", "reopen", "adjust", "move", "close", "pending",
    "rejected", "message",
];

pub fn write_runs(runs: &[RunSummary], format: Format, tz: Tz, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
    if format == Format::Json {
        return write_json(&runs, out);
    }
    let table = Table { header: RUN_HEADER.to_vec(), rows: runs.iter().map(|r| run_row(r, tz)).collect() };
    match format {
        Format::Csv => table.write_csv(out),
        _ => table.write_table(out),
    }
}

pub fn write_run_detail(d: &RunDetail, format: Format, tz: Tz, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
    match format {
        Format::Json => write_json(d, out),
        Format::Csv => change_table(&d.changes).write_csv(out),
        Format::Table => {
            let s = &d.summary;
            writeln!(out, "run {} ({}) by {}: {}", s.id, s.kind.as_str(), s.actor, s.status)?;
            writeln!(out, "  sources:  {}", s.sources.join(", "))?;
            writeln!(out, "  started:  {}", local(Some(s.started_at), tz))?;
            writeln!(out, "  finished: {}", local(s.finished_at, tz))?;
            writeln!(out, "  active people delivered: {}", s.active_people)?;
            writeln!(out, "  {}", counts_line(&s.counts))?;
            if let Some(m) = &s.message {
                writeln!(out, "  {m}")?;
            }
            if let Some(a) = s.approval_of {
                writeln!(out, "  approval: run {a}")?;
            }
            if !d.rejected.is_empty() {
                writeln!(out, "\n{} rejected rows:", d.rejected.len())?;
                rejected_table(&d.rejected).write_table(out)?;
            }
            if !d.changes.is_empty() {
                writeln!(out, "\n{} account changes:", d.changes.len())?;
                change_table(&d.changes).write_table(out)?;
            }
            Ok(())
        }
    }
}
