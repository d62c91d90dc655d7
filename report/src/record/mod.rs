//! The run record: everything a run recorded, saved as `run.json`, enough to
//! re-render the report without the kernel. Times are seconds from the run's
//! start. Backends are named by pod name (unique within a run).
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// 2 added pods, kubelet settings and per-bucket pod/deployment telemetry
/// (all defaulted, so schema-1 records still read). Fields added since
/// (programs, access logs, rollouts, faults, host, ...) are defaulted too
/// and left it at 2: a version bump is for a change old readers cannot
/// take, and unknown fields are ignored, so older builds still read them.
pub const SCHEMA_VERSION: u32 = 2;

/// One run of a suite as `run.json` holds it: everything the run recorded,
/// enough to re-render its report. Times are seconds from the run's start;
/// backends are named by pod name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunRecord {
    /// The record's schema version (`SCHEMA_VERSION` of the svclab that
    /// wrote it).
    pub schema: u32,
    /// The run's id, also its folder's name (`reports/<suite>/<run_id>/`).
    pub run_id: String,
    pub suite: SuiteInfo,
    /// The machine and the svclab build that ran it; absent in records
    /// written before svclab recorded it.
    #[serde(default)]
    pub host: Option<HostInfo>,
    /// RFC 3339 wall-clock start.
    pub started_at: String,
    /// Planned duration.
    pub duration_s: f64,
    /// How long it actually ran (shorter when interrupted).
    pub elapsed_s: f64,
    /// Length of one time bucket.
    pub bucket_s: f64,
    /// The suite's random seed (jitter, selection).
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
    /// Each `expect` entry of the suite, evaluated.
    pub expectations: Vec<ExpectationResult>,
    pub verdict: Verdict,
    /// Set when the run failed with an error (verdict Error).
    #[serde(default)]
    pub error: Option<String>,
    /// Every backend pod's lifecycle (phases over time, restarts), in
    /// creation order; same names as [`RunRecord::backends`].
    #[serde(default)]
    pub pods: Vec<PodRecord>,
    /// Probe, restart and autoscaler settings as the run applied them.
    #[serde(default)]
    pub kubelet: KubeletInfo,
    /// Real programs the run ran (containers, nginx presets), with their
    /// generated configs.
    #[serde(default)]
    pub programs: Vec<ProgramInfo>,
    /// What each client proxy's access log counted.
    #[serde(default)]
    pub access_logs: Vec<AccessLogTotals>,
    /// What per-backend shares count.
    #[serde(default)]
    pub share_basis: ShareBasis,
    /// Deployment rollouts (the `rollout` action).
    #[serde(default)]
    pub rollouts: Vec<RolloutRecord>,
    /// Network faults (the `fault` action): what was set and what an
    /// independent probe measured across the hop while it lasted.
    #[serde(default)]
    pub faults: Vec<FaultRecord>,
}

/// The machine a run ran on and the svclab that ran it, so figures from
/// different machines (nightly trends) can be told apart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct HostInfo {
    /// svclab's version, e.g. "0.1.0".
    pub svclab_version: String,
    /// The git commit svclab was built from (12 hex digits), or "unknown"
    /// when it was not built from a git checkout.
    pub git_commit: String,
    /// Kernel release (`uname -r`), e.g. "6.12.0-1-amd64".
    pub kernel: String,
    /// Host name (`uname -n`).
    pub hostname: String,
    /// CPUs online on the machine; None when it could not be read.
    pub cpus_online: Option<u32>,
    /// CPUs the run could use (its CPU affinity and cgroup quota, as
    /// `std::thread::available_parallelism`); None when unknown.
    pub cpus_available: Option<u32>,
    /// Total memory in bytes (`MemTotal` of `/proc/meminfo`); None when
    /// it could not be read.
    pub memory_bytes: Option<u64>,
}

/// One network fault as it ran.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultRecord {
    pub name: String,
    /// loss, delay, bandwidth, reset or blackhole.
    pub kind: String,
    /// What the target resolved to when it started (`web-1, web-2`, `node 1`, `path 0 → 1`).
    pub target: String,
    /// to, from or both.
    pub direction: String,
    /// The values set, as words (`5% random`, `50ms ± 10ms uniform`).
    pub set: String,
    pub start_s: f64,
    /// When it ended (its duration, a clear_fault, or the run's end).
    pub end_s: f64,
    /// The measuring probe's pair (`node0 → web-1`); empty without one.
    #[serde(default)]
    pub probe: String,
    #[serde(default)]
    pub probe_sent: u64,
    #[serde(default)]
    pub probe_received: u64,
    /// The round-trip loss the setting implies for the probe (loss on
    /// both ways compounds), in percent; None where the kind sets no loss.
    #[serde(default)]
    pub expected_loss_pct: Option<f64>,
    #[serde(default)]
    pub measured_loss_pct: f64,
    #[serde(default)]
    pub rtt_p50_ms: f64,
    #[serde(default)]
    pub rtt_p99_ms: f64,
    /// Loss and blackhole: packets the fault program matched and dropped.
    #[serde(default)]
    pub matched: u64,
    #[serde(default)]
    pub dropped: u64,
    /// Delay: packets the delay line held, and how late its releases
    /// were at p99 (its own precision).
    #[serde(default)]
    pub delayed: u64,
    #[serde(default)]
    pub delay_late_p99_us: u64,
    /// Reset: connections destroyed.
    #[serde(default)]
    pub resets: u64,
    /// What went wrong while it ran (its pieces still ended cleanly).
    #[serde(default)]
    pub problems: Vec<String>,
}

/// One rollout: when it started, when Kubernetes would call it complete,
/// when its last old pod was gone (None: not by the end of the run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RolloutRecord {
    pub deployment: String,
    pub revision: u32,
    pub strategy: String,
    pub start_s: f64,
    pub complete_s: Option<f64>,
    pub old_gone_s: Option<f64>,
    /// Each change of the ReplicaSets' replicas: (t_s, old, new).
    #[serde(default)]
    pub steps: Vec<(f64, u32, u32)>,
}

/// What the per-backend share (chart, `new_backend_share`, imbalance)
/// counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ShareBasis {
    /// Responses the clients received, by the pod each names (`X-Pod`;
    /// passed through a client's nginx proxy).
    #[default]
    Responses,
    /// New connections the datapath sent to each backend (SYNs DNATed to
    /// it): backends that do not name themselves (an arbitrary program).
    Connections,
}

impl ShareBasis {
    /// The words the report uses.
    pub fn words(self) -> &'static str {
        match self {
            ShareBasis::Responses => "responses clients received, by the X-Pod header",
            ShareBasis::Connections => {
                "new connections the datapath sent to each backend (the backends do not name themselves)"
            }
        }
    }
}

/// A real program of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProgramInfo {
    /// "deployment web", "client c".
    pub owner: String,
    /// "container", "nginx", "nginx proxy".
    pub kind: String,
    /// argv as the first pod ran it.
    pub command: Vec<String>,
    /// Its generated config (nginx presets; the first pod's), path and text.
    #[serde(default)]
    pub config_path: Option<String>,
    #[serde(default)]
    pub config: Option<String>,
    /// Where the output of its pods went.
    pub logs: String,
}

/// A client proxy's access log, counted after the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessLogTotals {
    pub client: String,
    pub path: String,
    pub requests: u64,
    /// Requests per backend pod (the upstream response's X-Pod).
    pub by_backend: BTreeMap<String, u64>,
    pub unattributed: u64,
    /// Upstream connection attempts (`$upstream_addr` entries).
    pub upstream_attempts: u64,
    pub status_5xx: u64,
}

/// A pod's phase as the report colours it.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PodPhase {
    /// Created, its container not started yet (or still starting up: slow start).
    #[default]
    Pending,
    /// Container running, readiness not decided yet (startup probe pending,
    /// or no readiness result yet).
    Running,
    /// Readiness passing (or no readiness probe): an active endpoint.
    Ready,
    /// Readiness failing: not an endpoint for new flows.
    NotReady,
    /// Being deleted, or its container being killed for a restart
    /// (SIGTERM, grace, SIGKILL).
    Terminating,
    /// Container exited, waiting out the restart back-off (CrashLoopBackOff).
    BackOff,
}

impl PodPhase {
    pub const ALL: [PodPhase; 6] = [
        PodPhase::Pending,
        PodPhase::Running,
        PodPhase::Ready,
        PodPhase::NotReady,
        PodPhase::Terminating,
        PodPhase::BackOff,
    ];

    /// The word the report uses ("not ready", "back-off", ...).
    pub fn word(self) -> &'static str {
        match self {
            PodPhase::Pending => "pending",
            PodPhase::Running => "running",
            PodPhase::Ready => "ready",
            PodPhase::NotReady => "not ready",
            PodPhase::Terminating => "terminating",
            PodPhase::BackOff => "back-off",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PodRecord {
    /// Pod name (also its backend name).
    pub name: String,
    pub deployment: String,
    pub node: u8,
    pub ip: String,
    pub created_s: f64,
    /// When it was gone (deleted, killed, scaled down); None = alive at the end.
    pub removed_s: Option<f64>,
    /// Phase changes in time order: the pod is in `phase` from `t_s` until
    /// the next change (or `removed_s`, or the end of the run).
    pub phases: Vec<PhaseChange>,
    /// Container restarts in time order.
    pub restarts: Vec<Restart>,
    /// The listener's backlog and the server's worker count (for the charts).
    pub backlog: u32,
    pub workers: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhaseChange {
    pub t_s: f64,
    pub phase: PodPhase,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Restart {
    /// When the container was killed (the restart's cause was decided).
    pub t_s: f64,
    /// Restart count after this restart (1 for the first).
    pub count: u32,
    /// "liveness probe failed: timeout after 1s", "startup probe failed: ...",
    /// "container exited: code 1" ...
    pub reason: String,
}

/// The settings the report states so a reader knows the clocks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KubeletInfo {
    /// The kubelet/HPA time scale applied (1 = Kubernetes' own constants).
    pub time_scale: f64,
    /// Effective constants in words after scaling, e.g.
    /// "restart back-off 1s doubling to 30s, reset after 60s of running".
    pub constants: Vec<String>,
    /// One line per configured probe, e.g.
    /// "web liveness: http GET :8080/healthz, period 1s, timeout 1s, failureThreshold 1".
    pub probes: Vec<String>,
    /// One line per autoscaler.
    pub autoscalers: Vec<String>,
}

/// Per-pod telemetry for one bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PodBucket {
    /// Phase at the bucket's end.
    pub phase: PodPhase,
    /// Restarts so far (cumulative, at the bucket's end).
    pub restarts: u32,
    /// Probe kind ("startup", "readiness", "liveness") → outcomes of the
    /// probes that ended in this bucket.
    pub probes: BTreeMap<String, ProbeBucket>,
    /// Accept-queue depth of the serving listener (sock_diag, as `ss -lnt`
    /// Recv-Q), highest and mean over this bucket's samples.
    pub accept_queue_max: u32,
    pub accept_queue_mean: f64,
    /// The listener's backlog as the kernel reports it (`ss -lnt` Send-Q);
    /// 0 when no listener was seen.
    pub backlog: u32,
    /// Busy workers, highest and mean over this bucket's samples.
    pub busy_max: u32,
    pub busy_mean: f64,
    /// Requests the server completed in this bucket (health checks excluded).
    pub requests: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProbeBucket {
    pub success: u32,
    pub failure: u32,
    pub timeout: u32,
    /// Latency of the probes that ended in this bucket, mean and highest, in ms.
    pub latency_ms_mean: f64,
    pub latency_ms_max: f64,
}

impl ProbeBucket {
    /// Probes that ended in the bucket, whatever their outcome.
    pub fn count(&self) -> u32 {
        self.success + self.failure + self.timeout
    }
}

/// Per-deployment figures for one bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DeploymentBucket {
    /// Replicas the deployment wants at the bucket's end (spec, or the HPA's).
    pub desired: u32,
    /// Pods that exist (not yet removed) at the bucket's end.
    pub pods: u32,
    /// Ready pods at the bucket's end, and the lowest count seen during it.
    pub ready: u32,
    pub ready_min: u32,
    /// When an autoscaler drives it: the autoscaler's last computed desired
    /// replicas and the metric value (per-pod average) it used.
    pub hpa_desired: Option<u32>,
    pub hpa_metric: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SuiteInfo {
    pub name: String,
    pub path: String,
    pub description: String,
    /// The suite file's header comment (leading `#` lines, without the `#`):
    /// "what this shows" for the report.
    pub header: String,
    /// The whole suite file as written.
    pub yaml: String,
    /// Datapath mode in words, e.g. "cilium-1.11: random selection, legacy
    /// CT reuse, service TCP lifetime 21600s".
    pub datapath_mode: String,
    /// Every effective datapath value (profile, overrides, fixed rules).
    #[serde(default)]
    pub datapath: Vec<DatapathSetting>,
}

/// One effective datapath value and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatapathSetting {
    pub name: String,
    pub value: String,
    /// `profile` (the Cilium release's value) or `suite` (set in the file).
    pub from: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Its ReplicaSet: the deployment's template revision (1 = initial).
    #[serde(default = "one")]
    pub revision: u32,
    /// When kubelet sent it SIGTERM (after its preStop hook).
    #[serde(default)]
    pub sigterm_s: Option<f64>,
    /// New connections the datapath still sent it after its SIGTERM.
    #[serde(default)]
    pub conns_after_sigterm: u64,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Bucket {
    /// Start of the bucket.
    pub t_s: f64,
    /// Keyed by backend (pod) name; backends with all-zero values may be absent.
    pub backends: BTreeMap<String, BackendBucket>,
    pub client: ClientBucket,
    /// Pod name → telemetry (pods that existed during the bucket).
    #[serde(default)]
    pub pods: BTreeMap<String, PodBucket>,
    /// Deployment name → replica figures.
    #[serde(default)]
    pub deployments: BTreeMap<String, DeploymentBucket>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BackendBucket {
    /// Responses clients received from this backend (by the pod name in the body).
    pub responses: u64,
    /// New connections the datapath sent to it (SYNs DNATed to it).
    pub new_conns: u64,
    /// Live service CT entries pointing at it at the bucket's end.
    pub ct_entries: u64,
}

impl BackendBucket {
    /// What a share counts for this backend.
    pub fn share_count(&self, basis: ShareBasis) -> u64 {
        match basis {
            ShareBasis::Responses => self.responses,
            ShareBasis::Connections => self.new_conns,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Ok responses whose pod saw the client's own address as the peer
    /// (no SNAT on the way; the pod server says, other programs do not).
    #[serde(default)]
    pub source_kept: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub t_s: f64,
    /// "scale", "kill", "delete_pod", "flush_ct", "restart_client", "spike",
    /// "pod_ready", "pod_not_ready", "pod_gone", "restart", "hpa_scale",
    /// "run_start", "run_end", "interrupted", "ct_gc", "fault",
    /// "fault_end", "node_not_ready", "node_ready", "node_tainted",
    /// "node_untainted", "pod_evicted", "pod_replaced", ...
    pub kind: String,
    /// Human-readable, e.g. "scale web 3 → 6".
    pub detail: String,
    /// Timeline actions are drawn as labelled markers; lifecycle events are not.
    pub timeline: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatapathTotals {
    /// Reason counter name → value (e.g. "ct-reopen").
    pub reasons: BTreeMap<String, u64>,
    /// Backend (pod) name → counters.
    pub backends: BTreeMap<String, BackendCounters>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BackendCounters {
    pub selections: u64,
    pub reselections: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Connections opened to it (SYNs the datapath DNATed to it).
    #[serde(default)]
    pub connections: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    #[schemars(schema_with = "nonfinite::schema")]
    pub measured: Option<f64>,
    pub pass: bool,
    pub note: String,
    /// The span the window's buckets cover when it differs from
    /// `window_s`: a window takes the buckets whose start lies in it, so
    /// an edge inside a bucket takes that bucket whole. None when they
    /// agree, or for a metric counted at exact times (`restarts`,
    /// `rollout_duration_s`, `requests_to_terminating`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_s: Option<[f64; 2]>,
}

/// pass: every expectation held; fail: one did not; interrupted: a
/// signal stopped the run; error: the run failed (see `error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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

    /// The whole run as a window: from the first bucket (or 0, whichever is
    /// earlier) to [`RunRecord::end_s`].
    pub fn whole_s(&self) -> [f64; 2] {
        [
            self.buckets.first().map_or(0.0, |b| b.t_s.min(0.0)),
            self.end_s(),
        ]
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

pub mod nonfinite;
pub mod schema;
