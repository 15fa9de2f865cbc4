//! The outbox worker: applies queued directory operations in queue order, each entry's operations
//! one after the other, and acknowledges what the directory took. The directory is the slow part,
//! so it is kept busy: the next batch is read and the last one acknowledged while the directory
//! applies the current one, and a run that has just queued its operations hands them over in
//! memory ([`Fresh`]) instead of having them read back.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orgid_connectors::ldap::{LdapSink, SinkError};
use orgid_directory::RunId;
use orgid_directory::dit::QueuedOp;
use orgid_directory::store::{DirectoryStore, OutboxItem};
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

/// Operations a run has just committed to the outbox, with their seqs: the same items the store
/// would return, without reading and decoding them again.
#[derive(Debug)]
pub struct Fresh {
    run: RunId,
    queued_at: DateTime<Utc>,
    items: std::iter::Zip<std::vec::IntoIter<i64>, std::vec::IntoIter<QueuedOp>>,
    first: Option<i64>,
    /// The last seq handed on.
    last: i64,
    /// Later parts of the same run as they commit (see `sync_parts`), in queue order.
    more: Option<UnboundedReceiver<(Vec<i64>, Vec<QueuedOp>)>>,
}

impl Fresh {
    /// `seqs` as `finish_run` returned them for `ops`; `None` when they do not pair up.
    pub fn new(run: RunId, queued_at: DateTime<Utc>, seqs: Vec<i64>, ops: Vec<QueuedOp>) -> Option<Fresh> {
        if seqs.len() != ops.len() || seqs.is_empty() || seqs.windows(2).any(|w| w[0] >= w[1]) {
            return None;
        }
        let first = seqs.first().copied();
        let last = seqs.last().copied().unwrap_or(i64::MIN);
        Some(Fresh { run, queued_at, items: seqs.into_iter().zip(ops), first, last, more: None })
    }

    /// These operations, then those of the parts that `more` delivers, until it closes.
    pub fn then(self, more: UnboundedReceiver<(Vec<i64>, Vec<QueuedOp>)>) -> Fresh {
        Fresh { more: Some(more), ..self }
    }

    /// Whether later parts may still come.
    fn streaming(&self) -> bool {
        self.more.is_some()
    }

    /// The next batch; empty when everything handed over has been. Waits for the next part while
    /// one may come. A part whose seqs do not follow on ends the handing over: the caller reads
    /// the store from there on.
    async fn next_batch(&mut self) -> Vec<OutboxItem> {
        let mut batch: Vec<OutboxItem> = Vec::new();
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

/// Applies the outbox until every item has been tried once, or the server goes away. Items whose
/// retry is not due yet, and every later item of their entry, wait for a later drain. `fresh`
/// is used only if its items are still the head of the queue (nothing older waits, nobody else
/// took them meanwhile); otherwise everything is read from the store.
pub async fn drain(app: &App, sink: &LdapSink, fresh: Option<Fresh>) -> anyhow::Result<DrainReport> {
    let mut fresh = match fresh {
        Some(f) => {
            let head = app.store.outbox_batch(1).await?;
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
        None => app.store.outbox_batch_after(i64::MIN, BATCH as u32).await?,
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
                    if b.is_empty() { app.store.outbox_batch_after(last, BATCH as u32).await } else { Ok(b) }
                }
                None => app.store.outbox_batch_after(last, BATCH as u32).await,
            }
        };
        let work = apply_batch(app, sink, &batch, &mut blocked, &mut report);
        let (done, next, acked) = tokio::join!(work, next, ack(app, acking));
        acked?;
        let done = done?;
        report.applied += done.len() as u64;
        acks.extend(done);
        if report.unavailable.is_some() {
            break;
        }
        batch = next?;
    }
    ack(app, acks).await?;
    if report.applied > 0 || report.refused > 0 {
        info!(applied = report.applied, refused = report.refused, "directory updated");
    }
    Ok(report)
}

/// Applies a batch; returns the seqs of the items the directory took. Every delta queues its
/// operations sorted by phase, so a phase lower than the one before starts the next delta's
/// operations: the batch is applied in such segments, one after the other, and only inside a
/// segment do phases group and different entries go side by side. (Grouping phases across
/// deltas would, say, rename an OU queued by the second before the first has created it.)
async fn apply_batch(
    app: &App,
    sink: &LdapSink,
    batch: &[OutboxItem],
    blocked: &mut HashSet<String>,
    report: &mut DrainReport,
) -> anyhow::Result<Vec<i64>> {
    let now = app.clock.now();
    let mut done = Vec::with_capacity(batch.len());
    for segment in batch.chunk_by(|a, b| a.op.phase <= b.op.phase) {
        let mut ready: Vec<&OutboxItem> = Vec::with_capacity(segment.len());
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
        let ops: Vec<&QueuedOp> = ready.iter().map(|i| &i.op).collect();
        let results = sink.apply_refs(&ops).await;
        for (item, result) in ready.iter().zip(results) {
            match result {
                Ok(()) => done.push(item.seq),
                Err(SinkError::Skipped) => {
                    blocked.insert(item.op.key.clone());
                }
                Err(SinkError::Unavailable(e)) => {
                    blocked.insert(item.op.key.clone());
                    report.unavailable = Some(e);
                }
                Err(e) => {
                    blocked.insert(item.op.key.clone());
                    let wait = backoff(item.attempts + 1);
                    let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    if item.attempts + 1 >= PARK_AFTER {
                        error!(seq = item.seq, key = %item.op.key, "directory refused an operation {PARK_AFTER} times; parked: {e}");
                    } else {
                        warn!(seq = item.seq, key = %item.op.key, retry_in_s = wait.as_secs(), "directory refused an operation: {e}");
                    }
                    app.store.outbox_retry(item.seq, &e.to_string(), next, PARK_AFTER).await?;
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

async fn ack(app: &App, seqs: Vec<i64>) -> anyhow::Result<()> {
    Ok(app.store.outbox_ack(&seqs).await?)
}

/// 2, 4, 8 … seconds, at most five minutes.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempt.min(16)).min(300))
}

/// Connects and drains (see [`drain`]); a server that cannot be reached leaves the outbox waiting.
/// `connected` is a connection attempt already made (a sync connects while it writes the store).
pub async fn push_with(
    app: &App,
    connected: Option<Result<LdapSink, SinkError>>,
    fresh: Option<Fresh>,
) -> anyhow::Result<DrainReport> {
    let Some(cfg) = &app.config.ldap else { return Ok(DrainReport::default()) };
    let connected = match connected {
        Some(c) => c,
        None => {
            if fresh.is_none() && app.store.outbox_stats(app.clock.now()).await?.due == 0 {
                return Ok(DrainReport::default());
            }
            LdapSink::connect(cfg).await
        }
    };
    let sink = match connected {
        Ok(s) => s,
        Err(e) => {
            warn!("directory not reachable, changes wait in the outbox: {e}");
            return Ok(DrainReport { unavailable: Some(e.to_string()), ..DrainReport::default() });
        }
    };
    let report = drain(app, &sink, fresh).await;
    sink.unbind().await;
    report
}
