//! The `orgid` binary's library: command line, wiring, sync runner, daemon and reports. Domain
//! rules live in `orgid-directory`; this crate only loads, calls, persists and prints.

pub mod api;
pub mod app;
pub mod audit;
pub mod audit_api;
pub mod audit_report;
pub mod cli;
pub mod console;
pub mod demo;
pub mod idp;
pub mod import;
pub mod ldap;
pub mod metrics;
pub mod outbox;
pub mod output;
pub mod progress;
pub mod report;
pub mod serve;
pub mod sync;
pub mod sync_parts;
pub mod telemetry;
pub mod web;
pub mod workflow;
