//! The cluster: its state, how it is built and torn down, and the control
//! loop's kubelet pass. Deployments → pods → endpoints → every node's
//! engine (`endpoints.rs`, through `crate::engines::Dataplane`), the way
//! EndpointSlices feed Cilium's agent; scale, kill and delete in
//! `scale.rs`; what the run record gets in `records.rs`. Pods are
//! netns + a `svclab pod-server` process (`crate::podserver`), or a real
//! program under the `svclab container-run` shim (`crate::kubelet::programs`,
//! chosen in `containers.rs`), run by the pod's kubelet (`crate::kubelet`):
//! probes from the node, restarts, back-off. Client pods, and the nginx a
//! client may run in front of the service, are in `client_pods.rs`. A pod
//! is an active endpoint while it is Ready (readiness passing, or, without
//! readiness and startup probes, once its server accepts connections from
//! its node); a not-ready pod is left out of the service's backends, and a
//! deleted pod is marked terminating before it is removed, as Cilium does
//! with EndpointSlice conditions. Autoscalers (`autoscaler.rs`) scale
//! deployments on the pods' telemetry. Every change is logged as an event.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use svclab_datapath::{Frontend, NetnsRef};
use svclab_suite::model::Suite;
use svclab_topology::{AddrPlan, Topology, TopologySpec};

pub mod autoscaler;
mod client_pods;
mod containers;
mod create;
mod endpoints;
mod eviction;
mod faults;
mod inflight;
mod nodelifecycle;
mod records;
mod rollout;
mod routing;
mod scale;
mod state;
pub mod state_file;
mod terminate;

pub use self::state::{Cluster, NodeState, Pod};
use self::{
    autoscaler::Autoscaler,
    state::{DeploymentState, ServiceState},
};
use crate::{
    engines::{Engine, NodeStart, SocketLbCgroups, dpconfig::datapath_config},
    kubelet::{Change, probe::Prober, programs},
};

/// Pod CIDRs sized from the suite: the smallest plan (a /24 per node at
/// least) with room for the fullest node's peak plus headroom, the count
/// validation checked against the same limit.
fn addr_plan(suite: &Suite) -> anyhow::Result<AddrPlan> {
    let peak = svclab_suite::pods_per_node(suite)
        .into_iter()
        .max()
        .unwrap_or(0);
    AddrPlan::for_pods(suite.cluster.nodes, peak + svclab_suite::POD_HEADROOM).with_context(|| {
        format!(
            "{peak} pods on one node do not fit {} nodes' pod CIDRs",
            suite.cluster.nodes
        )
    })
}

/// Service frontend → name (kube-proxy's chain names hash the name).
fn service_names(suite: &Suite) -> BTreeMap<Frontend, String> {
    suite
        .services
        .iter()
        .map(|s| (Frontend::tcp(s.cluster_ip, s.port), s.name.clone()))
        .collect()
}

impl Cluster {
    /// Waits until every node's dataplane has programmed what it was given.
    pub fn wait_dataplanes_synced(&self, timeout: Duration) -> anyhow::Result<()> {
        for n in &self.nodes {
            n.dataplane.wait_synced(timeout)?;
        }
        Ok(())
    }

    /// Builds nodes and loads one datapath per node. Pods come later.
    pub fn build(
        prefix: &str,
        suite: &Suite,
        exe: PathBuf,
        kube_scale: f64,
    ) -> anyhow::Result<Self> {
        let epoch = Instant::now();
        let mut topo = Topology::build_with(
            TopologySpec::new(prefix, suite.cluster.nodes),
            addr_plan(suite)?,
        )
        .context("building the topology")?;
        let external = suite.clients.iter().filter(|c| c.external).count();
        if external > 0 {
            topo.add_external(u8::try_from(external).context("too many external clients")?)
                .context("adding the external clients' network")?;
        }
        let config = datapath_config(suite);
        let engine = Engine::of(suite.datapath.engine);
        let mut cgroups = if engine.uses_cgroups() {
            Some(SocketLbCgroups::create(prefix)?)
        } else {
            None
        };
        let mut nodes = Vec::new();
        let mut probers = Vec::new();
        let (probe_tx, probe_rx) = mpsc::channel();
        for i in 0..suite.cluster.nodes {
            let netns = NetnsRef::open(topo.node_netns_path(i))?;
            probers.push(
                Prober::new(&netns, 2, epoch, probe_tx.clone())
                    .with_context(|| format!("starting the prober on node {i}"))?,
            );
            let cgroup = cgroups.as_mut().map(|t| t.add_node(i)).transpose()?;
            let dataplane = engine.start_node(
                i,
                NodeStart {
                    netns: &netns,
                    config: svclab_datapath::Config {
                        node: Some(svclab_datapath::NodeNet {
                            addr: svclab_topology::fabric_address(i),
                            pod_cidr: topo.plan().pod_cidr(i),
                            prefix_len: topo.plan().prefix_len(),
                        }),
                        ..config.clone()
                    },
                    gc: suite
                        .datapath
                        .gc_interval
                        .map_or(svclab_datapath::GcSchedule::Dynamic, |d| {
                            svclab_datapath::GcSchedule::Fixed(d.0)
                        }),
                    service_names: service_names(suite),
                    min_sync_period: suite.datapath.min_sync_period.map(|d| d.0),
                    cgroup,
                },
            )?;
            nodes.push(NodeState { dataplane, netns });
        }
        let autoscalers = suite
            .autoscalers
            .iter()
            .map(|a| Autoscaler::new(a, kube_scale, Duration::ZERO))
            .collect();
        // The node-lifecycle controller needs a fabric to renew across.
        let leases = match topo.fabric_netns() {
            Some(fabric) => {
                let fabric = NetnsRef::named(fabric)?;
                let node_ns = nodes
                    .iter()
                    .map(|n: &NodeState| n.netns.try_clone())
                    .collect::<Result<Vec<_>, _>>()?;
                Some(
                    nodelifecycle::NodeLeases::start(
                        &fabric,
                        &node_ns,
                        suite.cluster.node_monitor_grace_period.0,
                        kube_scale,
                    )
                    .context("starting the node leases")?,
                )
            }
            None => None,
        };
        let mut c = Cluster {
            exe,
            epoch,
            zero: None,
            kube_scale,
            probers,
            probe_rx,
            autoscalers,
            gone_pods: Vec::new(),
            ready_min: BTreeMap::new(),
            topo: Some(topo),
            nodes,
            deployments: BTreeMap::new(),
            pods: BTreeMap::new(),
            services: Vec::new(),
            next_host: vec![0; usize::from(suite.cluster.nodes)],
            used_ips: BTreeSet::new(),
            backends: Vec::new(),
            events: Vec::new(),
            run_dir: None,
            proxies: BTreeMap::new(),
            programs: Vec::new(),
            terminations: Vec::new(),
            sigterm_syns: BTreeMap::new(),
            propagation_delay: suite.endpoints.propagation_delay.0.mul_f64(kube_scale),
            endpoint_queue: std::collections::VecDeque::new(),
            applied: BTreeMap::new(),
            rollouts: Vec::new(),
            leases,
            node_windows: Vec::new(),
            zones: suite.cluster.zones.clone(),
            node_views: BTreeMap::new(),
            faults: BTreeMap::new(),
            fault_records: Vec::new(),
            cgroups,
        };
        for d in &suite.deployments {
            c.deployments.insert(
                d.name.clone(),
                DeploymentState {
                    spec: d.clone(),
                    next_ordinal: 0,
                    next_node: 0,
                    revision: 1,
                },
            );
        }
        let node_ports = svclab_suite::model::node_ports(&suite.services);
        for (s, node_port) in suite.services.iter().zip(node_ports) {
            let dep = c.deployments.get(&s.selector).context("service selector")?;
            let frontend = Frontend::tcp(s.cluster_ip, s.port);
            let target_port = s.target_port.unwrap_or(dep.spec.port());
            let internal_local =
                s.internal_traffic_policy == svclab_suite::model::TrafficPolicy::Local;
            for (i, n) in (0u8..).zip(&mut c.nodes) {
                n.dataplane.upsert_service(frontend)?;
                // A dataplane timeout, not a kubelet clock: unscaled.
                n.dataplane.set_session_affinity(frontend, s.affinity())?;
                if let Some(port) = node_port {
                    n.dataplane.set_node_port(
                        frontend,
                        Some(crate::engines::NodePort {
                            port,
                            node_addr: svclab_topology::fabric_address(i),
                            external_local: s.external_local(),
                            internal_local,
                        }),
                    )?;
                }
            }
            c.services.push(ServiceState {
                name: s.name.clone(),
                routing: routing::Routing {
                    local: s.internal_traffic_policy == svclab_suite::model::TrafficPolicy::Local,
                    prefer_close: s.traffic_distribution.is_some(),
                    cilium: matches!(
                        suite.datapath.engine,
                        svclab_suite::model::EngineSpec::Ebpf
                            | svclab_suite::model::EngineSpec::SocketLb
                    ),
                },
                frontend,
                selector: s.selector.clone(),
                target_port,
                node_port,
                external_local: s.external_local(),
            });
        }
        Ok(c)
    }

    fn topo(&mut self) -> anyhow::Result<&mut Topology> {
        self.topo.as_mut().context("topology already torn down")
    }

    /// The kubelet/HPA clock: time since the cluster was built.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Marks the run's t=0 (record times count from here) and returns it.
    /// The endpoints of the pods made before it are in the kernel by then:
    /// handed to every dataplane, and a dataplane that programs them
    /// asynchronously (kube-proxy's syncs) has applied them. Without that
    /// wait a kube-proxy run's first requests met a node with no rules for
    /// the ClusterIP yet (`ENETUNREACH`, 1–2 errors at t=0).
    pub fn start_clock(&mut self) -> anyhow::Result<Instant> {
        self.flush_endpoints()?;
        self.wait_dataplanes_synced(Duration::from_secs(30))?;
        let t0 = Instant::now();
        self.zero = Some(t0);
        Ok(t0)
    }

    /// Seconds since the run's t=0 (0 before it).
    pub fn run_time_s(&self) -> f64 {
        self.zero.map_or(0.0, |z| z.elapsed().as_secs_f64())
    }

    /// A kubelet-clock time as seconds of the run record (0 before t=0).
    pub fn record_s(&self, t: Duration) -> f64 {
        match self.zero {
            Some(z) => t
                .saturating_sub(z.saturating_duration_since(self.epoch))
                .as_secs_f64(),
            None => 0.0,
        }
    }

    /// Turns kubelet changes into events (the caller syncs endpoints).
    pub(super) fn apply_changes(&mut self, pod: &str, changes: Vec<Change>, now_s: f64) -> bool {
        let mut endpoints = false;
        for c in changes {
            match c {
                Change::Ready(true) => {
                    endpoints = true;
                    self.event(now_s, "pod_ready", format!("{pod} ready"), false);
                }
                Change::Ready(false) => {
                    endpoints = true;
                    self.event(now_s, "pod_not_ready", format!("{pod} not ready"), false);
                }
                Change::Restart { count, reason } => {
                    tracing::info!(pod, count, reason, "container restart");
                    self.event(
                        now_s,
                        "restart",
                        format!("{pod} restart #{count}: {reason}"),
                        false,
                    );
                }
            }
        }
        endpoints
    }

    /// One kubelet pass: applies probe results, advances containers (kill
    /// deadlines, exits, back-off), then pushes endpoint changes.
    pub fn kubelet_tick(&mut self) -> anyhow::Result<()> {
        let now = self.now();
        let now_s = self.record_s(now);
        let mut endpoints = false;
        while let Ok(r) = self.probe_rx.try_recv() {
            let Some(p) = self.pods.get_mut(&*r.pod) else {
                continue;
            };
            let changes = p.kubelet.on_probe(&r, now);
            let name = p.name.clone();
            endpoints |= self.apply_changes(&name, changes, now_s);
        }
        let names: Vec<String> = self.pods.keys().cloned().collect();
        for name in names {
            let Some(p) = self.pods.get_mut(&name) else {
                continue;
            };
            let changes = p.kubelet.tick(now)?;
            endpoints |= self.apply_changes(&name, changes, now_s);
        }
        if endpoints {
            self.sync_endpoints()?;
        }
        self.note_ready();
        Ok(())
    }

    /// The autoscalers' settings in words.
    pub fn autoscaler_lines(&self) -> Vec<String> {
        self.autoscalers.iter().map(Autoscaler::describe).collect()
    }

    /// Forgets a pod whose process is gone: detach, delete its netns.
    fn remove(&mut self, name: &str, now_s: f64) -> anyhow::Result<()> {
        let Some(mut p) = self.pods.remove(name) else {
            return Ok(());
        };
        p.kubelet.kill_now();
        // Whatever a program left in its netns (it left its group) goes too.
        programs::kill_netns_processes(&p.kubelet.spec.netns_path);
        let now = self.now();
        // The pod is gone with its process: nothing left to sync.
        let _ = p.kubelet.begin_delete(now);
        self.backends[p.info].removed_s = Some(now_s);
        let rec = self.pod_record(&p, Some(now_s));
        self.gone_pods.push((p.info, rec));
        self.nodes[usize::from(p.node)].dataplane.release(&p.lxc)?;
        self.topo()?.remove_pod(name)?;
        self.used_ips.remove(&p.ip);
        self.event(now_s, "pod_gone", format!("{name} removed"), false);
        Ok(())
    }

    pub fn ready_pods(&self) -> usize {
        self.pods.values().filter(|p| self.pod_ready(p)).count()
    }

    /// Ends every pod process, detaches and unloads the datapaths, deletes
    /// every namespace. Reports every failure.
    pub fn teardown(mut self) -> anyhow::Result<()> {
        let mut errors = Vec::new();
        // Lease threads hold sockets in the node and fabric namespaces.
        self.leases.take();
        // Every pod is signalled first and reaped after, so they die in
        // parallel rather than one wait at a time.
        for p in self.pods.values_mut() {
            p.kubelet.signal_kill();
        }
        for p in self.pods.values_mut() {
            p.kubelet.kill_now();
            if p.kubelet.deleting {
                // A preStop exec still running in the pod goes with it.
                programs::kill_netns_processes(&p.kubelet.spec.netns_path);
            }
        }
        self.terminations.clear();
        self.pods.clear();
        for p in self.proxies.values_mut() {
            p.process.kill();
        }
        self.proxies.clear();
        // Probe tasks end with their pods; the runtimes go before the netns.
        self.probers.clear();
        for n in self.nodes.drain(..) {
            if let Err(e) = n.dataplane.close() {
                errors.push(format!("{e:#}"));
            }
        }
        // Client threads have left their cgroups by now (stopped before
        // teardown; each moves itself back as it ends).
        if let Some(t) = self.cgroups.take()
            && let Err(e) = t.teardown()
        {
            errors.push(format!("{e:#}"));
        }
        if let Some(t) = self.topo.take()
            && let Err(e) = t.teardown()
        {
            errors.push(format!("{e:#}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("teardown: {}", errors.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use svclab_topology::AddrPlan;

    /// The suite's per-node limit and the topology's address plan are the
    /// same arithmetic: every count the suite accepts gets a plan.
    #[test]
    fn the_suite_limit_and_the_address_plan_agree() {
        for nodes in 1..=16u8 {
            let most = svclab_suite::max_pods_per_node(nodes);
            assert_eq!(most, AddrPlan::max_pods_per_node(nodes), "{nodes} nodes");
            assert!(AddrPlan::for_pods(nodes, most).is_some(), "{nodes} nodes");
            assert!(
                AddrPlan::for_pods(nodes, most + 1).is_none(),
                "{nodes} nodes"
            );
        }
    }
}
