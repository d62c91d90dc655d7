//! `Checker`: collects the diagnostics of one validation pass, with the
//! checks every section shares (a bound, a unique DNS-label name, a node
//! index, a kubelet-scaled period, a reference to another section's name)
//! and the time units their bounds use.
use std::{
    collections::{HashMap, HashSet},
    fmt::Display,
    time::Duration,
};

use super::text::is_label;
use crate::{
    error::Diagnostic,
    expected::{LABEL, PROBE_PERIOD},
    index::PathIndex,
    model::Dur,
};

/// Units the rules bound durations with.
pub(super) const MINUTE: Duration = Duration::from_secs(60);
pub(super) const HOUR: Duration = Duration::from_secs(3600);

/// How many known names an unknown-reference error lists: enough to spot
/// a typo in a hand-written suite, and a message of bounded length when a
/// generated one declares thousands.
const LISTED_NAMES: usize = 20;
/// Up to how many declared names an unknown reference gets a "did you
/// mean" (each costs an edit distance per name).
const SUGGEST_AMONG: usize = 500;

/// The index to locate paths in, and the diagnostics found so far in the
/// order the rules ran.
pub(super) struct Checker<'a> {
    pub(super) ix: &'a PathIndex,
    out: Vec<Diagnostic>,
    /// The `(known: …)` text per kind of name, built at the first unknown
    /// reference: each kind has one set of names per pass, and sorting it
    /// again for every bad reference would be quadratic.
    listed: HashMap<String, String>,
    /// Unknown references given a "did you mean" so far.
    suggested: usize,
}

impl<'a> Checker<'a> {
    pub(super) fn new(ix: &'a PathIndex) -> Self {
        Checker {
            ix,
            out: Vec::new(),
            listed: HashMap::new(),
            suggested: 0,
        }
    }

    /// The diagnostics in document order; a stable sort, so two at one
    /// position keep the order their rules ran in.
    pub(super) fn into_sorted(self) -> Vec<Diagnostic> {
        let mut out = self.out;
        out.sort_by_key(|d| (d.line, d.column));
        out
    }
}

impl Checker<'_> {
    /// Records `message` at the value of `path` (or its nearest ancestor).
    pub(super) fn fail(&mut self, path: &str, message: String) {
        let pos = self.ix.locate(path);
        self.out.push(self.ix.diagnostic(pos, path, message));
    }

    /// `expected <what>, got <value>` unless `ok`.
    pub(super) fn expect(&mut self, ok: bool, path: &str, what: &str, got: impl Display) {
        if !ok {
            self.fail(path, format!("expected {what}, got {got}"));
        }
    }

    /// A DNS-label name, unique among `seen` (name → path of first use).
    pub(super) fn name<'s>(
        &mut self,
        path: &str,
        name: &'s str,
        kind: &str,
        seen: &mut HashMap<&'s str, String>,
    ) {
        self.expect(is_label(name), path, LABEL, format!("{name:?}"));
        if let Some(first) = seen.get(name) {
            self.fail(
                path,
                format!("duplicate {kind} name `{name}` (first used at {first})"),
            );
        } else {
            seen.insert(name, path.to_owned());
        }
    }

    /// A node index below `nodes`, when `nodes` itself is valid.
    pub(super) fn node(&mut self, path: &str, node: u8, nodes: Option<u8>) {
        if let Some(n) = nodes
            && node >= n
        {
            self.fail(
                path,
                format!(
                    "expected a node index 0..={} (cluster.nodes is {n}), got {node}",
                    n - 1
                ),
            );
        }
    }

    /// A kubelet/HPA period: above 0s and, once multiplied by `scale`
    /// (kubelet.time_scale, `None` while that is itself invalid), at least
    /// 100ms, so a scaled-down run does not turn into a busy loop.
    pub(super) fn scaled_period(&mut self, path: &str, v: Dur, scale: Option<f64>) {
        let ms = v.0.as_secs_f64() * 1000.0;
        // The tolerance absorbs binary rounding (10s × 0.01 is 100ms).
        let ok = !v.0.is_zero() && scale.is_none_or(|s| ms * s >= 100.0 - 1e-6);
        let what = match scale {
            Some(s) if s != 1.0 => {
                // 100.0 / s is at most 10000 for a valid scale: no truncation.
                let least = Dur::from_millis((100.0 / s - 1e-6).ceil() as u64);
                format!("{PROBE_PERIOD} (with time_scale {s}: at least {least})")
            }
            _ => PROBE_PERIOD.to_owned(),
        };
        self.expect(ok, path, &what, v);
    }

    /// `name` is one of `known`, the names a section of kind `kind` declares
    /// (one set per kind in a pass).
    pub(super) fn reference(&mut self, path: &str, name: &str, kind: &str, known: &HashSet<&str>) {
        if !known.contains(name) {
            let list = self
                .listed
                .entry(kind.to_owned())
                .or_insert_with(|| known_list(kind, known))
                .clone();
            // The nearest name, while that stays cheap: among at most
            // SUGGEST_AMONG names, for the first SUGGEST_AMONG references.
            self.suggested += 1;
            let hint = if known.len() <= SUGGEST_AMONG && self.suggested <= SUGGEST_AMONG {
                crate::suggest::hint(name, known.iter().copied())
            } else {
                String::new()
            };
            self.fail(path, format!("unknown {kind} `{name}`{hint} ({list})"));
        }
    }
}

/// `known: a, b, c` (the first [`LISTED_NAMES`] in order, then how many
/// more), or `there are no {kind}s`.
fn known_list(kind: &str, known: &HashSet<&str>) -> String {
    let mut names: Vec<&str> = known.iter().copied().collect();
    names.sort_unstable();
    match names.len() {
        0 => format!("there are no {kind}s"),
        n if n <= LISTED_NAMES => format!("known: {}", names.join(", ")),
        n => format!(
            "known: {}, and {} more",
            names[..LISTED_NAMES].join(", "),
            n - LISTED_NAMES
        ),
    }
}
