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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        record::{BackendInfo, Bucket},
        sample::empty_record,
    };

    fn record() -> RunRecord {
        let mut r = empty_record();
        r.duration_s = 10.0;
        r.buckets = (0..10)
            .map(|i| {
                let mut b = Bucket {
                    t_s: f64::from(i),
                    ..Bucket::default()
                };
                // One error in every bucket.
                b.client.errors.insert("reset".into(), 1);
                b
            })
            .collect();
        r.rollouts.push(RolloutRecord {
            deployment: "web".into(),
            revision: 2,
            strategy: "RollingUpdate".into(),
            start_s: 2.5,
            complete_s: Some(5.2),
            old_gone_s: Some(6.1),
            steps: Vec::new(),
        });
        r.backends.push(BackendInfo {
            name: "web-0".into(),
            addr: "198.18.0.2:8080".into(),
            deployment: "web".into(),
            node: 0,
            created_s: 0.0,
            removed_s: Some(6.1),
            added_by_last_scale_up: false,
            killed: false,
            replacement: false,
            revision: 1,
            sigterm_s: Some(6.0),
            conns_after_sigterm: 7,
        });
        r
    }

    #[test]
    fn a_rollout_runs_to_its_last_old_pod_and_counts_the_buckets_it_overlaps() {
        let r = record();
        // Buckets 2..=6 overlap [2.5, 6.1].
        assert_eq!(metric(&r, "errors_during_rollout", [0.0, 10.0]), Some(5.0));
        let d = metric(&r, "rollout_duration_s", [0.0, 10.0]).expect("defined");
        assert!((d - 2.7).abs() < 1e-9, "{d}");
        assert_eq!(
            metric(&r, "requests_to_terminating", [0.0, 10.0]),
            Some(7.0)
        );
        // Windows without a rollout or a SIGTERM leave them undefined.
        assert_eq!(metric(&r, "errors_during_rollout", [3.0, 10.0]), None);
        assert_eq!(metric(&r, "requests_to_terminating", [0.0, 5.0]), None);
    }

    #[test]
    fn an_unfinished_rollout_has_no_duration_and_runs_to_the_end() {
        let mut r = record();
        r.rollouts[0].complete_s = None;
        assert_eq!(metric(&r, "rollout_duration_s", [0.0, 10.0]), None);
        assert_eq!(metric(&r, "errors_during_rollout", [0.0, 10.0]), Some(8.0));
    }
}
