//! svclab suite files: the typed model, loading, and validation with
//! `file:line:column: field.path: message` errors.
//!
//! [`load`] is the harness's entry point: it reads a suite, types it with
//! serde_yaml, checks every rule ([`validate`]) and returns a
//! [`LoadedSuite`]. Nothing here touches the kernel; the harness creates no
//! state until this has succeeded.
mod duration;
pub mod engines;
mod error;
mod expected;
mod field_path;
mod index;
pub mod model;
mod position;
mod read;
mod schema;
mod timeline;
mod typing;
mod validate;

use std::path::{Path, PathBuf};

pub use error::{Diagnostic, SuiteError};
pub use expected::MAX_REPLICAS_N;
pub use index::{MAX_DEPTH, Node, NodeKind, PathIndex, Pos};
pub use model::{Dur, METRICS, Suite};
pub use read::MAX_SUITE_BYTES;
/// The suite file's JSON Schema (draft 2020-12), for editors.
pub use schema::schema;
pub use validate::{
    NGINX_ECHO_MODULE, POD_HEADROOM, REGRESSION_FIGURES, check, max_pods_per_node, nginx_binary,
    pods_per_node, validate,
};

/// A suite read from a file and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedSuite {
    /// The typed suite; `name` is the file stem when the file gives none.
    pub suite: Suite,
    /// The path it was read from, as given.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// The leading `#` comment block (what the suite shows, which verdict
    /// to expect), `# ` stripped, lines joined with `\n`.
    pub header: String,
}

/// Reads, types and validates the suite at `path`: a regular file (after
/// symlinks) of at most [`MAX_SUITE_BYTES`], in UTF-8.
pub fn load(path: &Path) -> Result<LoadedSuite, SuiteError> {
    let text = read::read(path)?;
    parse(&text, path)
}

/// Types and validates suite `text`; `path` names it in errors and gives the
/// default suite name.
pub fn parse(text: &str, path: &Path) -> Result<LoadedSuite, SuiteError> {
    // Characters libyaml refuses, at their line:column (libyaml gives only
    // a byte offset).
    read::check_chars(text, path)?;
    // The index reads the text next: it reports syntax errors with a field
    // path, refuses what serde_yaml should not read (deep nesting, tags),
    // and the typing errors below need its positions.
    let index = PathIndex::read(text, path).map_err(|e| match e {
        index::BuildError::Yaml(d) => typing::prefer_libyaml(SuiteError::Syntax(d), text),
        index::BuildError::Refused(e) => e,
    })?;
    let de = serde_yaml::Deserializer::from_str(text);
    let mut suite: Suite =
        serde_path_to_error::deserialize(de).map_err(|e| typing::from_typing(e, &index))?;
    if suite.name.is_empty() {
        suite.name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    validate(&suite, &index)?;
    Ok(LoadedSuite {
        suite,
        path: path.to_owned(),
        text: text.to_owned(),
        header: header(text),
    })
}

/// The leading comment block: consecutive `#` lines at the top of the file,
/// less a first `# yaml-language-server:` line (the editor's schema
/// modeline says nothing about the suite).
#[must_use]
pub fn header(text: &str) -> String {
    let mut lines = text.lines().peekable();
    lines.next_if(|l| l.starts_with(SCHEMA_MODELINE));
    lines
        .map_while(|l| l.trim_end_matches('\r').strip_prefix('#'))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How yaml-language-server's modeline (`# yaml-language-server: $schema=…`)
/// begins.
const SCHEMA_MODELINE: &str = "# yaml-language-server:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_skips_the_schema_modeline() {
        let plain = "# What it shows.\n# Expected verdict: PASS.\nname: x\n";
        let with = format!("# yaml-language-server: $schema=./svclab.schema.json\n{plain}");
        assert_eq!(header(plain), "What it shows.\nExpected verdict: PASS.");
        assert_eq!(header(&with), header(plain));
        // Only as the first line: further down it is part of the block.
        let later = "# a\n# yaml-language-server: x\n";
        assert_eq!(header(later), "a\nyaml-language-server: x");
    }
}
