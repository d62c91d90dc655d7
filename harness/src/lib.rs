//! The svclab harness library: everything the `svclab` binary does lives
//! here so tests drive it in-process. The folders follow the stages of a
//! run: `cmd/` one file per subcommand; `runner/` one suite run (setup,
//! play, teardown, record); `cluster/` the Kubernetes-like cluster (state,
//! endpoints → dataplane, scale, and the pod side: kubelet, probes, pod
//! processes and their server, telemetry, autoscalers); `load/` the
//! nginx-like client and the aggregator of its records.
pub mod cli;
pub mod cluster;
pub mod cmd;
pub mod load;
pub mod runner;

pub use cmd::dispatch as run;
