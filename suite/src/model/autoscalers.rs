//! The `autoscalers` section: HorizontalPodAutoscalers (autoscaling/v2),
//! their metric and target, and the HPA's timing knobs with Kubernetes'
//! defaults.
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{defaults::one_u32, json_schema};
use crate::duration::Dur;

/// A HorizontalPodAutoscaler (autoscaling/v2) on one deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Autoscaler {
    /// The deployment it scales (must exist; one autoscaler per deployment).
    pub deployment: String,
    /// minReplicas, 1..=2000, default 1.
    #[serde(default = "one_u32")]
    #[schemars(range(min = 1, max = 2000))]
    pub min_replicas: u32,
    /// maxReplicas, min_replicas..=200.
    #[schemars(range(min = 1, max = 2000))]
    pub max_replicas: u32,
    /// What the HPA measures and the per-pod target.
    pub metric: HpaMetric,
    /// --horizontal-pod-autoscaler-sync-period, default `15s` (scaled).
    #[serde(default = "d15s")]
    pub sync_period: Dur,
    /// --horizontal-pod-autoscaler-tolerance, 0..=1, default 0.1.
    #[serde(default = "d_tolerance")]
    #[schemars(range(min = 0, max = 1))]
    pub tolerance: f64,
    /// behavior.scaleUp.stabilizationWindowSeconds, default `0s` (scaled).
    #[serde(default)]
    pub scale_up_stabilization: Dur,
    /// behavior.scaleDown.stabilizationWindowSeconds, default `300s` (scaled).
    #[serde(default = "d300s")]
    pub scale_down_stabilization: Dur,
}
fn d15s() -> Dur {
    Dur(Duration::from_secs(15))
}
fn d_tolerance() -> f64 {
    0.1
}
fn d300s() -> Dur {
    Dur(Duration::from_secs(300))
}

/// The HPA's metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HpaMetricKind {
    /// Busy workers / workers, averaged over the sync period: a resource
    /// metric like CPU utilization (Kubernetes' CPU rules for not-ready pods).
    BusyWorkers,
    /// Requests the pod's server completed per second over the sync period:
    /// a Pods metric (custom metrics API rules).
    RequestRate,
}

/// The HPA's metric and its per-pod target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = json_schema::hpa_target)]
pub struct HpaMetric {
    /// `busy-workers` or `request-rate`.
    pub kind: HpaMetricKind,
    /// Per-pod target: a ratio in (0, 1] for `busy-workers`
    /// (averageUtilization / 100), requests per second (> 0) for `request-rate`.
    #[schemars(range(max = 1_000_000), extend("exclusiveMinimum" = 0))]
    pub target: f64,
}
