//! Services and backends as user space sees them, and the bookkeeping that
//! maps them onto the kernel tables: service ids (reverse-NAT indexes),
//! backend ids shared across services, and slot layout (active backends
//! first, as Cilium's `lb4_service.count` covers only those).
use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddrV4,
};

use crate::{
    error::{Error, Result},
    frontend::{Backend, BackendState, Frontend, Protocol},
};
use svclab_datapath_common as common;

/// A backend as the kernel knows it.
#[derive(Clone, Debug)]
pub(crate) struct BackendEntry {
    pub addr: SocketAddrV4,
    pub proto: Protocol,
    pub state: BackendState,
    pub refs: BTreeSet<Frontend>,
}

impl BackendEntry {
    pub fn kernel(&self) -> common::Lb4Backend {
        common::Lb4Backend {
            address: u32::from(*self.addr.ip()).to_be(),
            port: self.addr.port().to_be(),
            proto: self.proto.number(),
            state: self.state as u8,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ServiceEntry {
    pub rev_nat_index: u16,
    /// Session affinity timeout in seconds (0: none).
    pub affinity: u32,
    /// Backend ids in slot order (active first).
    pub slots: Vec<u32>,
    pub active: u16,
}

/// What `set_backends` must write, computed before touching the kernel.
pub(crate) struct BackendPlan {
    /// Backends to write (new ids and state changes), with whether the id is new.
    pub upserts: Vec<(u32, BackendEntry, bool)>,
    pub slots: Vec<u32>,
    pub active: u16,
    pub old_slots: usize,
    /// Ids this service had and no longer has.
    pub dropped: Vec<u32>,
    /// Ids no service references any more.
    pub released: Vec<u32>,
}

/// The user-space mirror of the services and backends maps.
#[derive(Debug, Default)]
pub(crate) struct ServiceTable {
    pub services: BTreeMap<Frontend, ServiceEntry>,
    pub backends: BTreeMap<u32, BackendEntry>,
    by_addr: BTreeMap<(SocketAddrV4, Protocol), u32>,
    next_backend_id: u32,
    next_rev_nat: u16,
}

impl ServiceTable {
    pub fn backend_id(&self, addr: SocketAddrV4, proto: Protocol) -> Option<u32> {
        self.by_addr.get(&(addr, proto)).copied()
    }

    fn used_slots(&self) -> usize {
        self.services.values().map(|s| 1 + s.slots.len()).sum()
    }

    /// Allocates a service id for a new frontend, never handing out a
    /// recently freed one first (stale reply CT entries point at old ids).
    pub fn add_service(&mut self, frontend: Frontend) -> Result<u16> {
        if let Some(s) = self.services.get(&frontend) {
            return Ok(s.rev_nat_index);
        }
        let used: BTreeSet<u16> = self.services.values().map(|s| s.rev_nat_index).collect();
        let cap = u16::try_from(common::MAX_SERVICES - 1).unwrap_or(u16::MAX);
        if used.len() >= usize::from(cap)
            || self.used_slots() + 1 > common::SERVICES_MAP_SIZE as usize
        {
            return Err(Error::TooManyServices {
                capacity: u32::from(cap),
            });
        }
        let mut id = self.next_rev_nat;
        loop {
            id = if id >= cap { 1 } else { id + 1 };
            if !used.contains(&id) {
                break;
            }
        }
        self.next_rev_nat = id;
        self.services.insert(
            frontend,
            ServiceEntry {
                rev_nat_index: id,
                affinity: 0,
                slots: Vec::new(),
                active: 0,
            },
        );
        Ok(id)
    }

    /// Plans and records a new backend set for `frontend`.
    pub fn plan_backends(&mut self, frontend: Frontend, wanted: &[Backend]) -> Result<BackendPlan> {
        let svc = self
            .services
            .get(&frontend)
            .ok_or(Error::ServiceNotFound { frontend })?
            .clone();
        let mut seen = BTreeSet::new();
        for b in wanted {
            if !seen.insert(b.addr) {
                return Err(Error::DuplicateBackend {
                    frontend,
                    backend: b.addr,
                });
            }
        }
        let max_per_service = usize::from(u16::MAX);
        if wanted.len() > max_per_service {
            return Err(Error::TooManyBackends {
                frontend,
                requested: wanted.len(),
                capacity: max_per_service,
                reason: "backend slots per service",
            });
        }
        let slots_free = common::SERVICES_MAP_SIZE as usize - (self.used_slots() - svc.slots.len());
        if wanted.len() + 1 > slots_free {
            return Err(Error::TooManyBackends {
                frontend,
                requested: wanted.len(),
                capacity: slots_free.saturating_sub(1),
                reason: "services map slots",
            });
        }
        let new_count = wanted
            .iter()
            .filter(|b| self.backend_id(b.addr, frontend.proto).is_none())
            .count();
        let ids_free = (common::MAX_BACKENDS as usize - 1) - self.backends.len();
        if new_count > ids_free {
            return Err(Error::TooManyBackends {
                frontend,
                requested: wanted.len(),
                capacity: ids_free + (wanted.len() - new_count),
                reason: "backends map entries",
            });
        }

        let mut upserts = Vec::new();
        let mut ordered: Vec<&Backend> = wanted.iter().collect();
        // Active first: slots 1..=active are what random selection draws from.
        ordered.sort_by_key(|b| b.state != BackendState::Active);
        let mut slots = Vec::with_capacity(ordered.len());
        for b in &ordered {
            let (id, is_new) = match self.backend_id(b.addr, frontend.proto) {
                Some(id) => (id, false),
                None => (self.alloc_backend_id(), true),
            };
            let entry = self.backends.entry(id).or_insert_with(|| BackendEntry {
                addr: b.addr,
                proto: frontend.proto,
                state: b.state,
                refs: BTreeSet::new(),
            });
            let changed = is_new || entry.state != b.state;
            entry.state = b.state;
            entry.refs.insert(frontend);
            self.by_addr.insert((b.addr, frontend.proto), id);
            if changed {
                upserts.push((id, entry.clone(), is_new));
            }
            slots.push(id);
        }
        let active = u16::try_from(
            ordered
                .iter()
                .filter(|b| b.state == BackendState::Active)
                .count(),
        )
        .unwrap_or(u16::MAX);
        let dropped: Vec<u32> = svc
            .slots
            .iter()
            .filter(|id| !slots.contains(id))
            .copied()
            .collect();
        let released = self.release(frontend, dropped.iter());
        let old_slots = svc.slots.len();
        if let Some(s) = self.services.get_mut(&frontend) {
            s.slots = slots.clone();
            s.active = active;
        }
        Ok(BackendPlan {
            upserts,
            slots,
            active,
            old_slots,
            dropped,
            released,
        })
    }

    /// Forgets `frontend`; returns its entry and the backend ids it released.
    pub fn remove_service(&mut self, frontend: Frontend) -> Result<(ServiceEntry, Vec<u32>)> {
        let svc = self
            .services
            .remove(&frontend)
            .ok_or(Error::ServiceNotFound { frontend })?;
        let released = self.release(frontend, svc.slots.iter());
        Ok((svc, released))
    }

    fn release<'a>(&mut self, frontend: Frontend, ids: impl Iterator<Item = &'a u32>) -> Vec<u32> {
        let mut released = Vec::new();
        for id in ids {
            if let Some(e) = self.backends.get_mut(id) {
                e.refs.remove(&frontend);
                if e.refs.is_empty() {
                    self.by_addr.remove(&(e.addr, e.proto));
                    self.backends.remove(id);
                    released.push(*id);
                }
            }
        }
        released
    }

    /// Round-robin over 1..MAX_BACKENDS so a freed id is reused as late as
    /// possible (stale CT entries then see "gone", not a stranger).
    fn alloc_backend_id(&mut self) -> u32 {
        loop {
            self.next_backend_id = if self.next_backend_id + 1 >= common::MAX_BACKENDS {
                1
            } else {
                self.next_backend_id + 1
            };
            if !self.backends.contains_key(&self.next_backend_id) {
                return self.next_backend_id;
            }
        }
    }
}
