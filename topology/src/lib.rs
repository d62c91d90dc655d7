//! svclab cluster topology: node, fabric and pod network namespaces joined
//! by veths, with addresses, routes and sysctls, built through rtnetlink
//! and owned by a [`Topology`] value that deletes every namespace it
//! created on every exit path (teardown, drop, panic, failed build).
//!
//! Layout (everything inside 198.18.0.0/15, nothing linked to the root
//! namespace; every netns name starts with `svl-<run-id>-`):
//! - node i: netns `<prefix>node<i>`, ip_forward on, rp_filter off, `lo` up
//!   with 198.18.i.1/32 (the pods' gateway);
//! - fabric (2+ nodes): netns `<prefix>fabric` with bridge `br0`; node i's
//!   `fab0` (198.19.255.<i+1>/24) has its peer `node<i>` on the bridge, and
//!   node i routes 198.18.j.0/24 via 198.19.255.<j+1>;
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
mod error;
mod netns;
mod nl;
mod worker;

use std::{
    collections::{BTreeMap, HashSet, VecDeque},
    net::Ipv4Addr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
};

pub use error::TopologyError;
pub use netns::{NETNS_DIR, in_netns, is_root, list_with_prefix, netns_path};

use nl::Req;
use worker::{Pool, Worker};

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
/// Name of the fabric bridge.
pub const BRIDGE_IFNAME: &str = "br0";
/// Longest namespace file name (NAME_MAX).
const MAX_NETNS_NAME: usize = 255;
/// Most nodes: fabric addresses are 198.19.255.<i+1> with i+1 <= 254.
pub const MAX_NODES: u8 = 253;

/// What [`Topology::build`] creates.
#[derive(Clone, Debug)]
pub struct TopologySpec {
    /// Prefix of every netns name, `svl-<run>-`.
    pub prefix: String,
    /// Number of nodes (1..=253); 2+ get a fabric.
    pub nodes: u8,
}

/// A pod to add: its netns is `<prefix><name>`, `ip` is in 198.18.<node>.0/24
/// (host part 2..=254; .1 is the node's gateway).
#[derive(Clone, Debug)]
pub struct PodSpec {
    pub name: String,
    pub node: u8,
    pub ip: Ipv4Addr,
}

/// A pod that exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    pub name: String,
    pub node: u8,
    pub ip: Ipv4Addr,
    /// Namespace name (`<prefix><name>`).
    pub netns: String,
    /// `/run/netns/<netns>`.
    pub netns_path: PathBuf,
    /// The node-side veth (where the datapath attaches).
    pub lxc: String,
    /// Its ifindex in the node namespace.
    pub lxc_ifindex: u32,
}

/// The pods' gateway on node `node`: 198.18.<node>.1.
pub fn node_gateway(node: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, node, 1)
}

/// Node `node`'s address on the fabric: 198.19.255.<node+1>.
pub fn fabric_address(node: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 255, node.saturating_add(1))
}

/// A running topology. Owns every namespace it created; they are deleted
/// by [`Topology::teardown`] or, failing that, on drop.
pub struct Topology {
    prefix: String,
    nodes: u8,
    /// Node namespaces created so far, by index.
    node_netns: Vec<String>,
    fabric: Option<String>,
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

fn invalid(reason: impl Into<String>) -> TopologyError {
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
        Self::validate_spec(&spec)?;
        netns::ensure_netns_dir()?;
        let pool = Pool::new(pool_size())?;
        let mut t = Topology {
            prefix: spec.prefix,
            nodes: spec.nodes,
            node_netns: Vec::new(),
            fabric: None,
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

    fn build_inner(&mut self) -> Result<(), TopologyError> {
        let pool = self.pool()?;
        let mut pending = Vec::new();
        for i in 0..self.nodes {
            let name = format!("{}node{i}", self.prefix);
            let rx = pool.submit(usize::from(i), "create node", move |w| {
                create_node(w, i, &name)
            })?;
            pending.push(rx);
        }
        let mut first_err = None;
        for (i, rx) in pending.into_iter().enumerate() {
            let name = format!("{}node{i}", self.prefix);
            // A worker that died mid-job may have created the namespace.
            let (created, r) = rx.recv().unwrap_or_else(|_| {
                (
                    netns_path(&name).exists(),
                    Err(TopologyError::Worker { op: "create node" }),
                )
            });
            if created {
                self.node_netns.push(name);
            }
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if self.nodes > 1 {
            let name = format!("{}fabric", self.prefix);
            let nodes = self.node_netns.clone();
            let path = netns_path(&name);
            let (created, r) = self
                .pool()?
                .run(0, "create fabric", move |w| create_fabric(w, &name, &nodes))
                .unwrap_or_else(|e| (path.exists(), Err(e)));
            if created {
                self.fabric = Some(format!("{}fabric", self.prefix));
            }
            r?;
        }
        Ok(())
    }

    /// The run prefix every namespace name starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Number of nodes.
    pub fn nodes(&self) -> u8 {
        self.nodes
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
        v.extend(self.pods.values().map(|p| p.netns.clone()));
        v
    }

    fn validate_pods(&self, pods: &[PodSpec]) -> Result<(), TopologyError> {
        let mut names: HashSet<&str> = self.pods.keys().map(String::as_str).collect();
        let mut ips: HashSet<Ipv4Addr> = self.pods.values().map(|p| p.ip).collect();
        let max_name = MAX_NETNS_NAME.saturating_sub(self.prefix.len());
        for p in pods {
            if p.name.is_empty() || p.name.len() > max_name || !valid_name_chars(&p.name) {
                return Err(invalid(format!(
                    "pod name {:?}: use 1..={max_name} of [A-Za-z0-9._-]",
                    p.name
                )));
            }
            let reserved = p.name == "fabric"
                || p.name
                    .strip_prefix("node")
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            if reserved {
                return Err(invalid(format!(
                    "pod name {:?} is reserved for nodes and the fabric",
                    p.name
                )));
            }
            if p.node >= self.nodes {
                return Err(invalid(format!(
                    "pod {}: node {} does not exist (nodes: {})",
                    p.name, p.node, self.nodes
                )));
            }
            let o = p.ip.octets();
            if o[0] != 198 || o[1] != 18 || o[2] != p.node || !(2..=254).contains(&o[3]) {
                return Err(invalid(format!(
                    "pod {}: ip {} must be 198.18.{}.2..=254 (its node's pod CIDR)",
                    p.name, p.ip, p.node
                )));
            }
            if !names.insert(&p.name) {
                return Err(invalid(format!("duplicate pod name {:?}", p.name)));
            }
            if !ips.insert(p.ip) {
                return Err(invalid(format!("pod {}: duplicate ip {}", p.name, p.ip)));
            }
        }
        Ok(())
    }

    /// Adds one pod (see [`Topology::add_pods`]).
    pub fn add_pod(&mut self, pod: PodSpec) -> Result<PodInfo, TopologyError> {
        let mut v = self.add_pods(vec![pod])?;
        v.pop().ok_or(TopologyError::Worker { op: "add pod" })
    }

    /// Adds pods in parallel across the worker threads. All or nothing:
    /// the batch is validated before anything is created, and if the
    /// kernel refuses any pod, every pod of this batch is removed again
    /// (pods added earlier stay). Returns the pods in input order.
    pub fn add_pods(&mut self, pods: Vec<PodSpec>) -> Result<Vec<PodInfo>, TopologyError> {
        self.validate_pods(&pods)?;
        if pods.is_empty() {
            return Ok(Vec::new());
        }
        let n = pods.len();
        let mut queue = VecDeque::with_capacity(n);
        for (idx, spec) in pods.into_iter().enumerate() {
            let n = self.next_lxc;
            self.next_lxc += 1;
            let lxc_ifindex = u32::try_from(n)
                .ok()
                .and_then(|n| n.checked_add(LXC_IFINDEX_BASE))
                .filter(|&i| i <= i32::MAX as u32)
                .ok_or_else(|| invalid("out of lxc interface indexes"))?;
            let lxc = format!("lxc{n}");
            queue.push_back(PodTask {
                idx,
                lxc_ifindex,
                netns: format!("{}{}", self.prefix, spec.name),
                node_netns: self.node_netns(spec.node),
                lxc,
                spec,
            });
        }
        let queue = Arc::new(Mutex::new(queue));
        let abort = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<(PodTask, PodOutcome)>();
        let pool = self.pool()?;
        let mut error = None;
        for w in 0..pool.len().min(n) {
            let (queue, abort2, tx) = (Arc::clone(&queue), Arc::clone(&abort), tx.clone());
            // Results come over `tx`, which closes once every worker is
            // done with the queue; the per-job receiver is not needed.
            let submitted = pool.submit(w, "add pods", move |worker| {
                while !abort2.load(Ordering::Relaxed) {
                    let task = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some(task) = task else { break };
                    // A panic must not lose track of a namespace it made.
                    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        create_pod(worker, &task)
                    }))
                    .unwrap_or_else(|_| {
                        let _ = worker.go_home();
                        PodOutcome {
                            netns_created: netns_path(&task.netns).exists(),
                            route_added: true,
                            result: Err(TopologyError::Worker {
                                op: "add pod (panicked)",
                            }),
                        }
                    });
                    if out.result.is_err() {
                        abort2.store(true, Ordering::Relaxed);
                    }
                    if tx.send((task, out)).is_err() {
                        break;
                    }
                }
            });
            if let Err(e) = submitted {
                abort.store(true, Ordering::Relaxed);
                error.get_or_insert(e);
            }
        }
        drop(tx);
        let mut done: Vec<(PodTask, PodOutcome)> = rx.into_iter().collect();
        for (task, o) in &mut done {
            if let Err(e) = std::mem::replace(&mut o.result, Ok(())) {
                if error.is_none() {
                    error = Some(e);
                } else {
                    log::error!("add pods: pod {} also failed: {e}", task.spec.name);
                }
            }
        }
        if error.is_none() && done.len() < n {
            error = Some(TopologyError::Worker { op: "add pods" });
        }
        if let Some(e) = error {
            self.rollback_pods(done);
            return Err(e);
        }
        done.sort_by_key(|(t, _)| t.idx);
        let mut out = Vec::with_capacity(n);
        for (task, _) in done {
            let info = task.info();
            self.pods.insert(info.name.clone(), info.clone());
            out.push(info);
        }
        Ok(out)
    }

    /// Undoes a failed batch; failures are logged (the batch's own error
    /// is what the caller gets).
    fn rollback_pods(&mut self, done: Vec<(PodTask, PodOutcome)>) {
        for (task, out) in done {
            if out.route_added
                && let Err(e) = self.delete_pod_route(&task.info())
            {
                log::error!("rollback of pod {}: {e}", task.spec.name);
            }
            if out.netns_created
                && let Err(e) = netns::delete(&task.netns)
            {
                log::error!("rollback of pod {}: {e}", task.spec.name);
            }
        }
    }

    fn delete_pod_route(&self, pod: &PodInfo) -> Result<(), TopologyError> {
        let (node, node_netns) = (pod.node, self.node_netns(pod.node));
        let (ip, idx, lxc) = (pod.ip, pod.lxc_ifindex, pod.lxc.clone());
        let r = self.pool()?.run(0, "delete pod route", move |w| {
            let nl = w.node(node, &node_netns)?;
            w.rt.block_on(nl.batch(vec![Req::route_dev_del(ip, 32, idx, &lxc)]))
                .map(drop)
        })?;
        match r {
            // Already gone with its device: fine.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ESRCH | libc::ENODEV)) => Ok(()),
            r => r,
        }
    }

    /// Removes a pod: deletes its node route and its namespace (its veth
    /// goes with the namespace). Processes still inside are the caller's
    /// business: they keep the namespace alive, unnamed, until they exit.
    pub fn remove_pod(&mut self, name: &str) -> Result<(), TopologyError> {
        let pod = self
            .pods
            .get(name)
            .cloned()
            .ok_or_else(|| TopologyError::NotFound {
                op: "remove pod",
                what: "pod",
                name: name.to_owned(),
            })?;
        let route = self.delete_pod_route(&pod);
        netns::delete(&pod.netns)?;
        self.pods.remove(name);
        route
    }

    fn owns_netns(&self, netns: &str) -> bool {
        self.node_netns.iter().any(|n| n == netns)
            || self.fabric.as_deref() == Some(netns)
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

struct PodTask {
    idx: usize,
    lxc_ifindex: u32,
    spec: PodSpec,
    netns: String,
    node_netns: String,
    lxc: String,
}

impl PodTask {
    fn info(&self) -> PodInfo {
        PodInfo {
            netns_path: netns_path(&self.netns),
            name: self.spec.name.clone(),
            node: self.spec.node,
            ip: self.spec.ip,
            netns: self.netns.clone(),
            lxc: self.lxc.clone(),
            lxc_ifindex: self.lxc_ifindex,
        }
    }
}

struct PodOutcome {
    netns_created: bool,
    route_added: bool,
    result: Result<(), TopologyError>,
}

/// Creates node `i`'s namespace and sets it up; returns whether the
/// namespace exists (so a failure can be undone) and the result.
fn create_node(w: &mut Worker, i: u8, name: &str) -> (bool, Result<(), TopologyError>) {
    if let Err(e) = netns::create_and_enter(name) {
        // The thread may already be inside an unnamed namespace.
        let _ = w.go_home();
        return (false, Err(e));
    }
    let r = setup_node(w, i, name);
    let home = w.go_home();
    (true, r.and(home))
}

fn setup_node(w: &mut Worker, i: u8, name: &str) -> Result<(), TopologyError> {
    // Before any device exists, so every device inherits `default`.
    for key in [
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.conf.default.rp_filter",
    ] {
        netns::write_sysctl(name, key, "0")?;
    }
    netns::write_sysctl(name, "net.ipv4.ip_forward", "1")?;
    let (conn, nl) = {
        let _ctx = w.rt.enter();
        nl::connect(name)?
    };
    w.adopt_node(i, conn, nl.clone());
    w.rt.block_on(nl.batch(vec![
        Req::link_up("lo"),
        Req::addr_add(1, "lo", node_gateway(i), 32),
    ]))?;
    Ok(())
}

/// Creates the fabric namespace with its bridge and one veth per node, and
/// configures each node's fabric address and routes to the other nodes.
fn create_fabric(
    w: &mut Worker,
    name: &str,
    nodes: &[String],
) -> (bool, Result<(), TopologyError>) {
    if let Err(e) = netns::create_and_enter(name) {
        let _ = w.go_home();
        return (false, Err(e));
    }
    let r = setup_fabric(w, name, nodes);
    let home = w.go_home();
    (true, r.and(home))
}

fn setup_fabric(w: &mut Worker, name: &str, nodes: &[String]) -> Result<(), TopologyError> {
    let node_fds = nodes
        .iter()
        .map(|n| netns::open(&netns_path(n), n))
        .collect::<Result<Vec<_>, _>>()?;
    w.rt.block_on(async {
        let (conn, fab) = nl::connect(name)?;
        let work = async {
            let br = fab
                .batch_index(
                    vec![Req::bridge(BRIDGE_IFNAME), Req::get_link(BRIDGE_IFNAME)],
                    1,
                )
                .await?;
            let veths = node_fds
                .iter()
                .enumerate()
                .map(|(i, fd)| {
                    use std::os::fd::AsRawFd as _;
                    Req::veth(
                        &format!("node{i}"),
                        0,
                        Some(br),
                        FABRIC_IFNAME,
                        0,
                        fd.as_raw_fd(),
                    )
                })
                .collect();
            fab.batch(veths).await.map(drop)
        };
        run_with(conn, work).await
    })?;
    // Node side, through this worker's node connections.
    let count = u8::try_from(nodes.len()).unwrap_or(u8::MAX);
    for (i, node_name) in (0..count).zip(nodes) {
        let nl = w.node(i, node_name)?;
        w.rt.block_on(async {
            let idx = nl
                .batch_index(
                    vec![Req::link_up(FABRIC_IFNAME), Req::get_link(FABRIC_IFNAME)],
                    1,
                )
                .await?;
            let mut reqs = vec![Req::addr_add(idx, FABRIC_IFNAME, fabric_address(i), 24)];
            for j in (0..count).filter(|&j| j != i) {
                reqs.push(Req::route_via(
                    Ipv4Addr::new(198, 18, j, 0),
                    24,
                    fabric_address(j),
                    idx,
                    FABRIC_IFNAME,
                ));
            }
            nl.batch(reqs).await.map(drop)
        })?;
    }
    Ok(())
}

/// Polls a connection that nothing else drives while `work` runs; the
/// connection (and its socket) is dropped when `work` is done.
async fn run_with<T>(
    conn: nl::NlConnection,
    work: impl std::future::Future<Output = Result<T, TopologyError>>,
) -> Result<T, TopologyError> {
    let work = std::pin::pin!(work);
    match futures_util::future::select(conn, work).await {
        futures_util::future::Either::Right((r, _)) => r,
        futures_util::future::Either::Left(((), _)) => Err(TopologyError::Worker {
            op: "netlink connection closed",
        }),
    }
}

/// Creates one pod: its namespace (the worker enters it), the veth from the
/// node side with the peer placed straight into the pod, the node's /32
/// route and, in one batch from inside the pod, lo up, address and routes.
fn create_pod(w: &mut Worker, t: &PodTask) -> PodOutcome {
    let mut out = PodOutcome {
        netns_created: false,
        route_added: false,
        result: Ok(()),
    };
    let node = match w.node(t.spec.node, &t.node_netns) {
        Ok(n) => n,
        Err(e) => {
            out.result = Err(e);
            return out;
        }
    };
    if let Err(e) = netns::create_and_enter(&t.netns) {
        let _ = w.go_home();
        out.result = Err(e);
        return out;
    }
    out.netns_created = true;
    let r = configure_pod(w, &node, t, &mut out);
    let home = w.go_home();
    out.result = r.and(home);
    out
}

fn configure_pod(
    w: &mut Worker,
    node: &nl::Nl,
    t: &PodTask,
    out: &mut PodOutcome,
) -> Result<(), TopologyError> {
    use std::os::fd::AsRawFd as _;
    let pod_fd = netns::current()?;
    let (ip, gw) = (t.spec.ip, node_gateway(t.spec.node));
    w.rt.block_on(async {
        let (conn, pod) = nl::connect(&t.netns)?;
        let work = async {
            let (lxc, idx) = (t.lxc.as_str(), t.lxc_ifindex);
            // Node side: the veth (pod end placed straight into the pod)
            // and the /32 route to the pod through it.
            node.batch(vec![
                Req::veth(
                    lxc,
                    idx,
                    None,
                    POD_IFNAME,
                    POD_ETH0_IFINDEX,
                    pod_fd.as_raw_fd(),
                ),
                Req::route_dev(ip, 32, idx, lxc),
            ])
            .await?;
            out.route_added = true;
            // Pod side, from inside the pod.
            pod.batch(vec![
                Req::link_up("lo"),
                Req::link_up(POD_IFNAME),
                Req::addr_add(POD_ETH0_IFINDEX, POD_IFNAME, ip, 32),
                Req::route_dev(gw, 32, POD_ETH0_IFINDEX, POD_IFNAME),
                Req::route_via(Ipv4Addr::UNSPECIFIED, 0, gw, POD_ETH0_IFINDEX, POD_IFNAME),
            ])
            .await?;
            Ok(())
        };
        run_with(conn, work).await
    })
}

#[cfg(test)]
mod tests {
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
