//! Client pods: a netns each (the load generator runs as a thread in it),
//! created and replaced as Kubernetes replaces a pod, and, with `proxy:
//! nginx`, the client's nginx running in it under the container shim in
//! front of the service VIP, with its config, error and access logs in the
//! run folder.
use std::{
    net::{Ipv4Addr, SocketAddrV4},
    path::PathBuf,
    time::Duration,
};

use anyhow::Context as _;
use svclab_datapath::NetnsRef;
use svclab_topology::PodSpec;

use super::state::{ClientProxy, Cluster};
use crate::engines::ClientCgroup;
use crate::kubelet::{
    pods::{self, PodProcess},
    programs::{self, nginx},
};

impl Cluster {
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
        self.nodes[usize::from(node)].dataplane.attach(&lxc)?;
        if let Some(t) = self.cgroups.as_mut() {
            t.add_client(node, name)?;
        }
        Ok((ip, path))
    }

    /// Client `name`'s cgroup and the cgroup its thread returns to, when
    /// the engine needs one (socket-LB): its load thread joins the first.
    pub fn client_cgroup(&self, name: &str) -> anyhow::Result<Option<ClientCgroup>> {
        let Some(t) = self.cgroups.as_ref() else {
            return Ok(None);
        };
        let pod = self
            .topo
            .as_ref()
            .and_then(|topo| topo.pod(&format!("client-{name}")))
            .with_context(|| format!("no client pod {name}"))?;
        Ok(Some(t.client(pod.node, name)?))
    }

    /// Starts client `name`'s nginx in its pod (after its port range is
    /// set) and waits until it listens on [`nginx::PROXY_LISTEN`]; returns
    /// that address, the load generator's target.
    pub fn start_client_proxy(
        &mut self,
        name: &str,
        service: &str,
        vip: SocketAddrV4,
        upstream: &svclab_suite::model::UpstreamSpec,
    ) -> anyhow::Result<SocketAddrV4> {
        let pod = format!("client-{name}");
        let run_dir = self.run_dir()?;
        let bin = svclab_suite::nginx_binary().context("nginx is not installed (./just setup)")?;
        let log = self.pod_log(&pod)?;
        let conf = nginx::proxy_conf(&bin, &run_dir, name, service, vip, upstream, log)?;
        self.spawn_proxy(name, conf.clone())?;
        let logs = format!(
            "pods/{pod}.log, {}",
            conf.access_log
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        self.note_program(
            format!("client {name}"),
            "nginx proxy",
            &conf.program.argv,
            Some(&conf),
            logs,
        );
        Ok(nginx::PROXY_LISTEN)
    }

    /// Restarts client `name`'s nginx in place (same pod and IP, same
    /// config); false when it has none.
    pub fn restart_client_proxy(&mut self, name: &str) -> anyhow::Result<bool> {
        let Some(mut old) = self.proxies.remove(name) else {
            return Ok(false);
        };
        old.process.terminate(Duration::from_secs(1));
        self.spawn_proxy(name, old.conf)?;
        Ok(true)
    }

    /// Starts client `name`'s nginx from `conf` in its pod, records it, and
    /// waits until it listens on [`nginx::PROXY_LISTEN`].
    fn spawn_proxy(&mut self, name: &str, conf: nginx::NginxConf) -> anyhow::Result<()> {
        let pod = format!("client-{name}");
        let netns_path = self
            .topo()?
            .pod(&pod)
            .map(|p| p.netns_path.clone())
            .with_context(|| format!("no client pod {name}"))?;
        let mut program = conf.program.clone();
        program.cgroup = self.client_cgroup(name)?.map(|c| c.dir);
        let process = PodProcess::spawn_program(&self.exe, &netns_path, &pod, &program)?;
        self.proxies
            .insert(name.to_owned(), ClientProxy { process, conf });
        let ns = NetnsRef::open(&netns_path)?;
        pods::wait_listening(&ns, nginx::PROXY_LISTEN, Duration::from_secs(10))
            .with_context(|| format!("nginx of client {name} (log: pods/{pod}.log)"))
    }

    /// Ends client `name`'s nginx (SIGTERM, 1 s, SIGKILL to its group).
    pub fn stop_client_proxy(&mut self, name: &str) {
        if let Some(mut p) = self.proxies.remove(name) {
            p.process.terminate(Duration::from_secs(1));
        }
    }

    /// Deletes a client pod (its proxy, netns, veth and IP), as when
    /// Kubernetes replaces the pod; returns the IP it had.
    pub fn remove_client_pod(&mut self, name: &str) -> anyhow::Result<Ipv4Addr> {
        self.stop_client_proxy(name);
        let pod_name = format!("client-{name}");
        let info = self
            .topo()?
            .pod(&pod_name)
            .cloned()
            .with_context(|| format!("no client pod {name}"))?;
        programs::kill_netns_processes(&info.netns_path);
        self.nodes[usize::from(info.node)]
            .dataplane
            .release(&info.lxc)?;
        if let Some(t) = self.cgroups.as_mut() {
            t.remove_client(info.node, name)?;
        }
        self.topo()?.remove_pod(&pod_name)?;
        self.used_ips.remove(&info.ip);
        Ok(info.ip)
    }

    /// External client `k`'s address (198.19.253.<k+1>) and the run's
    /// external netns it runs in, with `ip_local_port_range` set to
    /// `ports` when given (the netns's one range: every ephemeral external
    /// client shares it, so validation asks them to agree).
    pub fn external_client(
        &self,
        k: u8,
        ports: Option<[u16; 2]>,
    ) -> anyhow::Result<(Ipv4Addr, PathBuf)> {
        let topo = self.topo.as_ref().context("topology gone")?;
        let netns = topo
            .external_netns()
            .context("the run has no external netns")?
            .to_owned();
        if let Some([lo, hi]) = ports {
            topo.set_sysctl(
                &netns,
                "net.ipv4.ip_local_port_range",
                &format!("{lo} {hi}"),
            )?;
        }
        Ok((
            svclab_topology::external_address(k),
            svclab_topology::netns_path(&netns),
        ))
    }

    pub fn set_sysctl_in_client(&self, name: &str, key: &str, value: &str) -> anyhow::Result<()> {
        let topo = self.topo.as_ref().context("topology gone")?;
        let pod = topo
            .pod(&format!("client-{name}"))
            .with_context(|| format!("no client pod {name}"))?;
        topo.set_sysctl(&pod.netns, key, value)?;
        Ok(())
    }

    /// The run folder programs write into.
    pub(super) fn run_dir(&self) -> anyhow::Result<PathBuf> {
        self.run_dir
            .clone()
            .context("real programs need a run folder (Cluster::run_dir)")
    }

    /// `<run_dir>/pods/<pod>.log`, its folder created.
    pub(super) fn pod_log(&self, pod: &str) -> anyhow::Result<PathBuf> {
        let dir = self.run_dir()?.join("pods");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir.join(format!("{pod}.log")))
    }
}
