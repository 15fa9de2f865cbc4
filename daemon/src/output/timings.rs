//! Where a run spent its time and memory: named phases (spans, which may overlap: a first load in
//! parts writes the store while the directory applies), each with its wall time and the peak
//! resident memory of the process while it lasted. A thread samples the resident set every few
//! milliseconds (`/proc/self/statm`), so a phase's peak is seen without resetting the kernel's
//! high-water mark (which `time -v` and the process's own VmHWM report).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the resident set is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// One phase as reported (`--timings`, the run report's `timings`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PhaseTiming {
    pub phase: &'static str,
    /// Since the timings started.
    pub start_secs: f64,
    pub secs: f64,
    /// The largest resident set sampled while the phase lasted.
    pub peak_rss_mb: f64,
}

/// The whole run's figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimingReport {
    pub total_secs: f64,
    /// The process's high-water mark so far (VmHWM).
    pub peak_rss_mb: f64,
    pub phases: Vec<PhaseTiming>,
}

struct Open {
    phase: &'static str,
    from: Duration,
    to: Option<Duration>,
    peak_kb: u64,
}

struct Shared {
    start: Instant,
    spans: Mutex<Vec<Open>>,
    stop: AtomicBool,
}

impl Shared {
    fn spans(&self) -> MutexGuard<'_, Vec<Open>> {
        self.spans.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Raises every open phase's peak to the current resident set.
    fn sample(&self) {
        let Some(kb) = rss_kb() else { return };
        for s in self.spans().iter_mut().filter(|s| s.to.is_none()) {
            s.peak_kb = s.peak_kb.max(kb);
        }
    }
}

/// The phases of one run; sampling stops when it is dropped.
pub struct Timings {
    shared: Arc<Shared>,
    sampler: Option<JoinHandle<()>>,
}

impl Timings {
    pub fn start() -> Timings {
        let shared =
            Arc::new(Shared { start: Instant::now(), spans: Mutex::new(Vec::new()), stop: AtomicBool::new(false) });
        let s = shared.clone();
        let sampler = std::thread::Builder::new()
            .name("orgid-timings".into())
            .spawn(move || {
                while !s.stop.load(Ordering::Relaxed) {
                    s.sample();
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
            .ok();
        Timings { shared, sampler }
    }

    /// Starts `phase`; it ends when the returned span is dropped (or [`Span::end`]).
    pub fn span(&self, phase: &'static str) -> Span<'_> {
        let from = self.shared.start.elapsed();
        let peak_kb = rss_kb().unwrap_or(0);
        let mut spans = self.shared.spans();
        spans.push(Open { phase, from, to: None, peak_kb });
        Span { timings: self, index: spans.len() - 1 }
    }

    pub fn report(&self) -> TimingReport {
        self.shared.sample();
        let now = self.shared.start.elapsed();
        let phases = self
            .shared
            .spans()
            .iter()
            .map(|s| PhaseTiming {
                phase: s.phase,
                start_secs: s.from.as_secs_f64(),
                secs: (s.to.unwrap_or(now) - s.from).as_secs_f64(),
                peak_rss_mb: mb(s.peak_kb),
            })
            .collect();
        TimingReport { total_secs: now.as_secs_f64(), peak_rss_mb: mb(hwm_kb().unwrap_or(0)), phases }
    }
}

impl Drop for Timings {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.sampler.take() {
            let _ = t.join();
        }
    }
}

/// A phase in progress.
pub struct Span<'t> {
    timings: &'t Timings,
    index: usize,
}

impl Span<'_> {
    pub fn end(self) {}
}

impl Drop for Span<'_> {
    fn drop(&mut self) {
        let kb = rss_kb();
        let at = self.timings.shared.start.elapsed();
        if let Some(s) = self.timings.shared.spans().get_mut(self.index) {
            s.to = Some(at);
            s.peak_kb = s.peak_kb.max(kb.unwrap_or(0));
        }
    }
}

fn mb(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

/// The resident set now, in KiB (Linux; `None` elsewhere).
fn rss_kb() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

/// The process's peak resident set (VmHWM), in KiB.
fn hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The report as a few lines for a terminal.
pub fn write_table(report: &TimingReport, out: &mut (dyn std::io::Write + Send)) -> std::io::Result<()> {
    writeln!(out, "timings: {:.2} s, peak RSS {:.0} MB", report.total_secs, report.peak_rss_mb)?;
    for p in &report.phases {
        writeln!(
            out,
            "  {:<10} {:>8.2} s  (from {:>7.2} s)  peak RSS {:>7.0} MB",
            p.phase, p.secs, p.start_secs, p.peak_rss_mb
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_keep_their_order_times_and_a_peak_at_least_the_resident_set() {
        let t = Timings::start();
        {
            let _a = t.span("read");
            std::thread::sleep(Duration::from_millis(20));
            let b = t.span("plan");
            std::thread::sleep(Duration::from_millis(10));
            b.end();
        }
        let r = t.report();
        let names: Vec<&str> = r.phases.iter().map(|p| p.phase).collect();
        assert_eq!(names, ["read", "plan"]);
        assert!(r.phases[0].secs >= 0.03 && r.phases[1].secs >= 0.01, "{r:?}");
        assert!(r.phases[1].start_secs >= 0.02, "{r:?}");
        assert!(r.phases.iter().all(|p| p.peak_rss_mb > 0.0 && p.peak_rss_mb <= r.peak_rss_mb + 0.1), "{r:?}");
    }
}
