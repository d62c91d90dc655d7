//! The `deployments` section: each deployment's replicas, placement,
//! termination grace and the server its pods run (`svclab pod-server` by
//! default, or a real program: [`super::programs`]). Probes are in
//! [`super::probes`].
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    defaults::{d60, default_grace, one_f64, one_u32},
    json_schema,
    probes::Probes,
    programs::{ContainerSpec, NginxServerSpec},
    rollouts::{Lifecycle, Strategy},
};
use crate::duration::Dur;

/// A deployment: `replicas` pods, each running the same server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// DNS-label name (lowercase letters, digits, '-'; 1..=40 chars), unique.
    #[schemars(pattern(json_schema::LABEL_PATTERN), length(min = 1, max = 40))]
    pub name: String,
    /// 0..=2000.
    #[schemars(range(max = 2000))]
    pub replicas: u32,
    /// Node indexes to place pods on, round robin, each below cluster.nodes
    /// and listed once; default: all nodes.
    #[serde(default)]
    #[schemars(inner(range(max = 15)), extend("uniqueItems" = true))]
    pub nodes: Vec<u8>,
    /// The server each pod runs (svclab's pod server).
    #[serde(default)]
    pub server: ServerSpec,
    /// Instead of `server`: any program as the pod's container.
    #[serde(default)]
    pub container: Option<ContainerSpec>,
    /// Instead of `server`: Debian's nginx as the pod's server.
    #[serde(default)]
    pub nginx: Option<NginxServerSpec>,
    /// Probes kubelet runs against each pod from its node.
    #[serde(default)]
    pub probes: Probes,
    /// terminationGracePeriodSeconds: SIGTERM, this long, then SIGKILL, when
    /// the pod is deleted or its container killed. Default `30s` (scaled),
    /// at most 10m.
    #[serde(default = "default_grace")]
    pub termination_grace: Dur,
    /// The container's lifecycle hooks (preStop).
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// How a `rollout` replaces pods: RollingUpdate (default, 25%/25%) or Recreate.
    #[serde(default)]
    pub strategy: Strategy,
    /// minReadySeconds: a new pod counts as available this long after it
    /// became ready, default `0s` (scaled like kubelet), at most 10m.
    #[serde(default)]
    pub min_ready_seconds: Dur,
    /// tolerationSeconds of the pods' `node.kubernetes.io/unreachable:NoExecute`
    /// toleration: how long a pod stays bound to a node the node-lifecycle
    /// controller tainted unreachable (its lease went stale) before the
    /// taint-eviction controller deletes it and the ReplicaSet replaces it
    /// on a Ready node. Default `300s`, what the DefaultTolerationSeconds
    /// admission plugin gives every pod (scaled like kubelet), at most 1h.
    #[serde(default = "super::defaults::default_toleration")]
    pub unreachable_toleration: Dur,
}

/// What a deployment's pods run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Workload<'a> {
    PodServer(&'a ServerSpec),
    Container(&'a ContainerSpec),
    Nginx(&'a NginxServerSpec),
}

impl Deployment {
    /// What its pods run: `container`, else `nginx`, else `server`.
    #[must_use]
    pub fn workload(&self) -> Workload<'_> {
        match (&self.container, &self.nginx) {
            (Some(c), _) => Workload::Container(c),
            (None, Some(n)) => Workload::Nginx(n),
            (None, None) => Workload::PodServer(&self.server),
        }
    }

    /// The port its pods serve on.
    #[must_use]
    pub fn port(&self) -> u16 {
        match self.workload() {
            Workload::PodServer(s) => s.port,
            Workload::Container(c) => c.port,
            Workload::Nginx(n) => n.port,
        }
    }

    /// Whether every response names the pod in an `X-Pod` header (svclab's
    /// pod server and the nginx preset do; an arbitrary program need not).
    #[must_use]
    pub fn names_pod(&self) -> bool {
        !matches!(self.workload(), Workload::Container(_))
    }
}

/// A health listener apart from the serving port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// Port of the health listener (not the serving port), 1..=65535.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Its own workers, 1..=16, default 1.
    #[serde(default = "one_u32")]
    #[schemars(range(min = 1, max = 16))]
    pub workers: u32,
}

/// Which side closes a connection first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Closer {
    /// The server closes first after the response (the incident's setup).
    Server,
    /// The client closes first.
    Client,
}

/// The HTTP server a deployment's pods run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Listening port, 1..=65535, default 8080.
    #[serde(default = "d8080")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Worker threads; a connection is accepted only when one is free. 1..=256, default 4.
    #[serde(default = "d4")]
    #[schemars(range(min = 1, max = 256))]
    pub workers: u32,
    /// listen(2) backlog, 1..=65535, default 128.
    #[serde(default = "d128")]
    #[schemars(range(min = 1, max = 65535))]
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
    #[schemars(range(min = 0.1, max = 64))]
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
    /// What the server does on SIGTERM: `exit` at once (default), `stop-accepting`
    /// (close the listener, finish in-flight requests, close idle
    /// connections), `drain` (keep serving, answer `Connection: close`,
    /// exit once no connection is open) or `ignore` (SIGKILL ends it).
    #[serde(default)]
    pub on_sigterm: SigtermMode,
}

/// The pod server's SIGTERM behaviour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SigtermMode {
    /// Exit at once: queued connections are reset, in-flight requests lost.
    #[default]
    Exit,
    /// Close the listener (new connections refused), finish in-flight
    /// requests, close idle keep-alive connections, exit.
    StopAccepting,
    /// Keep serving; every response says `Connection: close`; exit once
    /// no connection has been open for a moment.
    Drain,
    /// Ignore it (ended by SIGKILL after the grace).
    Ignore,
}

impl SigtermMode {
    /// The name the suite and `svclab pod-server --on-sigterm` use.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Exit => "exit",
            Self::StopAccepting => "stop-accepting",
            Self::Drain => "drain",
            Self::Ignore => "ignore",
        }
    }
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
            on_sigterm: SigtermMode::Exit,
        }
    }
}
