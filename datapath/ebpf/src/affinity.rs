//! Session affinity (`sessionAffinity: ClientIP`) as Cilium v1.16.0 keeps
//! it (bpf/lib/lb.h:1400-1476): per service, a client — its address on the
//! per-packet path, its network namespace's cookie at the socket — maps to
//! the backend it last used and when. A lookup honours the entry only
//! while `last_used + timeout > now` (the session is sticky for
//! `[last_used, last_used + timeout)`, lb.h:1418-1427) and while the
//! backend is still one the service may pin to (`LB_AFFINITY_MATCH`,
//! lb.h:1429-1432); otherwise the entry is deleted. A hit refreshes
//! `last_used` (lb.h:1434).

use aya_ebpf::{
    macros::map,
    maps::{HashMap, LruHashMap},
};
use svclab_datapath_common::{
    AFFINITY_MAP_SIZE, DatapathConfig, Lb4AffinityKey, Lb4Service, LbAffinityMatch, LbAffinityVal,
    SVC_FLAG_AFFINITY, sec_to_mono,
};

/// Cilium `LB4_AFFINITY_MAP` (lb.h:125-133): LRU.
#[map]
static LB4_AFFINITY: LruHashMap<Lb4AffinityKey, LbAffinityVal> =
    LruHashMap::with_max_entries(AFFINITY_MAP_SIZE, 0);

/// Cilium `LB_AFFINITY_MATCH_MAP` (lb.h:175-183): every backend of an
/// affinity service, active or not (the agent adds all of
/// `svc.backends`, pkg/service/service.go:1491-1495).
#[map]
static LB_AFFINITY_MATCH: HashMap<LbAffinityMatch, u8> =
    HashMap::with_max_entries(AFFINITY_MAP_SIZE, 0);

/// Which client an entry belongs to.
#[derive(Clone, Copy)]
pub enum Client {
    /// The packet's source address (network order): `lb4_local`.
    Addr(u32),
    /// The socket's netns cookie: socket-LB (`ctx_in_hostns`).
    Netns(u64),
}

#[inline(always)]
pub fn enabled(svc: &Lb4Service) -> bool {
    svc.flags & SVC_FLAG_AFFINITY != 0
}

#[inline(always)]
fn key(svc: &Lb4Service, client: Client) -> Lb4AffinityKey {
    let (client_id, netns_cookie) = match client {
        Client::Addr(a) => (u64::from(a), 0),
        Client::Netns(c) => (c, 1),
    };
    Lb4AffinityKey {
        client_id,
        rev_nat_id: svc.rev_nat_index,
        netns_cookie,
        pad1: 0,
        pad2: 0,
    }
}

/// `__lb4_affinity_backend_id`: the backend the client is pinned to, or 0.
/// The timeout in seconds is the frontend's `backend_id` (the union).
#[inline(always)]
pub fn backend(cfg: &DatapathConfig, svc: &Lb4Service, client: Client, now: u32) -> u32 {
    let k = key(svc, client);
    let Some(val) = LB4_AFFINITY.get_ptr_mut(k) else {
        return 0;
    };
    // SAFETY: LRU value pointer, valid for this run; racing writers only
    // move `last_used`, as in Cilium (READ_ONCE/WRITE_ONCE).
    let val = unsafe { &mut *val };
    let timeout = u64::from(sec_to_mono(svc.backend_id, cfg.jiffies_hz));
    if val.last_used + timeout <= u64::from(now) {
        let _ = LB4_AFFINITY.remove(k);
        return 0;
    }
    let m = LbAffinityMatch {
        backend_id: val.backend_id,
        rev_nat_id: svc.rev_nat_index,
        pad: 0,
    };
    // SAFETY: presence check only.
    if unsafe { LB_AFFINITY_MATCH.get(m) }.is_none() {
        let _ = LB4_AFFINITY.remove(k);
        return 0;
    }
    val.last_used = u64::from(now);
    val.backend_id
}

/// `__lb4_update_affinity` (lb.h:1449-1465): pin the client to `backend_id`
/// from now (an unconditional overwrite).
#[inline(always)]
pub fn update(svc: &Lb4Service, client: Client, backend_id: u32, now: u32) {
    let v = LbAffinityVal {
        last_used: u64::from(now),
        backend_id,
        pad: 0,
    };
    let _ = LB4_AFFINITY.insert(key(svc, client), v, 0);
}
