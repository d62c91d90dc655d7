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
mod faults;
mod json_schema;
mod matrix;
mod probes;
mod programs;
mod rollouts;
mod services;
mod timeline;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use self::{
    autoscalers::{Autoscaler, HpaMetric, HpaMetricKind},
    clients::{Client, ConnectionMode, Load, LoadMode, PortMode, SourcePorts},
    datapath::{CtReuseSpec, DatapathSpec, EngineSpec, ProfileSpec, SelectionSpec, Timeouts},
    deployments::{Closer, Deployment, HealthSpec, ServerSpec, SigtermMode, Workload},
    expect::{Expectation, METRICS},
    faults::{
        BandwidthSpec, BurstSpec, DelaySpec, Direction, Fault, FaultTarget, JitterDistribution,
        LossSpec, ResetSpec, netem_correlated_loss, parse_rate, parse_size,
    },
    matrix::{EngineChoice, Matrix},
    probes::{ExecProbe, HttpHeader, HttpProbe, Probe, Probes, TcpProbe},
    programs::{
        ContainerSpec, NEXT_UPSTREAM, NginxServerSpec, PLACEHOLDERS, ProxyKind, UpstreamSpec,
        find_program,
    },
    rollouts::{
        EndpointsSpec, HttpGetAction, IntOrPercent, Lifecycle, PreStop, Strategy, StrategyType,
    },
    services::{
        DEFAULT_AFFINITY_TIMEOUT, NODE_PORT_RANGE, ProtocolSpec, Service, ServiceType,
        SessionAffinity, TrafficDistribution, TrafficPolicy, node_ports,
    },
    timeline::{Action, PodTemplate, TimelineEntry},
};
use self::{defaults::one_f64, json_schema::SUITE_NAME_PATTERN};
pub use crate::duration::Dur;

/// An svclab suite: a cluster, the datapath, deployments behind ClusterIP
/// services, clients that load them, a timeline of actions and the
/// expectations that make the verdict. `svclab validate` is the authority;
/// this schema mirrors its rules as far as JSON Schema can.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "svclab suite")]
pub struct Suite {
    /// Suite name; defaults to the file stem. 1..=64 letters, digits, '.',
    /// '_' or '-', not starting with '.' or '-' (it names the report folder).
    #[serde(default)]
    #[schemars(pattern(SUITE_NAME_PATTERN))]
    pub name: String,
    /// One-line description (shown by `svclab list` and the report).
    #[serde(default)]
    pub description: String,
    /// Total run time (required), e.g. `60s`. Above 0s, at most 1h.
    pub duration: Dur,
    /// Metrics bucket, default `1s`; 100ms up to the suite duration.
    #[serde(default = "default_bucket")]
    pub bucket: Dur,
    /// Seed for everything random in the harness, default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The simulated cluster.
    #[serde(default)]
    pub cluster: Cluster,
    /// The eBPF service load balancer's configuration.
    #[serde(default)]
    pub datapath: DatapathSpec,
    /// Deployments: pods running an HTTP server.
    pub deployments: Vec<Deployment>,
    /// ClusterIP services in front of the deployments.
    pub services: Vec<Service>,
    /// Load generators.
    pub clients: Vec<Client>,
    /// Actions at offsets into the run.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// Bounds on metrics; the verdict is PASS when all hold.
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// Nightly regression thresholds: key figure → relative change that
    /// counts as a regression against the previous night (default 0.2 each).
    /// Figures: duration_s, imbalance, jain, p99_ms, errors, error_rate, min_ready.
    #[serde(default)]
    #[schemars(schema_with = "json_schema::regression")]
    pub regression: std::collections::BTreeMap<String, f64>,
    /// Kubelet and autoscaler time constants (their scale).
    #[serde(default)]
    pub kubelet: KubeletSpec,
    /// Dataplane engines `svclab compare` (and the nightly) run this suite
    /// under, one after another, with one comparison page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Matrix>,
    /// Horizontal pod autoscalers, at most one per deployment.
    #[serde(default)]
    pub autoscalers: Vec<Autoscaler>,
    /// How pod changes reach the datapath (propagation delay).
    #[serde(default)]
    pub endpoints: EndpointsSpec,
}

fn default_bucket() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_seed() -> u64 {
    1
}

/// How fast kubelet's and the HPA's clocks run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeletSpec {
    /// Multiplies every kubelet/HPA time constant: probe initial delays and
    /// periods, the restart back-off (10s initial, 5m cap, reset after 10m
    /// of running), termination grace, HPA sync period, stabilization
    /// windows and readiness delays. 0.01..=1, default 1 (as in Kubernetes).
    /// Probe timeouts are not scaled: they are compared with request
    /// latency, which is real. `svclab run --time-scale` multiplies it too.
    #[serde(default = "one_f64")]
    #[schemars(range(min = 0.01, max = 1))]
    pub time_scale: f64,
}
impl Default for KubeletSpec {
    fn default() -> Self {
        Self { time_scale: 1.0 }
    }
}

/// The simulated cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Number of nodes, 1..=16, default 1. Node i has pod CIDR 198.18.i.0/24.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 16))]
    pub nodes: u8,
    /// How long the node-lifecycle controller waits for a node's lease
    /// before it marks the node NotReady and its pods not ready (their
    /// endpoints leave every service): kube-controller-manager's
    /// `--node-monitor-grace-period`, 40s through Kubernetes v1.31 (50s
    /// from v1.32). 10s..=10m; scaled by `kubelet.time_scale`. Only a
    /// node cut off from the fabric (a `blackhole` fault) stops renewing.
    #[serde(default = "forty_s")]
    pub node_monitor_grace_period: Dur,
    /// Each node's `topology.kubernetes.io/zone` label, node 0 first (as
    /// many as `nodes`); default none. Topology-aware routing
    /// (`traffic_distribution: PreferClose`) keeps traffic in its zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub zones: Vec<String>,
}

fn forty_s() -> Dur {
    Dur::from_millis(40_000)
}
fn one() -> u8 {
    1
}
impl Default for Cluster {
    fn default() -> Self {
        Self {
            nodes: 1,
            node_monitor_grace_period: forty_s(),
            zones: Vec::new(),
        }
    }
}
