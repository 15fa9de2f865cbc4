//! The end-to-end test binary (one binary: each extra test file is another slow link).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should stop the test

mod hr;
mod kit;
mod ldap_sink;
mod ldap_sync;
mod serve;
mod store;
mod store_ldap;
mod sync;
