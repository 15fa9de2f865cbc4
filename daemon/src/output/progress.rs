//! Progress of a long run on a terminal (a spinner with the stage); silent otherwise. A shown
//! (or `timed`) progress also records the run's phases ([`Timings`]).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::timings::{Span, Timings};

pub struct Progress(Option<ProgressBar>, Option<Timings>);

impl Progress {
    /// Shows a spinner on stderr when it is a terminal and `enabled`.
    pub fn new(enabled: bool) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self::timed();
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(Some(bar), Some(Timings::start()))
    }

    /// No spinner, no timings.
    pub fn hidden() -> Self {
        Self(None, None)
    }

    /// No spinner, with timings.
    pub fn timed() -> Self {
        Self(None, Some(Timings::start()))
    }

    /// Starts a phase of the timings (see [`Timings::span`]); nothing without timings.
    pub fn span(&self, phase: &'static str) -> Option<Span<'_>> {
        self.1.as_ref().map(|t| t.span(phase))
    }

    pub fn timings(&self) -> Option<&Timings> {
        self.1.as_ref()
    }

    pub fn stage(&self, what: &str) {
        tracing::debug!(stage = what, "progress");
        if let Some(bar) = &self.0 {
            bar.set_message(what.to_string());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
