//! The [`Datapath`] type and its core: loading the programs and maps once per
//! node netns ([`Datapath::load`]), the map IDs another process needs to
//! inspect them, and test runs of single packets. Every other operation on a
//! [`Datapath`] lives in its own module (`attach`, `lb`, `ct`, `counters`),
//! which builds on this one; this module depends only on the leaf modules
//! (`config`, `error`, `netns`, `service`).

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, IterableMap as _, MapData, PerCpuArray},
    programs::{SchedClassifier, TestRun as _, TestRunOptions, tc::SchedClassifierLink},
};
use svclab_datapath_common::{
    self as common, BackendCounters, Ct4Tuple, CtEntry, Lb4Backend, Lb4RevNat, Lb4Service,
    MaglevTable,
};

use crate::{
    config::Config,
    error::{Error, Result},
    netns::{self, NetnsRef},
    service::ServiceTable,
};

/// The conntrack map.
pub(crate) type CtMap = HashMap<MapData, Ct4Tuple, CtEntry>;

/// The links of one interface the programs are attached to (owned here,
/// taken out of the programs, so dropping one detaches it).
pub(crate) struct Attachment {
    pub(crate) ifname: String,
    pub(crate) ingress: SchedClassifierLink,
    pub(crate) egress: SchedClassifierLink,
}

/// The eBPF object built by build.rs from `datapath/ebpf`.
static OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/svclab-datapath"));

/// Which program a packet is run through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// tc ingress of the lxc veth: packets leaving the pod.
    FromPod,
    /// tc egress of the lxc veth: packets going to the pod (and of the
    /// node's network device: replies leaving for an external client).
    ToPod,
    /// tc ingress of the node's network device: NodePort traffic.
    FromNetdev,
}

impl Hook {
    pub(crate) const fn prog(self) -> &'static str {
        match self {
            Hook::FromPod => common::progs::FROM_POD,
            Hook::ToPod => common::progs::TO_POD,
            Hook::FromNetdev => common::progs::FROM_NETDEV,
        }
    }
}

/// Result of running one packet through a program with BPF_PROG_TEST_RUN.
#[derive(Clone, Debug)]
pub struct PacketRun {
    /// tc verdict (`TC_ACT_OK` = 0, `TC_ACT_SHOT` = 2).
    pub verdict: u32,
    /// The packet as the program left it.
    pub data: Vec<u8>,
    /// Mean time per run as the kernel measured it.
    pub duration: Duration,
}

pub const TC_ACT_OK: u32 = 0;
pub const TC_ACT_SHOT: u32 = 2;
/// `bpf_redirect()`'s verdict: the packet goes out another (or the same)
/// interface.
pub const TC_ACT_REDIRECT: u32 = 7;

/// One node's datapath: the loaded programs and maps, and their attachments.
pub struct Datapath {
    pub(crate) netns: NetnsRef,
    pub(crate) config: Config,
    pub(crate) ebpf: Ebpf,
    pub(crate) services_map: HashMap<MapData, common::Lb4Key, Lb4Service>,
    pub(crate) backends_map: HashMap<MapData, u32, Lb4Backend>,
    pub(crate) rev_nat: Array<MapData, Lb4RevNat>,
    pub(crate) maglev_map: HashMap<MapData, u16, MaglevTable>,
    pub(crate) ct: CtMap,
    pub(crate) reasons: PerCpuArray<MapData, u64>,
    pub(crate) backend_counters: PerCpuArray<MapData, BackendCounters>,
    pub(crate) attached: Vec<Attachment>,
    pub(crate) table: ServiceTable,
    pub(crate) ct_deleted: Arc<AtomicU64>,
    pub(crate) nr_cpus: usize,
    pub(crate) cfg_map: Array<MapData, common::DatapathConfig>,
    /// The test clock offset the kernel side adds (zero in runs), shared
    /// with the GC thread so both read the same clock.
    pub(crate) clock_offset: Arc<AtomicU64>,
    /// Session affinity (client → backend) and the backends each affinity
    /// service may pin to (the `lb` module).
    pub(crate) affinity: HashMap<MapData, common::Lb4AffinityKey, common::LbAffinityVal>,
    pub(crate) affinity_match: HashMap<MapData, common::LbAffinityMatch, u8>,
    /// Socket-LB's reverse-translation map (the `sock` module).
    pub(crate) sock_revnat: HashMap<MapData, common::Sock4RevnatKey, common::Sock4RevnatEntry>,
    /// Whether the socket-LB programs were loaded (on the first cgroup
    /// attach).
    pub(crate) sock_loaded: bool,
}

impl std::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datapath")
            .field("netns", &self.netns.name())
            .field("config", &self.config)
            .field(
                "attached",
                &self
                    .attached
                    .iter()
                    .map(|a| a.ifname.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn take_map<T>(ebpf: &mut Ebpf, name: &'static str) -> Result<T>
where
    T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf
        .take_map(name)
        .ok_or(Error::Missing { kind: "map", name })?;
    T::try_from(map).map_err(|e| Error::map(name, "open", e))
}

/// Kernel release as (major, minor).
fn kernel_version() -> (u32, u32, String) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim().to_owned();
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok());
    (it.next().unwrap_or(0), it.next().unwrap_or(0), release)
}

impl Datapath {
    /// Loads the programs and maps for the node whose netns is `netns` and
    /// writes `config`. Nothing is attached yet. bpffs is not needed: nothing
    /// is pinned.
    pub fn load(netns: NetnsRef, config: Config) -> Result<Self> {
        config.validate()?;
        let missing = netns::missing_caps(&[(netns::CAP_NET_ADMIN, "CAP_NET_ADMIN")]);
        let no_bpf = netns::missing_caps(&[
            (netns::CAP_BPF, "CAP_BPF"),
            (netns::CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
        ]);
        if !missing.is_empty() || no_bpf.len() == 2 {
            let mut all = missing;
            if no_bpf.len() == 2 {
                all.push("CAP_BPF");
            }
            return Err(Error::PermissionDenied {
                op: "loading the eBPF datapath",
                missing: all.join(", "),
            });
        }
        let (major, minor, release) = kernel_version();
        if (major, minor) < (6, 6) {
            return Err(Error::TcxUnsupported { kernel: release });
        }

        let mut loader = EbpfLoader::new();
        loader.map_max_entries(common::maps::CT, config.ct_map_size);
        let mut ebpf = loader.load(OBJ).map_err(|e| Error::Load {
            source: Box::new(e),
        })?;
        for hook in [Hook::FromPod, Hook::ToPod, Hook::FromNetdev] {
            let prog = program(&mut ebpf, hook.prog())?;
            prog.load().map_err(|e| Error::Program {
                prog: hook.prog(),
                op: "load",
                source: Box::new(e),
            })?;
        }

        let mut cfg_map: Array<MapData, common::DatapathConfig> =
            take_map(&mut ebpf, common::maps::CONFIG)?;
        cfg_map
            .set(0, config.to_kernel(0), 0)
            .map_err(|e| Error::map(common::maps::CONFIG, "write", e))?;
        let nr_cpus = aya::util::nr_cpus().map_err(|(_, source)| Error::Host {
            op: "read possible CPUs",
            source,
        })?;
        Ok(Self {
            services_map: take_map(&mut ebpf, common::maps::SERVICES)?,
            backends_map: take_map(&mut ebpf, common::maps::BACKENDS)?,
            rev_nat: take_map(&mut ebpf, common::maps::REV_NAT)?,
            maglev_map: take_map(&mut ebpf, common::maps::MAGLEV)?,
            ct: take_map(&mut ebpf, common::maps::CT)?,
            reasons: take_map(&mut ebpf, common::maps::REASONS)?,
            backend_counters: take_map(&mut ebpf, common::maps::BACKEND_STATS)?,
            sock_revnat: take_map(&mut ebpf, common::maps::SOCK_REVNAT)?,
            affinity: take_map(&mut ebpf, common::maps::AFFINITY)?,
            affinity_match: take_map(&mut ebpf, common::maps::AFFINITY_MATCH)?,
            sock_loaded: false,
            netns,
            config,
            ebpf,
            attached: Vec::new(),
            table: ServiceTable::default(),
            ct_deleted: Arc::new(AtomicU64::new(0)),
            nr_cpus,
            cfg_map,
            clock_offset: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Kernel IDs of this datapath's maps, by map name: what
    /// [`DatapathView::open`](crate::view::DatapathView::open) needs to
    /// inspect it from another process.
    pub fn map_ids(&self) -> Result<BTreeMap<String, u32>> {
        let mut ids = BTreeMap::new();
        let mut put = |name: &'static str, data: &MapData| -> Result<()> {
            let info = data.info().map_err(|e| Error::map(name, "info", e))?;
            ids.insert(name.to_owned(), info.id());
            Ok(())
        };
        put(common::maps::CT, self.ct.map())?;
        put(common::maps::SERVICES, self.services_map.map())?;
        put(common::maps::BACKENDS, self.backends_map.map())?;
        put(common::maps::REASONS, self.reasons.map())?;
        put(common::maps::BACKEND_STATS, self.backend_counters.map())?;
        put(common::maps::SOCK_REVNAT, self.sock_revnat.map())?;
        put(common::maps::AFFINITY, self.affinity.map())?;
        put(common::maps::CONFIG, self.cfg_map.map())?;
        for name in [common::maps::MONITOR, common::maps::MONITOR_FILTER] {
            let data = match self.ebpf.map(name) {
                Some(aya::maps::Map::RingBuf(d) | aya::maps::Map::Array(d)) => d,
                _ => return Err(Error::Missing { kind: "map", name }),
            };
            let info = data.info().map_err(|e| Error::map(name, "info", e))?;
            ids.insert(name.to_owned(), info.id());
        }
        Ok(ids)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Moves this datapath's clock forward by `offset` from the real one,
    /// for tests that step past lifetimes, graces and report intervals as
    /// Cilium's bpf tests fake `bpf_mono_now`. The kernel side, the GC and
    /// the entry views all read the moved clock. Runs never call it.
    pub fn set_clock_offset(&mut self, offset: Duration) -> Result<()> {
        let ns = u64::try_from(offset.as_nanos()).unwrap_or(u64::MAX);
        self.cfg_map
            .set(0, self.config.to_kernel(ns), 0)
            .map_err(|e| Error::map(common::maps::CONFIG, "write", e))?;
        self.clock_offset.store(ns, Ordering::Relaxed);
        Ok(())
    }

    /// Handles NodePort traffic on the node's network device `ifname`:
    /// `from_netdev` on its ingress, `to_pod` (reverse NAT of replies to
    /// external clients) on its egress, with the node's address and pod
    /// CIDR written to the config first.
    pub fn attach_netdev(&mut self, ifname: &str, node: crate::config::NodeNet) -> Result<()> {
        self.config.node = Some(node);
        let ns = self.clock_offset.load(Ordering::Relaxed);
        self.cfg_map
            .set(0, self.config.to_kernel(ns), 0)
            .map_err(|e| Error::map(common::maps::CONFIG, "write", e))?;
        self.attach_hooks(ifname, (Hook::FromNetdev, Hook::ToPod))
    }

    pub fn netns(&self) -> &NetnsRef {
        &self.netns
    }

    /// Runs one packet through a program with BPF_PROG_TEST_RUN, `repeat`
    /// times (maps are shared with the live datapath).
    pub fn run_packet(&mut self, hook: Hook, packet: &[u8], repeat: u32) -> Result<PacketRun> {
        let prog = program(&mut self.ebpf, hook.prog())?;
        let mut out = vec![0u8; packet.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(packet),
            data_out: Some(&mut out),
            repeat: repeat.max(1),
            ..Default::default()
        };
        let r = prog.test_run(opts).map_err(|e| Error::Program {
            prog: hook.prog(),
            op: "test_run",
            source: Box::new(e),
        })?;
        out.truncate(r.data_size_out as usize);
        Ok(PacketRun {
            verdict: r.return_value,
            data: out,
            duration: r.duration,
        })
    }
}

/// The tc program `name` of the object.
pub(crate) fn program<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut SchedClassifier> {
    program_as(ebpf, name)
}

/// The program `name` of the object as its type `T`.
pub(crate) fn program_as<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or(Error::Missing {
            kind: "program",
            name,
        })?
        .try_into()
        .map_err(|e| Error::Program {
            prog: name,
            op: "open",
            source: Box::new(e),
        })
}
