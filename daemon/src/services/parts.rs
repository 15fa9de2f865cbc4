//! A first load in parts. A run that fills an empty store with tens of thousands of accounts spends
//! seconds in its one store transaction before the directory gets its first write. Written in
//! parts instead, each part atomically with its own outbox operations, tracking, ledger changes
//! and audit records, the directory starts on the first part while the next ones are written.
//! Nothing reaches the directory before the store has committed it.
//!
//! The cost is the run's atomicity: a part that fails (another run got in between, a refused
//! write) leaves the parts before it committed. The run is then marked failed with how many of
//! its changes were written, its ledger holds exactly those, and the next sync, which plans
//! against what the store holds, completes the rest.

use std::collections::HashMap;
use std::ops::Range;

use orgid_connectors::ldap::LdapSink;
use orgid_directory::target::ldap::{DitDelta, PHASE_ACCOUNTS, PHASE_MEMBERS, QueuedOp};
use orgid_directory::{Company, Plan, RowError, RunId, RunOutcome, RunPart, RunStatus, RunStore, StoreError};

use crate::app::App;
use crate::output::progress::Progress;
use crate::services::ledger::{RunReport, fail};
use crate::services::targets::ldap::push_with;
use crate::services::targets::outbox::Fresh;

/// Account changes per part.
pub const PART_CHANGES: usize = 10_000;
/// Account changes in the first part, smaller: the directory starts when it has committed, and
/// a quarter of the accounts (with the OUs and groups) commits sooner than a full part.
pub const FIRST_PART_CHANGES: usize = 2_500;
/// A first load with fewer account changes is written in one transaction.
pub const PARTS_FROM: usize = 20_000;

/// One part of a run: ranges of the plan's changes and people (see [`split`]) and of the delta's
/// operations and tracked users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub changes: Range<usize>,
    pub people: Range<usize>,
    pub ops: Range<usize>,
    pub users: Range<usize>,
}

/// Splits a run's changes into a first part of `first` and then parts of `size`, and its
/// directory side with them: structure (OUs
/// and groups, and every node and rename) goes with the first part, an account's operations and
/// tracking with the part of its change, memberships with the last part. A first load's delta
/// lists them in that order already; the parts are ranges of it, so that nothing is copied (a
/// first load's operations are tens of megabytes). Reorders `plan.people` so that each part's
/// people are contiguous (people without an account change go with the first part). The parts'
/// operations, one part after the other, are the delta's operations in its order. `None` when
/// the run makes fewer than two parts or the delta does not split that way.
pub fn split(plan: &mut Plan, delta: &DitDelta, first: usize, size: usize) -> Option<Vec<Part>> {
    let (first, size, total) = (first.max(1), size.max(1), plan.changes.len());
    if total <= first {
        return None;
    }
    let count = 1 + (total - first).div_ceil(size);
    let last = count - 1;
    // Where part `i`'s changes start.
    let start = |i: usize| if i == 0 { 0 } else { (first + (i - 1) * size).min(total) };
    let part_of: HashMap<&str, usize> = plan
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.person_key.as_str(), if i < first { 0 } else { 1 + (i - first) / size }))
        .collect();
    let op_part = |op: &QueuedOp| match op.phase {
        p if p < PHASE_ACCOUNTS => Some(0),
        PHASE_ACCOUNTS => op.key.strip_prefix("user:").and_then(|k| part_of.get(k).copied()),
        PHASE_MEMBERS => Some(last),
        _ => None,
    };
    let ops = ends(count, delta.ops.iter().map(op_part))?;
    let users = ends(count, delta.users.iter().map(|(k, _)| part_of.get(k.as_str()).copied()))?;
    let mut people = vec![0usize; count];
    let people_part = |p: &orgid_directory::PersonRecord| part_of.get(p.key.as_str()).copied().unwrap_or(0);
    for p in &plan.people {
        people[people_part(p)] += 1;
    }
    // In place, and stable: a first load holds 100,000 people.
    plan.people.sort_by_cached_key(people_part);
    let mut parts = Vec::with_capacity(count);
    let (mut o, mut u, mut p) = (0, 0, 0);
    for i in 0..count {
        let changes = start(i)..start(i + 1);
        parts.push(Part { changes, people: p..p + people[i], ops: o..ops[i], users: u..users[i] });
        (o, u, p) = (ops[i], users[i], p + people[i]);
    }
    Some(parts)
}

/// Where each of `count` parts ends in a sequence of part numbers; `None` if one is missing or
/// the numbers go down.
fn ends(count: usize, parts: impl Iterator<Item = Option<usize>>) -> Option<Vec<usize>> {
    let mut ends = vec![0usize; count];
    let (mut current, mut n) = (0, 0);
    for part in parts {
        let part = part?;
        if part < current {
            return None;
        }
        current = part;
        n += 1;
        ends[part] = n;
    }
    // Parts without any fill in from the one before.
    for i in 1..count {
        ends[i] = ends[i].max(ends[i - 1]);
    }
    Some(ends)
}

/// What [`conclude`] needs of the run besides its parts.
pub struct Whole {
    pub run: RunId,
    pub status: RunStatus,
    pub message: Option<String>,
    pub plan: Plan,
    pub companies: Vec<Company>,
    pub rejected: Vec<RowError>,
    pub active_people: u64,
    /// WeCom's delta of the whole run, written with its finish (after every part: its members'
    /// people exist by then) and pushed after it.
    pub wecom: Option<orgid_directory::target::wecom::WecomDelta>,
}

/// Writes `parts` one transaction each and applies each part's operations as soon as it has
/// committed, while the next part is written; then finishes the run (its counts, rejected rows and
/// final audit record). A part that fails stops the writing and fails the run (see the module doc).
pub async fn conclude(
    app: &App,
    whole: Whole,
    delta: DitDelta,
    parts: Vec<Part>,
    progress: &Progress,
) -> anyhow::Result<RunReport> {
    let Whole { run, status, message, plan, companies, rejected, active_people, wecom } = whole;
    let at = app.clock.now();
    let total = plan.changes.len();
    // The delta's operations and tracking are taken out part by part, as the parts are written.
    let DitDelta { mut ops, mut users, nodes, renamed } = delta;
    let mut structure = Some((nodes, renamed));
    let mut take = move |part: &Part| {
        let (nodes, renamed) = structure.take().unwrap_or_default();
        let ops = ops.drain(..part.ops.len()).collect();
        let users = users.drain(..part.users.len()).collect();
        DitDelta { ops, users, nodes, renamed }
    };
    let write = |part: Part, delta: DitDelta| {
        let (plan, companies) = (&plan, &companies);
        async move {
            let first = part.changes.start == 0;
            let outcome = RunPart {
                at,
                companies: if first { companies } else { &[] },
                people: &plan.people[part.people.clone()],
                changes: &plan.changes[part.changes.clone()],
                changes_before: part.changes.start,
                directory: &delta,
            };
            let seqs = app.store.apply_run_part(run, outcome).await?;
            Ok::<_, StoreError>((part.changes.end, seqs, delta.ops))
        }
    };
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else { anyhow::bail!("a run in parts has no parts") };
    progress.stage("writing");
    let store_span = progress.span("store");
    let connect = async {
        match &app.config.ldap {
            Some(cfg) => Some(LdapSink::connect(cfg).await),
            None => None,
        }
    };
    let first_delta = take(&first);
    let (written, connected) = tokio::join!(write(first, first_delta), connect);
    let (mut committed, seqs, ops) = match written {
        Ok(w) => w,
        Err(e) => {
            if let Some(Ok(sink)) = connected {
                sink.unbind().await;
            }
            return fail(app, Some(run), failure(0, total, e), rejected).await;
        }
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(Vec<i64>, Vec<QueuedOp>)>();
    let fresh = Fresh::new(run, at, seqs, ops).map(|f| f.then(rx));
    progress.stage("writing the directory");
    let rest = async {
        for part in parts {
            let delta = take(&part);
            let (end, seqs, ops) = write(part, delta).await.map_err(|e| (committed, e))?;
            committed = end;
            tracing::debug!(committed, total, "run part written");
            // A worker that has stopped (the server went away) reads the outbox next time.
            let _ = tx.send((seqs, ops));
        }
        // The emptied operations and tracking go now, not with the directory's last write.
        drop(take);
        drop(tx);
        let finished = Plan { counts: plan.counts, active_before: plan.active_before, ..Plan::default() };
        let outcome = RunOutcome {
            status,
            finished_at: at,
            companies: &companies,
            plan: &finished,
            rejected: &rejected,
            active_people,
            message,
            directory: None,
            wecom: wecom.as_ref(),
        };
        app.store.finish_run(run, outcome).await.map_err(|e| (committed, e))?;
        drop(store_span);
        Ok::<_, (usize, StoreError)>(())
    };
    let directory = async {
        let _directory = progress.span("directory");
        push_with(app, connected, fresh).await
    };
    let (finished, directory) = tokio::join!(rest, directory);
    if finished.is_ok() && wecom.is_some_and(|w| !w.ops.is_empty()) {
        crate::services::targets::wecom::push(app).await?;
    }
    match finished {
        Ok(()) => Ok(RunReport::Applied { run, status, plan, rejected, directory: Some(directory?) }),
        Err((committed, e)) => {
            directory?;
            fail(app, Some(run), failure(committed, total, e), rejected).await
        }
    }
}

fn failure(committed: usize, total: usize, e: StoreError) -> String {
    let why = match e {
        StoreError::Conflict(why) => format!("another run changed the store meanwhile ({why})"),
        e => e.to_string(),
    };
    format!(
        "{why}; written in parts, {committed} of its {total} account changes were committed (the ledger lists them) \
         and the next sync completes the rest"
    )
}

#[cfg(test)]
#[path = "parts_tests.rs"]
mod tests;
