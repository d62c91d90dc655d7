//! The `datapath` section: which dataplane engine carries service traffic
//! (the eBPF service LB, or kube-proxy's netfilter rules), the Cilium
//! release whose rules the eBPF datapath follows, backend selection (random or Maglev), explicit overrides of the
//! release's CT reuse rule, grace and lifetimes, garbage collection and map
//! size.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Dur;

/// The Cilium release whose service-conntrack and backend-selection rules
/// the datapath follows (the README's datapath table lists them). In
/// release order: `<` compares releases.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum ProfileSpec {
    /// v1.11: a SYN on a closing entry reopens it with its backend; FIN
    /// leaves the entry alive with the 6 h service lifetime.
    #[serde(rename = "cilium-1.11")]
    Cilium1_11,
    /// v1.12-v1.14: close-rebalance after a 60 s grace; inactive backends
    /// reselected on SYN; FIN still leaves the entry alive (6 h).
    #[serde(rename = "cilium-1.12")]
    Cilium1_12,
    /// v1.15.0-v1.15.7: as 1.12, the reopen also resets the entry's flags;
    /// 8000 s service lifetime.
    #[serde(rename = "cilium-1.15")]
    Cilium1_15,
    /// v1.15.8+: as 1.15 with PR 33907: FIN/RST closes a service entry
    /// (10 s lifetime).
    #[serde(rename = "cilium-1.15.8")]
    Cilium1_15_8,
    /// v1.16 (default): PR 33907, and any SYN on a closing entry gets a
    /// new selection.
    #[default]
    #[serde(rename = "cilium-1.16")]
    Cilium1_16,
}

/// The dataplane that carries service traffic on every node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EngineSpec {
    /// svclab's eBPF service LB (tc programs, service CT), following `profile`.
    #[default]
    Ebpf,
    /// kube-proxy v1.30 in iptables mode: `KUBE-SERVICES` / `KUBE-SVC-*` /
    /// `KUBE-SEP-*` chains in each node's netns, the kernel's conntrack.
    KubeProxyIptables,
    /// kube-proxy in nftables mode: table `ip kube-proxy` with the
    /// `service-ips` verdict map, `numgen random` per service.
    KubeProxyNftables,
    /// Cilium v1.16.0's socket-LB (`bpf_sock.c`): cgroup connect4 /
    /// sendmsg4 / recvmsg4 / getpeername4 programs translate a client's
    /// `connect()` to a random backend, so packets carry the backend's
    /// address and no service conntrack exists. Client pods' tasks run in a
    /// per-pod cgroup v2; no per-packet service LB (bpf_lxc.c:64-70).
    SocketLb,
}

impl EngineSpec {
    /// Every engine, in the order the README lists them.
    pub const ALL: [EngineSpec; 4] = [
        EngineSpec::Ebpf,
        EngineSpec::KubeProxyIptables,
        EngineSpec::KubeProxyNftables,
        EngineSpec::SocketLb,
    ];

    /// The engine's name as a suite writes it.
    pub fn name(self) -> &'static str {
        match self {
            EngineSpec::Ebpf => "ebpf",
            EngineSpec::KubeProxyIptables => "kube-proxy-iptables",
            EngineSpec::KubeProxyNftables => "kube-proxy-nftables",
            EngineSpec::SocketLb => "socket-lb",
        }
    }

    /// Parses a suite/CLI name (`ebpf`, `kube-proxy-iptables`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == s)
    }

    /// kube-proxy engines (netfilter rules, the kernel's conntrack).
    pub fn is_kube_proxy(self) -> bool {
        matches!(
            self,
            EngineSpec::KubeProxyIptables | EngineSpec::KubeProxyNftables
        )
    }
}

/// How a new flow picks its backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionSpec {
    /// A random backend per new flow.
    Random,
    /// Maglev consistent hashing over the 5-tuple.
    Maglev,
}

/// What a SYN on a closing service CT entry does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CtReuseSpec {
    /// Reopens the entry with its old backend (Cilium 1.11).
    Legacy,
    /// Selects anew once `rebalance_grace` has passed since the entry's last
    /// report, else reopens (Cilium 1.12-1.15, PR 19451).
    CloseRebalance,
    /// Always selects anew (Cilium 1.16).
    New,
}

/// The eBPF service load balancer's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatapathSpec {
    /// `ebpf` (default), `kube-proxy-iptables`, `kube-proxy-nftables`,
    /// `socket-lb`.
    #[serde(default)]
    pub engine: EngineSpec,
    /// kube-proxy's `minSyncPeriod` (`--iptables-min-sync-period`): rule
    /// syncs run at most this often after a burst of two; default `1s`
    /// (kube-proxy v1.30's default), at most 1h. Only for kube-proxy engines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sync_period: Option<Dur>,
    /// The Cilium release to behave as: `cilium-1.11`, `cilium-1.12` (also
    /// 1.13, 1.14), `cilium-1.15` (1.15.0-1.15.7), `cilium-1.15.8`,
    /// `cilium-1.16` (default). The fields below override its values.
    #[serde(default)]
    pub profile: ProfileSpec,
    /// `random` (default) or `maglev`.
    #[serde(default = "default_selection")]
    pub selection: SelectionSpec,
    /// Maglev table size M, one of 251, 509, 1021, 2039, 4093, 8191, 16381 (default).
    #[serde(default = "default_maglev")]
    // The validator's list (validate/datapath.rs); tests/schema.rs checks
    // that the two agree.
    #[schemars(extend("enum" = [251, 509, 1021, 2039, 4093, 8191, 16381]))]
    pub maglev_table_size: u32,
    /// Overrides the profile's rule: `legacy`, `close-rebalance` or `new`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct_reuse: Option<CtReuseSpec>,
    /// Overrides the profile's grace (60s; Cilium's
    /// `bpf-ct-timeout-service-tcp-grace`), whole seconds, at most 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance_grace: Option<Dur>,
    /// Overrides of the profile's CT lifetimes, whole seconds.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// A fixed CT garbage-collection interval (Cilium's
    /// `--conntrack-gc-interval`), at least 100ms. Unset (the default):
    /// Cilium's adaptive interval, first pass at start, then 5 min growing
    /// 1.5x while under 5 % of the map expires, so a short suite sees no
    /// pass and expired entries stay until one comes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_interval: Option<Dur>,
    /// CT LRU map entries, 16..=16777216, default 65536.
    #[serde(default = "default_ct_size")]
    #[schemars(range(min = 16, max = 16_777_216))]
    pub ct_map_size: u32,
}
fn default_selection() -> SelectionSpec {
    SelectionSpec::Random
}
fn default_maglev() -> u32 {
    16381
}
fn default_ct_size() -> u32 {
    65536
}
impl Default for DatapathSpec {
    fn default() -> Self {
        Self {
            engine: EngineSpec::default(),
            min_sync_period: None,
            profile: ProfileSpec::default(),
            selection: default_selection(),
            maglev_table_size: default_maglev(),
            ct_reuse: None,
            rebalance_grace: None,
            timeouts: Timeouts::default(),
            gc_interval: None,
            ct_map_size: default_ct_size(),
        }
    }
}

/// Overrides of the profile's CT lifetimes (Cilium agent flags
/// `bpf-ct-timeout-*`); unset ones keep the profile's value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// SYN-only entries (`regular-tcp-syn`, 60s in every profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syn: Option<Dur>,
    /// Established service TCP (`service-tcp`: 6h up to 1.14, 8000s from 1.15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Dur>,
    /// Entries closed both ways (`regular-tcp-fin`, 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<Dur>,
    /// Non-TCP (`service-any`, 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_tcp: Option<Dur>,
}
