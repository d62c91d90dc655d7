//! Derived figures: pure functions of a [`RunRecord`], so a report can be
//! re-rendered (and an expectation re-checked) from `run.json` alone.
//!
//! Conventions shared by every function here:
//! - A window `[from, to]` selects the buckets whose *start* lies in
//!   `[from, to)`; an empty selection makes every metric undefined (None).
//! - Shares count responses seen by clients (the pod name in the body), not
//!   datapath selections.
//! - "Alive in" a window means an endpoint at some point of it; "alive
//!   through" means created at or before `from` and not removed before `to`
//!   (see [`BackendInfo::alive_in`], [`BackendInfo::alive_through`]).
//! - Error rates divide by `sent`, which counts every scheduled request,
//!   including those an open-loop client refused locally as `overload`.
//! - Pod figures (restarts, ready pods, probes, accept queues, autoscalers)
//!   come from [`RunRecord::pods`] and the buckets' `pods`/`deployments`,
//!   which schema-1 records lack: there they are undefined (restarts and
//!   probe failures count 0).
use std::collections::BTreeMap;

use crate::record::{BackendInfo, Bucket, ExpectationResult, PodPhase, PodRecord, RunRecord};

/// Metric names [`metric`] knows: the suite format's list, one source.
pub use svclab_suite::METRICS;

/// Error rate under which a bucket counts as recovered.
pub const RECOVERED_ERROR_RATE: f64 = 0.01;

/// One expectation as the runner hands it over: a bound on a metric over a
/// window (seconds from the run's start). At least one of `min`/`max` is set
/// by suite validation; with neither, any defined value passes.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectationSpec {
    pub metric: String,
    pub window_s: [f64; 2],
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub note: String,
}

/// Figures for the report's summary table.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Client totals over the whole run.
    pub sent: u64,
    pub ok: u64,
    /// Errors of every kind.
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Errors / attempts over the whole run (see the module docs).
    pub error_rate: Option<f64>,
    /// Responses attributed to a backend.
    pub responses: u64,
    /// Share of all responses per backend over the whole run (empty when
    /// there were none).
    pub share: BTreeMap<String, f64>,
    /// The window the imbalance figures below are computed over: from the
    /// last scale-up (when there is one, so new backends count) or from the
    /// start, to the end of the run.
    pub imbalance_window_s: [f64; 2],
    pub max_min_ratio: Option<f64>,
    pub cv: Option<f64>,
    pub jain_index: Option<f64>,
    /// See [`RunRecord::last_scale_up_s`].
    pub last_scale_up_s: Option<f64>,
    /// `new_backend_share` and `new_backend_fair_ratio` from the last
    /// scale-up to the end of the run.
    pub new_backend_share: Option<f64>,
    pub new_backend_fair_ratio: Option<f64>,
    /// Time of the last timeline event (`Event.timeline`).
    pub last_timeline_event_s: Option<f64>,
    /// Seconds from the last timeline event to the start of the first bucket
    /// from which every bucket to the end of the run has an error rate under
    /// [`RECOVERED_ERROR_RATE`] (0 when errors never rose). None when there
    /// is no timeline event, no bucket after it, or the last bucket is still
    /// over the threshold.
    pub time_to_recover_s: Option<f64>,
    /// Container restarts over the whole run, all pods.
    pub restarts: u64,
    /// The same by kind of reason ([`reason_kind`]: "liveness probe failed",
    /// "container exited", ...).
    pub restarts_by_reason: BTreeMap<String, u64>,
    /// The fewest ready pods (Σ `ready_min` over deployments) in any bucket,
    /// and the start of the first bucket that saw it. None without
    /// deployment telemetry.
    pub min_ready: Option<(u32, f64)>,
    /// Per autoscaled deployment, the lowest and highest replica count its
    /// autoscaler asked for (`hpa_desired`). Empty without autoscalers.
    pub hpa_desired: BTreeMap<String, [u32; 2]>,
}

/// Probe kinds in the order the report shows them (kubelet's order: the
/// startup probe gates the other two).
pub const PROBE_KINDS: [&str; 3] = ["startup", "readiness", "liveness"];

/// A pod's phase over an interval `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhaseSpan {
    pub from: f64,
    pub to: f64,
    pub phase: PodPhase,
}

/// The buckets of `window`: those whose start is in `[from, to)`. Empty when
/// the window is empty or inverted.
pub fn window_buckets(record: &RunRecord, [from, to]: [f64; 2]) -> impl Iterator<Item = &Bucket> {
    record
        .buckets
        .iter()
        .filter(move |b| b.t_s >= from && b.t_s < to)
}

/// Responses per backend over `window`, every backend name of the run
/// included (zero when it served nothing).
pub fn responses(record: &RunRecord, window: [f64; 2]) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> =
        record.backend_names().into_iter().map(|n| (n, 0)).collect();
    for bucket in window_buckets(record, window) {
        for (name, b) in &bucket.backends {
            *out.entry(name.clone()).or_default() += b.responses;
        }
    }
    out
}

/// Share of the responses in `window` per backend (every backend of the run,
/// zero when it served nothing). Empty when the window saw no response.
pub fn shares(record: &RunRecord, window: [f64; 2]) -> BTreeMap<String, f64> {
    let counts = responses(record, window);
    let total: u64 = counts.values().sum();
    if total == 0 {
        return BTreeMap::new();
    }
    counts
        .into_iter()
        .map(|(name, n)| (name, n as f64 / total as f64))
        .collect()
}

/// One metric of [`METRICS`] over `window_s`; None when it is undefined there
/// (unknown name, empty window, no responses, no scale-up, ...).
///
/// - `new_backend_share`: responses from backends with
///   `added_by_last_scale_up` / all responses. None without such backends.
/// - `new_backend_fair_ratio`: `new_backend_share` / (new backends alive in
///   the window / backends alive in the window); 1.0 is fair.
/// - `jain_index`: (Σx)² / (n·Σx²) over the responses x of the n backends
///   alive through the window; 1.0 is perfectly even, 1/n is one backend
///   taking everything.
/// - `cv`: population standard deviation / mean, same backends.
/// - `max_min_ratio`: max / min, same backends; `f64::INFINITY` when some
///   backend served nothing while another did (JSON keeps it, see
///   [`crate::record::nonfinite`]).
/// - `error_rate`: Σerrors / Σattempts (module docs); `errors`: Σerrors.
/// - `ok_rate`: Σok / the time the window's buckets cover (buckets ×
///   `bucket_s`, so an interrupted run is not diluted by time it never ran).
/// - `p99_ms`: the *maximum* of the per-bucket p99 latencies over buckets in
///   which a request ended (a run record has no whole-window histogram; the
///   worst second is what an SLO would flag).
/// - `killed_backend_share`: responses from pods killed/deleted by the
///   timeline / all; `replacement_share`: from their replacements / all.
///   None when the run has no such pod.
/// - `restarts`: container restarts ([`PodRecord::restarts`]) of every pod
///   with `t_s` in `[from, to)` (by time, not by bucket).
/// - `min_ready`: the lowest Σ `ready_min` over deployments in any bucket;
///   None when no bucket of the window has deployment figures.
/// - `accept_queue_fill`: the highest `accept_queue_max / backlog` of any
///   pod in any bucket (pods without a listener, backlog 0, skipped); may
///   exceed 1 (Linux queues backlog + 1). None without such samples.
/// - `readiness_failures`, `liveness_failures`: Σ `failure + timeout` of
///   that probe kind over every pod.
/// - `time_to_recover_s`: seconds from `from` to the start of the first
///   bucket from which every bucket to the window's end is *fine* (sent > 0
///   and errors / sent under [`RECOVERED_ERROR_RATE`]); 0 when every bucket
///   is fine, None when the last one is not.
/// - `hpa_max_desired`: the highest `hpa_desired` of any deployment in any
///   bucket; None without autoscalers.
pub fn metric(record: &RunRecord, name: &str, window_s: [f64; 2]) -> Option<f64> {
    let [from, to] = window_s;
    if from.is_nan() || to.is_nan() || from >= to {
        return None;
    }
    let buckets: Vec<&Bucket> = window_buckets(record, window_s).collect();
    if buckets.is_empty() {
        return None;
    }
    match name {
        "new_backend_share" => group_share(record, &buckets, |b| b.added_by_last_scale_up),
        "new_backend_fair_ratio" => {
            let share = group_share(record, &buckets, |b| b.added_by_last_scale_up)?;
            let alive: Vec<&BackendInfo> = record
                .backends
                .iter()
                .filter(|b| b.alive_in(window_s))
                .collect();
            let new_alive = alive.iter().filter(|b| b.added_by_last_scale_up).count();
            if new_alive == 0 {
                return None;
            }
            Some(share / (new_alive as f64 / alive.len() as f64))
        }
        "jain_index" => jain_index(&through_counts(record, window_s, &buckets)),
        "cv" => cv(&through_counts(record, window_s, &buckets)),
        "max_min_ratio" => max_min_ratio(&through_counts(record, window_s, &buckets)),
        "error_rate" => {
            let attempts: u64 = buckets.iter().map(|b| b.client.attempts()).sum();
            let errors: u64 = buckets.iter().map(|b| b.client.error_count()).sum();
            (attempts > 0).then(|| errors as f64 / attempts as f64)
        }
        "errors" => Some(buckets.iter().map(|b| b.client.error_count()).sum::<u64>() as f64),
        "ok_rate" => {
            let covered = buckets.len() as f64 * record.bucket_s;
            let ok: u64 = buckets.iter().map(|b| b.client.ok).sum();
            (covered > 0.0).then(|| ok as f64 / covered)
        }
        "p99_ms" => buckets
            .iter()
            .filter(|b| b.client.ok + b.client.error_count() > 0)
            .map(|b| b.client.p99_ms)
            .reduce(f64::max),
        "killed_backend_share" => group_share(record, &buckets, |b| b.killed),
        "replacement_share" => group_share(record, &buckets, |b| b.replacement),
        "restarts" => Some(
            record
                .pods
                .iter()
                .flat_map(|p| &p.restarts)
                .filter(|r| r.t_s >= from && r.t_s < to)
                .count() as f64,
        ),
        "min_ready" => ready_per_bucket(buckets.iter().copied())
            .map(|(_, n)| n)
            .min()
            .map(f64::from),
        "accept_queue_fill" => buckets
            .iter()
            .flat_map(|b| b.pods.values())
            .filter(|p| p.backlog > 0)
            .map(|p| f64::from(p.accept_queue_max) / f64::from(p.backlog))
            .reduce(f64::max),
        "readiness_failures" => Some(probe_failures(&buckets, "readiness") as f64),
        "liveness_failures" => Some(probe_failures(&buckets, "liveness") as f64),
        "time_to_recover_s" => {
            let fine = |b: &&Bucket| {
                let sent = b.client.attempts();
                sent > 0 && (b.client.error_count() as f64 / sent as f64) < RECOVERED_ERROR_RATE
            };
            let first_fine = match buckets.iter().rposition(|b| !fine(b)) {
                None => return Some(0.0),
                Some(i) => buckets.get(i + 1)?,
            };
            Some(first_fine.t_s - from)
        }
        "hpa_max_desired" => buckets
            .iter()
            .flat_map(|b| b.deployments.values())
            .filter_map(|d| d.hpa_desired)
            .max()
            .map(f64::from),
        _ => None,
    }
}

/// Σ `ready_min` over deployments per bucket, skipping buckets without
/// deployment figures: (bucket start, ready pods).
pub fn ready_per_bucket<'a>(
    buckets: impl Iterator<Item = &'a Bucket>,
) -> impl Iterator<Item = (f64, u32)> {
    buckets
        .filter(|b| !b.deployments.is_empty())
        .map(|b| (b.t_s, b.deployments.values().map(|d| d.ready_min).sum()))
}

/// Failed and timed-out probes of `kind` over every pod in `buckets`.
fn probe_failures(buckets: &[&Bucket], kind: &str) -> u64 {
    buckets
        .iter()
        .flat_map(|b| b.pods.values())
        .filter_map(|p| p.probes.get(kind))
        .map(|p| u64::from(p.failure) + u64::from(p.timeout))
        .sum()
}

/// A restart reason without its detail: the text before the first `:`
/// ("liveness probe failed: timeout after 1s" → "liveness probe failed").
pub fn reason_kind(reason: &str) -> &str {
    let kind = reason.split(':').next().unwrap_or_default().trim();
    if kind.is_empty() { "unknown" } else { kind }
}

/// `pod`'s phases as intervals: each change lasts until the next one, the
/// pod's removal or `end_s`, whichever is first. Empty intervals are left out.
pub fn phase_spans(pod: &PodRecord, end_s: f64) -> Vec<PhaseSpan> {
    let stop = pod.removed_s.map_or(end_s, |r| r.min(end_s));
    pod.phases
        .iter()
        .enumerate()
        .filter_map(|(i, change)| {
            let next = pod.phases.get(i + 1).map_or(stop, |n| n.t_s.min(stop));
            (next > change.t_s).then_some(PhaseSpan {
                from: change.t_s,
                to: next,
                phase: change.phase,
            })
        })
        .collect()
}

/// Checks each spec against the record: measured is [`metric`] over the
/// spec's window; pass when it is defined and within `[min, max]`.
pub fn evaluate(record: &RunRecord, specs: &[ExpectationSpec]) -> Vec<ExpectationResult> {
    specs
        .iter()
        .map(|spec| {
            let measured = metric(record, &spec.metric, spec.window_s);
            let pass = measured.is_some_and(|m| {
                !m.is_nan()
                    && spec.min.is_none_or(|lo| m >= lo)
                    && spec.max.is_none_or(|hi| m <= hi)
            });
            ExpectationResult {
                metric: spec.metric.clone(),
                window_s: spec.window_s,
                min: spec.min,
                max: spec.max,
                measured,
                pass,
                note: spec.note.clone(),
            }
        })
        .collect()
}

/// The summary table's figures (see [`Summary`]).
pub fn summarize(record: &RunRecord) -> Summary {
    let end = record.end_s();
    let whole = record.whole_s();
    let mut errors_by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let (mut sent, mut ok, mut attempts) = (0, 0, 0);
    for bucket in &record.buckets {
        sent += bucket.client.sent;
        ok += bucket.client.ok;
        attempts += bucket.client.attempts();
        for (kind, n) in &bucket.client.errors {
            *errors_by_kind.entry(kind.clone()).or_default() += n;
        }
    }
    let errors: u64 = errors_by_kind.values().sum();
    let last_scale_up_s = record.last_scale_up_s();
    let imbalance_window_s = match last_scale_up_s {
        Some(t) if t < end => [t, end],
        _ => whole,
    };
    let after_scale_up = last_scale_up_s.map(|t| [t, end]);
    let last_timeline_event_s = record
        .events
        .iter()
        .filter(|e| e.timeline)
        .map(|e| e.t_s)
        .reduce(f64::max);
    let mut restarts_by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for r in record.pods.iter().flat_map(|p| &p.restarts) {
        *restarts_by_reason
            .entry(reason_kind(&r.reason).to_string())
            .or_default() += 1;
    }
    let mut hpa_desired: BTreeMap<String, [u32; 2]> = BTreeMap::new();
    for (name, d) in record.buckets.iter().flat_map(|b| &b.deployments) {
        if let Some(n) = d.hpa_desired {
            let range = hpa_desired.entry(name.clone()).or_insert([n, n]);
            range[0] = range[0].min(n);
            range[1] = range[1].max(n);
        }
    }
    Summary {
        sent,
        ok,
        errors,
        errors_by_kind,
        error_rate: (attempts > 0).then(|| errors as f64 / attempts as f64),
        responses: responses(record, whole).values().sum(),
        share: shares(record, whole),
        imbalance_window_s,
        max_min_ratio: metric(record, "max_min_ratio", imbalance_window_s),
        cv: metric(record, "cv", imbalance_window_s),
        jain_index: metric(record, "jain_index", imbalance_window_s),
        last_scale_up_s,
        new_backend_share: after_scale_up.and_then(|w| metric(record, "new_backend_share", w)),
        new_backend_fair_ratio: after_scale_up
            .and_then(|w| metric(record, "new_backend_fair_ratio", w)),
        last_timeline_event_s,
        time_to_recover_s: last_timeline_event_s.and_then(|t| time_to_recover(record, t)),
        restarts: restarts_by_reason.values().sum(),
        restarts_by_reason,
        min_ready: ready_per_bucket(record.buckets.iter())
            .reduce(|lo, x| if x.1 < lo.1 { x } else { lo })
            .map(|(t, n)| (n, t)),
        hpa_desired,
    }
}

/// Jain's fairness index of `xs`; None when empty or all zero.
pub fn jain_index(xs: &[f64]) -> Option<f64> {
    let sum: f64 = xs.iter().sum();
    let sum_sq: f64 = xs.iter().map(|x| x * x).sum();
    (!xs.is_empty() && sum_sq > 0.0).then(|| sum * sum / (xs.len() as f64 * sum_sq))
}

/// Coefficient of variation (population standard deviation / mean); None
/// when empty or the mean is zero.
pub fn cv(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if mean <= 0.0 {
        return None;
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    Some(var.sqrt() / mean)
}

/// max / min; None when empty or all zero, `f64::INFINITY` when the minimum
/// alone is zero.
pub fn max_min_ratio(xs: &[f64]) -> Option<f64> {
    let max = xs.iter().copied().reduce(f64::max)?;
    let min = xs.iter().copied().reduce(f64::min)?;
    if max <= 0.0 {
        None
    } else if min <= 0.0 {
        Some(f64::INFINITY)
    } else {
        Some(max / min)
    }
}

/// Responses of `pred` backends / all responses in `buckets`; None when no
/// backend matches `pred` or nothing was served.
fn group_share(
    record: &RunRecord,
    buckets: &[&Bucket],
    pred: impl Fn(&BackendInfo) -> bool,
) -> Option<f64> {
    let group: Vec<&str> = record
        .backends
        .iter()
        .filter(|b| pred(b))
        .map(|b| b.name.as_str())
        .collect();
    if group.is_empty() {
        return None;
    }
    let (mut in_group, mut total) = (0u64, 0u64);
    for bucket in buckets {
        for (name, b) in &bucket.backends {
            total += b.responses;
            if group.contains(&name.as_str()) {
                in_group += b.responses;
            }
        }
    }
    (total > 0).then(|| in_group as f64 / total as f64)
}

/// Responses of each backend alive through `window`, in record order.
fn through_counts(record: &RunRecord, window: [f64; 2], buckets: &[&Bucket]) -> Vec<f64> {
    record
        .backends
        .iter()
        .filter(|b| b.alive_through(window))
        .map(|b| {
            buckets
                .iter()
                .filter_map(|bucket| bucket.backends.get(&b.name))
                .map(|x| x.responses)
                .sum::<u64>() as f64
        })
        .collect()
}

/// See [`Summary::time_to_recover_s`]. Buckets from the one containing
/// `event_s` on are considered.
fn time_to_recover(record: &RunRecord, event_s: f64) -> Option<f64> {
    let after: Vec<&Bucket> = record
        .buckets
        .iter()
        .filter(|b| b.t_s + record.bucket_s > event_s)
        .collect();
    let clean = |b: &Bucket| {
        let errors = b.client.error_count();
        let attempts = b.client.attempts();
        if attempts == 0 {
            errors == 0
        } else {
            (errors as f64 / attempts as f64) < RECOVERED_ERROR_RATE
        }
    };
    let dirty_tail = after.iter().rposition(|b| !clean(b));
    let first_clean = match dirty_tail {
        None => after.first()?,
        Some(i) => after.get(i + 1)?,
    };
    Some((first_clean.t_s - event_s).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BackendBucket, Event};
    use crate::sample::empty_record;

    /// A backend alive in `[created, removed)`.
    fn backend(name: &str, created: f64, removed: Option<f64>) -> BackendInfo {
        BackendInfo {
            name: name.into(),
            addr: format!("198.18.0.{}:8080", name.len()),
            deployment: "web".into(),
            node: 0,
            created_s: created,
            removed_s: removed,
            added_by_last_scale_up: false,
            killed: false,
            replacement: false,
        }
    }

    /// Record with 1 s buckets at t = 0..n, each with `responses` per backend
    /// and client `sent`/`ok` equal to the bucket's total responses.
    fn record(backends: Vec<BackendInfo>, per_bucket: &[&[(&str, u64)]]) -> RunRecord {
        let mut rec = empty_record();
        rec.backends = backends;
        rec.buckets = per_bucket
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let mut b = Bucket {
                    t_s: i as f64,
                    ..Bucket::default()
                };
                for (name, n) in row.iter() {
                    b.backends.insert(
                        (*name).into(),
                        BackendBucket {
                            responses: *n,
                            new_conns: *n,
                            ct_entries: 0,
                        },
                    );
                    b.client.sent += n;
                    b.client.ok += n;
                }
                b
            })
            .collect();
        rec.elapsed_s = per_bucket.len() as f64;
        rec
    }

    /// Two old backends, two new ones (created at 2): 4 buckets.
    fn scaled() -> RunRecord {
        let mut c = backend("c", 2.0, None);
        c.added_by_last_scale_up = true;
        let mut d = backend("d", 2.0, None);
        d.added_by_last_scale_up = true;
        record(
            vec![backend("a", 0.0, None), backend("b", 0.0, None), c, d],
            &[
                &[("a", 50), ("b", 50)],
                &[("a", 50), ("b", 50)],
                &[("a", 45), ("b", 45), ("c", 5), ("d", 5)],
                &[("a", 40), ("b", 40), ("c", 10), ("d", 10)],
            ],
        )
    }

    fn close(a: Option<f64>, b: f64) {
        let a = a.unwrap_or_else(|| panic!("expected Some({b}), got None"));
        assert!((a - b).abs() < 1e-9, "expected {b}, got {a}");
    }

    #[test]
    fn every_metric_name_is_known() {
        // A record on which every metric is defined: a scale-up, a killed
        // backend, a replacement, and pod and deployment telemetry with an
        // autoscaler.
        let mut rec = scaled();
        rec.backends[0].killed = true;
        rec.backends[2].replacement = true;
        for b in &mut rec.buckets {
            b.pods.insert("a".into(), pod_bucket(3, 8, &[]));
            b.deployments
                .insert("web".into(), deployment(4, 4, Some(4)));
        }
        for name in METRICS {
            assert!(
                metric(&rec, name, [0.0, 4.0]).is_some(),
                "{name} is not computed"
            );
        }
        assert_eq!(metric(&rec, "no_such_metric", [0.0, 4.0]), None);
    }

    #[test]
    fn new_backend_share_counts_flagged_backends() {
        let rec = scaled();
        close(metric(&rec, "new_backend_share", [2.0, 4.0]), 30.0 / 200.0);
        close(metric(&rec, "new_backend_share", [0.0, 4.0]), 30.0 / 400.0);
        close(metric(&rec, "new_backend_share", [0.0, 2.0]), 0.0);
    }

    #[test]
    fn window_selects_buckets_by_start_half_open() {
        let rec = scaled();
        // [2, 3) holds only the bucket starting at 2.
        close(metric(&rec, "new_backend_share", [2.0, 3.0]), 10.0 / 100.0);
        // A window starting mid-bucket skips that bucket.
        close(metric(&rec, "new_backend_share", [1.5, 4.0]), 30.0 / 200.0);
    }

    #[test]
    fn new_backend_share_undefined_without_scale_up() {
        let rec = record(vec![backend("a", 0.0, None)], &[&[("a", 10)]]);
        assert_eq!(metric(&rec, "new_backend_share", [0.0, 1.0]), None);
        assert_eq!(metric(&rec, "new_backend_fair_ratio", [0.0, 1.0]), None);
    }

    #[test]
    fn fair_ratio_divides_by_fair_share() {
        let rec = scaled();
        // 2 of 4 backends alive in [2, 4) are new: fair share 0.5.
        close(
            metric(&rec, "new_backend_fair_ratio", [2.0, 4.0]),
            0.15 / 0.5,
        );
        // Before the scale-up no new backend is alive: undefined.
        assert_eq!(metric(&rec, "new_backend_fair_ratio", [0.0, 2.0]), None);
    }

    #[test]
    fn jain_cv_max_min_over_backends_alive_through_window() {
        let rec = scaled();
        // Whole run: c and d were created at 2, so only a and b count: even.
        close(metric(&rec, "jain_index", [0.0, 4.0]), 1.0);
        close(metric(&rec, "cv", [0.0, 4.0]), 0.0);
        close(metric(&rec, "max_min_ratio", [0.0, 4.0]), 1.0);
        // After the scale-up: x = [85, 85, 15, 15].
        let xs = [85.0, 85.0, 15.0, 15.0];
        let jain = 200.0_f64.powi(2) / (4.0 * xs.iter().map(|x| x * x).sum::<f64>());
        close(metric(&rec, "jain_index", [2.0, 4.0]), jain);
        close(metric(&rec, "cv", [2.0, 4.0]), 35.0 / 50.0);
        close(metric(&rec, "max_min_ratio", [2.0, 4.0]), 85.0 / 15.0);
    }

    #[test]
    fn backend_removed_mid_window_is_left_out() {
        let rec = record(
            vec![
                backend("a", 0.0, None),
                backend("b", 0.0, None),
                backend("k", 0.0, Some(2.0)),
            ],
            &[
                &[("a", 10), ("b", 10), ("k", 10)],
                &[("a", 10), ("b", 10), ("k", 10)],
                &[("a", 15), ("b", 15)],
                &[("a", 15), ("b", 15)],
            ],
        );
        // k was removed at 2: not alive through [0, 4), so the figures are
        // over a and b only (which are even).
        close(metric(&rec, "jain_index", [0.0, 4.0]), 1.0);
        close(metric(&rec, "max_min_ratio", [0.0, 4.0]), 1.0);
        // Through [0, 2) it was alive: three even backends.
        close(metric(&rec, "jain_index", [0.0, 2.0]), 1.0);
        // Shares still count k's responses.
        let s = shares(&rec, [0.0, 4.0]);
        close(s.get("k").copied(), 20.0 / 120.0);
    }

    #[test]
    fn max_min_ratio_is_infinite_when_a_backend_starves() {
        let rec = record(
            vec![backend("a", 0.0, None), backend("b", 0.0, None)],
            &[&[("a", 10)]],
        );
        assert_eq!(
            metric(&rec, "max_min_ratio", [0.0, 1.0]),
            Some(f64::INFINITY)
        );
        close(metric(&rec, "jain_index", [0.0, 1.0]), 0.5);
        close(metric(&rec, "cv", [0.0, 1.0]), 1.0);
    }

    #[test]
    fn zero_responses_make_share_metrics_undefined() {
        let mut rec = scaled();
        for b in &mut rec.buckets {
            b.backends.clear();
        }
        for name in [
            "new_backend_share",
            "new_backend_fair_ratio",
            "jain_index",
            "cv",
            "max_min_ratio",
        ] {
            assert_eq!(metric(&rec, name, [0.0, 4.0]), None, "{name}");
        }
        assert!(shares(&rec, [0.0, 4.0]).is_empty());
    }

    #[test]
    fn empty_window_is_undefined() {
        let rec = scaled();
        for name in METRICS {
            assert_eq!(
                metric(&rec, name, [10.0, 20.0]),
                None,
                "{name} past the end"
            );
            assert_eq!(metric(&rec, name, [3.0, 3.0]), None, "{name} zero-length");
            assert_eq!(metric(&rec, name, [3.0, 1.0]), None, "{name} inverted");
        }
        assert!(shares(&rec, [10.0, 20.0]).is_empty());
    }

    #[test]
    fn error_rate_errors_ok_rate() {
        let mut rec = scaled();
        rec.buckets[1].client.errors.insert("reset".into(), 10);
        rec.buckets[1].client.ok -= 10;
        rec.buckets[2].client.errors.insert("overload".into(), 100);
        rec.buckets[2].client.ok -= 100;
        // Sent [1, 3) = 200, of which 110 failed (overload counts as sent).
        close(metric(&rec, "error_rate", [1.0, 3.0]), 110.0 / 200.0);
        close(metric(&rec, "errors", [1.0, 3.0]), 110.0);
        close(metric(&rec, "errors", [3.0, 4.0]), 0.0);
        close(metric(&rec, "error_rate", [3.0, 4.0]), 0.0);
        close(metric(&rec, "ok_rate", [0.0, 4.0]), (400.0 - 110.0) / 4.0);
        // The window runs past the recorded data: divide by covered time.
        close(metric(&rec, "ok_rate", [2.0, 100.0]), 100.0 / 2.0);
    }

    #[test]
    fn error_rate_undefined_when_nothing_was_attempted() {
        let mut rec = scaled();
        for b in &mut rec.buckets {
            b.client = Default::default();
        }
        assert_eq!(metric(&rec, "error_rate", [0.0, 4.0]), None);
        close(metric(&rec, "errors", [0.0, 4.0]), 0.0);
        close(metric(&rec, "ok_rate", [0.0, 4.0]), 0.0);
        assert_eq!(metric(&rec, "p99_ms", [0.0, 4.0]), None);
    }

    #[test]
    fn p99_is_the_worst_bucket() {
        let mut rec = scaled();
        for (b, p99) in rec.buckets.iter_mut().zip([1.0, 7.5, 2.0, 3.0]) {
            b.client.p99_ms = p99;
        }
        close(metric(&rec, "p99_ms", [0.0, 4.0]), 7.5);
        close(metric(&rec, "p99_ms", [2.0, 4.0]), 3.0);
    }

    #[test]
    fn killed_and_replacement_shares() {
        let mut k = backend("k", 0.0, Some(2.0));
        k.killed = true;
        let mut r = backend("r", 2.0, None);
        r.replacement = true;
        let rec = record(
            vec![backend("a", 0.0, None), k, r],
            &[
                &[("a", 10), ("k", 10)],
                &[("a", 10), ("k", 10)],
                &[("a", 10), ("r", 5), ("k", 5)],
                &[("a", 10), ("r", 10)],
            ],
        );
        close(
            metric(&rec, "killed_backend_share", [0.0, 4.0]),
            25.0 / 80.0,
        );
        close(metric(&rec, "replacement_share", [0.0, 4.0]), 15.0 / 80.0);
        close(metric(&rec, "killed_backend_share", [3.0, 4.0]), 0.0);
        let plain = record(vec![backend("a", 0.0, None)], &[&[("a", 1)]]);
        assert_eq!(metric(&plain, "killed_backend_share", [0.0, 1.0]), None);
        assert_eq!(metric(&plain, "replacement_share", [0.0, 1.0]), None);
    }

    #[test]
    fn evaluate_checks_bounds_and_fails_undefined() {
        let rec = scaled();
        let spec = |metric: &str, min: Option<f64>, max: Option<f64>| ExpectationSpec {
            metric: metric.into(),
            window_s: [2.0, 4.0],
            min,
            max,
            note: "n".into(),
        };
        let results = evaluate(
            &rec,
            &[
                spec("new_backend_share", Some(0.1), None),
                spec("new_backend_share", Some(0.4), None),
                spec("error_rate", None, Some(0.01)),
                spec("jain_index", Some(0.9), Some(1.0)),
                spec("killed_backend_share", None, Some(1.0)),
                // Bounds are inclusive.
                spec("errors", Some(0.0), Some(0.0)),
            ],
        );
        let pass: Vec<bool> = results.iter().map(|r| r.pass).collect();
        assert_eq!(pass, [true, false, true, false, false, true]);
        assert_eq!(results[4].measured, None);
        assert_eq!(results[0].note, "n");
        assert_eq!(results[0].window_s, [2.0, 4.0]);
    }

    #[test]
    fn summary_totals_and_imbalance_after_scale_up() {
        let mut rec = scaled();
        rec.buckets[0].client.errors.insert("reset".into(), 3);
        let s = summarize(&rec);
        assert_eq!((s.sent, s.ok, s.errors, s.responses), (400, 400, 3, 400));
        assert_eq!(s.errors_by_kind.get("reset"), Some(&3));
        assert_eq!(s.last_scale_up_s, Some(2.0));
        assert_eq!(s.imbalance_window_s, [2.0, 4.0]);
        close(s.new_backend_share, 0.15);
        close(s.new_backend_fair_ratio, 0.3);
        close(s.max_min_ratio, 85.0 / 15.0);
        close(s.share.get("a").copied(), 185.0 / 400.0);
        assert_eq!(s.time_to_recover_s, None, "no timeline event");
    }

    fn with_event(mut rec: RunRecord, t: f64) -> RunRecord {
        rec.events.push(Event {
            t_s: t,
            kind: "scale".into(),
            detail: "scale web 2 → 4".into(),
            timeline: true,
        });
        rec.events.push(Event {
            t_s: t + 0.5,
            kind: "pod_ready".into(),
            detail: "c ready".into(),
            timeline: false,
        });
        rec
    }

    #[test]
    fn time_to_recover_after_last_timeline_event() {
        let mut rec = with_event(scaled(), 1.5);
        // The bucket containing the event and the next are bad.
        rec.buckets[1].client.errors.insert("reset".into(), 5);
        rec.buckets[2].client.errors.insert("refused".into(), 5);
        close(summarize(&rec).time_to_recover_s, 3.0 - 1.5);
        // Under 1 % counts as recovered.
        rec.buckets[2].client.errors.insert("refused".into(), 0);
        close(summarize(&rec).time_to_recover_s, 2.0 - 1.5);
    }

    #[test]
    fn time_to_recover_zero_when_clean_and_none_when_never() {
        let mut rec = with_event(scaled(), 1.5);
        close(summarize(&rec).time_to_recover_s, 0.0);
        rec.buckets[3].client.errors.insert("timeout".into(), 50);
        assert_eq!(summarize(&rec).time_to_recover_s, None);
    }

    // ------------------------------------------------------- pod metrics

    use crate::record::{DeploymentBucket, PhaseChange, PodBucket, ProbeBucket, Restart};

    fn pod(name: &str, restarts: &[(f64, &str)]) -> PodRecord {
        PodRecord {
            name: name.into(),
            deployment: "web".into(),
            node: 0,
            ip: "198.18.0.10".into(),
            created_s: 0.0,
            removed_s: None,
            phases: vec![PhaseChange {
                t_s: 0.0,
                phase: PodPhase::Ready,
            }],
            restarts: restarts
                .iter()
                .enumerate()
                .map(|(i, (t, reason))| Restart {
                    t_s: *t,
                    count: i as u32 + 1,
                    reason: (*reason).into(),
                })
                .collect(),
            backlog: 8,
            workers: 2,
        }
    }

    /// A pod's bucket with this accept queue and backlog, and probe
    /// outcomes (kind, success, failure, timeout).
    fn pod_bucket(queue: u32, backlog: u32, probes: &[(&str, u32, u32, u32)]) -> PodBucket {
        PodBucket {
            phase: PodPhase::Ready,
            accept_queue_max: queue,
            backlog,
            probes: probes
                .iter()
                .map(|(kind, success, failure, timeout)| {
                    (
                        (*kind).to_string(),
                        ProbeBucket {
                            success: *success,
                            failure: *failure,
                            timeout: *timeout,
                            ..ProbeBucket::default()
                        },
                    )
                })
                .collect(),
            ..PodBucket::default()
        }
    }

    fn deployment(desired: u32, ready_min: u32, hpa: Option<u32>) -> DeploymentBucket {
        DeploymentBucket {
            desired,
            pods: desired,
            ready: ready_min,
            ready_min,
            hpa_desired: hpa,
            hpa_metric: hpa.map(|_| 0.5),
        }
    }

    /// Four 1 s buckets of 100 requests each, no pod telemetry.
    fn plain() -> RunRecord {
        record(
            vec![backend("a", 0.0, None)],
            &[&[("a", 100)], &[("a", 100)], &[("a", 100)], &[("a", 100)]],
        )
    }

    #[test]
    fn restarts_count_by_time_in_the_half_open_window() {
        let mut rec = plain();
        rec.pods = vec![
            pod("a", &[(0.5, "liveness probe failed: timeout"), (2.0, "x")]),
            pod("b", &[(3.99, "startup probe failed: timeout")]),
            // At the window's end: not in it.
            pod("c", &[(4.0, "container exited: code 1")]),
        ];
        close(metric(&rec, "restarts", [0.0, 4.0]), 3.0);
        close(metric(&rec, "restarts", [0.0, 2.0]), 1.0);
        close(metric(&rec, "restarts", [2.0, 3.0]), 1.0);
        close(metric(&rec, "restarts", [0.6, 1.9]), 0.0);
        // No pods (schema 1): none counted.
        close(metric(&plain(), "restarts", [0.0, 4.0]), 0.0);
    }

    #[test]
    fn min_ready_sums_deployments_and_skips_buckets_without_them() {
        let mut rec = plain();
        assert_eq!(metric(&rec, "min_ready", [0.0, 4.0]), None, "no telemetry");
        for (b, (web, api)) in rec.buckets.iter_mut().zip([(3, 2), (2, 2), (3, 0)]) {
            b.deployments.insert("web".into(), deployment(3, web, None));
            b.deployments.insert("api".into(), deployment(2, api, None));
        }
        // The fourth bucket has no deployment figures: skipped, not 0.
        close(metric(&rec, "min_ready", [0.0, 4.0]), 3.0);
        close(metric(&rec, "min_ready", [0.0, 2.0]), 4.0);
        assert_eq!(metric(&rec, "min_ready", [3.0, 4.0]), None);
        let s = summarize(&rec);
        assert_eq!(s.min_ready, Some((3, 2.0)), "first bucket at the minimum");
    }

    #[test]
    fn accept_queue_fill_is_the_fullest_pod_bucket() {
        let mut rec = plain();
        assert_eq!(metric(&rec, "accept_queue_fill", [0.0, 4.0]), None);
        rec.buckets[0]
            .pods
            .insert("a".into(), pod_bucket(2, 8, &[]));
        rec.buckets[1]
            .pods
            .insert("a".into(), pod_bucket(6, 8, &[]));
        rec.buckets[1]
            .pods
            .insert("b".into(), pod_bucket(3, 4, &[]));
        // No listener seen: skipped although its queue reads high.
        rec.buckets[2]
            .pods
            .insert("a".into(), pod_bucket(50, 0, &[]));
        // Linux queues one past the backlog.
        rec.buckets[3]
            .pods
            .insert("b".into(), pod_bucket(5, 4, &[]));
        close(metric(&rec, "accept_queue_fill", [0.0, 3.0]), 0.75);
        close(metric(&rec, "accept_queue_fill", [0.0, 4.0]), 1.25);
        assert_eq!(metric(&rec, "accept_queue_fill", [2.0, 3.0]), None);
    }

    #[test]
    fn probe_failures_count_failures_and_timeouts_per_kind() {
        let mut rec = plain();
        close(metric(&rec, "liveness_failures", [0.0, 4.0]), 0.0);
        rec.buckets[0].pods.insert(
            "a".into(),
            pod_bucket(0, 8, &[("readiness", 1, 1, 0), ("liveness", 1, 0, 2)]),
        );
        rec.buckets[1].pods.insert(
            "a".into(),
            pod_bucket(0, 8, &[("readiness", 0, 0, 3), ("startup", 0, 5, 5)]),
        );
        rec.buckets[1]
            .pods
            .insert("b".into(), pod_bucket(0, 8, &[("liveness", 0, 1, 0)]));
        close(metric(&rec, "readiness_failures", [0.0, 4.0]), 4.0);
        close(metric(&rec, "liveness_failures", [0.0, 4.0]), 3.0);
        close(metric(&rec, "liveness_failures", [1.0, 4.0]), 1.0);
        close(metric(&rec, "readiness_failures", [2.0, 4.0]), 0.0);
    }

    #[test]
    fn time_to_recover_metric_over_its_window() {
        let mut rec = plain();
        close(metric(&rec, "time_to_recover_s", [0.0, 4.0]), 0.0);
        // Even from mid-bucket: every bucket in the window is fine.
        close(metric(&rec, "time_to_recover_s", [0.5, 4.0]), 0.0);
        rec.buckets[1].client.errors.insert("reset".into(), 50);
        rec.buckets[2].client.errors.insert("timeout".into(), 5);
        close(metric(&rec, "time_to_recover_s", [0.0, 4.0]), 3.0);
        close(metric(&rec, "time_to_recover_s", [1.5, 4.0]), 1.5);
        // Under 1 % is fine.
        rec.buckets[2].client.errors.insert("timeout".into(), 0);
        close(metric(&rec, "time_to_recover_s", [0.0, 4.0]), 2.0);
        // A window ending on a bad bucket never recovered.
        assert_eq!(metric(&rec, "time_to_recover_s", [0.0, 2.0]), None);
        // Nothing sent is not fine (the client gave up, or nothing ran).
        rec.buckets[3].client = Default::default();
        assert_eq!(metric(&rec, "time_to_recover_s", [0.0, 4.0]), None);
    }

    #[test]
    fn hpa_max_desired_over_deployments() {
        let mut rec = plain();
        assert_eq!(metric(&rec, "hpa_max_desired", [0.0, 4.0]), None);
        for (b, hpa) in rec
            .buckets
            .iter_mut()
            .zip([Some(3), Some(5), None, Some(4)])
        {
            b.deployments.insert("web".into(), deployment(3, 3, hpa));
            b.deployments.insert("db".into(), deployment(1, 1, None));
        }
        close(metric(&rec, "hpa_max_desired", [0.0, 4.0]), 5.0);
        close(metric(&rec, "hpa_max_desired", [2.0, 4.0]), 4.0);
        assert_eq!(metric(&rec, "hpa_max_desired", [2.0, 3.0]), None);
        assert_eq!(
            summarize(&rec).hpa_desired,
            BTreeMap::from([("web".to_string(), [3, 5])])
        );
    }

    #[test]
    fn summary_counts_restarts_by_kind_of_reason() {
        let mut rec = plain();
        let s = summarize(&rec);
        assert_eq!((s.restarts, s.min_ready), (0, None));
        assert!(s.restarts_by_reason.is_empty() && s.hpa_desired.is_empty());
        rec.pods = vec![
            pod(
                "a",
                &[
                    (1.0, "liveness probe failed: timeout after 1s"),
                    (
                        2.0,
                        "liveness probe failed: HTTP probe failed with statuscode: 500",
                    ),
                ],
            ),
            pod(
                "b",
                &[
                    (1.5, "startup probe failed: timeout after 1s"),
                    // After the last bucket: the whole run still counts it.
                    (9.0, "container exited: code 137"),
                    (9.5, ""),
                ],
            ),
        ];
        let s = summarize(&rec);
        assert_eq!(s.restarts, 5);
        let by: Vec<(&str, u64)> = s
            .restarts_by_reason
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            by,
            [
                ("container exited", 1),
                ("liveness probe failed", 2),
                ("startup probe failed", 1),
                ("unknown", 1),
            ]
        );
    }

    #[test]
    fn phase_spans_end_at_the_next_change_removal_or_end() {
        let mut p = pod("a", &[]);
        p.phases = [
            (1.0, PodPhase::Pending),
            (2.0, PodPhase::Running),
            (2.0, PodPhase::Ready),
            (5.0, PodPhase::Terminating),
            (9.0, PodPhase::BackOff),
        ]
        .into_iter()
        .map(|(t_s, phase)| PhaseChange { t_s, phase })
        .collect();
        let spans = |p: &PodRecord, end: f64| -> Vec<(f64, f64, PodPhase)> {
            phase_spans(p, end)
                .into_iter()
                .map(|s| (s.from, s.to, s.phase))
                .collect()
        };
        assert_eq!(
            spans(&p, 10.0),
            [
                (1.0, 2.0, PodPhase::Pending),
                (2.0, 5.0, PodPhase::Ready),
                (5.0, 9.0, PodPhase::Terminating),
                (9.0, 10.0, PodPhase::BackOff),
            ]
        );
        p.removed_s = Some(6.0);
        assert_eq!(
            spans(&p, 10.0).last(),
            Some(&(5.0, 6.0, PodPhase::Terminating))
        );
        assert_eq!(spans(&p, 3.0).len(), 2, "cut at the end of the run");
    }

    #[test]
    fn reason_kind_strips_the_detail() {
        assert_eq!(
            reason_kind("liveness probe failed: timeout after 1s"),
            "liveness probe failed"
        );
        assert_eq!(reason_kind("OOMKilled"), "OOMKilled");
        assert_eq!(reason_kind(" : x"), "unknown");
    }

    #[test]
    fn backends_seen_only_in_buckets_are_kept() {
        let rec = record(vec![backend("a", 0.0, None)], &[&[("a", 1), ("ghost", 3)]]);
        let s = shares(&rec, [0.0, 1.0]);
        close(s.get("ghost").copied(), 0.75);
        assert_eq!(rec.backend_names(), ["a", "ghost"]);
    }
}
