//! The service dataplane engines, one file or folder each: the eBPF LB
//! and socket-LB (`ebpf.rs`; socket-LB's cgroup tree and client placement
//! in `socket_lb.rs`), kube-proxy's iptables and nftables modes
//! (`kubeproxy/`), and the suite's datapath section turned into an
//! engine's effective settings (`dpconfig.rs`). The [`Dataplane`] trait is
//! what the cluster sees of one node's engine; [`Engine`] is the suite's
//! `datapath.engine` decided once ([`Engine::of`], the only match on
//! `EngineSpec` in the harness), and says what an engine needs of the
//! machine and how a node's dataplane starts.
pub mod dataplane;
pub mod dpconfig;
mod ebpf;
mod engine;
pub mod kubeproxy;
mod socket_lb;

pub use self::{
    dataplane::{Dataplane, DataplaneCounters, NodePort},
    ebpf::EbpfDataplane,
    engine::{Engine, NodeStart},
    socket_lb::{ClientCgroup, SocketLbCgroups},
};
