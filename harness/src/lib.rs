//! The svclab harness library: everything the `svclab` binary does lives
//! here so tests can drive it in-process. Suite runtime, topology, cluster
//! and report modules arrive with their issues; today it checks the machine
//! (`doctor`) and cleans up after crashed runs (`clean`).
pub mod clean;
pub mod cli;

use std::{net::Ipv4Addr, process::ExitCode};

use anyhow::Context as _;
use svclab_datapath::{Backend, Config, Datapath, Frontend, NetnsRef};

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Doctor => doctor(),
        Command::Clean { run, dry_run } => {
            let leftovers = match clean::find(run.as_deref()) {
                Err(e @ clean::CleanError::BadRunId(_)) => {
                    eprintln!("svclab: {e}");
                    return Ok(ExitCode::from(2));
                }
                other => other?,
            };
            if leftovers.is_empty() {
                println!("nothing to clean");
            }
            for l in &leftovers {
                println!(
                    "{} netns {} ({} processes: {:?})",
                    if dry_run { "would remove" } else { "removing" },
                    l.netns,
                    l.pids.len(),
                    l.pids
                );
                if !dry_run {
                    clean::remove(l).with_context(|| format!("cleaning {}", l.netns))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn doctor() -> anyhow::Result<ExitCode> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("kernel: {}", release.trim());
    // SAFETY: no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    println!(
        "root: {}",
        if root {
            "yes"
        } else {
            "no (svclab creates netns and loads eBPF: run it as root)"
        }
    );
    let netns = NetnsRef::current()?;
    let mut dp = Datapath::load(netns, Config::default()).context("loading the eBPF datapath")?;
    let fe = Frontend::tcp(Ipv4Addr::new(198, 19, 0, 1), 80);
    dp.upsert_service(fe)?;
    dp.set_backends(fe, &[Backend::active("198.18.0.2:80".parse()?)])?;
    dp.delete_service(fe)?;
    dp.close()?;
    println!(
        "eBPF datapath: loads, programs verified, maps writable (nothing attached, nothing pinned)"
    );
    Ok(ExitCode::SUCCESS)
}
