//! The `expect` section: bounds on metrics over time windows, and the
//! metric names they may use.
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::json_schema;
use crate::duration::Dur;

/// A bound on one metric over a time window; the verdict is the AND of all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = json_schema::min_or_max)]
pub struct Expectation {
    /// The metric, one of the names in `METRICS` (src/model/expect.rs).
    #[schemars(schema_with = "metric_schema")]
    pub metric: String,
    /// [from, to] offsets, from < to <= duration; default the whole run.
    #[serde(default)]
    pub window: Option<[Dur; 2]>,
    /// Lower bound (at least one of min / max).
    #[serde(default)]
    pub min: Option<f64>,
    /// Upper bound, >= min (at least one of min / max).
    #[serde(default)]
    pub max: Option<f64>,
    /// Optional free text shown in the report.
    #[serde(default)]
    pub note: String,
    /// Only under these engines (labels as in `matrix.engines`, e.g.
    /// `kube-proxy-iptables`, `ebpf:cilium-1.11`; `ebpf` covers every
    /// profile); default every engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engines: Vec<String>,
}

/// Metric names an expectation may use (computed over its window from the
/// per-bucket record; shares count responses seen by clients, or the
/// datapath's new connections when the backends do not name themselves).
pub const METRICS: &[&str] = &[
    // share of responses served by the backends added by the last scale-up
    "new_backend_share",
    // the same from the datapath: share of new connections (SYNs DNATed)
    // sent to the backends added by the last scale-up, whoever the client is
    "new_backend_conn_share",
    // new_backend_share / (new backends / all backends): 1.0 = fair
    "new_backend_fair_ratio",
    // Jain's fairness index over backends alive through the window
    "jain_index",
    // coefficient of variation of per-backend responses
    "cv",
    // max / min per-backend responses
    "max_min_ratio",
    // errors / sent
    "error_rate",
    "errors",
    // ok responses per second
    "ok_rate",
    // share of ok responses whose pod saw the client's own address (no SNAT
    // on the way: a NodePort under externalTrafficPolicy Local keeps it)
    "source_ip_kept_share",
    "p99_ms",
    // share of responses served by a pod killed/deleted by the timeline (its replacement excluded)
    "killed_backend_share",
    // share of responses served by pods that replaced killed/deleted ones
    "replacement_share",
    // container restarts (liveness/startup failures) in the window, all pods
    "restarts",
    // lowest number of ready backend pods (all deployments) in any bucket
    "min_ready",
    // highest accept-queue depth / listen backlog of any pod in any bucket
    "accept_queue_fill",
    // failed or timed-out readiness probes in the window, all pods
    "readiness_failures",
    // failed or timed-out liveness probes in the window, all pods
    "liveness_failures",
    // seconds from the window's start to the first bucket from which every
    // bucket to the window's end has an error rate under 1% (undefined when
    // it never recovers)
    "time_to_recover_s",
    // highest replica count the autoscalers asked for in the window
    "hpa_max_desired",
    // client errors while a rollout that started in the window ran (to its
    // completion or its last old pod's removal, whichever is later)
    "errors_during_rollout",
    // seconds from a rollout's start to Kubernetes' completion (the longest
    // of those starting in the window; undefined while one is unfinished)
    "rollout_duration_s",
    // new connections the datapath sent to pods after their SIGTERM
    "requests_to_terminating",
];

/// `expect[].metric`: one of [`METRICS`].
fn metric_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": METRICS })
}
