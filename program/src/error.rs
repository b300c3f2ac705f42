//! What can go wrong when a rule is applied. Kinds, not transports: the HTTP layer maps each
//! kind to a status in one place (`web/src/error.rs`), the CLI prints the message.

/// A refused or failed program operation.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// The caller's input breaks a rule (missing reason, range too long, unknown role).
    #[error("{0}")]
    Invalid(String),
    /// Denied by the policy; carries the rule for the audit log (not shown to callers).
    #[error("forbidden")]
    Forbidden { rule: &'static str },
    #[error("not found")]
    NotFound,
    /// Not found, with a message that helps the caller (e.g. nothing recorded in a range).
    #[error("{0}")]
    NotFoundMsg(String),
    /// The object's state does not allow it (name taken, request already decided).
    #[error("{0}")]
    Conflict(String),
    /// A per-account budget is spent; the caller may retry later.
    #[error("{0}")]
    TooManyRequests(String),
    /// Over a size or count limit; the message says which and how large.
    #[error("{0}")]
    TooLarge(String),
    /// Shared space is full.
    #[error("{0}")]
    InsufficientStorage(String),
    /// A credential that is not an account's (a submission link) does not open anything; the
    /// message is the same whatever was wrong with it.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Storage(#[from] vms_storage::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = ProgramError> = std::result::Result<T, E>;
