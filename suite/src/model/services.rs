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
}
fn default_proto() -> ProtocolSpec {
    ProtocolSpec::Tcp
}
