//! The run's state file (`state.json` in its report folder): what a live
//! or held run tells `svclab inspect` — its prefix and process, each node's
//! datapath map IDs, backend names and pods. Written atomically while the
//! run is up and removed at teardown.
use std::{collections::BTreeMap, path::Path};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

pub const STATE_FILE: &str = "state.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub prefix: String,
    /// The run's process: the maps live as long as it does.
    pub pid: u32,
    /// True once the run is over and held for inspection.
    pub held: bool,
    pub nodes: Vec<NodeMaps>,
    /// Backend address → pod name, for every pod that was a backend.
    pub backends: BTreeMap<String, String>,
    pub pods: Vec<PodState>,
    /// The run's t=0 as CLOCK_MONOTONIC ns (what `bpf_ktime_get_ns()`
    /// reads), once the clients started; monitors print run times from it.
    #[serde(default)]
    pub t0_monotonic_ns: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeMaps {
    pub node: u8,
    pub netns: String,
    /// The node's dataplane engine (`datapath.engine`); older state files
    /// have none and were eBPF.
    #[serde(default = "ebpf")]
    pub engine: String,
    pub maps: BTreeMap<String, u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PodState {
    pub name: String,
    pub deployment: String,
    pub node: u8,
    pub ip: String,
    pub phase: String,
    pub pid: u32,
}

fn ebpf() -> String {
    "ebpf".to_owned()
}

/// Writes the state file atomically.
pub fn write_state(dir: &Path, state: &RunState) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".{STATE_FILE}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(STATE_FILE))
        .with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}
