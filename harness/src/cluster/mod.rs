//! The cluster: its state, how it is built and torn down, and the control
//! loop's kubelet pass. Deployments → pods → endpoints → every node's
//! dataplane (`endpoints.rs`, through the [`Dataplane`] trait), the way
//! EndpointSlices feed Cilium's agent; scale, kill and delete in
//! `scale.rs`; what the run record gets in `records.rs`. Pods are
//! netns + a `svclab pod-server` process, or a real program under the
//! `svclab container-run` shim (`programs/`, chosen in `containers.rs`),
//! run by the pod's kubelet (`kubelet/`): probes from the node, restarts,
//! back-off. Client pods, and the nginx a client may run in front of the
//! service, are in `client_pods.rs`. A pod is an
//! active endpoint while it is Ready (readiness passing, or, without
//! readiness and startup probes, once its server accepts connections from
//! its node); a not-ready pod is left out of the service's backends, and a
//! deleted pod is marked terminating before it is removed, as Cilium does
//! with EndpointSlice conditions. Autoscalers (`autoscaler.rs`) scale
//! deployments on the pods' telemetry. Every change is logged as an event.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::{Ipv4Addr, SocketAddrV4},
    path::PathBuf,
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use svclab_datapath::{Frontend, NetnsRef};
use svclab_kube::backoff::RestartBackoff;
use svclab_report::record::{BackendInfo, Event};
use svclab_suite::model::{EngineSpec, Suite, Workload};
use svclab_topology::{PodSpec, Topology, TopologySpec};

pub mod autoscaler;
mod client_pods;
mod containers;
pub mod dataplane;
pub mod dpconfig;
mod endpoints;
pub mod kubelet;
pub mod kubeproxy;
pub mod pods;
pub mod podserver;
pub mod podstats;
pub mod probe;
pub mod programs;
mod records;
mod scale;
pub mod sockdiag;
mod state;
pub mod state_file;

use self::{
    autoscaler::Autoscaler,
    dataplane::EbpfDataplane,
    kubelet::{Change, ContainerSpec, Kubelet},
    kubeproxy::KubeProxyDataplane,
    probe::Prober,
    sockdiag::SockDiag,
    state::{DeploymentState, ServiceState},
};
pub use self::{
    dpconfig::datapath_config,
    state::{Cluster, NodeState, Pod},
};

/// Service frontend → name (kube-proxy's chain names hash the name).
fn service_names(suite: &Suite) -> BTreeMap<Frontend, String> {
    suite
        .services
        .iter()
        .map(|s| (Frontend::tcp(s.cluster_ip, s.port), s.name.clone()))
        .collect()
}

/// Whether this machine has what `engine` needs, before any kernel state
/// exists (exit 2 with the reason otherwise).
pub fn check_engine(engine: EngineSpec) -> Result<(), String> {
    match engine {
        EngineSpec::Ebpf => Ok(()),
        EngineSpec::KubeProxyIptables | EngineSpec::KubeProxyNftables => {
            kubeproxy::check_machine(kube_proxy_mode(engine))
        }
    }
}

fn kube_proxy_mode(engine: EngineSpec) -> kubeproxy::Mode {
    if engine == EngineSpec::KubeProxyNftables {
        kubeproxy::Mode::Nftables
    } else {
        kubeproxy::Mode::Iptables
    }
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
        let topo = Topology::build(TopologySpec {
            prefix: prefix.to_owned(),
            nodes: suite.cluster.nodes,
        })
        .context("building the topology")?;
        let config = datapath_config(suite);
        let mut nodes = Vec::new();
        let mut probers = Vec::new();
        let (probe_tx, probe_rx) = mpsc::channel();
        for i in 0..suite.cluster.nodes {
            let netns = NetnsRef::open(topo.node_netns_path(i))?;
            probers.push(
                Prober::new(&netns, 2, epoch, probe_tx.clone())
                    .with_context(|| format!("starting the prober on node {i}"))?,
            );
            let dataplane: Box<dyn dataplane::Dataplane> = match suite.datapath.engine {
                EngineSpec::Ebpf => Box::new(
                    EbpfDataplane::load(&netns, config.clone(), suite.datapath.gc_interval.0)
                        .with_context(|| format!("loading the datapath on node {i}"))?,
                ),
                EngineSpec::KubeProxyIptables | EngineSpec::KubeProxyNftables => Box::new(
                    KubeProxyDataplane::start(
                        kube_proxy_mode(suite.datapath.engine),
                        &netns,
                        service_names(suite),
                        suite
                            .datapath
                            .min_sync_period
                            .map_or(kubeproxy::DEFAULT_MIN_SYNC_PERIOD, |d| d.0),
                    )
                    .with_context(|| format!("starting kube-proxy on node {i}"))?,
                ),
            };
            nodes.push(NodeState { dataplane, netns });
        }
        let autoscalers = suite
            .autoscalers
            .iter()
            .map(|a| Autoscaler::new(a, kube_scale, Duration::ZERO))
            .collect();
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
            next_host: vec![2; usize::from(suite.cluster.nodes)],
            used_ips: BTreeSet::new(),
            backends: Vec::new(),
            events: Vec::new(),
            run_dir: None,
            proxies: BTreeMap::new(),
            programs: Vec::new(),
        };
        for d in &suite.deployments {
            c.deployments.insert(
                d.name.clone(),
                DeploymentState {
                    spec: d.clone(),
                    next_ordinal: 0,
                    next_node: 0,
                },
            );
        }
        for s in &suite.services {
            let dep = c.deployments.get(&s.selector).context("service selector")?;
            let frontend = Frontend::tcp(s.cluster_ip, s.port);
            let target_port = s.target_port.unwrap_or(dep.spec.port());
            for n in &mut c.nodes {
                n.dataplane.upsert_service(frontend)?;
            }
            c.services.push(ServiceState {
                frontend,
                selector: s.selector.clone(),
                target_port,
            });
        }
        Ok(c)
    }

    fn topo(&mut self) -> anyhow::Result<&mut Topology> {
        self.topo.as_mut().context("topology already torn down")
    }

    fn alloc_ip(&mut self, node: u8) -> anyhow::Result<Ipv4Addr> {
        let n = usize::from(node);
        for _ in 0..253 {
            let host = self.next_host[n];
            self.next_host[n] = if host >= 254 { 2 } else { host + 1 };
            let ip = Ipv4Addr::new(198, 18, node, host);
            if !self.used_ips.contains(&ip) {
                self.used_ips.insert(ip);
                return Ok(ip);
            }
        }
        bail!("node {node}: no free pod IP in 198.18.{node}.0/24")
    }

    /// Creates one backend pod of `deployment` and waits until it listens.
    fn create_pod(
        &mut self,
        deployment: &str,
        now_s: f64,
        replacement: bool,
    ) -> anyhow::Result<String> {
        let nodes = self.nodes.len();
        let d = self
            .deployments
            .get_mut(deployment)
            .context("unknown deployment")?;
        let name = format!("{deployment}-{}", d.next_ordinal);
        d.next_ordinal += 1;
        let placement: Vec<u8> = if d.spec.nodes.is_empty() {
            (0..u8::try_from(nodes).unwrap_or(1)).collect()
        } else {
            d.spec.nodes.clone()
        };
        let node = placement[d.next_node % placement.len()];
        d.next_node += 1;
        let dspec = d.spec.clone();
        let server = d.spec.server.clone();
        let probes = d.spec.probes.clone();
        let grace = d.spec.termination_grace.0.mul_f64(self.kube_scale);
        let ip = self.alloc_ip(node)?;
        let info = self.topo()?.add_pod(PodSpec {
            name: name.clone(),
            node,
            ip,
        })?;
        let (lxc, netns_path) = (info.lxc.clone(), info.netns_path.clone());
        let n = usize::from(node);
        self.nodes[n].dataplane.attach(&lxc)?;
        // The accept-queue reader lives in the pod netns; without it the
        // run goes on with no queue figures for this pod.
        let diag = match NetnsRef::open(&netns_path)
            .map_err(anyhow::Error::from)
            .and_then(|ns| SockDiag::open_in(&ns))
        {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(pod = %name, "no sock_diag socket: {e:#}");
                None
            }
        };
        let port = dspec.port();
        let program = self.program_for(&dspec, &name, ip)?;
        let (backlog, workers) = match dspec.workload() {
            Workload::PodServer(s) => (s.backlog, s.workers),
            Workload::Nginx(n) => (n.backlog, n.worker_processes),
            Workload::Container(_) => (0, 0),
        };
        let spec = ContainerSpec {
            exe: self.exe.clone(),
            netns_path,
            name: name.clone(),
            server: server.clone(),
            program,
            port,
            backlog,
            workers,
            grace,
        };
        let is_program = spec.program.is_some();
        let now = self.now();
        let (mut kubelet, changes) = Kubelet::start(
            spec,
            &probes,
            self.kube_scale,
            ip,
            &self.probers[n],
            RestartBackoff::kubelet(self.kube_scale),
            diag,
            now,
        )?;
        let gated = probes.readiness.is_some() || probes.startup.is_some();
        if !gated && is_program {
            // A real program may take a moment to listen, or exit at once
            // (kubelet then backs off): wait while it runs, never fail.
            let ns = &self.nodes[n].netns;
            let addr = SocketAddrV4::new(ip, port);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !kubelet.container_exited() {
                if pods::wait_listening(ns, addr, Duration::from_millis(100)).is_ok() {
                    break;
                }
            }
        } else if !gated {
            // No probe decides readiness: ready once the server accepts
            // connections from its node, which is what kubelet's "started"
            // would mean for a container without probes.
            pods::wait_listening(
                &self.nodes[n].netns,
                SocketAddrV4::new(ip, port),
                Duration::from_secs(10) + server.startup_time.0,
            )?;
        }
        self.backends.push(BackendInfo {
            name: name.clone(),
            addr: SocketAddrV4::new(ip, port).to_string(),
            deployment: deployment.to_owned(),
            node,
            created_s: now_s,
            removed_s: None,
            added_by_last_scale_up: false,
            killed: false,
            replacement,
        });
        let info = self.backends.len() - 1;
        self.pods.insert(
            name.clone(),
            Pod {
                name: name.clone(),
                deployment: deployment.to_owned(),
                node,
                ip,
                lxc,
                kubelet,
                info,
            },
        );
        self.event(
            now_s,
            "pod_created",
            format!("{name} created on node {node} at {ip}"),
            false,
        );
        self.apply_changes(&name, changes, now_s);
        Ok(name)
    }

    /// The kubelet/HPA clock: time since the cluster was built.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Marks the run's t=0 (record times count from here).
    pub fn start_clock(&mut self, t0: Instant) {
        self.zero = Some(t0);
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
    fn apply_changes(&mut self, pod: &str, changes: Vec<Change>, now_s: f64) -> bool {
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

    pub fn event(&mut self, t_s: f64, kind: &str, detail: String, timeline: bool) {
        self.events.push(Event {
            t_s,
            kind: kind.to_owned(),
            detail,
            timeline,
        });
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
        p.kubelet.begin_delete(now);
        self.backends[p.info].removed_s = Some(now_s);
        let rec = self.pod_record(&p, Some(now_s));
        self.gone_pods.push((p.info, rec));
        self.nodes[usize::from(p.node)].dataplane.detach(&p.lxc)?;
        self.topo()?.remove_pod(name)?;
        self.used_ips.remove(&p.ip);
        self.event(now_s, "pod_gone", format!("{name} removed"), false);
        Ok(())
    }

    pub fn ready_pods(&self) -> usize {
        self.pods.values().filter(|p| p.kubelet.ready()).count()
    }

    /// Ends every pod process, detaches and unloads the datapaths, deletes
    /// every namespace. Reports every failure.
    pub fn teardown(mut self) -> anyhow::Result<()> {
        let mut errors = Vec::new();
        for p in self.pods.values_mut() {
            p.kubelet.kill_now();
        }
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
