//! Regressions of tonight against the previous night of each suite: a
//! verdict that flipped from PASS, a suite broken tonight that ran before,
//! and key figures worse than their threshold ([`regressions`]), with how
//! much worse a figure got in its direction.
use std::{cmp::Ordering, collections::BTreeMap};

use super::history::{KEY_FIGURES, NightEntry, SuiteOutcome, Worse, key_figures};
use crate::{
    fmt::{change_pct, cmp_nights, num},
    record::Verdict,
};

/// Relative change of a key figure that counts as a regression when a suite
/// sets no threshold for it (0.2 = 20 % worse than the previous night).
pub const DEFAULT_THRESHOLD: f64 = 0.2;

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

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
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
}
