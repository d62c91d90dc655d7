//! Per-flow decisions for `svclab monitor` (what `cilium monitor` and
//! `hubble observe` show of Cilium's service path): a ring buffer of
//! [`MonitorEvent`]s and the filter a monitor sets. Nothing is written
//! while no monitor is attached (`enabled` 0): a flow decision then costs
//! one array lookup and a branch.
use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::map,
    maps::{Array, RingBuf},
};
use svclab_datapath_common::{MONITOR_RING_BYTES, MonitorEvent, MonitorFilter, Reason};

use crate::count;

#[map]
static MONITOR_EVENTS: RingBuf = RingBuf::with_byte_size(MONITOR_RING_BYTES, 0);
#[map]
static MONITOR_FILTER: Array<MonitorFilter> = Array::with_max_entries(1, 0);

/// One decision, before the filter.
pub struct Decision {
    pub saddr: u32,
    pub daddr: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub tcp_flags: u8,
    pub verdict: Reason,
    pub backend_id: u32,
    pub backend_addr: u32,
    pub backend_port: u16,
}

/// Reports `d` if a monitor is attached and its filter matches (filtered
/// here, in the kernel, before anything is copied out).
#[inline(always)]
pub fn emit(d: &Decision) {
    let Some(f) = MONITOR_FILTER.get(0) else {
        return;
    };
    if f.enabled == 0 {
        return;
    }
    if f.reasons != 0 && f.reasons & (1u32 << (d.verdict as u32 & 31)) == 0 {
        return;
    }
    if f.backend_addr != 0 && f.backend_addr != d.backend_addr {
        return;
    }
    if f.port != 0 && f.port != d.sport && f.port != d.dport && f.port != d.backend_port {
        return;
    }
    let ev = MonitorEvent {
        // SAFETY: helper without preconditions.
        time_ns: unsafe { bpf_ktime_get_ns() },
        saddr: d.saddr,
        daddr: d.daddr,
        backend_addr: d.backend_addr,
        backend_id: d.backend_id,
        sport: d.sport,
        dport: d.dport,
        backend_port: d.backend_port,
        proto: d.proto,
        verdict: d.verdict as u8,
        tcp_flags: d.tcp_flags,
        pad: [0; 7],
    };
    if MONITOR_EVENTS.output::<MonitorEvent>(&ev, 0).is_err() {
        count(Reason::MonitorLost);
    }
}
