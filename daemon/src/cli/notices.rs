//! `orgid notices run`: one sweep of the personal notices (what `serve` does every
//! `notices.interval_secs`): queue what is due, send what waits.

use std::io::Write;

use clap::Subcommand;

use crate::app::App;
use crate::services::notices;

#[derive(Debug, Subcommand)]
pub enum NoticesCommand {
    /// Queue the notices due now (passwords 14, 7 and 1 days from expiry) and send what waits.
    Run,
}

pub async fn run(app: &App, command: NoticesCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    match command {
        NoticesCommand::Run => {
            if !app.config.notices.enabled() {
                writeln!(out, "notices are off: no channel in notices.channels")?;
                return Ok(0);
            }
            let s = notices::sweep(app).await?;
            writeln!(out, "notices: {} queued, {} sent, {} failed (retried later)", s.queued, s.sent, s.failed)?;
            Ok(if s.failed > 0 { 1 } else { 0 })
        }
    }
}
