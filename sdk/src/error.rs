//! The error a plugin reports on purpose.

use std::fmt;

/// A failure the plugin reports on purpose; the host shows it to the user as a stage error.
///
/// A panic is a different thing: inside a component it becomes a trap, which the host reports
/// as a plugin crash. Prefer returning one of these with enough context to act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    /// The JSON configuration does not match the plugin's schema.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The data handed in cannot be processed.
    #[error("invalid input{}: {message}", Location { column: column.as_deref(), row: *row })]
    InvalidInput {
        /// The column concerned, if any.
        column: Option<String>,
        /// The 0-based row concerned, if any.
        row: Option<u64>,
        /// What is wrong, for a person.
        message: String,
    },
    /// Opaque state bytes (e.g. from `fit`) cannot be decoded.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The request is valid but this plugin does not support it.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A bug or unexpected condition inside the plugin.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PluginError {
    /// Invalid input not tied to a column or row.
    pub fn input(message: impl Into<String>) -> Self {
        PluginError::InvalidInput {
            column: None,
            row: None,
            message: message.into(),
        }
    }

    /// Invalid input in a whole column.
    pub fn column(column: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError::InvalidInput {
            column: Some(column.into()),
            row: None,
            message: message.into(),
        }
    }

    /// Invalid input in one cell.
    pub fn cell(column: impl Into<String>, row: usize, message: impl Into<String>) -> Self {
        PluginError::InvalidInput {
            column: Some(column.into()),
            row: Some(row as u64),
            message: message.into(),
        }
    }

    /// Invalid input in one row (no particular column).
    pub fn row(row: usize, message: impl Into<String>) -> Self {
        PluginError::InvalidInput {
            column: None,
            row: Some(row as u64),
            message: message.into(),
        }
    }

    /// Invalid configuration.
    pub fn config(message: impl Into<String>) -> Self {
        PluginError::InvalidConfig(message.into())
    }

    /// Undecodable state.
    pub fn state(message: impl Into<String>) -> Self {
        PluginError::InvalidState(message.into())
    }

    /// Unsupported request.
    pub fn unsupported(message: impl Into<String>) -> Self {
        PluginError::Unsupported(message.into())
    }

    /// A bug or unexpected condition.
    pub fn internal(message: impl Into<String>) -> Self {
        PluginError::Internal(message.into())
    }
}

/// Formats ` in column 'x' at row 3` (or the parts that are known).
struct Location<'a> {
    column: Option<&'a str>,
    row: Option<u64>,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(column) = self.column {
            write!(f, " in column '{column}'")?;
        }
        if let Some(row) = self.row {
            write!(f, " at row {row}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_message_names_column_and_row() {
        let err = PluginError::cell("age", 7, "value is NaN");
        assert_eq!(
            err.to_string(),
            "invalid input in column 'age' at row 7: value is NaN"
        );
        assert_eq!(
            PluginError::input("empty table").to_string(),
            "invalid input: empty table"
        );
    }
}
