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
        Ok(self.datapath.set_affinity(frontend, timeout)?)
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
