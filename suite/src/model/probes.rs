//! `deployments[].probes`: kubelet's startup, readiness and liveness
//! probes, their handlers (tcp, http, exec) and timing fields with
//! kubelet's defaults.
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    defaults::{d10, one_u32},
    json_schema,
};
use crate::duration::Dur;

/// The pod's probes, each optional (Kubernetes: no probe = always passing).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probes {
    /// startupProbe: until it succeeds, readiness and liveness wait; its
    /// failure restarts the container. success_threshold must be 1.
    #[serde(default)]
    #[schemars(extend("properties" = { "success_threshold": { "const": 1 } }))]
    pub startup: Option<Probe>,
    /// readinessProbe: a failing pod leaves the service's endpoints.
    #[serde(default)]
    pub readiness: Option<Probe>,
    /// livenessProbe: failure restarts the container. success_threshold
    /// must be 1.
    #[serde(default)]
    #[schemars(extend("properties" = { "success_threshold": { "const": 1 } }))]
    pub liveness: Option<Probe>,
}

/// One probe: exactly one handler (`tcp`, `http` or `exec`) and kubelet's
/// timing fields with kubelet's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = json_schema::one_handler)]
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
    /// initialDelaySeconds, default `0s` (scaled), at most 1h.
    #[serde(default)]
    pub initial_delay: Dur,
    /// periodSeconds, default `10s` (scaled); above 0s and at least 100ms
    /// once multiplied by kubelet.time_scale.
    #[serde(default = "d10")]
    pub period: Dur,
    /// timeoutSeconds, default `1s` (not scaled), 10ms..=60s.
    #[serde(default = "d1s")]
    pub timeout: Dur,
    /// successThreshold, default 1; must be 1 for liveness and startup.
    #[serde(default = "one_u32")]
    #[schemars(range(min = 1))]
    pub success_threshold: u32,
    /// failureThreshold, 1..=1000, default 3.
    #[serde(default = "d3")]
    #[schemars(range(min = 1, max = 1000))]
    pub failure_threshold: u32,
}
fn d1s() -> Dur {
    Dur(Duration::from_secs(1))
}
fn d3() -> u32 {
    3
}

/// tcpSocket handler.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    /// 1..=65535; default: the server's port.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
}

/// httpGet handler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// Request path, starting with '/', at most 1024 bytes, no whitespace
    /// or control characters, default `/healthz`.
    #[serde(default = "default_health_path")]
    #[schemars(pattern(json_schema::HTTP_PATH_PATTERN), length(max = 1024))]
    pub path: String,
    /// 1..=65535; default: the server's port.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// httpHeaders: extra request headers (kubelet sends `User-Agent:
    /// kube-probe/<version>` and `Accept: */*` unless overridden).
    #[serde(default)]
    pub headers: Vec<HttpHeader>,
}
fn default_health_path() -> String {
    "/healthz".to_owned()
}

/// One request header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpHeader {
    /// Header name: 1 or more token characters (RFC 9110).
    #[schemars(pattern(json_schema::HEADER_NAME_PATTERN))]
    pub name: String,
    /// Header value, without CR, LF or NUL; empty removes a kubelet default.
    #[schemars(pattern(json_schema::HEADER_VALUE_PATTERN))]
    pub value: String,
}

/// exec handler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecProbe {
    /// argv, at least one element, the program not empty; run in the pod's
    /// netns with no shell.
    #[schemars(length(min = 1), extend("prefixItems" = [{ "minLength": 1 }]))]
    pub command: Vec<String>,
}
