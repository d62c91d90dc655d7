//! The svclab service datapath: tc programs for a pod-facing veth (`lxc…`)
//! in a node netns, modelled on Cilium's `bpf_lxc` service path.
//!
//! - `from_pod` (tc ingress, packets leaving the pod): service lookup by
//!   (VIP, port, proto), service conntrack keyed by the pre-DNAT tuple with
//!   the rules of the configured Cilium release (`ct` module), backend
//!   selection (random or Maglev) as `lb4_local`, DNAT, and the post-DNAT
//!   entry the reply path needs.
//! - `to_pod` (tc egress, packets going to the pod): reverse NAT of replies
//!   from a backend back to the VIP; also on the node's fabric device, for
//!   replies leaving for an external client.
//! - `from_netdev` (tc ingress of the node's fabric device, `nodeport`
//!   module): NodePort traffic from outside the node, Cilium's `bpf_host`
//!   `nodeport_lb4`, with SNAT for a backend on another node.
//!
//! - `sock4_*` (cgroup sock_addr hooks, `sock` module): socket-LB, the
//!   translation at `connect()` of Cilium's `bpf_sock.c`, sharing the
//!   service and backend maps.
//!
//! Every verdict other than "pass untouched" has a reason counted in
//! `REASON_COUNTERS`.
#![no_std]
#![no_main]

mod affinity;
mod ct;
mod monitor;
mod nodeport;
mod packet;
mod reject;
mod sock;

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, TC_ACT_OK, TC_ACT_SHOT},
    helpers::{bpf_get_prandom_u32, bpf_ktime_get_ns},
    macros::{classifier, map},
    maps::{Array, HashMap, LruHashMap, PerCpuArray},
    programs::TcContext,
};
use svclab_datapath_common::{
    BackendCounters, BackendState, CT_F_DRAIN_REPORTED, CT_MAP_SIZE_DEFAULT, CT_REUSE_LEGACY,
    CT_REUSE_NEW, Ct4Tuple, CtEntry, DP_F_INACTIVE_RESELECT, DP_F_NO_BACKEND_REJECT,
    DatapathConfig, Lb4Backend, Lb4Key, Lb4RevNat, Lb4Service, MAX_BACKENDS, MAX_SERVICES,
    MaglevTable, Reason, SELECTION_MAGLEV, SERVICES_MAP_SIZE, TUPLE_F_OUT, TUPLE_F_SERVICE,
    hash_from_tuple_v4, mono_units,
};

use crate::{
    ct::Dir,
    monitor::Decision,
    packet::{IP_DADDR_OFF, IP_SADDR_OFF, Packet, parse, rewrite},
};

#[map]
static LB4_SERVICES: HashMap<Lb4Key, Lb4Service> = HashMap::with_max_entries(SERVICES_MAP_SIZE, 0);
#[map]
static LB4_BACKENDS: HashMap<u32, Lb4Backend> = HashMap::with_max_entries(MAX_BACKENDS, 0);
#[map]
static LB4_REVERSE_NAT: Array<Lb4RevNat> = Array::with_max_entries(MAX_SERVICES, 0);
/// Keyed by rev_nat_index. Not preallocated: a table is 64 KiB and exists
/// only for services that have one.
#[map]
static LB4_MAGLEV: HashMap<u16, MaglevTable> =
    HashMap::with_max_entries(MAX_SERVICES, BPF_F_NO_PREALLOC);
/// Service and post-DNAT conntrack; user space resizes it at load time.
#[map]
static CT4: LruHashMap<Ct4Tuple, CtEntry> = LruHashMap::with_max_entries(CT_MAP_SIZE_DEFAULT, 0);
#[map]
pub(crate) static CONFIG: Array<DatapathConfig> = Array::with_max_entries(1, 0);
#[map]
static REASON_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Reason::COUNT, 0);
#[map]
static BACKEND_COUNTERS: PerCpuArray<BackendCounters> =
    PerCpuArray::with_max_entries(MAX_BACKENDS, 0);

/// The clock of one packet: Cilium's `bpf_mono_now()` (whole seconds with
/// the ktime source, `jiffies >> 8` with the jiffies one; v1.16.0
/// bpf/lib/mono.h:7-14, time.h:14-15, [`mono_units`]), and the same instant
/// in ns for svclab's own fields. The config's test offset is added first
/// (zero in runs).
#[inline(always)]
fn clock(cfg: &DatapathConfig) -> (u32, u64) {
    // SAFETY: helper without preconditions.
    let ns = unsafe { bpf_ktime_get_ns() }.wrapping_add(cfg.clock_offset_ns);
    (mono_units(ns, cfg.jiffies_hz), ns)
}

#[classifier]
pub fn from_pod(ctx: TcContext) -> i32 {
    match try_from_pod(&ctx) {
        Ok(v) => v,
        Err(NO_BACKEND) => no_service(&ctx),
        Err(v) => v,
    }
}

#[classifier]
pub fn from_netdev(ctx: TcContext) -> i32 {
    match nodeport::from_netdev(&ctx) {
        Ok(v) => v,
        Err(NO_BACKEND) => no_service(&ctx),
        Err(v) => v,
    }
}

#[classifier]
pub fn to_pod(ctx: TcContext) -> i32 {
    match try_to_pod(&ctx) {
        Ok(v) => v,
        Err(v) => v,
    }
}

#[inline(always)]
pub(crate) fn count(reason: Reason) {
    if let Some(p) = REASON_COUNTERS.get_ptr_mut(reason as u32) {
        // SAFETY: per-CPU slot, only this CPU writes it while we run.
        unsafe { *p += 1 };
    }
}

#[inline(always)]
fn backend_counters(id: u32) -> Option<&'static mut BackendCounters> {
    // SAFETY: per-CPU slot, only this CPU writes it while we run.
    BACKEND_COUNTERS.get_ptr_mut(id).map(|p| unsafe { &mut *p })
}

/// `try_from_pod`'s verdict for a service without an active backend (not
/// a tc code): [`no_service`] decides what happens to the packet.
const NO_BACKEND: i32 = i32::MIN;

/// A service without an active backend: nothing was rewritten yet.
#[inline(always)]
fn no_backend() -> i32 {
    NO_BACKEND
}

/// What the release does with a packet to a service without backends.
/// v1.15+ (`service-no-backend-response=reject`): bpf_lxc's
/// `DROP_NO_SERVICE` path tail-calls `tail_no_service_ipv4`, which turns
/// the packet into an ICMP port unreachable sent back to the pod
/// ([`reject::icmp_port_unreachable`]); before, the packet is dropped with
/// `DROP_NO_SERVICE`. Either way the monitor sees the decision.
#[inline(always)]
fn no_service(ctx: &TcContext) -> i32 {
    let Some(pkt) = parse(ctx) else {
        count(Reason::DropNoBackend);
        return TC_ACT_SHOT;
    };
    let reject = CONFIG
        .get(0)
        .is_some_and(|c| c.features & DP_F_NO_BACKEND_REJECT != 0);
    let verdict = if reject {
        Reason::RejectNoBackend
    } else {
        Reason::DropNoBackend
    };
    monitor::emit(&Decision {
        saddr: pkt.saddr,
        daddr: pkt.daddr,
        sport: pkt.sport,
        dport: pkt.dport,
        proto: pkt.proto,
        tcp_flags: pkt.tcp_flags,
        verdict,
        backend_id: 0,
        backend_addr: 0,
        backend_port: 0,
    });
    // A reply that cannot be built is a drop, as Cilium's DROP_INVALID.
    if reject && let Ok(v) = reject::icmp_port_unreachable(ctx, &pkt) {
        count(Reason::RejectNoBackend);
        return v;
    }
    count(Reason::DropNoBackend);
    TC_ACT_SHOT
}

#[inline(always)]
fn select_backend(
    cfg: &DatapathConfig,
    svc: &Lb4Service,
    key: &Lb4Key,
    pkt: &Packet,
) -> Option<u32> {
    if svc.count == 0 {
        return None;
    }
    let id = if cfg.selection == SELECTION_MAGLEV {
        // SAFETY: the value stays valid while this program runs (RCU); user
        // space replaces whole tables, never edits one in place.
        let table = unsafe { LB4_MAGLEV.get(svc.rev_nat_index) }?;
        let m = table.m;
        // No `m <= MAGLEV_MAX_M` check here on purpose: LLVM would use it to
        // drop the bounds check below, and the verifier needs that check
        // (it does not track the range of a modulo).
        if m == 0 {
            return None;
        }
        let hash = hash_from_tuple_v4(pkt.saddr, pkt.sport, pkt.dport, pkt.proto, cfg.hash_seed);
        *table.backend_ids.get((hash % m) as usize)?
    } else {
        // SAFETY: helper without preconditions.
        let r = unsafe { bpf_get_prandom_u32() };
        let slot = (r % u32::from(svc.count)) as u16 + 1;
        let slot_key = Lb4Key {
            backend_slot: slot,
            ..*key
        };
        // SAFETY: read-only copy out of the map value.
        unsafe { LB4_SERVICES.get(slot_key) }?.backend_id
    };
    (id != 0).then_some(id)
}

/// lb4_local's CT_NEW choice (v1.16.0 lb.h:1545-1565): no service without
/// an active backend (`svc->count == 0` goes to no_service before the
/// affinity lookup), then the client's affinity backend when it has one
/// that still exists — whatever its state: the affinity path does not look
/// at it — else a fresh selection.
#[inline(always)]
fn pick_backend(f: &Flow<'_>) -> Option<u32> {
    if f.svc.count == 0 {
        return None;
    }
    if affinity::enabled(f.svc) {
        let id = affinity::backend(f.cfg, f.svc, affinity::Client::Addr(f.pkt.saddr), f.now);
        // SAFETY: presence check only.
        if id != 0 && unsafe { LB4_BACKENDS.get(id) }.is_some() {
            return Some(id);
        }
    }
    select_backend(f.cfg, f.svc, f.key, f.pkt)
}

fn try_from_pod(ctx: &TcContext) -> Result<i32, i32> {
    let Some(pkt) = parse(ctx) else {
        count(Reason::NotService);
        return Ok(TC_ACT_OK);
    };
    service_path(ctx, &pkt).map(|_| TC_ACT_OK)
}

/// The service path of one packet: lookup, conntrack, selection and DNAT.
/// `Ok(None)`: not a service packet (passed untouched); `Ok(Some)`: DNATed
/// to the backend returned.
#[inline(always)]
fn service_path(ctx: &TcContext, pkt: &Packet) -> Result<Option<Lb4Backend>, i32> {
    let pkt = *pkt;
    let key = Lb4Key {
        address: pkt.daddr,
        dport: pkt.dport,
        backend_slot: 0,
        proto: pkt.proto,
        scope: 0,
        pad: [0; 2],
    };
    // SAFETY: copied out at once; user space rewrites slot 0 atomically.
    let Some(svc) = (unsafe { LB4_SERVICES.get(key) }).copied() else {
        count(Reason::NotService);
        return Ok(None);
    };
    count(Reason::ServiceHit);
    // Single-entry array, always present once user space loaded us.
    let Some(cfg) = CONFIG.get(0) else {
        return Err(no_backend());
    };
    let (now, now_ns) = clock(cfg);
    let len = u64::from(ctx.len());

    let tuple = Ct4Tuple {
        daddr: pkt.daddr,
        saddr: pkt.saddr,
        dport: pkt.dport,
        sport: pkt.sport,
        nexthdr: pkt.proto,
        flags: TUPLE_F_SERVICE,
        pad: [0; 2],
    };
    let flow = Flow {
        cfg,
        svc: &svc,
        key: &key,
        pkt: &pkt,
        now,
        now_ns,
        len,
    };
    // `kept`: the stored backend when the hit path already looked it up;
    // `fresh`: the flow got a new selection (its out entry is written anew).
    let (backend_id, kept, fresh, verdict) = match CT4.get_ptr_mut(tuple) {
        // SAFETY: LRU value pointer valid for this run; concurrent writers
        // race only on counters and timestamps, as in Cilium.
        Some(entry) => service_hit(&flow, unsafe { &mut *entry })?,
        None => {
            // lb4_local CT_NEW selects whatever the packet (v1.16.0
            // lb.h:1545-1580): a non-SYN miss gets an entry too.
            if pkt.is_tcp() && !pkt.syn() {
                count(Reason::CtMissNonSyn);
            }
            let id = pick_backend(&flow).ok_or_else(no_backend)?;
            let entry = ct::created(cfg, &pkt, id, svc.rev_nat_index, now, now_ns, len);
            if CT4.insert(tuple, entry, 0).is_err() {
                count(Reason::DropCtInsert);
                return Err(TC_ACT_SHOT);
            }
            count(Reason::CtNew);
            if let Some(c) = backend_counters(id) {
                c.selections += 1;
            }
            (id, None, true, Reason::CtNew)
        }
    };

    // SAFETY: read-only copy.
    let Some(backend) = kept.or_else(|| unsafe { LB4_BACKENDS.get(backend_id) }.copied()) else {
        // Removed between selection and here (user space race).
        return Err(no_backend());
    };
    // Every packet through the service path re-pins its client to the
    // flow's backend, new or established (v1.16.0 lb.h:1626-1629; v1.11.0
    // :1427, v1.12.0 :1575 with the stored backend).
    if affinity::enabled(&svc) {
        affinity::update(&svc, affinity::Client::Addr(pkt.saddr), backend_id, now);
    }

    track_out(&flow, &backend, backend_id, fresh)?;
    // Every decision but a plain reuse mid-flow (that would be every packet).
    if verdict != Reason::CtReuse || pkt.opens() {
        monitor::emit(&Decision {
            saddr: pkt.saddr,
            daddr: pkt.daddr,
            sport: pkt.sport,
            dport: pkt.dport,
            proto: pkt.proto,
            tcp_flags: pkt.tcp_flags,
            verdict,
            backend_id,
            backend_addr: backend.address,
            backend_port: backend.port,
        });
    }

    if rewrite(
        ctx,
        &pkt,
        IP_DADDR_OFF,
        pkt.daddr,
        backend.address,
        pkt.l4_off + 2,
        pkt.dport,
        backend.port,
    )
    .is_err()
    {
        count(Reason::DropRewrite);
        return Err(TC_ACT_SHOT);
    }
    if let Some(c) = backend_counters(backend_id) {
        c.packets += 1;
        c.bytes += len;
        if pkt.opens() {
            c.syns += 1;
        }
    }
    Ok(Some(backend))
}

/// What the per-flow steps share.
struct Flow<'a> {
    cfg: &'a DatapathConfig,
    svc: &'a Lb4Service,
    key: &'a Lb4Key,
    pkt: &'a Packet,
    now: u32,
    now_ns: u64,
    len: u64,
}

/// A hit on the service entry: `__ct_lookup` with CT_SERVICE, then the
/// CT_REPLY part of `lb4_local`. Returns the backend id, the backend when it
/// was looked up and kept, whether the entry got a new selection, and the
/// decision (the monitor's verdict).
#[inline(always)]
fn service_hit(
    f: &Flow<'_>,
    entry: &mut CtEntry,
) -> Result<(u32, Option<Lb4Backend>, bool, Reason), i32> {
    let (cfg, pkt, now) = (f.cfg, f.pkt, f.now);
    let syn = pkt.is_tcp() && pkt.syn();
    // A new selection that overwrites the entry, and why.
    let mut fresh = None;
    let mut reopened = false;
    if syn
        && cfg.ct_reuse != CT_REUSE_LEGACY
        && ct::closing(entry)
        && ct::expired_rebalance(entry, cfg, now)
    {
        // PR 19451, first thing on a hit, before any update: `goto ct_new`
        // (v1.12.0 conntrack.h:200-205, v1.16.0 :297-300).
        fresh = Some(Reason::CtRebalance);
    } else {
        // The alive refresh (v1.11.20 :211-212, v1.16.0 :302), then the
        // action: FIN/RST close, a SYN on a closing entry reopens.
        if ct::alive(entry) {
            ct::update_timeout(entry, cfg, pkt, Dir::Tx, now);
        }
        if pkt.is_tcp() && pkt.fin_rst() {
            ct::close(entry, cfg, pkt, Dir::Tx, true, now);
        } else if syn && ct::closing(entry) {
            if cfg.ct_reuse == CT_REUSE_NEW {
                // v1.16.0 :316-327: reset and return CT_NEW; ct_create4
                // then overwrites the entry.
                fresh = Some(Reason::CtReopenNew);
            } else {
                // CT_REOPENED, which ct_lookup4 reports as CT_REPLY: the
                // stored backend is kept (v1.11.20 :240-246, :754-758).
                ct::reopen(entry, cfg, pkt, Dir::Tx, now);
                count(Reason::CtReopen);
                entry.reopened = entry.reopened.wrapping_add(1);
                reopened = true;
            }
        }
    }
    if let Some(why) = fresh {
        let id = pick_backend(f).ok_or_else(no_backend)?;
        let (reopened, rebalanced) = (entry.reopened, entry.rebalanced);
        *entry = ct::created(cfg, pkt, id, f.svc.rev_nat_index, now, f.now_ns, f.len);
        entry.reopened = reopened;
        entry.rebalanced = rebalanced.wrapping_add(1);
        count(why);
        if let Some(c) = backend_counters(id) {
            c.reselections += 1;
        }
        return Ok((id, None, true, why));
    }
    entry.tx_packets += 1;
    entry.tx_bytes += f.len;
    entry.last_tx_ns = f.now_ns;

    // lb4_local CT_REPLY: the stored backend, if it can still be used.
    // SAFETY: read-only copy.
    let stored = unsafe { LB4_BACKENDS.get(entry.backend_id) }.copied();
    let mut verdict = if reopened {
        Reason::CtReopen
    } else {
        Reason::CtReuse
    };
    let usable = match stored {
        None => false,
        Some(b) if b.state == BackendState::Active as u8 => true,
        // v1.11 has no backend state: an existing backend is used
        // (lb.h:1437-1449 reselects only when it is gone).
        Some(_) if cfg.features & DP_F_INACTIVE_RESELECT == 0 => true,
        // PR 20407 (v1.12.0 lb.h:1548-1554): drain existing connections,
        // redirect new ones (SYN) to active backends.
        Some(_) if !syn => {
            count(Reason::CtDrain);
            // The monitor hears of a draining flow once, not per packet.
            if entry.flags & CT_F_DRAIN_REPORTED == 0 {
                entry.flags |= CT_F_DRAIN_REPORTED;
                verdict = Reason::CtDrain;
            }
            true
        }
        Some(_) => false,
    };
    if usable {
        count(Reason::CtReuse);
        return Ok((entry.backend_id, stored, false, verdict));
    }
    let id = select_backend(cfg, f.svc, f.key, pkt).ok_or_else(no_backend)?;
    count(Reason::BackendGone);
    if let Some(c) = backend_counters(id) {
        c.reselections += 1;
    }
    entry.backend_id = id;
    Ok((id, None, false, Reason::BackendGone))
}

/// Creates or refreshes the post-DNAT entry (client → backend) that carries
/// the service id for reverse NAT: Cilium's CT_EGRESS lookup of the
/// translated tuple in `bpf_lxc`, with the same entry rules. For a flow that
/// just got a new selection an earlier connection's entry on the same tuple
/// is overwritten in place, as `ct_create4` would.
#[inline(always)]
fn track_out(f: &Flow<'_>, backend: &Lb4Backend, backend_id: u32, fresh: bool) -> Result<(), i32> {
    let (cfg, pkt, now) = (f.cfg, f.pkt, f.now);
    let tuple = Ct4Tuple {
        daddr: backend.address,
        saddr: pkt.saddr,
        dport: backend.port,
        sport: pkt.sport,
        nexthdr: pkt.proto,
        flags: TUPLE_F_OUT,
        pad: [0; 2],
    };
    let rev_nat_index = f.svc.rev_nat_index;
    match CT4.get_ptr_mut(tuple) {
        Some(entry) if fresh => {
            // SAFETY: as in try_from_pod.
            let entry = unsafe { &mut *entry };
            *entry = ct::created(cfg, pkt, backend_id, rev_nat_index, now, f.now_ns, f.len);
        }
        Some(entry) => {
            // SAFETY: as in try_from_pod.
            let entry = unsafe { &mut *entry };
            if ct::alive(entry) {
                ct::update_timeout(entry, cfg, pkt, Dir::Tx, now);
            }
            if pkt.is_tcp() && pkt.fin_rst() {
                ct::close(entry, cfg, pkt, Dir::Tx, false, now);
            } else if pkt.is_tcp() && pkt.syn() && ct::closing(entry) {
                ct::reopen(entry, cfg, pkt, Dir::Tx, now);
            }
            entry.rev_nat_index = rev_nat_index;
            entry.backend_id = backend_id;
            entry.last_tx_ns = f.now_ns;
            entry.tx_packets += 1;
            entry.tx_bytes += f.len;
        }
        None => {
            let entry = ct::created(cfg, pkt, backend_id, rev_nat_index, now, f.now_ns, f.len);
            if CT4.insert(tuple, entry, 0).is_err() {
                count(Reason::DropCtInsert);
                return Err(TC_ACT_SHOT);
            }
            count(Reason::CtNewOut);
        }
    }
    Ok(())
}

pub(crate) fn try_to_pod(ctx: &TcContext) -> Result<i32, i32> {
    let Some(pkt) = parse(ctx) else {
        return Ok(TC_ACT_OK);
    };
    // A reply travels backend → client; its entry was keyed client → backend.
    let tuple = Ct4Tuple {
        daddr: pkt.saddr,
        saddr: pkt.daddr,
        dport: pkt.sport,
        sport: pkt.dport,
        nexthdr: pkt.proto,
        flags: TUPLE_F_OUT,
        pad: [0; 2],
    };
    let Some(entry) = CT4.get_ptr_mut(tuple) else {
        return Ok(TC_ACT_OK);
    };
    // SAFETY: as in try_from_pod.
    let entry = unsafe { &mut *entry };
    let Some(rev) = LB4_REVERSE_NAT.get(u32::from(entry.rev_nat_index)).copied() else {
        count(Reason::RevNatMissing);
        return Ok(TC_ACT_OK);
    };
    if rev.address == 0 {
        count(Reason::RevNatMissing);
        return Ok(TC_ACT_OK);
    }
    if let Some(cfg) = CONFIG.get(0) {
        let (now, _) = clock(cfg);
        if ct::alive(entry) {
            ct::update_timeout(entry, cfg, &pkt, Dir::Rx, now);
        }
        if pkt.is_tcp() && pkt.fin_rst() {
            ct::close(entry, cfg, &pkt, Dir::Rx, false, now);
        }
    }
    entry.rx_packets += 1;
    entry.rx_bytes += u64::from(ctx.len());

    if rewrite(
        ctx,
        &pkt,
        IP_SADDR_OFF,
        pkt.saddr,
        rev.address,
        pkt.l4_off,
        pkt.sport,
        rev.port,
    )
    .is_err()
    {
        count(Reason::DropRewrite);
        return Err(TC_ACT_SHOT);
    }
    count(Reason::RevNat);
    Ok(TC_ACT_OK)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
