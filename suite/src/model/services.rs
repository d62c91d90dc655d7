//! The `services` section: ClusterIP services and the deployment whose
//! pods are their endpoints.
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

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
