//! Nightly history: what became of each suite tonight ([`SuiteOutcome`]),
//! the key figures of a run ([`key_figures`], [`KEY_FIGURES`]) and the one
//! small [`NightEntry`] file per suite and night kept under
//! `history/<suite>/` ([`append_history`], [`load_history`]), with the
//! serde form of its figures (non-finite values as strings).
use std::{
    collections::BTreeMap,
    fs,
    io::{self, Write as _},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    derive::{metric, summarize},
    fmt::cmp_nights,
    record::{RunRecord, Verdict},
    write::ReportError,
};

/// Folder under the reports folder that keeps history, by convention (the
/// caller passes the path).
pub const HISTORY_DIR: &str = "history";

/// Which way a key figure gets worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worse {
    /// More is worse (imbalance, latency, errors, duration).
    Higher,
    /// Less is worse (fairness, backends alive).
    Lower,
    /// Not judged: its meaning depends on the suite (`new_backend_share`
    /// should rise in one suite and stay at zero in another; `restarts` are
    /// the point of a probe-cascade suite and a failure elsewhere, where
    /// the suite's own expectations catch them).
    NotJudged,
}

/// Every key figure [`key_figures`] can produce, in the order the index
/// shows them, with its direction. The judged names are the ones a suite's
/// `regression:` thresholds may name (`svclab_suite`'s `REGRESSION_FIGURES`).
pub const KEY_FIGURES: &[(&str, Worse)] = &[
    ("duration_s", Worse::Higher),
    ("imbalance", Worse::Higher),
    ("new_backend_share", Worse::NotJudged),
    ("jain", Worse::Lower),
    ("p99_ms", Worse::Higher),
    ("errors", Worse::Higher),
    ("error_rate", Worse::Higher),
    ("min_ready", Worse::Lower),
    ("restarts", Worse::NotJudged),
];

/// What became of one suite file tonight.
#[derive(Clone, Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per suite file per night; the runner hands over its record by value"
)]
pub enum SuiteOutcome {
    /// The suite ran (to any verdict, including Error and Interrupted) and
    /// saved a record. `report_dir` is its report folder, relative to the
    /// reports folder (`<suite>/<run-id>`); the index links to
    /// `report_dir/index.html`. When it is absolute (the caller could not
    /// make it relative) the link falls back to `<suite>/<run-id>/index.html`.
    Ran {
        record: RunRecord,
        report_dir: PathBuf,
    },
    /// The suite never produced a record: its file did not load, or the run
    /// failed before saving one. `path` is the suite file.
    Broken {
        suite: String,
        path: String,
        error: String,
    },
}

impl SuiteOutcome {
    /// The suite's name (the record's, or what the caller named a broken one).
    pub fn suite(&self) -> &str {
        match self {
            SuiteOutcome::Ran { record, .. } => &record.suite.name,
            SuiteOutcome::Broken { suite, .. } => suite,
        }
    }
}

/// One suite's night, as kept in history: the verdict and the key figures,
/// not the whole run record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NightEntry {
    pub suite: String,
    /// RFC 3339 start of the run ([`RunRecord::started_at`]).
    pub night: String,
    pub verdict: Verdict,
    /// [`key_figures`] of that run. Non-finite values (an imbalance of ∞
    /// when a backend starved) are kept as the strings `"inf"`, `"-inf"`,
    /// `"nan"`, as in `run.json`.
    #[serde(with = "figures_serde")]
    pub figures: BTreeMap<String, f64>,
    /// The run's id, so a night in a sparkline can be traced to its report
    /// (`<suite>/<run_id>/`). Empty in entries that lack it.
    #[serde(default)]
    pub run_id: String,
}

impl NightEntry {
    /// The entry that history keeps for `record`.
    pub fn from_record(record: &RunRecord) -> NightEntry {
        NightEntry {
            suite: record.suite.name.clone(),
            night: record.started_at.clone(),
            verdict: record.verdict,
            figures: key_figures(record),
            run_id: record.run_id.clone(),
        }
    }
}

/// History as read from disk, with what had to be skipped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Sorted by suite, then night (oldest first).
    pub entries: Vec<NightEntry>,
    /// One line per history file that could not be read or parsed (it is
    /// skipped, never fatal: one bad night must not hide the others).
    pub warnings: Vec<String>,
}

/// The key figures of a run, by name (see [`KEY_FIGURES`]); a figure that
/// is undefined for the run is absent.
///
/// - `duration_s`: seconds the run actually ran ([`RunRecord::elapsed_s`]).
/// - `imbalance`: max / min responses over the backends alive through the
///   window from the last scale-up to the end (or the whole run without a
///   scale-up), as in the report's summary; ∞ when one of them served
///   nothing.
/// - `new_backend_share`: share of responses from the pods added by the
///   last scale-up, from it to the end; only when there is a scale-up.
/// - `jain`: Jain's fairness index over the same backends and window as
///   `imbalance` (1 is perfectly even, 1/n one backend taking everything).
/// - `p99_ms`: the worst per-bucket p99 latency of the run.
/// - `errors`: client errors of every kind over the run.
/// - `error_rate`: errors / requests sent over the run.
/// - `min_ready`: the fewest ready pods in any time bucket, the
///   `min_ready` metric over the whole run (Σ `ready_min` over
///   deployments, so a pod that is not ready for part of a bucket does not
///   count for it). Records without deployment telemetry (schema 1) fall
///   back to the fewest backends alive through any bucket (from
///   `backends[].created_s/removed_s`; a kill replaced within one bucket
///   still shows as a dip). Absent when the run has no buckets.
/// - `restarts`: container restarts of every pod over the whole run (0 for
///   records without pod telemetry).
pub fn key_figures(record: &RunRecord) -> BTreeMap<String, f64> {
    let s = summarize(record);
    let whole = record.whole_s();
    let min_ready = metric(record, "min_ready", whole).or_else(|| {
        record
            .buckets
            .iter()
            .map(|b| {
                record
                    .backends
                    .iter()
                    .filter(|x| x.alive_through([b.t_s, b.t_s + record.bucket_s]))
                    .count()
            })
            .min()
            .map(|n| n as f64)
    });
    let figures = [
        ("duration_s", Some(record.elapsed_s)),
        ("imbalance", s.max_min_ratio),
        ("new_backend_share", s.new_backend_share),
        ("jain", s.jain_index),
        ("p99_ms", metric(record, "p99_ms", whole)),
        ("errors", Some(s.errors as f64)),
        ("error_rate", s.error_rate),
        ("min_ready", min_ready),
        ("restarts", Some(s.restarts as f64)),
    ];
    figures
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

/// Reads every `<history_dir>/<suite>/<night>.json`. A missing folder is
/// empty history. Corrupt or unreadable files are skipped with a warning
/// on stderr; use [`load_history_checked`] to get the warnings instead.
/// Errors only when the folder itself cannot be listed.
pub fn load_history(history_dir: &Path) -> Result<Vec<NightEntry>, ReportError> {
    let history = load_history_checked(history_dir)?;
    for w in &history.warnings {
        let _ = writeln!(io::stderr(), "warning: {w}");
    }
    Ok(history.entries)
}

/// [`load_history`], returning the skipped files' warnings with the entries.
pub fn load_history_checked(history_dir: &Path) -> Result<History, ReportError> {
    let mut history = History::default();
    let suites = match fs::read_dir(history_dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(history),
        Err(source) => {
            return Err(ReportError::Io {
                op: "listing history folder",
                path: history_dir.to_owned(),
                source,
            });
        }
    };
    let mut files = Vec::new();
    for suite in suites {
        let suite = suite.map_err(|source| ReportError::Io {
            op: "listing history folder",
            path: history_dir.to_owned(),
            source,
        })?;
        let dir = suite.path();
        if !dir.is_dir() {
            continue;
        }
        match fs::read_dir(&dir) {
            Ok(nights) => files.extend(nights.filter_map(|n| n.ok()).map(|n| n.path())),
            Err(e) => history
                .warnings
                .push(format!("skipping history folder {}: {e}", dir.display())),
        }
    }
    files.retain(|p| {
        p.extension().is_some_and(|x| x == "json")
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    });
    files.sort();
    for path in files {
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                history
                    .warnings
                    .push(format!("skipping history file {}: {e}", path.display()));
                continue;
            }
        };
        match serde_json::from_str::<NightEntry>(&text) {
            Ok(entry) => history.entries.push(entry),
            // serde_json's message ends with the line and column.
            Err(e) => history.warnings.push(format!(
                "skipping corrupt history file {}: {e}",
                path.display()
            )),
        }
    }
    history
        .entries
        .sort_by(|a, b| a.suite.cmp(&b.suite).then(cmp_nights(&a.night, &b.night)));
    Ok(history)
}

/// Writes one history file per suite that ran (`Broken` outcomes have no
/// figures and are not recorded), each atomically, creating folders as
/// needed. Writing the same night again replaces its file.
pub fn append_history(history_dir: &Path, outcomes: &[SuiteOutcome]) -> Result<(), ReportError> {
    for outcome in outcomes {
        let SuiteOutcome::Ran { record, .. } = outcome else {
            continue;
        };
        let entry = NightEntry::from_record(record);
        let dir = history_dir.join(file_safe(&entry.suite));
        fs::create_dir_all(&dir).map_err(|source| ReportError::Io {
            op: "creating history folder",
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(format!("{}.json", file_safe(&entry.night)));
        let json = serde_json::to_string(&entry).map_err(|source| ReportError::Serialize {
            path: path.clone(),
            source,
        })?;
        crate::write::write_atomic(&path, json.as_bytes())?;
    }
    Ok(())
}

/// A file or folder name for `s`: characters other than ASCII letters,
/// digits, `.`, `_`, `-`, `+` become `-` (a night's `:` included), and a
/// name of dots only gets a `_` in front.
fn file_safe(s: &str) -> String {
    let name: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        format!("_{name}")
    } else {
        name
    }
}

/// Serde for the figures map: each value as in [`crate::record::nonfinite`]
/// (numbers, or `"inf"`/`"-inf"`/`"nan"`); a `null` value is dropped on
/// reading (the figure is undefined).
mod figures_serde {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Value(#[serde(with = "crate::record::nonfinite")] Option<f64>);

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, f64>,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        map.iter()
            .map(|(k, v)| (k, Value(Some(*v))))
            .collect::<BTreeMap<_, _>>()
            .serialize(ser)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        de: D,
    ) -> Result<BTreeMap<String, f64>, D::Error> {
        let raw = BTreeMap::<String, Value>::deserialize(de)?;
        Ok(raw
            .into_iter()
            .filter_map(|(k, Value(v))| v.map(|v| (k, v)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe("2026-01-01T12:00:00Z"), "2026-01-01T12-00-00Z");
        assert_eq!(file_safe("a/b"), "a-b");
        assert_eq!(file_safe(".."), "_..");
        assert_eq!(file_safe(""), "_");
    }
}
