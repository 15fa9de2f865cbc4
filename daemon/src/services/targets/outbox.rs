//! The drain of a target's outbox, the same for every target: applies its queued operations in
//! queue order, each entry's operations one after the other, and acknowledges what the target
//! took. The target is the slow part, so it is kept busy: the next batch is read and the last one
//! acknowledged while the target applies the current one, and a run that has just queued its
//! operations hands them over in memory ([`Fresh`]) instead of having them read back.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::store::OutboxStore;
use orgid_directory::target::{ApplyError, OutboxItem, Queued, TargetClient, TargetId, TargetOp};
use orgid_directory::{AuditStore, RunId};
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{error, info, warn};

use crate::app::App;

/// Outbox items applied per round.
const BATCH: usize = 4000;
/// A refused operation is retried with backoff and parked after this many attempts.
pub const PARK_AFTER: u32 = 8;

/// What a drain did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DrainReport {
    pub applied: u64,
    pub refused: u64,
    /// Why the server could not be used, if it could not.
    pub unavailable: Option<String>,
}

/// A later part of a run: its operations' outbox seqs and the operations, in queue order.
pub type Part<Op> = (Vec<i64>, Vec<Queued<Op>>);

/// Operations a run has just committed to the outbox, with their seqs: the same items the store
/// would return, without reading and decoding them again.
#[derive(Debug)]
pub struct Fresh<Op> {
    run: RunId,
    queued_at: DateTime<Utc>,
    items: std::iter::Zip<std::vec::IntoIter<i64>, std::vec::IntoIter<Queued<Op>>>,
    first: Option<i64>,
    /// The last seq handed on.
    last: i64,
    /// Later parts of the same run as they commit (see `services::parts`), in queue order.
    more: Option<UnboundedReceiver<Part<Op>>>,
}

impl<Op> Fresh<Op> {
    /// `seqs` as `finish_run` returned them for `ops`; `None` when they do not pair up.
    pub fn new(run: RunId, queued_at: DateTime<Utc>, seqs: Vec<i64>, ops: Vec<Queued<Op>>) -> Option<Fresh<Op>> {
        if seqs.len() != ops.len() || seqs.is_empty() || seqs.windows(2).any(|w| w[0] >= w[1]) {
            return None;
        }
        let first = seqs.first().copied();
        let last = seqs.last().copied().unwrap_or(i64::MIN);
        Some(Fresh { run, queued_at, items: seqs.into_iter().zip(ops), first, last, more: None })
    }

    /// These operations, then those of the parts that `more` delivers, until it closes.
    pub fn then(self, more: UnboundedReceiver<Part<Op>>) -> Fresh<Op> {
        Fresh { more: Some(more), ..self }
    }

    /// Whether later parts may still come.
    fn streaming(&self) -> bool {
        self.more.is_some()
    }

    /// The next batch; empty when everything handed over has been. Waits for the next part while
    /// one may come. A part whose seqs do not follow on ends the handing over: the caller reads
    /// the store from there on.
    async fn next_batch(&mut self) -> Vec<OutboxItem<Op>> {
        let mut batch: Vec<OutboxItem<Op>> = Vec::new();
        loop {
            batch.extend(self.items.by_ref().take(BATCH - batch.len()).map(|(seq, op)| OutboxItem {
                seq,
                run: Some(self.run),
                op,
                attempts: 0,
                next_attempt_at: self.queued_at,
            }));
            if batch.len() == BATCH || (!batch.is_empty() && self.more.as_ref().is_none_or(|m| m.is_empty())) {
                return batch;
            }
            let Some(more) = self.more.as_mut() else { return batch };
            match more.recv().await {
                Some((seqs, ops))
                    if seqs.len() == ops.len()
                        && seqs.first().is_some_and(|&s| s > self.last)
                        && seqs.windows(2).all(|w| w[0] < w[1]) =>
                {
                    self.last = seqs.last().copied().unwrap_or(self.last);
                    self.items = seqs.into_iter().zip(ops);
                }
                _ => {
                    self.more = None;
                    return batch;
                }
            }
        }
    }
}

/// Applies the target's outbox until every item has been tried once, or the target goes away.
/// Items whose retry is not due yet, and every later item of their entry, wait for a later drain.
/// `fresh` is used only if its items are still the head of the queue (nothing older waits,
/// nobody else took them meanwhile); otherwise everything is read from the store.
pub async fn drain<C: TargetClient>(app: &App, client: &C, fresh: Option<Fresh<C::Op>>) -> anyhow::Result<DrainReport> {
    let target = <C::Op as TargetOp>::TARGET;
    let mut fresh = match fresh {
        Some(f) => {
            let head = app.store.outbox_batch::<C::Op>(1).await?;
            (head.first().map(|i| i.seq) == f.first).then_some(f)
        }
        None => None,
    };
    let mut report = DrainReport::default();
    // Keys with an item refused, skipped or not yet due: their later items wait.
    let mut blocked: HashSet<String> = HashSet::new();
    let mut acks: Vec<i64> = Vec::new();
    let mut batch = match fresh.as_mut() {
        Some(f) => f.next_batch().await,
        None => app.store.outbox_batch_after::<C::Op>(i64::MIN, BATCH as u32).await?,
    };
    while !batch.is_empty() {
        let last = batch.last().map_or(i64::MIN, |i| i.seq);
        // While a run still writes its parts, their transactions follow one another closely, and
        // an acknowledgement waiting for its turn would starve: it waits for the last part.
        let acking = if fresh.as_ref().is_some_and(Fresh::streaming) { Vec::new() } else { std::mem::take(&mut acks) };
        let next = async {
            match fresh.as_mut() {
                Some(f) => {
                    let b = f.next_batch().await;
                    if b.is_empty() { app.store.outbox_batch_after::<C::Op>(last, BATCH as u32).await } else { Ok(b) }
                }
                None => app.store.outbox_batch_after::<C::Op>(last, BATCH as u32).await,
            }
        };
        let work = apply_batch(app, client, &batch, &mut blocked, &mut report);
        let (done, next, acked) = tokio::join!(work, next, ack(app, target, acking));
        acked?;
        let done = done?;
        report.applied += done.len() as u64;
        acks.extend(done);
        if report.unavailable.is_some() {
            break;
        }
        batch = next?;
    }
    ack(app, target, acks).await?;
    if report.applied > 0 || report.refused > 0 {
        info!(%target, applied = report.applied, refused = report.refused, "target updated");
    }
    Ok(report)
}

/// Applies a batch; returns the seqs of the items the directory took. Every delta queues its
/// operations sorted by phase, so a phase lower than the one before starts the next delta's
/// operations: the batch is applied in such segments, one after the other, and only inside a
/// segment do phases group and different entries go side by side. (Grouping phases across
/// deltas would, say, rename an OU queued by the second before the first has created it.)
async fn apply_batch<C: TargetClient>(
    app: &App,
    client: &C,
    batch: &[OutboxItem<C::Op>],
    blocked: &mut HashSet<String>,
    report: &mut DrainReport,
) -> anyhow::Result<Vec<i64>> {
    let (now, target) = (app.clock.now(), <C::Op as TargetOp>::TARGET);
    let mut done = Vec::with_capacity(batch.len());
    for segment in batch.chunk_by(|a, b| a.op.phase <= b.op.phase) {
        let mut ready: Vec<&OutboxItem<C::Op>> = Vec::with_capacity(segment.len());
        for item in segment {
            if blocked.contains(item.op.key.as_str()) {
                continue;
            }
            if item.next_attempt_at > now {
                blocked.insert(item.op.key.clone());
                continue;
            }
            ready.push(item);
        }
        let ops: Vec<&Queued<C::Op>> = ready.iter().map(|i| &i.op).collect();
        let results = client.apply(&ops).await;
        for (item, result) in ready.iter().zip(results) {
            match result {
                Ok(()) => done.push(item.seq),
                Err(ApplyError::Skipped) => {
                    blocked.insert(item.op.key.clone());
                }
                Err(ApplyError::Unavailable(e)) => {
                    blocked.insert(item.op.key.clone());
                    report.unavailable = Some(e);
                }
                Err(ApplyError::Refused(e)) => {
                    blocked.insert(item.op.key.clone());
                    let wait = backoff(item.attempts + 1);
                    let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    if item.attempts + 1 >= PARK_AFTER {
                        error!(%target, seq = item.seq, key = %item.op.key, "target refused an operation {PARK_AFTER} times; parked: {e}");
                    } else {
                        warn!(%target, seq = item.seq, key = %item.op.key, retry_in_s = wait.as_secs(), "target refused an operation: {e}");
                    }
                    app.store.outbox_retry(target, item.seq, &e, next, PARK_AFTER).await?;
                    if item.attempts + 1 >= PARK_AFTER {
                        park_audited(app, target, item.seq, &item.op.key, item.attempts + 1, &e).await?;
                    }
                    report.refused += 1;
                }
            }
        }
        if report.unavailable.is_some() {
            break;
        }
    }
    Ok(done)
}

/// The parking in the audit trail (the alert job tells the operators): the target, the entry,
/// the target's refusal. The operation itself is not recorded: it may carry a password.
async fn park_audited(
    app: &App,
    target: TargetId,
    seq: i64,
    entry: &str,
    attempts: u32,
    e: &str,
) -> anyhow::Result<()> {
    let event =
        AuditEvent::new(app.clock.now(), EventKind::OutboxPark, AuditOutcome::Failure, Actor::System("outbox".into()))
            .reason(e)
            .attr("target", target.as_str())
            .attr("entry", entry)
            .attr("seq", seq.to_string())
            .attr("attempts", attempts.to_string());
    app.store.append_audit(&[event]).await?;
    Ok(())
}

async fn ack(app: &App, target: TargetId, seqs: Vec<i64>) -> anyhow::Result<()> {
    Ok(app.store.outbox_ack(target, &seqs).await?)
}

/// 2, 4, 8 … seconds, at most five minutes.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempt.min(16)).min(300))
}
