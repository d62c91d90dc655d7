//! What is in flight between control passes (data only; the behaviour
//! is in `rollout.rs` and `terminate.rs`): rollouts of a deployment to a
//! new revision, pods being terminated (preStop hook, SIGTERM window), and
//! network faults in force.
use std::{net::SocketAddrV4, path::PathBuf, thread::JoinHandle, time::Duration};

use svclab_suite::model::Strategy;

/// One rollout of a deployment to a revision.
pub(super) struct Rollout {
    pub(super) deployment: String,
    pub(super) revision: u32,
    pub(super) strategy: Strategy,
    pub(super) min_ready: Duration,
    pub(super) started: Duration,
    pub(super) started_s: f64,
    pub(super) complete_s: Option<f64>,
    /// (t_s, old replicas, new replicas) at each change.
    pub(super) steps: Vec<(f64, u32, u32)>,
    /// spec.replicas of the old and new ReplicaSets.
    pub(super) old_replicas: u32,
    pub(super) new_replicas: u32,
    pub(super) done: bool,
}

/// A preStop hook in progress.
pub(super) enum Hook {
    /// SleepAction: done at this time.
    Sleep(Duration),
    /// exec or httpGet on its own thread; its words when done.
    Thread(JoinHandle<String>),
}

pub(super) enum Stage {
    PreStop {
        hook: Hook,
        what: String,
    },
    /// SIGTERM sent at `at`; SIGKILL at `kill_at`.
    Stopping {
        at: Duration,
        kill_at: Duration,
    },
}

/// One pod being terminated.
pub(super) struct Termination {
    pub(super) pod: String,
    pub(super) started: Duration,
    /// Scaled terminationGracePeriodSeconds.
    pub(super) grace: Duration,
    pub(super) stage: Stage,
}

/// How a preStop hook is started: its spec, where the pod is.
pub(super) struct HookTarget {
    pub(super) pod_netns: PathBuf,
    pub(super) node_netns: PathBuf,
    pub(super) addr: SocketAddrV4,
}

/// A network fault in force: its kernel pieces, when it ends by its
/// duration, and what the record will say (`faults.rs` starts and ends it).
pub(super) struct RunningFault {
    pub(super) active: crate::chaos::ActiveFault,
    pub(super) ends: Option<Duration>,
    pub(super) record: svclab_report::record::FaultRecord,
}
