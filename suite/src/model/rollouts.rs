//! What rolling updates and graceful termination need from a suite: a
//! deployment's `strategy` (RollingUpdate's max_surge/max_unavailable, or
//! Recreate) and `min_ready_seconds`, a container's `lifecycle.pre_stop`
//! hook and the suite's `endpoints.propagation_delay` (the `rollout`
//! action's new pod template is in [`super::timeline`]). Field names follow the Kubernetes API
//! (apps/v1 DeploymentStrategy, core/v1 Lifecycle) in snake_case.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::probes::{ExecProbe, HttpHeader};
use crate::duration::Dur;

/// An absolute number of pods or a percentage of the desired replicas
/// (Kubernetes' IntOrString): `1` or `"25%"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IntOrPercent {
    /// A number of pods, 0..=200.
    Count(u32),
    /// A percentage of the desired replicas, `"0%"`..=`"100%"`.
    Percent(String),
}

impl IntOrPercent {
    /// The percentage, when this is a well-formed `"N%"` with N <= 100.
    #[must_use]
    pub fn percent(&self) -> Option<u32> {
        match self {
            Self::Count(_) => None,
            Self::Percent(s) => s
                .strip_suffix('%')
                .filter(|d| !d.is_empty() && d.len() <= 3 && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse().ok())
                .filter(|p| *p <= 100),
        }
    }

    /// Whether it is zero pods (`0` or `"0%"`).
    #[must_use]
    pub fn is_zero(&self) -> bool {
        matches!(self, Self::Count(0)) || self.percent() == Some(0)
    }
}

fn pct25() -> IntOrPercent {
    IntOrPercent::Percent("25%".to_owned())
}

/// How a deployment replaces its pods when its template changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StrategyType {
    /// New pods come up while old ones go, within max_surge/max_unavailable.
    RollingUpdate,
    /// Every old pod is gone before a new one is created.
    Recreate,
}

/// `strategy`: apps/v1 DeploymentStrategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// `RollingUpdate` (default) or `Recreate`.
    #[serde(default = "rolling", rename = "type")]
    pub kind: StrategyType,
    /// Pods above the desired replicas during a rolling update: a count or
    /// a percentage (rounded up), default `"25%"`.
    #[serde(default = "pct25")]
    pub max_surge: IntOrPercent,
    /// Pods below the desired replicas that may be unavailable: a count or
    /// a percentage (rounded down), default `"25%"`; not 0 when max_surge is 0.
    #[serde(default = "pct25")]
    pub max_unavailable: IntOrPercent,
}

fn rolling() -> StrategyType {
    StrategyType::RollingUpdate
}

impl Default for Strategy {
    fn default() -> Self {
        Self {
            kind: rolling(),
            max_surge: pct25(),
            max_unavailable: pct25(),
        }
    }
}

/// `lifecycle`: core/v1 Lifecycle (only the preStop hook).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Runs when the pod is deleted, before SIGTERM; its time counts
    /// against termination_grace.
    #[serde(default)]
    pub pre_stop: Option<PreStop>,
}

/// A preStop handler: exactly one of `exec`, `http_get`, `sleep`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreStop {
    /// Run a command in the pod's netns (no shell).
    #[serde(default)]
    pub exec: Option<ExecProbe>,
    /// GET the pod from its node.
    #[serde(default)]
    pub http_get: Option<HttpGetAction>,
    /// Sleep this long (the SleepAction), at most 10m.
    #[serde(default)]
    pub sleep: Option<Dur>,
}

impl PreStop {
    /// How many handlers it names (valid: exactly 1).
    #[must_use]
    pub fn handlers(&self) -> usize {
        usize::from(self.exec.is_some())
            + usize::from(self.http_get.is_some())
            + usize::from(self.sleep.is_some())
    }
}

/// An HTTP GET to the pod's IP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpGetAction {
    /// Request path, default `/`.
    #[serde(default = "slash")]
    pub path: String,
    /// Port; default: the serving port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: Vec<HttpHeader>,
}

fn slash() -> String {
    "/".to_owned()
}

/// `endpoints`: how pod changes reach the datapath.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointsSpec {
    /// Lag between a pod's state change (ready, terminating, gone) and the
    /// datapath update: EndpointSlice controller + agent (or kube-proxy)
    /// watch and sync. Default `100ms`, at most 1m.
    #[serde(default = "d100ms")]
    pub propagation_delay: Dur,
}

fn d100ms() -> Dur {
    Dur(std::time::Duration::from_millis(100))
}

impl Default for EndpointsSpec {
    fn default() -> Self {
        Self {
            propagation_delay: d100ms(),
        }
    }
}
