//! The datapath's counters as user space reads them: the per-CPU reason and
//! per-backend counter maps, summed over CPUs. The readers are shared with
//! [`DatapathView`](crate::view::DatapathView), which reads the same maps from
//! another process.
use std::{collections::BTreeMap, net::SocketAddrV4};

use aya::maps::{MapData, PerCpuArray};
use svclab_datapath_common::{self as common, BackendCounters, Reason};

use crate::{
    datapath::Datapath,
    error::{Error, Result},
};

/// Per-backend counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// New flows given to it (CT miss).
    pub selections: u64,
    /// Existing CT entries moved to it (rebalance, backend gone).
    pub reselections: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Connections opened to it (SYNs DNATed), however the CT lookup went.
    pub syns: u64,
}

/// All datapath counters, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub reasons: BTreeMap<Reason, u64>,
    /// Keyed by backend address, for backends currently in the table.
    pub backends: BTreeMap<SocketAddrV4, BackendStats>,
}

impl Counters {
    pub fn reason(&self, r: Reason) -> u64 {
        self.reasons.get(&r).copied().unwrap_or(0)
    }
}

impl Datapath {
    /// Reason and per-backend counters, summed over CPUs.
    pub fn counters(&self) -> Result<Counters> {
        let mut c = Counters {
            reasons: read_reasons(&self.reasons)?,
            ..Counters::default()
        };
        for (id, b) in &self.table.backends {
            c.backends
                .insert(b.addr, read_backend(&self.backend_counters, *id)?);
        }
        Ok(c)
    }
}

/// Every reason counter, summed over CPUs.
pub(crate) fn read_reasons(map: &PerCpuArray<MapData, u64>) -> Result<BTreeMap<Reason, u64>> {
    let mut out = BTreeMap::new();
    for r in Reason::ALL {
        let v = map
            .get(&(r as u32), 0)
            .map_err(|e| Error::map(common::maps::REASONS, "read", e))?;
        out.insert(r, v.iter().sum());
    }
    Ok(out)
}

/// One backend's counters, summed over CPUs.
pub(crate) fn read_backend(
    map: &PerCpuArray<MapData, BackendCounters>,
    id: u32,
) -> Result<BackendStats> {
    let v = map
        .get(&id, 0)
        .map_err(|e| Error::map(common::maps::BACKEND_STATS, "read", e))?;
    Ok(v.iter().fold(BackendStats::default(), |mut s, x| {
        s.selections += x.selections;
        s.reselections += x.reselections;
        s.packets += x.packets;
        s.bytes += x.bytes;
        s.syns += x.syns;
        s
    }))
}
