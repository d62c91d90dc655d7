//! What the kube-proxy engines decide before writing any rule: the proxy
//! mode, which endpoints a service dispatches to, which of its chains exist
//! and where its ClusterIP and NodePort traffic go ([`Layout`]), and which
//! UDP conntrack entries a sync leaves stale.
use std::net::{Ipv4Addr, SocketAddrV4};

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

/// Which of a service's endpoint lists a chain dispatches to: the
/// cluster-wide one (iptables `KUBE-SVC-*`, nftables `service-*`) or the
/// node's own (`KUBE-SVL-*`, `local-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Cluster,
    Local,
}

/// A service's NodePort on this node as one sync sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePortRules {
    pub port: u16,
    /// The node's fabric address: svclab's counter rules match NodePort
    /// connections by it (their conntrack original destination).
    pub node_addr: Ipv4Addr,
    /// `externalTrafficPolicy: Local`.
    pub external_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    /// The endpoints external traffic uses (see [`cluster_endpoints`]).
    pub endpoints: Vec<SocketAddrV4>,
    /// externalTrafficPolicy Local with no endpoint on this node while the
    /// service has some elsewhere.
    pub none_local: bool,
    /// The service's cluster-wide endpoints as this node sees them: the
    /// Cluster-policy chain's list when neither policy is Cluster (the
    /// short-circuit target under externalTrafficPolicy Local).
    pub cluster: Vec<SocketAddrV4>,
}

impl NodePortRules {
    /// `node_addr:port`, written as a frontend: the original destination
    /// of the connections the NodePort takes (svclab's counter rules).
    pub fn frontend(&self, proto: Protocol) -> Frontend {
        Frontend {
            vip: self.node_addr,
            port: self.port,
            proto,
        }
    }
}

/// What kube-proxy's `syncProxyRules` works out for a service before it
/// writes a rule (pkg/proxy/iptables/proxier.go and
/// pkg/proxy/nftables/proxier.go alike): the endpoints of its two policy
/// chains, where ClusterIP traffic goes, and its NodePort's handling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// `clusterEndpoints` of the Cluster-policy chain (empty: no chain,
    /// `usesClusterPolicyChain` false).
    pub cluster: Vec<SocketAddrV4>,
    /// `localEndpoints` of the Local-policy chain (empty: no chain).
    pub local: Vec<SocketAddrV4>,
    /// The chain ClusterIP traffic jumps to (`internalTrafficChain`), or
    /// None when `hasInternalEndpoints` is false: the filter rule drops or
    /// rejects it.
    pub internal: Option<Policy>,
    /// `hasEndpoints`: the service has usable endpoints somewhere, on this
    /// node or not (decides DROP "has no local endpoints" against REJECT
    /// "has no endpoints").
    pub has_endpoints: bool,
    pub external: Option<ExternalLayout>,
}

/// A NodePort's part of a [`Layout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExternalLayout {
    pub port: u16,
    /// `ExternalPolicyLocal()`.
    pub local: bool,
    /// The chain the external chain ends in (`externalPolicyChain`), or
    /// None when `hasExternalEndpoints` is false: the filter drops (or
    /// rejects) what the short-circuit rules leave.
    pub policy: Option<Policy>,
    /// Under Local: where pod and node-originated traffic is
    /// short-circuited to (kube-proxy: always the Cluster-policy chain).
    pub shortcut: Option<Policy>,
}

impl Layout {
    /// The endpoints of `p`'s chain.
    pub fn list(&self, p: Policy) -> &[SocketAddrV4] {
        match p {
            Policy::Cluster => &self.cluster,
            Policy::Local => &self.local,
        }
    }

    /// `usesExternalTrafficChain`: a NodePort and endpoints somewhere
    /// (the short-circuit rules are needed even with none on this node).
    pub fn uses_external(&self) -> bool {
        self.external.is_some() && self.has_endpoints
    }

    /// `allLocallyReachableEndpoints`: the endpoint chains to write, the
    /// cluster-wide list's then the node's own that are not in it.
    pub fn reachable(&self) -> Vec<SocketAddrV4> {
        let mut v = self.cluster.clone();
        v.extend(self.local.iter().filter(|e| !self.cluster.contains(e)));
        v
    }
}

/// The [`Layout`] of a service whose internal (pod → ClusterIP) traffic
/// uses `endpoints` (`none_local`: none here, some elsewhere, under
/// internalTrafficPolicy Local), with NodePort `np` or none.
///
/// Without a NodePort the engine is not told the internal policy, so the
/// list goes to the Cluster-policy chain whatever it is (svclab's naming
/// simplification: kube-proxy would name it `KUBE-SVL` under Local; the
/// rules are the same). With one, the lists go where kube-proxy puts them:
/// the internal list in the chain of the internal policy, the external
/// list in that of the external policy (when both policies are the same,
/// the lists are the same and the internal one is used), and
/// `UsesClusterEndpoints()` is true for every externally accessible
/// service, so under externalTrafficPolicy Local the short-circuit rules
/// go to the cluster-wide chain — with both policies Local, that chain
/// holds the cluster-wide list the NodePort carries (`np.cluster`).
pub fn layout(endpoints: &[SocketAddrV4], none_local: bool, np: Option<&NodePortRules>) -> Layout {
    let Some(np) = np else {
        return Layout {
            cluster: endpoints.to_vec(),
            local: Vec::new(),
            internal: (!endpoints.is_empty()).then_some(Policy::Cluster),
            has_endpoints: !endpoints.is_empty() || none_local,
            external: None,
        };
    };
    let policy = |local: bool| {
        if local {
            Policy::Local
        } else {
            Policy::Cluster
        }
    };
    let (internal, external) = (policy(np.internal_local), policy(np.external_local));
    let list = |p: Policy| {
        if internal == p {
            endpoints.to_vec()
        } else if external == p {
            np.endpoints.clone()
        } else if p == Policy::Cluster && np.external_local {
            // `UsesClusterEndpoints()`: "Even if the external traffic
            // policy is Local, we need Cluster endpoints to implement
            // short circuiting".
            np.cluster.clone()
        } else {
            Vec::new()
        }
    };
    let mut l = Layout {
        cluster: list(Policy::Cluster),
        local: list(Policy::Local),
        ..Layout::default()
    };
    l.has_endpoints = !l.cluster.is_empty() || !l.local.is_empty() || none_local || np.none_local;
    l.internal = (!l.list(internal).is_empty()).then_some(internal);
    let shortcut = if !np.external_local {
        None
    } else if !l.cluster.is_empty() {
        Some(Policy::Cluster)
    } else if !l.local.is_empty() {
        Some(Policy::Local)
    } else {
        None
    };
    l.external = Some(ExternalLayout {
        port: np.port,
        local: np.external_local,
        policy: (!l.list(external).is_empty()).then_some(external),
        shortcut,
    });
    l
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
