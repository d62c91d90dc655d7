//! The types a run's stages share: the caller's options and the outcome it
//! gets back, what every stage reads ([`RunCtx`]) and what they gather for
//! the record ([`Gathered`]).
use std::{
    path::PathBuf,
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use indicatif::ProgressBar;
use svclab_report::record::{self as rec, RunRecord, Verdict};
use svclab_suite::{LoadedSuite, model::Suite};

use crate::{engines::dpconfig::EngineDescription, load::aggregator::Aggregator};

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Reports go to `<out>/<suite>/<run-id>/`.
    pub out: PathBuf,
    /// Multiplies the suite's run time, timeline, client start/duration and
    /// expectation windows (1.0 = as written). Datapath timeouts and grace
    /// are mechanism, not schedule, and stay as written.
    pub time_scale: f64,
    pub quiet: bool,
    /// After the run, keep the topology up (for `svclab inspect`) until
    /// SIGINT/SIGTERM, then tear down.
    pub hold: bool,
    /// Set by SIGINT/SIGTERM (or a test) to stop early.
    pub stop: Arc<AtomicBool>,
    /// The svclab executable that runs pod servers.
    pub exe: PathBuf,
}

#[derive(Debug)]
pub struct RunOutcome {
    pub verdict: Verdict,
    pub dir: PathBuf,
    pub record: RunRecord,
}

/// What every stage of one run reads: the suite (schedule scaled), the
/// options, the run's names and clocks, the progress bar.
pub(super) struct RunCtx<'a> {
    pub(super) loaded: &'a LoadedSuite,
    /// The suite with its schedule multiplied by `--time-scale`.
    pub(super) suite: &'a Suite,
    pub(super) opts: &'a RunOptions,
    pub(super) run_id: String,
    /// Every netns of the run starts with this (`svl-<run-id>-`).
    pub(super) prefix: String,
    pub(super) dir: PathBuf,
    pub(super) duration: Duration,
    pub(super) bucket: Duration,
    pub(super) n_buckets: usize,
    /// kubelet/HPA time scale: suite × command line.
    pub(super) kube_scale: f64,
    pub(super) progress: ProgressBar,
}

/// What the stages gather for the record, filled as far as the run got.
pub(super) struct Gathered {
    /// The engine as it describes itself, taken when the cluster is built
    /// from the same suite (the record reads this, not the suite).
    pub(super) engine: EngineDescription,
    pub(super) agg: Aggregator,
    /// Run time played (the suite's duration unless stopped early).
    pub(super) elapsed: Duration,
    pub(super) datapath: rec::DatapathTotals,
    pub(super) kubelet: rec::KubeletInfo,
    pub(super) pods: Vec<rec::PodRecord>,
    pub(super) backends: Vec<rec::BackendInfo>,
    pub(super) rollouts: Vec<rec::RolloutRecord>,
    pub(super) faults: Vec<rec::FaultRecord>,
    pub(super) events: Vec<rec::Event>,
    /// Real programs and client proxies' access logs.
    pub(super) programs: Vec<rec::ProgramInfo>,
    pub(super) access_logs: Vec<rec::AccessLogTotals>,
    pub(super) interrupted: bool,
    /// A signal ended `--hold`: that one is not an interruption.
    pub(super) hold_released: bool,
    pub(super) error: Option<String>,
}
