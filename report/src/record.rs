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
    /// New connections the datapath sent to it (SYNs DNATed to it).
    pub new_conns: u64,
    /// Live service CT entries pointing at it at the bucket's end.
    pub ct_entries: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientBucket {
    /// Requests scheduled in this bucket (including those refused locally as
    /// `overload`: every request has exactly one outcome, ok or an error).
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
    /// Connections opened to it (SYNs the datapath DNATed to it).
    #[serde(default)]
    pub connections: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectationResult {
    pub metric: String,
    pub window_s: [f64; 2],
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// None when the metric is undefined in the window (e.g. no scale-up):
    /// that fails the expectation. May be infinite (`max_min_ratio` when a
    /// backend served nothing); JSON has no infinity, so non-finite values
    /// are written as the strings `"inf"`, `"-inf"`, `"nan"` (see [`nonfinite`]).
    #[serde(default, with = "nonfinite")]
    pub measured: Option<f64>,
    pub pass: bool,
    pub note: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Interrupted,
    Error,
}

impl Verdict {
    /// Upper-case word for the report ("PASS", "FAIL", ...).
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Interrupted => "INTERRUPTED",
            Verdict::Error => "ERROR",
        }
    }
}

impl RunRecord {
    /// End of the recorded data: the end of the last bucket, or `elapsed_s`
    /// when there are no buckets (or it is later).
    pub fn end_s(&self) -> f64 {
        let buckets_end = self.buckets.last().map_or(0.0, |b| b.t_s + self.bucket_s);
        buckets_end.max(self.elapsed_s)
    }

    /// The backend with this pod name, if it is in [`RunRecord::backends`].
    pub fn backend(&self, name: &str) -> Option<&BackendInfo> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// Every backend name: those in [`RunRecord::backends`] in creation order,
    /// then any name that only appears in buckets or datapath counters
    /// (sorted), so nothing the run saw is dropped from charts and tables.
    pub fn backend_names(&self) -> Vec<String> {
        let known: std::collections::BTreeSet<&str> =
            self.backends.iter().map(|b| b.name.as_str()).collect();
        let mut extra = std::collections::BTreeSet::new();
        let seen = self
            .buckets
            .iter()
            .flat_map(|b| b.backends.keys())
            .chain(self.datapath.backends.keys());
        for name in seen {
            if !known.contains(name.as_str()) {
                extra.insert(name.clone());
            }
        }
        let mut names: Vec<String> = self.backends.iter().map(|b| b.name.clone()).collect();
        names.extend(extra);
        names
    }

    /// Time of the last scale-up: the latest `created_s` among backends
    /// flagged [`BackendInfo::added_by_last_scale_up`] (all of them exist
    /// from then on). None when no backend carries the flag.
    pub fn last_scale_up_s(&self) -> Option<f64> {
        self.backends
            .iter()
            .filter(|b| b.added_by_last_scale_up)
            .map(|b| b.created_s)
            .reduce(f64::max)
    }
}

impl BackendInfo {
    /// Is an endpoint at some point of `[from, to)`.
    pub fn alive_in(&self, [from, to]: [f64; 2]) -> bool {
        self.created_s < to && self.removed_s.is_none_or(|r| r > from)
    }

    /// Is an endpoint through the whole of `[from, to]`: created at or before
    /// `from` and not removed before `to`.
    pub fn alive_through(&self, [from, to]: [f64; 2]) -> bool {
        self.created_s <= from && self.removed_s.is_none_or(|r| r >= to)
    }
}

impl ClientBucket {
    /// Errors of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Requests attempted, the denominator of error rates. `sent` already
    /// counts every scheduled request, including those refused locally as
    /// `overload` (open loop over `max_in_flight`), so that over a whole run
    /// sent = ok + errors exactly.
    pub fn attempts(&self) -> u64 {
        self.sent
    }
}

/// Serde for `Option<f64>` that survives JSON: finite values are numbers,
/// non-finite ones the strings `"inf"`, `"-inf"`, `"nan"` (serde_json would
/// otherwise write `null`, which reads back as "undefined"). Reads numbers,
/// those strings, and null.
pub mod nonfinite {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(value: &Option<f64>, ser: S) -> Result<S::Ok, S::Error> {
        match value {
            None => ser.serialize_none(),
            Some(v) if v.is_nan() => ser.serialize_some("nan"),
            Some(v) if *v == f64::INFINITY => ser.serialize_some("inf"),
            Some(v) if *v == f64::NEG_INFINITY => ser.serialize_some("-inf"),
            Some(v) => ser.serialize_some(v),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Num(f64),
            Word(String),
        }
        match Option::<Repr>::deserialize(de)? {
            None => Ok(None),
            Some(Repr::Num(v)) => Ok(Some(v)),
            Some(Repr::Word(w)) => match w.as_str() {
                "inf" => Ok(Some(f64::INFINITY)),
                "-inf" => Ok(Some(f64::NEG_INFINITY)),
                "nan" => Ok(Some(f64::NAN)),
                other => Err(D::Error::custom(format!(
                    "expected a number, null, \"inf\", \"-inf\" or \"nan\", found {other:?}"
                ))),
            },
        }
    }
}
