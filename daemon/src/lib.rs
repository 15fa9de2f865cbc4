//! The `orgid` binary's library, by role. Dependencies point one way:
//! `cli`, `http` and `jobs` → `services` → the library crates; `app` (the wiring), `output`
//! (formats and progress) and `telemetry` are leaves every role may use. Domain rules live in
//! `orgid-directory`; this crate only loads, calls, persists and prints.

pub mod app;
pub mod cli;
pub mod http;
pub mod jobs;
pub mod output;
pub mod services;
pub mod telemetry;

#[cfg(test)]
mod layering;
