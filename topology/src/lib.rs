//! svclab cluster topology: node, fabric and pod network namespaces joined
//! by veths, with addresses, routes and sysctls, built through rtnetlink
//! and owned by a [`Topology`] value that deletes every namespace it
//! created on every exit path (teardown, drop, panic, failed build).
//!
//! Layout (everything inside 198.18.0.0/15, nothing linked to the root
//! namespace; every netns name starts with `svl-<run-id>-`):
//! - node i: netns `<prefix>node<i>`, ip_forward on, rp_filter off, `lo` up
//!   with 198.18.i.1/32 (the pods' gateway);
//! - fabric (2+ nodes): netns `<prefix>fabric` with bridge `br0` (the
//!   control plane's address, 198.19.255.254/24, is on it); node i's
//!   `fab0` (198.19.255.<i+1>/24) has its peer `node<i>` on the bridge, and
//!   node i routes 198.18.j.0/24 via 198.19.255.<j+1>;
//! - external (only when a run has clients outside the cluster): netns
//!   `<prefix>external` whose `ext0` (one 198.19.253.<k+1>/24 per external
//!   client) has its peer `external` on the fabric bridge; the nodes and
//!   the external netns reach each other on-link (198.19.253.0/24 dev
//!   `fab0`, 198.19.255.0/24 dev `ext0`), as hosts on the nodes' LAN would;
//! - pod: netns `<prefix><name>` with `eth0` (its /32, default via the node
//!   gateway), peer `lxc<n>` in the node netns with a /32 route to the pod:
//!   routed veths, no bridge on the node, like Cilium.
//!
//! Speed: namespace work runs on a small pool of worker threads (one
//! rtnetlink connection per node per worker, opened once and reused), and
//! each pod costs one `unshare`, one bind mount and two netlink batches of
//! one `sendmsg` each: the node side (veth with its pod end placed straight
//! into the pod, /32 route) and the pod side (links up, address, routes).
//! Both veth ends get ifindexes chosen up front, so nothing is looked up.
//!
//! This file owns the [`Topology`] value (spec validation, accessors,
//! sysctls, teardown); `nodes` builds the node and fabric namespaces, `pods`
//! adds and removes pods, `addr` holds the address plan, `nl` the netlink
//! batches, `netns` the namespace files and `worker` the thread pool.
mod addr;
mod error;
mod netns;
mod nl;
mod nodes;
mod pods;
mod worker;

use std::{collections::BTreeMap, path::PathBuf};

pub use addr::{
    AddrPlan, CONTROL_PLANE_ADDR, EXTERNAL_NET, MAX_EXTERNAL, MAX_NODES, external_address,
    fabric_address, node_gateway, probe_address,
};
pub use error::TopologyError;
pub use netns::{NETNS_DIR, in_netns, is_root, list_with_prefix, netns_path};
pub use pods::{PodInfo, PodSpec};

use worker::Pool;

/// Every netns name must start with this. The naming rule: every netns is
/// `svl-<run-id>-<what>`, so cleanup can find a run's namespaces by prefix
/// and never touch anyone else's.
pub const NAME_PREFIX: &str = "svl-";
/// The pod side of every pod veth is created with this ifindex (a fresh
/// namespace holds only `lo` = 1 and maybe a few fallback tunnel devices),
/// so pod-side requests need no lookup.
pub const POD_ETH0_IFINDEX: u32 = 64;
/// `lxc<n>` gets ifindex `LXC_IFINDEX_BASE + n` in its node namespace:
/// known before creation (so the veth, its route and the pod side go in
/// one batch per side) and far above where the kernel's own allocator
/// hands out indexes for anything else created in a node.
pub const LXC_IFINDEX_BASE: u32 = 100_000;
/// Name of the pod-side interface.
pub const POD_IFNAME: &str = "eth0";
/// Name of a node's fabric interface.
pub const FABRIC_IFNAME: &str = "fab0";
/// Name of the external netns's interface on the fabric.
pub const EXTERNAL_IFNAME: &str = "ext0";
/// Name of the fabric bridge.
pub const BRIDGE_IFNAME: &str = "br0";
/// Longest namespace file name (NAME_MAX).
const MAX_NETNS_NAME: usize = 255;

/// What [`Topology::build`] creates.
#[derive(Clone, Debug)]
pub struct TopologySpec {
    /// Prefix of every netns name, `svl-<run>-`.
    pub prefix: String,
    /// Number of nodes (1..=253); 2+ get a fabric.
    pub nodes: u8,
}

impl TopologySpec {
    /// Nodes with the default address plan (a /24 of pods each).
    pub fn new(prefix: impl Into<String>, nodes: u8) -> Self {
        Self {
            prefix: prefix.into(),
            nodes,
        }
    }
}

/// A running topology. Owns every namespace it created; they are deleted
/// by [`Topology::teardown`] or, failing that, on drop.
pub struct Topology {
    prefix: String,
    nodes: u8,
    plan: AddrPlan,
    /// Node namespaces created so far, by index.
    node_netns: Vec<String>,
    fabric: Option<String>,
    /// The external clients' netns, once [`Topology::add_external`] made it.
    external: Option<String>,
    pods: BTreeMap<String, PodInfo>,
    next_lxc: u64,
    pool: Option<Pool>,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topology")
            .field("prefix", &self.prefix)
            .field("nodes", &self.nodes)
            .field("pods", &self.pods.len())
            .finish()
    }
}

pub(crate) fn invalid(reason: impl Into<String>) -> TopologyError {
    TopologyError::InvalidSpec {
        reason: reason.into(),
    }
}

fn valid_name_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Worker threads: one per core. Most of a pod's cost is kernel work that
/// serialises on RTNL; measured on 2 cores, 2 workers beat 1 by ~1.3x and
/// 4 or 8 add nothing (`SVCLAB_TOPOLOGY_WORKERS` overrides, 1..=64).
fn pool_size() -> usize {
    if let Some(n) = std::env::var("SVCLAB_TOPOLOGY_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=64).contains(n))
    {
        return n;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    cores.clamp(2, 8)
}

impl Topology {
    /// Creates the node namespaces and (for 2+ nodes) the fabric. On error
    /// everything created so far is deleted again before returning.
    pub fn build(spec: TopologySpec) -> Result<Topology, TopologyError> {
        Self::build_with(spec, AddrPlan::default())
    }

    /// [`Topology::build`] with pod CIDRs of `plan`'s size.
    pub fn build_with(spec: TopologySpec, plan: AddrPlan) -> Result<Topology, TopologyError> {
        Self::validate_spec(&spec)?;
        if AddrPlan::max_pods_per_node(spec.nodes) < plan.pods_per_node() {
            return Err(invalid(format!(
                "{} nodes do not fit pod CIDRs of /{} in 198.18.0.0/16",
                spec.nodes,
                plan.prefix_len()
            )));
        }
        netns::ensure_netns_dir()?;
        let pool = Pool::new(pool_size())?;
        let mut t = Topology {
            prefix: spec.prefix,
            nodes: spec.nodes,
            plan,
            node_netns: Vec::new(),
            fabric: None,
            external: None,
            pods: BTreeMap::new(),
            next_lxc: 0,
            pool: Some(pool),
        };
        match t.build_inner() {
            Ok(()) => Ok(t),
            Err(e) => Err(t.undo(e)),
        }
    }

    fn validate_spec(spec: &TopologySpec) -> Result<(), TopologyError> {
        if !spec.prefix.starts_with(NAME_PREFIX) {
            return Err(invalid(format!(
                "prefix {:?} must start with {NAME_PREFIX:?}",
                spec.prefix
            )));
        }
        if !valid_name_chars(&spec.prefix) || spec.prefix.len() > 128 {
            return Err(invalid(format!(
                "prefix {:?}: use at most 128 of [A-Za-z0-9._-]",
                spec.prefix
            )));
        }
        if spec.nodes == 0 || spec.nodes > MAX_NODES {
            return Err(invalid(format!(
                "nodes = {}: expected 1..={MAX_NODES}",
                spec.nodes
            )));
        }
        Ok(())
    }

    fn pool(&self) -> Result<&Pool, TopologyError> {
        self.pool
            .as_ref()
            .ok_or(TopologyError::Worker { op: "topology" })
    }

    /// The run prefix every namespace name starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Number of nodes.
    pub fn nodes(&self) -> u8 {
        self.nodes
    }

    /// The address plan (every node's pod CIDR).
    pub fn plan(&self) -> AddrPlan {
        self.plan
    }

    /// Namespace name of node `node`: `<prefix>node<i>`.
    pub fn node_netns(&self, node: u8) -> String {
        format!("{}node{node}", self.prefix)
    }

    /// `/run/netns/<prefix>node<i>`.
    pub fn node_netns_path(&self, node: u8) -> PathBuf {
        netns_path(&self.node_netns(node))
    }

    /// The fabric namespace, if there is one (2+ nodes).
    pub fn fabric_netns(&self) -> Option<&str> {
        self.fabric.as_deref()
    }

    /// The external clients' netns, if there is one.
    pub fn external_netns(&self) -> Option<&str> {
        self.external.as_deref()
    }

    /// A pod by name.
    pub fn pod(&self, name: &str) -> Option<&PodInfo> {
        self.pods.get(name)
    }

    /// Every pod, by name.
    pub fn pods(&self) -> impl Iterator<Item = &PodInfo> {
        self.pods.values()
    }

    /// Every namespace this topology currently owns.
    pub fn netns_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.node_netns.clone();
        v.extend(self.fabric.clone());
        v.extend(self.external.clone());
        v.extend(self.pods.values().map(|p| p.netns.clone()));
        v
    }

    fn owns_netns(&self, netns: &str) -> bool {
        self.node_netns.iter().any(|n| n == netns)
            || self.fabric.as_deref() == Some(netns)
            || self.external.as_deref() == Some(netns)
            || self.pods.values().any(|p| p.netns == netns)
    }

    fn in_own_netns<R: Send + 'static>(
        &self,
        netns: &str,
        op: &'static str,
        f: impl FnOnce(&str) -> Result<R, TopologyError> + Send + 'static,
    ) -> Result<R, TopologyError> {
        if !self.owns_netns(netns) {
            return Err(TopologyError::NotFound {
                op,
                what: "netns",
                name: netns.to_owned(),
            });
        }
        let name = netns.to_owned();
        self.pool()?.run(0, op, move |w| {
            let fd = netns::open(&netns_path(&name), &name)?;
            netns::enter(&fd, &name)?;
            let r = f(&name);
            w.go_home()?;
            r
        })?
    }

    /// Writes `/proc/sys/<key>` (dotted, `net.*` only) inside one of this
    /// topology's namespaces, from a thread that has entered it.
    pub fn set_sysctl(&self, netns: &str, key: &str, value: &str) -> Result<(), TopologyError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.in_own_netns(netns, "set sysctl", move |ns| {
            netns::write_sysctl(ns, &key, &value)
        })
    }

    /// Reads `/proc/sys/<key>` (dotted, `net.*` only) inside one of this
    /// topology's namespaces.
    pub fn sysctl(&self, netns: &str, key: &str) -> Result<String, TopologyError> {
        let key = key.to_owned();
        self.in_own_netns(netns, "read sysctl", move |ns| netns::read_sysctl(ns, &key))
    }

    /// Deletes every namespace (pods, fabric, nodes; their veths and routes
    /// go with them) and reports every failure.
    pub fn teardown(mut self) -> Result<(), TopologyError> {
        let errors = self.teardown_inner();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TopologyError::Teardown { errors })
        }
    }

    fn teardown_inner(&mut self) -> Vec<TopologyError> {
        // Workers hold node sockets, which pin node namespaces: end them first.
        self.pool.take();
        let mut names: Vec<String> = self.pods.values().map(|p| p.netns.clone()).collect();
        names.extend(self.external.take());
        names.extend(self.fabric.take());
        names.extend(self.node_netns.drain(..).rev());
        self.pods.clear();
        names
            .iter()
            .filter_map(|n| netns::delete(n).err())
            .collect()
    }

    /// Tears down after a failed build and returns the build's error;
    /// cleanup failures are logged.
    fn undo(mut self, e: TopologyError) -> TopologyError {
        for c in self.teardown_inner() {
            log::error!("undoing failed topology build: {c}");
        }
        e
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for e in self.teardown_inner() {
            log::error!("topology teardown on drop: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn bad_specs_are_refused_before_any_kernel_work() {
        for (prefix, nodes) in [
            ("svl-ok-", 0),
            ("svl-ok-", 254),
            ("not-svl-", 1),
            ("svl-a/b-", 1),
            ("svl-sp ace-", 1),
        ] {
            let spec = TopologySpec {
                prefix: prefix.into(),
                nodes,
            };
            assert!(
                matches!(
                    Topology::validate_spec(&spec),
                    Err(TopologyError::InvalidSpec { .. })
                ),
                "{spec:?}"
            );
        }
        assert!(
            Topology::validate_spec(&TopologySpec {
                prefix: "svl-r1-".into(),
                nodes: 3
            })
            .is_ok()
        );
    }

    #[test]
    fn addresses_follow_the_design() {
        assert_eq!(node_gateway(3), Ipv4Addr::new(198, 18, 3, 1));
        assert_eq!(fabric_address(0), Ipv4Addr::new(198, 19, 255, 1));
        assert_eq!(fabric_address(252), Ipv4Addr::new(198, 19, 255, 253));
    }
}
