//! Socket-LB: the service translation Cilium v1.16.0 does at the socket
//! (bpf/bpf_sock.c), for processes in a cgroup these programs are attached
//! to. A `connect()` (or a UDP `sendmsg()`) to a service VIP is rewritten
//! to a backend before the kernel builds a packet, so the packets carry the
//! backend's address and there is no service conntrack to pin a reused
//! port; `getpeername()` and `recvmsg()` show the service again.
//!
//! The selection is Cilium's `sock_select_slot` (bpf_sock.c:106-110): a
//! random active slot for TCP, the socket cookie for UDP. Maglev is not
//! used at the socket in v1.16.0 (bpf_sock.c:403 picks the slot from
//! `sock_select_slot` whatever the service's algorithm).
//!
//! The shared maps are the tc programs' (`LB4_SERVICES`, `LB4_BACKENDS`,
//! the counters), so user space programs one table for both.

use aya_ebpf::{
    bindings::bpf_sock_addr,
    helpers::{
        bpf_get_prandom_u32, bpf_get_socket_cookie,
        generated::{bpf_get_netns_cookie, bpf_set_retval},
    },
    macros::{cgroup_sock_addr, map},
    maps::LruHashMap,
    programs::SockAddrContext,
};
use svclab_datapath_common::{
    IPPROTO_TCP, IPPROTO_UDP, Lb4Key, Reason, SOCK_REVNAT_MAP_SIZE, Sock4RevnatEntry,
    Sock4RevnatKey,
};

use crate::{
    CONFIG, LB4_BACKENDS, LB4_SERVICES, affinity, backend_counters, clock, count,
    monitor::{self, Decision},
};

/// A socket-LB decision for the monitor: made at `connect()`/`sendmsg()`,
/// before the kernel picks the client's address and port (both 0 here).
#[inline(always)]
fn note(key: &Lb4Key, verdict: Reason, backend_id: u32, address: u32, port: u16) {
    monitor::emit(&Decision {
        saddr: 0,
        daddr: key.address,
        sport: 0,
        dport: key.dport,
        proto: key.proto,
        tcp_flags: 0,
        verdict,
        backend_id,
        backend_addr: address,
        backend_port: port,
    });
}

/// Cilium's `SYS_REJECT` / `SYS_PROCEED` (bpf_sock.c:22-23).
const SYS_REJECT: i32 = 0;
const SYS_PROCEED: i32 = 1;

const ENXIO: i32 = 6;
const ENOMEM: i32 = 12;
const ENOTSUP: i32 = 95;
const EHOSTUNREACH: i32 = 113;

/// Cilium `LB4_REVERSE_NAT_SK_MAP` (bpf_sock.c:126-133): LRU, keyed by
/// socket cookie and backend.
#[map]
static LB4_REVNAT_SK: LruHashMap<Sock4RevnatKey, Sock4RevnatEntry> =
    LruHashMap::with_max_entries(SOCK_REVNAT_MAP_SIZE, 0);

#[inline(always)]
fn sa(ctx: &SockAddrContext) -> *mut bpf_sock_addr {
    ctx.sock_addr
}

/// `ctx->user_port` in network order. Cilium reads it as a full u32
/// (`ctx_dst_port`, bpf_sock.c:45-50: "missing narrow ctx access").
#[inline(always)]
fn dst_port(ctx: &SockAddrContext) -> u16 {
    // SAFETY: the context pointer is valid for the program's run; a 4-byte
    // read of `user_port` is the access the verifier allows.
    let p = unsafe { core::ptr::read_volatile(&raw const (*sa(ctx)).user_port) };
    p as u16
}

#[inline(always)]
fn dst_ip(ctx: &SockAddrContext) -> u32 {
    // SAFETY: as above, `user_ip4` is a readable 4-byte field.
    unsafe { (*sa(ctx)).user_ip4 }
}

#[inline(always)]
fn protocol(ctx: &SockAddrContext) -> u32 {
    // SAFETY: as above.
    unsafe { (*sa(ctx)).protocol }
}

#[inline(always)]
fn set_dst(ctx: &SockAddrContext, address: u32, port: u16) {
    // SAFETY: `user_ip4` and `user_port` are writable in the connect4,
    // sendmsg4, recvmsg4 and getpeername4 hooks (`ctx_set_port`,
    // bpf_sock.c:60-64).
    unsafe {
        (*sa(ctx)).user_ip4 = address;
        (*sa(ctx)).user_port = u32::from(port);
    }
}

/// Cilium's `sock_local_cookie` with `HAVE_SOCKET_COOKIE` (v1.16.0
/// bpf/lib/lb.h:2063-2086).
#[inline(always)]
fn cookie(ctx: &SockAddrContext) -> u64 {
    // SAFETY: the helper takes the program's context.
    unsafe { bpf_get_socket_cookie(ctx.sock_addr.cast()) }
}

/// The caller's network namespace cookie (`ctx_in_hostns` with
/// `HAVE_NETNS_COOKIE`, bpf_sock.c:76-91): socket-LB's affinity client.
#[inline(always)]
fn netns_cookie(ctx: &SockAddrContext) -> u64 {
    // SAFETY: the helper takes the program's context.
    unsafe { bpf_get_netns_cookie(ctx.sock_addr.cast()) }
}

/// `sock_select_slot` (bpf_sock.c:106-110).
#[inline(always)]
fn select_slot(ctx: &SockAddrContext) -> u64 {
    if protocol(ctx) == u32::from(IPPROTO_TCP) {
        // SAFETY: helper without preconditions.
        u64::from(unsafe { bpf_get_prandom_u32() })
    } else {
        cookie(ctx)
    }
}

/// `__sock4_xlate_fwd` (bpf_sock.c:289-439) for a ClusterIP service:
/// lookup, no-backend refusal (:325-326), slot selection (:400-411), the
/// reverse entry (:429-434, `sock4_update_revnat` :144-166), rewrite
/// (:435-436), with session affinity by netns cookie (:374-421). NodePort
/// wildcards, L7 LB and local-redirect are not modelled (svclab has none
/// of them).
#[inline(always)]
fn xlate_fwd(ctx: &SockAddrContext, udp_only: bool) -> Result<(), i32> {
    let proto = protocol(ctx);
    // sock_proto_enabled (bpf_sock.c:112-124): TCP and UDP.
    if !udp_only && proto != u32::from(IPPROTO_TCP) && proto != u32::from(IPPROTO_UDP) {
        return Err(ENOTSUP);
    }
    let key = Lb4Key {
        address: dst_ip(ctx),
        dport: dst_port(ctx),
        backend_slot: 0,
        // svclab's services map is keyed by protocol (Cilium v1.16.0 sets
        // it to 0, common.h:1048); the tc path keys it the same way.
        proto: proto as u8,
        scope: 0,
        pad: [0; 2],
    };
    // SAFETY: copied out at once.
    let Some(svc) = (unsafe { LB4_SERVICES.get(key) }).copied() else {
        return Err(ENXIO);
    };
    if svc.count == 0 {
        count(Reason::SockNoBackend);
        note(&key, Reason::SockNoBackend, 0, 0, 0);
        return Err(EHOSTUNREACH);
    }
    // Affinity by the caller's netns (bpf_sock.c:374-421): a pinned
    // backend that still exists, else a slot; the entry is written only
    // for a fresh choice (a hit already refreshed it).
    let cfg = CONFIG.get(0);
    let now = cfg.map_or(0, |c| clock(c).0);
    let client = affinity::Client::Netns(netns_cookie(ctx));
    let mut pinned = 0;
    if let Some(cfg) = cfg
        && affinity::enabled(&svc)
    {
        let id = affinity::backend(cfg, &svc, client, now);
        // SAFETY: presence check only.
        if id != 0 && unsafe { LB4_BACKENDS.get(id) }.is_some() {
            pinned = id;
        }
    }
    let backend_id = if pinned != 0 {
        pinned
    } else {
        let slot = (select_slot(ctx) % u64::from(svc.count)) as u16 + 1;
        let slot_key = Lb4Key {
            backend_slot: slot,
            ..key
        };
        // SAFETY: read-only copies out of the maps.
        let Some(id) = (unsafe { LB4_SERVICES.get(slot_key) }).map(|s| s.backend_id) else {
            count(Reason::SockNoBackend);
            return Err(EHOSTUNREACH);
        };
        if affinity::enabled(&svc) {
            affinity::update(&svc, client, id, now);
        }
        id
    };
    // SAFETY: as above.
    let Some(backend) = (unsafe { LB4_BACKENDS.get(backend_id) }).copied() else {
        count(Reason::SockNoBackend);
        return Err(EHOSTUNREACH);
    };

    let rkey = Sock4RevnatKey {
        cookie: cookie(ctx),
        address: backend.address,
        port: backend.port,
        pad: 0,
    };
    let rval = Sock4RevnatEntry {
        address: key.address,
        port: key.dport,
        rev_nat_index: svc.rev_nat_index,
    };
    // SAFETY: read-only copy; written only when different, as Cilium does.
    let same = unsafe { LB4_REVNAT_SK.get(rkey) }.is_some_and(|v| *v == rval);
    if !same && LB4_REVNAT_SK.insert(rkey, rval, 0).is_err() {
        return Err(ENOMEM);
    }

    set_dst(ctx, backend.address, backend.port);
    count(Reason::SockXlate);
    note(
        &key,
        Reason::SockXlate,
        backend_id,
        backend.address,
        backend.port,
    );
    if let Some(c) = backend_counters(backend_id) {
        c.selections += 1;
        if proto == u32::from(IPPROTO_TCP) {
            // One connect is one connection opened to this backend.
            c.syns += 1;
        } else {
            c.packets += 1;
        }
    }
    Ok(())
}

/// `__sock4_xlate_rev` (bpf_sock.c:576-617): the backend a socket talks to
/// shown as the service, unless that service changed or lost its backends
/// (then the entry is stale and deleted).
#[inline(always)]
fn xlate_rev(ctx: &SockAddrContext) {
    let rkey = Sock4RevnatKey {
        cookie: cookie(ctx),
        address: dst_ip(ctx),
        port: dst_port(ctx),
        pad: 0,
    };
    // SAFETY: copied out at once.
    let Some(v) = (unsafe { LB4_REVNAT_SK.get(rkey) }).copied() else {
        return;
    };
    let key = Lb4Key {
        address: v.address,
        dport: v.port,
        backend_slot: 0,
        proto: protocol(ctx) as u8,
        scope: 0,
        pad: [0; 2],
    };
    // SAFETY: read-only copy.
    let svc = unsafe { LB4_SERVICES.get(key) }.copied();
    match svc {
        Some(s) if s.rev_nat_index == v.rev_nat_index && s.count != 0 => {
            set_dst(ctx, v.address, v.port);
            count(Reason::SockRevXlate);
        }
        _ => {
            let _ = LB4_REVNAT_SK.remove(rkey);
            count(Reason::SockRevStale);
        }
    }
}

/// Cilium's `try_set_retval` (needs bpf_set_retval, kernel 5.18+).
#[inline(always)]
fn reject(err: i32) -> i32 {
    // SAFETY: helper available to cgroup sock_addr programs.
    unsafe { bpf_set_retval(-err) };
    SYS_REJECT
}

/// `cil_sock4_connect` (bpf_sock.c:459-479): a refusal only for no backend
/// or a full reverse map; anything else proceeds untranslated.
#[cgroup_sock_addr(connect4)]
pub fn sock4_connect(ctx: SockAddrContext) -> i32 {
    match xlate_fwd(&ctx, false) {
        Err(e @ (EHOSTUNREACH | ENOMEM)) => reject(e),
        _ => SYS_PROCEED,
    }
}

/// `cil_sock4_sendmsg` (bpf_sock.c:619-631).
#[cgroup_sock_addr(sendmsg4)]
pub fn sock4_sendmsg(ctx: SockAddrContext) -> i32 {
    match xlate_fwd(&ctx, true) {
        Err(e @ (EHOSTUNREACH | ENOMEM)) => reject(e),
        _ => SYS_PROCEED,
    }
}

/// `cil_sock4_recvmsg` (bpf_sock.c:633-638).
#[cgroup_sock_addr(recvmsg4)]
pub fn sock4_recvmsg(ctx: SockAddrContext) -> i32 {
    xlate_rev(&ctx);
    SYS_PROCEED
}

/// `cil_sock4_getpeername` (bpf_sock.c:640-646, `ENABLE_SOCKET_LB_PEER`).
#[cgroup_sock_addr(getpeername4)]
pub fn sock4_getpeername(ctx: SockAddrContext) -> i32 {
    xlate_rev(&ctx);
    SYS_PROCEED
}
