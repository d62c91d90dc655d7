//! Which of a service's endpoints each node's dataplane sends traffic to:
//! kube-proxy's `CategorizeEndpoints` (pkg/proxy/topology.go, v1.31) fed
//! with the hints the EndpointSlice controller writes for
//! `trafficDistribution: PreferClose` (k8s.io/endpointslice v0.31.0
//! trafficdist/trafficdist.go:131-143: every ready endpoint hinted for its
//! own zone, nothing else; no hint is ever withdrawn for a zone without
//! endpoints — the fallback is the proxy's).
//!
//! - Cluster policy: the ready endpoints, narrowed to those hinted for the
//!   node's zone when topology can be used — the node has a zone, every
//!   ready endpoint has a hint and at least one names the node's zone
//!   (`canUseTopology`) — plus the serving terminating ones, which the
//!   engines fall back to when no ready one is left (topology ignored).
//! - `internalTrafficPolicy: Local`: the node's own ready endpoints, else
//!   its serving terminating ones; none while the service has endpoints
//!   elsewhere means the node drops its pods' new connections (kube-proxy's
//!   "has no local endpoints" DROP) rather than refusing them.
//!
//! Both kube-proxy and Cilium apply these in their control plane; every
//! engine gets its node's list. Cilium reads the hints slightly
//! differently ([`Routing::cilium`]) and has internalTrafficPolicy from
//! v1.13.0 and trafficDistribution from v1.16.0 (older profiles are
//! refused at validation).
use svclab_datapath::{Backend, BackendState};

/// One endpoint of a service and the node its pod runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub backend: Backend,
    pub node: u8,
}

/// How a service routes, from its spec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Routing {
    /// `internalTrafficPolicy: Local`.
    pub local: bool,
    /// `trafficDistribution: PreferClose`.
    pub prefer_close: bool,
    /// Cilium's reading of the hints (v1.16.0 pkg/k8s/service_cache.go:
    /// 576-619 `filterEndpoints`): any endpoint without a hint — a
    /// terminating one, which the EndpointSlice controller leaves unhinted
    /// — turns topology off for every node, and the zone's endpoints are
    /// all it keeps (no separate terminating list).
    pub cilium: bool,
}

/// What one node's dataplane gets for a service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    pub backends: Vec<Backend>,
    /// No endpoint here, some elsewhere, under the Local policy: drop.
    pub none_local: bool,
}

/// The node's view of `eps` under `routing`; `zones[i]` is node i's zone
/// (empty: no zone labels).
pub fn for_node(eps: &[Endpoint], node: u8, zones: &[String], routing: Routing) -> NodeView {
    let zone = |n: u8| zones.get(usize::from(n)).map(String::as_str);
    let ready = |e: &Endpoint| e.backend.state == BackendState::Active;
    let serving_terminating = |e: &Endpoint| e.backend.state == BackendState::Terminating;
    if routing.local {
        let here: Vec<&Endpoint> = eps.iter().filter(|e| e.node == node).collect();
        let mut v: Vec<Backend> = here
            .iter()
            .filter(|e| ready(e))
            .map(|e| e.backend)
            .collect();
        if v.is_empty() {
            v = here
                .iter()
                .filter(|e| serving_terminating(e))
                .map(|e| e.backend)
                .collect();
        }
        let any = eps.iter().any(|e| ready(e) || serving_terminating(e));
        return NodeView {
            none_local: v.is_empty() && any,
            backends: v,
        };
    }
    let my_zone = zone(node).filter(|z| !z.is_empty());
    // PreferClose hints: a ready endpoint's own zone. Usable when the node
    // has a zone and some ready endpoint is hinted for it (every ready one
    // has a hint by construction).
    let topology = routing.prefer_close
        && my_zone.is_some_and(|z| eps.iter().any(|e| ready(e) && zone(e.node) == Some(z)))
        && !(routing.cilium && eps.iter().any(|e| !ready(e)));
    let mut v: Vec<Backend> = eps
        .iter()
        .filter(|e| ready(e) && (!topology || zone(e.node) == my_zone))
        .map(|e| e.backend)
        .collect();
    v.extend(
        eps.iter()
            .filter(|e| serving_terminating(e))
            .map(|e| e.backend),
    );
    NodeView {
        backends: v,
        none_local: false,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::*;

    fn ep(node: u8, host: u8, state: BackendState) -> Endpoint {
        Endpoint {
            backend: Backend {
                addr: SocketAddrV4::new(Ipv4Addr::new(198, 18, node, host), 8080),
                state,
            },
            node,
        }
    }

    fn hosts(v: &NodeView) -> Vec<(u8, u8)> {
        v.backends
            .iter()
            .map(|b| {
                let o = b.addr.ip().octets();
                (o[2], o[3])
            })
            .collect()
    }

    const R: BackendState = BackendState::Active;
    const T: BackendState = BackendState::Terminating;

    #[test]
    fn cluster_policy_gives_every_node_every_endpoint() {
        let eps = [ep(0, 2, R), ep(1, 2, R), ep(1, 3, T)];
        let v = for_node(&eps, 0, &[], Routing::default());
        assert_eq!(hosts(&v), vec![(0, 2), (1, 2), (1, 3)]);
        assert!(!v.none_local);
    }

    #[test]
    fn local_policy_keeps_the_nodes_own_and_drops_when_it_has_none() {
        let eps = [ep(0, 2, R), ep(1, 2, R), ep(1, 3, T)];
        let local = Routing {
            local: true,
            ..Routing::default()
        };
        assert_eq!(hosts(&for_node(&eps, 1, &[], local)), vec![(1, 2)]);
        // Node 2 has none, the service has some: drop, not refuse.
        let v = for_node(&eps, 2, &[], local);
        assert!(v.backends.is_empty() && v.none_local);
        // Only a terminating one here: it serves (the local fallback).
        let eps = [ep(0, 2, R), ep(1, 3, T)];
        assert_eq!(hosts(&for_node(&eps, 1, &[], local)), vec![(1, 3)]);
        // No endpoint anywhere: no endpoints, not "no local endpoints".
        let v = for_node(&[], 1, &[], local);
        assert!(!v.none_local);
    }

    #[test]
    fn prefer_close_keeps_the_zones_ready_endpoints_and_falls_back_when_it_has_none() {
        let zones: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let close = Routing {
            prefer_close: true,
            ..Routing::default()
        };
        let eps = [ep(0, 2, R), ep(1, 2, R), ep(1, 3, R), ep(2, 2, T)];
        assert_eq!(
            hosts(&for_node(&eps, 0, &zones, close)),
            vec![(0, 2), (2, 2)]
        );
        assert_eq!(
            hosts(&for_node(&eps, 1, &zones, close)),
            vec![(1, 2), (1, 3), (2, 2)]
        );
        // Zone c has no ready endpoint: every ready one (canUseTopology
        // is false for its node).
        assert_eq!(
            hosts(&for_node(&eps, 2, &zones, close)),
            vec![(0, 2), (1, 2), (1, 3), (2, 2)]
        );
        // Without zones, PreferClose changes nothing.
        assert_eq!(for_node(&eps, 0, &[], close).backends.len(), 4);
        // Cilium: the unhinted terminating endpoint turns topology off.
        let cilium = Routing {
            cilium: true,
            ..close
        };
        assert_eq!(for_node(&eps, 0, &zones, cilium).backends.len(), 4);
        let ready_only = [ep(0, 2, R), ep(1, 2, R)];
        assert_eq!(
            hosts(&for_node(&ready_only, 0, &zones, cilium)),
            vec![(0, 2)]
        );
    }
}
