//! The cluster control loop: deployments → pods → endpoints → every node's
//! datapath backends, the way EndpointSlices feed Cilium's agent. Pods are
//! netns + a `svclab pod-server` process; a pod becomes an endpoint once its
//! server accepts connections from its node (as a readiness probe would
//! see it). Terminating pods are marked terminating in the datapath before
//! they are removed. Every action is logged as an event for the report.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::{Ipv4Addr, SocketAddrV4},
    path::PathBuf,
    time::Duration,
};

use anyhow::{Context as _, bail};
use svclab_datapath::{
    Backend, BackendState, Config, CtGc, CtReuse, Datapath, Frontend, NetnsRef, Selection,
};
use svclab_report::record::{BackendInfo, Event};
use svclab_suite::model::{CtReuseSpec, SelectionSpec, Suite};
use svclab_topology::{PodSpec, Topology, TopologySpec};

use crate::pods::{self, PodProcess};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Running,
    Terminating,
}

pub struct Pod {
    pub name: String,
    pub deployment: String,
    pub node: u8,
    pub ip: Ipv4Addr,
    pub lxc: String,
    pub phase: Phase,
    process: PodProcess,
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
        self.process.pid
    }
}

impl Cluster {
    /// Builds nodes and loads one datapath per node. Pods come later.
    pub fn build(prefix: &str, suite: &Suite, exe: PathBuf) -> anyhow::Result<Self> {
        let topo = Topology::build(TopologySpec {
            prefix: prefix.to_owned(),
            nodes: suite.cluster.nodes,
        })
        .context("building the topology")?;
        let config = datapath_config(suite);
        let mut nodes = Vec::new();
        for i in 0..suite.cluster.nodes {
            let netns = NetnsRef::open(topo.node_netns_path(i))?;
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
        let mut c = Cluster {
            exe,
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
        let ip = self.alloc_ip(node)?;
        let info = self.topo()?.add_pod(PodSpec {
            name: name.clone(),
            node,
            ip,
        })?;
        let (lxc, netns_path) = (info.lxc.clone(), info.netns_path.clone());
        let n = usize::from(node);
        self.nodes[n].datapath.attach(&lxc)?;
        let process = PodProcess::spawn(&self.exe, &netns_path, &name, &server)?;
        pods::wait_listening(
            &self.nodes[n].netns,
            SocketAddrV4::new(ip, server.port),
            Duration::from_secs(10),
        )?;
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
                phase: Phase::Running,
                process,
                info,
            },
        );
        self.event(
            now_s,
            "pod_ready",
            format!("{name} ready on node {node} at {ip}"),
            false,
        );
        Ok(name)
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
                .map(|p| Backend {
                    addr: SocketAddrV4::new(p.ip, s.target_port),
                    state: match p.phase {
                        Phase::Running => BackendState::Active,
                        Phase::Terminating => BackendState::Terminating,
                    },
                })
                .collect();
            for n in &mut self.nodes {
                n.datapath.set_backends(s.frontend, &backends)?;
            }
        }
        Ok(())
    }

    fn running(&self, deployment: &str) -> Vec<String> {
        // Creation order = ordinal order; names sort by ordinal only when
        // widths match, so sort by the report index.
        let mut v: Vec<&Pod> = self
            .pods
            .values()
            .filter(|p| p.deployment == deployment && p.phase == Phase::Running)
            .collect();
        v.sort_by_key(|p| p.info);
        v.into_iter().map(|p| p.name.clone()).collect()
    }

    /// Sets a deployment's replicas: new pods on scale-up (flagged as the
    /// last scale-up's), newest pods deleted gracefully on scale-down.
    pub fn scale(
        &mut self,
        deployment: &str,
        replicas: u32,
        now_s: f64,
        initial: bool,
    ) -> anyhow::Result<()> {
        let current = self.running(deployment);
        let want = usize::try_from(replicas).unwrap_or(0);
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
            for name in current.iter().skip(want).rev() {
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
                p.process.kill();
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
        if let Some(p) = self.pods.get_mut(name) {
            p.phase = Phase::Terminating;
            let i = p.info;
            self.backends[i].killed |= killed;
        }
        self.sync_endpoints()?;
        if let Some(p) = self.pods.get_mut(name) {
            p.process.terminate(Duration::from_secs(1));
        }
        self.remove(name, now_s)?;
        self.sync_endpoints()
    }

    /// Forgets a pod whose process is gone: detach, delete its netns.
    fn remove(&mut self, name: &str, now_s: f64) -> anyhow::Result<()> {
        let Some(mut p) = self.pods.remove(name) else {
            return Ok(());
        };
        p.process.kill();
        self.backends[p.info].removed_s = Some(now_s);
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
    ) -> anyhow::Result<crate::inspect::RunState> {
        let mut nodes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            nodes.push(crate::inspect::NodeMaps {
                node: u8::try_from(i).unwrap_or(u8::MAX),
                netns: n.netns.name().to_owned(),
                maps: n.map_ids.clone(),
            });
        }
        Ok(crate::inspect::RunState {
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
                .map(|p| crate::inspect::PodState {
                    name: p.name.clone(),
                    deployment: p.deployment.clone(),
                    node: p.node,
                    ip: p.ip.to_string(),
                    phase: format!("{:?}", p.phase),
                    pid: p.pid(),
                })
                .collect(),
        })
    }

    pub fn ready_pods(&self) -> usize {
        self.pods
            .values()
            .filter(|p| p.phase == Phase::Running)
            .count()
    }

    /// Ends every pod process, detaches and unloads the datapaths, deletes
    /// every namespace. Reports every failure.
    pub fn teardown(mut self) -> anyhow::Result<()> {
        let mut errors = Vec::new();
        for p in self.pods.values_mut() {
            p.process.kill();
        }
        self.pods.clear();
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
