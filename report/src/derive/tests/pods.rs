//! Unit tests of the pod figures: restarts, ready pods, accept queues,
//! probe failures, recovery, autoscalers and phase spans.
use super::*;
use crate::record::{PhaseChange, Restart};

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
