//! svclab suite files: the typed model, loading, and validation with
//! `file:line:column: field.path: message` errors.
//!
//! [`load`] is the harness's entry point: it reads a suite, types it with
//! serde_yaml, checks every rule ([`validate`]) and returns a
//! [`LoadedSuite`]. Nothing here touches the kernel; the harness creates no
//! state until this has succeeded.
mod diagnose;
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
pub mod suggest;
mod timeline;
mod typing;
mod validate;
mod warnings;

use std::path::{Path, PathBuf};

pub use diagnose::{MAX_ERRORS, diagnose};
pub use error::{Diagnostic, SuiteError};
pub use expected::MAX_REPLICAS_N;
pub use index::{MAX_DEPTH, Node, NodeKind, PathIndex, Pos};
pub use model::{Dur, METRICS, Suite};
pub use read::MAX_SUITE_BYTES;
/// The suite file's JSON Schema (draft 2020-12), for editors.
pub use schema::schema;
pub use validate::{
    DEFAULT_DELAY_LIMIT, NGINX_ECHO_MODULE, POD_HEADROOM, REGRESSION_FIGURES, check,
    machine_problems, max_pods_per_node, nginx_binary, pods_per_node, unsupported_features,
    validate,
};
pub use warnings::{machine_warnings, suite_warnings, warnings};

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

/// Every error of the suite file at `path` ([`diagnose`]); a file that
/// cannot be read is its one error.
pub fn diagnose_file(path: &Path) -> Vec<SuiteError> {
    match read::read(path) {
        Ok(text) => diagnose(&text, path),
        Err(e) => vec![e],
    }
}

/// Reads, types and validates the suite at `path`: a regular file (after
/// symlinks) of at most [`MAX_SUITE_BYTES`], in UTF-8.
pub fn load(path: &Path) -> Result<LoadedSuite, SuiteError> {
    let text = read::read(path)?;
    parse(&text, path)
}

/// Suite `text` typed (not validated), and its position index.
fn typed(text: &str, path: &Path) -> Result<(Suite, PathIndex), SuiteError> {
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
    let suite: Suite =
        serde_path_to_error::deserialize(de).map_err(|e| typing::from_typing(e, &index))?;
    Ok((suite, index))
}

/// Types and validates suite `text`; `path` names it in errors and gives the
/// default suite name.
pub fn parse(text: &str, path: &Path) -> Result<LoadedSuite, SuiteError> {
    let (mut suite, index) = typed(text, path)?;
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

/// A host package set a suite needs beyond what every run needs, named as
/// `scripts/bootstrap.sh` names its profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostNeed {
    /// Debian's nginx and its echo module: `deployments[].nginx` or
    /// `clients[].proxy: nginx`.
    Nginx,
}

impl HostNeed {
    /// The `scripts/bootstrap.sh` profile that installs it.
    #[must_use]
    pub fn profile(self) -> &'static str {
        match self {
            HostNeed::Nginx => "nginx",
        }
    }
}

/// What the suite at `path` needs installed on the host, read from its
/// typed form without validating it (a suite whose own rules fail still
/// says what it needs); `./just run` asks this to install it first.
pub fn host_needs(path: &Path) -> Result<Vec<HostNeed>, SuiteError> {
    let (suite, _) = typed(&read::read(path)?, path)?;
    let nginx = suite.deployments.iter().any(|d| d.nginx.is_some())
        || suite
            .clients
            .iter()
            .any(|c| matches!(c.proxy, Some(model::ProxyKind::Nginx)));
    Ok(if nginx {
        vec![HostNeed::Nginx]
    } else {
        Vec::new()
    })
}

/// A window takes the buckets whose *start* lies in it (the report's
/// rule), so an edge inside a bucket silently takes the whole bucket: one
/// warning per such expectation, saying which buckets it covers. Run on the
/// suite as it will run (after `--time-scale`), since scaling moves edges
/// off the bucket grid (issue 30).
#[must_use]
pub fn window_edge_warnings(suite: &Suite) -> Vec<String> {
    let bucket = suite.bucket.0.as_nanos();
    if bucket == 0 {
        return Vec::new();
    }
    let duration = suite.duration.0.as_nanos();
    let secs = |ns: u128| ns as f64 / 1e9;
    // The first bucket start at or after `ns`.
    let up = |ns: u128| ns.div_ceil(bucket) * bucket;
    let mut out = Vec::new();
    for (i, e) in suite.expect.iter().enumerate() {
        let Some([from, to]) = e.window else { continue };
        let (from, to) = (from.0.as_nanos(), to.0.as_nanos());
        // The run's end closes its last bucket, whole or not.
        let off = |ns: u128| !ns.is_multiple_of(bucket) && ns != duration;
        if !off(from) && !off(to) {
            continue;
        }
        let (a, b) = (up(from), up(to).min(duration));
        out.push(format!(
            "expect[{i}].window [{}s, {}s] ({}): an edge inside a {}s bucket; buckets are counted whole, so it covers {}–{} s",
            secs(from),
            secs(to),
            e.metric,
            secs(bucket),
            secs(a),
            secs(b),
        ));
    }
    out
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

    fn suite_with_window(duration: &str, bucket: &str, window: &str) -> Suite {
        let text = format!(
            "name: w\nduration: {duration}\nbucket: {bucket}\ndeployments: [{{name: web, replicas: 1}}]\nservices: [{{name: web, cluster_ip: 198.19.0.10, port: 80, selector: web}}]\nclients: [{{name: c, service: web, load: {{mode: open, rate: 10}}}}]\nexpect: [{{metric: errors, window: {window}, max: 0}}]\n"
        );
        parse(&text, Path::new("w.yaml")).expect("valid").suite
    }

    #[test]
    fn a_window_edge_inside_a_bucket_warns_with_the_buckets_it_covers() {
        let s = suite_with_window("20s", "1s", "[0s, 13333ms]");
        let w = window_edge_warnings(&s);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("expect[0].window [0s, 13.333s]"), "{}", w[0]);
        assert!(w[0].ends_with("covers 0–14 s"), "{}", w[0]);
        let s = suite_with_window("20s", "1s", "[2500ms, 20s]");
        assert!(window_edge_warnings(&s)[0].ends_with("covers 3–20 s"));
    }

    #[test]
    fn windows_on_the_bucket_grid_or_the_runs_end_do_not_warn() {
        assert!(window_edge_warnings(&suite_with_window("20s", "1s", "[5s, 13s]")).is_empty());
        assert!(
            window_edge_warnings(&suite_with_window("20500ms", "1s", "[5s, 20500ms]")).is_empty()
        );
        assert!(window_edge_warnings(&suite_with_window("20s", "2s", "[4s, 10s]")).is_empty());
        assert_eq!(
            window_edge_warnings(&suite_with_window("20s", "2s", "[4s, 9s]")).len(),
            1
        );
    }

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
