//! `orgid import FILE`: a form-1 (opening) or form-2 (adjustment) request file, applied to the
//! people in it only.

use std::collections::HashMap;
use std::path::Path;

use orgid_connectors::source::{self, Requests};
use orgid_directory::plan::Scope;
use orgid_directory::{PersonRecord, PersonStore, RowError, RunKind};

use crate::app::App;
use crate::output::progress::Progress;
use crate::services::ledger::{RunReport, begin, fail, stored_companies};
use crate::services::run::{Planned, compute, conclude};

pub async fn import(
    app: &App,
    path: &Path,
    dry_run: bool,
    actor: &str,
    progress: &Progress,
) -> anyhow::Result<RunReport> {
    let file = path.display().to_string();
    // The file first: a mistyped path is the file's fault, whatever the store holds, and writes no
    // run to the ledger.
    if let Err(e) = std::fs::File::open(path)
        .and_then(|f| f.metadata())
        .and_then(|m| if m.is_file() { Ok(()) } else { Err(std::io::Error::other("not a regular file")) })
    {
        let message = format!("{file}: cannot read the request file: {e}");
        return Ok(RunReport::Failed { run: None, message, rejected: Vec::new() });
    }
    let run = if dry_run { None } else { Some(begin(app, RunKind::Import, vec![file.clone()], actor).await?) };
    let index = stored_companies(app).await?;
    if index.is_empty() {
        return fail(
            app,
            run,
            "the store knows no companies yet; run `orgid sync` with a company list first".into(),
            Vec::new(),
        )
        .await;
    }
    progress.stage("reading requests");
    let read = match source::read_requests(path, &app.keyer, &index, &app.config.limits) {
        Ok(r) => r,
        Err(e) => return fail(app, run, e.to_string(), Vec::new()).await,
    };
    let mut rejected = read.rejected;
    let records: Vec<PersonRecord> = match read.requests {
        Requests::Opening(rows) => rows.into_iter().map(|o| o.record).collect(),
        Requests::Adjustment(rows) => {
            // An adjustment must describe someone the store has, as the store has them.
            let people = app.store.people().await?;
            let by_key: HashMap<_, _> = people.iter().map(|sp| (&sp.person.key, &sp.person)).collect();
            let mut ok = Vec::with_capacity(rows.len());
            for a in rows {
                match by_key.get(&a.record.key) {
                    None => rejected.push(RowError {
                        file: file.clone(),
                        row: a.row,
                        column: "身份证号码".into(),
                        reason: "no such person in the store; an opening request (form 1) is needed first".into(),
                    }),
                    Some(p) if p.profile.employee_number != a.before_employee_number => rejected.push(RowError {
                        file: file.clone(),
                        row: a.row,
                        column: "异动前工号".into(),
                        reason: format!(
                            "`{}` is not this person's current employee number `{}`",
                            a.before_employee_number, p.profile.employee_number
                        ),
                    }),
                    Some(p) if p.profile.company != a.before_company => rejected.push(RowError {
                        file: file.clone(),
                        row: a.row,
                        column: "异动前公司".into(),
                        reason: format!(
                            "`{}` is not this person's current company `{}`",
                            a.before_company, p.profile.company
                        ),
                    }),
                    Some(_) => ok.push(a.record),
                }
            }
            ok
        }
    };
    rejected.sort_by_key(|r| r.row);
    if records.is_empty() {
        let message = format!("{file}: no valid request rows");
        return fail(app, run, message, rejected).await;
    }
    progress.stage("planning");
    let (plan, current) = compute(app, &index, &records, Scope::Partial).await?;
    let active = records.iter().filter(|r| !r.has_left(app.today())).count() as u64;
    conclude(
        app,
        run,
        Planned { plan, current, index, order: Default::default() },
        Vec::new(),
        rejected,
        active,
        progress,
    )
    .await
}
