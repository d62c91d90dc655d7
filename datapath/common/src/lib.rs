//! The kernel contract of the svclab service datapath: every map key and value
//! shared by the eBPF programs and user space, with their sizes fixed at compile
//! time, plus the flow hash both sides must agree on.
//!
//! Shapes follow Cilium's `bpf/lib/lb.h` and `bpf/lib/conntrack.h`: a services
//! map whose slot 0 is the frontend and slots 1..=n hold backend ids, a separate
//! backends map, a reverse-NAT map indexed by the service id, and one LRU
//! conntrack map holding both the service entry (pre-DNAT tuple) and the entry
//! the reply path uses (post-DNAT tuple).
//!
//! Addresses and ports are stored in network byte order, as they appear on the
//! wire, so the kernel side never converts them.
#![no_std]

use core::mem::size_of;

/// Map names, shared so user space looks up exactly what the object defines.
pub mod maps {
    pub const SERVICES: &str = "LB4_SERVICES";
    pub const BACKENDS: &str = "LB4_BACKENDS";
    pub const REV_NAT: &str = "LB4_REVERSE_NAT";
    pub const MAGLEV: &str = "LB4_MAGLEV";
    pub const CT: &str = "CT4";
    pub const CONFIG: &str = "CONFIG";
    pub const REASONS: &str = "REASON_COUNTERS";
    pub const BACKEND_STATS: &str = "BACKEND_COUNTERS";
    /// Socket-LB reverse translation (Cilium `LB4_REVERSE_NAT_SK_MAP`).
    pub const SOCK_REVNAT: &str = "LB4_REVNAT_SK";
    /// Ring buffer of per-flow decisions for `svclab monitor`.
    pub const MONITOR: &str = "MONITOR_EVENTS";
    /// What a monitor asked for ([`crate::MonitorFilter`]); disabled when
    /// no monitor is attached.
    pub const MONITOR_FILTER: &str = "MONITOR_FILTER";
    /// Session affinity: client → backend, per service (Cilium
    /// `LB4_AFFINITY_MAP`).
    pub const AFFINITY: &str = "LB4_AFFINITY";
    /// The backends each affinity service may pin to (Cilium
    /// `LB_AFFINITY_MATCH_MAP`).
    pub const AFFINITY_MATCH: &str = "LB_AFFINITY_MATCH";
    /// NodePort SNAT, forward: (client, backend) → the node's port
    /// (Cilium `SNAT_MAPPING_IPV4`, its egress half).
    pub const SNAT_FWD: &str = "SNAT4_FWD";
    /// NodePort SNAT, reverse: (backend, node port) → the client (the
    /// ingress half of `SNAT_MAPPING_IPV4`).
    pub const SNAT_REV: &str = "SNAT4_REV";
}

/// Program names (the Rust function names in the eBPF crate).
pub mod progs {
    /// tc ingress on the pod-facing veth: packets leaving the pod.
    pub const FROM_POD: &str = "from_pod";
    /// tc egress on the pod-facing veth: packets going to the pod; also on
    /// the node's fabric device (replies leaving for an external client).
    pub const TO_POD: &str = "to_pod";
    /// tc ingress on the node's fabric device (Cilium's `bpf_host`
    /// from-netdev): NodePort traffic from outside the node.
    pub const FROM_NETDEV: &str = "from_netdev";
    /// cgroup/connect4: socket-LB's forward translation (Cilium
    /// `cil_sock4_connect`).
    pub const SOCK_CONNECT4: &str = "sock4_connect";
    /// cgroup/sendmsg4: the same for unconnected UDP (`cil_sock4_sendmsg`).
    pub const SOCK_SENDMSG4: &str = "sock4_sendmsg";
    /// cgroup/recvmsg4: reverse translation of UDP sources (`cil_sock4_recvmsg`).
    pub const SOCK_RECVMSG4: &str = "sock4_recvmsg";
    /// cgroup/getpeername4: the peer shown as the service (`cil_sock4_getpeername`).
    pub const SOCK_GETPEERNAME4: &str = "sock4_getpeername";
    /// Every socket-LB program, in the order user space loads them.
    pub const SOCK: [&str; 4] = [
        SOCK_CONNECT4,
        SOCK_SENDMSG4,
        SOCK_RECVMSG4,
        SOCK_GETPEERNAME4,
    ];
}

/// Largest number of services (reverse-NAT ids run 1..MAX_SERVICES).
pub const MAX_SERVICES: u32 = 256;
/// Largest backend id + 1; backend ids run 1..MAX_BACKENDS.
pub const MAX_BACKENDS: u32 = 4096;
/// Entries of the services map: one frontend slot plus backend slots per service.
pub const SERVICES_MAP_SIZE: u32 = 16384;
/// Largest Maglev table size (Cilium's default M).
pub const MAGLEV_MAX_M: u32 = 16381;
/// Default conntrack map size (Cilium's `bpf-ct-global-tcp-max` is 512k; a
/// test cluster needs far less).
pub const CT_MAP_SIZE_DEFAULT: u32 = 65536;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

/// Entries of the socket-LB reverse-translation map (Cilium v1.16.0
/// bpf/node_config.h:171 has 262144; a test cluster needs far less).
pub const SOCK_REVNAT_MAP_SIZE: u32 = 65536;

/// Key of the socket-LB reverse-translation map (Cilium v1.16.0
/// `ipv4_revnat_tuple`, bpf/lib/common.h:1091-1096): the socket and the
/// backend it was sent to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sock4RevnatKey {
    /// `bpf_get_socket_cookie()`.
    pub cookie: u64,
    /// Backend address, network order.
    pub address: u32,
    /// Backend port, network order.
    pub port: u16,
    pub pad: u16,
}
const _: () = assert!(size_of::<Sock4RevnatKey>() == 16);

/// Value of the socket-LB reverse-translation map (Cilium v1.16.0
/// `ipv4_revnat_entry`, bpf/lib/common.h:1098-1102): the service the
/// socket asked for.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sock4RevnatEntry {
    /// Service VIP, network order.
    pub address: u32,
    /// Service port, network order.
    pub port: u16,
    pub rev_nat_index: u16,
}
const _: () = assert!(size_of::<Sock4RevnatEntry>() == 8);

/// Frontend or backend-slot key of the services map (Cilium `lb4_key`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lb4Key {
    /// Service virtual IP, network order.
    pub address: u32,
    /// Service port, network order.
    pub dport: u16,
    /// 0 = the frontend (service) entry; 1..=n = backend slots.
    pub backend_slot: u16,
    pub proto: u8,
    pub scope: u8,
    pub pad: [u8; 2],
}
const _: () = assert!(size_of::<Lb4Key>() == 12);

/// Value of the services map (Cilium `lb4_service`). In slot 0 `count` is the
/// number of *active* backends, which occupy slots 1..=count; backends that
/// are known but not active follow in slots count+1..=count+`inactive`.
/// In slots >= 1 only `backend_id` is meaningful. In slot 0 `backend_id`
/// holds the affinity timeout in seconds when `flags` has
/// [`SVC_FLAG_AFFINITY`] (Cilium v1.16.0 bpf/lib/common.h:1053-1060, the
/// `backend_id`/`affinity_timeout` union).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lb4Service {
    pub backend_id: u32,
    pub count: u16,
    /// Service id: index into the reverse-NAT and Maglev maps.
    pub rev_nat_index: u16,
    pub inactive: u16,
    pub flags: u8,
    pub pad: u8,
}
const _: () = assert!(size_of::<Lb4Service>() == 12);

/// `sessionAffinity: ClientIP` (Cilium v1.16.0 bpf/lib/common.h:891
/// `SVC_FLAG_AFFINITY = (1 << 4)`).
pub const SVC_FLAG_AFFINITY: u8 = 1 << 4;

/// Entries of the affinity map (Cilium's `--bpf-lb-map-max` default,
/// v1.16.0 pkg/maps/lbmap/lbmap.go:28, which `AffinityMapMaxEntries`
/// follows).
pub const AFFINITY_MAP_SIZE: u32 = 65536;

/// Key of the affinity map (Cilium v1.16.0 `lb4_affinity_key`,
/// bpf/lib/common.h:1104-1116): the client — its address, or with
/// `netns_cookie` 1 its network namespace's cookie (socket-LB) — and the
/// service. No port: every source port of one client shares the entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lb4AffinityKey {
    /// Client address (network order) in the low 32 bits, or the netns
    /// cookie.
    pub client_id: u64,
    pub rev_nat_id: u16,
    pub netns_cookie: u8,
    pub pad1: u8,
    pub pad2: u32,
}
const _: () = assert!(size_of::<Lb4AffinityKey>() == 16);

/// Value of the affinity map (Cilium `lb_affinity_val`, common.h:1132):
/// the backend and when the client last used it (mono units).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbAffinityVal {
    pub last_used: u64,
    pub backend_id: u32,
    pub pad: u32,
}
const _: () = assert!(size_of::<LbAffinityVal>() == 16);

/// Key of the affinity match map (Cilium `lb_affinity_match`,
/// common.h:1138): a backend the service may pin clients to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LbAffinityMatch {
    pub backend_id: u32,
    pub rev_nat_id: u16,
    pub pad: u16,
}
const _: () = assert!(size_of::<LbAffinityMatch>() == 8);

/// Backend lifecycle, as Cilium's `BE_STATE_*`. Only active backends are
/// selected for new flows; existing non-SYN flows to the others drain.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackendState {
    Active = 0,
    Terminating = 1,
    Quarantined = 2,
    Maintenance = 3,
}

impl BackendState {
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Active),
            1 => Some(Self::Terminating),
            2 => Some(Self::Quarantined),
            3 => Some(Self::Maintenance),
            _ => None,
        }
    }
}

/// Value of the backends map, keyed by backend id (Cilium `lb4_backend`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lb4Backend {
    /// Backend pod IP, network order.
    pub address: u32,
    /// Backend port, network order.
    pub port: u16,
    pub proto: u8,
    /// A [`BackendState`] as u8.
    pub state: u8,
}
const _: () = assert!(size_of::<Lb4Backend>() == 8);

/// Value of the reverse-NAT map, indexed by `rev_nat_index`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lb4RevNat {
    /// Service VIP, network order.
    pub address: u32,
    /// Service port, network order.
    pub port: u16,
    pub pad: [u8; 2],
}
const _: () = assert!(size_of::<Lb4RevNat>() == 8);

/// One service's Maglev lookup table; only the first `m` entries are used.
/// Each entry is a backend id (0 = no backend).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MaglevTable {
    pub m: u32,
    pub backend_ids: [u32; MAGLEV_MAX_M as usize],
}
const _: () = assert!(size_of::<MaglevTable>() == 4 * (1 + MAGLEV_MAX_M as usize));

/// Conntrack key (Cilium `ipv4_ct_tuple`). For a service entry the tuple is
/// the pre-DNAT one seen from the client: saddr/sport = client, daddr/dport =
/// VIP. For an out entry it is the post-DNAT one: daddr/dport = backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ct4Tuple {
    pub daddr: u32,
    pub saddr: u32,
    pub dport: u16,
    pub sport: u16,
    pub nexthdr: u8,
    /// [`TUPLE_F_SERVICE`] or [`TUPLE_F_OUT`].
    pub flags: u8,
    pub pad: [u8; 2],
}
const _: () = assert!(size_of::<Ct4Tuple>() == 16);

/// Service entry: which backend a client tuple was given (Cilium CT_SERVICE).
pub const TUPLE_F_SERVICE: u8 = 4;
/// Post-DNAT entry: what the reply path needs to reverse the NAT.
pub const TUPLE_F_OUT: u8 = 0;

/// The client sent FIN or RST on this flow.
pub const CT_F_TX_CLOSING: u16 = 1 << 0;
/// The backend sent FIN or RST on this flow (out entries only).
pub const CT_F_RX_CLOSING: u16 = 1 << 1;
/// A packet other than a bare SYN was seen: the flow got past the handshake.
pub const CT_F_SEEN_NON_SYN: u16 = 1 << 2;
/// svclab: the monitor was told this flow drains (once per flow, not per
/// packet).
pub const CT_F_DRAIN_REPORTED: u16 = 1 << 3;

/// Conntrack value (Cilium `ct_entry`, trimmed to what svclab reads, plus
/// svclab's own counters). `lifetime` and the `last_*_report` fields are in
/// Cilium's clock units (see [`DatapathConfig::clock_offset_ns`]): whole
/// seconds of CLOCK_MONOTONIC, `bpf_mono_now()` with the ktime source
/// (Cilium v1.16.0 bpf/lib/mono.h:7-13, bpf/lib/time.h:14-15). The `_ns`
/// fields are `bpf_ktime_get_ns()` values, for svclab's views only.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtEntry {
    /// Absolute expiry (mono seconds); the user-space GC deletes entries
    /// whose lifetime is below now, as Cilium's agent (ctmap.go GC filter).
    pub lifetime: u32,
    /// Cilium `last_tx_report`: when the client direction last added a TCP
    /// flag to `tx_flags_seen` or last passed `CT_REPORT_INTERVAL`.
    pub last_tx_report: u32,
    /// Cilium `last_rx_report` (out entries: the backend's direction).
    pub last_rx_report: u32,
    /// Cilium `tx_flags_seen`: TCP flags of the client direction, masked by
    /// [`DatapathConfig::report_flags`].
    pub tx_flags_seen: u8,
    /// Cilium `rx_flags_seen`.
    pub rx_flags_seen: u8,
    /// `CT_F_*` bits (Cilium's `rx_closing`, `tx_closing`, `seen_non_syn`).
    pub flags: u16,
    pub backend_id: u32,
    pub rev_nat_index: u16,
    pub pad: u16,
    /// svclab: when the entry was created (or last overwritten by a new
    /// selection), ns.
    pub created_ns: u64,
    /// svclab: the last client packet, ns.
    pub last_tx_ns: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// svclab: times a SYN reopened this entry with the stored backend.
    pub reopened: u32,
    /// svclab: times a SYN on this entry selected a new backend. Kept when
    /// a new selection overwrites the entry, so the count survives it.
    pub rebalanced: u32,
}
const _: () = assert!(size_of::<CtEntry>() == 80);

/// Backend selection for new flows.
pub const SELECTION_RANDOM: u8 = 0;
pub const SELECTION_MAGLEV: u8 = 1;

/// A SYN on a closing service entry reopens it with the stored backend
/// (Cilium v1.11: conntrack.h:240-246, `CT_REOPENED`).
pub const CT_REUSE_LEGACY: u8 = 0;
/// A SYN on a closing service entry whose `last_tx_report + grace <= now`
/// selects a new backend, otherwise reopens (Cilium v1.12-v1.15, PR 19451:
/// `ct_entry_expired_rebalance`).
pub const CT_REUSE_CLOSE_REBALANCE: u8 = 1;
/// A SYN on a closing service entry always selects a new backend (Cilium
/// v1.16: the reopen path returns `CT_NEW`, conntrack.h:316-327); the grace
/// check still runs first, as in Cilium.
pub const CT_REUSE_NEW: u8 = 2;

/// FIN/RST on a service entry sets both closing bits, so it is no longer
/// alive and gets `CT_CLOSE_TIMEOUT` (PR 33907: v1.15.8, v1.16).
/// Without it only `tx_closing` is set and the entry keeps the service
/// lifetime (v1.11-v1.15.7).
pub const DP_F_CLOSE_BOTH: u8 = 1 << 0;
/// Reopening a closing entry also clears the seen flags and `seen_non_syn`
/// (v1.15+, conntrack.h:301-308); before, only the closing bits.
pub const DP_F_REOPEN_RESET: u8 = 1 << 1;
/// A SYN whose stored backend exists but is not active reselects; other
/// packets drain to it (PR 20407, v1.12+). Without it only a missing
/// backend reselects (v1.11, lb.h:1437-1449).
pub const DP_F_INACTIVE_RESELECT: u8 = 1 << 2;

/// A packet to a service without an active backend is answered with an
/// ICMP destination unreachable (port unreachable) sent back into the pod
/// (Cilium v1.15+ `service-no-backend-response=reject`, bpf/lib/lb.h
/// `tail_no_service_ipv4`). Without it the packet is dropped.
pub const DP_F_NO_BACKEND_REJECT: u8 = 1 << 3;

/// Datapath configuration, index 0 of the single-entry config array. The
/// lifetimes are in mono units (whole seconds), as the agent writes Cilium's
/// `CT_*` macros (`int64(d.Seconds())`, pkg/datapath/linux/config/config.go).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatapathConfig {
    /// Added to `bpf_ktime_get_ns()` before anything reads the clock. Tests
    /// only (as Cilium's bpf tests fake `bpf_mono_now`); zero in runs.
    pub clock_offset_ns: u64,
    /// CT_SYN_TIMEOUT: a TCP entry that has only seen SYNs.
    pub syn_timeout: u32,
    /// CT_SERVICE_LIFETIME_TCP: an established service TCP entry.
    pub tcp_timeout: u32,
    /// CT_CLOSE_TIMEOUT: an entry that is no longer alive (both closing).
    pub close_timeout: u32,
    /// CT_SERVICE_LIFETIME_NONTCP.
    pub non_tcp_timeout: u32,
    /// CT_SERVICE_CLOSE_REBALANCE.
    pub rebalance_grace: u32,
    /// CT_REPORT_INTERVAL.
    pub report_interval: u32,
    /// Seed of the flow hash (Cilium's `HASH_INIT4_SEED`).
    pub hash_seed: u32,
    /// Maglev table size in use (a prime <= [`MAGLEV_MAX_M`]).
    pub maglev_m: u32,
    pub selection: u8,
    /// `CT_REUSE_*`.
    pub ct_reuse: u8,
    /// CT_REPORT_FLAGS: the TCP flags that count as "new" for the report.
    pub report_flags: u8,
    /// `DP_F_*` bits: the release's rules.
    pub features: u8,
    /// 0: the mono clock is whole seconds of ktime; otherwise the jiffies
    /// clock of a kernel with this HZ ([`mono_units`]).
    pub jiffies_hz: u16,
    pub pad: [u8; 2],
    /// The node's address NodePorts answer on (network order; 0: no
    /// NodePort handling).
    pub node_addr: u32,
    /// The node's pod CIDR and its mask (network order): a backend inside
    /// it is local (no SNAT on the NodePort path).
    pub pod_net: u32,
    pub pod_mask: u32,
    pub pad2: u32,
}
const _: () = assert!(size_of::<DatapathConfig>() == 64);

/// The NodePort SNAT's source ports on the node address: above the
/// NodePort range, Cilium's `NODEPORT_PORT_MIN_NAT` (32768) to
/// `NODEPORT_PORT_MAX_NAT` (65535) (v1.16.0 bpf/node_config.h,
/// pkg/option `NodePortMaxNAT`).
pub const SNAT_PORT_MIN: u16 = 32_768;
pub const SNAT_PORT_MAX: u16 = 65_535;

/// A NodePort SNAT key: one direction's (saddr, sport) → (daddr, dport).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Snat4Key {
    pub saddr: u32,
    pub daddr: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub pad: [u8; 3],
}
const _: () = assert!(size_of::<Snat4Key>() == 16);

/// The address and port one SNAT direction rewrites to (network order).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snat4Entry {
    pub addr: u32,
    pub port: u16,
    pub pad: [u8; 2],
}
const _: () = assert!(size_of::<Snat4Entry>() == 8);

/// Entries of each SNAT map (LRU, as Cilium's `SNAT_MAPPING_IPV4`).
pub const SNAT_MAP_SIZE: u32 = 65_536;

/// `BPF_MONO_SCALER`: with the jiffies clock Cilium's mono unit is
/// `jiffies >> 8` (v1.16.0 bpf/lib/mono.h:7-14).
pub const BPF_MONO_SCALER: u32 = 8;

/// Cilium's `bpf_mono_now()` for a CLOCK_MONOTONIC instant `ns`: whole
/// seconds (`bpf_ktime_get_sec()`) with `jiffies_hz` 0, else
/// `jiffies >> BPF_MONO_SCALER` for a kernel ticking `jiffies_hz` times a
/// second (jiffies derived from `ns`, so tests can move the clock).
#[inline(always)]
pub const fn mono_units(ns: u64, jiffies_hz: u16) -> u32 {
    if jiffies_hz == 0 {
        (ns / 1_000_000_000) as u32
    } else {
        let jiffies = ns / (1_000_000_000 / jiffies_hz as u64);
        (jiffies >> BPF_MONO_SCALER) as u32
    }
}

/// Cilium's `bpf_sec_to_mono(s)`: seconds, or
/// `(s * KERNEL_HZ) >> BPF_MONO_SCALER` with the jiffies clock (mono.h,
/// time.h:24-27 `bpf_sec_to_jiffies`), truncated.
#[inline(always)]
pub const fn sec_to_mono(s: u32, jiffies_hz: u16) -> u32 {
    if jiffies_hz == 0 {
        s
    } else {
        ((s as u64 * jiffies_hz as u64) >> BPF_MONO_SCALER) as u32
    }
}

/// Mono units back to nanoseconds (for views).
#[inline(always)]
pub const fn mono_to_ns(units: u32, jiffies_hz: u16) -> u64 {
    if jiffies_hz == 0 {
        units as u64 * 1_000_000_000
    } else {
        ((units as u64) << BPF_MONO_SCALER) * (1_000_000_000 / jiffies_hz as u64)
    }
}

/// Per-backend counters (per-CPU array indexed by backend id).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendCounters {
    /// New flows given to this backend (CT miss).
    pub selections: u64,
    /// Existing entries moved to this backend (rebalance or backend gone).
    pub reselections: u64,
    /// Packets DNATed to this backend.
    pub packets: u64,
    /// Bytes (skb length) DNATed to this backend.
    pub bytes: u64,
    /// Connections opened to this backend: SYNs DNATed to it, whether the
    /// CT entry was new, reused, reopened or rebalanced.
    pub syns: u64,
}
const _: () = assert!(size_of::<BackendCounters>() == 40);

/// Why the datapath did what it did; index of the per-CPU reason counters.
/// Every drop has a reason here.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// from-pod: a packet to a service frontend.
    ServiceHit = 0,
    /// from-pod: CT miss, a backend was selected and an entry created.
    CtNew = 1,
    /// from-pod: CT hit, the stored backend was used.
    CtReuse = 2,
    /// from-pod: a SYN on a closing entry kept the stored backend.
    CtReopen = 3,
    /// from-pod: a SYN on a closing entry past the grace got a new backend
    /// (`ct_entry_expired_rebalance`, PR 19451).
    CtRebalance = 4,
    /// from-pod: the stored backend was gone or not active; reselected.
    BackendGone = 5,
    /// from-pod: the service has no active backend; packet dropped.
    DropNoBackend = 6,
    /// from-pod: not IPv4 TCP/UDP to a service; passed untouched.
    NotService = 7,
    /// to-pod: a reply was reverse-NATed to the VIP.
    RevNat = 8,
    /// from-pod: a non-SYN TCP packet missed CT (entry evicted or expired).
    CtMissNonSyn = 9,
    /// from-pod: the CT map update failed; packet dropped.
    DropCtInsert = 10,
    /// from-pod / to-pod: header rewrite failed; packet dropped.
    DropRewrite = 11,
    /// to-pod: a post-DNAT entry pointed at a service that no longer exists.
    RevNatMissing = 12,
    /// from-pod: the stored backend is draining (not active) and the packet
    /// is part of the existing flow, so it keeps going there.
    CtDrain = 13,
    /// from-pod: a post-DNAT (reply-path) entry was created.
    CtNewOut = 14,
    /// from-pod: a SYN on a closing entry within the grace (or with no
    /// grace rule) got a new selection, as Cilium v1.16's reopen path
    /// returns CT_NEW.
    CtReopenNew = 15,
    /// socket-LB: a connect (or UDP sendmsg) to a service was translated
    /// to a backend.
    SockXlate = 16,
    /// socket-LB: a connect to a service without backends was refused
    /// (EHOSTUNREACH).
    SockNoBackend = 17,
    /// socket-LB: a peer address (getpeername, recvmsg) was shown as the
    /// service again.
    SockRevXlate = 18,
    /// socket-LB: a reverse-translation entry named a service that is gone
    /// or has no backends; deleted.
    SockRevStale = 19,
    /// from-pod: the service has no active backend; answered with ICMP
    /// port unreachable into the pod (`service-no-backend-response=reject`,
    /// Cilium v1.15+).
    RejectNoBackend = 20,
    /// A monitor was attached but its ring buffer was full: an event lost.
    MonitorLost = 21,
    /// from-netdev: a NodePort flow to a backend on another node was
    /// source-NATed to the node's address.
    NodePortSnat = 22,
    /// from-netdev: a reply to a source-NATed NodePort flow was translated
    /// back to its client.
    NodePortRevSnat = 23,
    /// from-netdev: no free SNAT port for a NodePort flow; dropped.
    DropSnatPorts = 24,
}

impl Reason {
    pub const COUNT: u32 = 25;
    pub const ALL: [Reason; Self::COUNT as usize] = [
        Reason::ServiceHit,
        Reason::CtNew,
        Reason::CtReuse,
        Reason::CtReopen,
        Reason::CtRebalance,
        Reason::BackendGone,
        Reason::DropNoBackend,
        Reason::NotService,
        Reason::RevNat,
        Reason::CtMissNonSyn,
        Reason::DropCtInsert,
        Reason::DropRewrite,
        Reason::RevNatMissing,
        Reason::CtDrain,
        Reason::CtNewOut,
        Reason::CtReopenNew,
        Reason::SockXlate,
        Reason::SockNoBackend,
        Reason::SockRevXlate,
        Reason::SockRevStale,
        Reason::RejectNoBackend,
        Reason::MonitorLost,
        Reason::NodePortSnat,
        Reason::NodePortRevSnat,
        Reason::DropSnatPorts,
    ];

    /// The reason with this value, if any (monitor events carry it as u8).
    pub const fn from_u8(v: u8) -> Option<Self> {
        if (v as u32) < Self::COUNT {
            Some(Self::ALL[v as usize])
        } else {
            None
        }
    }

    /// The reason whose [`Reason::name`] is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Reason::ServiceHit => "service-hit",
            Reason::CtNew => "ct-new",
            Reason::CtReuse => "ct-reuse",
            Reason::CtReopen => "ct-reopen",
            Reason::CtRebalance => "ct-rebalance",
            Reason::BackendGone => "backend-gone",
            Reason::DropNoBackend => "drop-no-backend",
            Reason::NotService => "not-service",
            Reason::RevNat => "rev-nat",
            Reason::CtMissNonSyn => "ct-miss-non-syn",
            Reason::DropCtInsert => "drop-ct-insert",
            Reason::DropRewrite => "drop-rewrite",
            Reason::RevNatMissing => "rev-nat-missing",
            Reason::CtDrain => "ct-drain",
            Reason::CtNewOut => "ct-new-out",
            Reason::CtReopenNew => "ct-reopen-new",
            Reason::SockXlate => "sock-xlate",
            Reason::SockNoBackend => "sock-no-backend",
            Reason::SockRevXlate => "sock-rev-xlate",
            Reason::SockRevStale => "sock-rev-stale",
            Reason::RejectNoBackend => "reject-no-backend",
            Reason::MonitorLost => "monitor-lost",
            Reason::NodePortSnat => "nodeport-snat",
            Reason::NodePortRevSnat => "nodeport-rev-snat",
            Reason::DropSnatPorts => "drop-snat-ports",
        }
    }
}

/// Bytes of the monitor ring buffer (a power of two, a multiple of the page
/// size): 4096 events of 40 bytes plus their 8-byte headers.
pub const MONITOR_RING_BYTES: u32 = 1 << 18;

/// What `svclab monitor` asked the datapath to report, index 0 of a
/// single-entry array. With `enabled` 0 (no monitor attached) the programs
/// emit nothing: the cost is this one lookup on each flow decision.
/// Filters are applied in the kernel before anything is written.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorFilter {
    /// 1 while a monitor reads the ring buffer.
    pub enabled: u32,
    /// Bit `Reason as u32` set = report that verdict; 0 = every verdict.
    pub reasons: u32,
    /// Only decisions for this backend address (network order); 0 = any.
    pub backend_addr: u32,
    /// Only flows with this client source port, service port or backend
    /// port (network order); 0 = any.
    pub port: u16,
    pub pad: u16,
}
const _: () = assert!(size_of::<MonitorFilter>() == 16);

/// One per-flow decision (like a `cilium monitor` trace / a Hubble flow),
/// written to the monitor ring buffer. Addresses and ports in network order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorEvent {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC).
    pub time_ns: u64,
    pub saddr: u32,
    /// The service VIP the client addressed.
    pub daddr: u32,
    /// The chosen backend (0: none).
    pub backend_addr: u32,
    pub backend_id: u32,
    pub sport: u16,
    pub dport: u16,
    pub backend_port: u16,
    pub proto: u8,
    /// A [`Reason`] as u8: the verdict.
    pub verdict: u8,
    /// TCP flags of the packet (0 for UDP and socket-LB).
    pub tcp_flags: u8,
    pub pad: [u8; 7],
}
const _: () = assert!(size_of::<MonitorEvent>() == 40);

/// The network-fault program (`svclab-fault` object): one instance per
/// fault, attached first (TCX) on the receiving side of every hop the fault
/// covers. Its names, shared so user space opens exactly what it defines.
pub mod fault {
    /// The tc program.
    pub const PROG: &str = "fault";
    /// [`super::FaultConfig`], index 0 of a single-entry array.
    pub const CONFIG: &str = "FAULT_CONFIG";
    /// [`super::FaultState`], index 0: the loss models' memory.
    pub const STATE: &str = "FAULT_STATE";
    /// Per-CPU `u64` counters indexed by [`super::FaultCounter`].
    pub const COUNTERS: &str = "FAULT_COUNTERS";
}

/// Pass every packet (a fault being set up or cleared).
pub const FAULT_MODEL_NONE: u32 = 0;
/// Independent or correlated loss (netem's `loss random P [CORR]`).
pub const FAULT_MODEL_RANDOM: u32 = 1;
/// Gilbert–Elliott two-state loss (netem's `loss gemodel p r 1-h 1-k`).
pub const FAULT_MODEL_GE: u32 = 2;
/// Drop every matching packet (partition, blackhole).
pub const FAULT_MODEL_ALL: u32 = 3;

/// An IPv4 prefix in network order; `mask` 0 matches every address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultPrefix {
    pub addr: u32,
    pub mask: u32,
}
const _: () = assert!(size_of::<FaultPrefix>() == 8);

/// What one fault does to the packets it matches. Probabilities are
/// fractions of 2^32 - 1, as netem keeps them (`tc` scales its percents
/// the same way), so the kernel side compares against one
/// `bpf_get_prandom_u32()` draw.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultConfig {
    /// `FAULT_MODEL_*`.
    pub model: u32,
    /// RANDOM: the loss probability. GE: `1-k`, the loss probability in
    /// the good state (netem's `a4`).
    pub loss: u32,
    /// RANDOM: netem's correlation `rho` (0 = independent draws).
    pub corr: u32,
    /// GE: `p`, good → bad transition probability (netem's `a1`).
    pub ge_p: u32,
    /// GE: `r`, bad → good transition probability (netem's `a2`).
    pub ge_r: u32,
    /// GE: `h`, the probability a packet *passes* in the bad state
    /// (netem's `a3`; loss in the bad state is `1-h`).
    pub ge_h: u32,
    /// Match only packets from one of the first `n_src` prefixes (0: any).
    pub src: [FaultPrefix; 2],
    pub n_src: u32,
    /// Match only packets to this prefix (`mask` 0: any).
    pub dst: FaultPrefix,
    /// Match only TCP/UDP packets with this port (network order) on the
    /// side `port_side` names (0: no port filter, 1: destination, 2:
    /// source).
    pub port: u16,
    pub port_side: u8,
    /// Pass packets whose address on this side is in `exclude` (0: no
    /// exclusion, 1: source, 2: destination): a service's traffic to one
    /// backend leaves the node's own (the kubelet's probes) alone.
    pub exclude_side: u8,
    pub exclude: FaultPrefix,
}
const _: () = assert!(size_of::<FaultConfig>() == 64);

/// The memory of the loss models, index 0 of a single-entry array. Updated
/// without locks from every CPU: two packets on two CPUs at once may both
/// read the same state, which only blurs the model by one packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultState {
    /// netem's `crndstate.last`: the previous correlated draw.
    pub last: u32,
    /// GE: 0 = good, 1 = bad.
    pub bad: u32,
}
const _: () = assert!(size_of::<FaultState>() == 8);

/// What the fault program counts (per CPU).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultCounter {
    /// Packets that matched the fault's filters.
    Matched = 0,
    /// Of those, dropped.
    Dropped = 1,
}

impl FaultCounter {
    pub const COUNT: u32 = 2;
}

/// Bob Jenkins' lookup3 final mix, as the kernel's `jhash.h`.
#[inline(always)]
const fn jhash_final(mut a: u32, mut b: u32, mut c: u32) -> u32 {
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(24));
    c
}

/// The kernel's `jhash_3words`.
#[inline(always)]
pub const fn jhash_3words(a: u32, b: u32, c: u32, initval: u32) -> u32 {
    const JHASH_INITVAL: u32 = 0xdead_beef;
    let init = JHASH_INITVAL.wrapping_add(initval).wrapping_add(12);
    jhash_final(
        a.wrapping_add(init),
        b.wrapping_add(init),
        c.wrapping_add(init),
    )
}

/// Flow hash for Maglev, as Cilium's `hash_from_tuple_v4`: saddr, the two
/// ports and the protocol. The destination address is deliberately left out,
/// so the same client tuple lands in the same slot whatever the VIP.
/// Arguments are in network order, exactly as read from the packet.
#[inline(always)]
pub const fn hash_from_tuple_v4(saddr: u32, sport: u16, dport: u16, nexthdr: u8, seed: u32) -> u32 {
    jhash_3words(
        saddr,
        ((dport as u32) << 16) | sport as u32,
        nexthdr as u32,
        seed,
    )
}

#[cfg(feature = "user")]
mod user {
    use super::*;

    /// Marks a map type as plain old data for aya.
    macro_rules! pod {
        ($($t:ty),*) => {$(
            // SAFETY: the type is #[repr(C)], Copy, holds only integers and
            // has explicit padding (sizes asserted above), so any bit pattern
            // is valid and none is uninitialised.
            unsafe impl aya::Pod for $t {}
        )*};
    }
    pod!(
        FaultConfig,
        FaultState,
        MonitorFilter,
        MonitorEvent,
        Lb4Key,
        Lb4Service,
        Lb4Backend,
        Lb4RevNat,
        MaglevTable,
        Ct4Tuple,
        CtEntry,
        DatapathConfig,
        Snat4Key,
        Snat4Entry,
        BackendCounters,
        Sock4RevnatKey,
        Sock4RevnatEntry,
        Lb4AffinityKey,
        LbAffinityVal,
        LbAffinityMatch
    );
}
