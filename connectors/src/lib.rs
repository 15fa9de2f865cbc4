//! orgid connectors: sources that yield validated records, and the LDAP sink that writes them.
//!
//! A source turns a file from HR into domain records (`orgid_directory::PersonRecord`,
//! `Company`) plus the rows it rejected; sources write nowhere. `ldap::LdapSink` applies the
//! directory operations the store's outbox holds.

pub mod ldap;
pub mod notify;
pub mod source;
pub mod wecom;
