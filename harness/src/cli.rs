//! Command-line surface of `svclab` (clap): raw flags only; `lib::run`
//! turns them into work.
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "svclab",
    version,
    about = "Reproduce Kubernetes service-datapath and probe incidents on one Linux box",
    after_help = "Examples:\n  sudo svclab run suites/ct-port-reuse-legacy.yaml\n  svclab validate suites/*.yaml\n  sudo svclab doctor           check root, kernel and the eBPF datapath\n  sudo svclab clean            remove leftovers of crashed runs (svl-* netns)\n  sudo svclab clean --run r42  remove only run r42's leftovers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run suites end to end; exit 0 when every expectation passes, 1 when
    /// one fails, 2 on bad input, 130 when interrupted.
    Run {
        /// Suite YAML files.
        #[arg(required = true)]
        suites: Vec<std::path::PathBuf>,
        /// Report folder: reports go to <out>/<suite>/<run-id>/.
        #[arg(long, default_value = "reports")]
        out: std::path::PathBuf,
        /// No progress bar (CI).
        #[arg(long, short)]
        quiet: bool,
        /// Multiply the suite's schedule (duration, timeline, windows) by this,
        /// e.g. 0.25 to replay a 60 s suite in 15 s. Datapath timeouts stay.
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
    },
    /// Parse and validate suites without touching the kernel (exit 2 on bad input).
    Validate {
        #[arg(required = true)]
        suites: Vec<std::path::PathBuf>,
    },
    /// A pod's server process (started by `run` inside the pod netns).
    #[command(hide = true)]
    PodServer(crate::podserver::ServerArgs),
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
    },
}
