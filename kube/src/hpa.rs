//! The HPA controller's replica calculation (pkg/controller/podautoscaler:
//! replica_calculator.go and horizontal.go's behaviour normalisation).
//!
//! [`replica_count`] is one metric's `GetResourceReplicas` /
//! `GetMetricReplicas` (pod grouping, tolerance, missing and not-ready pods);
//! [`Hpa`] keeps what the controller keeps per HPA between syncs (the
//! recommendations for the stabilization windows and the scale events for
//! the rate policies) and applies `normalizeDesiredReplicasWithBehaviors`
//! with the default `behavior` the API server fills in.
use std::time::Duration;

use crate::scale_duration;

/// kube-controller-manager's `--horizontal-pod-autoscaler-tolerance`.
const DEFAULT_TOLERANCE: f64 = 0.1;
/// `--horizontal-pod-autoscaler-downscale-stabilization`.
const DOWNSCALE_STABILIZATION: Duration = Duration::from_secs(300);
/// `--horizontal-pod-autoscaler-cpu-initialization-period`.
const CPU_INITIALIZATION_PERIOD: Duration = Duration::from_secs(300);
/// `--horizontal-pod-autoscaler-initial-readiness-delay`.
const INITIAL_READINESS_DELAY: Duration = Duration::from_secs(30);
/// `periodSeconds` of every default scaling policy.
const POLICY_PERIOD: Duration = Duration::from_secs(15);
/// Default scaleUp policy `{type: Pods, value: 4}`.
const SCALE_UP_PODS: i64 = 4;
/// Default scaleUp policy `{type: Percent, value: 100}`.
const SCALE_UP_PERCENT: f64 = 100.0;
/// Default scaleDown policy `{type: Percent, value: 100}`.
const SCALE_DOWN_PERCENT: f64 = 100.0;

/// `HpaDecision::limited_by`: a recent lower recommendation held a scale-up
/// back (condition reason `ScaleUpStabilized`).
pub const LIMIT_SCALE_UP_STABILIZATION: &str = "scale-up stabilization";
/// A recent higher recommendation held a scale-down back (`ScaleDownStabilized`).
pub const LIMIT_SCALE_DOWN_STABILIZATION: &str = "scale-down stabilization";
/// The scale-up policies capped the change this period (`ScaleUpLimit`).
pub const LIMIT_SCALE_UP_POLICY: &str = "scale-up policy";
/// The scale-down policy capped the change this period (`ScaleDownLimit`);
/// the default 100 % policy never does.
pub const LIMIT_SCALE_DOWN_POLICY: &str = "scale-down policy";
/// `maxReplicas` bound the result (`TooManyReplicas`, or the current count
/// was above it).
pub const LIMIT_MAX_REPLICAS: &str = "max replicas";
/// `minReplicas` bound the result (`TooFewReplicas`, or the current count
/// was below it).
pub const LIMIT_MIN_REPLICAS: &str = "min replicas";
/// The usage ratio was within the tolerance of 1: the calculator kept the
/// current count.
pub const LIMIT_WITHIN_TOLERANCE: &str = "within tolerance";
/// Filling in missing or not-ready pods would have reversed the scale
/// direction, so the calculator kept the current count.
pub const LIMIT_DIRECTION_FLIP: &str = "direction flip";
/// No counted pod had a metric: Kubernetes errors and keeps the count.
pub const LIMIT_NO_METRICS: &str = "no metrics";
/// The target has 0 replicas: autoscaling is disabled (`ScalingDisabled`).
pub const LIMIT_SCALING_DISABLED: &str = "scaling disabled";

/// Which Kubernetes rules apply to not-ready pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricSource {
    /// A resource utilization metric (CPU rules).
    Resource,
    /// A Pods metric (custom metrics API).
    Pods,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HpaSpec {
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Target average metric value per pod (utilization or raw value); > 0.
    pub target: f64,
    pub tolerance: f64,
    pub source: MetricSource,
    pub scale_up_stabilization: Duration,
    pub scale_down_stabilization: Duration,
    pub cpu_initialization_period: Duration,
    pub initial_readiness_delay: Duration,
    /// `periodSeconds` of the default scale-up and scale-down policies.
    pub policy_period: Duration,
}

impl HpaSpec {
    /// kube-controller-manager's flag defaults and the API server's default
    /// `behavior`, with every duration multiplied by `scale`.
    pub fn with_defaults(
        min_replicas: u32,
        max_replicas: u32,
        target: f64,
        source: MetricSource,
        scale: f64,
    ) -> Self {
        Self {
            min_replicas,
            max_replicas,
            target,
            tolerance: DEFAULT_TOLERANCE,
            source,
            scale_up_stabilization: Duration::ZERO,
            scale_down_stabilization: scale_duration(DOWNSCALE_STABILIZATION, scale),
            cpu_initialization_period: scale_duration(CPU_INITIALIZATION_PERIOD, scale),
            initial_readiness_delay: scale_duration(INITIAL_READINESS_DELAY, scale),
            policy_period: scale_duration(POLICY_PERIOD, scale),
        }
    }
}

/// One pod's sample from the metrics API.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PodMetric {
    pub value: f64,
    /// When the sample's window ended.
    pub timestamp: Duration,
    /// The window the sample averages over.
    pub window: Duration,
}

/// The HPA's view of one pod matching the selector.
#[derive(Clone, Debug, PartialEq)]
pub struct PodView {
    pub name: String,
    /// Phase Pending.
    pub pending: bool,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// Phase Failed.
    pub failed: bool,
    /// The Ready condition's status.
    pub ready: bool,
    /// `status.startTime`.
    pub start: Duration,
    /// The Ready condition's `lastTransitionTime`.
    pub ready_transition: Duration,
    pub metric: Option<PodMetric>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recommendation {
    /// The calculator's replica count, before stabilization and limits.
    pub replicas: u32,
    /// Average metric of the counted (ready) pods.
    pub usage: Option<f64>,
    /// Pods counted with their metric.
    pub ready: u32,
    /// Pending pods, and for `Resource` the pods the CPU readiness rules
    /// leave out.
    pub unready: u32,
    /// Running pods without a metric.
    pub missing: u32,
    /// Deleting or failed pods.
    pub ignored: u32,
}

/// The desired replica count for one metric, as the replica calculator
/// computes it (`GetResourceReplicas` for `Resource`, `GetMetricReplicas`
/// for `Pods`); `None` where Kubernetes returns an error (no pods, or no
/// counted pod has a metric) and the HPA keeps the current count.
pub fn replica_count(
    spec: &HpaSpec,
    current: u32,
    pods: &[PodView],
    now: Duration,
) -> Option<Recommendation> {
    calculate(spec, current, pods, now).map(|(rec, _)| rec)
}

/// `replica_count` and, when it kept `current` on purpose, why.
fn calculate(
    spec: &HpaSpec,
    current: u32,
    pods: &[PodView],
    now: Duration,
) -> Option<(Recommendation, Option<&'static str>)> {
    if pods.is_empty() || spec.target.is_nan() || spec.target <= 0.0 {
        return None;
    }
    // groupPods.
    let mut rec = Recommendation {
        replicas: current,
        ..Recommendation::default()
    };
    let mut sum = 0.0;
    for pod in pods {
        if pod.deleting || pod.failed {
            rec.ignored += 1;
            continue;
        }
        if pod.pending {
            rec.unready += 1;
            continue;
        }
        let Some(metric) = pod.metric else {
            rec.missing += 1;
            continue;
        };
        if spec.source == MetricSource::Resource && cpu_unready(spec, pod, &metric, now) {
            rec.unready += 1;
            continue;
        }
        rec.ready += 1;
        sum += metric.value;
    }
    // "did not receive metrics for targeted pods (pods might be unready)".
    if rec.ready == 0 {
        return None;
    }
    let usage = sum / f64::from(rec.ready);
    rec.usage = Some(usage);
    let ratio = usage / spec.target;
    let within = |r: f64| (1.0 - r).abs() <= spec.tolerance;

    let scale_up_with_unready = rec.unready > 0 && ratio > 1.0;
    if !scale_up_with_unready && rec.missing == 0 {
        if within(ratio) {
            return Some((rec, Some(LIMIT_WITHIN_TOLERANCE)));
        }
        rec.replicas = ceil_replicas(ratio * f64::from(rec.ready));
        return Some((rec, None));
    }

    // Fill in the pods left out, on the side that damps the change.
    let mut total = sum;
    let mut count = rec.ready;
    if rec.missing > 0 {
        if ratio < 1.0 {
            // Scale-down: missing pods use exactly the target.
            total += spec.target * f64::from(rec.missing);
            count += rec.missing;
        } else if ratio > 1.0 {
            // Scale-up: missing pods use nothing.
            count += rec.missing;
        }
    }
    if scale_up_with_unready {
        count += rec.unready;
    }
    let new_ratio = total / f64::from(count) / spec.target;
    if within(new_ratio) {
        return Some((rec, Some(LIMIT_WITHIN_TOLERANCE)));
    }
    if (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
        return Some((rec, Some(LIMIT_DIRECTION_FLIP)));
    }
    let new_replicas = ceil_replicas(new_ratio * f64::from(count));
    if (new_ratio < 1.0 && new_replicas > current) || (new_ratio > 1.0 && new_replicas < current) {
        return Some((rec, Some(LIMIT_DIRECTION_FLIP)));
    }
    rec.replicas = new_replicas;
    Some((rec, None))
}

/// groupPods' CPU rule: whether a running pod with a metric is left out as
/// unready.
fn cpu_unready(spec: &HpaSpec, pod: &PodView, metric: &PodMetric, now: Duration) -> bool {
    if now < pod.start.saturating_add(spec.cpu_initialization_period) {
        // Still initialising: count it only when ready and a full metric
        // window was collected since it became ready.
        !pod.ready || metric.timestamp < pod.ready_transition.saturating_add(metric.window)
    } else {
        // Leave it out only if it is unready and has never been ready (its
        // last transition came within the initial readiness delay).
        !pod.ready && pod.start.saturating_add(spec.initial_readiness_delay) > pod.ready_transition
    }
}

/// `int32(math.Ceil(x))`, saturating instead of wrapping.
fn ceil_replicas(x: f64) -> u32 {
    x.ceil() as u32
}

#[derive(Clone, Debug, PartialEq)]
pub struct HpaDecision {
    pub desired: u32,
    pub recommendation: Option<Recommendation>,
    /// What bound `desired` (one of the `LIMIT_*` strings), if anything.
    pub limited_by: Option<&'static str>,
}

/// horizontal.go's `timestampedRecommendation`.
#[derive(Clone, Copy, Debug)]
struct TimedRecommendation {
    at: Duration,
    replicas: u32,
}

/// horizontal.go's `timestampedScaleEvent`. Its `outdated` flag is not
/// kept: the clock only moves forward, so an event once before the policy
/// period stays there, and `before_window` at store time says the same.
#[derive(Clone, Copy, Debug)]
struct ScaleEvent {
    at: Duration,
    change: u32,
}

/// `t.After(now - window)` without underflow.
fn within_window(t: Duration, now: Duration, window: Duration) -> bool {
    t.saturating_add(window) > now
}

/// `t.Before(now - window)` without underflow.
fn before_window(t: Duration, now: Duration, window: Duration) -> bool {
    t.saturating_add(window) < now
}

/// One HPA object as the controller tracks it across syncs.
#[derive(Clone, Debug)]
pub struct Hpa {
    spec: HpaSpec,
    recommendations: Vec<TimedRecommendation>,
    scale_up_events: Vec<ScaleEvent>,
    scale_down_events: Vec<ScaleEvent>,
}

impl Hpa {
    pub fn new(spec: HpaSpec) -> Self {
        Self {
            spec,
            recommendations: Vec::new(),
            scale_up_events: Vec::new(),
            scale_down_events: Vec::new(),
        }
    }

    pub fn spec(&self) -> &HpaSpec {
        &self.spec
    }

    /// One sync (horizontal.go reconcileAutoscaler) at `now` of a target
    /// whose spec asks for `current` replicas. The caller scales to
    /// `desired`; a change is recorded as a scale event for the policies.
    pub fn reconcile(&mut self, now: Duration, current: u32, pods: &[PodView]) -> HpaDecision {
        // recordInitialRecommendation: the first sync seeds the windows
        // with the current count, so a new HPA does not scale down before
        // a full scale-down window has passed.
        if self.recommendations.is_empty() {
            self.recommendations.push(TimedRecommendation {
                at: now,
                replicas: current,
            });
        }
        let calc = calculate(&self.spec, current, pods, now);
        let recommendation = calc.as_ref().map(|(rec, _)| rec.clone());
        let (desired, limited_by) = if current == 0 {
            (0, Some(LIMIT_SCALING_DISABLED))
        } else if current > self.spec.max_replicas {
            (self.spec.max_replicas, Some(LIMIT_MAX_REPLICAS))
        } else if current < self.spec.min_replicas {
            (self.spec.min_replicas, Some(LIMIT_MIN_REPLICAS))
        } else {
            match calc {
                None => (current, Some(LIMIT_NO_METRICS)),
                Some((rec, held)) => self.normalize(now, current, rec.replicas, held),
            }
        };
        if desired != current {
            self.store_scale_event(now, current, desired);
        }
        HpaDecision {
            desired,
            recommendation,
            limited_by,
        }
    }

    /// normalizeDesiredReplicasWithBehaviors: stabilize, then apply the
    /// rate policies and the min/max bounds.
    fn normalize(
        &mut self,
        now: Duration,
        current: u32,
        prenormalized: u32,
        held: Option<&'static str>,
    ) -> (u32, Option<&'static str>) {
        let (stabilized, stabilized_by) = self.stabilize(now, current, prenormalized);
        let (desired, rate_limit) = self.limit_rate(now, current, stabilized);
        let limited_by = if stabilized == prenormalized {
            held
        } else {
            Some(stabilized_by)
        };
        (desired, rate_limit.or(limited_by))
    }

    /// stabilizeRecommendationWithBehaviors: the lowest recommendation of
    /// the scale-up window and the highest of the scale-down window bound
    /// how far the current count may move; the new recommendation replaces
    /// one that has left both windows, or is appended.
    fn stabilize(&mut self, now: Duration, current: u32, desired: u32) -> (u32, &'static str) {
        let up_window = self.spec.scale_up_stabilization;
        let down_window = self.spec.scale_down_stabilization;
        let mut up = desired;
        let mut down = desired;
        let mut old = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if within_window(rec.at, now, up_window) {
                up = up.min(rec.replicas);
            }
            if within_window(rec.at, now, down_window) {
                down = down.max(rec.replicas);
            }
            if before_window(rec.at, now, up_window) && before_window(rec.at, now, down_window) {
                old = Some(i);
            }
        }
        // up <= desired <= down, so this is a clamp of `current`.
        let stabilized = current.max(up).min(down);
        let entry = TimedRecommendation {
            at: now,
            replicas: desired,
        };
        match old {
            Some(i) => self.recommendations[i] = entry,
            None => self.recommendations.push(entry),
        }
        let reason = if desired >= current {
            LIMIT_SCALE_UP_STABILIZATION
        } else {
            LIMIT_SCALE_DOWN_STABILIZATION
        };
        (stabilized, reason)
    }

    /// convertDesiredReplicasWithBehaviorRate.
    fn limit_rate(&self, now: Duration, current: u32, desired: u32) -> (u32, Option<&'static str>) {
        let (min, max) = (self.spec.min_replicas, self.spec.max_replicas);
        if desired > current {
            // Never below current: wait for old scale-up events to age out.
            let limit = to_replicas(self.scale_up_limit(now, current)).max(current);
            let (allowed, reason) = if max > limit {
                (limit, LIMIT_SCALE_UP_POLICY)
            } else {
                (max, LIMIT_MAX_REPLICAS)
            };
            if desired > allowed {
                return (allowed, Some(reason));
            }
        } else if desired < current {
            let limit = to_replicas(self.scale_down_limit(now, current)).min(current);
            let (allowed, reason) = if min < limit {
                (limit, LIMIT_SCALE_DOWN_POLICY)
            } else {
                (min, LIMIT_MIN_REPLICAS)
            };
            if desired < allowed {
                return (allowed, Some(reason));
            }
        }
        (desired, None)
    }

    /// The replica count at the start of the current policy period:
    /// `current - added + deleted` over the events still inside it.
    fn period_start(&self, now: Duration, current: u32) -> i64 {
        let changed = |events: &[ScaleEvent]| -> i64 {
            events
                .iter()
                .filter(|e| within_window(e.at, now, self.spec.policy_period))
                .map(|e| i64::from(e.change))
                .sum()
        };
        i64::from(current) - changed(&self.scale_up_events) + changed(&self.scale_down_events)
    }

    /// calculateScaleUpLimitWithScalingRules with the default policies
    /// (Pods 4 and Percent 100 per period, selectPolicy Max).
    fn scale_up_limit(&self, now: Duration, current: u32) -> i64 {
        let base = self.period_start(now, current);
        let by_pods = base + SCALE_UP_PODS;
        // Rounded up so that a small count can still grow.
        let by_percent = (base as f64 * (1.0 + SCALE_UP_PERCENT / 100.0)).ceil() as i64;
        by_pods.max(by_percent)
    }

    /// calculateScaleDownLimitWithBehaviors with the default policy
    /// (Percent 100 per period).
    fn scale_down_limit(&self, now: Duration, current: u32) -> i64 {
        let base = self.period_start(now, current);
        // Truncated, as Go's int32 conversion does.
        (base as f64 * (1.0 - SCALE_DOWN_PERCENT / 100.0)) as i64
    }

    /// storeScaleEvent: replaces an event older than the longest policy
    /// period (all default policies share `policy_period`), or appends.
    fn store_scale_event(&mut self, now: Duration, previous: u32, new: u32) {
        let period = self.spec.policy_period;
        let (events, change) = if new > previous {
            (&mut self.scale_up_events, new - previous)
        } else {
            (&mut self.scale_down_events, previous - new)
        };
        let event = ScaleEvent { at: now, change };
        match events
            .iter()
            .rposition(|e| before_window(e.at, now, period))
        {
            Some(i) => events[i] = event,
            None => events.push(event),
        }
    }
}

/// A limit computed in i64 as a replica count (negative → 0).
fn to_replicas(x: i64) -> u32 {
    u32::try_from(x.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
