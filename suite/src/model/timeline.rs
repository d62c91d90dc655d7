//! The `timeline` section: actions at offsets into the run (scale, kill,
//! delete a pod, flush conntrack, restart a client, spike a client's rate).
use serde::{Deserialize, Serialize};

use crate::duration::Dur;

/// One timeline entry: `at:` plus exactly one action key.
///
/// `Deserialize` is written by hand in `src/timeline.rs` (a flattened derive
/// loses error positions and accepts unknown keys inside the action).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Offset from the run's start, < suite duration.
    pub at: Dur,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Set a deployment's replicas (0..=200).
    Scale { deployment: String, replicas: u32 },
    /// SIGKILL `count` running pods (oldest first); the deployment replaces
    /// them with new pods (new names and IPs).
    Kill { deployment: String, count: u32 },
    /// Delete one pod gracefully (terminating, then gone); replaced like Kill.
    DeletePod { deployment: String, index: u32 },
    /// Flush the service conntrack on `node` (default: every node).
    FlushCt {
        #[serde(default)]
        node: Option<u8>,
    },
    /// Restart a client as Kubernetes does when its pod is replaced: a new
    /// pod (new netns, new IP, fresh source ports; the old one torn down),
    /// so every 5-tuple is new. `keep_ip: true` restarts the container in
    /// its pod instead (same netns and IP; connections and port pool start
    /// anew), as kubelet restarts a container.
    RestartClient {
        client: String,
        #[serde(default)]
        keep_ip: bool,
    },
    /// A traffic spike: set an open-loop client's rate to `rate` for
    /// `duration` (default: to the end of the run), then back to its own.
    Spike {
        client: String,
        rate: u32,
        #[serde(default)]
        duration: Option<Dur>,
    },
}
