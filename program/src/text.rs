//! Free text that callers type (reasons, notes, names): trimmed, bounded, required or not.

use crate::{ProgramError, Result};

/// Longest free-text field accepted.
pub const MAX_TEXT: usize = 2000;

/// `v` trimmed; an error naming `field` when it is required and empty, or too long.
pub fn text(field: &str, v: &str, required: bool) -> Result<String> {
    let v = v.trim();
    if required && v.is_empty() {
        return Err(ProgramError::Invalid(format!("{field} is required")));
    }
    if v.len() > MAX_TEXT {
        return Err(ProgramError::Invalid(format!("{field} is too long")));
    }
    Ok(v.to_owned())
}
