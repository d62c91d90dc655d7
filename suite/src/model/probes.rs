//! `deployments[].probes`: kubelet's startup, readiness and liveness
//! probes, their handlers (tcp, http, exec) and timing fields with
//! kubelet's defaults.
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::defaults::{d10, one_u32};
use crate::duration::Dur;

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
