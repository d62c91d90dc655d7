//! The svclab harness library: everything the `svclab` binary does lives
//! here so tests drive it in-process. The folders follow what lives in a
//! run: `cmd/` one file per subcommand; `runner/` one suite run (setup,
//! play, teardown, record); `cluster/` the Kubernetes-like cluster (state,
//! build and teardown, endpoints → dataplane, scale, rollouts,
//! terminations, client pods, autoscalers, records); `kubelet/` a pod's
//! kubelet (container lifecycle, probes, pod processes, real programs);
//! `podserver/` the `svclab pod-server` process (its sockets, SIGTERM
//! modes, stats page, accept-queue reader); `process.rs` what every spawned
//! process needs from its parent; `load/` the nginx-like client and the
//! aggregator of its records.
pub mod chaos;
pub mod cli;
pub mod cluster;
pub mod cmd;
pub mod engines;
pub mod kubelet;
pub mod load;
pub mod podserver;
pub mod process;
pub mod runlock;
pub mod runner;

pub use cmd::dispatch as run;
