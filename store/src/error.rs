//! How sqlx errors become `StoreError`s. Policy: messages carry what went wrong and which
//! constraint, never the connection URL, a password or a row's values; unique violations are
//! `Conflict` (someone else got there first), everything else is `Backend`.

use orgid_directory::StoreError;

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("already exists ({})", d.constraint().unwrap_or("unique constraint")))
        }
        sqlx::Error::RowNotFound => StoreError::NotFound("row".into()),
        // Configuration errors can quote the URL they failed to parse.
        sqlx::Error::Configuration(_) => StoreError::Backend("invalid database configuration".into()),
        _ => StoreError::Backend(e.to_string()),
    }
}

pub(crate) fn migrate(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Backend(format!("migration failed: {e}"))
}

/// A stored value that does not decode: a bug or a hand-edited database.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} is invalid: {detail}"))
}

pub(crate) fn json(what: &str, e: serde_json::Error) -> StoreError {
    corrupt(what, e)
}
