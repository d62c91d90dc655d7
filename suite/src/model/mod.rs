//! The suite model: what a suite YAML file says, as typed values. Field names
//! are the YAML keys (snake_case); unknown keys are rejected. Durations are
//! strings like `250ms`, `30s`, `5m`, `6h` and parse into [`Dur`].
//! Defaults are noted per field; kubelet/Cilium vocabulary where it fits.
//!
//! One file per suite section, re-exported here, so every type is
//! `model::X`; the top-level [`Suite`] and the small `cluster` and `kubelet`
//! sections live in this file. [`Dur`] is defined (and parsed) in
//! `src/duration.rs`; defaults several sections share are in `defaults.rs`.
mod autoscalers;
mod clients;
mod datapath;
mod defaults;
mod deployments;
mod expect;
mod probes;
mod services;
mod timeline;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use self::defaults::one_f64;
pub use self::{
    autoscalers::{Autoscaler, HpaMetric, HpaMetricKind},
    clients::{Client, ConnectionMode, Load, LoadMode, PortMode, SourcePorts},
    datapath::{CtReuseSpec, DatapathSpec, SelectionSpec, Timeouts},
    deployments::{Closer, Deployment, HealthSpec, ServerSpec},
    expect::{Expectation, METRICS},
    probes::{ExecProbe, HttpHeader, HttpProbe, Probe, Probes, TcpProbe},
    services::{ProtocolSpec, Service},
    timeline::{Action, TimelineEntry},
};
pub use crate::duration::Dur;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Suite name; defaults to the file stem.
    #[serde(default)]
    pub name: String,
    /// One-line description (shown by `svclab list` and the report).
    #[serde(default)]
    pub description: String,
    /// Total run time (required), e.g. `60s`. At most 1h.
    pub duration: Dur,
    /// Metrics bucket, default `1s`.
    #[serde(default = "default_bucket")]
    pub bucket: Dur,
    /// Seed for everything random in the harness, default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub cluster: Cluster,
    #[serde(default)]
    pub datapath: DatapathSpec,
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    pub clients: Vec<Client>,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// Nightly regression thresholds: key figure → relative change that
    /// counts as a regression against the previous night (default 0.2 each).
    /// Figures: duration_s, imbalance, jain, p99_ms, errors, error_rate, min_ready.
    #[serde(default)]
    pub regression: std::collections::BTreeMap<String, f64>,
    /// Kubelet and autoscaler time constants (their scale).
    #[serde(default)]
    pub kubelet: KubeletSpec,
    /// Horizontal pod autoscalers, at most one per deployment.
    #[serde(default)]
    pub autoscalers: Vec<Autoscaler>,
}

fn default_bucket() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_seed() -> u64 {
    1
}

/// How fast kubelet's and the HPA's clocks run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeletSpec {
    /// Multiplies every kubelet/HPA time constant: probe initial delays and
    /// periods, the restart back-off (10s initial, 5m cap, reset after 10m
    /// of running), termination grace, HPA sync period, stabilization
    /// windows and readiness delays. 0.01..=1, default 1 (as in Kubernetes).
    /// Probe timeouts are not scaled: they are compared with request
    /// latency, which is real. `svclab run --time-scale` multiplies it too.
    #[serde(default = "one_f64")]
    pub time_scale: f64,
}
impl Default for KubeletSpec {
    fn default() -> Self {
        Self { time_scale: 1.0 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Number of nodes, 1..=16, default 1. Node i has pod CIDR 198.18.i.0/24.
    #[serde(default = "one")]
    pub nodes: u8,
}
fn one() -> u8 {
    1
}
impl Default for Cluster {
    fn default() -> Self {
        Self { nodes: 1 }
    }
}
