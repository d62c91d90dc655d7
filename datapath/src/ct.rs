//! Conntrack as user space sees it: decoded entries (tuple → backend, flags,
//! remaining lifetime, counters), the garbage collector Cilium's agent runs
//! (the kernel never expires entries by time, only evicts on LRU pressure),
//! flush, and the [`Datapath`] conntrack operations built on them (entries,
//! GC, flush, occupancy and churn stats).
use std::{
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::AsFd as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::Duration,
};

use aya::maps::{HashMap, IterableMap as _, MapData};
use svclab_datapath_common::{self as common, Ct4Tuple, CtEntry, Reason};

use crate::{
    config::{GC_STARTING_INTERVAL, GcSchedule, next_gc_interval},
    counters::read_reasons,
    datapath::{CtMap, Datapath},
    error::{Error, Result},
    frontend::Protocol,
};

/// Which side of the NAT an entry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CtKind {
    /// Keyed by the client's pre-DNAT tuple (client → VIP); holds the backend.
    Service,
    /// Keyed by the post-DNAT tuple (client → backend); used for reverse NAT.
    Out,
}

/// One decoded conntrack entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtEntryView {
    pub kind: CtKind,
    pub proto: Protocol,
    /// Client address and source port.
    pub client: SocketAddrV4,
    /// VIP:port for a service entry, backend:port for an out entry.
    pub target: SocketAddrV4,
    pub backend_id: u32,
    /// The backend's address if it is still in the backend table.
    pub backend: Option<SocketAddrV4>,
    pub rev_nat_index: u16,
    pub tx_closing: bool,
    pub rx_closing: bool,
    pub seen_non_syn: bool,
    /// TCP flags the client direction has shown (Cilium `tx_flags_seen`).
    pub tx_flags_seen: u8,
    /// Time since `last_tx_report`, whole seconds: what the rebalance
    /// grace is compared with.
    pub since_report: Duration,
    /// Whole seconds left before GC may delete it; `None` once expired
    /// (lifetime below now, as the agent's GC).
    pub expires_in: Option<Duration>,
    /// Time since the last client packet.
    pub idle: Duration,
    pub age: Duration,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub reopened: u32,
    pub rebalanced: u32,
}

impl CtEntryView {
    pub(crate) fn decode(
        k: &Ct4Tuple,
        v: &CtEntry,
        now: Now,
        backend: Option<SocketAddrV4>,
    ) -> Option<Self> {
        let kind = match k.flags {
            common::TUPLE_F_SERVICE => CtKind::Service,
            common::TUPLE_F_OUT => CtKind::Out,
            _ => return None,
        };
        let addr =
            |a: u32, p: u16| SocketAddrV4::new(Ipv4Addr::from(u32::from_be(a)), u16::from_be(p));
        Some(Self {
            kind,
            proto: Protocol::from_number(k.nexthdr)?,
            client: addr(k.saddr, k.sport),
            target: addr(k.daddr, k.dport),
            backend_id: v.backend_id,
            backend,
            rev_nat_index: v.rev_nat_index,
            tx_closing: v.flags & common::CT_F_TX_CLOSING != 0,
            rx_closing: v.flags & common::CT_F_RX_CLOSING != 0,
            seen_non_syn: v.flags & common::CT_F_SEEN_NON_SYN != 0,
            tx_flags_seen: v.tx_flags_seen,
            since_report: Duration::from_nanos(common::mono_to_ns(
                now.units.saturating_sub(v.last_tx_report),
                now.hz,
            )),
            expires_in: (!expired(v, now))
                .then(|| Duration::from_nanos(common::mono_to_ns(v.lifetime - now.units, now.hz))),
            idle: Duration::from_nanos(now.ns.saturating_sub(v.last_tx_ns)),
            age: Duration::from_nanos(now.ns.saturating_sub(v.created_ns)),
            tx_packets: v.tx_packets,
            tx_bytes: v.tx_bytes,
            rx_packets: v.rx_packets,
            rx_bytes: v.rx_bytes,
            reopened: v.reopened,
            rebalanced: v.rebalanced,
        })
    }
}

/// CLOCK_MONOTONIC in ns: the clock `bpf_ktime_get_ns()` reads.
pub fn monotonic_ns() -> u64 {
    // Cannot fail for CLOCK_MONOTONIC; 0 if it ever did.
    let (sec, nsec) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or((0, 0), |ts| (ts.tv_sec(), ts.tv_nsec()));
    u64::try_from(sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(nsec).unwrap_or(0)
}

/// One instant of the datapath's clock: CLOCK_MONOTONIC plus the test
/// offset, in ns and in Cilium's mono units (whole seconds, or
/// `jiffies >> 8` with `hz` set: [`common::mono_units`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Now {
    pub ns: u64,
    pub units: u32,
    /// The config's `jiffies_hz` (0: ktime seconds).
    pub hz: u16,
}

impl Now {
    pub(crate) fn read(offset_ns: u64, hz: u16) -> Self {
        let ns = monotonic_ns().wrapping_add(offset_ns);
        Self {
            ns,
            units: common::mono_units(ns, hz),
            hz,
        }
    }
}

/// The agent's GC test: `entry.Lifetime < f.Time` (pkg/maps/ctmap/ctmap.go
/// v1.11.20:505, v1.16.0:563), whatever the closing bits.
fn expired(v: &CtEntry, now: Now) -> bool {
    v.lifetime < now.units
}

/// What one GC pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcPass {
    pub scanned: u64,
    pub deleted: u64,
    /// Entries found expired by the walk but rewritten by the datapath
    /// before their delete (a reused tuple), and so kept.
    pub refreshed: u64,
}

/// The first half of a GC pass: the keys of the entries expired at its
/// clock reading, and how many entries it walked.
#[derive(Debug)]
pub struct GcScan {
    now: Now,
    scanned: u64,
    stale: Vec<Ct4Tuple>,
}

impl GcScan {
    /// Entries found expired.
    #[must_use]
    pub fn stale(&self) -> usize {
        self.stale.len()
    }
}

/// Walks the map and collects the keys of expired entries. Keys are
/// collected first: deleting while walking with get_next_key restarts the
/// walk (Cilium's `DumpReliablyWithCallback` works around the same).
pub(crate) fn gc_scan(ct: &CtMap, clock_offset: &AtomicU64, hz: u16) -> Result<GcScan> {
    let now = Now::read(clock_offset.load(Ordering::Relaxed), hz);
    let mut stale = Vec::new();
    let mut scanned = 0;
    for item in ct.iter() {
        match item {
            Ok((k, v)) => {
                scanned += 1;
                if expired(&v, now) {
                    stale.push(k);
                }
            }
            // An entry evicted or deleted mid-walk: skip it.
            Err(e) if crate::error::is_not_found(&e) => {}
            Err(e) => return Err(Error::map(common::maps::CT, "iterate", e)),
        }
    }
    Ok(GcScan {
        now,
        scanned,
        stale,
    })
}

/// The second half: deletes each collected key whose entry is *still*
/// expired, read again just before the delete. Cilium's agent deletes an
/// entry in the dump callback right after its filter test
/// (pkg/maps/ctmap/ctmap.go v1.16.0, `doGC4`: `filter.doFiltering` then
/// `purgeCtEntry4` for the same key), so a flow that rewrote the entry
/// meanwhile keeps it. Deleting the whole batch collected by a walk of tens
/// of thousands of entries instead removed entries that a reused source
/// port's SYN had just rewritten (CT_NEW on a closing entry, 1.16), taking
/// a live flow's conntrack state (`GcPass::refreshed` counts them).
pub(crate) fn gc_sweep(ct: &mut CtMap, scan: GcScan, deleted_total: &AtomicU64) -> Result<GcPass> {
    let (mut deleted, mut refreshed) = (0, 0);
    for k in scan.stale {
        match ct.get(&k, 0) {
            Ok(v) if expired(&v, scan.now) => {}
            Ok(_) => {
                refreshed += 1;
                continue;
            }
            Err(e) if crate::error::is_not_found(&e) => continue,
            Err(e) => return Err(Error::map(common::maps::CT, "lookup", e)),
        }
        match ct.remove(&k) {
            Ok(()) => deleted += 1,
            Err(e) if crate::error::is_not_found(&e) => {}
            Err(e) => return Err(Error::map(common::maps::CT, "delete", e)),
        }
    }
    deleted_total.fetch_add(deleted, Ordering::Relaxed);
    Ok(GcPass {
        scanned: scan.scanned,
        deleted,
        refreshed,
    })
}

/// Deletes every entry whose lifetime has passed ([`gc_scan`], then
/// [`gc_sweep`]).
pub(crate) fn gc_pass(
    ct: &mut CtMap,
    deleted_total: &AtomicU64,
    clock_offset: &AtomicU64,
    hz: u16,
) -> Result<GcPass> {
    let scan = gc_scan(ct, clock_offset, hz)?;
    gc_sweep(ct, scan, deleted_total)
}

/// Deletes every entry; returns how many.
pub(crate) fn flush(ct: &mut CtMap, deleted_total: &AtomicU64) -> Result<u64> {
    let keys: Vec<Ct4Tuple> = ct.keys().filter_map(|k| k.ok()).collect();
    let mut n = 0;
    for k in keys {
        match ct.remove(&k) {
            Ok(()) => n += 1,
            Err(e) if crate::error::is_not_found(&e) => {}
            Err(e) => return Err(Error::map(common::maps::CT, "delete", e)),
        }
    }
    deleted_total.fetch_add(n, Ordering::Relaxed);
    Ok(n)
}

/// Totals of the periodic GC, readable while it runs.
#[derive(Debug, Default)]
pub struct GcTotals {
    pub passes: AtomicU64,
    pub deleted: AtomicU64,
    /// [`GcPass::refreshed`] summed.
    pub refreshed: AtomicU64,
    pub errors: AtomicU64,
}

/// Passes [`CtGc::take_runs`] keeps between two calls.
const MAX_GC_RUNS: usize = 1024;

/// One pass of the periodic GC, for the run's events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GcRun {
    /// When it ended ([`monotonic_ns`]).
    pub at_ns: u64,
    pub deleted: u64,
    /// `deleted / capacity`, what Cilium's interval adapts to.
    pub ratio: f64,
    /// When the next pass comes.
    pub next: Duration,
}

/// A running CT garbage collector (its own handle on the CT map, its own
/// thread). Dropping it stops the thread and waits for it.
#[derive(Debug)]
pub struct CtGc {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    totals: Arc<GcTotals>,
    runs: Arc<Mutex<Vec<GcRun>>>,
}

impl CtGc {
    /// Runs passes on `schedule`. A dynamic schedule makes its first pass
    /// at once, as the agent's GC loop runs before it first waits
    /// (pkg/maps/ctmap/gc/gc.go), then waits what [`next_gc_interval`]
    /// says; a fixed one waits its interval first.
    pub(crate) fn start(
        mut ct: CtMap,
        schedule: GcSchedule,
        capacity: u32,
        hz: u16,
        deleted_total: Arc<AtomicU64>,
        clock_offset: Arc<AtomicU64>,
    ) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let totals = Arc::new(GcTotals::default());
        let runs = Arc::new(Mutex::new(Vec::new()));
        let (t, log) = (Arc::clone(&totals), Arc::clone(&runs));
        let thread = std::thread::Builder::new()
            .name("svclab-ct-gc".into())
            .spawn(move || {
                let (mut wait, mut interval) = match schedule {
                    GcSchedule::Fixed(d) => (d, d),
                    GcSchedule::Dynamic => (Duration::ZERO, GC_STARTING_INTERVAL),
                };
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                    match gc_pass(&mut ct, &deleted_total, &clock_offset, hz) {
                        Ok(pass) => {
                            t.passes.fetch_add(1, Ordering::Relaxed);
                            t.deleted.fetch_add(pass.deleted, Ordering::Relaxed);
                            t.refreshed.fetch_add(pass.refreshed, Ordering::Relaxed);
                            let ratio = pass.deleted as f64 / f64::from(capacity.max(1));
                            if schedule == GcSchedule::Dynamic {
                                interval = next_gc_interval(interval, ratio);
                            }
                            if let Ok(mut r) = log.lock() {
                                // Nobody draining: keep the latest only.
                                if r.len() >= MAX_GC_RUNS {
                                    r.remove(0);
                                }
                                r.push(GcRun {
                                    at_ns: monotonic_ns(),
                                    deleted: pass.deleted,
                                    ratio,
                                    next: interval,
                                });
                            }
                        }
                        Err(e) => {
                            t.errors.fetch_add(1, Ordering::Relaxed);
                            log::warn!("CT GC pass failed: {e}");
                        }
                    }
                    wait = interval;
                }
            })
            .ok();
        Self {
            stop: Some(stop),
            thread,
            totals,
            runs,
        }
    }

    pub fn totals(&self) -> &GcTotals {
        &self.totals
    }

    /// The passes since the last call.
    pub fn take_runs(&self) -> Vec<GcRun> {
        self.runs
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

impl Drop for CtGc {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            log::warn!("CT GC thread panicked");
        }
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

impl Datapath {
    /// Every conntrack entry, decoded.
    pub fn ct_entries(&self) -> Result<Vec<CtEntryView>> {
        let now = Now::read(
            self.clock_offset.load(Ordering::Relaxed),
            self.config.clock.hz(),
        );
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
        gc_pass(
            &mut self.ct,
            &self.ct_deleted,
            &self.clock_offset,
            self.config.clock.hz(),
        )
    }

    /// A GC pass in its two halves, so a test can send packets between
    /// the walk and the deletes: [`Datapath::ct_gc_scan`] collects the
    /// expired keys, [`Datapath::ct_gc_sweep`] deletes those still expired.
    pub fn ct_gc_scan(&self) -> Result<GcScan> {
        gc_scan(&self.ct, &self.clock_offset, self.config.clock.hz())
    }

    /// See [`Datapath::ct_gc_scan`].
    pub fn ct_gc_sweep(&mut self, scan: GcScan) -> Result<GcPass> {
        gc_sweep(&mut self.ct, scan, &self.ct_deleted)
    }

    /// Starts GC passes on `schedule` on a thread with its own handle on
    /// the CT map, as Cilium's agent does. Stops when the guard is dropped.
    pub fn start_gc(&self, schedule: GcSchedule) -> Result<CtGc> {
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
        Ok(CtGc::start(
            map,
            schedule,
            self.config.ct_map_size,
            self.config.clock.hz(),
            Arc::clone(&self.ct_deleted),
            Arc::clone(&self.clock_offset),
        ))
    }

    /// Deletes every conntrack entry (`cilium bpf ct flush global`).
    pub fn ct_flush(&mut self) -> Result<u64> {
        flush(&mut self.ct, &self.ct_deleted)
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
}
