//! The `clients` section: load generators, their connections, source ports
//! and load shape (open or closed loop).
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    json_schema,
    programs::{ProxyKind, UpstreamSpec},
};
use crate::duration::Dur;

/// How a client uses connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionMode {
    /// A new connection per request (nginx upstream default).
    PerRequest,
    /// A pool of `pool_size` keep-alive connections.
    KeepAlive,
}

/// Where a client's source ports come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PortMode {
    /// Kernel-chosen ports; `range` becomes the client netns's ip_local_port_range.
    Ephemeral,
    /// Ports from `range` bound explicitly, round robin: exact reuse.
    Pool,
}

/// A client's source ports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourcePorts {
    /// default `ephemeral`
    #[serde(default = "default_port_mode")]
    pub mode: PortMode,
    /// Inclusive [low, high], 1024 <= low <= high <= 65535, default [32768, 60999].
    #[serde(default = "default_range")]
    #[schemars(inner(range(min = 1024, max = 65535)))]
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

/// Open or closed loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LoadMode {
    /// Constant arrival rate (`rate` req/s), independent of responses.
    Open,
    /// `concurrency` workers, each sending its next request when the last ends.
    Closed,
}

/// A client's load shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// default `open`
    #[serde(default = "default_load_mode")]
    pub mode: LoadMode,
    /// Open loop: requests per second, 1..=50000, default 200.
    #[serde(default = "d200")]
    #[schemars(range(min = 1, max = 50_000))]
    pub rate: u32,
    /// Closed loop: concurrent workers, 1..=1024, default 8.
    #[serde(default = "d8")]
    #[schemars(range(min = 1, max = 1024))]
    pub concurrency: u32,
    /// Open loop: most requests in flight; beyond it a request is counted
    /// as error kind `overload` instead of sent. 1..=10000, default 512.
    #[serde(default = "d512")]
    #[schemars(range(min = 1, max = 10_000))]
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

/// A load generator: one client pod sending HTTP requests to a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// DNS-label name, unique.
    #[schemars(pattern(json_schema::LABEL_PATTERN), length(min = 1, max = 40))]
    pub name: String,
    /// Node index the client pod runs on, below cluster.nodes, default 0;
    /// for an `external` client, the node whose NodePort it sends to.
    #[serde(default)]
    #[schemars(range(max = 15))]
    pub node: u8,
    /// The client stands outside the cluster (its own address on the
    /// nodes' network, 198.19.253.<k+1>, not a pod) and reaches the
    /// service through node `node`'s NodePort; the service must be
    /// `type: NodePort`. Default false.
    #[serde(default)]
    pub external: bool,
    /// Name of the target service (must exist).
    pub service: String,
    /// default `per-request`
    #[serde(default = "default_conn_mode")]
    pub connection: ConnectionMode,
    /// Keep-alive pool size, 1..=1024, default 16.
    #[serde(default = "d16")]
    #[schemars(range(min = 1, max = 1024))]
    pub pool_size: u32,
    /// Source ports: kernel-chosen or an explicit pool.
    #[serde(default)]
    pub source_ports: SourcePorts,
    /// Load shape: open loop (a rate) or closed loop (workers).
    #[serde(default)]
    pub load: Load,
    /// Start offset, default `0s`.
    #[serde(default)]
    pub start: Dur,
    /// How long it sends; default until the suite ends. start + duration <= suite duration.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// Per-request timeout (connect + response), 1ms..=60s, default `2s`.
    #[serde(default = "d2s")]
    pub timeout: Dur,
    /// A real proxy in the client pod: `nginx` runs Debian's nginx with
    /// `proxy_pass` to the service VIP on the pod's 127.0.0.1:8080, and the
    /// load generator sends into it (`connection`, `pool_size` then shape
    /// that loopback leg; nginx's upstream connections take kernel ports
    /// from `source_ports.range`, which must be `ephemeral`).
    #[serde(default)]
    pub proxy: Option<ProxyKind>,
    /// The proxy's upstream settings (only with `proxy`).
    #[serde(default)]
    pub upstream: Option<UpstreamSpec>,
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
