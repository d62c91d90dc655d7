//! The suite model: what a suite YAML file says, as typed values. Field names
//! are the YAML keys (snake_case); unknown keys are rejected. Durations are
//! strings like `250ms`, `30s`, `5m`, `6h` and parse into [`Dur`].
//! Defaults are noted per field; kubelet/Cilium vocabulary where it fits.
use std::{net::Ipv4Addr, time::Duration};

use serde::{Deserialize, Serialize};

/// A duration written as `<number><unit>` with unit ms, s, m or h
/// (`1.5s` allowed). Serialises back to the same form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

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
fn one_f64() -> f64 {
    1.0
}
impl Default for KubeletSpec {
    fn default() -> Self {
        Self { time_scale: 1.0 }
    }
}

/// A HorizontalPodAutoscaler (autoscaling/v2) on one deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Autoscaler {
    /// The deployment it scales (must exist; one autoscaler per deployment).
    pub deployment: String,
    /// minReplicas, 1..=200, default 1.
    #[serde(default = "one_u32")]
    pub min_replicas: u32,
    /// maxReplicas, min_replicas..=200.
    pub max_replicas: u32,
    pub metric: HpaMetric,
    /// --horizontal-pod-autoscaler-sync-period, default `15s` (scaled).
    #[serde(default = "d15s")]
    pub sync_period: Dur,
    /// --horizontal-pod-autoscaler-tolerance, 0..=1, default 0.1.
    #[serde(default = "d_tolerance")]
    pub tolerance: f64,
    /// behavior.scaleUp.stabilizationWindowSeconds, default `0s` (scaled).
    #[serde(default)]
    pub scale_up_stabilization: Dur,
    /// behavior.scaleDown.stabilizationWindowSeconds, default `300s` (scaled).
    #[serde(default = "d300s")]
    pub scale_down_stabilization: Dur,
}
fn one_u32() -> u32 {
    1
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HpaMetricKind {
    /// Busy workers / workers, averaged over the sync period: a resource
    /// metric like CPU utilization (Kubernetes' CPU rules for not-ready pods).
    BusyWorkers,
    /// Requests the pod's server completed per second over the sync period:
    /// a Pods metric (custom metrics API rules).
    RequestRate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaMetric {
    pub kind: HpaMetricKind,
    /// Per-pod target: a ratio in (0, 1] for `busy-workers`
    /// (averageUtilization / 100), requests per second (> 0) for `request-rate`.
    pub target: f64,
}

fn default_bucket() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_seed() -> u64 {
    1
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionSpec {
    Random,
    Maglev,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CtReuseSpec {
    Legacy,
    CloseRebalance,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatapathSpec {
    /// `random` (default) or `maglev`.
    #[serde(default = "default_selection")]
    pub selection: SelectionSpec,
    /// Maglev table size M, one of 251, 509, 1021, 2039, 4093, 8191, 16381 (default).
    #[serde(default = "default_maglev")]
    pub maglev_table_size: u32,
    /// `legacy` (default) or `close-rebalance`.
    #[serde(default = "default_reuse")]
    pub ct_reuse: CtReuseSpec,
    /// Grace for close-rebalance, default `30s`.
    #[serde(default = "default_grace")]
    pub rebalance_grace: Dur,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// CT garbage-collection interval in user space, default `5s`.
    #[serde(default = "default_gc")]
    pub gc_interval: Dur,
    /// CT LRU map entries, 16..=16777216, default 65536.
    #[serde(default = "default_ct_size")]
    pub ct_map_size: u32,
}
fn default_selection() -> SelectionSpec {
    SelectionSpec::Random
}
fn default_maglev() -> u32 {
    16381
}
fn default_reuse() -> CtReuseSpec {
    CtReuseSpec::Legacy
}
fn default_grace() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_gc() -> Dur {
    Dur(Duration::from_secs(5))
}
fn default_ct_size() -> u32 {
    65536
}
impl Default for DatapathSpec {
    fn default() -> Self {
        Self {
            selection: default_selection(),
            maglev_table_size: default_maglev(),
            ct_reuse: default_reuse(),
            rebalance_grace: default_grace(),
            timeouts: Timeouts::default(),
            gc_interval: default_gc(),
            ct_map_size: default_ct_size(),
        }
    }
}

/// CT lifetimes (Cilium defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// default `60s`
    #[serde(default = "d60")]
    pub syn: Dur,
    /// established service TCP, default `8000s` (older Cilium: `6h`)
    #[serde(default = "d8000")]
    pub tcp: Dur,
    /// after FIN/RST, default `10s`
    #[serde(default = "d10")]
    pub close: Dur,
    /// non-TCP, default `60s`
    #[serde(default = "d60")]
    pub non_tcp: Dur,
}
fn d60() -> Dur {
    Dur(Duration::from_secs(60))
}
fn d8000() -> Dur {
    Dur(Duration::from_secs(8000))
}
fn d10() -> Dur {
    Dur(Duration::from_secs(10))
}
impl Default for Timeouts {
    fn default() -> Self {
        Self {
            syn: d60(),
            tcp: d8000(),
            close: d10(),
            non_tcp: d60(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// DNS-label name (lowercase letters, digits, '-'; 1..=40 chars), unique.
    pub name: String,
    /// 0..=200.
    pub replicas: u32,
    /// Node indexes to place pods on, round robin; default: all nodes.
    #[serde(default)]
    pub nodes: Vec<u8>,
    #[serde(default)]
    pub server: ServerSpec,
    /// Probes kubelet runs against each pod from its node.
    #[serde(default)]
    pub probes: Probes,
    /// terminationGracePeriodSeconds: SIGTERM, this long, then SIGKILL, when
    /// the pod is deleted or its container killed. Default `30s` (scaled).
    #[serde(default = "default_grace")]
    pub termination_grace: Dur,
}

/// The pod's probes, each optional (Kubernetes: no probe = always passing).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probes {
    #[serde(default)]
    pub startup: Option<Probe>,
    #[serde(default)]
    pub readiness: Option<Probe>,
    #[serde(default)]
    pub liveness: Option<Probe>,
}

/// One probe: exactly one handler (`tcp`, `http` or `exec`) and kubelet's
/// timing fields with kubelet's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// tcpSocket: connect to the pod IP, SO_LINGER 1s, close at once.
    #[serde(default)]
    pub tcp: Option<TcpProbe>,
    /// httpGet: GET path; success = status 200..=399.
    #[serde(default)]
    pub http: Option<HttpProbe>,
    /// exec: run a command inside the pod's netns; success = exit 0.
    #[serde(default)]
    pub exec: Option<ExecProbe>,
    /// initialDelaySeconds, default `0s` (scaled).
    #[serde(default)]
    pub initial_delay: Dur,
    /// periodSeconds, default `10s` (scaled).
    #[serde(default = "d10")]
    pub period: Dur,
    /// timeoutSeconds, default `1s` (not scaled).
    #[serde(default = "d1s")]
    pub timeout: Dur,
    /// successThreshold, default 1; must be 1 for liveness and startup.
    #[serde(default = "one_u32")]
    pub success_threshold: u32,
    /// failureThreshold, default 3.
    #[serde(default = "d3")]
    pub failure_threshold: u32,
}
fn d1s() -> Dur {
    Dur(Duration::from_secs(1))
}
fn d3() -> u32 {
    3
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    /// Default: the server's port.
    #[serde(default)]
    pub port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// Request path, starting with '/', default `/healthz`.
    #[serde(default = "default_health_path")]
    pub path: String,
    /// Default: the server's port.
    #[serde(default)]
    pub port: Option<u16>,
    /// httpHeaders: extra request headers (kubelet sends `User-Agent:
    /// kube-probe/<version>` and `Accept: */*` unless overridden).
    #[serde(default)]
    pub headers: Vec<HttpHeader>,
}
fn default_health_path() -> String {
    "/healthz".to_owned()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecProbe {
    /// argv, at least one element; run in the pod's netns with no shell.
    pub command: Vec<String>,
}

/// A health listener apart from the serving port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// Port of the health listener (not the serving port), 1..=65535.
    pub port: u16,
    /// Its own workers, 1..=16, default 1.
    #[serde(default = "one_u32")]
    pub workers: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Closer {
    /// The server closes first after the response (the incident's setup).
    Server,
    /// The client closes first.
    Client,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Listening port, 1..=65535, default 8080.
    #[serde(default = "d8080")]
    pub port: u16,
    /// Worker threads; a connection is accepted only when one is free. 1..=256, default 4.
    #[serde(default = "d4")]
    pub workers: u32,
    /// listen(2) backlog, 1..=65535, default 128.
    #[serde(default = "d128")]
    pub backlog: u32,
    /// Time spent per request before answering, default `0ms`, at most `60s`.
    #[serde(default)]
    pub service_time: Dur,
    /// Who closes first: `server` (default) or `client`.
    #[serde(default = "default_closer")]
    pub close: Closer,
    /// CPU work per request on top of `service_time`, default `0ms`, at
    /// most `10s`. Busy workers share `cpus` (processor sharing, simulated
    /// by sleeping, so it costs the host no CPU): with k requests working,
    /// each advances at min(1, cpus / k), so service time rises with load.
    #[serde(default)]
    pub cpu_time: Dur,
    /// The container's CPU limit for `cpu_time`, in cores, 0.1..=64, default 1.
    #[serde(default = "one_f64")]
    pub cpus: f64,
    /// Health endpoint on its own port and workers; default: `/healthz` on
    /// the serving port, served by the same workers as requests.
    #[serde(default)]
    pub health: Option<HealthSpec>,
    /// Slow start: the server listens only this long after it starts,
    /// default `0s`, at most `10m`.
    #[serde(default)]
    pub startup_time: Dur,
    /// How long a worker waits for a request on an accepted connection
    /// before closing it (nginx's client_header_timeout), default `60s`,
    /// 10ms..=10m. A connection whose request never arrives holds a worker
    /// this long.
    #[serde(default = "d60")]
    pub read_timeout: Dur,
}
fn d8080() -> u16 {
    8080
}
fn d4() -> u32 {
    4
}
fn d128() -> u32 {
    128
}
fn default_closer() -> Closer {
    Closer::Server
}
impl Default for ServerSpec {
    fn default() -> Self {
        Self {
            port: d8080(),
            workers: d4(),
            backlog: d128(),
            service_time: Dur::default(),
            close: default_closer(),
            cpu_time: Dur::default(),
            cpus: 1.0,
            health: None,
            startup_time: Dur::default(),
            read_timeout: d60(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtocolSpec {
    #[serde(rename = "TCP")]
    Tcp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// DNS-label name, unique.
    pub name: String,
    /// Must be inside 198.19.0.0/24, unique per (ip, port).
    pub cluster_ip: Ipv4Addr,
    /// 1..=65535.
    pub port: u16,
    /// Backend port; default: the selected deployment's server port.
    #[serde(default)]
    pub target_port: Option<u16>,
    /// Only `TCP` today; default `TCP`.
    #[serde(default = "default_proto")]
    pub protocol: ProtocolSpec,
    /// Name of the deployment whose pods are the endpoints (must exist).
    pub selector: String,
}
fn default_proto() -> ProtocolSpec {
    ProtocolSpec::Tcp
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionMode {
    /// A new connection per request (nginx upstream default).
    PerRequest,
    /// A pool of `pool_size` keep-alive connections.
    KeepAlive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortMode {
    /// Kernel-chosen ports; `range` becomes the client netns's ip_local_port_range.
    Ephemeral,
    /// Ports from `range` bound explicitly, round robin: exact reuse.
    Pool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcePorts {
    /// default `ephemeral`
    #[serde(default = "default_port_mode")]
    pub mode: PortMode,
    /// Inclusive [low, high], 1024 <= low <= high <= 65535, default [32768, 60999].
    #[serde(default = "default_range")]
    pub range: [u16; 2],
}
fn default_port_mode() -> PortMode {
    PortMode::Ephemeral
}
fn default_range() -> [u16; 2] {
    [32768, 60999]
}
impl Default for SourcePorts {
    fn default() -> Self {
        Self {
            mode: default_port_mode(),
            range: default_range(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadMode {
    /// Constant arrival rate (`rate` req/s), independent of responses.
    Open,
    /// `concurrency` workers, each sending its next request when the last ends.
    Closed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// default `open`
    #[serde(default = "default_load_mode")]
    pub mode: LoadMode,
    /// Open loop: requests per second, 1..=50000, default 200.
    #[serde(default = "d200")]
    pub rate: u32,
    /// Closed loop: concurrent workers, 1..=1024, default 8.
    #[serde(default = "d8")]
    pub concurrency: u32,
    /// Open loop: most requests in flight; beyond it a request is counted
    /// as error kind `overload` instead of sent. 1..=10000, default 512.
    #[serde(default = "d512")]
    pub max_in_flight: u32,
}
fn default_load_mode() -> LoadMode {
    LoadMode::Open
}
fn d200() -> u32 {
    200
}
fn d8() -> u32 {
    8
}
fn d512() -> u32 {
    512
}
impl Default for Load {
    fn default() -> Self {
        Self {
            mode: default_load_mode(),
            rate: d200(),
            concurrency: d8(),
            max_in_flight: d512(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// DNS-label name, unique.
    pub name: String,
    /// Node index the client pod runs on, default 0.
    #[serde(default)]
    pub node: u8,
    /// Name of the target service (must exist).
    pub service: String,
    /// default `per-request`
    #[serde(default = "default_conn_mode")]
    pub connection: ConnectionMode,
    /// Keep-alive pool size, 1..=1024, default 16.
    #[serde(default = "d16")]
    pub pool_size: u32,
    #[serde(default)]
    pub source_ports: SourcePorts,
    #[serde(default)]
    pub load: Load,
    /// Start offset, default `0s`.
    #[serde(default)]
    pub start: Dur,
    /// How long it sends; default until the suite ends. start + duration <= suite duration.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// Per-request timeout (connect + response), default `2s`.
    #[serde(default = "d2s")]
    pub timeout: Dur,
}
fn default_conn_mode() -> ConnectionMode {
    ConnectionMode::PerRequest
}
fn d16() -> u32 {
    16
}
fn d2s() -> Dur {
    Dur(Duration::from_secs(2))
}

/// One timeline entry: `at:` plus exactly one action key.
///
/// `Deserialize` is written by hand in `timeline.rs` (a flattened derive
/// loses error positions and accepts unknown keys inside the action).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Offset from the run's start, < suite duration.
    pub at: Dur,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Set a deployment's replicas (0..=200).
    Scale { deployment: String, replicas: u32 },
    /// SIGKILL `count` running pods (oldest first); the deployment replaces
    /// them with new pods (new names and IPs).
    Kill { deployment: String, count: u32 },
    /// Delete one pod gracefully (terminating, then gone); replaced like Kill.
    DeletePod { deployment: String, index: u32 },
    /// Flush the service conntrack on `node` (default: every node).
    FlushCt {
        #[serde(default)]
        node: Option<u8>,
    },
    /// Restart a client: its connections and pools start anew.
    RestartClient { client: String },
    /// A traffic spike: set an open-loop client's rate to `rate` for
    /// `duration` (default: to the end of the run), then back to its own.
    Spike {
        client: String,
        rate: u32,
        #[serde(default)]
        duration: Option<Dur>,
    },
}

/// A bound on one metric over a time window; the verdict is the AND of all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// One of [`METRICS`].
    pub metric: String,
    /// [from, to] offsets, from < to <= duration; default the whole run.
    #[serde(default)]
    pub window: Option<[Dur; 2]>,
    /// At least one of min / max.
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Optional free text shown in the report.
    #[serde(default)]
    pub note: String,
}

/// Metric names an expectation may use (computed over its window from the
/// per-bucket record; shares count responses seen by clients).
pub const METRICS: &[&str] = &[
    // share of responses served by the backends added by the last scale-up
    "new_backend_share",
    // new_backend_share / (new backends / all backends): 1.0 = fair
    "new_backend_fair_ratio",
    // Jain's fairness index over backends alive through the window
    "jain_index",
    // coefficient of variation of per-backend responses
    "cv",
    // max / min per-backend responses
    "max_min_ratio",
    // errors / sent
    "error_rate",
    "errors",
    // ok responses per second
    "ok_rate",
    "p99_ms",
    // share of responses served by a pod killed/deleted by the timeline (its replacement excluded)
    "killed_backend_share",
    // share of responses served by pods that replaced killed/deleted ones
    "replacement_share",
    // container restarts (liveness/startup failures) in the window, all pods
    "restarts",
    // lowest number of ready backend pods (all deployments) in any bucket
    "min_ready",
    // highest accept-queue depth / listen backlog of any pod in any bucket
    "accept_queue_fill",
    // failed or timed-out readiness probes in the window, all pods
    "readiness_failures",
    // failed or timed-out liveness probes in the window, all pods
    "liveness_failures",
    // seconds from the window's start to the first bucket from which every
    // bucket to the window's end has an error rate under 1% (undefined when
    // it never recovers)
    "time_to_recover_s",
    // highest replica count the autoscalers asked for in the window
    "hpa_max_desired",
];
