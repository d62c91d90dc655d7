//! The `services` section: ClusterIP services and the deployment whose
//! pods are their endpoints.
use std::net::Ipv4Addr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::json_schema;

/// The service's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProtocolSpec {
    #[serde(rename = "TCP")]
    Tcp,
}

/// A ClusterIP service: a frontend address whose backends are a
/// deployment's ready pods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// DNS-label name, unique.
    #[schemars(pattern(json_schema::LABEL_PATTERN), length(min = 1, max = 40))]
    pub name: String,
    /// Must be inside 198.19.0.0/24 (not .0 or .255), unique per (ip, port).
    #[schemars(pattern(json_schema::CLUSTER_IP_PATTERN))]
    pub cluster_ip: Ipv4Addr,
    /// 1..=65535.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Backend port, 1..=65535; default: the selected deployment's server port.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub target_port: Option<u16>,
    /// Only `TCP` today; default `TCP`.
    #[serde(default = "default_proto")]
    pub protocol: ProtocolSpec,
    /// Name of the deployment whose pods are the endpoints (must exist).
    pub selector: String,
    /// `ClientIP`: a client address keeps the backend it was first given
    /// for `session_affinity_timeout` after its last use (Kubernetes'
    /// `sessionAffinity`); default `None`.
    #[serde(default)]
    pub session_affinity: SessionAffinity,
    /// `sessionAffinityConfig.clientIP.timeoutSeconds`: 1s..=86400s,
    /// default 10800s (`v1.DefaultClientIPServiceAffinitySeconds`); only
    /// with `session_affinity: ClientIP`.
    #[serde(default)]
    pub session_affinity_timeout: Option<crate::duration::Dur>,
    /// `Local`: a pod's traffic to the service goes only to endpoints on
    /// its own node (none there: it is dropped); default `Cluster`
    /// (Kubernetes' `internalTrafficPolicy`).
    #[serde(default)]
    pub internal_traffic_policy: TrafficPolicy,
    /// `PreferClose`: endpoints in the client's zone first
    /// (`spec.trafficDistribution`, Kubernetes v1.31); needs
    /// `cluster.zones`.
    #[serde(default)]
    pub traffic_distribution: Option<TrafficDistribution>,
}

/// Kubernetes' `internalTrafficPolicy` / `externalTrafficPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

/// Kubernetes' `spec.trafficDistribution`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TrafficDistribution {
    PreferClose,
}

/// Kubernetes' `Service.spec.sessionAffinity`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SessionAffinity {
    #[default]
    None,
    #[serde(rename = "ClientIP")]
    ClientIp,
}

/// `v1.DefaultClientIPServiceAffinitySeconds` (k8s.io/api core/v1
/// types.go).
pub const DEFAULT_AFFINITY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10_800);

impl Service {
    /// The affinity timeout when `ClientIP` is set.
    #[must_use]
    pub fn affinity(&self) -> Option<std::time::Duration> {
        (self.session_affinity == SessionAffinity::ClientIp).then(|| {
            self.session_affinity_timeout
                .map_or(DEFAULT_AFFINITY_TIMEOUT, |d| d.0)
        })
    }
}
fn default_proto() -> ProtocolSpec {
    ProtocolSpec::Tcp
}
