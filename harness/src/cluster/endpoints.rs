//! Pods → endpoints → every node's dataplane, the way EndpointSlices feed
//! Cilium's agent: a Ready pod is an active backend, a pod being deleted a
//! terminating one (existing flows drain), a not-ready pod no backend at
//! all. Also conntrack flushes.
use std::{collections::BTreeMap, net::SocketAddrV4};

use svclab_datapath::{Backend, BackendState};

use super::state::Cluster;

impl Cluster {
    /// Pushes every service's endpoints to every node's datapath.
    pub fn sync_endpoints(&mut self) -> anyhow::Result<()> {
        for s in &self.services {
            let backends: Vec<Backend> = self
                .pods
                .values()
                .filter(|p| p.deployment == s.selector)
                .filter_map(|p| {
                    let state = if p.kubelet.deleting {
                        BackendState::Terminating
                    } else if p.kubelet.ready() {
                        BackendState::Active
                    } else {
                        // Not ready: not an endpoint (Cilium drops it from
                        // the service; flows pinned to it are reselected).
                        return None;
                    };
                    Some(Backend {
                        addr: SocketAddrV4::new(p.ip, s.target_port),
                        state,
                    })
                })
                .collect();
            for n in &mut self.nodes {
                n.dataplane.set_backends(s.frontend, &backends)?;
            }
        }
        Ok(())
    }

    pub fn flush_ct(&mut self, node: Option<u8>) -> anyhow::Result<u64> {
        let mut n = 0;
        for (i, st) in self.nodes.iter_mut().enumerate() {
            if node.is_none_or(|x| usize::from(x) == i) {
                n += st.dataplane.flush_ct()?;
            }
        }
        Ok(n)
    }

    /// Backend address → pod name for every pod that was ever a backend.
    pub fn addr_names(&self) -> BTreeMap<SocketAddrV4, String> {
        let mut m = BTreeMap::new();
        for b in &self.backends {
            if let Ok(a) = b.addr.parse() {
                m.insert(a, b.name.clone());
            }
        }
        m
    }
}
