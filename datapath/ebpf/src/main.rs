//! The svclab service datapath: tc programs for a pod-facing veth (`lxc…`)
//! in a node netns, modelled on Cilium's `bpf_lxc` service path.
//!
//! - `from_pod` (tc ingress, packets leaving the pod): service lookup by
//!   (VIP, port, proto), service conntrack keyed by the pre-DNAT tuple,
//!   backend selection (random or Maglev), the legacy / close-rebalance reuse
//!   rules of incident A, DNAT, and the post-DNAT entry the reply path needs.
//! - `to_pod` (tc egress, packets going to the pod): reverse NAT of replies
//!   from a backend back to the VIP.
//!
//! Every verdict other than "pass untouched" has a reason counted in
//! `REASON_COUNTERS`.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{BPF_F_MARK_MANGLED_0, BPF_F_NO_PREALLOC, BPF_F_PSEUDO_HDR, TC_ACT_OK, TC_ACT_SHOT},
    helpers::{bpf_get_prandom_u32, bpf_ktime_get_ns},
    macros::{classifier, map},
    maps::{Array, HashMap, LruHashMap, PerCpuArray},
    programs::TcContext,
};
use svclab_datapath_common::{
    BackendCounters, BackendState, CT_F_RX_CLOSING, CT_F_SEEN_NON_SYN, CT_F_TX_CLOSING,
    CT_MAP_SIZE_DEFAULT, CT_REUSE_CLOSE_REBALANCE, Ct4Tuple, CtEntry, DatapathConfig, IPPROTO_TCP,
    IPPROTO_UDP, Lb4Backend, Lb4Key, Lb4RevNat, Lb4Service, MAX_BACKENDS, MAX_SERVICES,
    MaglevTable, Reason, SELECTION_MAGLEV, SERVICES_MAP_SIZE, TUPLE_F_OUT, TUPLE_F_SERVICE,
    hash_from_tuple_v4,
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
static CONFIG: Array<DatapathConfig> = Array::with_max_entries(1, 0);
#[map]
static REASON_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Reason::COUNT, 0);
#[map]
static BACKEND_COUNTERS: PerCpuArray<BackendCounters> =
    PerCpuArray::with_max_entries(MAX_BACKENDS, 0);

const ETH_HLEN: usize = 14;
const ETH_P_IP_BE: u16 = 0x0800u16.to_be();
const IP_SADDR_OFF: usize = ETH_HLEN + 12;
const IP_DADDR_OFF: usize = ETH_HLEN + 16;
const IP_CSUM_OFF: usize = ETH_HLEN + 10;
const TCP_CSUM_OFF: usize = 16;
const UDP_CSUM_OFF: usize = 6;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

/// The fields of one IPv4 TCP/UDP packet the datapath works on, in network
/// byte order as on the wire.
struct Packet {
    saddr: u32,
    daddr: u32,
    sport: u16,
    dport: u16,
    proto: u8,
    tcp_flags: u8,
    l4_off: usize,
}

impl Packet {
    fn is_tcp(&self) -> bool {
        self.proto == IPPROTO_TCP
    }
    /// A connection-opening SYN (not a SYN-ACK).
    fn is_syn(&self) -> bool {
        self.is_tcp() && self.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN
    }
    fn is_closing(&self) -> bool {
        self.is_tcp() && self.tcp_flags & (TCP_FIN | TCP_RST) != 0
    }
    fn l4_csum_off(&self) -> usize {
        self.l4_off
            + if self.is_tcp() {
                TCP_CSUM_OFF
            } else {
                UDP_CSUM_OFF
            }
    }
}

#[classifier]
pub fn from_pod(ctx: TcContext) -> i32 {
    match try_from_pod(&ctx) {
        Ok(v) => v,
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
fn count(reason: Reason) {
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

/// Parses Ethernet/IPv4/TCP|UDP; `None` for anything else (including
/// non-first fragments, which carry no L4 header).
#[inline(always)]
fn parse(ctx: &TcContext) -> Option<Packet> {
    let eth_proto: u16 = ctx.load(12).ok()?;
    if eth_proto != ETH_P_IP_BE {
        return None;
    }
    let vihl: u8 = ctx.load(ETH_HLEN).ok()?;
    if vihl >> 4 != 4 {
        return None;
    }
    let ihl = ((vihl & 0x0f) as usize) * 4;
    if ihl < 20 {
        return None;
    }
    let frag: u16 = ctx.load(ETH_HLEN + 6).ok()?;
    if u16::from_be(frag) & 0x1fff != 0 {
        return None;
    }
    let proto: u8 = ctx.load(ETH_HLEN + 9).ok()?;
    if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
        return None;
    }
    let l4_off = ETH_HLEN + ihl;
    let tcp_flags = if proto == IPPROTO_TCP {
        ctx.load::<u8>(l4_off + 13).ok()?
    } else {
        // The UDP checksum must be inside the packet for the rewrite.
        ctx.load::<u16>(l4_off + UDP_CSUM_OFF).ok()?;
        0
    };
    Some(Packet {
        saddr: ctx.load(IP_SADDR_OFF).ok()?,
        daddr: ctx.load(IP_DADDR_OFF).ok()?,
        sport: ctx.load(l4_off).ok()?,
        dport: ctx.load(l4_off + 2).ok()?,
        proto,
        tcp_flags,
        l4_off,
    })
}

/// Lifetime for an entry in its current state, as Cilium's
/// `ct_update_timeout`: closing beats everything, then SYN-only, then
/// established.
#[inline(always)]
fn lifetime_for(cfg: &DatapathConfig, tcp: bool, flags: u16) -> u64 {
    if !tcp {
        cfg.non_tcp_timeout_ns
    } else if flags & (CT_F_TX_CLOSING | CT_F_RX_CLOSING) != 0 {
        cfg.close_timeout_ns
    } else if flags & CT_F_SEEN_NON_SYN == 0 {
        cfg.syn_timeout_ns
    } else {
        cfg.tcp_timeout_ns
    }
}

/// Picks an active backend of `svc` for the flow; `None` if there is none.
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

fn try_from_pod(ctx: &TcContext) -> Result<i32, i32> {
    let Some(pkt) = parse(ctx) else {
        count(Reason::NotService);
        return Ok(TC_ACT_OK);
    };
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
        return Ok(TC_ACT_OK);
    };
    count(Reason::ServiceHit);
    // Single-entry array, always present once user space loaded us.
    let Some(cfg) = CONFIG.get(0).copied() else {
        count(Reason::DropNoBackend);
        return Err(TC_ACT_SHOT);
    };
    // SAFETY: helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    let tcp = pkt.is_tcp();
    let syn = pkt.is_syn();
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

    // The stored backend, when the CT hit path already looked it up and
    // keeps it: saves a second hash lookup per packet.
    let mut kept: Option<Lb4Backend> = None;
    let backend_id = match CT4.get_ptr_mut(tuple) {
        Some(entry) => {
            // SAFETY: LRU value pointer valid for this run; concurrent
            // writers race only on counters and timestamps, as in Cilium.
            let entry = unsafe { &mut *entry };
            let mut reselect: Option<Reason> = None;
            if syn && entry.flags & CT_F_TX_CLOSING != 0 {
                let idle = now.saturating_sub(entry.last_tx_ns);
                if cfg.ct_reuse == CT_REUSE_CLOSE_REBALANCE && idle > cfg.rebalance_grace_ns {
                    reselect = Some(Reason::CtRebalance);
                } else {
                    count(Reason::CtReopen);
                    entry.reopened = entry.reopened.wrapping_add(1);
                }
                // Reopen: the entry now tracks a new connection.
                entry.flags &= !(CT_F_TX_CLOSING | CT_F_RX_CLOSING | CT_F_SEEN_NON_SYN);
            }
            if reselect.is_none() {
                // SAFETY: read-only copy.
                match unsafe { LB4_BACKENDS.get(entry.backend_id) } {
                    None => reselect = Some(Reason::BackendGone),
                    Some(b) if b.state != BackendState::Active as u8 => {
                        // Cilium drains: the existing connection keeps its
                        // backend, a new one (SYN) gets an active backend.
                        if syn {
                            reselect = Some(Reason::BackendGone);
                        } else {
                            count(Reason::CtDrain);
                            kept = Some(*b);
                        }
                    }
                    Some(b) => kept = Some(*b),
                }
            }
            match reselect {
                Some(why) => {
                    let Some(id) = select_backend(&cfg, &svc, &key, &pkt) else {
                        count(Reason::DropNoBackend);
                        return Err(TC_ACT_SHOT);
                    };
                    count(why);
                    if why == Reason::CtRebalance {
                        entry.rebalanced = entry.rebalanced.wrapping_add(1);
                    }
                    if let Some(c) = backend_counters(id) {
                        c.reselections += 1;
                    }
                    entry.backend_id = id;
                }
                None => count(Reason::CtReuse),
            }
            if !syn {
                entry.flags |= CT_F_SEEN_NON_SYN;
            }
            if pkt.is_closing() {
                entry.flags |= CT_F_TX_CLOSING;
            }
            entry.last_tx_ns = now;
            entry.lifetime_ns = now + lifetime_for(&cfg, tcp, entry.flags);
            entry.tx_packets += 1;
            entry.tx_bytes += len;
            entry.backend_id
        }
        None => {
            if tcp && !syn {
                count(Reason::CtMissNonSyn);
            }
            let Some(id) = select_backend(&cfg, &svc, &key, &pkt) else {
                count(Reason::DropNoBackend);
                return Err(TC_ACT_SHOT);
            };
            let mut flags = 0;
            if tcp && !syn {
                flags |= CT_F_SEEN_NON_SYN;
            }
            if pkt.is_closing() {
                flags |= CT_F_TX_CLOSING;
            }
            let entry = CtEntry {
                lifetime_ns: now + lifetime_for(&cfg, tcp, flags),
                last_tx_ns: now,
                created_ns: now,
                tx_packets: 1,
                tx_bytes: len,
                backend_id: id,
                rev_nat_index: svc.rev_nat_index,
                flags,
                ..CtEntry::default()
            };
            if CT4.insert(tuple, entry, 0).is_err() {
                count(Reason::DropCtInsert);
                return Err(TC_ACT_SHOT);
            }
            count(Reason::CtNew);
            if let Some(c) = backend_counters(id) {
                c.selections += 1;
            }
            id
        }
    };

    // SAFETY: read-only copy.
    let Some(backend) = kept.or_else(|| unsafe { LB4_BACKENDS.get(backend_id) }.copied()) else {
        // Removed between selection and here (user space race).
        count(Reason::DropNoBackend);
        return Err(TC_ACT_SHOT);
    };

    track_out(
        &cfg,
        &pkt,
        &backend,
        backend_id,
        svc.rev_nat_index,
        now,
        len,
    )?;

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
        if syn {
            c.syns += 1;
        }
    }
    Ok(TC_ACT_OK)
}

/// Creates or refreshes the post-DNAT entry (client → backend) that carries
/// the service id for reverse NAT.
#[inline(always)]
fn track_out(
    cfg: &DatapathConfig,
    pkt: &Packet,
    backend: &Lb4Backend,
    backend_id: u32,
    rev_nat_index: u16,
    now: u64,
    len: u64,
) -> Result<(), i32> {
    let tuple = Ct4Tuple {
        daddr: backend.address,
        saddr: pkt.saddr,
        dport: backend.port,
        sport: pkt.sport,
        nexthdr: pkt.proto,
        flags: TUPLE_F_OUT,
        pad: [0; 2],
    };
    let tcp = pkt.is_tcp();
    match CT4.get_ptr_mut(tuple) {
        Some(entry) => {
            // SAFETY: as in try_from_pod.
            let entry = unsafe { &mut *entry };
            if pkt.is_syn() && entry.flags & (CT_F_TX_CLOSING | CT_F_RX_CLOSING) != 0 {
                entry.flags &= !(CT_F_TX_CLOSING | CT_F_RX_CLOSING | CT_F_SEEN_NON_SYN);
            }
            if !pkt.is_syn() {
                entry.flags |= CT_F_SEEN_NON_SYN;
            }
            if pkt.is_closing() {
                entry.flags |= CT_F_TX_CLOSING;
            }
            entry.rev_nat_index = rev_nat_index;
            entry.backend_id = backend_id;
            entry.last_tx_ns = now;
            entry.lifetime_ns = now + lifetime_for(cfg, tcp, entry.flags);
            entry.tx_packets += 1;
            entry.tx_bytes += len;
        }
        None => {
            let mut flags = 0;
            if tcp && !pkt.is_syn() {
                flags |= CT_F_SEEN_NON_SYN;
            }
            if pkt.is_closing() {
                flags |= CT_F_TX_CLOSING;
            }
            let entry = CtEntry {
                lifetime_ns: now + lifetime_for(cfg, tcp, flags),
                last_tx_ns: now,
                created_ns: now,
                tx_packets: 1,
                tx_bytes: len,
                backend_id,
                rev_nat_index,
                flags,
                ..CtEntry::default()
            };
            if CT4.insert(tuple, entry, 0).is_err() {
                count(Reason::DropCtInsert);
                return Err(TC_ACT_SHOT);
            }
            count(Reason::CtNewOut);
        }
    }
    Ok(())
}

fn try_to_pod(ctx: &TcContext) -> Result<i32, i32> {
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
        // SAFETY: helper without preconditions.
        let now = unsafe { bpf_ktime_get_ns() };
        if pkt.is_closing() {
            entry.flags |= CT_F_RX_CLOSING;
        }
        if pkt.is_tcp() && pkt.tcp_flags & TCP_SYN == 0 {
            entry.flags |= CT_F_SEEN_NON_SYN;
        }
        entry.lifetime_ns = now + lifetime_for(cfg, pkt.is_tcp(), entry.flags);
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

/// Rewrites one IPv4 address and one L4 port, fixing the L4 checksum
/// (pseudo-header aware, so CHECKSUM_PARTIAL packets from a veth stay right)
/// and the IPv4 header checksum.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per direction; a struct adds nothing"
)]
#[inline(always)]
fn rewrite(
    ctx: &TcContext,
    pkt: &Packet,
    addr_off: usize,
    old_addr: u32,
    new_addr: u32,
    port_off: usize,
    old_port: u16,
    new_port: u16,
) -> Result<(), i64> {
    let mangled = if pkt.is_tcp() {
        0
    } else {
        u64::from(BPF_F_MARK_MANGLED_0)
    };
    let csum_off = pkt.l4_csum_off();
    if old_addr != new_addr {
        ctx.l4_csum_replace(
            csum_off,
            u64::from(old_addr),
            u64::from(new_addr),
            u64::from(BPF_F_PSEUDO_HDR) | mangled | 4,
        )?;
        ctx.l3_csum_replace(IP_CSUM_OFF, u64::from(old_addr), u64::from(new_addr), 4)?;
        ctx.store(addr_off, &new_addr, 0)?;
    }
    if old_port != new_port {
        ctx.l4_csum_replace(
            csum_off,
            u64::from(old_port),
            u64::from(new_port),
            mangled | 2,
        )?;
        ctx.store(port_off, &new_port, 0)?;
    }
    Ok(())
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
