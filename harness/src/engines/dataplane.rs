//! The service dataplane of one node as the control loop sees it: put it on
//! a pod's host-side interface, program services and their endpoints, flush
//! its connection tracking, and read per-backend counters back. Every
//! engine implements it; the cluster, runner and report see only this.
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddrV4},
    time::Duration,
};

use svclab_datapath::{Backend, BackendStats, Frontend};

/// Counters every dataplane reports, summed over CPUs and its lifetime.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataplaneCounters {
    /// Per verdict or reason (the report's "datapath reasons"), by name.
    pub reasons: BTreeMap<String, u64>,
    /// Per backend address currently programmed.
    pub backends: BTreeMap<SocketAddrV4, BackendStats>,
}

/// A service's NodePort on one node (Kubernetes `type: NodePort`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodePort {
    /// The port opened on the node's addresses (30000-32767).
    pub port: u16,
    /// The node's fabric address (where external clients send to).
    pub node_addr: Ipv4Addr,
    /// `externalTrafficPolicy: Local`: external clients keep their source
    /// address and reach only this node's endpoints.
    pub external_local: bool,
    /// `internalTrafficPolicy: Local` (kube-proxy's chains then tell the
    /// node's local endpoint list from the cluster-wide one).
    pub internal_local: bool,
}

/// One node's service dataplane.
pub trait Dataplane {
    /// Starts handling the traffic of a pod whose host-side interface is `lxc`.
    fn attach(&mut self, lxc: &str) -> anyhow::Result<()>;
    /// [`Dataplane::attach`] for a batch of new pods; the default attaches
    /// one at a time.
    fn attach_many(&mut self, lxcs: &[&str]) -> anyhow::Result<()> {
        lxcs.iter().try_for_each(|l| self.attach(l))
    }
    /// Stops handling `lxc` (the pod is going away).
    fn detach(&mut self, lxc: &str) -> anyhow::Result<()>;
    /// Stops handling `lxc`, whose pod namespace (and so `lxc` itself) is
    /// deleted right after: state that lives on the interface may be left
    /// to go with it. The default detaches.
    fn release(&mut self, lxc: &str) -> anyhow::Result<()> {
        self.detach(lxc)
    }
    /// Makes a service frontend known (with no backends yet).
    fn upsert_service(&mut self, frontend: Frontend) -> anyhow::Result<()>;
    /// `sessionAffinity: ClientIP` with `timeout` on a service, or None
    /// (the default) for no affinity.
    fn set_session_affinity(
        &mut self,
        frontend: Frontend,
        timeout: Option<Duration>,
    ) -> anyhow::Result<()>;
    /// Whether this node has none of the service's endpoints while it has
    /// some elsewhere, under `internalTrafficPolicy: Local`: kube-proxy then
    /// drops its pods' new connections ("has no local endpoints") rather
    /// than refusing them as for a service without endpoints. The default
    /// does nothing: Cilium answers a node without a usable backend the
    /// same way either way (DROP_NO_SERVICE, or its ICMP reject from
    /// v1.15, v1.16.0 bpf/lib/lb.h:1546-1547, :1657-1658).
    fn set_no_local_endpoints(&mut self, _frontend: Frontend, _none: bool) -> anyhow::Result<()> {
        Ok(())
    }
    /// Opens (`Some`) or closes (`None`) the NodePort of the service
    /// `frontend` (already known through [`Dataplane::upsert_service`]) on
    /// this node. External traffic to it uses the list of
    /// [`Dataplane::set_node_port_backends`].
    fn set_node_port(
        &mut self,
        frontend: Frontend,
        node_port: Option<NodePort>,
    ) -> anyhow::Result<()>;
    /// The endpoints external traffic to `frontend`'s NodePort reaches on
    /// this node: every endpoint under `externalTrafficPolicy: Cluster`,
    /// the node's own under `Local`; `none_local` when the node has none of
    /// its own while the service has some elsewhere (kube-proxy then drops
    /// new connections: "has no local endpoints"). `cluster` is the
    /// service's cluster-wide list as this node sees it: under `Local`
    /// kube-proxy still sends pod- and node-originated NodePort traffic
    /// there (its short-circuit rules).
    fn set_node_port_backends(
        &mut self,
        frontend: Frontend,
        backends: &[Backend],
        none_local: bool,
        cluster: &[Backend],
    ) -> anyhow::Result<()>;
    /// Replaces a service's endpoints: active ones take new flows,
    /// terminating ones only drain the flows they have.
    fn set_backends(&mut self, frontend: Frontend, backends: &[Backend]) -> anyhow::Result<()>;
    /// Whether a service whose endpoints are all terminating (and still
    /// serving) gives them new flows (KEP-1669). kube-proxy does
    /// (pkg/proxy/topology.go `CategorizeEndpoints`: "If we didn't get any
    /// endpoints, try again using terminating endpoints"; the
    /// ProxyTerminatingEndpoints gate is on by default from v1.26, GA in
    /// v1.28), and so does Cilium from v1.14; the eBPF engine answers for
    /// its profile.
    fn terminating_fallback(&self) -> bool {
        true
    }
    /// The CT GC passes since the last call (engines with a user-space
    /// GC; kube-proxy's kernel conntrack has none).
    fn ct_gc_runs(&self) -> Vec<svclab_datapath::GcRun> {
        Vec::new()
    }
    /// Forgets every tracked connection; returns how many there were.
    fn flush_ct(&mut self) -> anyhow::Result<u64>;
    fn counters(&self) -> anyhow::Result<DataplaneCounters>;
    /// Live service flows (tracked connections) per backend address.
    fn live_flows(&self) -> anyhow::Result<BTreeMap<SocketAddrV4, u64>>;
    /// Kernel object IDs `svclab inspect` opens to read this dataplane while
    /// the run is up (map name → id).
    fn inspect_ids(&self) -> BTreeMap<String, u32>;
    /// The engine's name as a suite writes it (`datapath.engine`).
    fn engine(&self) -> &'static str {
        "ebpf"
    }
    /// Waits until every change handed over so far is in the kernel (a
    /// dataplane that programs asynchronously, as kube-proxy does).
    fn wait_synced(&self, _timeout: Duration) -> anyhow::Result<()> {
        Ok(())
    }
    /// Releases every interface ([`Dataplane::release`]: the cluster
    /// deletes the whole topology right after) and the kernel objects.
    fn close(self: Box<Self>) -> anyhow::Result<()>;
}
