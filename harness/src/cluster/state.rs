//! The cluster's state: its pods, deployments, services, nodes (each with
//! its dataplane) and what the run record needs of them. Behaviour lives
//! beside it: build, teardown and the kubelet pass in `mod.rs`, endpoints,
//! scale and records in their own files.
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    net::{Ipv4Addr, SocketAddrV4},
    path::PathBuf,
    sync::mpsc,
    time::{Duration, Instant},
};

use svclab_datapath::{BackendState, Frontend, NetnsRef};
use svclab_report::record::{BackendInfo, Event, PodRecord, ProgramInfo};
use svclab_topology::Topology;

use super::{
    autoscaler::Autoscaler,
    inflight::{Rollout, RunningFault, Termination},
    routing::{Endpoint, Routing},
};
use crate::engines::Dataplane;
use crate::kubelet::{
    Kubelet,
    pods::PodProcess,
    probe::{ProbeReport, Prober},
    programs::nginx::NginxConf,
};

/// Endpoints computed at a pod change, due in the datapath later.
pub(super) struct PendingEndpoints {
    pub(super) due: Duration,
    pub(super) changed: Duration,
    /// Each service's endpoints with their nodes, and how it routes.
    pub(super) services: Vec<ServiceEndpoints>,
}

/// A client's proxy (nginx): its process and the config it runs.
pub struct ClientProxy {
    pub(super) process: PodProcess,
    pub(super) conf: NginxConf,
}

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
    pub(super) info: usize,
    /// Its ReplicaSet: the deployment's template revision it was made from.
    pub revision: u32,
    /// When the taint-eviction controller deleted it (run seconds) while
    /// its node was cut off: deleted in the API, its kubelet unaware until
    /// the node is back (`eviction.rs`).
    pub evicted_s: Option<f64>,
}

impl Pod {
    /// Not being deleted, as its ReplicaSet counts it (FilterActivePods:
    /// no DeletionTimestamp).
    pub fn active(&self) -> bool {
        !self.kubelet.deleting && self.evicted_s.is_none()
    }
}

pub(super) struct DeploymentState {
    pub(super) spec: svclab_suite::model::Deployment,
    pub(super) next_ordinal: u32,
    pub(super) next_node: usize,
    /// The current template's revision (1 at the start; +1 per rollout).
    pub(super) revision: u32,
}

pub struct NodeState {
    /// The node's service dataplane (the eBPF service LB today).
    pub dataplane: Box<dyn Dataplane>,
    pub netns: NetnsRef,
}

/// One service's endpoints as a queued update carries them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ServiceEndpoints {
    pub(super) frontend: Frontend,
    /// How pods' traffic routes (internal policy, PreferClose).
    pub(super) routing: Routing,
    /// How traffic through the NodePort routes (its external policy), for
    /// a NodePort service.
    pub(super) external: Option<Routing>,
    pub(super) eps: Vec<Endpoint>,
}

pub(super) struct ServiceState {
    pub(super) name: String,
    /// internalTrafficPolicy / trafficDistribution.
    pub(super) routing: Routing,
    pub(super) frontend: Frontend,
    pub(super) selector: String,
    pub(super) target_port: u16,
    /// `type: NodePort`: its port.
    pub(super) node_port: Option<u16>,
    /// `externalTrafficPolicy: Local`.
    pub(super) external_local: bool,
}

impl ServiceState {
    /// How traffic through the NodePort routes, for a NodePort service.
    pub(super) fn external_routing(&self) -> Option<Routing> {
        self.node_port.map(|_| Routing {
            local: self.external_local,
            ..self.routing
        })
    }
}

pub struct Cluster {
    pub(super) exe: PathBuf,
    /// The kubelet/HPA clock starts here; see [`Cluster::now`].
    pub(super) epoch: Instant,
    /// The run's t=0 (clients start), set by [`Cluster::start_clock`].
    pub(super) zero: Option<Instant>,
    /// kubelet/HPA time scale (suite × command line).
    pub kube_scale: f64,
    /// One prober per node (probes run from the node netns). Declared
    /// before `topo`: dropped first.
    pub(super) probers: Vec<Prober>,
    pub(super) probe_rx: mpsc::Receiver<ProbeReport>,
    pub(super) autoscalers: Vec<Autoscaler>,
    /// Records of pods already removed.
    pub(super) gone_pods: Vec<(usize, PodRecord)>,
    /// Lowest ready count per deployment since the last bucket closed.
    pub(super) ready_min: BTreeMap<String, u32>,
    pub(super) topo: Option<Topology>,
    pub nodes: Vec<NodeState>,
    pub(super) deployments: BTreeMap<String, DeploymentState>,
    /// Live pods (running or terminating), by name.
    pub pods: BTreeMap<String, Pod>,
    pub(super) services: Vec<ServiceState>,
    pub(super) next_host: Vec<u32>,
    pub(super) used_ips: BTreeSet<Ipv4Addr>,
    /// Every backend pod ever created, for the run record.
    pub backends: Vec<BackendInfo>,
    pub events: Vec<Event>,
    /// Where real programs write their logs and configs (the run folder).
    pub run_dir: Option<PathBuf>,
    /// Client proxies (nginx) by client name.
    pub(super) proxies: BTreeMap<String, ClientProxy>,
    /// Real programs run so far, for the report.
    pub programs: Vec<ProgramInfo>,
    /// Pods being terminated (preStop, SIGTERM, SIGKILL).
    pub(super) terminations: Vec<Termination>,
    /// Per pod given SIGTERM: backend index, address, datapath SYNs then.
    pub(super) sigterm_syns: BTreeMap<String, (usize, SocketAddrV4, u64)>,
    /// Scaled endpoints.propagation_delay and the updates waiting for it.
    pub(super) propagation_delay: Duration,
    pub(super) endpoint_queue: VecDeque<PendingEndpoints>,
    /// What the datapath holds now, per backend address.
    pub(super) applied: BTreeMap<SocketAddrV4, BackendState>,
    /// Rollouts, in progress or done.
    pub(super) rollouts: Vec<Rollout>,
    /// Node leases and the node-lifecycle controller (2+ nodes).
    pub(super) leases: Option<super::nodelifecycle::NodeLeases>,
    /// Each time a node was NotReady: node, from, until (run seconds;
    /// None = still NotReady).
    pub(super) node_windows: Vec<(u8, f64, Option<f64>)>,
    /// Each node's zone label (`cluster.zones`; empty: none).
    pub(super) zones: Vec<String>,
    /// Per node and routed service (a Local policy or PreferClose): the
    /// endpoints its dataplane was last given, for the events.
    /// Keyed by (node, service, through the NodePort).
    pub(super) node_views: BTreeMap<(u8, Frontend, bool), (Vec<SocketAddrV4>, bool)>,
    /// Network faults in force, by name.
    pub(super) faults: BTreeMap<String, RunningFault>,
    /// Faults that ended.
    pub(super) fault_records: Vec<svclab_report::record::FaultRecord>,
    /// Socket-LB's cgroup v2 tree (a cgroup per node and client pod);
    /// last, so an unwinding drop removes it after the dataplanes.
    pub(super) cgroups: Option<crate::engines::SocketLbCgroups>,
}

impl Pod {
    pub fn pid(&self) -> u32 {
        self.kubelet.pid().unwrap_or(0)
    }
}
