//! The subcommands of `svclab`, one file each, and what they share: the
//! root check, the SIGINT/SIGTERM flag a run stops on, and the suite-folder
//! and report-folder checks done before any kernel state exists.
pub mod clean;
pub mod doctor;
pub mod inspect;
pub mod list;
pub mod nightly;
pub mod report;
pub mod run;
pub mod validate;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{Arc, atomic::AtomicBool},
};

use anyhow::Context as _;

use crate::cli::{Cli, Command};

/// Runs one parsed command line; the exit code follows the README (0 pass,
/// 1 fail, 2 bad input, 130 interrupted).
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Doctor => doctor::run(),
        Command::PodServer(args) => {
            crate::cluster::podserver::serve(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { suites } => Ok(validate::run(&suites)),
        Command::Run {
            suites,
            out,
            quiet,
            time_scale,
            seed,
            json,
            hold,
        } => run::run(
            &suites,
            run::RunFlags {
                out,
                quiet,
                time_scale,
                seed,
                json,
                hold,
            },
        ),
        Command::List { dir } => Ok(list::run(&dir)),
        Command::Report { run_dir } => Ok(report::run(&run_dir)),
        Command::Nightly {
            suites,
            out,
            filter,
            time_scale,
            quiet,
        } => nightly::run(&nightly::NightlyOptions {
            suites,
            out,
            filter,
            time_scale,
            quiet,
        }),
        Command::Inspect {
            run,
            port,
            node,
            reports,
        } => Ok(inspect::run(
            &run,
            &reports,
            &inspect::InspectFilter { port, node },
        )),
        Command::Clean {
            run,
            dry_run,
            reports,
        } => clean::run(run.as_deref(), dry_run, &reports),
    }
}

/// False (after saying why) when not root: runs create network namespaces
/// and load eBPF programs.
pub(crate) fn require_root(what: &str) -> bool {
    if svclab_topology::is_root() {
        return true;
    }
    eprintln!(
        "{what} needs root: it creates network namespaces and loads eBPF programs (try: sudo -E just run <suite>)"
    );
    false
}

/// A flag SIGINT and SIGTERM set, so a run stops, tears down and reports.
pub(crate) fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    Ok(stop)
}

/// Suite files (`*.yaml`, `*.yml`) in `dir`, sorted, optionally only those
/// whose file name contains `filter`.
pub fn suite_files(dir: &Path, filter: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading suite folder {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter(|p| {
            filter.is_none_or(|f| {
                p.file_stem()
                    .is_some_and(|s| s.to_string_lossy().contains(f))
            })
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Fails early, before any suite runs, when reports cannot be written.
pub fn check_writable(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let probe = out.join(format!(".svclab-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"ok").with_context(|| format!("{} is not writable", out.display()))?;
    std::fs::remove_file(&probe).with_context(|| format!("removing {}", probe.display()))?;
    Ok(())
}
