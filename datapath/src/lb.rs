//! Programming services and backends into the kernel's load-balancing maps
//! (services, whose slot 0 is the frontend; backends; reverse NAT; Maglev
//! tables), applying the plans `service.rs`'s bookkeeping computes. Write
//! order is part of the contract: backends and slots first, the frontend
//! last, so a packet sees either the old backend set or the new one.
use std::net::SocketAddrV4;

use aya::maps::{HashMap, MapData, PerCpuValues};
use std::time::Duration;

use svclab_datapath_common::{
    self as common, BackendCounters, Lb4RevNat, Lb4Service, LbAffinityMatch, MaglevTable,
};

use crate::{
    config::Selection,
    datapath::Datapath,
    error::{self, Error, Result},
    frontend::{Backend, Frontend},
    maglev,
};

/// A service as programmed: its id and backends in slot order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceView {
    pub frontend: Frontend,
    /// Reverse-NAT index (Cilium's service id).
    pub rev_nat_index: u16,
    /// (backend id, backend), active ones first.
    pub backends: Vec<(u32, Backend)>,
}

impl Datapath {
    /// Creates a service frontend (no backends yet: traffic to it is dropped
    /// and counted as `drop-no-backend`). Idempotent.
    pub fn upsert_service(&mut self, frontend: Frontend) -> Result<u16> {
        let existed = self.table.services.contains_key(&frontend);
        let id = self.table.add_service(frontend)?;
        if existed {
            return Ok(id);
        }
        let rev = Lb4RevNat {
            address: u32::from(frontend.vip).to_be(),
            port: frontend.port.to_be(),
            pad: [0; 2],
        };
        let res = self
            .rev_nat
            .set(u32::from(id), rev, 0)
            .map_err(|e| Error::map(common::maps::REV_NAT, "write", e))
            .and_then(|()| {
                let svc = Lb4Service {
                    rev_nat_index: id,
                    ..Default::default()
                };
                self.services_map
                    .insert(frontend.key(0), svc, 0)
                    .map_err(|e| Error::map(common::maps::SERVICES, "insert", e))
            });
        if let Err(e) = res {
            let _ = self.table.remove_service(frontend);
            return Err(e);
        }
        Ok(id)
    }

    /// Sets the backends of `frontend` with their states. New flows go only
    /// to active backends; existing flows to non-active ones drain; flows to
    /// removed backends reselect on their next packet.
    pub fn set_backends(&mut self, frontend: Frontend, backends: &[Backend]) -> Result<()> {
        let plan = self.table.plan_backends(frontend, backends)?;
        let rev_nat_index = self.table.services[&frontend].rev_nat_index;
        for (id, entry, is_new) in &plan.upserts {
            if *is_new {
                // A recycled id must not inherit another backend's counts.
                let zeros = PerCpuValues::try_from(vec![BackendCounters::default(); self.nr_cpus])
                    .map_err(|source| Error::Host {
                        op: "build per-CPU zero values",
                        source,
                    })?;
                self.backend_counters
                    .set(*id, zeros, 0)
                    .map_err(|e| Error::map(common::maps::BACKEND_STATS, "zero", e))?;
            }
            self.backends_map
                .insert(id, entry.kernel(), 0)
                .map_err(|e| Error::map(common::maps::BACKENDS, "insert", e))?;
        }
        for (i, id) in plan.slots.iter().enumerate() {
            let slot = u16::try_from(i + 1).unwrap_or(u16::MAX);
            let v = Lb4Service {
                backend_id: *id,
                ..Default::default()
            };
            self.services_map
                .insert(frontend.key(slot), v, 0)
                .map_err(|e| Error::map(common::maps::SERVICES, "insert slot", e))?;
        }
        if let Selection::Maglev { table_size } = self.config.selection {
            let active: Vec<(u32, String)> = plan.slots[..usize::from(plan.active)]
                .iter()
                .map(|id| (*id, self.table.backends[id].addr.to_string()))
                .collect();
            let ids = maglev::populate(&active, table_size, self.config.hash_seed);
            let mut table = Box::new(MaglevTable {
                m: table_size,
                backend_ids: [0; common::MAGLEV_MAX_M as usize],
            });
            table.backend_ids[..ids.len()].copy_from_slice(&ids);
            self.maglev_map
                .insert(rev_nat_index, table, 0)
                .map_err(|e| Error::map(common::maps::MAGLEV, "insert", e))?;
        }
        // The frontend flips last, so a packet sees either the old set or the new one.
        self.write_frontend(frontend)?;
        // Then the backends clients may be pinned to: every backend of the
        // service, active or not (Cilium v1.16.0 pkg/service/service.go:
        // 1491-1503, after UpsertService at :1590-1593); pins to dropped
        // ones die at their next lookup.
        if self.table.services[&frontend].affinity > 0 {
            self.add_matches(rev_nat_index, &plan.slots)?;
        }
        self.remove_matches(rev_nat_index, &plan.dropped)?;
        for slot in plan.slots.len() + 1..=plan.old_slots {
            let slot = u16::try_from(slot).unwrap_or(u16::MAX);
            remove_ok(
                &mut self.services_map,
                &frontend.key(slot),
                common::maps::SERVICES,
            )?;
        }
        for id in plan.released {
            remove_ok(&mut self.backends_map, &id, common::maps::BACKENDS)?;
        }
        Ok(())
    }

    /// Turns `sessionAffinity: ClientIP` on with `timeout` (whole seconds,
    /// at least 1), or off with None: the frontend's flag and timeout
    /// (Cilium's `backend_id`/`affinity_timeout` union, v1.16.0
    /// pkg/maps/lbmap/lbmap.go:591-593, ipv4.go:324-328) and the match
    /// entries of its backends.
    pub fn set_affinity(&mut self, frontend: Frontend, timeout: Option<Duration>) -> Result<()> {
        let secs = timeout.map_or(0, |t| u32::try_from(t.as_secs().max(1)).unwrap_or(u32::MAX));
        let svc = self
            .table
            .services
            .get_mut(&frontend)
            .ok_or(Error::ServiceNotFound { frontend })?;
        svc.affinity = secs;
        let (rev_nat_index, slots) = (svc.rev_nat_index, svc.slots.clone());
        if secs > 0 {
            self.add_matches(rev_nat_index, &slots)?;
        }
        self.write_frontend(frontend)?;
        if secs == 0 {
            self.remove_matches(rev_nat_index, &slots)?;
        }
        Ok(())
    }

    /// Slot 0 of `frontend` from the table: active count, inactive count,
    /// service id, and the affinity flag with its timeout.
    fn write_frontend(&mut self, frontend: Frontend) -> Result<()> {
        let s = &self.table.services[&frontend];
        let inactive = u16::try_from(s.slots.len()).unwrap_or(u16::MAX) - s.active;
        let svc = Lb4Service {
            backend_id: s.affinity,
            count: s.active,
            rev_nat_index: s.rev_nat_index,
            inactive,
            flags: if s.affinity > 0 {
                common::SVC_FLAG_AFFINITY
            } else {
                0
            },
            pad: 0,
        };
        self.services_map
            .insert(frontend.key(0), svc, 0)
            .map_err(|e| Error::map(common::maps::SERVICES, "insert", e))
    }

    fn add_matches(&mut self, rev_nat_id: u16, ids: &[u32]) -> Result<()> {
        for &backend_id in ids {
            let m = LbAffinityMatch {
                backend_id,
                rev_nat_id,
                pad: 0,
            };
            self.affinity_match
                .insert(m, 1, 0)
                .map_err(|e| Error::map(common::maps::AFFINITY_MATCH, "insert", e))?;
        }
        Ok(())
    }

    fn remove_matches(&mut self, rev_nat_id: u16, ids: &[u32]) -> Result<()> {
        for &backend_id in ids {
            let m = LbAffinityMatch {
                backend_id,
                rev_nat_id,
                pad: 0,
            };
            remove_ok(&mut self.affinity_match, &m, common::maps::AFFINITY_MATCH)?;
        }
        Ok(())
    }

    /// The affinity entries: (client id, service id, backend id, last used
    /// in mono units), for tests and views.
    pub fn affinity_entries(&self) -> Result<Vec<(u64, u16, u32, u64)>> {
        let mut v = Vec::new();
        for item in self.affinity.iter() {
            let (k, val) = item.map_err(|e| Error::map(common::maps::AFFINITY, "read", e))?;
            v.push((k.client_id, k.rev_nat_id, val.backend_id, val.last_used));
        }
        Ok(v)
    }

    /// Removes a service, its slots, Maglev table and reverse-NAT entry, and
    /// every backend no other service uses.
    pub fn delete_service(&mut self, frontend: Frontend) -> Result<()> {
        let (svc, released) = self.table.remove_service(frontend)?;
        self.remove_matches(svc.rev_nat_index, &svc.slots)?;
        remove_ok(
            &mut self.services_map,
            &frontend.key(0),
            common::maps::SERVICES,
        )?;
        for slot in 1..=svc.slots.len() {
            let slot = u16::try_from(slot).unwrap_or(u16::MAX);
            remove_ok(
                &mut self.services_map,
                &frontend.key(slot),
                common::maps::SERVICES,
            )?;
        }
        remove_ok(
            &mut self.maglev_map,
            &svc.rev_nat_index,
            common::maps::MAGLEV,
        )?;
        self.rev_nat
            .set(u32::from(svc.rev_nat_index), Lb4RevNat::default(), 0)
            .map_err(|e| Error::map(common::maps::REV_NAT, "clear", e))?;
        for id in released {
            remove_ok(&mut self.backends_map, &id, common::maps::BACKENDS)?;
        }
        Ok(())
    }

    /// Services with their backends, in slot order (active first).
    pub fn services(&self) -> Vec<ServiceView> {
        self.table
            .services
            .iter()
            .map(|(f, s)| {
                let backends = s
                    .slots
                    .iter()
                    .filter_map(|id| {
                        self.table.backends.get(id).map(|b| {
                            (
                                *id,
                                Backend {
                                    addr: b.addr,
                                    state: b.state,
                                },
                            )
                        })
                    })
                    .collect();
                ServiceView {
                    frontend: *f,
                    rev_nat_index: s.rev_nat_index,
                    backends,
                }
            })
            .collect()
    }

    /// The backend address behind a backend id, if it is still known.
    pub fn backend_addr(&self, id: u32) -> Option<SocketAddrV4> {
        self.table.backends.get(&id).map(|b| b.addr)
    }
}

fn remove_ok<K: aya::Pod, V: aya::Pod>(
    map: &mut HashMap<MapData, K, V>,
    key: &K,
    name: &'static str,
) -> Result<()> {
    match map.remove(key) {
        Ok(()) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::map(name, "delete", e)),
    }
}
