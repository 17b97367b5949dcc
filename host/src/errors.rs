//! Showing an error with its causes on one line ([`error_chain`]), for records and reports that
//! hold a single message (result entries, plugin service answers, the report's failure lines),
//! and names listed in a message the way every message spells them ([`quoted`]).
//!
//! It owns no error type: each module keeps its own `thiserror` errors.

/// Names in backticks, comma-separated: `` `B`, `C` ``.
pub fn quoted<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|name| format!("`{}`", name.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An error and its causes on one line, for records that hold a single message.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
