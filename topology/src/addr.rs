//! The address plan, all inside 198.18.0.0/15: node i's pods live in its
//! pod CIDR, the i-th block of [`AddrPlan::prefix_len`] bits inside
//! 198.18.0.0/16 (a /24 by default: 198.18.i.0/24), behind the gateway at
//! the block's first host address; node i sits on the fabric at
//! 198.19.255.<i+1>/24 and measures from 198.19.254.<i+1>. One place for the arithmetic, so nodes, pods, the
//! harness and tests agree on it.
use std::net::Ipv4Addr;

/// Most nodes: fabric addresses are 198.19.255.<i+1> with i+1 <= 254.
pub const MAX_NODES: u8 = 253;

/// 198.18.0.0/16: every node's pod CIDR is carved from it.
const POD_SPACE: u32 = u32::from_be_bytes([198, 18, 0, 0]);
const POD_SPACE_BITS: u8 = 16;
/// The smallest pod CIDR is a /24 (host bits).
const MIN_HOST_BITS: u8 = 8;

/// How big each node's pod CIDR is: the same for every node of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrPlan {
    host_bits: u8,
}

impl Default for AddrPlan {
    /// A /24 per node: 198.18.<node>.0/24, pods at .2..=.254.
    fn default() -> Self {
        Self {
            host_bits: MIN_HOST_BITS,
        }
    }
}

impl AddrPlan {
    /// The smallest plan (at least a /24 per node) in which each of
    /// `nodes` nodes has room for `pods` pods; `None` when 198.18.0.0/16
    /// cannot hold that many blocks of that size.
    pub fn for_pods(nodes: u8, pods: u32) -> Option<Self> {
        (MIN_HOST_BITS..=POD_SPACE_BITS)
            .map(|host_bits| Self { host_bits })
            .find(|p| p.pods_per_node() >= pods)
            .filter(|p| p.fits(nodes))
    }

    /// The most pods per node any plan gives `nodes` nodes.
    pub fn max_pods_per_node(nodes: u8) -> u32 {
        (MIN_HOST_BITS..=POD_SPACE_BITS)
            .rev()
            .map(|host_bits| Self { host_bits })
            .find(|p| p.fits(nodes))
            .map_or(0, Self::pods_per_node)
    }

    fn fits(self, nodes: u8) -> bool {
        u32::from(nodes) << self.host_bits <= 1 << POD_SPACE_BITS
    }

    fn size(self) -> u32 {
        1 << self.host_bits
    }

    /// Prefix length of each node's pod CIDR (24 for a /24).
    pub fn prefix_len(self) -> u8 {
        32 - self.host_bits
    }

    /// Pod addresses per node: the block less its network address, the
    /// gateway and the broadcast address.
    pub fn pods_per_node(self) -> u32 {
        self.size() - 3
    }

    fn base(self, node: u8) -> u32 {
        POD_SPACE + (u32::from(node) << self.host_bits)
    }

    /// Node `node`'s pod CIDR (network address).
    pub fn pod_cidr(self, node: u8) -> Ipv4Addr {
        Ipv4Addr::from(self.base(node))
    }

    /// The pods' gateway on node `node`: the CIDR's first host address
    /// (198.18.<node>.1 with /24s).
    pub fn gateway(self, node: u8) -> Ipv4Addr {
        Ipv4Addr::from(self.base(node) + 1)
    }

    /// The `k`-th pod address of node `node` (k = 0 is the first after
    /// the gateway), if the CIDR has that many.
    pub fn pod_ip(self, node: u8, k: u32) -> Option<Ipv4Addr> {
        (k < self.pods_per_node()).then(|| Ipv4Addr::from(self.base(node) + 2 + k))
    }

    /// Whether `ip` is a pod address (not the network, gateway or
    /// broadcast address) of node `node`'s CIDR.
    pub fn is_pod_ip(self, node: u8, ip: Ipv4Addr) -> bool {
        u32::from(ip)
            .checked_sub(self.base(node) + 2)
            .is_some_and(|k| k < self.pods_per_node())
    }
}

/// The pods' gateway on node `node` in the default plan: 198.18.<node>.1.
pub fn node_gateway(node: u8) -> Ipv4Addr {
    AddrPlan::default().gateway(node)
}

/// The control plane's address on the fabric bridge (the fabric netns):
/// above every node's (at most 253 nodes: .1–.253).
pub const CONTROL_PLANE_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 254);

/// Node `node`'s address on the fabric: 198.19.255.<node+1>.
pub fn fabric_address(node: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 255, node.saturating_add(1))
}

/// Node `node`'s measuring address, 198.19.254.<node+1>/32 on its `lo`
/// (routed nowhere else: only its own pods reach it, through their
/// gateway). A fault probe sends from it so that a fault which spares the
/// node's own traffic (the kubelet's probes, from the gateway address the
/// kernel picks first) still meets the probe.
pub fn probe_address(node: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 254, node.saturating_add(1))
}

/// Most external clients: addresses 198.19.253.<k+1> with k+1 <= 254.
pub const MAX_EXTERNAL: u8 = 254;

/// The external network beside the fabric (`198.19.253.0/24`): the clients
/// outside the cluster that reach services through a node's NodePort.
pub const EXTERNAL_NET: Ipv4Addr = Ipv4Addr::new(198, 19, 253, 0);

/// External client `k`'s address, 198.19.253.<k+1>.
pub fn external_address(k: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 253, k.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_plan_is_a_slash_24_per_node() {
        let p = AddrPlan::default();
        assert_eq!(p.prefix_len(), 24);
        assert_eq!(p.pod_cidr(3), Ipv4Addr::new(198, 18, 3, 0));
        assert_eq!(p.gateway(3), Ipv4Addr::new(198, 18, 3, 1));
        assert_eq!(p.pod_ip(3, 0), Some(Ipv4Addr::new(198, 18, 3, 2)));
        assert_eq!(p.pod_ip(3, 252), Some(Ipv4Addr::new(198, 18, 3, 254)));
        assert_eq!(p.pod_ip(3, 253), None);
        assert_eq!(p.pods_per_node(), 253);
        assert!(p.is_pod_ip(3, Ipv4Addr::new(198, 18, 3, 254)));
        assert!(!p.is_pod_ip(3, Ipv4Addr::new(198, 18, 3, 255)));
        assert!(!p.is_pod_ip(3, Ipv4Addr::new(198, 18, 3, 1)));
        assert!(!p.is_pod_ip(3, Ipv4Addr::new(198, 18, 4, 2)));
    }

    #[test]
    fn plans_grow_with_the_pods_and_stay_inside_198_18_slash_16() {
        assert_eq!(AddrPlan::for_pods(4, 253), Some(AddrPlan::default()));
        let p = AddrPlan::for_pods(4, 254).expect("a /23");
        assert_eq!(p.prefix_len(), 23);
        assert_eq!(p.pod_cidr(1), Ipv4Addr::new(198, 18, 2, 0));
        assert_eq!(p.gateway(1), Ipv4Addr::new(198, 18, 2, 1));
        assert_eq!(p.pod_ip(1, 254), Some(Ipv4Addr::new(198, 18, 3, 0)));
        assert_eq!(p.pod_ip(3, 508), Some(Ipv4Addr::new(198, 18, 7, 254)));
        assert_eq!(p.pod_ip(3, 509), None);
        // 16 nodes get at most a /20 each; 1 node the whole /16.
        assert_eq!(AddrPlan::max_pods_per_node(16), 4093);
        assert_eq!(AddrPlan::max_pods_per_node(1), 65533);
        assert_eq!(AddrPlan::max_pods_per_node(253), 253);
        assert!(AddrPlan::for_pods(16, 4093).is_some());
        assert_eq!(AddrPlan::for_pods(16, 4094), None);
        let last = AddrPlan::for_pods(16, 4093).expect("a /20");
        assert_eq!(
            last.pod_ip(15, 4092),
            Some(Ipv4Addr::new(198, 18, 255, 254))
        );
    }
}
