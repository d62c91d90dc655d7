//! The eBPF engines: Cilium's per-packet service LB (tc programs on every
//! pod's lxc, service conntrack in an LRU map swept by a user-space GC
//! thread) and, with `datapath.engine: socket-lb`, the same maps behind the
//! cgroup programs of Cilium v1.16.0's socket-LB instead of the tc ones.
use std::{collections::BTreeMap, net::SocketAddrV4, time::Duration};

use anyhow::Context as _;
use svclab_datapath::{
    Backend, Config, CtGc, CtKind, Datapath, Frontend, GcRun, GcSchedule, NetnsRef,
};

use super::dataplane::{Dataplane, DataplaneCounters};

/// The eBPF service LB: tc programs on every pod's lxc, service conntrack
/// in an LRU map, swept by a user-space GC thread as Cilium's agent does.
pub struct EbpfDataplane {
    datapath: Datapath,
    /// Socket-LB (`datapath.engine: socket-lb`): the cgroup programs on
    /// the node's cgroup and no tc program on any interface.
    socket_lb: bool,
    /// Kernel IDs of the datapath's maps (fixed for its lifetime).
    map_ids: BTreeMap<String, u32>,
    gc: CtGc,
    /// Each service's affinity timeout as last set (its NodePort gets it).
    affinity: BTreeMap<Frontend, Option<Duration>>,
    /// ClusterIP frontend → its NodePort frontend on this node.
    node_ports: BTreeMap<Frontend, Frontend>,
    /// `from_netdev` is on the fabric device.
    netdev_attached: bool,
}

impl EbpfDataplane {
    /// Loads the programs and maps in `netns` and starts the CT GC.
    pub fn load(netns: &NetnsRef, config: Config, gc: GcSchedule) -> anyhow::Result<Self> {
        let datapath =
            Datapath::load(netns.try_clone()?, config).context("loading the eBPF datapath")?;
        let gc = datapath.start_gc(gc)?;
        let map_ids = datapath.map_ids()?;
        Ok(Self {
            datapath,
            socket_lb: false,
            map_ids,
            gc,
            affinity: BTreeMap::new(),
            node_ports: BTreeMap::new(),
            netdev_attached: false,
        })
    }

    /// Cilium v1.16.0's socket-LB on one node: the same maps, the cgroup
    /// programs attached to the node's cgroup `cgroup` (client pods'
    /// cgroups are below it), and no per-packet service LB: full socket-LB
    /// compiles `ENABLE_PER_PACKET_LB` out of bpf_lxc (bpf_lxc.c:64-70),
    /// so nothing is attached to pod interfaces.
    pub fn load_socket_lb(
        netns: &NetnsRef,
        config: Config,
        gc: GcSchedule,
        cgroup: &std::fs::File,
    ) -> anyhow::Result<Self> {
        let mut dp = Self::load(netns, config, gc)?;
        dp.datapath
            .attach_cgroup(cgroup)
            .context("attaching the socket-LB programs to the node's cgroup")?;
        dp.socket_lb = true;
        Ok(dp)
    }
}

impl Dataplane for EbpfDataplane {
    /// The NodePort is a frontend of its own, `<node address>:<port>`, in
    /// this node's maps, with the ClusterIP's affinity, served by
    /// `from_netdev` on the fabric device. Its backends are the node's
    /// external list: Cilium v1.16.0 looks NodePorts up in the external
    /// scope (bpf/lib/nodeport.h:2988), which the agent fills with the
    /// node's own backends under `externalTrafficPolicy: Local`
    /// (pkg/service/service.go:141-162, :787-798; a second, internal scope
    /// when the two policies differ, pkg/k8s/watchers/service.go:232-238).
    fn set_node_port(
        &mut self,
        frontend: Frontend,
        node_port: Option<super::dataplane::NodePort>,
    ) -> anyhow::Result<()> {
        let Some(np) = node_port else {
            if let Some(nf) = self.node_ports.remove(&frontend) {
                self.datapath.delete_service(nf)?;
            }
            return Ok(());
        };
        let nf = Frontend::tcp(np.node_addr, np.port);
        self.datapath.upsert_service(nf)?;
        let affinity = self.affinity.get(&frontend).copied().flatten();
        self.datapath.set_affinity(nf, affinity)?;
        self.node_ports.insert(frontend, nf);
        if !self.netdev_attached {
            let node = self
                .datapath
                .config()
                .node
                .context("a NodePort on a node without its network settings")?;
            self.datapath
                .attach_netdev(svclab_topology::FABRIC_IFNAME, node)
                .context("attaching the NodePort programs to the fabric device")?;
            self.netdev_attached = true;
        }
        Ok(())
    }

    /// Cilium has no separate "no local endpoints" answer: a NodePort
    /// without a usable backend gets the release's no-backend answer
    /// (v1.16.0 bpf/lib/lb.h:1546-1547, :1657-1658 DROP_NO_SERVICE, and on
    /// the NodePort path too the ICMP reject of
    /// `service-no-backend-response`, bpf/lib/nodeport.h:2849-2856).
    fn set_node_port_backends(
        &mut self,
        frontend: Frontend,
        backends: &[Backend],
        _none_local: bool,
        _cluster: &[Backend],
    ) -> anyhow::Result<()> {
        let nf = *self
            .node_ports
            .get(&frontend)
            .context("NodePort backends before the NodePort")?;
        Ok(self.datapath.set_backends(nf, backends)?)
    }

    fn attach(&mut self, lxc: &str) -> anyhow::Result<()> {
        self.attach_many(&[lxc])
    }

    fn attach_many(&mut self, lxcs: &[&str]) -> anyhow::Result<()> {
        if self.socket_lb {
            return Ok(());
        }
        Ok(self.datapath.attach_many(lxcs)?)
    }

    fn detach(&mut self, lxc: &str) -> anyhow::Result<()> {
        if self.socket_lb {
            return Ok(());
        }
        Ok(self.datapath.detach(lxc)?)
    }

    fn release(&mut self, lxc: &str) -> anyhow::Result<()> {
        if self.socket_lb {
            return Ok(());
        }
        Ok(self.datapath.release(lxc)?)
    }

    fn upsert_service(&mut self, frontend: Frontend) -> anyhow::Result<()> {
        self.datapath.upsert_service(frontend)?;
        Ok(())
    }

    fn set_backends(&mut self, frontend: Frontend, backends: &[Backend]) -> anyhow::Result<()> {
        Ok(self.datapath.set_backends(frontend, backends)?)
    }

    /// The same maps serve the per-packet path (client address) and the
    /// socket-LB (client netns cookie).
    fn set_session_affinity(
        &mut self,
        frontend: Frontend,
        timeout: Option<Duration>,
    ) -> anyhow::Result<()> {
        self.affinity.insert(frontend, timeout);
        self.datapath.set_affinity(frontend, timeout)?;
        if let Some(nf) = self.node_ports.get(&frontend) {
            self.datapath.set_affinity(*nf, timeout)?;
        }
        Ok(())
    }

    fn ct_gc_runs(&self) -> Vec<GcRun> {
        self.gc.take_runs()
    }

    fn terminating_fallback(&self) -> bool {
        self.datapath.config().profile.rules().terminating_fallback
    }

    fn flush_ct(&mut self) -> anyhow::Result<u64> {
        Ok(self.datapath.ct_flush()?)
    }

    fn counters(&self) -> anyhow::Result<DataplaneCounters> {
        let c = self.datapath.counters()?;
        Ok(DataplaneCounters {
            reasons: c
                .reasons
                .iter()
                .map(|(r, v)| (r.name().to_owned(), *v))
                .collect(),
            backends: c.backends,
        })
    }

    /// Service CT entries that have not expired, by the backend they hold
    /// (none with socket-LB: it keeps no service conntrack).
    fn live_flows(&self) -> anyhow::Result<BTreeMap<SocketAddrV4, u64>> {
        let mut m = BTreeMap::new();
        for e in self.datapath.ct_entries()? {
            if e.kind == CtKind::Service
                && e.expires_in.is_some()
                && let Some(b) = e.backend
            {
                *m.entry(b).or_default() += 1;
            }
        }
        Ok(m)
    }

    fn inspect_ids(&self) -> BTreeMap<String, u32> {
        self.map_ids.clone()
    }

    fn engine(&self) -> &'static str {
        if self.socket_lb { "socket-lb" } else { "ebpf" }
    }

    fn close(mut self: Box<Self>) -> anyhow::Result<()> {
        let gc = self.gc.totals();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            passes = load(&gc.passes),
            deleted = load(&gc.deleted),
            refreshed = load(&gc.refreshed),
            errors = load(&gc.errors),
            "CT GC totals (refreshed: expired when walked, rewritten by a reused tuple before the delete, kept)"
        );
        self.datapath.release_all();
        Ok(self.datapath.close()?)
    }
}
