//! The run record: everything a run recorded, saved as `run.json`, enough to
//! re-render the report without the kernel. Times are seconds from the run's
//! start. Backends are named by pod name (unique within a run).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema: u32,
    pub run_id: String,
    pub suite: SuiteInfo,
    /// RFC 3339 wall-clock start.
    pub started_at: String,
    /// Planned duration.
    pub duration_s: f64,
    /// How long it actually ran (shorter when interrupted).
    pub elapsed_s: f64,
    pub bucket_s: f64,
    pub seed: u64,
    /// True when Ctrl-C (or an error) stopped the run early.
    pub interrupted: bool,
    /// One entry per pod that ever served as a backend, in creation order.
    pub backends: Vec<BackendInfo>,
    /// Per time bucket, in order; bucket i covers [i*bucket_s, (i+1)*bucket_s).
    pub buckets: Vec<Bucket>,
    /// Timeline and lifecycle events (scale, kill, pod ready, flush, ...).
    pub events: Vec<Event>,
    /// Datapath counters at the end of the run, summed over nodes.
    pub datapath: DatapathTotals,
    /// Figures that show the mechanism (e.g. "reused_ports_kept_backend_after_scale_up"),
    /// each in 0..=1 unless its name says otherwise.
    pub mechanism: BTreeMap<String, f64>,
    pub expectations: Vec<ExpectationResult>,
    pub verdict: Verdict,
    /// Set when the run failed with an error (verdict Error).
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteInfo {
    pub name: String,
    pub path: String,
    pub description: String,
    /// The suite file's header comment (leading `#` lines, without the `#`):
    /// "what this shows" for the report.
    pub header: String,
    /// The whole suite file as written.
    pub yaml: String,
    /// Datapath mode in words, e.g. "random, legacy CT reuse".
    pub datapath_mode: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// Pod name, e.g. "web-4".
    pub name: String,
    /// "198.18.0.12:8080"
    pub addr: String,
    pub deployment: String,
    pub node: u8,
    pub created_s: f64,
    /// When it stopped being an endpoint (killed, deleted, scaled down).
    pub removed_s: Option<f64>,
    /// Added by the last scale-up of its deployment.
    pub added_by_last_scale_up: bool,
    /// Killed or deleted by the timeline.
    pub killed: bool,
    /// Created to replace a killed or deleted pod.
    pub replacement: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Start of the bucket.
    pub t_s: f64,
    /// Keyed by backend (pod) name; backends with all-zero values may be absent.
    pub backends: BTreeMap<String, BackendBucket>,
    pub client: ClientBucket,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendBucket {
    /// Responses clients received from this backend (by the pod name in the body).
    pub responses: u64,
    /// New connections the datapath gave it (selections + reselections).
    pub new_conns: u64,
    /// Live service CT entries pointing at it at the bucket's end.
    pub ct_entries: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientBucket {
    /// Requests started in this bucket.
    pub sent: u64,
    /// Requests that ended in this bucket with a 2xx response.
    pub ok: u64,
    /// Requests that ended in this bucket with an error, by kind
    /// ("connect_timeout", "refused", "reset", "addr_not_avail", "timeout", "bad_response", "overload", ...).
    pub errors: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Distinct source ports used in this bucket.
    pub distinct_ports: u64,
    /// Connections whose source port was already used earlier in the run.
    pub port_reuses: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub t_s: f64,
    /// "scale", "kill", "delete_pod", "flush_ct", "restart_client", "pod_ready", "pod_gone", "run_start", "run_end", "interrupted"
    pub kind: String,
    /// Human-readable, e.g. "scale web 3 → 6".
    pub detail: String,
    /// Timeline actions are drawn as labelled markers; lifecycle events are not.
    pub timeline: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DatapathTotals {
    /// Reason counter name → value (e.g. "ct-reopen").
    pub reasons: BTreeMap<String, u64>,
    /// Backend (pod) name → counters.
    pub backends: BTreeMap<String, BackendCounters>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendCounters {
    pub selections: u64,
    pub reselections: u64,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectationResult {
    pub metric: String,
    pub window_s: [f64; 2],
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// None when the metric is undefined in the window (e.g. no scale-up):
    /// that fails the expectation.
    pub measured: Option<f64>,
    pub pass: bool,
    pub note: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Interrupted,
    Error,
}
