//! User-space API of the svclab eBPF service load balancer: load the tc
//! programs once per node netns, attach them to pod-facing veths (clsact +
//! cls_bpf, or TCX links: [`AttachMode`]), program services and backends,
//! read and garbage-collect conntrack, read counters, and detach leaving
//! nothing behind. Socket-LB: the same maps behind cgroup connect4 /
//! sendmsg4 / recvmsg4 / getpeername4 programs ([`Datapath::attach_cgroup`]).
//!
//! Nothing is pinned: maps and programs live as long as the [`Datapath`]
//! holds their fds or a filter references them. TCX links go away with the
//! process; a clsact qdisc and its filters live on the pod's interface and
//! go away with it (the pod's namespace), so a crashed run leaves nothing
//! that deleting its namespaces does not remove.
//!
//! This file only declares the modules and re-exports their public items.
//! `datapath` owns the [`Datapath`] type, loading ([`Datapath::load`]) and
//! test runs of single packets; `attach` attaches and detaches, `lb`
//! programs services and backends (with `service` as its bookkeeping), `ct`
//! reads and collects conntrack, `counters` reads the counters, `view`
//! inspects another process's datapath, `monitor` reads its per-flow
//! decisions, `sock` attaches socket-LB's cgroup programs, `fault` loads
//! and attaches the network-fault program (one instance per fault).

mod attach;
mod config;
mod counters;
mod ct;
mod datapath;
mod error;
mod fault;
mod frontend;
mod lb;
pub mod maglev;
mod monitor;
mod netns;
pub mod pktgen;
mod service;
mod sock;
mod view;

pub use crate::{
    attach::tcx_programs,
    config::{
        AttachMode, Config, CtReuse, CtTimeouts, DEFAULT_REBALANCE_GRACE, GC_MAX_LRU_INTERVAL,
        GC_MIN_INTERVAL, GC_STARTING_INTERVAL, GcSchedule, MAGLEV_TABLE_SIZES, MODELLED_HZ,
        MonoClock, NodeNet, Profile, REPORT_FLAGS, REPORT_INTERVAL, Rules, Selection,
        next_gc_interval,
    },
    counters::{BackendStats, Counters},
    ct::{CtEntryView, CtGc, CtKind, CtStats, GcPass, GcRun, GcScan, GcTotals, monotonic_ns},
    datapath::{Datapath, Hook, PacketRun, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT},
    error::{Error, Result},
    fault::{FaultProgram, probability},
    frontend::{Backend, BackendState, Frontend, Protocol},
    lb::ServiceView,
    monitor::{FlowEvent, Monitor, MonitorSpec},
    netns::NetnsRef,
    sock::SockRevnatView,
    view::{DatapathView, KernelService},
};
pub use svclab_datapath_common::{
    FAULT_MODEL_ALL, FAULT_MODEL_GE, FAULT_MODEL_NONE, FAULT_MODEL_RANDOM, FaultConfig,
    FaultPrefix, Reason, mono_to_ns, sec_to_mono,
};
