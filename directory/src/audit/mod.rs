//! The audit trail: every authentication and every change to accounts as a record that a security
//! reviewer can query, export and prove untouched. This module owns the event model, the text
//! rules, the hash chain and its verification, signed checkpoints, the query types and the
//! review report; all pure. The store appends records in the transaction of the change they
//! record (`store::AuditStore`).

pub mod alert;
pub mod chain;
pub mod checkpoint;
pub mod event;
pub mod issued;
pub mod lifecycle;
pub mod query;
pub mod report;
pub mod text;

pub use chain::{AuditRecord, ChainHead, ChainProblem, ChainReport, ChainVerifier, Hash, chain, record_hash, verify};
pub use checkpoint::{Checkpoint, CheckpointError, CheckpointSigner, PublicKey, trusted_checkpoints};
pub use event::{
    Actor, ActorKind, AuditEvent, AuditFields, AuditOutcome, Details, EventKind, LoginFailure, RequestContext,
};
pub use issued::merge_issued;
pub use query::{AuditFilter, AuditPage, AuditScope, Cursor, Order, PageRequest};
