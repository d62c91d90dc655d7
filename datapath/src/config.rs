//! Per-instance datapath settings (selection, CT reuse mode, timeouts, map
//! sizes), their Cilium defaults, and their validation before anything is
//! loaded into the kernel.
use std::time::Duration;

use svclab_datapath_common as common;

use crate::error::{Error, Result};

/// How a new flow picks a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// `bpf_get_prandom_u32()` over the active backends (Cilium's default).
    Random,
    /// A Maglev lookup table of `table_size` entries (a prime), indexed by a
    /// hash of saddr, ports and protocol (daddr excluded, as Cilium).
    Maglev { table_size: u32 },
}

/// A Cilium release whose service-conntrack and backend-selection rules the
/// datapath follows. Each rule and its source line per release is in
/// docs/cilium-ct-semantics.md and the README's datapath table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Profile {
    /// v1.11 (read at v1.11.20): no close-rebalance, no backend state.
    Cilium1_11,
    /// v1.12 (read at v1.12.0; its CT rules hold through v1.14.0):
    /// close-rebalance (PR 19451) and inactive-backend reselection (PR
    /// 20407), the jiffies clock, no terminating fallback. v1.13.2+ add the
    /// fallback and v1.13.5+/v1.14 the ktime clock, which this profile
    /// does not have.
    Cilium1_12,
    /// v1.15.0 to v1.15.7 (read at v1.15.7): the reopen also resets the
    /// seen flags and `seen_non_syn`; 8000 s service TCP lifetime.
    Cilium1_15,
    /// v1.15.8 and later 1.15 patches: PR 33907 backported (a FIN/RST
    /// closes both directions of a service entry, 10 s lifetime).
    Cilium1_15_8,
    /// v1.16 (read at v1.16.0): PR 33907 and any SYN on a closing entry
    /// gets a new selection (CT_REOPENED removed).
    Cilium1_16,
}

impl Profile {
    pub const ALL: [Profile; 5] = [
        Profile::Cilium1_11,
        Profile::Cilium1_12,
        Profile::Cilium1_15,
        Profile::Cilium1_15_8,
        Profile::Cilium1_16,
    ];

    /// The suite's name for it.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Cilium1_11 => "cilium-1.11",
            Profile::Cilium1_12 => "cilium-1.12",
            Profile::Cilium1_15 => "cilium-1.15",
            Profile::Cilium1_15_8 => "cilium-1.15.8",
            Profile::Cilium1_16 => "cilium-1.16",
        }
    }

    /// The releases it stands for.
    pub const fn releases(self) -> &'static str {
        match self {
            Profile::Cilium1_11 => "v1.11.x",
            Profile::Cilium1_12 => "v1.12.x (CT rules as v1.13-v1.14)",
            Profile::Cilium1_15 => "v1.15.0-v1.15.7",
            Profile::Cilium1_15_8 => "v1.15.8+",
            Profile::Cilium1_16 => "v1.16.x",
        }
    }

    /// The release's rules that are not knobs.
    pub const fn rules(self) -> Rules {
        match self {
            Profile::Cilium1_11 => Rules {
                close_both: false,
                reopen_reset: false,
                inactive_reselect: false,
                terminating_fallback: false,
                no_backend_reject: false,
            },
            Profile::Cilium1_12 => Rules {
                close_both: false,
                reopen_reset: false,
                inactive_reselect: true,
                terminating_fallback: false,
                no_backend_reject: false,
            },
            Profile::Cilium1_15 => Rules {
                close_both: false,
                reopen_reset: true,
                inactive_reselect: true,
                terminating_fallback: true,
                no_backend_reject: true,
            },
            Profile::Cilium1_15_8 | Profile::Cilium1_16 => Rules {
                close_both: true,
                reopen_reset: true,
                inactive_reselect: true,
                terminating_fallback: true,
                no_backend_reject: true,
            },
        }
    }

    /// What a SYN on a closing entry does, with the agent's grace default:
    /// `bpf-ct-timeout-service-tcp-grace` is 60 s in every release that has
    /// it (daemon/cmd/daemon_main.go v1.12.0:861, v1.14.0:800, v1.15.7:796,
    /// v1.16.0:769); v1.11 has no rebalance (no CT_SERVICE_CLOSE_REBALANCE
    /// in v1.11.20's bpf/).
    pub const fn ct_reuse(self) -> CtReuse {
        match self {
            Profile::Cilium1_11 => CtReuse::Legacy,
            Profile::Cilium1_12 | Profile::Cilium1_15 | Profile::Cilium1_15_8 => {
                CtReuse::CloseRebalance {
                    grace: DEFAULT_REBALANCE_GRACE,
                }
            }
            Profile::Cilium1_16 => CtReuse::New {
                grace: DEFAULT_REBALANCE_GRACE,
            },
        }
    }

    /// The CT clock the release's Helm chart ends up with. v1.11 and v1.12
    /// render `enable-bpf-clock-probe: "true"`: values.yaml nests the key
    /// as `bpf.clockProbe: false` (v1.11.0 :231-233, v1.12.0 :263) while
    /// the configmap template tests the top-level `bpfClockProbe`
    /// (cilium-configmap.yaml v1.11.0 :226-229, v1.12.0 :251-254) and so
    /// falls through to `$defaultBpfClockProbe` = "true" (:23); the agent
    /// then uses jiffies (`bpf_jiffies64` exists on every kernel svclab
    /// runs). Fixed by PR 26981 (v1.13.5, v1.14.0); from v1.15
    /// `bpfClockProbe: false` (values.yaml v1.15.0 :516, v1.16.0 :551):
    /// ktime. The jiffies clock is modelled at [`MODELLED_HZ`].
    pub const fn clock(self) -> MonoClock {
        match self {
            Profile::Cilium1_11 | Profile::Cilium1_12 => MonoClock::Jiffies { hz: MODELLED_HZ },
            Profile::Cilium1_15 | Profile::Cilium1_15_8 | Profile::Cilium1_16 => MonoClock::Ktime,
        }
    }

    /// The agent's CT lifetimes (daemon/cmd/daemon_main.go): service TCP
    /// 21600 s up to v1.14 (v1.11.20:842, v1.12.0:858, v1.14.0:797), 8000 s
    /// from v1.15 (v1.15.7:793, v1.16.0:766); SYN 60 s, close (tcp-fin)
    /// 10 s, service non-TCP 60 s in all.
    pub const fn timeouts(self) -> CtTimeouts {
        let tcp = match self {
            Profile::Cilium1_11 | Profile::Cilium1_12 => 21600,
            Profile::Cilium1_15 | Profile::Cilium1_15_8 | Profile::Cilium1_16 => 8000,
        };
        CtTimeouts {
            syn: Duration::from_secs(60),
            tcp: Duration::from_secs(tcp),
            close: Duration::from_secs(10),
            non_tcp: Duration::from_secs(60),
        }
    }
}

/// When the agent collects expired CT entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcSchedule {
    /// `--conntrack-gc-interval`: a pass every `interval` (the suite's
    /// `datapath.gc_interval`).
    Fixed(Duration),
    /// Cilium's adaptive interval ([`next_gc_interval`]), which every
    /// profile's release has (since v1.6, `eafc47cee5`).
    Dynamic,
}

/// `defaults.ConntrackGCStartingInterval` (v1.16.0 pkg/defaults/defaults.go
/// :364-372, the same in v1.15.7 :338-346 and v1.11/v1.12).
pub const GC_STARTING_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// `defaults.ConntrackGCMinInterval`.
pub const GC_MIN_INTERVAL: Duration = Duration::from_secs(10);
/// `defaults.ConntrackGCMaxLRUInterval` (the CT maps are LRU maps).
pub const GC_MAX_LRU_INTERVAL: Duration = Duration::from_secs(12 * 3600);

/// The agent's next GC interval after a pass that deleted `delete_ratio`
/// of the map's capacity (`deleted / MaxEntries`, gc.go v1.16.0:282):
/// `calculateInterval`, pkg/maps/ctmap/ctmap.go v1.16.0:887-919 (v1.15.7
/// :822-854): no deletes keep the interval; over 25 % deleted shorten it
/// by (1 - ratio) (ratio capped at 0.9), at least 10 s; under 5 % grow it
/// 1.5x, at most 12 h; rounded to whole seconds. `GetInterval`'s
/// adjustment for a pass that came early (:865-867) does not apply: svclab
/// has no early passes (Cilium's CT-full signal needs a failed insert,
/// which an LRU map never has).
#[must_use]
pub fn next_gc_interval(prev: Duration, delete_ratio: f64) -> Duration {
    let round = |d: f64| Duration::from_secs(d.round().max(0.0) as u64);
    if delete_ratio == 0.0 {
        prev
    } else if delete_ratio > 0.25 {
        round(prev.as_secs_f64() * (1.0 - delete_ratio.min(0.9))).max(GC_MIN_INTERVAL)
    } else if delete_ratio < 0.05 {
        round(prev.as_secs_f64() * 1.5).min(GC_MAX_LRU_INTERVAL)
    } else {
        prev
    }
}

/// The clock CT lifetimes and report times are kept in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonoClock {
    /// `bpf_ktime_get_sec()`: whole seconds.
    Ktime,
    /// `jiffies >> 8` on a kernel with this HZ: units of 256/HZ s.
    Jiffies { hz: u16 },
}

/// The kernel HZ svclab models for the jiffies clock: 250, the HZ of
/// Debian's and Ubuntu's generic kernels (a unit is 1.024 s). Cilium
/// measures the real one at start (`probeKernelHZ`).
pub const MODELLED_HZ: u16 = 250;

impl MonoClock {
    /// The config's `jiffies_hz` (0: ktime).
    #[must_use]
    pub const fn hz(self) -> u16 {
        match self {
            MonoClock::Ktime => 0,
            MonoClock::Jiffies { hz } => hz,
        }
    }
}

/// The fixed rules of a release (see [`Profile::rules`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// PR 33907: FIN/RST closes both directions of a service entry, which
    /// then gets CT_CLOSE_TIMEOUT; without it only tx closes and the entry
    /// stays alive with the service lifetime.
    pub close_both: bool,
    /// A reopen also clears the seen flags and `seen_non_syn` (v1.15+).
    pub reopen_reset: bool,
    /// PR 20407: a SYN whose backend is not active reselects (v1.12+).
    pub inactive_reselect: bool,
    /// A service whose backends are all terminating (and still serving)
    /// gives them new flows (KEP-1669 in the agent, PR 24174: v1.14.0 and
    /// v1.13.2+; v1.16.0 pkg/service/service.go:2072-2080). v1.12.0 keeps
    /// them for draining only (service.go:1617-1640).
    pub terminating_fallback: bool,
    /// A packet to a service without backends is answered with ICMP
    /// destination unreachable / port unreachable
    /// (`service-no-backend-response=reject`, the default from v1.15.0,
    /// pkg/defaults/defaults.go v1.16.0:552-553; bpf/lib/lb.h
    /// `__tail_no_service_ipv4`); before, it is dropped.
    pub no_backend_reject: bool,
}

/// What a SYN does when it hits a closing service CT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtReuse {
    /// Reopen with the stored backend (Cilium v1.11).
    Legacy,
    /// Select a new backend when `last_tx_report + grace <= now` in whole
    /// seconds (CT_SERVICE_CLOSE_REBALANCE, PR 19451), else reopen with the
    /// stored backend (Cilium v1.12-v1.15).
    CloseRebalance { grace: Duration },
    /// Always select a new backend (Cilium v1.16); `grace` only decides
    /// which path counts it (rebalance or reopen).
    New { grace: Duration },
}

impl CtReuse {
    pub const fn grace(self) -> Option<Duration> {
        match self {
            CtReuse::Legacy => None,
            CtReuse::CloseRebalance { grace } | CtReuse::New { grace } => Some(grace),
        }
    }
}

/// Conntrack lifetimes, applied in whole seconds as the agent writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtTimeouts {
    /// CT_SYN_TIMEOUT: an entry that has only seen SYNs.
    pub syn: Duration,
    /// CT_SERVICE_LIFETIME_TCP: an established service TCP entry.
    pub tcp: Duration,
    /// CT_CLOSE_TIMEOUT: an entry closed in both directions.
    pub close: Duration,
    /// CT_SERVICE_LIFETIME_NONTCP.
    pub non_tcp: Duration,
}

impl Default for CtTimeouts {
    fn default() -> Self {
        Profile::default().timeouts()
    }
}

impl Default for Profile {
    /// The current release: a suite that names none gets what a new
    /// cluster runs.
    fn default() -> Self {
        Profile::Cilium1_16
    }
}

/// Maglev table sizes Cilium accepts that fit this datapath's table.
pub const MAGLEV_TABLE_SIZES: [u32; 7] = [251, 509, 1021, 2039, 4093, 8191, 16381];

/// The agent's rebalance grace (`bpf-ct-timeout-service-tcp-grace`, 60 s;
/// bpf/node_config.h's 30 is only the fallback for builds without the
/// agent).
pub const DEFAULT_REBALANCE_GRACE: Duration = Duration::from_secs(60);

/// CT_REPORT_INTERVAL: the agent writes `--monitor-aggregation-interval`,
/// default 5 s (daemon_main.go v1.11.20:854, v1.16.0:781).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// CT_REPORT_FLAGS: Helm's `bpf.monitorFlags: "all"` (install/kubernetes
/// values.yaml v1.11.20:305), every TCP flag.
pub const REPORT_FLAGS: u8 = 0xff;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub profile: Profile,
    /// How the programs are put on a pod's interface (same packets either way).
    pub attach: AttachMode,
    pub selection: Selection,
    pub ct_reuse: CtReuse,
    pub timeouts: CtTimeouts,
    /// Entries of the conntrack LRU map (service and post-DNAT entries both
    /// count). When full the kernel evicts the least recently used entry.
    pub ct_map_size: u32,
    /// Seed of the Maglev flow hash and table permutation.
    pub hash_seed: u32,
    /// The clock of CT lifetimes and report times (the profile's).
    pub clock: MonoClock,
    /// The node's NodePort address and pod CIDR, once
    /// [`Datapath::attach_netdev`](crate::Datapath::attach_netdev) set
    /// them; `None`: no NodePort handling.
    pub node: Option<NodeNet>,
}

/// Where a node's NodePorts answer and which backends are its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeNet {
    /// The node's address on its network device.
    pub addr: std::net::Ipv4Addr,
    /// The node's pod CIDR.
    pub pod_cidr: std::net::Ipv4Addr,
    pub prefix_len: u8,
}

impl NodeNet {
    /// The pod CIDR's netmask, host order.
    #[must_use]
    pub fn mask(self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len.min(32)))
            .unwrap_or(0)
    }
}

/// How the programs are attached to a pod-facing interface. The packets see
/// the same programs either way: TCX's return codes are tc's direct-action
/// codes (`TCX_NEXT` = `TC_ACT_UNSPEC`, `TCX_PASS` = `TC_ACT_OK`, `TCX_DROP`
/// = `TC_ACT_SHOT`; include/uapi/linux/bpf.h, Linux 6.6+). Cilium attaches
/// through TCX where the kernel has it from 1.16 (`enable-tcx`, default
/// true) and through a clsact qdisc with a direct-action cls_bpf filter
/// before; what differs is the cost of churn. A TCX attach or detach waits
/// for an RCU grace period under RTNL (`tcx_entry_sync()` and
/// `bpf_mprog_commit()`, both `synchronize_rcu()`; include/net/tcx.h,
/// include/linux/bpf_mprog.h), measured here at about 16 ms per hook, so
/// 1000 pods cost over 30 s to attach and as much again when their
/// interfaces go; a cls_bpf filter costs about 0.1 ms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachMode {
    /// clsact qdisc + direct-action cls_bpf filter over netlink (the
    /// default: fast churn). The filters go with the interface, so a pod's
    /// filters vanish with its namespace, also after a crash.
    #[default]
    Tc,
    /// TCX links (fd-based: they go away with the process).
    Tcx,
}

impl AttachMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Tc => "tc",
            Self::Tcx => "tcx",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::profile(Profile::default())
    }
}

impl Config {
    /// A release's defaults: its CT reuse rule, grace and lifetimes, random
    /// selection (`bpf-lb-algorithm` default `random`, daemon_main.go
    /// v1.16.0:592).
    pub fn profile(profile: Profile) -> Self {
        Self {
            profile,
            attach: AttachMode::default(),
            selection: Selection::Random,
            ct_reuse: profile.ct_reuse(),
            timeouts: profile.timeouts(),
            ct_map_size: common::CT_MAP_SIZE_DEFAULT,
            hash_seed: 0x5eed_c1a1,
            clock: profile.clock(),
            node: None,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.clock == (MonoClock::Jiffies { hz: 0 }) {
            return Err(Error::Config(
                "the jiffies clock needs a kernel HZ above 0".into(),
            ));
        }
        if let Selection::Maglev { table_size } = self.selection
            && !MAGLEV_TABLE_SIZES.contains(&table_size)
        {
            return Err(Error::Config(format!(
                "maglev table size {table_size} is not one of {MAGLEV_TABLE_SIZES:?}"
            )));
        }
        let t = &self.timeouts;
        for (name, d) in [
            ("syn", t.syn),
            ("tcp", t.tcp),
            ("close", t.close),
            ("non_tcp", t.non_tcp),
        ] {
            if d.as_secs() == 0 {
                return Err(Error::Config(format!(
                    "CT timeout `{name}` {d:?} is below 1s (the datapath counts whole seconds)"
                )));
            }
            if let MonoClock::Jiffies { hz } = self.clock {
                let secs = u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
                if common::sec_to_mono(secs, hz) == 0 {
                    return Err(Error::Config(format!(
                        "CT timeout `{name}` {d:?} is 0 units of {}'s jiffies clock ({:.3} s each at HZ {hz}): an entry would expire as it is made; use at least {}s",
                        self.profile.name(),
                        256.0 / f64::from(hz),
                        256_u32.div_ceil(u32::from(hz))
                    )));
                }
            }
            if d > Duration::from_secs(30 * 24 * 3600) {
                return Err(Error::Config(format!(
                    "CT timeout `{name}` {d:?} is over 30 days"
                )));
            }
        }
        if let Some(grace) = self.ct_reuse.grace()
            && grace > Duration::from_secs(24 * 3600)
        {
            return Err(Error::Config(format!(
                "rebalance grace {grace:?} is over a day"
            )));
        }
        if !(16..=(1 << 24)).contains(&self.ct_map_size) {
            return Err(Error::Config(format!(
                "CT map size {} out of range 16..=16777216",
                self.ct_map_size
            )));
        }
        Ok(())
    }

    /// The kernel's config: lifetimes in whole seconds, as the agent
    /// writes Cilium's `CT_*` macros (`int64(d.Seconds())`), then in mono
    /// units as the datapath converts them (`bpf_sec_to_mono`).
    pub(crate) fn to_kernel(&self, clock_offset_ns: u64) -> common::DatapathConfig {
        let hz = self.clock.hz();
        let secs =
            |d: Duration| common::sec_to_mono(u32::try_from(d.as_secs()).unwrap_or(u32::MAX), hz);
        let (selection, maglev_m) = match self.selection {
            Selection::Random => (common::SELECTION_RANDOM, 0),
            Selection::Maglev { table_size } => (common::SELECTION_MAGLEV, table_size),
        };
        let (ct_reuse, grace) = match self.ct_reuse {
            CtReuse::Legacy => (common::CT_REUSE_LEGACY, 0),
            CtReuse::CloseRebalance { grace } => (common::CT_REUSE_CLOSE_REBALANCE, secs(grace)),
            CtReuse::New { grace } => (common::CT_REUSE_NEW, secs(grace)),
        };
        let r = self.profile.rules();
        let features = [
            (r.close_both, common::DP_F_CLOSE_BOTH),
            (r.reopen_reset, common::DP_F_REOPEN_RESET),
            (r.inactive_reselect, common::DP_F_INACTIVE_RESELECT),
            (r.no_backend_reject, common::DP_F_NO_BACKEND_REJECT),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, bit)| acc | bit);
        common::DatapathConfig {
            clock_offset_ns,
            syn_timeout: secs(self.timeouts.syn),
            tcp_timeout: secs(self.timeouts.tcp),
            close_timeout: secs(self.timeouts.close),
            non_tcp_timeout: secs(self.timeouts.non_tcp),
            rebalance_grace: grace,
            report_interval: secs(REPORT_INTERVAL),
            hash_seed: self.hash_seed,
            maglev_m,
            selection,
            ct_reuse,
            report_flags: REPORT_FLAGS,
            features,
            jiffies_hz: hz,
            pad: [0; 2],
            node_addr: self.node.map_or(0, |n| u32::from(n.addr).to_be()),
            pod_net: self.node.map_or(0, |n| u32::from(n.pod_cidr).to_be()),
            pod_mask: self.node.map_or(0, |n| n.mask().to_be()),
            pad2: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jiffies_profiles_reject_timeouts_of_zero_units() {
        // (1 * 250) >> 8 = 0 units: the entry would expire as it is made.
        let mut c = Config::profile(Profile::Cilium1_12);
        c.timeouts.close = Duration::from_secs(1);
        let e = c.validate().expect_err("0 units").to_string();
        assert!(e.contains("0 units") && e.contains("at least 2s"), "{e}");
        c.timeouts.close = Duration::from_secs(2);
        c.validate().expect("2 s = 1 unit");
        // The ktime clock counts seconds: 1 s is fine.
        let mut k = Config::profile(Profile::Cilium1_16);
        k.timeouts.close = Duration::from_secs(1);
        k.validate().expect("ktime");
        assert_eq!(common::sec_to_mono(60, MODELLED_HZ), 58);
        assert_eq!(common::mono_units(1_024_000_000 * 7, MODELLED_HZ), 7);
        assert_eq!(common::mono_to_ns(58, MODELLED_HZ), 59_392_000_000);
    }

    #[test]
    fn gc_interval_adapts_as_ciliums_calculate_interval() {
        let s = Duration::from_secs;
        // No deletes: unchanged (the first pass on an empty map).
        assert_eq!(next_gc_interval(GC_STARTING_INTERVAL, 0.0), s(300));
        // Under 5 %: 1.5x, rounded to whole seconds, capped at 12 h.
        assert_eq!(next_gc_interval(s(300), 0.001), s(450));
        assert_eq!(next_gc_interval(s(301), 0.001), s(452));
        assert_eq!(next_gc_interval(s(40_000), 0.01), GC_MAX_LRU_INTERVAL);
        // 5 % to 25 %: unchanged.
        assert_eq!(next_gc_interval(s(300), 0.05), s(300));
        assert_eq!(next_gc_interval(s(300), 0.25), s(300));
        // Over 25 %: (1 - ratio) shorter, ratio capped at 0.9, at least 10 s.
        assert_eq!(next_gc_interval(s(300), 0.5), s(150));
        assert_eq!(next_gc_interval(s(300), 1.0), s(30));
        assert_eq!(next_gc_interval(s(60), 0.95), GC_MIN_INTERVAL);
    }
}
