//! Unit tests of the HPA controller's logic, one rule each, checked against
//! replica_calculator.go (pod grouping, tolerance, missing and unready pods)
//! and horizontal.go (stabilization windows, rate policies, min/max clamps).
use super::*;

/// Well past every pod's CPU initialization period.
const NOW: Duration = Duration::from_secs(1000);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A running, ready pod that became ready 20 s after its start at 0.
fn pod(name: &str, value: f64) -> PodView {
    PodView {
        name: name.to_string(),
        pending: false,
        deleting: false,
        failed: false,
        ready: true,
        start: secs(0),
        ready_transition: secs(20),
        metric: Some(PodMetric {
            value,
            timestamp: secs(990),
            window: secs(15),
        }),
    }
}

fn pods(values: &[f64]) -> Vec<PodView> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| pod(&format!("p{i}"), v))
        .collect()
}

fn without_metric(name: &str) -> PodView {
    PodView {
        metric: None,
        ..pod(name, 0.0)
    }
}

/// Not ready since its start (the transition came within the initial
/// readiness delay): unready for CPU even after initialization.
fn never_ready(name: &str, value: f64) -> PodView {
    PodView {
        ready: false,
        ready_transition: secs(0),
        ..pod(name, value)
    }
}

fn spec(source: MetricSource) -> HpaSpec {
    HpaSpec::with_defaults(1, 20, 100.0, source, 1.0)
}

fn count(spec: &HpaSpec, current: u32, pods: &[PodView]) -> Recommendation {
    replica_count(spec, current, pods, NOW).expect("a recommendation")
}

fn held(spec: &HpaSpec, current: u32, pods: &[PodView]) -> Option<&'static str> {
    calculate(spec, current, pods, NOW)
        .expect("a recommendation")
        .1
}

#[test]
fn with_defaults_are_the_controller_flags_scaled() {
    let s = HpaSpec::with_defaults(2, 10, 50.0, MetricSource::Pods, 0.1);
    assert_eq!(
        s,
        HpaSpec {
            min_replicas: 2,
            max_replicas: 10,
            target: 50.0,
            tolerance: 0.1,
            source: MetricSource::Pods,
            scale_up_stabilization: Duration::ZERO,
            scale_down_stabilization: secs(30),
            cpu_initialization_period: secs(30),
            initial_readiness_delay: secs(3),
            policy_period: Duration::from_millis(1500),
        }
    );
    let unscaled = HpaSpec::with_defaults(1, 5, 1.0, MetricSource::Resource, 1.0);
    assert_eq!(unscaled.scale_down_stabilization, secs(300));
    assert_eq!(unscaled.cpu_initialization_period, secs(300));
    assert_eq!(unscaled.initial_readiness_delay, secs(30));
    assert_eq!(unscaled.policy_period, secs(15));
}

#[test]
fn calc_plain_metric_replicas_ceil_ratio_times_ready_with_tolerance() {
    // calcPlainMetricReplicas: |1 - ratio| <= tolerance → current; else
    // ceil(ratio × readyPodCount).
    let s = spec(MetricSource::Pods);
    assert_eq!(count(&s, 3, &pods(&[105.0; 3])).replicas, 3);
    assert_eq!(
        held(&s, 3, &pods(&[105.0; 3])),
        Some(LIMIT_WITHIN_TOLERANCE)
    );
    assert_eq!(count(&s, 3, &pods(&[91.0; 3])).replicas, 3);
    assert_eq!(count(&s, 3, &pods(&[120.0; 3])).replicas, 4);
    assert_eq!(held(&s, 3, &pods(&[120.0; 3])), None);
    assert_eq!(count(&s, 4, &pods(&[50.0; 4])).replicas, 2);
    // The ready count, not `current`, multiplies the ratio.
    assert_eq!(count(&s, 2, &pods(&[200.0; 3])).replicas, 6);
}

#[test]
fn recommendation_reports_usage_and_groups() {
    let s = spec(MetricSource::Resource);
    let mut v = pods(&[100.0, 200.0]);
    v.push(without_metric("m"));
    v.push(never_ready("u", 900.0));
    v.push(PodView {
        deleting: true,
        ..pod("d", 900.0)
    });
    let r = count(&s, 5, &v);
    assert_eq!(r.usage, Some(150.0));
    assert_eq!((r.ready, r.unready, r.missing, r.ignored), (2, 1, 1, 1));
}

#[test]
fn missing_pods_count_as_target_on_scale_down() {
    // GetMetricReplicas: usageRatio < 1 → missing pods use the target.
    let s = spec(MetricSource::Pods);
    let mut v = pods(&[50.0, 50.0]);
    v.push(without_metric("m1"));
    v.push(without_metric("m2"));
    // (50 + 50 + 100 + 100) / 4 = 75 → ceil(0.75 × 4) = 3, not 1.
    let r = count(&s, 4, &v);
    assert_eq!(r.replicas, 3);
    assert_eq!(r.usage, Some(50.0));
    assert_eq!(r.missing, 2);
}

#[test]
fn missing_pods_count_as_zero_on_scale_up() {
    // usageRatio > 1 → missing pods use 0.
    let s = spec(MetricSource::Pods);
    let mut v = pods(&[210.0, 210.0]);
    v.push(without_metric("m1"));
    v.push(without_metric("m2"));
    // 420 / 4 = 105 → within tolerance → current (not ceil(2.1 × 2) = 5).
    assert_eq!(count(&s, 4, &v).replicas, 4);
    assert_eq!(held(&s, 4, &v), Some(LIMIT_WITHIN_TOLERANCE));
    let mut v = pods(&[300.0, 300.0]);
    v.push(without_metric("m1"));
    v.push(without_metric("m2"));
    // 600 / 4 = 150 → ceil(1.5 × 4) = 6.
    assert_eq!(count(&s, 4, &v).replicas, 6);
}

#[test]
fn missing_pods_at_exact_target_are_left_out() {
    // Neither branch fills them when usageRatio == 1.
    let s = spec(MetricSource::Pods);
    let mut v = pods(&[100.0, 100.0]);
    v.push(without_metric("m"));
    assert_eq!(count(&s, 3, &v).replicas, 3);
}

#[test]
fn unready_pods_count_as_zero_on_scale_up_for_resource_only() {
    // groupPods applies the readiness rules to CPU only; on a scale-up
    // (scaleUpWithUnready) unready pods count as 0.
    let mut v = pods(&[300.0, 300.0]);
    v.push(never_ready("u1", 300.0));
    v.push(never_ready("u2", 300.0));
    let r = count(&spec(MetricSource::Resource), 4, &v);
    // 600 / 4 = 150 → ceil(1.5 × 4) = 6.
    assert_eq!((r.replicas, r.ready, r.unready), (6, 2, 2));
    // A Pods metric counts every running pod with a metric.
    let r = count(&spec(MetricSource::Pods), 4, &v);
    assert_eq!((r.replicas, r.ready, r.unready), (12, 4, 0));
}

#[test]
fn unready_pods_are_left_out_on_scale_down_for_resource() {
    // Not rebalanced when usageRatio < 1: just not counted.
    let mut v = pods(&[50.0, 50.0]);
    v.push(never_ready("u", 500.0));
    assert_eq!(count(&spec(MetricSource::Resource), 3, &v).replicas, 1);
    // Pods: (50 + 50 + 500) / 3 = 200 → ceil(2 × 3) = 6.
    assert_eq!(count(&spec(MetricSource::Pods), 3, &v).replicas, 6);
}

#[test]
fn group_pods_cpu_rules_inside_initialization_period() {
    // Start + cpuInitializationPeriod after now: unready if not ready or
    // the metric timestamp is before readyTransition + window.
    let s = spec(MetricSource::Resource);
    let now = secs(100);
    let metric = |timestamp| {
        Some(PodMetric {
            value: 100.0,
            timestamp: secs(timestamp),
            window: secs(15),
        })
    };
    let full_window = PodView {
        metric: metric(35),
        ..pod("a", 0.0)
    };
    let short_window = PodView {
        metric: metric(34),
        ..pod("b", 0.0)
    };
    let not_ready = PodView {
        ready: false,
        ready_transition: secs(80),
        metric: metric(99),
        ..pod("c", 0.0)
    };
    let r = replica_count(&s, 3, &[full_window, short_window, not_ready], now)
        .expect("a recommendation");
    assert_eq!((r.ready, r.unready), (1, 2));
}

#[test]
fn group_pods_cpu_rules_after_initialization_period() {
    // Later: unready only if not ready and never been ready (last
    // transition within delayOfInitialReadinessStatus of the start).
    let s = spec(MetricSource::Resource);
    let became_unready_later = PodView {
        ready: false,
        ready_transition: secs(500),
        ..pod("a", 100.0)
    };
    let never = never_ready("b", 100.0);
    let at_delay = PodView {
        ready: false,
        ready_transition: secs(30),
        ..pod("c", 100.0)
    };
    let r = count(&s, 3, &[became_unready_later, never, at_delay]);
    // start + 30 s > transition is strict: a transition at 30 s counts.
    assert_eq!((r.ready, r.unready), (2, 1));
}

#[test]
fn pending_pods_are_unready_for_every_source() {
    // groupPods: Phase Pending → unreadyPods, before the metric lookup.
    for source in [MetricSource::Pods, MetricSource::Resource] {
        let mut v = pods(&[300.0]);
        v.push(PodView {
            pending: true,
            ..pod("p-metric", 300.0)
        });
        v.push(PodView {
            pending: true,
            ..without_metric("p-none")
        });
        let r = count(&spec(source), 3, &v);
        assert_eq!((r.ready, r.unready, r.missing), (1, 2, 0), "{source:?}");
        // 300 / 3 = 100 → within tolerance → current.
        assert_eq!(r.replicas, 3, "{source:?}");
    }
}

#[test]
fn deleting_and_failed_pods_are_ignored() {
    // groupPods: DeletionTimestamp set or Phase Failed → ignoredPods.
    let mut v = pods(&[200.0, 200.0]);
    v.push(PodView {
        deleting: true,
        ..pod("d", 0.0)
    });
    v.push(PodView {
        failed: true,
        ..without_metric("f")
    });
    let r = count(&spec(MetricSource::Pods), 2, &v);
    assert_eq!((r.replicas, r.ignored, r.missing), (4, 2, 0));
}

#[test]
fn direction_flip_after_filling_in_keeps_current() {
    // "the new usage ratio would cause a change in scale direction".
    let s = spec(MetricSource::Resource);
    let mut v = pods(&[150.0]);
    v.push(never_ready("u1", 0.0));
    v.push(never_ready("u2", 0.0));
    // 1.5 → 150 / 3 = 0.5 would turn a scale-up into a scale-down.
    assert_eq!(count(&s, 3, &v).replicas, 3);
    assert_eq!(held(&s, 3, &v), Some(LIMIT_DIRECTION_FLIP));
}

#[test]
fn replica_count_moving_against_the_ratio_keeps_current() {
    // "the change of metrics length would cause a change in scale
    // direction": 0.5 → (50 + 3 × 100) / 4 = 0.875, ceil(3.5) = 4 > 2.
    let s = spec(MetricSource::Pods);
    let mut v = pods(&[50.0]);
    v.extend(["m1", "m2", "m3"].map(without_metric));
    assert_eq!(count(&s, 2, &v).replicas, 2);
    assert_eq!(held(&s, 2, &v), Some(LIMIT_DIRECTION_FLIP));
}

#[test]
fn no_metrics_for_counted_pods_is_an_error() {
    // "did not receive metrics for targeted pods (pods might be unready)"
    // and "no pods returned by selector".
    let s = spec(MetricSource::Resource);
    assert_eq!(replica_count(&s, 2, &[], NOW), None);
    let v = [without_metric("a"), without_metric("b")];
    assert_eq!(replica_count(&s, 2, &v, NOW), None);
    let v = [never_ready("a", 100.0), never_ready("b", 100.0)];
    assert_eq!(replica_count(&s, 2, &v, NOW), None);
    assert!(replica_count(&spec(MetricSource::Pods), 2, &v, NOW).is_some());
}

#[test]
fn reconcile_zero_replicas_disables_scaling() {
    // reconcileAutoscaler: Spec.Replicas == 0 → ScalingDisabled.
    let mut hpa = Hpa::new(spec(MetricSource::Pods));
    let d = hpa.reconcile(secs(0), 0, &pods(&[500.0]));
    assert_eq!(d.desired, 0);
    assert_eq!(d.limited_by, Some(LIMIT_SCALING_DISABLED));
}

#[test]
fn reconcile_scale_down_stabilization_window() {
    // stabilizeRecommendationWithBehaviors: downRecommendation = max over
    // the 300 s window; the drop applies once the high ones leave it.
    let mut hpa = Hpa::new(spec(MetricSource::Pods));
    let d = hpa.reconcile(secs(0), 4, &pods(&[100.0; 4]));
    assert_eq!((d.desired, d.limited_by), (4, Some(LIMIT_WITHIN_TOLERANCE)));
    for t in [60, 299] {
        let d = hpa.reconcile(secs(t), 4, &pods(&[50.0; 4]));
        assert_eq!(d.recommendation.map(|r| r.replicas), Some(2));
        assert_eq!(
            (d.desired, d.limited_by),
            (4, Some(LIMIT_SCALE_DOWN_STABILIZATION)),
            "t={t}"
        );
    }
    // `After(cutoff)` is strict: at 300 s the 4s from 0 s are out.
    let d = hpa.reconcile(secs(300), 4, &pods(&[50.0; 4]));
    assert_eq!((d.desired, d.limited_by), (2, None));
}

#[test]
fn reconcile_first_sync_seeds_the_window_with_current() {
    // recordInitialRecommendation: a new HPA waits a full scale-down
    // window before it scales down.
    let mut hpa = Hpa::new(spec(MetricSource::Pods));
    let d = hpa.reconcile(secs(0), 4, &pods(&[50.0; 4]));
    assert_eq!(
        (d.desired, d.limited_by),
        (4, Some(LIMIT_SCALE_DOWN_STABILIZATION))
    );
    let no_window = HpaSpec {
        scale_down_stabilization: Duration::ZERO,
        ..spec(MetricSource::Pods)
    };
    let mut hpa = Hpa::new(no_window);
    assert_eq!(hpa.reconcile(secs(0), 4, &pods(&[50.0; 4])).desired, 2);
}

#[test]
fn reconcile_scale_up_is_immediate_by_default() {
    // Default scaleUp stabilizationWindowSeconds is 0.
    let mut hpa = Hpa::new(spec(MetricSource::Pods));
    let d = hpa.reconcile(secs(0), 2, &pods(&[200.0; 2]));
    assert_eq!((d.desired, d.limited_by), (4, None));
}

#[test]
fn reconcile_scale_up_stabilization_window() {
    // upRecommendation = min over the scale-up window.
    let s = HpaSpec {
        scale_up_stabilization: secs(60),
        ..spec(MetricSource::Pods)
    };
    let mut hpa = Hpa::new(s);
    assert_eq!(hpa.reconcile(secs(0), 4, &pods(&[100.0; 4])).desired, 4);
    let d = hpa.reconcile(secs(10), 4, &pods(&[200.0; 4]));
    assert_eq!(
        (d.desired, d.limited_by),
        (4, Some(LIMIT_SCALE_UP_STABILIZATION))
    );
    let d = hpa.reconcile(secs(61), 4, &pods(&[200.0; 4]));
    assert_eq!((d.desired, d.limited_by), (8, None));
}

#[test]
fn reconcile_scale_up_policy_limits_per_period() {
    // calculateScaleUpLimitWithScalingRules with Pods 4 / Percent 100
    // per 15 s, selectPolicy Max, from the count at the period start.
    let mut hpa = Hpa::new(spec(MetricSource::Pods));
    let d = hpa.reconcile(secs(0), 2, &pods(&[1000.0; 2]));
    assert_eq!(d.recommendation.map(|r| r.replicas), Some(20));
    assert_eq!((d.desired, d.limited_by), (6, Some(LIMIT_SCALE_UP_POLICY)));
    // Same period: it started at 2, so 6 is still the limit.
    let d = hpa.reconcile(secs(5), 6, &pods(&[1000.0; 6]));
    assert_eq!((d.desired, d.limited_by), (6, Some(LIMIT_SCALE_UP_POLICY)));
    // At 15 s the +4 event has left the period: max(6 + 4, 6 × 2).
    let d = hpa.reconcile(secs(15), 6, &pods(&[1000.0; 6]));
    assert_eq!((d.desired, d.limited_by), (12, Some(LIMIT_SCALE_UP_POLICY)));
    // Next period: 24 would be allowed, maxReplicas binds.
    let d = hpa.reconcile(secs(30), 12, &pods(&[1000.0; 12]));
    assert_eq!((d.desired, d.limited_by), (20, Some(LIMIT_MAX_REPLICAS)));
}

#[test]
fn reconcile_scale_up_policy_counts_scale_downs_in_the_period() {
    // periodStartReplicas = current - added + deleted.
    let s = HpaSpec {
        max_replicas: 50,
        scale_down_stabilization: Duration::ZERO,
        ..spec(MetricSource::Pods)
    };
    let mut hpa = Hpa::new(s);
    assert_eq!(hpa.reconcile(secs(0), 10, &pods(&[50.0; 10])).desired, 5);
    // The period started at 10: max(10 + 4, 10 × 2) = 20.
    let d = hpa.reconcile(secs(5), 5, &pods(&[1000.0; 5]));
    assert_eq!((d.desired, d.limited_by), (20, Some(LIMIT_SCALE_UP_POLICY)));
}

#[test]
fn reconcile_max_and_min_clamps() {
    // convertDesiredReplicasWithBehaviorRate: TooManyReplicas when
    // maxReplicas <= the scale-up limit, TooFewReplicas below min.
    let s = HpaSpec {
        max_replicas: 5,
        ..spec(MetricSource::Pods)
    };
    let d = Hpa::new(s).reconcile(secs(0), 2, &pods(&[1000.0; 2]));
    assert_eq!((d.desired, d.limited_by), (5, Some(LIMIT_MAX_REPLICAS)));

    let s = HpaSpec {
        min_replicas: 2,
        scale_down_stabilization: Duration::ZERO,
        ..spec(MetricSource::Pods)
    };
    let d = Hpa::new(s).reconcile(secs(0), 4, &pods(&[10.0; 4]));
    assert_eq!(d.recommendation.map(|r| r.replicas), Some(1));
    assert_eq!((d.desired, d.limited_by), (2, Some(LIMIT_MIN_REPLICAS)));
}

#[test]
fn reconcile_current_outside_bounds_is_pulled_in_without_metrics() {
    // reconcileAutoscaler: current > max → max; current < min → min.
    let mut hpa = Hpa::new(spec(MetricSource::Pods));
    let d = hpa.reconcile(secs(0), 25, &[]);
    assert_eq!((d.desired, d.limited_by), (20, Some(LIMIT_MAX_REPLICAS)));
    let s = HpaSpec {
        min_replicas: 3,
        ..spec(MetricSource::Pods)
    };
    let d = Hpa::new(s).reconcile(secs(0), 2, &pods(&[1.0; 2]));
    assert_eq!((d.desired, d.limited_by), (3, Some(LIMIT_MIN_REPLICAS)));
}

#[test]
fn reconcile_without_metrics_keeps_current() {
    // computeReplicasForMetrics error → no rescale.
    let mut hpa = Hpa::new(spec(MetricSource::Pods));
    let d = hpa.reconcile(secs(0), 3, &[without_metric("a"), without_metric("b")]);
    assert_eq!(
        d,
        HpaDecision {
            desired: 3,
            recommendation: None,
            limited_by: Some(LIMIT_NO_METRICS),
        }
    );
}

#[test]
fn recommendations_replace_samples_older_than_both_windows() {
    // stabilizeRecommendationWithBehaviors reuses an old slot, so the
    // history stays about one window long.
    let mut hpa = Hpa::new(spec(MetricSource::Pods));
    for t in 0..2000 {
        hpa.reconcile(secs(t), 4, &pods(&[100.0; 4]));
    }
    assert!(
        hpa.recommendations.len() <= 303,
        "{}",
        hpa.recommendations.len()
    );
}
