//! The end-to-end test binary (one binary: each extra test file is another slow link).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should stop the test

mod kit;
mod ldap_sink;
mod store;
mod store_ldap;
mod hr;
mod serve;
mod sync;
mod ldap_sync;
