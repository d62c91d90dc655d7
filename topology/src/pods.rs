//! Pods: their spec and record ([`PodSpec`], [`PodInfo`]), batch validation,
//! adding a batch in parallel across the worker threads (all or nothing,
//! with rollback), and removal. Each pod is one namespace and a routed veth
//! whose node end `lxc<n>` has an ifindex chosen up front, so the node side
//! and the pod side are one netlink batch each.
use std::{
    collections::{HashSet, VecDeque},
    net::Ipv4Addr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
};

use crate::{
    LXC_IFINDEX_BASE, MAX_NETNS_NAME, POD_ETH0_IFINDEX, POD_IFNAME, Topology, TopologyError,
    invalid, netns, netns_path,
    nl::{self, Req},
    valid_name_chars,
    worker::Worker,
};

/// A pod to add: its netns is `<prefix><name>`, `ip` is a pod address of
/// its node's pod CIDR ([`crate::AddrPlan`]; 198.18.<node>.2..=254 by default).
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

impl Topology {
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
            if !self.plan.is_pod_ip(p.node, p.ip) {
                return Err(invalid(format!(
                    "pod {}: ip {} is not a pod address of node {}'s pod CIDR {}/{} (not its network, gateway or broadcast address)",
                    p.name,
                    p.ip,
                    p.node,
                    self.plan.pod_cidr(p.node),
                    self.plan.prefix_len()
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
                gateway: self.plan.gateway(spec.node),
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
}

struct PodTask {
    idx: usize,
    gateway: std::net::Ipv4Addr,
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

/// The MAC addresses of a pod's veth, from its lxc's ifindex (unique in
/// the run): locally administered unicast, `02:00:<ifindex>` on the node
/// end and `02:01:<ifindex>` on the pod's eth0.
fn veth_macs(lxc_ifindex: u32) -> ([u8; 6], [u8; 6]) {
    let [a, b, c, d] = lxc_ifindex.to_be_bytes();
    ([0x02, 0x00, a, b, c, d], [0x02, 0x01, a, b, c, d])
}

fn configure_pod(
    w: &mut Worker,
    node: &nl::Nl,
    t: &PodTask,
    out: &mut PodOutcome,
) -> Result<(), TopologyError> {
    use std::os::fd::AsRawFd as _;
    let pod_fd = netns::current()?;
    let (ip, gw) = (t.spec.ip, t.gateway);
    let (lxc_mac, pod_mac) = veth_macs(t.lxc_ifindex);
    w.rt.block_on(async {
        let (conn, pod) = nl::connect(&t.netns)?;
        let work = async {
            let (lxc, idx) = (t.lxc.as_str(), t.lxc_ifindex);
            // Node side: the veth (pod end placed straight into the pod)
            // and the /32 route to the pod through it.
            node.batch(vec![
                Req::veth_with_macs(
                    lxc,
                    idx,
                    POD_IFNAME,
                    POD_ETH0_IFINDEX,
                    pod_fd.as_raw_fd(),
                    (lxc_mac, pod_mac),
                ),
                Req::route_dev(ip, 32, idx, lxc),
                Req::neigh_permanent(idx, lxc, ip, pod_mac),
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
                Req::neigh_permanent(POD_ETH0_IFINDEX, POD_IFNAME, gw, lxc_mac),
            ])
            .await?;
            Ok(())
        };
        nl::run_with(conn, work).await
    })
}
