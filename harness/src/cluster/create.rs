//! Pod creation: addresses from the node's pod CIDR, a ReplicaSet's
//! creations as one batch (namespaces and veths, the dataplane on every
//! lxc, accept-queue readers, every container started by its kubelet), and
//! the wait for pods no probe gates to listen.
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddrV4},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use svclab_datapath::NetnsRef;
use svclab_kube::backoff::RestartBackoff;
use svclab_suite::model::Workload;
use svclab_topology::PodSpec;

use super::state::{Cluster, Pod};
use crate::{
    kubelet::{Change, ContainerSpec, Kubelet, pods},
    podserver::sockdiag::SockDiag,
};

impl Cluster {
    pub(super) fn alloc_ip(&mut self, node: u8) -> anyhow::Result<Ipv4Addr> {
        let n = usize::from(node);
        let plan = self.topo()?.plan();
        let room = plan.pods_per_node();
        for _ in 0..room {
            let k = self.next_host[n];
            self.next_host[n] = (k + 1) % room;
            let ip = plan.pod_ip(node, k).context("pod address")?;
            if !self.used_ips.contains(&ip) {
                self.used_ips.insert(ip);
                return Ok(ip);
            }
        }
        bail!(
            "node {node}: no free pod IP in {}/{}",
            plan.pod_cidr(node),
            plan.prefix_len()
        )
    }

    /// Creates one backend pod of `deployment` and waits until it listens.
    pub(super) fn create_pod(
        &mut self,
        deployment: &str,
        now_s: f64,
        replacement: bool,
    ) -> anyhow::Result<String> {
        let mut v = self.create_pods(deployment, 1, now_s, replacement)?;
        v.pop().context("no pod created")
    }

    /// Creates `count` backend pods of `deployment` as one batch, the way
    /// a ReplicaSet's creations reach kubelets at once: every namespace
    /// and veth in one topology batch (parallel across its workers), the
    /// dataplane on every lxc, every container started, then one wait for
    /// all of them to listen. Pods are recorded in creation order.
    pub(super) fn create_pods(
        &mut self,
        deployment: &str,
        count: usize,
        now_s: f64,
        replacement: bool,
    ) -> anyhow::Result<Vec<String>> {
        let nodes = self.nodes.len();
        let schedulable: Vec<bool> = (0..u8::try_from(nodes).unwrap_or(1))
            .map(|n| self.schedulable(n))
            .collect();
        let d = self
            .deployments
            .get_mut(deployment)
            .context("unknown deployment")?;
        let allowed: Vec<u8> = if d.spec.nodes.is_empty() {
            (0..u8::try_from(nodes).unwrap_or(1)).collect()
        } else {
            d.spec.nodes.clone()
        };
        // Not onto a NotReady node; if every allowed node is NotReady the
        // pod would stay Pending in Kubernetes, which svclab does not
        // model: it goes where it would have gone.
        let ready: Vec<u8> = allowed
            .iter()
            .copied()
            .filter(|&n| schedulable.get(usize::from(n)).copied().unwrap_or(true))
            .collect();
        let placement = if ready.is_empty() { allowed } else { ready };
        let mut specs = Vec::with_capacity(count);
        for _ in 0..count {
            let name = format!("{deployment}-{}", d.next_ordinal);
            d.next_ordinal += 1;
            let node = placement[d.next_node % placement.len()];
            d.next_node += 1;
            specs.push(PodSpec {
                name,
                node,
                ip: std::net::Ipv4Addr::UNSPECIFIED,
            });
        }
        let dspec = d.spec.clone();
        let revision = d.revision;
        for s in &mut specs {
            s.ip = self.alloc_ip(s.node)?;
        }
        let t0 = Instant::now();
        let infos = self.topo()?.add_pods(specs)?;
        let t_topo = t0.elapsed();
        let server = dspec.server.clone();
        let probes = dspec.probes.clone();
        let grace = dspec.termination_grace.0.mul_f64(self.kube_scale);
        let port = dspec.port();
        let (backlog, workers) = match dspec.workload() {
            Workload::PodServer(s) => (s.backlog, s.workers),
            Workload::Nginx(n) => (n.backlog, n.worker_processes),
            Workload::Container(_) => (0, 0),
        };
        let gated = probes.readiness.is_some() || probes.startup.is_some();
        for (n, node) in self.nodes.iter_mut().enumerate() {
            let lxcs: Vec<&str> = infos
                .iter()
                .filter(|i| usize::from(i.node) == n)
                .map(|i| i.lxc.as_str())
                .collect();
            if !lxcs.is_empty() {
                node.dataplane.attach_many(&lxcs)?;
            }
        }
        // The accept-queue readers live in the pod netns; without one the
        // run goes on with no queue figures for that pod.
        let netns = infos
            .iter()
            .map(|i| NetnsRef::open(&i.netns_path))
            .collect::<Result<Vec<_>, _>>()?;
        let diags = SockDiag::open_in_each(&netns);
        let mut started = Vec::with_capacity(infos.len());
        for (info, diag) in infos.into_iter().zip(diags) {
            let (name, node, ip) = (info.name.clone(), info.node, info.ip);
            let n = usize::from(node);
            let diag = match diag {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!(pod = %name, "no sock_diag socket: {e:#}");
                    None
                }
            };
            let program = self.program_for(&dspec, &name, ip)?;
            let spec = ContainerSpec {
                exe: self.exe.clone(),
                netns_path: info.netns_path.clone(),
                name: name.clone(),
                server: server.clone(),
                program,
                port,
                backlog,
                workers,
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
            started.push((info, kubelet, changes));
        }
        let t_start = t0.elapsed();
        if !gated {
            self.wait_started(&mut started, port, server.startup_time.0)?;
        }
        tracing::info!(
            deployment,
            count,
            netns_ms = t_topo.as_millis(),
            started_ms = t_start.as_millis(),
            listening_ms = t0.elapsed().as_millis(),
            "pods created"
        );
        let mut names = Vec::with_capacity(started.len());
        for (info, kubelet, changes) in started {
            let (name, node, ip) = (info.name, info.node, info.ip);
            let idx = self.note_backend(
                &name,
                SocketAddrV4::new(ip, port),
                deployment,
                node,
                now_s,
                replacement,
                revision,
            );
            self.pods.insert(
                name.clone(),
                Pod {
                    name: name.clone(),
                    deployment: deployment.to_owned(),
                    node,
                    ip,
                    lxc: info.lxc,
                    kubelet,
                    info: idx,
                    revision,
                    evicted_s: None,
                },
            );
            self.event(
                now_s,
                "pod_created",
                format!("{name} created on node {node} at {ip}"),
                false,
            );
            self.apply_changes(&name, changes, now_s);
            names.push(name);
        }
        Ok(names)
    }

    /// For pods no probe gates: waits until each listens, as seen from its
    /// node (kubelet's "started" for a container without probes). A pod
    /// server must listen within 10 s plus its startup time; a real
    /// program may take a moment or exit at once (kubelet then backs off),
    /// so it is waited for while it runs, up to 10 s, and never fails the
    /// batch. All pods are polled in turn, so a batch waits about as long
    /// as its slowest pod.
    fn wait_started(
        &self,
        started: &mut [(svclab_topology::PodInfo, Kubelet, Vec<Change>)],
        port: u16,
        startup: Duration,
    ) -> anyhow::Result<()> {
        let t0 = Instant::now();
        let mut pending: Vec<usize> = (0..started.len()).collect();
        while !pending.is_empty() {
            // Pods to try this round, by node: one thread in each node's
            // netns tries all of that node's pods.
            let mut by_node: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
            for &i in &pending {
                let (info, kubelet, _) = &mut started[i];
                let program = kubelet.spec.program.is_some();
                if program && (kubelet.container_exited() || t0.elapsed() > Duration::from_secs(10))
                {
                    continue;
                }
                by_node.entry(info.node).or_default().push(i);
            }
            let mut still = Vec::with_capacity(pending.len());
            for (node, idx) in by_node {
                let addrs: Vec<SocketAddrV4> = idx
                    .iter()
                    .map(|&i| SocketAddrV4::new(started[i].0.ip, port))
                    .collect();
                let ok = pods::accepting(&self.nodes[usize::from(node)].netns, &addrs)?;
                for ((&i, addr), ok) in idx.iter().zip(&addrs).zip(ok) {
                    if ok {
                        continue;
                    }
                    let (info, kubelet, _) = &started[i];
                    if kubelet.spec.program.is_none()
                        && t0.elapsed() > Duration::from_secs(10) + startup
                    {
                        bail!(
                            "pod {} at {addr} not listening after {:?}",
                            info.name,
                            Duration::from_secs(10) + startup
                        );
                    }
                    still.push(i);
                }
            }
            pending = still;
            if !pending.is_empty() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        Ok(())
    }
}
