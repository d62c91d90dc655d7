//! The cluster control loop: deployments → pods → endpoints → every node's
//! datapath backends, the way EndpointSlices feed Cilium's agent. Pods are
//! netns + a `svclab pod-server` process run by the pod's kubelet
//! (`kubelet.rs`): probes from the node, restarts, back-off. A pod is an
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
use svclab_datapath::{
    Backend, BackendState, Config, CtGc, CtReuse, Datapath, Frontend, NetnsRef, Selection,
};
use svclab_kube::backoff::RestartBackoff;
use svclab_report::record::{BackendInfo, DeploymentBucket, Event, PodBucket, PodRecord};
use svclab_suite::model::{CtReuseSpec, SelectionSpec, Suite};
use svclab_topology::{PodSpec, Topology, TopologySpec};

pub mod autoscaler;
pub mod kubelet;
pub mod pods;
pub mod podserver;
pub mod podstats;
pub mod probe;
pub mod sockdiag;
pub mod state_file;

use self::{
    autoscaler::Autoscaler,
    kubelet::{Change, ContainerSpec, Kubelet},
    probe::{ProbeReport, Prober},
    sockdiag::SockDiag,
};

pub struct Pod {
    pub name: String,
    pub deployment: String,
    pub node: u8,
    pub ip: Ipv4Addr,
    pub lxc: String,
    /// Its kubelet: container, probes, telemetry; `kubelet.deleting` once
    /// the pod is being deleted.
    pub kubelet: Kubelet,
    /// Index into `Cluster::backends` (the report's backend list).
    info: usize,
}

struct DeploymentState {
    spec: svclab_suite::model::Deployment,
    next_ordinal: u32,
    next_node: usize,
}

pub struct NodeState {
    pub datapath: Datapath,
    pub netns: NetnsRef,
    /// Kernel IDs of the datapath's maps (fixed for its lifetime).
    map_ids: BTreeMap<String, u32>,
    _gc: CtGc,
}

struct ServiceState {
    frontend: Frontend,
    selector: String,
    target_port: u16,
}

pub struct Cluster {
    exe: PathBuf,
    /// The kubelet/HPA clock starts here; see [`Cluster::now`].
    epoch: Instant,
    /// The run's t=0 (clients start), set by [`Cluster::start_clock`].
    zero: Option<Instant>,
    /// kubelet/HPA time scale (suite × command line).
    pub kube_scale: f64,
    /// One prober per node (probes run from the node netns). Declared
    /// before `topo`: dropped first.
    probers: Vec<Prober>,
    probe_rx: mpsc::Receiver<ProbeReport>,
    autoscalers: Vec<Autoscaler>,
    /// Records of pods already removed.
    gone_pods: Vec<(usize, PodRecord)>,
    /// Lowest ready count per deployment since the last bucket closed.
    ready_min: BTreeMap<String, u32>,
    topo: Option<Topology>,
    pub nodes: Vec<NodeState>,
    deployments: BTreeMap<String, DeploymentState>,
    /// Live pods (running or terminating), by name.
    pub pods: BTreeMap<String, Pod>,
    services: Vec<ServiceState>,
    next_host: Vec<u8>,
    used_ips: BTreeSet<Ipv4Addr>,
    /// Every backend pod ever created, for the run record.
    pub backends: Vec<BackendInfo>,
    pub events: Vec<Event>,
}

pub fn datapath_config(suite: &Suite) -> Config {
    let d = &suite.datapath;
    Config {
        selection: match d.selection {
            SelectionSpec::Random => Selection::Random,
            SelectionSpec::Maglev => Selection::Maglev {
                table_size: d.maglev_table_size,
            },
        },
        ct_reuse: match d.ct_reuse {
            CtReuseSpec::Legacy => CtReuse::Legacy,
            CtReuseSpec::CloseRebalance => CtReuse::CloseRebalance {
                grace: d.rebalance_grace.0,
            },
        },
        timeouts: svclab_datapath::CtTimeouts {
            syn: d.timeouts.syn.0,
            tcp: d.timeouts.tcp.0,
            close: d.timeouts.close.0,
            non_tcp: d.timeouts.non_tcp.0,
        },
        ct_map_size: d.ct_map_size,
        hash_seed: u32::try_from(suite.seed & 0xffff_ffff).unwrap_or(1),
    }
}

impl Pod {
    pub fn pid(&self) -> u32 {
        self.kubelet.pid().unwrap_or(0)
    }
}

impl Cluster {
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
            let datapath = Datapath::load(netns.try_clone()?, config.clone())
                .with_context(|| format!("loading the datapath on node {i}"))?;
            let gc = datapath.start_gc(suite.datapath.gc_interval.0)?;
            let map_ids = datapath.map_ids()?;
            nodes.push(NodeState {
                datapath,
                netns,
                map_ids,
                _gc: gc,
            });
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
            let target_port = s.target_port.unwrap_or(dep.spec.server.port);
            for n in &mut c.nodes {
                n.datapath.upsert_service(frontend)?;
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

    /// Creates a client pod (netns only; the client runs as a thread in it).
    pub fn add_client_pod(&mut self, name: &str, node: u8) -> anyhow::Result<(Ipv4Addr, PathBuf)> {
        let ip = self.alloc_ip(node)?;
        let pod_name = format!("client-{name}");
        let info = self.topo()?.add_pod(PodSpec {
            name: pod_name,
            node,
            ip,
        })?;
        let (lxc, path) = (info.lxc.clone(), info.netns_path.clone());
        self.nodes[usize::from(node)].datapath.attach(&lxc)?;
        Ok((ip, path))
    }

    pub fn set_sysctl_in_client(&self, name: &str, key: &str, value: &str) -> anyhow::Result<()> {
        let topo = self.topo.as_ref().context("topology gone")?;
        let pod = topo
            .pod(&format!("client-{name}"))
            .with_context(|| format!("no client pod {name}"))?;
        topo.set_sysctl(&pod.netns, key, value)?;
        Ok(())
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
        self.nodes[n].datapath.attach(&lxc)?;
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
        let spec = ContainerSpec {
            exe: self.exe.clone(),
            netns_path,
            name: name.clone(),
            server: server.clone(),
            grace,
        };
        let now = self.now();
        let (kubelet, changes) = Kubelet::start(
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
        if !gated {
            // No probe decides readiness: ready once the server accepts
            // connections from its node, which is what kubelet's "started"
            // would mean for a container without probes.
            pods::wait_listening(
                &self.nodes[n].netns,
                SocketAddrV4::new(ip, server.port),
                Duration::from_secs(10) + server.startup_time.0,
            )?;
        }
        self.backends.push(BackendInfo {
            name: name.clone(),
            addr: SocketAddrV4::new(ip, server.port).to_string(),
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

    fn ready_of(&self, deployment: &str) -> u32 {
        let n = self
            .pods
            .values()
            .filter(|p| p.deployment == deployment && p.kubelet.ready())
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn note_ready(&mut self) {
        let names: Vec<String> = self.deployments.keys().cloned().collect();
        for d in names {
            let r = self.ready_of(&d);
            let m = self.ready_min.entry(d).or_insert(r);
            *m = (*m).min(r);
        }
    }

    /// One telemetry sample of every pod (accept queue, busy workers).
    pub fn sample_pods(&mut self) {
        let now = self.now();
        for p in self.pods.values_mut() {
            let window = self
                .autoscalers
                .iter()
                .filter(|a| a.deployment == p.deployment)
                .map(|a| a.sync)
                .max();
            p.kubelet.sample(now, window);
        }
    }

    /// Closes a bucket: per-pod and per-deployment figures since the last call.
    pub fn take_buckets(
        &mut self,
    ) -> (
        BTreeMap<String, PodBucket>,
        BTreeMap<String, DeploymentBucket>,
    ) {
        let pods = self
            .pods
            .iter_mut()
            .map(|(n, p)| (n.clone(), p.kubelet.take_bucket()))
            .collect();
        let mut deps = BTreeMap::new();
        let names: Vec<String> = self.deployments.keys().cloned().collect();
        for d in names {
            let ready = self.ready_of(&d);
            let hpa = self.autoscalers.iter().find(|a| a.deployment == d);
            let dep = DeploymentBucket {
                desired: self.deployments[&d].spec.replicas,
                pods: u32::try_from(self.pods.values().filter(|p| p.deployment == d).count())
                    .unwrap_or(u32::MAX),
                ready,
                ready_min: self.ready_min.remove(&d).unwrap_or(ready).min(ready),
                hpa_desired: hpa.and_then(|a| a.last.as_ref()).map(|l| l.desired),
                hpa_metric: hpa
                    .and_then(|a| a.last.as_ref())
                    .and_then(|l| l.recommendation.as_ref())
                    .and_then(|r| r.usage),
            };
            deps.insert(d, dep);
        }
        (pods, deps)
    }

    /// Runs every autoscaler whose sync period is due.
    pub fn autoscale(&mut self) -> anyhow::Result<()> {
        let now = self.now();
        let now_s = self.record_s(now);
        for i in 0..self.autoscalers.len() {
            if !self.autoscalers[i].due(now) {
                continue;
            }
            let dep = self.autoscalers[i].deployment.clone();
            let kind = self.autoscalers[i].metric;
            let window = self.autoscalers[i].sync;
            let views: Vec<svclab_kube::hpa::PodView> = self
                .pods
                .values()
                .filter(|p| p.deployment == dep)
                .map(|p| {
                    let k = &p.kubelet;
                    svclab_kube::hpa::PodView {
                        name: p.name.clone(),
                        pending: k.phase() == svclab_report::record::PodPhase::Pending,
                        deleting: p.kubelet.deleting,
                        failed: false,
                        ready: k.ready(),
                        start: k.phases.first().map_or(Duration::ZERO, |(t, _)| *t),
                        ready_transition: k.ready_transition,
                        metric: k.hpa_metric(kind, now, window).map(|value| {
                            svclab_kube::hpa::PodMetric {
                                value,
                                timestamp: now,
                                window,
                            }
                        }),
                    }
                })
                .collect();
            let current = self.deployments.get(&dep).map_or(0, |d| d.spec.replicas);
            let d = self.autoscalers[i].reconcile(now, current, &views);
            let rec = d.recommendation.clone().unwrap_or_default();
            tracing::info!(
                deployment = dep,
                current,
                desired = d.desired,
                usage = ?rec.usage,
                ready = rec.ready,
                unready = rec.unready,
                missing = rec.missing,
                limited_by = ?d.limited_by,
                "hpa sync"
            );
            if d.desired != current {
                self.event(
                    now_s,
                    "hpa_scale",
                    format!(
                        "HPA {dep} {current} → {} (metric {}, {} ready, {} not ready, {} missing)",
                        d.desired,
                        rec.usage.map_or("n/a".to_owned(), |u| format!("{u:.2}")),
                        rec.ready,
                        rec.unready,
                        rec.missing
                    ),
                    false,
                );
                self.scale(&dep, d.desired, now_s, false)?;
            }
        }
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
                n.datapath.set_backends(s.frontend, &backends)?;
            }
        }
        Ok(())
    }

    /// The deployment's pods that are not being deleted, oldest first.
    fn running(&self, deployment: &str) -> Vec<String> {
        // Creation order = ordinal order; names sort by ordinal only when
        // widths match, so sort by the report index.
        let mut v: Vec<&Pod> = self
            .pods
            .values()
            .filter(|p| p.deployment == deployment && !p.kubelet.deleting)
            .collect();
        v.sort_by_key(|p| p.info);
        v.into_iter().map(|p| p.name.clone()).collect()
    }

    /// Which pods a scale-down deletes first, as the ReplicaSet controller
    /// ranks them: not ready before ready, more restarts before fewer,
    /// newer before older.
    fn scale_down_order(&self, deployment: &str) -> Vec<String> {
        let mut v: Vec<&Pod> = self
            .pods
            .values()
            .filter(|p| p.deployment == deployment && !p.kubelet.deleting)
            .collect();
        v.sort_by_key(|p| {
            (
                p.kubelet.ready(),
                std::cmp::Reverse(p.kubelet.restarts),
                std::cmp::Reverse(p.info),
            )
        });
        v.into_iter().map(|p| p.name.clone()).collect()
    }

    /// Sets a deployment's replicas: new pods on scale-up (flagged as the
    /// last scale-up's); on scale-down pods are deleted gracefully in the
    /// ReplicaSet controller's order ([`Cluster::scale_down_order`]).
    pub fn scale(
        &mut self,
        deployment: &str,
        replicas: u32,
        now_s: f64,
        initial: bool,
    ) -> anyhow::Result<()> {
        let current = self.running(deployment);
        let want = usize::try_from(replicas).unwrap_or(0);
        if let Some(d) = self.deployments.get_mut(deployment) {
            d.spec.replicas = replicas;
        }
        if want > current.len() {
            let mut added = Vec::new();
            for _ in current.len()..want {
                added.push(self.create_pod(deployment, now_s, false)?);
            }
            if !initial {
                for b in &mut self.backends {
                    if b.deployment == deployment {
                        b.added_by_last_scale_up = added.contains(&b.name);
                    }
                }
            }
        } else {
            let victims: Vec<String> = self
                .scale_down_order(deployment)
                .into_iter()
                .take(current.len() - want)
                .collect();
            for name in &victims {
                self.delete(name, now_s, false)?;
            }
        }
        self.sync_endpoints()
    }

    /// SIGKILLs the `count` oldest running pods of `deployment` and replaces them.
    pub fn kill(
        &mut self,
        deployment: &str,
        count: u32,
        now_s: f64,
    ) -> anyhow::Result<Vec<String>> {
        let victims: Vec<String> = self
            .running(deployment)
            .into_iter()
            .take(usize::try_from(count).unwrap_or(0))
            .collect();
        for v in &victims {
            if let Some(p) = self.pods.get_mut(v) {
                p.kubelet.kill_now();
                let i = p.info;
                self.backends[i].killed = true;
            }
            self.remove(v, now_s)?;
        }
        self.sync_endpoints()?;
        for _ in &victims {
            self.create_pod(deployment, now_s, true)?;
        }
        self.sync_endpoints()?;
        Ok(victims)
    }

    /// Deletes the `index`-th running pod gracefully: terminating in the
    /// datapath first (existing flows drain), SIGTERM, then removal; replaced.
    pub fn delete_pod(
        &mut self,
        deployment: &str,
        index: u32,
        now_s: f64,
    ) -> anyhow::Result<String> {
        let running = self.running(deployment);
        let name = running
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .cloned()
            .with_context(|| format!("{deployment} has no running pod #{index}"))?;
        self.delete(&name, now_s, true)?;
        self.create_pod(deployment, now_s, true)?;
        self.sync_endpoints()?;
        Ok(name)
    }

    fn delete(&mut self, name: &str, now_s: f64, killed: bool) -> anyhow::Result<()> {
        let now = self.now();
        if let Some(p) = self.pods.get_mut(name) {
            p.kubelet.begin_delete(now);
            let i = p.info;
            self.backends[i].killed |= killed;
        }
        self.sync_endpoints()?;
        if let Some(p) = self.pods.get_mut(name) {
            // The pod server exits on SIGTERM at once; the grace is the bound.
            let grace = p.kubelet.spec.grace;
            p.kubelet.terminate(grace);
        }
        self.remove(name, now_s)?;
        self.sync_endpoints()
    }

    /// Forgets a pod whose process is gone: detach, delete its netns.
    fn remove(&mut self, name: &str, now_s: f64) -> anyhow::Result<()> {
        let Some(mut p) = self.pods.remove(name) else {
            return Ok(());
        };
        p.kubelet.kill_now();
        let now = self.now();
        p.kubelet.begin_delete(now);
        self.backends[p.info].removed_s = Some(now_s);
        let rec = self.pod_record(&p, Some(now_s));
        self.gone_pods.push((p.info, rec));
        self.nodes[usize::from(p.node)].datapath.detach(&p.lxc)?;
        self.topo()?.remove_pod(name)?;
        self.used_ips.remove(&p.ip);
        self.event(now_s, "pod_gone", format!("{name} removed"), false);
        Ok(())
    }

    pub fn flush_ct(&mut self, node: Option<u8>) -> anyhow::Result<u64> {
        let mut n = 0;
        for (i, st) in self.nodes.iter_mut().enumerate() {
            if node.is_none_or(|x| usize::from(x) == i) {
                n += st.datapath.ct_flush()?;
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

    /// What `svclab inspect` needs to find this run's maps and name things.
    pub fn state(
        &self,
        run_id: &str,
        prefix: &str,
        held: bool,
    ) -> anyhow::Result<state_file::RunState> {
        let mut nodes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            nodes.push(state_file::NodeMaps {
                node: u8::try_from(i).unwrap_or(u8::MAX),
                netns: n.netns.name().to_owned(),
                maps: n.map_ids.clone(),
            });
        }
        Ok(state_file::RunState {
            run_id: run_id.to_owned(),
            prefix: prefix.to_owned(),
            pid: std::process::id(),
            held,
            nodes,
            backends: self
                .backends
                .iter()
                .map(|b| (b.addr.clone(), b.name.clone()))
                .collect(),
            pods: self
                .pods
                .values()
                .map(|p| state_file::PodState {
                    name: p.name.clone(),
                    deployment: p.deployment.clone(),
                    node: p.node,
                    ip: p.ip.to_string(),
                    phase: p.kubelet.phase().word().to_owned(),
                    pid: p.pid(),
                })
                .collect(),
        })
    }

    pub fn ready_pods(&self) -> usize {
        self.pods.values().filter(|p| p.kubelet.ready()).count()
    }

    fn pod_record(&self, p: &Pod, removed_s: Option<f64>) -> PodRecord {
        let (phases, restarts) = p.kubelet.record_parts(|t| self.record_s(t));
        let b = &self.backends[p.info];
        PodRecord {
            name: p.name.clone(),
            deployment: p.deployment.clone(),
            node: p.node,
            ip: p.ip.to_string(),
            created_s: b.created_s,
            removed_s,
            phases,
            restarts,
            backlog: p.kubelet.spec.server.backlog,
            workers: p.kubelet.spec.server.workers,
        }
    }

    /// Every pod's lifecycle record (removed and live), in creation order.
    pub fn pod_records(&self) -> Vec<PodRecord> {
        let mut v: Vec<(usize, PodRecord)> = self.gone_pods.clone();
        for p in self.pods.values() {
            v.push((p.info, self.pod_record(p, None)));
        }
        v.sort_by_key(|(i, _)| *i);
        v.into_iter().map(|(_, r)| r).collect()
    }

    /// Ends every pod process, detaches and unloads the datapaths, deletes
    /// every namespace. Reports every failure.
    pub fn teardown(mut self) -> anyhow::Result<()> {
        let mut errors = Vec::new();
        for p in self.pods.values_mut() {
            p.kubelet.kill_now();
        }
        self.pods.clear();
        // Probe tasks end with their pods; the runtimes go before the netns.
        self.probers.clear();
        for n in self.nodes.drain(..) {
            if let Err(e) = n.datapath.close() {
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
