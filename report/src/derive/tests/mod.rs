//! Unit tests of the derived figures: windows, shares, balance, errors,
//! latency, expectations and the summary, on small hand-built records.
//! The pod figures' tests are in [`pods`].
use super::*;
use crate::record::{BackendBucket, DeploymentBucket, Event, PodBucket, ProbeBucket};
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
        revision: 1,
        sigterm_s: None,
        conns_after_sigterm: 0,
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
    rec.duration_s = rec.elapsed_s;
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
    // A finished rollout and a pod that got SIGTERM.
    rec.backends[0].sigterm_s = Some(1.5);
    rec.rollouts.push(crate::record::RolloutRecord {
        deployment: "web".into(),
        revision: 2,
        strategy: "RollingUpdate".into(),
        start_s: 1.0,
        complete_s: Some(3.0),
        old_gone_s: Some(2.0),
        steps: Vec::new(),
    });
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
    assert!(results.iter().all(|r| r.covered_s.is_none()), "on the grid");
}

/// Issue 30: a window edge inside a bucket takes the bucket whole, and the
/// result says which span its buckets covered; exact-time metrics do not.
#[test]
fn a_window_edge_inside_a_bucket_records_the_span_its_buckets_cover() {
    let rec = scaled();
    let spec = |metric: &str, window_s: [f64; 2]| ExpectationSpec {
        metric: metric.into(),
        window_s,
        min: None,
        max: Some(1e9),
        note: String::new(),
    };
    let results = evaluate(
        &rec,
        &[
            spec("errors", [1.5, 3.5]),
            spec("errors", [1.0, 3.0]),
            spec("restarts", [1.5, 3.5]),
        ],
    );
    assert_eq!(results[0].covered_s, Some([2.0, 4.0]));
    assert_eq!(results[1].covered_s, None);
    assert_eq!(results[2].covered_s, None);
    // A run of 3.5 s: its last bucket ends with the run, so a window to the
    // run's end covers it exactly.
    let mut short = scaled();
    short.duration_s = 3.5;
    short.elapsed_s = 3.5;
    let r = evaluate(&short, &[spec("errors", [1.0, 3.5])]);
    assert_eq!(r[0].covered_s, None);
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

mod pods;
