//! Logging: tracing to stderr, text or JSON; `RUST_LOG` wins over `[log] level`. The level can be
//! changed while running (a reload sets `[log] level` again, unless `RUST_LOG` is set). Colours
//! only on a terminal, and never with `NO_COLOR` set (no escape codes in a file or a pipe).

use std::sync::OnceLock;

use orgid_config::LogFormat;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// The handle that swaps the filter of the subscriber this process installed (none in tests that
/// installed their own first).
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

pub fn init(format: LogFormat, level: &str, colour: bool) {
    let from_env = EnvFilter::try_from_default_env().ok();
    let (filter, handle) = reload::Layer::new(from_env.unwrap_or_else(|| EnvFilter::new(level)));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colour);
    let fmt = match format {
        LogFormat::Json => fmt.json().boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    // A second init (tests) is harmless: the first subscriber stays.
    if tracing_subscriber::registry().with(filter).with(fmt).try_init().is_ok() {
        let _ = FILTER.set(handle);
    }
}

/// Whether log lines on stderr may be coloured: on a terminal, unless `NO_COLOR` is set to
/// anything but the empty string (<https://no-color.org>).
pub fn colour(no_color: Option<std::ffi::OsString>) -> bool {
    use std::io::IsTerminal;
    no_color.is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Sets `[log] level` anew; `RUST_LOG`, when set, stays in force.
pub fn set_level(level: &str) {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing::warn!("log.level changed, but RUST_LOG is set and stays in force");
        return;
    }
    if let Some(h) = FILTER.get()
        && let Err(e) = h.reload(EnvFilter::new(level))
    {
        tracing::error!("log.level could not be changed: {e}");
    }
}
