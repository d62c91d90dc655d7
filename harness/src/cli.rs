//! Command-line surface of `svclab` (clap): raw flags only; `lib::run`
//! turns them into work.
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Output and run folders as absolute paths from the start, whatever the
/// user typed: every path the run hands on (nginx's `-p`/`-c`/`-e`, a
/// shim's `--log`, `{run_dir}`, links in pages) must not depend on the
/// working directory of whoever reads it. nginx resolves a relative `-c`
/// against its `-p` prefix, which broke every nginx suite under the
/// default `--out reports` (issue 30).
fn absolute(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("expected a path, got an empty string".into());
    }
    std::path::absolute(s).map_err(|e| format!("{s}: {e}"))
}

/// `svclab monitor`'s flags.
#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// Run folder (reports/<suite>/<run-id>) or run id.
    pub run: std::path::PathBuf,
    /// Only flows with this client source port, service port or backend port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Only decisions for this backend: a pod name or its IP.
    #[arg(long)]
    pub backend: Option<String>,
    /// Only these verdicts (repeatable), e.g. `--reason ct-reopen`.
    #[arg(long = "reason")]
    pub reasons: Vec<String>,
    /// Only this node.
    #[arg(long)]
    pub node: Option<u8>,
    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<u64>,
    /// Take over from a monitor that was killed while attached (it left the
    /// events on). A monitor still running loses its events to this one.
    #[arg(long)]
    pub force: bool,
    /// Where run folders live (to find a run by id).
    #[arg(long, default_value = "reports", value_parser = absolute)]
    pub reports: std::path::PathBuf,
}

#[derive(Debug, Parser)]
#[command(
    name = "svclab",
    version,
    about = "Reproduce Kubernetes service-datapath and probe incidents on one Linux box",
    after_help = "Examples:\n  sudo svclab run suites/ct-port-reuse-legacy.yaml\n  sudo svclab run --hold --time-scale 0.5 suites/ct-port-reuse-legacy.yaml\n  sudo svclab inspect reports/ct-port-reuse-legacy/<run-id> --port 40000\n  sudo svclab monitor reports/ct-port-reuse-legacy/<run-id> --port 40000\n  svclab list\n  sudo svclab nightly --filter ct-\n  sudo svclab compare suites/ct-port-reuse-compare.yaml --engines ebpf:cilium-1.11,kube-proxy-nftables,socket-lb\n  svclab report reports/ct-port-reuse-legacy/<run-id>\n  svclab validate suites/*.yaml\n  svclab new my-incident --from kill-pod\n  svclab schema > suites/svclab.schema.json\n  svclab schema --run-record   JSON Schema of run.json\n  sudo svclab doctor           check root, kernel, the eBPF datapath and socket-lb\n  sudo svclab clean            remove leftovers of crashed runs (svl-* netns, cgroup trees)\n  sudo svclab clean --run r42  remove only run r42's leftovers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run suites end to end; exit 0 when every expectation passes, 1 when
    /// one fails, 2 on bad input, 130 when interrupted.
    Run(RunArgs),
    /// Show a live or held run's datapath from its BPF maps: services and
    /// backends, conntrack entries (tuple → backend, flags, expiry), counters, pods.
    Inspect {
        /// Run folder (reports/<suite>/<run-id>) or run id.
        run: std::path::PathBuf,
        /// Only conntrack entries from this client source port.
        #[arg(long)]
        port: Option<u16>,
        /// Only this node.
        #[arg(long)]
        node: Option<u8>,
        /// Where run folders live (to find a run by id).
        #[arg(long, default_value = "reports", value_parser = absolute)]
        reports: std::path::PathBuf,
    },
    /// Stream a live or held run's per-flow decisions, like `cilium
    /// monitor` / `hubble observe`: time, client → service, the engine's
    /// verdict (ct-new, ct-reopen, ct-rebalance, ct-drain, backend-gone,
    /// reject-no-backend, ...) and the chosen backend. Filters run in the
    /// kernel where the engine allows (eBPF, socket-LB); kube-proxy engines
    /// stream the node's conntrack NEW events. Until Ctrl-C, `--count`
    /// events, or the run's end.
    Monitor(MonitorArgs),
    /// List suites with their one-line descriptions.
    List {
        /// Folder of suite files.
        #[arg(default_value = "suites")]
        dir: std::path::PathBuf,
        /// Print one JSON object per suite on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Re-render a run's index.html (and series.csv) from its run.json.
    Report {
        /// The run folder (reports/<suite>/<run-id>).
        #[arg(value_parser = absolute)]
        run_dir: std::path::PathBuf,
    },
    /// Run one suite under several dataplane engines, one after another,
    /// and write a comparison page next to the individual reports. Exit 0
    /// when every engine's run passes, 1 otherwise, 2 on bad input.
    Compare(CompareArgs),
    /// Run every suite in a folder (or those whose name contains --filter),
    /// write each report, keep history and write reports/index.html with
    /// regressions flagged. Exit 1 when any verdict is not PASS.
    Nightly(NightlyArgs),
    /// Parse and validate suites without touching the kernel (exit 2 on bad input).
    Validate {
        #[arg(required = true)]
        suites: Vec<std::path::PathBuf>,
        /// Treat warnings as errors (exit 2), e.g. in CI.
        #[arg(long)]
        deny_warnings: bool,
        /// Print one JSON object per file on stdout: its errors and
        /// warnings with their positions.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script: `svclab completions bash >
    /// /etc/bash_completion.d/svclab` (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff), or with `--out DIR` write one page per
    /// command there (`svclab.1`, `svclab-run.1`, ...).
    Man {
        #[arg(long, value_parser = absolute)]
        out: Option<std::path::PathBuf>,
    },
    /// Print the suite file's JSON Schema (draft 2020-12) for editors; the
    /// same as suites/svclab.schema.json. With --run-record, the schema of
    /// a run's run.json instead, for tools that read run records.
    #[command(
        after_help = "Examples:\n  svclab schema > suites/svclab.schema.json\n  svclab schema --run-record > run.schema.json"
    )]
    Schema {
        /// Print run.json's schema (the run record every run writes,
        /// reports/<suite>/<run-id>/run.json) instead of the suite file's.
        #[arg(long)]
        run_record: bool,
    },
    /// Start a suite for a new incident from an existing one: writes
    /// suites/NAME.yaml (or --out) with the schema modeline, a header to
    /// fill in and the source's body renamed. Never overwrites (exit 2).
    New {
        /// The new suite's name (letters, digits, '.', '_', '-').
        name: String,
        /// The suite to start from: a path, or the name of a suite in suites/.
        #[arg(long)]
        from: std::path::PathBuf,
        /// Where to write it; default suites/NAME.yaml.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Start a suite from a customer's manifests (`kubectl get
    /// deploy,svc,hpa -o yaml`, a Helm or kustomize render): Deployments,
    /// StatefulSets, ReplicaSets, Services, HPAs (v2) and PDBs become a
    /// commented suite; every field that does not map is listed at its top
    /// with the reason. Exit 2 on bad input (file, document, field path,
    /// what was expected).
    #[command(
        after_help = "Examples:\n  kubectl get deploy,svc,hpa -o yaml > customer.yaml\n  svclab import customer.yaml --out suites/customer.yaml\n  svclab import app.yaml hpa.yaml --name checkout --command web='/usr/bin/python3 -m http.server {port}'"
    )]
    Import {
        /// Manifest files: multi-document YAML or JSON, single objects or `List`s.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Write the suite here (never over an existing file); default: stdout.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// The suite's name; default: the first workload's.
        #[arg(long)]
        name: Option<String>,
        /// `NAME=CMD`: container NAME runs CMD (split on whitespace, no
        /// shell; `{port}`, `{pod}`, `{pod_ip}`, `{run_dir}` replaced per
        /// pod) in place of svclab's pod server. Repeatable.
        #[arg(long = "command", value_name = "NAME=CMD")]
        command: Vec<String>,
    },
    /// Write a suite as Kubernetes manifests for a real cluster: its
    /// Deployments, Services and HPAs (Kubernetes v1.33 API), its clients as
    /// k6 Jobs and its timeline as a commented kubectl script; what has no
    /// Kubernetes equivalent is listed in NOTES.txt and on stderr. Never
    /// overwrites a file (exit 2); exit 2 on a bad suite.
    #[command(
        after_help = "Examples:\n  svclab export probe-liveness-cascade\n  svclab export suites/kill-pod.yaml --out /tmp/kill-pod"
    )]
    Export {
        /// The suite: a path, or the name of a suite in suites/.
        suite: std::path::PathBuf,
        /// The folder to write into; default export/<suite name>/.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// The host package sets (`scripts/bootstrap.sh` profiles) the suites
    /// or suite folders need, one a line; `./just run` installs them.
    #[command(hide = true)]
    Needs {
        #[arg(required = true)]
        suites: Vec<std::path::PathBuf>,
    },
    /// A pod's server process (started by `run` inside the pod netns).
    #[command(hide = true)]
    PodServer(crate::podserver::ServerArgs),
    /// A real program as a pod's container (started by `run`): the shim
    /// that enters the pod netns, owns the program's process group and
    /// captures its output.
    #[command(hide = true)]
    ContainerRun(crate::kubelet::programs::shim::ShimArgs),
    /// Check that this machine can run svclab: root, kernel (TCX), eBPF load.
    Doctor,
    /// Remove leftovers of crashed runs: every `svl-<run>-*` netns and the
    /// processes inside them (by PID). Touches nothing without the prefix.
    Clean {
        /// Only this run's leftovers (the `<run>` in `svl-<run>-`).
        #[arg(long)]
        run: Option<String>,
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where run folders live: temporary files a killed report writer
        /// left in them (`.index.html.tmp-<pid>`) are removed too.
        #[arg(long, default_value = "reports", value_parser = absolute)]
        reports: std::path::PathBuf,
    },
}

/// `svclab run` flags.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Suite YAML files.
    #[arg(required = true)]
    pub suites: Vec<std::path::PathBuf>,
    /// Report folder: reports go to <out>/<suite>/<run-id>/.
    #[arg(long, default_value = "reports", value_parser = absolute)]
    pub out: std::path::PathBuf,
    /// No progress bar (CI).
    #[arg(long, short)]
    pub quiet: bool,
    /// Multiply the suite's schedule (duration, timeline, windows) by this,
    /// e.g. 0.25 to replay a 60 s suite in 15 s. Datapath timeouts stay.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Override the suite's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print a machine-readable summary (one JSON object per suite) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Keep the topology and datapath up after the run for `svclab
    /// inspect`; Ctrl-C tears down.
    #[arg(long)]
    pub hold: bool,
    /// Also save the verdicts as JUnit XML here (one test case per
    /// expectation), written even when a run fails.
    #[arg(long, value_name = "FILE", value_parser = absolute)]
    pub junit: Option<std::path::PathBuf>,
    /// Treat the suite's warnings as errors (exit 2 before anything runs).
    #[arg(long)]
    pub deny_warnings: bool,
}

/// `svclab compare` flags.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The suite YAML file (or a suite name in suites/).
    pub suite: std::path::PathBuf,
    /// Comma-separated engine labels, e.g.
    /// `ebpf:cilium-1.11,kube-proxy-iptables`; default the suite's `matrix.engines`.
    #[arg(long, value_delimiter = ',')]
    pub engines: Vec<String>,
    #[arg(long, default_value = "reports", value_parser = absolute)]
    pub out: std::path::PathBuf,
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    #[arg(long, short)]
    pub quiet: bool,
    /// Print one JSON object per engine's run on stdout (as `run --json`).
    #[arg(long)]
    pub json: bool,
    /// Also save every engine's verdicts as JUnit XML here (one test suite
    /// per engine, `<suite>.<engine>`), written even when a run fails.
    #[arg(long, value_name = "FILE", value_parser = absolute)]
    pub junit: Option<std::path::PathBuf>,
}

/// `svclab nightly` flags.
#[derive(Debug, clap::Args)]
pub struct NightlyArgs {
    #[arg(long, default_value = "suites")]
    pub suites: std::path::PathBuf,
    #[arg(long, default_value = "reports", value_parser = absolute)]
    pub out: std::path::PathBuf,
    /// Only suites whose name contains this.
    #[arg(long)]
    pub filter: Option<String>,
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    #[arg(long, short)]
    pub quiet: bool,
    /// Also save every suite's verdicts as JUnit XML here (broken
    /// suites as errors), written even when suites fail.
    #[arg(long, value_name = "FILE", value_parser = absolute)]
    pub junit: Option<std::path::PathBuf>,
    /// Print a JSON summary on stdout at the end: each suite's verdict,
    /// run id and report, the regressions and the time taken.
    #[arg(long)]
    pub json: bool,
}
