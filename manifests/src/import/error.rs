//! What an import reports: where an object came from ([`Origin`]), a field
//! that does not map ([`Unmapped`]) and why an import fails
//! ([`ImportError`]). A leaf: every stage builds these.
use std::{fmt, path::PathBuf};

/// Where an object came from: file, 1-based document index, and for a
/// `List` item its `items[i].` prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    /// 1-based.
    pub doc: usize,
    /// `items[3].` for the fourth item of a `List`, else empty.
    pub prefix: String,
    pub kind: String,
    pub name: String,
}

impl Origin {
    /// The item of a `List` the object is, as a suffix for comments
    /// (` items[3]`); empty for a document of its own.
    #[must_use]
    pub fn item(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!(" {}", self.prefix.trim_end_matches('.'))
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.file, self.doc)?;
        if self.kind.is_empty() {
            return Ok(());
        }
        write!(f, " ({}", self.kind)?;
        if !self.name.is_empty() {
            write!(f, " {}", self.name)?;
        }
        f.write_str(")")
    }
}

/// A field of the input that the suite does not carry, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmapped {
    /// The object it belongs to.
    pub origin: Origin,
    /// Its path within the document (`spec.template.spec.affinity`); empty
    /// for the whole object.
    pub path: String,
    pub why: String,
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.origin, self.why)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.path, self.why)
        }
    }
}

/// Why an import failed. [`ImportError::Internal`] is a bug in the
/// mapping; every other variant is bad input (the CLI exits 2).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A document is not YAML (or JSON).
    #[error("{}: document {doc}: not YAML or JSON: {message}; expected `kubectl get -o yaml` or `-o json` output", file.display())]
    Syntax {
        file: PathBuf,
        doc: usize,
        message: String,
    },
    /// A field holds what it cannot hold: `origin: path: message`.
    #[error("{origin}: {}: {message}", if path.is_empty() { "(object)" } else { path })]
    Bad {
        origin: Box<Origin>,
        path: String,
        message: String,
    },
    /// A `--command` argument is malformed or names no container.
    #[error("--command {arg:?}: {message}")]
    Command { arg: String, message: String },
    /// Nothing to build a suite from.
    #[error("{0}")]
    Empty(String),
    /// The rendered suite does not validate: a bug in the import.
    #[error(
        "internal error: the imported suite does not validate ({0}); please report it with the input"
    )]
    Internal(String),
}
