//! Building the nodes and the fabric: one namespace per node (sysctls, `lo`
//! with the pods' gateway), created in parallel on the worker threads, then
//! for 2+ nodes the fabric namespace with its bridge, one veth per node, and
//! each node's fabric address and routes to the other nodes' pod CIDRs, and
//! the control plane's address on the bridge.
//! Kept apart from pods because it runs once, at build, and must leave every
//! namespace it made on record so a failed build can be undone.

use crate::{
    AddrPlan, BRIDGE_IFNAME, CONTROL_PLANE_ADDR, EXTERNAL_IFNAME, EXTERNAL_NET, FABRIC_IFNAME,
    MAX_EXTERNAL, Topology, TopologyError, external_address, fabric_address, invalid, netns,
    netns_path,
    nl::{self, Req},
    worker::Worker,
};

impl Topology {
    pub(crate) fn build_inner(&mut self) -> Result<(), TopologyError> {
        let pool = self.pool()?;
        let plan = self.plan;
        let mut pending = Vec::new();
        for i in 0..self.nodes {
            let name = format!("{}node{i}", self.prefix);
            let rx = pool.submit(usize::from(i), "create node", move |w| {
                create_node(w, i, &name, plan)
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
                .run(0, "create fabric", move |w| {
                    create_fabric(w, &name, &nodes, plan)
                })
                .unwrap_or_else(|e| (path.exists(), Err(e)));
            if created {
                self.fabric = Some(format!("{}fabric", self.prefix));
            }
            r?;
        }
        Ok(())
    }
}

impl Topology {
    /// Adds the external netns with `clients` addresses (198.19.253.<k+1>)
    /// on the fabric: where clients outside the cluster run. Needs the
    /// fabric (2+ nodes); at most once per topology.
    pub fn add_external(&mut self, clients: u8) -> Result<(), TopologyError> {
        let Some(fabric) = self.fabric.clone() else {
            return Err(invalid(
                "external clients need the fabric (2 or more nodes)",
            ));
        };
        if self.external.is_some() {
            return Err(invalid("the external netns exists already"));
        }
        if clients == 0 || clients > MAX_EXTERNAL {
            return Err(invalid(format!(
                "external clients = {clients}: expected 1..={MAX_EXTERNAL}"
            )));
        }
        let name = format!("{}external", self.prefix);
        let nodes = self.node_netns.clone();
        let path = netns_path(&name);
        let n = name.clone();
        let (created, r) = self
            .pool()?
            .run(0, "create external", move |w| {
                // A netlink socket keeps the netns it was opened in: the
                // fabric's first, from inside it, then the new netns.
                let fab = netns::open(&netns_path(&fabric), &fabric)
                    .and_then(|fd| netns::enter(&fd, &fabric))
                    .and_then(|()| {
                        let _ctx = w.rt.enter();
                        nl::connect(&fabric)
                    });
                let fab = match fab {
                    Ok(f) => f,
                    Err(e) => {
                        let _ = w.go_home();
                        return (false, Err(e));
                    }
                };
                if let Err(e) = netns::create_and_enter(&n) {
                    let _ = w.go_home();
                    return (false, Err(e));
                }
                let r = setup_external(w, &n, fab, &nodes, clients);
                let home = w.go_home();
                (true, r.and(home))
            })
            .unwrap_or_else(|e| (path.exists(), Err(e)));
        if created {
            self.external = Some(name);
        }
        r
    }
}

/// Runs inside the new external netns: its veth onto the fabric bridge,
/// its addresses and on-link route to the nodes, and each node's on-link
/// route back.
fn setup_external(
    w: &mut Worker,
    name: &str,
    (conn, fab): (nl::NlConnection, nl::Nl),
    nodes: &[String],
    clients: u8,
) -> Result<(), TopologyError> {
    let own = netns::open(&netns_path(name), name)?;
    w.rt.block_on(async {
        let work = async {
            use std::os::fd::AsRawFd as _;
            let br = fab
                .batch_index(vec![Req::get_link(BRIDGE_IFNAME)], 0)
                .await?;
            fab.batch(vec![Req::veth(
                "external",
                0,
                Some(br),
                EXTERNAL_IFNAME,
                0,
                own.as_raw_fd(),
            )])
            .await
            .map(drop)
        };
        nl::run_with(conn, work).await?;
        let (conn, ext) = nl::connect(name)?;
        let work = async {
            let idx = ext
                .batch_index(
                    vec![
                        Req::link_up("lo"),
                        Req::link_up(EXTERNAL_IFNAME),
                        Req::get_link(EXTERNAL_IFNAME),
                    ],
                    2,
                )
                .await?;
            let mut reqs: Vec<Req> = (0..clients)
                .map(|k| Req::addr_add(idx, EXTERNAL_IFNAME, external_address(k), 24))
                .collect();
            reqs.push(Req::route_dev(
                CONTROL_PLANE_ADDR_NET,
                24,
                idx,
                EXTERNAL_IFNAME,
            ));
            ext.batch(reqs).await.map(drop)
        };
        nl::run_with(conn, work).await
    })?;
    let count = u8::try_from(nodes.len()).unwrap_or(u8::MAX);
    for (i, node_name) in (0..count).zip(nodes) {
        let nl = w.node(i, node_name)?;
        w.rt.block_on(async {
            let idx = nl
                .batch_index(vec![Req::get_link(FABRIC_IFNAME)], 0)
                .await?;
            nl.batch(vec![Req::route_dev(EXTERNAL_NET, 24, idx, FABRIC_IFNAME)])
                .await
                .map(drop)
        })?;
    }
    Ok(())
}

/// The fabric's /24 (nodes and the control plane).
const CONTROL_PLANE_ADDR_NET: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 19, 255, 0);

/// Creates node `i`'s namespace and sets it up; returns whether the
/// namespace exists (so a failure can be undone) and the result.
fn create_node(
    w: &mut Worker,
    i: u8,
    name: &str,
    plan: AddrPlan,
) -> (bool, Result<(), TopologyError>) {
    if let Err(e) = netns::create_and_enter(name) {
        // The thread may already be inside an unnamed namespace.
        let _ = w.go_home();
        return (false, Err(e));
    }
    let r = setup_node(w, i, name, plan);
    let home = w.go_home();
    (true, r.and(home))
}

fn setup_node(w: &mut Worker, i: u8, name: &str, plan: AddrPlan) -> Result<(), TopologyError> {
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
        Req::addr_add(1, "lo", plan.gateway(i), 32),
        // After the gateway: the kernel's source for the node's own
        // traffic to its pods stays the gateway (inet_select_addr takes
        // lo's first address).
        Req::addr_add(1, "lo", crate::addr::probe_address(i), 32),
    ]))?;
    Ok(())
}

/// Creates the fabric namespace with its bridge and one veth per node, and
/// configures each node's fabric address and routes to the other nodes.
fn create_fabric(
    w: &mut Worker,
    name: &str,
    nodes: &[String],
    plan: AddrPlan,
) -> (bool, Result<(), TopologyError>) {
    if let Err(e) = netns::create_and_enter(name) {
        let _ = w.go_home();
        return (false, Err(e));
    }
    let r = setup_fabric(w, name, nodes, plan);
    let home = w.go_home();
    (true, r.and(home))
}

fn setup_fabric(
    w: &mut Worker,
    name: &str,
    nodes: &[String],
    plan: AddrPlan,
) -> Result<(), TopologyError> {
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
            fab.batch(veths).await?;
            // The control plane's address on the fabric: what node leases
            // are renewed against (a node cut from the fabric stops
            // renewing, as a partitioned node's kubelet does).
            fab.batch(vec![Req::addr_add(
                br,
                BRIDGE_IFNAME,
                CONTROL_PLANE_ADDR,
                24,
            )])
            .await
            .map(drop)
        };
        nl::run_with(conn, work).await
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
                    plan.pod_cidr(j),
                    plan.prefix_len(),
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
