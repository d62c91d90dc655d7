//! The address plan, all inside 198.18.0.0/15: node i's pods live in
//! 198.18.i.0/24 behind the gateway 198.18.i.1, and node i sits on the
//! fabric at 198.19.255.<i+1>/24. One place for the arithmetic, so nodes,
//! pods and tests agree on it.
use std::net::Ipv4Addr;

/// Most nodes: fabric addresses are 198.19.255.<i+1> with i+1 <= 254.
pub const MAX_NODES: u8 = 253;

/// The pods' gateway on node `node`: 198.18.<node>.1.
pub fn node_gateway(node: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, node, 1)
}

/// Node `node`'s address on the fabric: 198.19.255.<node+1>.
pub fn fabric_address(node: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 255, node.saturating_add(1))
}
