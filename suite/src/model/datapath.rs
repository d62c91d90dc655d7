//! The `datapath` section: backend selection (random or Maglev), conntrack
//! reuse, CT lifetimes, garbage collection and map size.
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::defaults::{d10, d60, default_grace};
use crate::duration::Dur;

/// How a new flow picks its backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionSpec {
    /// A random backend per new flow.
    Random,
    /// Maglev consistent hashing over the 5-tuple.
    Maglev,
}

/// What a SYN on an existing service CT entry does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CtReuseSpec {
    /// Reopens the entry with its old backend (Cilium before PR 19451).
    Legacy,
    /// A SYN on a closing entry idle past `rebalance_grace` selects anew.
    CloseRebalance,
}

/// The eBPF service load balancer's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatapathSpec {
    /// `random` (default) or `maglev`.
    #[serde(default = "default_selection")]
    pub selection: SelectionSpec,
    /// Maglev table size M, one of 251, 509, 1021, 2039, 4093, 8191, 16381 (default).
    #[serde(default = "default_maglev")]
    // The validator's list (validate/datapath.rs); tests/schema.rs checks
    // that the two agree.
    #[schemars(extend("enum" = [251, 509, 1021, 2039, 4093, 8191, 16381]))]
    pub maglev_table_size: u32,
    /// `legacy` (default) or `close-rebalance`.
    #[serde(default = "default_reuse")]
    pub ct_reuse: CtReuseSpec,
    /// Grace for close-rebalance, default `30s`, at most 1h.
    #[serde(default = "default_grace")]
    pub rebalance_grace: Dur,
    /// CT lifetimes.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// CT garbage-collection interval in user space, default `5s`, at least 100ms.
    #[serde(default = "default_gc")]
    pub gc_interval: Dur,
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
fn default_reuse() -> CtReuseSpec {
    CtReuseSpec::Legacy
}
fn default_gc() -> Dur {
    Dur(Duration::from_secs(5))
}
fn default_ct_size() -> u32 {
    65536
}
impl Default for DatapathSpec {
    fn default() -> Self {
        Self {
            selection: default_selection(),
            maglev_table_size: default_maglev(),
            ct_reuse: default_reuse(),
            rebalance_grace: default_grace(),
            timeouts: Timeouts::default(),
            gc_interval: default_gc(),
            ct_map_size: default_ct_size(),
        }
    }
}

/// CT lifetimes (Cilium defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// default `60s`
    #[serde(default = "d60")]
    pub syn: Dur,
    /// established service TCP, default `8000s` (older Cilium: `6h`)
    #[serde(default = "d8000")]
    pub tcp: Dur,
    /// after FIN/RST, default `10s`
    #[serde(default = "d10")]
    pub close: Dur,
    /// non-TCP, default `60s`
    #[serde(default = "d60")]
    pub non_tcp: Dur,
}
fn d8000() -> Dur {
    Dur(Duration::from_secs(8000))
}
impl Default for Timeouts {
    fn default() -> Self {
        Self {
            syn: d60(),
            tcp: d8000(),
            close: d10(),
            non_tcp: d60(),
        }
    }
}
