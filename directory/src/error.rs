//! Errors of the pure domain. Storage and I/O errors are converted at the edges, never wrapped here.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    #[error("company list: {0}")]
    CompanyList(String),
    #[error("the person-key secret does not match the one this store was created with; person keys would not link")]
    PersonKeySecretMismatch,
}
