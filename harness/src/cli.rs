//! Command-line surface of `svclab` (clap): raw flags only; `lib::run`
//! turns them into work.
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "svclab",
    version,
    about = "Reproduce Kubernetes service-datapath and probe incidents on one Linux box",
    after_help = "Examples:\n  sudo svclab doctor           check root, kernel and the eBPF datapath\n  sudo svclab clean            remove leftovers of crashed runs (svl-* netns)\n  sudo svclab clean --run r42  remove only run r42's leftovers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
