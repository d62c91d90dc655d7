//! User-space API of the svclab eBPF service load balancer: load the tc
//! programs once per node netns, attach them to pod-facing veths through TCX
//! links, program services and backends, read and garbage-collect conntrack,
//! read counters, and detach leaving nothing behind.
//!
//! Nothing is pinned: maps and links live as long as the [`Datapath`] holds
//! their fds, so a crashed process leaves no kernel state (TCX links go away
//! with the process, and no clsact qdisc is ever created).

mod config;
mod ct;
mod error;
pub mod maglev;
mod netns;
pub mod pktgen;
mod service;
mod view;

use std::{
    collections::BTreeMap,
    net::SocketAddrV4,
    os::fd::AsFd as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, IterableMap as _, MapData, PerCpuArray, PerCpuValues},
    programs::{
        SchedClassifier, TcAttachType, TestRun as _, TestRunOptions,
        tc::{SchedClassifierLinkId, TcAttachOptions},
    },
};
use svclab_datapath_common::{
    self as common, BackendCounters, Lb4Backend, Lb4RevNat, Lb4Service, MaglevTable,
};

pub use crate::{
    config::{Config, CtReuse, CtTimeouts, DEFAULT_REBALANCE_GRACE, MAGLEV_TABLE_SIZES, Selection},
    ct::{CtEntryView, CtGc, CtKind, GcPass, GcTotals, monotonic_ns},
    error::{Error, Result},
    netns::NetnsRef,
    service::{Backend, BackendState, Frontend, Protocol},
    view::{DatapathView, KernelService},
};
pub use svclab_datapath_common::Reason;

/// The eBPF object built by build.rs from `datapath/ebpf`.
static OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/svclab-datapath"));

/// Which program a packet is run through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// tc ingress of the lxc veth: packets leaving the pod.
    FromPod,
    /// tc egress of the lxc veth: packets going to the pod.
    ToPod,
}

impl Hook {
    const fn prog(self) -> &'static str {
        match self {
            Hook::FromPod => common::progs::FROM_POD,
            Hook::ToPod => common::progs::TO_POD,
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

/// Per-backend counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// New flows given to it (CT miss).
    pub selections: u64,
    /// Existing CT entries moved to it (rebalance, backend gone).
    pub reselections: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Connections opened to it (SYNs DNATed), however the CT lookup went.
    pub syns: u64,
}

/// All datapath counters, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub reasons: BTreeMap<Reason, u64>,
    /// Keyed by backend address, for backends currently in the table.
    pub backends: BTreeMap<SocketAddrV4, BackendStats>,
}

impl Counters {
    pub fn reason(&self, r: Reason) -> u64 {
        self.reasons.get(&r).copied().unwrap_or(0)
    }
}

/// Conntrack occupancy and churn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtStats {
    pub capacity: u32,
    pub live_service: u64,
    pub live_out: u64,
    /// Entries the datapath created (service and out).
    pub created: u64,
    /// Entries user space deleted (GC and flush).
    pub deleted: u64,
    /// Entries the kernel's LRU evicted to make room: created − deleted −
    /// live. Exact while nothing else deletes from the map.
    pub evicted: u64,
}

/// A service as programmed: its id and backends in slot order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceView {
    pub frontend: Frontend,
    /// Reverse-NAT index (Cilium's service id).
    pub rev_nat_index: u16,
    /// (backend id, backend), active ones first.
    pub backends: Vec<(u32, Backend)>,
}

struct Attachment {
    ifname: String,
    ingress: SchedClassifierLinkId,
    egress: SchedClassifierLinkId,
}

/// One node's datapath: the loaded programs and maps, and their attachments.
pub struct Datapath {
    netns: NetnsRef,
    config: Config,
    ebpf: Ebpf,
    services_map: HashMap<MapData, common::Lb4Key, Lb4Service>,
    backends_map: HashMap<MapData, u32, Lb4Backend>,
    rev_nat: Array<MapData, Lb4RevNat>,
    maglev_map: HashMap<MapData, u16, MaglevTable>,
    ct: ct::CtMap,
    reasons: PerCpuArray<MapData, u64>,
    backend_counters: PerCpuArray<MapData, BackendCounters>,
    attached: Vec<Attachment>,
    table: service::ServiceTable,
    ct_deleted: Arc<AtomicU64>,
    nr_cpus: usize,
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
        for hook in [Hook::FromPod, Hook::ToPod] {
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
            .set(0, config.to_kernel(), 0)
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
            netns,
            config,
            ebpf,
            attached: Vec::new(),
            table: service::ServiceTable::default(),
            ct_deleted: Arc::new(AtomicU64::new(0)),
            nr_cpus,
        })
    }

    /// Kernel IDs of this datapath's maps, by map name: what
    /// [`DatapathView::open`] needs to inspect it from another process.
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
        Ok(ids)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn netns(&self) -> &NetnsRef {
        &self.netns
    }

    /// Interfaces the programs are attached to.
    pub fn attached(&self) -> impl Iterator<Item = &str> {
        self.attached.iter().map(|a| a.ifname.as_str())
    }

    /// Attaches `from_pod` to tc ingress and `to_pod` to tc egress of
    /// `ifname` (in this datapath's netns) through TCX links. Both or
    /// neither: a failed egress attach undoes the ingress one.
    pub fn attach(&mut self, ifname: &str) -> Result<()> {
        let netns_name = self.netns.name().to_owned();
        if self.attached.iter().any(|a| a.ifname == ifname) {
            return Err(Error::AlreadyAttached {
                netns: netns_name,
                ifname: ifname.into(),
            });
        }
        let ebpf = &mut self.ebpf;
        let (ingress, egress) = self.netns.run(|| -> Result<_> {
            let cname = std::ffi::CString::new(ifname).map_err(|_| Error::InterfaceNotFound {
                netns: netns_name.clone(),
                ifname: ifname.into(),
            })?;
            // SAFETY: valid NUL-terminated string.
            if unsafe { libc::if_nametoindex(cname.as_ptr()) } == 0 {
                return Err(Error::InterfaceNotFound {
                    netns: netns_name.clone(),
                    ifname: ifname.into(),
                });
            }
            let attach = |ebpf: &mut Ebpf,
                          hook: Hook,
                          ty: TcAttachType,
                          name: &'static str|
             -> Result<_> {
                program(ebpf, hook.prog())?
                    .attach_with_options(ifname, ty, TcAttachOptions::TcxOrder(Default::default()))
                    .map_err(|e| Error::Attach {
                        netns: netns_name.clone(),
                        ifname: ifname.into(),
                        hook: name,
                        source: Box::new(e),
                    })
            };
            let ingress = attach(ebpf, Hook::FromPod, TcAttachType::Ingress, "tc ingress")?;
            match attach(ebpf, Hook::ToPod, TcAttachType::Egress, "tc egress") {
                Ok(egress) => Ok((ingress, egress)),
                Err(e) => {
                    if let Err(undo) = program(ebpf, Hook::FromPod.prog()).and_then(|p| {
                        p.detach(ingress).map_err(|e| Error::Program {
                            prog: Hook::FromPod.prog(),
                            op: "detach",
                            source: Box::new(e),
                        })
                    }) {
                        log::error!("undoing ingress attach on {ifname} failed: {undo}");
                    }
                    Err(e)
                }
            }
        })??;
        self.attached.push(Attachment {
            ifname: ifname.into(),
            ingress,
            egress,
        });
        Ok(())
    }

    /// Detaches both programs from `ifname` (closes the TCX links).
    pub fn detach(&mut self, ifname: &str) -> Result<()> {
        let idx = self
            .attached
            .iter()
            .position(|a| a.ifname == ifname)
            .ok_or_else(|| Error::NotAttached {
                netns: self.netns.name().into(),
                ifname: ifname.into(),
            })?;
        let a = self.attached.remove(idx);
        let mut errors = Vec::new();
        if let Err(e) = program(&mut self.ebpf, Hook::FromPod.prog()).and_then(|p| {
            p.detach(a.ingress).map_err(|e| Error::Program {
                prog: Hook::FromPod.prog(),
                op: "detach",
                source: Box::new(e),
            })
        }) {
            errors.push(format!("{ifname} ingress: {e}"));
        }
        if let Err(e) = program(&mut self.ebpf, Hook::ToPod.prog()).and_then(|p| {
            p.detach(a.egress).map_err(|e| Error::Program {
                prog: Hook::ToPod.prog(),
                op: "detach",
                source: Box::new(e),
            })
        }) {
            errors.push(format!("{ifname} egress: {e}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown(errors))
        }
    }

    /// Detaches from every interface and unloads everything, reporting every
    /// failure (dropping a `Datapath` does the same but can only log).
    pub fn close(mut self) -> Result<()> {
        let mut errors = Vec::new();
        let names: Vec<String> = self.attached.iter().map(|a| a.ifname.clone()).collect();
        for ifname in names {
            if let Err(e) = self.detach(&ifname) {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown(errors))
        }
    }

    /// Creates a service frontend (no backends yet: traffic to it is dropped
    /// and counted as `drop-no-backend`). Idempotent.
    pub fn upsert_service(&mut self, frontend: Frontend) -> Result<u16> {
        let existed = self.table.services.contains_key(&frontend);
        let id = self.table.add_service(frontend)?;
        if existed {
            return Ok(id);
        }
        let rev = Lb4RevNat {
            address: u32::from(frontend.vip).to_be(),
            port: frontend.port.to_be(),
            pad: [0; 2],
        };
        let res = self
            .rev_nat
            .set(u32::from(id), rev, 0)
            .map_err(|e| Error::map(common::maps::REV_NAT, "write", e))
            .and_then(|()| {
                let svc = Lb4Service {
                    rev_nat_index: id,
                    ..Default::default()
                };
                self.services_map
                    .insert(frontend.key(0), svc, 0)
                    .map_err(|e| Error::map(common::maps::SERVICES, "insert", e))
            });
        if let Err(e) = res {
            let _ = self.table.remove_service(frontend);
            return Err(e);
        }
        Ok(id)
    }

    /// Sets the backends of `frontend` with their states. New flows go only
    /// to active backends; existing flows to non-active ones drain; flows to
    /// removed backends reselect on their next packet.
    pub fn set_backends(&mut self, frontend: Frontend, backends: &[Backend]) -> Result<()> {
        let plan = self.table.plan_backends(frontend, backends)?;
        let rev_nat_index = self.table.services[&frontend].rev_nat_index;
        for (id, entry, is_new) in &plan.upserts {
            if *is_new {
                // A recycled id must not inherit another backend's counts.
                let zeros = PerCpuValues::try_from(vec![BackendCounters::default(); self.nr_cpus])
                    .map_err(|source| Error::Host {
                        op: "build per-CPU zero values",
                        source,
                    })?;
                self.backend_counters
                    .set(*id, zeros, 0)
                    .map_err(|e| Error::map(common::maps::BACKEND_STATS, "zero", e))?;
            }
            self.backends_map
                .insert(id, entry.kernel(), 0)
                .map_err(|e| Error::map(common::maps::BACKENDS, "insert", e))?;
        }
        for (i, id) in plan.slots.iter().enumerate() {
            let slot = u16::try_from(i + 1).unwrap_or(u16::MAX);
            let v = Lb4Service {
                backend_id: *id,
                ..Default::default()
            };
            self.services_map
                .insert(frontend.key(slot), v, 0)
                .map_err(|e| Error::map(common::maps::SERVICES, "insert slot", e))?;
        }
        if let Selection::Maglev { table_size } = self.config.selection {
            let active: Vec<(u32, String)> = plan.slots[..usize::from(plan.active)]
                .iter()
                .map(|id| (*id, self.table.backends[id].addr.to_string()))
                .collect();
            let ids = maglev::populate(&active, table_size, self.config.hash_seed);
            let mut table = Box::new(MaglevTable {
                m: table_size,
                backend_ids: [0; common::MAGLEV_MAX_M as usize],
            });
            table.backend_ids[..ids.len()].copy_from_slice(&ids);
            self.maglev_map
                .insert(rev_nat_index, table, 0)
                .map_err(|e| Error::map(common::maps::MAGLEV, "insert", e))?;
        }
        // The frontend flips last, so a packet sees either the old set or the new one.
        let inactive = u16::try_from(plan.slots.len()).unwrap_or(u16::MAX) - plan.active;
        let svc = Lb4Service {
            backend_id: 0,
            count: plan.active,
            rev_nat_index,
            inactive,
            flags: 0,
            pad: 0,
        };
        self.services_map
            .insert(frontend.key(0), svc, 0)
            .map_err(|e| Error::map(common::maps::SERVICES, "insert", e))?;
        for slot in plan.slots.len() + 1..=plan.old_slots {
            let slot = u16::try_from(slot).unwrap_or(u16::MAX);
            remove_ok(
                &mut self.services_map,
                &frontend.key(slot),
                common::maps::SERVICES,
            )?;
        }
        for id in plan.released {
            remove_ok(&mut self.backends_map, &id, common::maps::BACKENDS)?;
        }
        Ok(())
    }

    /// Removes a service, its slots, Maglev table and reverse-NAT entry, and
    /// every backend no other service uses.
    pub fn delete_service(&mut self, frontend: Frontend) -> Result<()> {
        let (svc, released) = self.table.remove_service(frontend)?;
        remove_ok(
            &mut self.services_map,
            &frontend.key(0),
            common::maps::SERVICES,
        )?;
        for slot in 1..=svc.slots.len() {
            let slot = u16::try_from(slot).unwrap_or(u16::MAX);
            remove_ok(
                &mut self.services_map,
                &frontend.key(slot),
                common::maps::SERVICES,
            )?;
        }
        remove_ok(
            &mut self.maglev_map,
            &svc.rev_nat_index,
            common::maps::MAGLEV,
        )?;
        self.rev_nat
            .set(u32::from(svc.rev_nat_index), Lb4RevNat::default(), 0)
            .map_err(|e| Error::map(common::maps::REV_NAT, "clear", e))?;
        for id in released {
            remove_ok(&mut self.backends_map, &id, common::maps::BACKENDS)?;
        }
        Ok(())
    }

    /// Services with their backends, in slot order (active first).
    pub fn services(&self) -> Vec<ServiceView> {
        self.table
            .services
            .iter()
            .map(|(f, s)| {
                let backends = s
                    .slots
                    .iter()
                    .filter_map(|id| {
                        self.table.backends.get(id).map(|b| {
                            (
                                *id,
                                Backend {
                                    addr: b.addr,
                                    state: b.state,
                                },
                            )
                        })
                    })
                    .collect();
                ServiceView {
                    frontend: *f,
                    rev_nat_index: s.rev_nat_index,
                    backends,
                }
            })
            .collect()
    }

    /// The backend address behind a backend id, if it is still known.
    pub fn backend_addr(&self, id: u32) -> Option<SocketAddrV4> {
        self.table.backends.get(&id).map(|b| b.addr)
    }

    /// Every conntrack entry, decoded.
    pub fn ct_entries(&self) -> Result<Vec<CtEntryView>> {
        let now = monotonic_ns();
        let mut out = Vec::new();
        for item in self.ct.iter() {
            match item {
                Ok((k, v)) => {
                    if let Some(e) =
                        CtEntryView::decode(&k, &v, now, self.backend_addr(v.backend_id))
                    {
                        out.push(e);
                    }
                }
                Err(e) if crate::error::is_not_found(&e) => {}
                Err(e) => return Err(Error::map(common::maps::CT, "iterate", e)),
            }
        }
        Ok(out)
    }

    /// One GC pass: deletes entries whose lifetime has passed.
    pub fn ct_gc(&mut self) -> Result<GcPass> {
        ct::gc_pass(&mut self.ct, &self.ct_deleted)
    }

    /// Starts GC passes every `interval` on a thread with its own handle on
    /// the CT map, as Cilium's agent does. Stops when the guard is dropped.
    pub fn start_gc(&self, interval: Duration) -> Result<CtGc> {
        let fd = self
            .ct
            .map()
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| Error::Netns {
                netns: self.netns.name().into(),
                op: "dup CT map fd",
                source,
            })?;
        let data = MapData::from_fd(fd).map_err(|e| Error::map(common::maps::CT, "reopen", e))?;
        let map = HashMap::try_from(aya::maps::Map::LruHashMap(data))
            .map_err(|e| Error::map(common::maps::CT, "reopen", e))?;
        Ok(CtGc::start(map, interval, Arc::clone(&self.ct_deleted)))
    }

    /// Deletes every conntrack entry (`cilium bpf ct flush global`).
    pub fn ct_flush(&mut self) -> Result<u64> {
        ct::flush(&mut self.ct, &self.ct_deleted)
    }

    pub fn ct_stats(&self) -> Result<CtStats> {
        let mut live_service = 0;
        let mut live_out = 0;
        for k in self.ct.keys() {
            match k {
                Ok(k) if k.flags == common::TUPLE_F_SERVICE => live_service += 1,
                Ok(_) => live_out += 1,
                Err(e) if crate::error::is_not_found(&e) => {}
                Err(e) => return Err(Error::map(common::maps::CT, "iterate", e)),
            }
        }
        let reasons = read_reasons(&self.reasons)?;
        let created = reasons.get(&Reason::CtNew).copied().unwrap_or(0)
            + reasons.get(&Reason::CtNewOut).copied().unwrap_or(0);
        let deleted = self.ct_deleted.load(Ordering::Relaxed);
        Ok(CtStats {
            capacity: self.config.ct_map_size,
            live_service,
            live_out,
            created,
            deleted,
            evicted: created.saturating_sub(deleted + live_service + live_out),
        })
    }

    /// Reason and per-backend counters, summed over CPUs.
    pub fn counters(&self) -> Result<Counters> {
        let mut c = Counters {
            reasons: read_reasons(&self.reasons)?,
            ..Counters::default()
        };
        for (id, b) in &self.table.backends {
            c.backends
                .insert(b.addr, read_backend(&self.backend_counters, *id)?);
        }
        Ok(c)
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

/// Names of the programs attached through TCX to `ifname` in `netns`, as
/// (ingress, egress). What `tc filter show` would list for a clsact setup.
pub fn tcx_programs(netns: &NetnsRef, ifname: &str) -> Result<(Vec<String>, Vec<String>)> {
    let query = |ty: TcAttachType| -> Result<Vec<String>> {
        let (_, progs) = SchedClassifier::query_tcx(ifname, ty).map_err(|e| Error::Attach {
            netns: netns.name().into(),
            ifname: ifname.into(),
            hook: "tcx query",
            source: Box::new(e),
        })?;
        Ok(progs
            .iter()
            .map(|p| p.name_as_str().unwrap_or("?").to_owned())
            .collect())
    };
    netns.run(|| Ok((query(TcAttachType::Ingress)?, query(TcAttachType::Egress)?)))?
}

/// Every reason counter, summed over CPUs.
pub(crate) fn read_reasons(map: &PerCpuArray<MapData, u64>) -> Result<BTreeMap<Reason, u64>> {
    let mut out = BTreeMap::new();
    for r in Reason::ALL {
        let v = map
            .get(&(r as u32), 0)
            .map_err(|e| Error::map(common::maps::REASONS, "read", e))?;
        out.insert(r, v.iter().sum());
    }
    Ok(out)
}

/// One backend's counters, summed over CPUs.
pub(crate) fn read_backend(
    map: &PerCpuArray<MapData, BackendCounters>,
    id: u32,
) -> Result<BackendStats> {
    let v = map
        .get(&id, 0)
        .map_err(|e| Error::map(common::maps::BACKEND_STATS, "read", e))?;
    Ok(v.iter().fold(BackendStats::default(), |mut s, x| {
        s.selections += x.selections;
        s.reselections += x.reselections;
        s.packets += x.packets;
        s.bytes += x.bytes;
        s.syns += x.syns;
        s
    }))
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut SchedClassifier> {
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

fn remove_ok<K: aya::Pod, V: aya::Pod>(
    map: &mut HashMap<MapData, K, V>,
    key: &K,
    name: &'static str,
) -> Result<()> {
    match map.remove(key) {
        Ok(()) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::map(name, "delete", e)),
    }
}

impl Drop for Datapath {
    fn drop(&mut self) {
        let names: Vec<String> = self.attached.iter().map(|a| a.ifname.clone()).collect();
        for ifname in names {
            if let Err(e) = self.detach(&ifname) {
                log::error!("datapath drop: {e}");
            }
        }
    }
}
