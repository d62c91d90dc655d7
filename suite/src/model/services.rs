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

/// A service: a ClusterIP frontend whose backends are a deployment's
/// ready pods, and with `type: NodePort` a port on every node for clients
/// outside the cluster.
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
    /// `NodePort`: the service is also reachable on `node_port` of every
    /// node's address, for `external` clients; default `ClusterIP`
    /// (Kubernetes' `spec.type`).
    #[serde(default, rename = "type")]
    pub service_type: ServiceType,
    /// The NodePort, 30000..=32767 (kube-apiserver's default
    /// `--service-node-port-range`), unique; default: the lowest free one
    /// from 30000 in service order. Only with `type: NodePort`.
    #[serde(default)]
    #[schemars(range(min = 30000, max = 32767))]
    pub node_port: Option<u16>,
    /// `Local`: external traffic through a node's NodePort goes only to
    /// that node's endpoints and keeps its source address (none there: it
    /// is dropped); default `Cluster` (any endpoint, source address
    /// masqueraded — Kubernetes' `externalTrafficPolicy`). Only with
    /// `type: NodePort`.
    #[serde(default)]
    pub external_traffic_policy: Option<TrafficPolicy>,
}

/// Kubernetes' `spec.type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
}

/// kube-apiserver's default `--service-node-port-range` (30000-32767,
/// pkg/kubeapiserver/options `DefaultServiceNodePortRange`).
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<u16> = 30_000..=32_767;

/// Each NodePort service's port, in service order: its own `node_port`,
/// else the lowest free one of [`NODE_PORT_RANGE`] (services without a
/// NodePort get `None`).
#[must_use]
pub fn node_ports(services: &[Service]) -> Vec<Option<u16>> {
    let taken: std::collections::BTreeSet<u16> =
        services.iter().filter_map(|s| s.node_port).collect();
    let mut free = NODE_PORT_RANGE.filter(|p| !taken.contains(p));
    services
        .iter()
        .map(|s| match s.service_type {
            ServiceType::ClusterIP => None,
            ServiceType::NodePort => s.node_port.or_else(|| free.next()),
        })
        .collect()
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
    /// `externalTrafficPolicy: Local` on a NodePort service.
    #[must_use]
    pub fn external_local(&self) -> bool {
        self.external_traffic_policy == Some(TrafficPolicy::Local)
    }

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
