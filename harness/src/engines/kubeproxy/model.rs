//! What the kube-proxy engines decide before writing any rule: the proxy
//! mode, which endpoints a service dispatches to, and which UDP conntrack
//! entries a sync leaves stale.
use std::net::SocketAddrV4;

use svclab_datapath::{Backend, BackendState, Frontend, Protocol};

/// kube-proxy's proxy mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Iptables,
    Nftables,
}

impl Mode {
    pub fn engine(self) -> &'static str {
        match self {
            Mode::Iptables => "kube-proxy-iptables",
            Mode::Nftables => "kube-proxy-nftables",
        }
    }
}

/// The endpoints a ClusterIP service's `KUBE-SVC` chain dispatches to:
/// the ready ones, or, when none is ready, the serving terminating ones
/// (pkg/proxy/topology.go `CategorizeEndpoints`, KEP-1669, GA in 1.28).
/// svclab's terminating pods still serve until their process ends.
/// Address order, so a sync is a pure function of the endpoint set.
pub fn cluster_endpoints(backends: &[Backend]) -> Vec<SocketAddrV4> {
    let pick = |state: BackendState| {
        let mut v: Vec<SocketAddrV4> = backends
            .iter()
            .filter(|b| b.state == state)
            .map(|b| b.addr)
            .collect();
        v.sort();
        v
    };
    let ready = pick(BackendState::Active);
    if ready.is_empty() {
        pick(BackendState::Terminating)
    } else {
        ready
    }
}

/// Endpoints whose UDP conntrack entries kube-proxy deletes after a sync
/// (pkg/proxy/conntrack/cleanup.go `CleanStaleEntries`): those that left a
/// UDP service's endpoints. A UDP service that gains its first endpoint
/// also has its ClusterIP's entries cleared (`None` here), since packets
/// sent while it had none left entries that would blackhole.
pub fn stale_udp(
    f: Frontend,
    before: &[SocketAddrV4],
    after: &[SocketAddrV4],
) -> Vec<Option<SocketAddrV4>> {
    if f.proto != Protocol::Udp {
        return Vec::new();
    }
    let mut v: Vec<Option<SocketAddrV4>> = before
        .iter()
        .filter(|e| !after.contains(e))
        .map(|e| Some(*e))
        .collect();
    if before.is_empty() && !after.is_empty() {
        v.push(None);
    }
    v
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn be(h: u8, state: BackendState) -> Backend {
        Backend {
            addr: SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, h), 8080),
            state,
        }
    }

    #[test]
    fn terminating_endpoints_serve_only_when_none_is_ready() {
        use BackendState::{Active, Terminating};
        let v = cluster_endpoints(&[be(3, Active), be(2, Terminating)]);
        assert_eq!(v, vec![be(3, Active).addr]);
        let v = cluster_endpoints(&[be(4, Terminating), be(2, Terminating)]);
        assert_eq!(v, vec![be(2, Active).addr, be(4, Active).addr]);
    }

    #[test]
    fn udp_entries_of_removed_endpoints_are_stale_tcp_never() {
        let a = be(2, BackendState::Active).addr;
        let b = be(3, BackendState::Active).addr;
        let udp = Frontend {
            vip: Ipv4Addr::new(198, 19, 0, 10),
            port: 53,
            proto: Protocol::Udp,
        };
        assert_eq!(stale_udp(udp, &[a, b], &[b]), vec![Some(a)]);
        assert_eq!(stale_udp(udp, &[], &[b]), vec![None]);
        let tcp = Frontend::tcp(udp.vip, 80);
        assert!(stale_udp(tcp, &[a, b], &[b]).is_empty());
    }
}
