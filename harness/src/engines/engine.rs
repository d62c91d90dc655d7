//! The suite's `datapath.engine` decided once ([`Engine::of`], the only
//! match on `EngineSpec` in the harness): its name, what it needs of the
//! machine, whether it needs the run's cgroup tree, and how a node's
//! dataplane starts (the constructor runs and the engines bench share).
use std::{collections::BTreeMap, time::Duration};

use anyhow::Context as _;
use svclab_datapath::{Config, Frontend, GcSchedule, NetnsRef};
use svclab_suite::model::EngineSpec;

use super::{dataplane::Dataplane, ebpf::EbpfDataplane, kubeproxy};

/// The suite's `datapath.engine`, decided once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Cilium's per-packet service LB (tc programs, service conntrack).
    Ebpf,
    /// kube-proxy in iptables or nftables mode.
    KubeProxy(kubeproxy::Mode),
    /// Cilium v1.16.0's socket-LB (cgroup programs, no service conntrack).
    SocketLb,
}

/// What a node's dataplane starts from.
pub struct NodeStart<'a> {
    pub netns: &'a NetnsRef,
    pub config: Config,
    pub gc: GcSchedule,
    /// Service frontend → name (kube-proxy's chain names hash the name).
    pub service_names: BTreeMap<Frontend, String>,
    pub min_sync_period: Option<Duration>,
    /// The node's cgroup (socket-LB).
    pub cgroup: Option<std::fs::File>,
}

impl Engine {
    /// The only place the harness decides the engine from [`EngineSpec`]
    /// ([`Engine::spec`] only maps it back for the name).
    #[must_use]
    pub fn of(spec: EngineSpec) -> Self {
        match spec {
            EngineSpec::Ebpf => Engine::Ebpf,
            EngineSpec::KubeProxyIptables => Engine::KubeProxy(kubeproxy::Mode::Iptables),
            EngineSpec::KubeProxyNftables => Engine::KubeProxy(kubeproxy::Mode::Nftables),
            EngineSpec::SocketLb => Engine::SocketLb,
        }
    }

    /// The suite's value back, for its name.
    fn spec(self) -> EngineSpec {
        match self {
            Engine::Ebpf => EngineSpec::Ebpf,
            Engine::KubeProxy(kubeproxy::Mode::Iptables) => EngineSpec::KubeProxyIptables,
            Engine::KubeProxy(kubeproxy::Mode::Nftables) => EngineSpec::KubeProxyNftables,
            Engine::SocketLb => EngineSpec::SocketLb,
        }
    }

    /// The engine's name as a suite writes it (`datapath.engine`).
    #[must_use]
    pub fn name(self) -> &'static str {
        self.spec().name()
    }

    /// The engine a run's state file names (`Dataplane::engine`); None for
    /// a name no engine has.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        EngineSpec::parse(name).map(Self::of)
    }

    /// Whether this machine has what the engine needs, before any kernel
    /// state exists (exit 2 with the reason otherwise).
    pub fn check_machine(self) -> Result<(), String> {
        match self {
            Engine::Ebpf => Ok(()),
            Engine::KubeProxy(mode) => kubeproxy::check_machine(mode),
            Engine::SocketLb => svclab_cgroup::check_machine().map_err(|e| format!("{e}")),
        }
    }

    /// Whether the run needs its cgroup v2 tree (client pods' load threads
    /// and nginx in per-pod cgroups below each node's).
    #[must_use]
    pub fn uses_cgroups(self) -> bool {
        self == Engine::SocketLb
    }

    /// Starts node `node`'s dataplane.
    pub fn start_node(self, node: u8, s: NodeStart<'_>) -> anyhow::Result<Box<dyn Dataplane>> {
        Ok(match self {
            Engine::Ebpf => Box::new(
                EbpfDataplane::load(s.netns, s.config, s.gc)
                    .with_context(|| format!("loading the datapath on node {node}"))?,
            ),
            Engine::KubeProxy(mode) => Box::new(
                kubeproxy::KubeProxyDataplane::start(
                    mode,
                    s.netns,
                    s.service_names,
                    s.min_sync_period
                        .unwrap_or(kubeproxy::DEFAULT_MIN_SYNC_PERIOD),
                )
                .with_context(|| format!("starting kube-proxy on node {node}"))?,
            ),
            Engine::SocketLb => {
                let cgroup = s.cgroup.context("socket-lb without the node's cgroup")?;
                Box::new(
                    EbpfDataplane::load_socket_lb(s.netns, s.config, s.gc, &cgroup)
                        .with_context(|| format!("loading socket-LB on node {node}"))?,
                )
            }
        })
    }
}
