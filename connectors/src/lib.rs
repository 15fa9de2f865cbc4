//! orgid connectors: sources that yield validated records, and (later) the LDAP sink.
//!
//! A source turns a file from HR into domain records (`orgid_directory::PersonRecord`,
//! `Company`) plus the rows it rejected; nothing here writes anywhere.

pub mod source;
