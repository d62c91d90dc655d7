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

/// What a SYN does when it hits a closing service CT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtReuse {
    /// Reopen with the stored backend (Cilium before PR 19451).
    Legacy,
    /// Select a new backend when the entry's last client packet is older than
    /// `grace` (Cilium's CT_SERVICE_CLOSE_REBALANCE, 30 s by default).
    CloseRebalance { grace: Duration },
}

/// Conntrack lifetimes; every packet refreshes an entry by its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtTimeouts {
    /// Entry that has only seen SYNs (Cilium: 60 s).
    pub syn: Duration,
    /// Established service TCP entry (Cilium: 6 h before 1.12, 8000 s since).
    pub tcp: Duration,
    /// Entry that has seen FIN or RST (Cilium: 10 s).
    pub close: Duration,
    /// Non-TCP entry (Cilium: 60 s).
    pub non_tcp: Duration,
}

impl Default for CtTimeouts {
    fn default() -> Self {
        Self {
            syn: Duration::from_secs(60),
            tcp: Duration::from_secs(8000),
            close: Duration::from_secs(10),
            non_tcp: Duration::from_secs(60),
        }
    }
}

/// Maglev table sizes Cilium accepts that fit this datapath's table.
pub const MAGLEV_TABLE_SIZES: [u32; 7] = [251, 509, 1021, 2039, 4093, 8191, 16381];

/// Cilium's default rebalance grace (`bpf-ct-timeout-service-tcp-grace`).
pub const DEFAULT_REBALANCE_GRACE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub selection: Selection,
    pub ct_reuse: CtReuse,
    pub timeouts: CtTimeouts,
    /// Entries of the conntrack LRU map (service and post-DNAT entries both
    /// count). When full the kernel evicts the least recently used entry.
    pub ct_map_size: u32,
    /// Seed of the Maglev flow hash and table permutation.
    pub hash_seed: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            selection: Selection::Random,
            ct_reuse: CtReuse::Legacy,
            timeouts: CtTimeouts::default(),
            ct_map_size: common::CT_MAP_SIZE_DEFAULT,
            hash_seed: 0x5eed_c1a1,
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<()> {
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
            if d.is_zero() {
                return Err(Error::Config(format!("CT timeout `{name}` must be > 0")));
            }
            if d > Duration::from_secs(30 * 24 * 3600) {
                return Err(Error::Config(format!(
                    "CT timeout `{name}` {d:?} is over 30 days"
                )));
            }
        }
        if let CtReuse::CloseRebalance { grace } = self.ct_reuse
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

    pub(crate) fn to_kernel(&self) -> common::DatapathConfig {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let (selection, maglev_m) = match self.selection {
            Selection::Random => (common::SELECTION_RANDOM, 0),
            Selection::Maglev { table_size } => (common::SELECTION_MAGLEV, table_size),
        };
        let (ct_reuse, grace) = match self.ct_reuse {
            CtReuse::Legacy => (common::CT_REUSE_LEGACY, 0),
            CtReuse::CloseRebalance { grace } => (common::CT_REUSE_CLOSE_REBALANCE, ns(grace)),
        };
        common::DatapathConfig {
            syn_timeout_ns: ns(self.timeouts.syn),
            tcp_timeout_ns: ns(self.timeouts.tcp),
            close_timeout_ns: ns(self.timeouts.close),
            non_tcp_timeout_ns: ns(self.timeouts.non_tcp),
            rebalance_grace_ns: grace,
            hash_seed: self.hash_seed,
            maglev_m,
            selection,
            ct_reuse,
            pad: [0; 6],
        }
    }
}
