//! NodePort from outside the node: the service path for packets arriving on
//! the node's fabric device, and the SNAT that brings a remote backend's
//! replies back through this node — Cilium v1.16.0's `bpf_host`
//! from-netdev path in its default SNAT mode (no DSR). Line numbers are of
//! v1.16.0 (commit 82999990bc).
//!
//! - A packet to the node's address is looked up as a service in the
//!   external scope (bpf/lib/nodeport.h:2988, `lb4_lookup_service(&key,
//!   false)`; the agent gives that scope only the node's own backends under
//!   `externalTrafficPolicy: Local`, pkg/service/service.go:141-162,
//!   :787-798 — here each node's maps hold its own NodePort frontend,
//!   `<node address>:<port>`, with its external list), tracked and DNATed
//!   by `lb4_local` as on the pod path (nodeport.h:2845-2848); no usable
//!   backend is the release's no-backend answer (:2849-2856, the ICMP
//!   reject of `service-no-backend-response` from 1.15).
//! - A local backend (nodeport.h:2861 `__lookup_ip4_endpoint`) gets the
//!   packet up the stack as it is, client address kept, under either
//!   policy (:2921-2924); the reply is reverse-NATed by `to_pod` on the
//!   fabric device's egress.
//! - A backend on another node (:2931, :2947-2950 →
//!   `tail_nodeport_nat_egress_ipv4`, :2649-2797): the source becomes the
//!   node's address (:2667) and a port of the SNAT range (bpf/lib/nat.h
//!   `snat_v4_new_mapping`, :161-238), and the packet leaves through the
//!   fabric device at once (`fib_redirect`, :2789; `bpf_redirect_neigh`
//!   here): the host stack would refuse a packet whose source is its own
//!   address arriving from outside (a martian source).
//! - A reply to such a flow (to the node's address at a SNAT port) gets its
//!   client back, then the usual reverse NAT, and leaves the same way.
use aya_ebpf::{
    bindings::{BPF_NOEXIST, TC_ACT_OK, TC_ACT_SHOT},
    helpers::{bpf_get_prandom_u32, bpf_redirect_neigh},
    macros::map,
    maps::LruHashMap,
    programs::TcContext,
};
use svclab_datapath_common::{
    DatapathConfig, Lb4Backend, Reason, SNAT_MAP_SIZE, SNAT_PORT_MAX, SNAT_PORT_MIN, Snat4Entry,
    Snat4Key,
};

use crate::{
    CONFIG, count,
    packet::{IP_DADDR_OFF, IP_SADDR_OFF, Packet, parse, rewrite},
    service_path, try_to_pod,
};

#[map]
static SNAT4_FWD: LruHashMap<Snat4Key, Snat4Entry> = LruHashMap::with_max_entries(SNAT_MAP_SIZE, 0);
#[map]
static SNAT4_REV: LruHashMap<Snat4Key, Snat4Entry> = LruHashMap::with_max_entries(SNAT_MAP_SIZE, 0);

/// Ports tried for a new mapping before the packet is dropped
/// (`SNAT_COLLISION_RETRIES`, bpf/lib/nat.h:38; then DROP_NAT_NO_MAPPING).
const SNAT_RETRIES: u32 = 128;

/// `__snat_clamp_port_range` (nat.h:43-47): `val % (end - start) + start`
/// on the 16-bit value (so `end` itself is never chosen).
#[inline(always)]
fn clamp(val: u16) -> u16 {
    val % (SNAT_PORT_MAX - SNAT_PORT_MIN) + SNAT_PORT_MIN
}

pub fn from_netdev(ctx: &TcContext) -> Result<i32, i32> {
    let Some(pkt) = parse(ctx) else {
        return Ok(TC_ACT_OK);
    };
    let Some(cfg) = CONFIG.get(0) else {
        return Ok(TC_ACT_OK);
    };
    // Only what is addressed to this node: everything else (pod traffic
    // between nodes) passes untouched.
    if cfg.node_addr == 0 || pkt.daddr != cfg.node_addr {
        return Ok(TC_ACT_OK);
    }
    let rkey = Snat4Key {
        saddr: pkt.saddr,
        daddr: pkt.daddr,
        sport: pkt.sport,
        dport: pkt.dport,
        proto: pkt.proto,
        pad: [0; 3],
    };
    // SAFETY: copied out at once.
    if let Some(client) = unsafe { SNAT4_REV.get(rkey) }.copied() {
        return rev_snat(ctx, &pkt, &client);
    }
    let Some(backend) = service_path(ctx, &pkt)? else {
        return Ok(TC_ACT_OK);
    };
    if local(cfg, backend.address) {
        return Ok(TC_ACT_OK);
    }
    let port = snat_port(cfg, &pkt, &backend)?;
    // After the DNAT the packet is client → backend; only the source moves.
    if rewrite(
        ctx,
        &pkt,
        IP_SADDR_OFF,
        pkt.saddr,
        cfg.node_addr,
        pkt.l4_off,
        pkt.sport,
        port,
    )
    .is_err()
    {
        count(Reason::DropRewrite);
        return Err(TC_ACT_SHOT);
    }
    count(Reason::NodePortSnat);
    Ok(redirect_out(ctx))
}

/// A backend in this node's pod CIDR.
#[inline(always)]
fn local(cfg: &DatapathConfig, addr: u32) -> bool {
    addr & cfg.pod_mask == cfg.pod_net
}

/// The flow's SNAT port: the one it has, else a new mapping. Both
/// directions are written; the reverse one first and only if its port is
/// free (`BPF_NOEXIST`), so two flows never share a port to a backend.
#[inline(always)]
fn snat_port(cfg: &DatapathConfig, pkt: &Packet, backend: &Lb4Backend) -> Result<u16, i32> {
    let fkey = Snat4Key {
        saddr: pkt.saddr,
        daddr: backend.address,
        sport: pkt.sport,
        dport: backend.port,
        proto: pkt.proto,
        pad: [0; 3],
    };
    // SAFETY: copied out at once.
    if let Some(e) = unsafe { SNAT4_FWD.get(fkey) }.copied() {
        return Ok(e.port);
    }
    // `__snat_try_keep_port` (nat.h:49-54): the client's own port when it
    // is in range, else a random one.
    let own = u16::from_be(pkt.sport);
    let mut port = if own >= SNAT_PORT_MIN {
        own
    } else {
        // SAFETY: helper without preconditions.
        clamp(unsafe { bpf_get_prandom_u32() } as u16)
    };
    let client = Snat4Entry {
        addr: pkt.saddr,
        port: pkt.sport,
        pad: [0; 2],
    };
    for i in 0..SNAT_RETRIES {
        let rkey = Snat4Key {
            saddr: backend.address,
            daddr: cfg.node_addr,
            sport: backend.port,
            dport: port.to_be(),
            proto: pkt.proto,
            pad: [0; 3],
        };
        if SNAT4_REV
            .insert(rkey, client, u64::from(BPF_NOEXIST))
            .is_ok()
        {
            let ours = Snat4Entry {
                addr: cfg.node_addr,
                port: port.to_be(),
                pad: [0; 2],
            };
            if SNAT4_FWD.insert(fkey, ours, 0).is_err() {
                let _ = SNAT4_REV.remove(rkey);
                break;
            }
            return Ok(port.to_be());
        }
        // nat.h:197-207: `retries ? port + 1 : (__u16)get_prandom_u32()`,
        // clamped.
        port = if i == 0 {
            // SAFETY: helper without preconditions.
            clamp(unsafe { bpf_get_prandom_u32() } as u16)
        } else {
            clamp(port.wrapping_add(1))
        };
    }
    count(Reason::DropSnatPorts);
    Err(TC_ACT_SHOT)
}

/// A remote backend's reply: back to the client's address and port, then
/// the reverse NAT of the service (`to_pod`'s), then out again.
#[inline(always)]
fn rev_snat(ctx: &TcContext, pkt: &Packet, client: &Snat4Entry) -> Result<i32, i32> {
    if rewrite(
        ctx,
        pkt,
        IP_DADDR_OFF,
        pkt.daddr,
        client.addr,
        pkt.l4_off + 2,
        pkt.dport,
        client.port,
    )
    .is_err()
    {
        count(Reason::DropRewrite);
        return Err(TC_ACT_SHOT);
    }
    count(Reason::NodePortRevSnat);
    let v = try_to_pod(ctx)?;
    if v != TC_ACT_OK {
        return Ok(v);
    }
    Ok(redirect_out(ctx))
}

/// Out through the device the packet came in on, routed and with its
/// neighbour resolved by the kernel (`bpf_redirect_neigh`).
#[inline(always)]
fn redirect_out(ctx: &TcContext) -> i32 {
    // SAFETY: the context's skb is valid for this run.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    // SAFETY: no neighbour parameters (the kernel does the FIB lookup).
    unsafe { bpf_redirect_neigh(ifindex, core::ptr::null_mut(), 0, 0) as i32 }
}
