//! `SuiteError`: every way a suite file can be rejected, each naming the
//! file, line:column, field path and what was expected.
//!
//! A leaf: the readers that find problems (`index`, `typing`, `validate`)
//! build these; nothing here depends on them.
use std::{fmt, io, path::PathBuf};

/// A located problem in a suite file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    /// Field path like `deployments[0].replicas`; empty for the document.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = if self.field.is_empty() {
            "(document)"
        } else {
            &self.field
        };
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            field,
            self.message
        )
    }
}

/// Why a suite could not be loaded. Every variant exits the harness with 2.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The file is missing or unreadable (or not UTF-8).
    #[error("{}: cannot read suite file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The text is not well-formed YAML.
    #[error("{0}")]
    Syntax(Diagnostic),
    /// A value has the wrong type or shape, or a key is unknown or missing.
    #[error("{0}")]
    Type(Diagnostic),
    /// The suite is well typed but breaks a rule (range, reference, overlap).
    #[error("{0}")]
    Invalid(Diagnostic),
}

impl SuiteError {
    /// Process exit code for a bad suite: 2 (usage error), whatever the cause.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        2
    }

    /// The located problem, for every variant but [`SuiteError::Read`].
    #[must_use]
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            SuiteError::Read { .. } => None,
            SuiteError::Syntax(d) | SuiteError::Type(d) | SuiteError::Invalid(d) => Some(d),
        }
    }
}
