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
    /// The file is missing or unreadable.
    #[error("{}: cannot read suite file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The path (after following symlinks) is not a regular file: a FIFO,
    /// a device, a directory or a socket.
    #[error("{}: cannot read suite file: expected a regular file, found {found}", path.display())]
    NotAFile { path: PathBuf, found: &'static str },
    /// The file holds more bytes than any suite needs.
    #[error(
        "{}: cannot read suite file: expected at most {limit} bytes (a suite is a few KB), the file is larger",
        path.display()
    )]
    TooLarge { path: PathBuf, limit: u64 },
    /// The text is not well-formed YAML: not UTF-8, a control character,
    /// a syntax error, or nesting deeper than the loader allows.
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

    /// The located problem, for every variant but the file-level ones
    /// ([`SuiteError::Read`], [`SuiteError::NotAFile`],
    /// [`SuiteError::TooLarge`]).
    #[must_use]
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            SuiteError::Read { .. } | SuiteError::NotAFile { .. } | SuiteError::TooLarge { .. } => {
                None
            }
            SuiteError::Syntax(d) | SuiteError::Type(d) | SuiteError::Invalid(d) => Some(d),
        }
    }
}
