//! Cilium's conntrack entry rules as functions of one entry, the packet and
//! the release's rules in the config: lifetime and report updates
//! (`ct_update_timeout` / `__ct_update_timeout`), the close action, the
//! reopen of a closing entry, and the entry `ct_create4` writes. Line
//! numbers are of `bpf/lib/conntrack.h` at the tag named; the full reading
//! per release is docs/cilium-ct-semantics.md.
use svclab_datapath_common::{
    CT_F_RX_CLOSING, CT_F_SEEN_NON_SYN, CT_F_TX_CLOSING, CtEntry, DP_F_CLOSE_BOTH,
    DP_F_REOPEN_RESET, DatapathConfig,
};

use crate::packet::{Packet, TCP_SYN};

/// Which side of the connection a packet came from: the client (Cilium's
/// tx fields; every CT_SERVICE update is tx) or the backend (rx).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Tx,
    Rx,
}

/// `ct_entry_alive`: not closed in both directions (v1.16.0 :225-228,
/// v1.11.20 :167-170).
#[inline(always)]
pub fn alive(e: &CtEntry) -> bool {
    e.flags & (CT_F_RX_CLOSING | CT_F_TX_CLOSING) != (CT_F_RX_CLOSING | CT_F_TX_CLOSING)
}

/// `ct_entry_closing`: closed in either direction (v1.12.0 :169-172).
#[inline(always)]
pub fn closing(e: &CtEntry) -> bool {
    e.flags & (CT_F_RX_CLOSING | CT_F_TX_CLOSING) != 0
}

/// `ct_entry_expired_rebalance` (PR 19451; v1.12.0 :175-182, v1.16.0
/// :236-243): `last_tx_report + CT_SERVICE_CLOSE_REBALANCE <= now`, in mono
/// units.
#[inline(always)]
pub fn expired_rebalance(e: &CtEntry, cfg: &DatapathConfig, now: u32) -> bool {
    e.last_tx_report.wrapping_add(cfg.rebalance_grace) <= now
}

/// `__ct_update_timeout` (v1.11.20 :64-124, v1.16.0 :94-153): the lifetime
/// always; the direction's seen flags and report time only when the packet
/// adds a flag within CT_REPORT_FLAGS or more than CT_REPORT_INTERVAL has
/// passed (`last_report + interval < now`, strictly).
#[inline(always)]
pub fn update_lifetime(
    e: &mut CtEntry,
    cfg: &DatapathConfig,
    lifetime: u32,
    tcp_flags: u8,
    dir: Dir,
    now: u32,
) {
    e.lifetime = now.wrapping_add(lifetime);
    let (seen, last) = match dir {
        Dir::Tx => (&mut e.tx_flags_seen, &mut e.last_tx_report),
        Dir::Rx => (&mut e.rx_flags_seen, &mut e.last_rx_report),
    };
    let accumulated = *seen;
    let flags = (tcp_flags & cfg.report_flags) | accumulated;
    if last.wrapping_add(cfg.report_interval) < now || accumulated != flags {
        *seen = flags;
        *last = now;
    }
}

/// `ct_update_timeout` (v1.11.20 :137-158, v1.16.0 :166-187):
/// `seen_non_syn |= !syn`; TCP gets CT_SYN_TIMEOUT until a non-SYN was seen,
/// the service/connection TCP lifetime after; non-TCP its own lifetime.
#[inline(always)]
pub fn update_timeout(e: &mut CtEntry, cfg: &DatapathConfig, pkt: &Packet, dir: Dir, now: u32) {
    let lifetime = if pkt.is_tcp() {
        if !pkt.syn() {
            e.flags |= CT_F_SEEN_NON_SYN;
        }
        if e.flags & CT_F_SEEN_NON_SYN != 0 {
            cfg.tcp_timeout
        } else {
            cfg.syn_timeout
        }
    } else {
        cfg.non_tcp_timeout
    };
    update_lifetime(e, cfg, lifetime, pkt.tcp_flags, dir, now);
}

/// ACTION_CLOSE on a hit (v1.11.20 :250-270; v1.15.8 :312-341; v1.16.0
/// :331-362). A service entry with PR 33907 closes both directions, before
/// it only tx (`dir != CT_SERVICE` kept it out of the RST case). Other
/// entries: an RST before both SYNs were seen closes both, otherwise the
/// packet's direction. If the entry is then no longer alive it gets
/// CT_CLOSE_TIMEOUT; an entry that stays alive keeps the lifetime the alive
/// path gave it.
#[inline(always)]
pub fn close(
    e: &mut CtEntry,
    cfg: &DatapathConfig,
    pkt: &Packet,
    dir: Dir,
    service: bool,
    now: u32,
) {
    let both = if service {
        cfg.features & DP_F_CLOSE_BOTH != 0
    } else {
        // `ct_entry_seen_both_syns`: SYN in both directions' seen flags.
        let seen_both = e.tx_flags_seen & e.rx_flags_seen & TCP_SYN != 0;
        pkt.rst() && !seen_both
    };
    if both {
        e.flags |= CT_F_RX_CLOSING | CT_F_TX_CLOSING;
    } else if dir == Dir::Rx {
        e.flags |= CT_F_RX_CLOSING;
    } else {
        e.flags |= CT_F_TX_CLOSING;
    }
    if !alive(e) {
        update_lifetime(e, cfg, cfg.close_timeout, pkt.tcp_flags, dir, now);
    }
}

/// Reopens a closing entry for a SYN (`CT_REOPENED`): `ct_reset_closing`
/// (v1.11.20 :161-165, only the closing bits, so `seen_non_syn` and the
/// seen flags stay); from v1.15 also `ct_reset_seen_flags` and
/// `seen_non_syn = false` (v1.15.7 :301-308); then `ct_update_timeout`.
#[inline(always)]
pub fn reopen(e: &mut CtEntry, cfg: &DatapathConfig, pkt: &Packet, dir: Dir, now: u32) {
    e.flags &= !(CT_F_RX_CLOSING | CT_F_TX_CLOSING);
    if cfg.features & DP_F_REOPEN_RESET != 0 {
        e.tx_flags_seen = 0;
        e.rx_flags_seen = 0;
        e.flags &= !CT_F_SEEN_NON_SYN;
    }
    update_timeout(e, cfg, pkt, dir, now);
}

/// The entry `ct_create4` writes (v1.11.20 :948-949, v1.16.0 :1024-1025):
/// SYN is forced into the flags, so even an ACK or FIN that missed gets
/// `seen_non_syn = 0`, CT_SYN_TIMEOUT and no closing bit.
#[inline(always)]
pub fn created(
    cfg: &DatapathConfig,
    pkt: &Packet,
    backend_id: u32,
    rev_nat_index: u16,
    now: u32,
    now_ns: u64,
    len: u64,
) -> CtEntry {
    let mut e = CtEntry {
        backend_id,
        rev_nat_index,
        created_ns: now_ns,
        last_tx_ns: now_ns,
        tx_packets: 1,
        tx_bytes: len,
        ..CtEntry::default()
    };
    let (lifetime, flags) = if pkt.is_tcp() {
        (cfg.syn_timeout, pkt.tcp_flags | TCP_SYN)
    } else {
        (cfg.non_tcp_timeout, 0)
    };
    // A fresh entry has no report yet: the flags are new, so
    // last_tx_report = now.
    update_lifetime(&mut e, cfg, lifetime, flags, Dir::Tx, now);
    e
}
