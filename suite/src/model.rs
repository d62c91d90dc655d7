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
];
