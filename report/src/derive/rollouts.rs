//! Rollout metrics: how long rollouts took, the client errors while they
//! ran, and the connections the datapath still sent to pods after their
//! SIGTERM. A rollout runs from its start to the later of Kubernetes'
//! completion and its last old pod's removal (errors from old pods that
//! are still going count); unfinished, to the end of the run.
use crate::record::{RolloutRecord, RunRecord};

/// When `r` ends (see the module docs), clamped to the run.
#[must_use]
pub fn rollout_end(record: &RunRecord, r: &RolloutRecord) -> f64 {
    match (r.complete_s, r.old_gone_s) {
        (Some(c), Some(g)) => c.max(g),
        _ => record.duration_s,
    }
}

/// One of `errors_during_rollout`, `rollout_duration_s`,
/// `requests_to_terminating` over `[from, to)`; None when the name is not
/// one of them, or there is no rollout (no SIGTERM) in the window.
#[must_use]
pub fn metric(record: &RunRecord, name: &str, [from, to]: [f64; 2]) -> Option<f64> {
    let in_window = || {
        record
            .rollouts
            .iter()
            .filter(move |r| r.start_s >= from && r.start_s < to)
    };
    match name {
        "rollout_duration_s" => in_window()
            .map(|r| r.complete_s.map(|c| c - r.start_s))
            .try_fold(None::<f64>, |m, d| {
                d.map(|d| Some(m.map_or(d, |m| m.max(d))))
            })?,
        "errors_during_rollout" => {
            let spans: Vec<(f64, f64)> = in_window()
                .map(|r| (r.start_s, rollout_end(record, r)))
                .collect();
            if spans.is_empty() {
                return None;
            }
            let b = record.bucket_s;
            let errors: u64 = record
                .buckets
                .iter()
                .filter(|k| k.t_s >= from && k.t_s < to)
                .filter(|k| spans.iter().any(|&(s, e)| k.t_s < e && k.t_s + b > s))
                .map(|k| k.client.error_count())
                .sum();
            Some(errors as f64)
        }
        "requests_to_terminating" => {
            let mut any = false;
            let n: u64 = record
                .backends
                .iter()
                .filter(|b| b.sigterm_s.is_some_and(|t| t >= from && t < to))
                .inspect(|_| any = true)
                .map(|b| b.conns_after_sigterm)
                .sum();
            any.then_some(n as f64)
        }
        _ => None,
    }
}
