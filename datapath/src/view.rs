//! A read-only view of another process's datapath, opened by map IDs (BPF
//! maps are kernel objects; the process that loaded them keeps them alive).
//! `svclab inspect` uses it on a live or held run to show what the kernel
//! holds — services, backends, conntrack, counters — not what the harness
//! believes.
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddrV4},
};

use aya::maps::{HashMap, Map, MapData, PerCpuArray};
use svclab_datapath_common::{
    self as common, BackendCounters, Ct4Tuple, CtEntry, Lb4Backend, Lb4Key, Lb4Service,
};

use crate::{
    counters::{Counters, read_backend, read_reasons},
    ct::{CtEntryView, Now},
    error::{Error, Result, is_not_found},
    frontend::{BackendState, Frontend, Protocol},
};

/// One service as the kernel's maps hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelService {
    pub frontend: Frontend,
    pub rev_nat_index: u16,
    /// Slots 1..=n in order: (backend id, address, state).
    pub backends: Vec<(u32, Option<SocketAddrV4>, Option<BackendState>)>,
    /// Active backends (slot 0's count).
    pub active: u16,
}

pub struct DatapathView {
    ct: HashMap<MapData, Ct4Tuple, CtEntry>,
    services: HashMap<MapData, Lb4Key, Lb4Service>,
    backends: HashMap<MapData, u32, Lb4Backend>,
    reasons: PerCpuArray<MapData, u64>,
    backend_counters: PerCpuArray<MapData, BackendCounters>,
    /// Socket-LB's reverse map, when the run reported it.
    sock_revnat: Option<HashMap<MapData, common::Sock4RevnatKey, common::Sock4RevnatEntry>>,
    /// The datapath's clock (`jiffies_hz` of its config; 0 = ktime, also
    /// for runs that did not report their config map).
    hz: u16,
}

/// The map `name` of another process's datapath, by the ID it reported.
pub(crate) fn open(ids: &BTreeMap<String, u32>, name: &'static str) -> Result<MapData> {
    let id = *ids.get(name).ok_or(Error::Missing {
        kind: "map id",
        name,
    })?;
    MapData::from_id(id).map_err(|e| Error::map(name, "open by id", e))
}

impl DatapathView {
    /// Opens the maps whose IDs
    /// [`Datapath::map_ids`](crate::datapath::Datapath::map_ids) reported.
    pub fn open(ids: &BTreeMap<String, u32>) -> Result<Self> {
        let m = |name: &'static str, wrap: fn(MapData) -> Map| -> Result<Map> {
            Ok(wrap(open(ids, name)?))
        };
        Ok(Self {
            ct: HashMap::try_from(m(common::maps::CT, Map::LruHashMap)?)
                .map_err(|e| Error::map(common::maps::CT, "open", e))?,
            services: HashMap::try_from(m(common::maps::SERVICES, Map::HashMap)?)
                .map_err(|e| Error::map(common::maps::SERVICES, "open", e))?,
            backends: HashMap::try_from(m(common::maps::BACKENDS, Map::HashMap)?)
                .map_err(|e| Error::map(common::maps::BACKENDS, "open", e))?,
            reasons: PerCpuArray::try_from(m(common::maps::REASONS, Map::PerCpuArray)?)
                .map_err(|e| Error::map(common::maps::REASONS, "open", e))?,
            backend_counters: PerCpuArray::try_from(m(
                common::maps::BACKEND_STATS,
                Map::PerCpuArray,
            )?)
            .map_err(|e| Error::map(common::maps::BACKEND_STATS, "open", e))?,
            hz: match ids.contains_key(common::maps::CONFIG) {
                true => {
                    let cfg: aya::maps::Array<MapData, common::DatapathConfig> =
                        aya::maps::Array::try_from(m(common::maps::CONFIG, Map::Array)?)
                            .map_err(|e| Error::map(common::maps::CONFIG, "open", e))?;
                    cfg.get(&0, 0)
                        .map_err(|e| Error::map(common::maps::CONFIG, "read", e))?
                        .jiffies_hz
                }
                false => 0,
            },
            sock_revnat: match ids.contains_key(common::maps::SOCK_REVNAT) {
                true => Some(
                    HashMap::try_from(m(common::maps::SOCK_REVNAT, Map::LruHashMap)?)
                        .map_err(|e| Error::map(common::maps::SOCK_REVNAT, "open", e))?,
                ),
                false => None,
            },
        })
    }

    /// Socket-LB's reverse-translation entries (none when the run did not
    /// report the map).
    pub fn sock_revnat_entries(&self) -> Result<Vec<crate::sock::SockRevnatView>> {
        let Some(m) = &self.sock_revnat else {
            return Ok(Vec::new());
        };
        crate::sock::revnat_entries(m)
    }

    fn backend(&self, id: u32) -> Option<Lb4Backend> {
        self.backends.get(&id, 0).ok()
    }

    fn addr(b: &Lb4Backend) -> SocketAddrV4 {
        SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(b.address)),
            u16::from_be(b.port),
        )
    }

    /// Every conntrack entry, decoded, backends resolved through the kernel's backends map.
    pub fn ct_entries(&self) -> Result<Vec<CtEntryView>> {
        // Runs never move the clock (only tests do, in their own process).
        let now = Now::read(0, self.hz);
        let mut out = Vec::new();
        for item in self.ct.iter() {
            match item {
                Ok((k, v)) => {
                    let backend = self.backend(v.backend_id).map(|b| Self::addr(&b));
                    if let Some(e) = CtEntryView::decode(&k, &v, now, backend) {
                        out.push(e);
                    }
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(Error::map(common::maps::CT, "iterate", e)),
            }
        }
        Ok(out)
    }

    /// Services and their backend slots, read from the kernel.
    pub fn services(&self) -> Result<Vec<KernelService>> {
        let mut out = Vec::new();
        for item in self.services.iter() {
            let (k, v) = match item {
                Ok(kv) => kv,
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(Error::map(common::maps::SERVICES, "iterate", e)),
            };
            if k.backend_slot != 0 {
                continue;
            }
            let Some(proto) = Protocol::from_number(k.proto) else {
                continue;
            };
            let frontend = Frontend {
                vip: Ipv4Addr::from(u32::from_be(k.address)),
                port: u16::from_be(k.dport),
                proto,
            };
            let mut backends = Vec::new();
            for slot in 1..=v.count.saturating_add(v.inactive) {
                if let Ok(s) = self.services.get(
                    &Lb4Key {
                        backend_slot: slot,
                        ..k
                    },
                    0,
                ) {
                    let b = self.backend(s.backend_id);
                    backends.push((
                        s.backend_id,
                        b.map(|b| Self::addr(&b)),
                        b.and_then(|b| BackendState::from_u8(b.state)),
                    ));
                }
            }
            out.push(KernelService {
                frontend,
                rev_nat_index: v.rev_nat_index,
                backends,
                active: v.count,
            });
        }
        out.sort_by_key(|s| s.frontend);
        Ok(out)
    }

    /// Reason counters and per-backend counters (for backends in the map).
    pub fn counters(&self) -> Result<Counters> {
        let mut c = Counters {
            reasons: read_reasons(&self.reasons)?,
            ..Counters::default()
        };
        for item in self.backends.iter() {
            let Ok((id, b)) = item else { continue };
            c.backends
                .insert(Self::addr(&b), read_backend(&self.backend_counters, id)?);
        }
        Ok(c)
    }
}
