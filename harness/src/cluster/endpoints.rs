//! Pods → endpoints → every node's dataplane, the way EndpointSlices feed
//! Cilium's agent, after `endpoints.propagation_delay` (the EndpointSlice
//! controller's sync plus the agent's watch and BPF map update). Each
//! pod's EndpointSlice conditions follow kubernetes v1.31
//! pkg/controller/endpointslice/utils.go podToEndpoint: `serving` = the
//! pod is Ready (ignoring deletion), `terminating` = it is being deleted,
//! `ready` = serving and not terminating. Cilium maps them to backend
//! states: ready → active; serving and terminating → terminating (its
//! existing flows drain, no new ones); not serving → no backend (flows
//! pinned to it are reselected). When a service has no active backend
//! left, its terminating (serving) ones take new flows where the engine's
//! release does that ([`Dataplane::terminating_fallback`]): Cilium from
//! v1.14.0 (PR 24174, backported to v1.13.2; v1.16.0
//! pkg/service/service.go:2072-2080 `segregateBackends`: "if
//! EnableK8sTerminatingEndpoint && len(activeBackends) == 0" the
//! terminating ones become active), not v1.11 or v1.12 (v1.12.0
//! service.go:1617-1640 keeps them for draining only); kube-proxy v1.30.
//! Also conntrack flushes.
//!
//! [`Dataplane::terminating_fallback`]: crate::engines::Dataplane::terminating_fallback
use std::{collections::BTreeMap, net::SocketAddrV4};

use svclab_datapath::{Backend, BackendState, Frontend};

use super::{
    routing::{self, Endpoint, NodeView, Routing},
    state::{Cluster, PendingEndpoints, Pod, ServiceEndpoints},
};

/// EndpointSlice conditions of one pod (podToEndpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conditions {
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

/// The conditions of `p`: serving while its container runs, its last
/// readiness was passing and its node is Ready (the node-lifecycle
/// controller's `MarkPodsNotReady` turns a NotReady node's pods not
/// ready), terminating once it is being deleted (or evicted while its
/// kubelet cannot see it).
fn conditions(p: &Pod, node_ready: bool) -> Conditions {
    let terminating = !p.active();
    let serving = p.kubelet.probes.ready() && p.kubelet.pid().is_some() && node_ready;
    Conditions {
        ready: serving && !terminating,
        serving,
        terminating,
    }
}

/// Cilium's backend for an endpoint's conditions (None: not a backend).
#[must_use]
pub fn backend_state(c: Conditions) -> Option<BackendState> {
    if c.ready {
        Some(BackendState::Active)
    } else if c.serving && c.terminating {
        Some(BackendState::Terminating)
    } else {
        None
    }
}

/// A service's backends as programmed: with no active one, the
/// terminating ones take new flows.
#[must_use]
pub fn with_fallback(mut backends: Vec<Backend>) -> Vec<Backend> {
    if !backends.iter().any(|b| b.state == BackendState::Active) {
        for b in &mut backends {
            b.state = BackendState::Active;
        }
    }
    backends
}

/// What one node's dataplane gets for one service.
struct NodeViews {
    frontend: Frontend,
    /// For pods' traffic to the ClusterIP.
    internal: NodeView,
    /// For traffic through the node's NodePort.
    external: Option<NodeView>,
    /// A NodePort service's cluster-wide list (kube-proxy's short-circuit
    /// target under the Local policy).
    cluster: Option<Vec<Backend>>,
}

impl Cluster {
    /// Computes every service's endpoints now and queues them for the
    /// datapath after the propagation delay (at once without one).
    pub fn sync_endpoints(&mut self) -> anyhow::Result<()> {
        let services = self.desired_endpoints();
        let now = self.now();
        if self
            .endpoint_queue
            .back()
            .is_some_and(|q| q.services == services)
        {
            return Ok(());
        }
        self.endpoint_queue.push_back(PendingEndpoints {
            due: now + self.propagation_delay,
            changed: now,
            services,
        });
        if self.propagation_delay.is_zero() {
            self.endpoints_tick()?;
        }
        Ok(())
    }

    fn desired_endpoints(&self) -> Vec<ServiceEndpoints> {
        self.services
            .iter()
            .map(|s| {
                let eps: Vec<Endpoint> = self
                    .pods
                    .values()
                    .filter(|p| p.deployment == s.selector)
                    .filter_map(|p| {
                        backend_state(conditions(p, self.node_ready(p.node))).map(|state| {
                            Endpoint {
                                backend: Backend {
                                    addr: SocketAddrV4::new(p.ip, s.target_port),
                                    state,
                                },
                                node: p.node,
                            }
                        })
                    })
                    .collect();
                ServiceEndpoints {
                    frontend: s.frontend,
                    routing: s.routing,
                    external: s.external_routing(),
                    eps,
                }
            })
            .collect()
    }

    /// Applies every queued update that is due.
    pub fn endpoints_tick(&mut self) -> anyhow::Result<()> {
        let now = self.now();
        while self.endpoint_queue.front().is_some_and(|q| q.due <= now) {
            if let Some(q) = self.endpoint_queue.pop_front() {
                self.apply_endpoints(&q)?;
            }
        }
        Ok(())
    }

    /// Applies every queued update now (before t=0).
    pub fn flush_endpoints(&mut self) -> anyhow::Result<()> {
        while let Some(q) = self.endpoint_queue.pop_front() {
            self.apply_endpoints(&q)?;
        }
        Ok(())
    }

    /// Programs one update and logs each backend whose state changed, with
    /// the lag since the pod change.
    fn apply_endpoints(&mut self, q: &PendingEndpoints) -> anyhow::Result<()> {
        // Every node runs the same engine: the fallback is decided once and
        // the events say what was programmed.
        let fallback = self
            .nodes
            .first()
            .is_none_or(|n| n.dataplane.terminating_fallback());
        // Each node's view (its policy and zone), then the engine's
        // terminating fallback on it; for a NodePort service also the view
        // of traffic through the node's NodePort (its external policy).
        let view = |n: u8, routing: Routing, eps: &[Endpoint]| {
            let mut v = routing::for_node(eps, n, &self.zones, routing);
            if fallback {
                v.backends = with_fallback(v.backends);
            }
            v
        };
        let per_node: Vec<Vec<NodeViews>> = (0..self.nodes.len())
            .map(|n| {
                let n = u8::try_from(n).unwrap_or(u8::MAX);
                q.services
                    .iter()
                    .map(|s| NodeViews {
                        frontend: s.frontend,
                        internal: view(n, s.routing, &s.eps),
                        external: s.external.map(|r| view(n, r, &s.eps)),
                        cluster: s.external.map(|r| {
                            let all = Routing { local: false, ..r };
                            view(n, all, &s.eps).backends
                        }),
                    })
                    .collect()
            })
            .collect();
        // The service-wide view the events speak of: every endpoint as the
        // cluster-wide list has it.
        let mut next: BTreeMap<SocketAddrV4, BackendState> = BTreeMap::new();
        for svc in &q.services {
            let all: Vec<Backend> = svc.eps.iter().map(|e| e.backend).collect();
            let all = if fallback { with_fallback(all) } else { all };
            for b in all {
                next.insert(b.addr, b.state);
            }
        }
        let names = self.addr_names();
        let mut changes = Vec::new();
        for (addr, state) in &next {
            if self.applied.get(addr) != Some(state) {
                changes.push((*addr, format!("{state:?}").to_lowercase()));
            }
        }
        for addr in self.applied.keys() {
            if !next.contains_key(addr) {
                changes.push((*addr, "removed".to_owned()));
            }
        }
        // The datapath's per-backend counters go with the backend: read
        // what a terminating pod got before it is dropped.
        for (addr, _) in &changes {
            if let Some(name) = names.get(addr) {
                self.note_conns_after_sigterm(name);
            }
        }
        for (node, views) in self.nodes.iter_mut().zip(&per_node) {
            for v in views {
                let dp = &mut node.dataplane;
                dp.set_no_local_endpoints(v.frontend, v.internal.none_local)?;
                dp.set_backends(v.frontend, &v.internal.backends)?;
                if let (Some(x), Some(all)) = (&v.external, &v.cluster) {
                    dp.set_node_port_backends(v.frontend, &x.backends, x.none_local, all)?;
                }
            }
        }
        // Services whose nodes' views differ: routed pods' traffic (a Local
        // policy or PreferClose), and every NodePort's external view under
        // the Local policy.
        let routed: Vec<(Frontend, bool)> = q
            .services
            .iter()
            .flat_map(|s| {
                let internal =
                    (s.routing.local || s.routing.prefer_close).then_some((s.frontend, false));
                let external = s
                    .external
                    .filter(|r| r.local || r.prefer_close)
                    .map(|_| (s.frontend, true));
                internal.into_iter().chain(external)
            })
            .collect();
        let now = self.now();
        let (t_s, lag) = (self.record_s(now), now.saturating_sub(q.changed));
        for (addr, what) in changes {
            let name = names
                .get(&addr)
                .cloned()
                .unwrap_or_else(|| addr.to_string());
            self.event(
                t_s,
                "endpoint_update",
                format!("datapath: {name} {what} (lag {:.3}s)", lag.as_secs_f64()),
                false,
            );
        }
        self.applied = next;
        // What each node's dataplane now uses, for the services that route
        // per node, when it changed.
        for (n, views) in per_node.iter().enumerate() {
            let n = u8::try_from(n).unwrap_or(u8::MAX);
            let all = views.iter().flat_map(|v| {
                std::iter::once((v.frontend, false, &v.internal))
                    .chain(v.external.as_ref().map(|x| (v.frontend, true, x)))
            });
            for (f, ext, v) in all.filter(|(f, ext, _)| routed.contains(&(*f, *ext))) {
                let f = &f;
                let addrs: Vec<SocketAddrV4> = v.backends.iter().map(|b| b.addr).collect();
                let seen = (addrs, v.none_local);
                if self.node_views.get(&(n, *f, ext)) == Some(&seen) {
                    continue;
                }
                let addrs = &seen.0;
                let svc = self.services.iter().find(|s| s.frontend == *f).map_or(
                    String::new(),
                    |s| match (ext, s.node_port) {
                        (true, Some(p)) => format!("{} NodePort {p}", s.name),
                        _ => s.name.clone(),
                    },
                );
                let zone = self
                    .zones
                    .get(usize::from(n))
                    .map_or(String::new(), |z| format!(" ({z})"));
                let pods: Vec<String> = addrs
                    .iter()
                    .map(|a| names.get(a).cloned().unwrap_or_else(|| a.to_string()))
                    .collect();
                let words = if pods.is_empty() {
                    if v.none_local {
                        "no local endpoint".to_owned()
                    } else {
                        "no endpoints".to_owned()
                    }
                } else {
                    pods.join(", ")
                };
                self.event(
                    t_s,
                    "node_endpoints",
                    format!("node {n}{zone}: service {svc} → {words}"),
                    false,
                );
                self.node_views.insert((n, *f, ext), seen);
            }
        }
        Ok(())
    }

    /// What each node's dataplane uses for each service that routes per
    /// node, as of now: the Datapath table's rows at t=0 (how they change
    /// is in the `node_endpoints` events).
    pub fn node_view_settings(&self) -> Vec<(String, String, &'static str)> {
        let names = self.addr_names();
        self.node_views
            .iter()
            .map(|((n, f, ext), (addrs, none_local))| {
                let s = self.services.iter().find(|s| s.frontend == *f);
                let svc = s.map_or(String::new(), |s| match (ext, s.node_port) {
                    (true, Some(p)) => format!("{} NodePort {p}", s.name),
                    _ => s.name.clone(),
                });
                let zone = self
                    .zones
                    .get(usize::from(*n))
                    .map_or(String::new(), |z| format!(" ({z})"));
                let value = if addrs.is_empty() {
                    if *none_local {
                        "no local endpoint"
                    } else {
                        "no endpoints"
                    }
                    .to_owned()
                } else {
                    addrs
                        .iter()
                        .map(|a| names.get(a).cloned().unwrap_or_else(|| a.to_string()))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (
                    format!("service {svc}: endpoints on node {n}{zone}"),
                    value,
                    "run start",
                )
            })
            .collect()
    }

    /// Records each node's CT GC passes since the last call as events:
    /// when expired entries went (Cilium's agent logs each pass and its
    /// next interval the same way).
    pub fn note_ct_gc(&mut self) {
        // CLOCK_MONOTONIC at t=0 (passes before it are at 0 s).
        let t0_ns = self.zero.map(|z| {
            let since = u64::try_from(z.elapsed().as_nanos()).unwrap_or(u64::MAX);
            svclab_datapath::monotonic_ns().saturating_sub(since)
        });
        let mut events = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for run in n.dataplane.ct_gc_runs() {
                let t_s = t0_ns.map_or(0.0, |t0| run.at_ns.saturating_sub(t0) as f64 / 1e9);
                events.push((t_s, format!(
                    "node {i}: CT GC deleted {} expired entries ({:.3}% of the map), next pass in {}s",
                    run.deleted,
                    run.ratio * 100.0,
                    run.next.as_secs()
                )));
            }
        }
        for (t_s, e) in events {
            self.event(t_s, "ct_gc", e, false);
        }
    }

    pub fn flush_ct(&mut self, node: Option<u8>) -> anyhow::Result<u64> {
        let mut n = 0;
        for (i, st) in self.nodes.iter_mut().enumerate() {
            if node.is_none_or(|x| usize::from(x) == i) {
                n += st.dataplane.flush_ct()?;
            }
        }
        Ok(n)
    }

    /// Backend address → pod name for every pod that was ever a backend.
    pub fn addr_names(&self) -> BTreeMap<SocketAddrV4, String> {
        let mut m = BTreeMap::new();
        for b in &self.backends {
            if let Ok(a) = b.addr.parse() {
                m.insert(a, b.name.clone());
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(ready: bool, serving: bool, terminating: bool) -> Conditions {
        Conditions {
            ready,
            serving,
            terminating,
        }
    }

    #[test]
    fn endpoint_conditions_map_to_cilium_backend_states() {
        assert_eq!(
            backend_state(c(true, true, false)),
            Some(BackendState::Active)
        );
        assert_eq!(
            backend_state(c(false, true, true)),
            Some(BackendState::Terminating)
        );
        assert_eq!(backend_state(c(false, false, true)), None);
        assert_eq!(backend_state(c(false, false, false)), None);
    }

    #[test]
    fn terminating_backends_take_new_flows_only_when_no_active_one_is_left() {
        let b = |last: u8, state| Backend {
            addr: SocketAddrV4::new(std::net::Ipv4Addr::new(198, 18, 0, last), 8080),
            state,
        };
        let mixed = with_fallback(vec![
            b(2, BackendState::Active),
            b(3, BackendState::Terminating),
        ]);
        assert_eq!(mixed[1].state, BackendState::Terminating);
        let all = with_fallback(vec![b(3, BackendState::Terminating)]);
        assert_eq!(all[0].state, BackendState::Active);
    }
}
