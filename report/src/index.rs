//! The nightly overview: `reports/index.html`, the page people open first,
//! and the history that lets it compare tonight with previous nights.
//!
//! The nightly job runs every suite, then hands this module one
//! [`SuiteOutcome`] per suite file. From them it derives a few key figures
//! per run ([`key_figures`]), keeps them as one small [`NightEntry`] file per
//! suite and night under `history/<suite>/` ([`append_history`],
//! [`load_history`]; a whole `run.json` per night would make history grow by
//! megabytes), flags regressions against the previous night
//! ([`regressions`]) and renders one self-contained page ([`render_index`]:
//! inline CSS and SVG, no scripts, no external assets, works offline), which
//! [`write_index`] saves atomically. Like the run report, everything here is
//! a pure function of saved data, except the two file functions.
use std::{
    cmp::Ordering,
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    io::{self, Write as _},
    path::{Component, Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    derive::{metric, summarize},
    fmt::{change_pct, cmp_nights, escape, figure_count, figure_pct, fixed, id_safe, num},
    record::{RunRecord, Verdict},
    write::{HTML_FILE, ReportError},
};

/// Relative change of a key figure that counts as a regression when a suite
/// sets no threshold for it (0.2 = 20 % worse than the previous night).
pub const DEFAULT_THRESHOLD: f64 = 0.2;

/// Folder under the reports folder that keeps history, by convention (the
/// caller passes the path).
pub const HISTORY_DIR: &str = "history";

/// How many past nights a sparkline shows at most (tonight comes on top).
pub const SPARKLINE_NIGHTS: usize = 30;

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

/// How bad a [`Regression`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A verdict went from PASS to FAIL/ERROR, or a suite that ran before
    /// is broken tonight.
    Critical,
    /// A key figure got worse than its threshold allows.
    Warning,
}

impl Severity {
    /// Upper-case word for the page.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::Warning => "WARNING",
        }
    }
}

/// What changed, in a form a program can check ([`Regression::what`] says
/// the same for people).
#[derive(Clone, Debug, PartialEq)]
pub enum RegressionKind {
    /// The verdict went from `from` (PASS) to `to` (FAIL or ERROR).
    VerdictFlip { from: Verdict, to: Verdict },
    /// `figure` went from `previous` to `current`, worse by `change`
    /// (relative, may be infinite when `previous` was 0) > `threshold`.
    Figure {
        figure: String,
        previous: f64,
        current: f64,
        change: f64,
        threshold: f64,
    },
    /// Broken tonight; it last ran on `last_night`.
    Broken { last_night: String },
}

/// A change for the worse since the previous night of a suite.
#[derive(Clone, Debug, PartialEq)]
pub struct Regression {
    pub suite: String,
    /// For people, e.g. "imbalance 1.2 → 3.4 (183% worse, threshold 20%) since 2026-01-01T02:00:00Z".
    pub what: String,
    pub severity: Severity,
    pub kind: RegressionKind,
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

/// Regressions of tonight against the previous night of each suite:
///
/// - the verdict went from PASS to FAIL or ERROR (critical; INTERRUPTED is
///   someone stopping the run, not a regression);
/// - a judged key figure ([`KEY_FIGURES`]) is worse by more than its
///   relative threshold: `thresholds[suite][figure]`, else
///   [`DEFAULT_THRESHOLD`] (warning). Worse by a relative change of
///   `(current − previous) / |previous|` (the other way round for
///   lower-is-worse figures); from a previous 0 any worsening is infinite.
///   Skipped when either night is INTERRUPTED or ERROR: such a run's
///   figures do not describe a whole run;
/// - a suite broken tonight that has run before (critical). History only
///   keeps nights a suite ran, so a suite broken several nights in a row
///   is flagged each night against the last night it ran.
///
/// The previous night is the suite's latest history entry that started
/// before tonight's run, so `history` may or may not already hold tonight.
/// Sorted by suite, then severity.
pub fn regressions(
    current: &[SuiteOutcome],
    history: &[NightEntry],
    thresholds: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Vec<Regression> {
    let mut out = Vec::new();
    for outcome in current {
        let suite = outcome.suite();
        let past = history.iter().filter(|e| e.suite == suite);
        match outcome {
            SuiteOutcome::Broken { error, .. } => {
                let Some(last) = past.max_by(|a, b| cmp_nights(&a.night, &b.night)) else {
                    continue;
                };
                out.push(Regression {
                    suite: suite.to_string(),
                    what: format!(
                        "broken tonight ({}); it last ran {} ({})",
                        first_line(error),
                        last.night,
                        last.verdict.word()
                    ),
                    severity: Severity::Critical,
                    kind: RegressionKind::Broken {
                        last_night: last.night.clone(),
                    },
                });
            }
            SuiteOutcome::Ran { record, .. } => {
                let Some(prev) = past
                    .filter(|e| cmp_nights(&e.night, &record.started_at) == Ordering::Less)
                    .max_by(|a, b| cmp_nights(&a.night, &b.night))
                else {
                    continue;
                };
                let now = record.verdict;
                if prev.verdict == Verdict::Pass && matches!(now, Verdict::Fail | Verdict::Error) {
                    out.push(Regression {
                        suite: suite.to_string(),
                        what: format!(
                            "verdict {} → {} since {}",
                            prev.verdict.word(),
                            now.word(),
                            prev.night
                        ),
                        severity: Severity::Critical,
                        kind: RegressionKind::VerdictFlip {
                            from: prev.verdict,
                            to: now,
                        },
                    });
                }
                let complete = |v: Verdict| matches!(v, Verdict::Pass | Verdict::Fail);
                if !complete(prev.verdict) || !complete(now) {
                    continue;
                }
                let figures = key_figures(record);
                for (name, worse) in KEY_FIGURES {
                    let (Some(&p), Some(&c)) = (prev.figures.get(*name), figures.get(*name)) else {
                        continue;
                    };
                    let Some(change) = worsening(*worse, p, c) else {
                        continue;
                    };
                    let threshold = thresholds
                        .get(suite)
                        .and_then(|t| t.get(*name))
                        .copied()
                        .unwrap_or(DEFAULT_THRESHOLD);
                    if change > threshold {
                        out.push(Regression {
                            suite: suite.to_string(),
                            what: format!(
                                "{name} {} → {} ({} worse, threshold {}) since {}",
                                num(p),
                                num(c),
                                change_pct(change),
                                change_pct(threshold),
                                prev.night
                            ),
                            severity: Severity::Warning,
                            kind: RegressionKind::Figure {
                                figure: (*name).to_string(),
                                previous: p,
                                current: c,
                                change,
                                threshold,
                            },
                        });
                    }
                }
            }
        }
    }
    // Stable: within a suite and severity, figures keep KEY_FIGURES order.
    out.sort_by(|a, b| a.suite.cmp(&b.suite).then(a.severity.cmp(&b.severity)));
    out
}

/// How much worse `current` is than `previous` (relative, > 0 when worse),
/// None when the figure is not judged, not worse, or NaN.
fn worsening(worse: Worse, previous: f64, current: f64) -> Option<f64> {
    if previous.is_nan() || current.is_nan() {
        return None;
    }
    let (from, to) = match worse {
        Worse::Higher => (previous, current),
        // Lower is worse: the same as "higher is worse" of the negations.
        Worse::Lower => (-previous, -current),
        Worse::NotJudged => return None,
    };
    if to <= from {
        return None;
    }
    if from.is_infinite() || to.is_infinite() || from == 0.0 {
        return Some(f64::INFINITY);
    }
    Some((to - from) / from.abs())
}

/// Renders the overview page: a summary line, the regressions, then one row
/// per suite (sorted by name) with its verdict, key figures, a sparkline of
/// its main figure over past nights and tonight, and a link to its report.
/// `history` may or may not already hold tonight's entries.
pub fn render_index(
    outcomes: &[SuiteOutcome],
    history: &[NightEntry],
    regressions: &[Regression],
    title: &str,
) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    let mut sorted: Vec<&SuiteOutcome> = outcomes.iter().collect();
    sorted.sort_by(|a, b| {
        a.suite().cmp(b.suite()).then_with(|| match (a, b) {
            (SuiteOutcome::Ran { record: x, .. }, SuiteOutcome::Ran { record: y, .. }) => {
                cmp_nights(&x.started_at, &y.started_at)
            }
            _ => Ordering::Equal,
        })
    });
    summary_line(&mut out, &sorted);
    regressions_section(&mut out, regressions);
    suites_table(&mut out, &sorted, history, regressions);
    legend(&mut out);
    out.push_str(
        "<footer>Rendered by svclab-report from the nightly's run records and history; \
         every figure is derived from a saved run.json.</footer>\n</main>\n</body>\n</html>\n",
    );
    out
}

/// Writes `reports_dir/index.html` atomically (temporary file, fsync,
/// rename, fsync of the folder), creating the folder if needed.
pub fn write_index(reports_dir: &Path, html: &str) -> Result<(), ReportError> {
    fs::create_dir_all(reports_dir).map_err(|source| ReportError::Io {
        op: "creating reports folder",
        path: reports_dir.to_owned(),
        source,
    })?;
    crate::write::write_atomic(&reports_dir.join(HTML_FILE), html.as_bytes())
}

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1360px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 26px; margin: 8px 0 6px; }
h2 { font-size: 20px; margin: 28px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.summary { font-size: 17px; margin: 4px 0 2px; }
.summary b { font-variant-numeric: tabular-nums; }
.sub { color: #555; margin: 2px 0 12px; font-size: 14px; }
.badge { display: inline-block; min-width: 6.5em; text-align: center; font-weight: 800; font-size: 13px; letter-spacing: 0.04em; padding: 3px 8px; border-radius: 5px; border: 2px solid transparent; }
.badge.pass { background: #0072b2; color: #fff; }
.badge.fail { background: #d55e00; color: #fff; }
.badge.interrupted { background: #fff; color: #7a4f00; border-color: #e69f00; border-style: dashed; }
.badge.error { background: #cc79a7; color: #000; }
.badge.broken { background: #000; color: #fff; }
.badge.critical { background: #d55e00; color: #fff; min-width: 6em; }
.badge.warning { background: #f0e442; color: #000; min-width: 6em; }
ul.regressions { list-style: none; padding: 0; margin: 0; }
ul.regressions li { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px; margin: 4px 0; }
p.none { background: #fff; border: 1px solid #ddd; border-left: 4px solid #0072b2; padding: 8px 12px; margin: 0; }
table { border-collapse: collapse; background: #fff; font-size: 14px; width: 100%; }
th, td { border: 1px solid #ddd; padding: 5px 8px; text-align: left; vertical-align: middle; }
th { background: #f0f0f0; font-size: 13px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.regressed { background: #fbe3d3; font-weight: 700; }
td.suite { white-space: nowrap; } td.suite a { font-weight: 700; }
td.undef { color: #999; text-align: center; white-space: nowrap; }
.broken-error { white-space: pre-wrap; font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 12px; background: #f4f4f4; border-left: 4px solid #000; padding: 6px 8px; margin: 0; }
.spark { display: block; }
.spark-cap { color: #666; font-size: 11px; white-space: nowrap; }
dl.legend { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; font-size: 13px; color: #444; }
dl.legend dt { font-weight: 700; } dl.legend dd { margin: 0; }
footer { color: #888; font-size: 12px; margin-top: 32px; }
";

/// A figure's column: key, header (HTML), formatter.
type Column = (&'static str, &'static str, fn(f64) -> String);

/// The columns of the figures, in order.
const COLUMNS: &[Column] = &[
    ("duration_s", "duration", |v| format!("{} s", fixed(v, 1))),
    ("imbalance", "imbalance<br>max/min", |v| fixed(v, 2)),
    ("new_backend_share", "new-backend<br>share", figure_pct),
    ("jain", "Jain", |v| fixed(v, 3)),
    ("p99_ms", "p99<br>(worst s)", |v| {
        format!("{} ms", fixed(v, 2))
    }),
    ("errors", "errors", figure_count),
    ("error_rate", "error<br>rate", figure_pct),
    ("min_ready", "min<br>ready", figure_count),
    ("restarts", "restarts", figure_count),
];

/// What a sparkline follows: key, label, the natural floor of its axis (a
/// share starts at 0, a max/min ratio at 1, so small wobbles are not blown
/// up to the full height) and its formatter.
type MainFigure = (&'static str, &'static str, f64, fn(f64) -> String);

/// A suite's main figure: `new_backend_share` when it scales up, else
/// `imbalance`.
fn main_figure(scales_up: bool) -> MainFigure {
    if scales_up {
        ("new_backend_share", "new-backend share", 0.0, figure_pct)
    } else {
        ("imbalance", "imbalance", 1.0, |v| fixed(v, 2))
    }
}

fn summary_line(out: &mut String, outcomes: &[&SuiteOutcome]) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut starts: Vec<&str> = Vec::new();
    for o in outcomes {
        let key = match o {
            SuiteOutcome::Ran { record, .. } => {
                starts.push(&record.started_at);
                match record.verdict {
                    Verdict::Pass => "passed",
                    Verdict::Fail => "failed",
                    Verdict::Interrupted => "interrupted",
                    Verdict::Error => "errored",
                }
            }
            SuiteOutcome::Broken { .. } => "broken",
        };
        *counts.entry(key).or_default() += 1;
    }
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    let mut parts = vec![
        format!("<b>{}</b> passed", n("passed")),
        format!("<b>{}</b> failed", n("failed")),
    ];
    for k in ["interrupted", "errored"] {
        if n(k) > 0 {
            parts.push(format!("<b>{}</b> {k}", n(k)));
        }
    }
    parts.push(format!("<b>{}</b> broken", n("broken")));
    let _ = writeln!(
        out,
        "<p class=\"summary\" id=\"summary\"><b>{}</b> suite{}: {}</p>",
        outcomes.len(),
        if outcomes.len() == 1 { "" } else { "s" },
        parts.join(", ")
    );
    starts.sort_by(|a, b| cmp_nights(a, b));
    match (starts.first(), starts.last()) {
        (Some(a), Some(b)) if a != b => {
            let _ = writeln!(
                out,
                "<p class=\"sub\">Tonight's runs started {} … {}.</p>",
                escape(a),
                escape(b)
            );
        }
        (Some(a), _) => {
            let _ = writeln!(
                out,
                "<p class=\"sub\">Tonight's run started {}.</p>",
                escape(a)
            );
        }
        _ => {}
    }
}

fn regressions_section(out: &mut String, regressions: &[Regression]) {
    out.push_str("<h2 id=\"regressions\">Regressions since the previous night</h2>\n");
    if regressions.is_empty() {
        out.push_str("<p class=\"none\">No regressions.</p>\n");
        return;
    }
    let mut sorted: Vec<&Regression> = regressions.iter().collect();
    sorted.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.suite.cmp(&b.suite)));
    out.push_str("<ul class=\"regressions\">\n");
    for r in sorted {
        let class = match r.severity {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        };
        let _ = writeln!(
            out,
            "<li class=\"regression\"><span class=\"badge {class}\">{}</span> \
             <a href=\"#suite-{}\"><b>{}</b></a>: {}</li>",
            r.severity.word(),
            escape(&id_safe(&r.suite)),
            escape(&r.suite),
            escape(&r.what)
        );
    }
    out.push_str("</ul>\n");
}

fn suites_table(
    out: &mut String,
    outcomes: &[&SuiteOutcome],
    history: &[NightEntry],
    regressions: &[Regression],
) {
    out.push_str("<h2 id=\"suites\">Suites</h2>\n");
    if outcomes.is_empty() {
        out.push_str("<p>No suites ran.</p>\n");
        return;
    }
    out.push_str("<table>\n<tr><th>suite</th><th>verdict</th>");
    for (_, header, _) in COLUMNS {
        let _ = write!(out, "<th>{header}</th>");
    }
    out.push_str("<th>trend over nights</th><th>report</th></tr>\n");
    for outcome in outcomes {
        let suite = outcome.suite();
        let past: Vec<&NightEntry> = history.iter().filter(|e| e.suite == suite).collect();
        let _ = write!(
            out,
            "<tr class=\"suite-row\" id=\"suite-{}\"><td class=\"suite\">",
            escape(&id_safe(suite))
        );
        match outcome {
            SuiteOutcome::Ran { record, report_dir } => {
                let link = report_link(record, report_dir);
                let _ = write!(
                    out,
                    "<a href=\"{}\">{}</a></td><td>{}</td>",
                    escape(&link),
                    escape(suite),
                    badge(verdict_class(record.verdict), record.verdict.word())
                );
                let figures = key_figures(record);
                for (key, _, fmt) in COLUMNS {
                    let regressed = regressions.iter().any(|r| {
                        r.suite == suite
                            && matches!(&r.kind, RegressionKind::Figure { figure, .. } if figure == key)
                    });
                    match figures.get(*key) {
                        Some(v) if regressed => {
                            let _ = write!(
                                out,
                                "<td class=\"num regressed\" title=\"worse than the previous night\">▲ {}</td>",
                                escape(&fmt(*v))
                            );
                        }
                        Some(v) => {
                            let _ = write!(out, "<td class=\"num\">{}</td>", escape(&fmt(*v)));
                        }
                        None => out.push_str(
                            "<td class=\"undef\" title=\"undefined for this run\">—</td>",
                        ),
                    }
                }
                let main = main_figure(record.last_scale_up_s().is_some());
                let mut points = night_points(&past, main.0, Some(&record.started_at));
                points.push(Point {
                    night: record.started_at.clone(),
                    value: figures.get(main.0).copied(),
                    verdict: Some(record.verdict),
                    tonight: true,
                });
                let _ = writeln!(
                    out,
                    "<td>{}</td><td><a href=\"{}\">report</a></td></tr>",
                    sparkline(main, &points),
                    escape(&link)
                );
            }
            SuiteOutcome::Broken { path, error, .. } => {
                // Load errors usually start with the file's name already.
                let text = if error.contains(path.as_str()) {
                    error.clone()
                } else {
                    format!("{path}: {error}")
                };
                let _ = write!(
                    out,
                    "{}</td><td>{}</td><td colspan=\"{}\"><pre class=\"broken-error\">{}</pre></td>",
                    escape(suite),
                    badge("broken", "BROKEN"),
                    COLUMNS.len(),
                    escape(&text)
                );
                let last = past.iter().max_by(|a, b| cmp_nights(&a.night, &b.night));
                let main =
                    main_figure(last.is_some_and(|e| e.figures.contains_key("new_backend_share")));
                let mut points = night_points(&past, main.0, None);
                points.push(Point {
                    night: "tonight".into(),
                    value: None,
                    verdict: None,
                    tonight: true,
                });
                let _ = writeln!(
                    out,
                    "<td>{}</td><td class=\"undef\">no report</td></tr>",
                    sparkline(main, &points)
                );
            }
        }
    }
    out.push_str("</table>\n");
}

fn legend(out: &mut String) {
    out.push_str(
        "<h2 id=\"figures\">What the columns mean</h2>\n<dl class=\"legend\">\n\
         <dt>duration</dt><dd>seconds the run actually ran (shorter when interrupted)</dd>\n\
         <dt>imbalance</dt><dd>max / min responses over the backends alive through the window from the last scale-up \
         to the end (the whole run without one); ∞ when one of them served nothing; 1 is even</dd>\n\
         <dt>new-backend share</dt><dd>share of responses from the pods the last scale-up added, from it to the end \
         (only with a scale-up; not judged, its meaning depends on the suite)</dd>\n\
         <dt>Jain</dt><dd>Jain's fairness index over the same backends and window: 1 is perfectly even, \
         1/n one backend taking everything</dd>\n\
         <dt>p99</dt><dd>the worst one-bucket p99 latency of the run</dd>\n\
         <dt>errors, error rate</dt><dd>client errors of every kind, and their share of requests sent</dd>\n\
         <dt>min ready</dt><dd>the fewest ready pods in any time bucket (for runs recorded without pod \
         telemetry, the fewest backends alive through any bucket)</dd>\n\
         <dt>restarts</dt><dd>container restarts of every pod over the run (not judged: a probe-cascade suite \
         expects them)</dd>\n\
         <dt>trend</dt><dd>the suite's main figure (new-backend share when it scales up, else imbalance) over past \
         nights and tonight (ringed); round dots passed, squares did not pass, triangles at the top are ∞</dd>\n\
         <dt>▲</dt><dd>worse than the previous night by more than the suite's threshold (20% unless the suite \
         sets one)</dd>\n</dl>\n",
    );
}

fn badge(class: &str, word: &str) -> String {
    format!("<span class=\"badge {class}\">{word}</span>")
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Interrupted => "interrupted",
        Verdict::Error => "error",
    }
}

/// `report_dir/index.html` with `/` separators when `report_dir` is a plain
/// relative path, else `<suite>/<run-id>/index.html`.
fn report_link(record: &RunRecord, report_dir: &Path) -> String {
    let relative: Option<Vec<String>> = report_dir
        .components()
        .map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let mut parts = match relative {
        Some(p) if !p.is_empty() => p,
        _ => vec![record.suite.name.clone(), record.run_id.clone()],
    };
    parts.push(HTML_FILE.into());
    parts
        .iter()
        .map(|p| percent_encode(p))
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-encodes what a relative URL path segment cannot hold as is.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One night in a sparkline.
struct Point {
    night: String,
    value: Option<f64>,
    /// None for a broken night.
    verdict: Option<Verdict>,
    tonight: bool,
}

/// The last [`SPARKLINE_NIGHTS`] of `past` (sorted oldest first), leaving
/// out tonight's own entry (same start) and anything later.
fn night_points(past: &[&NightEntry], figure: &str, tonight: Option<&str>) -> Vec<Point> {
    let mut nights: Vec<&NightEntry> = past
        .iter()
        .copied()
        .filter(|e| tonight.is_none_or(|t| cmp_nights(&e.night, t) == Ordering::Less))
        .collect();
    nights.sort_by(|a, b| cmp_nights(&a.night, &b.night));
    let skip = nights.len().saturating_sub(SPARKLINE_NIGHTS);
    nights
        .into_iter()
        .skip(skip)
        .map(|e| Point {
            night: e.night.clone(),
            value: e.figures.get(figure).copied(),
            verdict: Some(e.verdict),
            tonight: false,
        })
        .collect()
}

const SPARK_W: f64 = 170.0;
const SPARK_H: f64 = 38.0;
const SPARK_PAD: f64 = 6.0;
const SPARK_LINE: &str = "#0072b2";
const SPARK_BAD: &str = "#d55e00";

/// A small SVG line of `points` (oldest left, tonight right): circles for
/// passing nights, squares for the others, a ring around tonight, triangles
/// at the top for ∞, nothing for a night without the figure.
fn sparkline((figure, label, floor, fmt): MainFigure, points: &[Point]) -> String {
    let finite: Vec<f64> = points
        .iter()
        .filter_map(|p| p.value)
        .filter(|v| v.is_finite())
        .collect();
    let lo = finite
        .iter()
        .copied()
        .reduce(f64::min)
        .map(|v| v.min(floor));
    let hi = finite.iter().copied().reduce(f64::max);
    let n = points.len();
    let x = |i: usize| {
        if n <= 1 {
            SPARK_W / 2.0
        } else {
            SPARK_PAD + (SPARK_W - 2.0 * SPARK_PAD) * i as f64 / (n - 1) as f64
        }
    };
    // ∞ sits at the top edge; finite values below it.
    let top = SPARK_PAD + 4.0;
    let bottom = SPARK_H - SPARK_PAD;
    let y = |v: f64| match (lo, hi) {
        (Some(lo), Some(hi)) if hi > lo => bottom - (bottom - top) * (v - lo) / (hi - lo),
        _ => (top + bottom) / 2.0,
    };
    let mut svg = format!(
        "<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{SPARK_W}\" height=\"{SPARK_H}\" \
         viewBox=\"0 0 {SPARK_W} {SPARK_H}\" role=\"img\" aria-label=\"{} over {} nights\">",
        escape(figure),
        n
    );
    let _ = write!(
        svg,
        "<rect x=\"0.5\" y=\"0.5\" width=\"{}\" height=\"{}\" fill=\"#fff\" stroke=\"#e4e4e4\"/>",
        SPARK_W - 1.0,
        SPARK_H - 1.0
    );
    // The line breaks at nights without a finite value.
    let mut segment: Vec<String> = Vec::new();
    let flush = |segment: &mut Vec<String>, svg: &mut String| {
        if segment.len() > 1 {
            let _ = write!(
                svg,
                "<polyline fill=\"none\" stroke=\"{SPARK_LINE}\" stroke-width=\"1.5\" \
                 stroke-linejoin=\"round\" points=\"{}\"/>",
                segment.join(" ")
            );
        }
        segment.clear();
    };
    for (i, p) in points.iter().enumerate() {
        match p.value {
            Some(v) if v.is_finite() => segment.push(format!("{:.1},{:.1}", x(i), y(v))),
            _ => flush(&mut segment, &mut svg),
        }
    }
    flush(&mut segment, &mut svg);
    for (i, p) in points.iter().enumerate() {
        let cx = x(i);
        let verdict = p.verdict.map_or("BROKEN", |v| v.word());
        let value_text = match p.value {
            Some(v) => fmt(v),
            None => "no value".into(),
        };
        let title = format!(
            "<title>{}{}: {} {}</title>",
            if p.tonight { "tonight " } else { "" },
            escape(&p.night),
            escape(&value_text),
            verdict
        );
        let passed = p.verdict == Some(Verdict::Pass);
        let color = if passed { SPARK_LINE } else { SPARK_BAD };
        let mark = match p.value {
            Some(v) if v.is_finite() => {
                let cy = y(v);
                if passed {
                    format!(
                        "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"2.2\" fill=\"{color}\">{title}</circle>"
                    )
                } else {
                    format!(
                        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"5.6\" height=\"5.6\" fill=\"{color}\">{title}</rect>",
                        cx - 2.8,
                        cy - 2.8
                    )
                }
            }
            Some(v) if v > 0.0 => format!(
                "<path d=\"M{:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} Z\" fill=\"{color}\">{title}</path>",
                cx,
                SPARK_PAD - 3.0,
                cx - 3.5,
                SPARK_PAD + 3.0,
                cx + 3.5,
                SPARK_PAD + 3.0
            ),
            // No value (a broken night, or the figure undefined): a grey tick
            // on the baseline so the night is still visible.
            _ => format!(
                "<line x1=\"{cx:.1}\" y1=\"{:.1}\" x2=\"{cx:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"2\">{title}</line>",
                bottom - 3.0,
                bottom + 3.0,
                if p.verdict.is_none() { "#000" } else { "#999" }
            ),
        };
        svg.push_str(&mark);
        if p.tonight {
            let cy = match p.value {
                Some(v) if v.is_finite() => y(v),
                Some(v) if v > 0.0 => SPARK_PAD,
                _ => bottom,
            };
            let _ = write!(
                svg,
                "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.2\"/>"
            );
        }
    }
    svg.push_str("</svg>");
    let range = match (lo, hi) {
        (Some(lo), Some(hi)) if hi > lo => format!(" · axis {}–{}", fmt(lo), fmt(hi)),
        _ => String::new(),
    };
    format!(
        "{svg}<div class=\"spark-cap\">{} · {} night{}{}</div>",
        escape(label),
        n,
        if n == 1 { "" } else { "s" },
        escape(&range)
    )
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
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
    fn worsening_by_direction() {
        assert_eq!(worsening(Worse::Higher, 2.0, 3.0), Some(0.5));
        assert_eq!(worsening(Worse::Higher, 3.0, 2.0), None);
        assert_eq!(worsening(Worse::Lower, 1.0, 0.5), Some(0.5));
        assert_eq!(worsening(Worse::Lower, 0.5, 1.0), None);
        assert_eq!(worsening(Worse::Higher, 0.0, 1.0), Some(f64::INFINITY));
        assert_eq!(
            worsening(Worse::Higher, 2.0, f64::INFINITY),
            Some(f64::INFINITY)
        );
        assert_eq!(worsening(Worse::Higher, f64::INFINITY, f64::INFINITY), None);
        assert_eq!(worsening(Worse::Higher, f64::NAN, 1.0), None);
        assert_eq!(worsening(Worse::NotJudged, 0.1, 0.9), None);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe("2026-01-01T12:00:00Z"), "2026-01-01T12-00-00Z");
        assert_eq!(file_safe("a/b"), "a-b");
        assert_eq!(file_safe(".."), "_..");
        assert_eq!(file_safe(""), "_");
    }

    #[test]
    fn links_are_relative_and_encoded() {
        let rec = crate::sample::incident_a(false);
        assert_eq!(
            report_link(&rec, Path::new("ct-reuse-legacy/20260101-120000-a3f9")),
            "ct-reuse-legacy/20260101-120000-a3f9/index.html"
        );
        assert_eq!(
            report_link(&rec, Path::new("/abs/elsewhere")),
            "ct-reuse-legacy/20260101-120000-a3f9/index.html"
        );
        assert_eq!(
            report_link(&rec, Path::new("a b/r#1")),
            "a%20b/r%231/index.html"
        );
    }
}
