//! The end-to-end test binary (one binary: each extra test file is another slow link).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should stop the test

mod hr;
/// Store tests: each body `async fn x(e: Env)` runs as `sqlite::x` and `postgres::x`, where the
/// calling module defines `Env::new(Backend)`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Env::new(orgid_tests::Backend::Sqlite).await).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Env::new(orgid_tests::Backend::Postgres).await).await;
            })*
        }
    };
}

/// Runs each named test on SQLite and on PostgreSQL with a workflow `Env` (see `workflow.rs`).
macro_rules! both_workflow {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Env::new(orgid_tests::Backend::Sqlite, super::APPLY).await).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Env::new(orgid_tests::Backend::Postgres, super::APPLY).await).await;
            })*
        }
    };
}

mod alerts;
mod api;
mod audit;
mod backup;
mod browser;
mod cas;
mod cas_client;
mod console;
mod console_walk;
mod delegation;
mod demo;
mod front_channel;
mod hr_files;
mod kit;
mod ldap_export;
mod ldap_outbox;
mod ldap_sink;
mod ldap_sync;
mod lease;
mod metrics;
mod notices;
mod oidc;
mod oidc_attack;
mod oidc_audit;
mod oidc_tokens;
mod output;
mod packaging;
mod reload;
mod saml;
mod saml_logout;
mod serve;
mod single_logout;
mod store;
mod store_cas;
mod store_delegation;
mod store_idp;
mod store_idp_guards;
mod store_ldap;
mod store_notices;
mod store_parts;
mod store_tokens;
mod sync;
mod token_exchange;
mod totp_qr;
mod trust;
mod wecom;
mod wecom_login;
mod workflow;
