//! Derived figures: pure functions of a [`RunRecord`], so a report can be
//! re-rendered (and an expectation re-checked) from `run.json` alone.
//!
//! Conventions shared by every function here:
//! - A window `[from, to]` selects the buckets whose *start* lies in
//!   `[from, to)`; an empty selection makes every metric undefined (None).
//! - Shares count what [`RunRecord::share_basis`] says: responses seen by
//!   clients (the pod's `X-Pod`), or, when the backends do not name
//!   themselves, the datapath's new connections per backend.
//!   `new_backend_conn_share` always counts the datapath's.
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
            *out.entry(name.clone()).or_default() += b.share_count(record.share_basis);
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
/// - `new_backend_conn_share`: the same over the datapath's new connections
///   (whatever `share_basis` is): who the client is does not matter.
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
/// - `errors_during_rollout`, `rollout_duration_s`,
///   `requests_to_terminating`: see [`rollouts`].
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
        "new_backend_conn_share" => {
            let mut conns = record.clone();
            conns.share_basis = crate::record::ShareBasis::Connections;
            group_share(&conns, &buckets, |b| b.added_by_last_scale_up)
        }
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
        "source_ip_kept_share" => {
            let ok: u64 = buckets.iter().map(|b| b.client.ok).sum();
            let kept: u64 = buckets.iter().map(|b| b.client.source_kept).sum();
            (ok > 0).then(|| kept as f64 / ok as f64)
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
        "errors_during_rollout" | "rollout_duration_s" | "requests_to_terminating" => {
            rollouts::metric(record, name, window_s)
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

/// Metrics counted at their records' exact times, not per bucket.
const EXACT_TIME_METRICS: [&str; 3] = ["restarts", "rollout_duration_s", "requests_to_terminating"];

/// The span `window_s`'s buckets cover, when it is not `window_s` itself
/// (an edge inside a bucket) and `metric` is counted per bucket.
#[must_use]
pub fn covered_span(record: &RunRecord, metric: &str, window_s: [f64; 2]) -> Option<[f64; 2]> {
    if EXACT_TIME_METRICS.contains(&metric) {
        return None;
    }
    let mut buckets = window_buckets(record, window_s);
    let first = buckets.next()?.t_s;
    let last = buckets.last().map_or(first, |b| b.t_s);
    // The run's end closes its last bucket, whole or not (as the suite's
    // `window_edge_warnings` counts it).
    let end = (last + record.bucket_s).min(record.duration_s.max(first));
    let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
    (!(close(first, window_s[0]) && close(end, window_s[1]))).then_some([first, end])
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
                covered_s: covered_span(record, &spec.metric, spec.window_s),
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
            let n = b.share_count(record.share_basis);
            total += n;
            if group.contains(&name.as_str()) {
                in_group += n;
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
                .map(|x| x.share_count(record.share_basis))
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

pub mod faults;
pub mod mechanism;
pub mod rollouts;
#[cfg(test)]
mod tests;
