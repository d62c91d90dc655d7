//! The svclab harness library: everything the `svclab` binary does lives
//! here so tests can drive it in-process. Suite runtime, topology, cluster
//! and report modules arrive with their issues; today it checks the machine
//! (`doctor`) and cleans up after crashed runs (`clean`).
pub mod autoscaler;
pub mod clean;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod inspect;
pub mod kubelet;
pub mod metrics;
pub mod nightly;
pub mod pods;
pub mod podserver;
pub mod podstats;
pub mod probe;
pub mod runner;
pub mod sockdiag;

use std::{net::Ipv4Addr, process::ExitCode};

use anyhow::Context as _;
use svclab_datapath::{Backend, Config, Datapath, Frontend, NetnsRef};

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Doctor => doctor(),
        Command::PodServer(args) => {
            podserver::serve(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { suites } => {
            let mut bad = false;
            for path in &suites {
                match svclab_suite::load(path) {
                    Ok(l) => println!("{}: ok ({})", path.display(), l.suite.name),
                    Err(e) => {
                        eprintln!("{e}");
                        bad = true;
                    }
                }
            }
            Ok(ExitCode::from(if bad { 2 } else { 0 }))
        }
        Command::Run {
            suites,
            out,
            quiet,
            time_scale,
            seed,
            json,
            hold,
        } => run_cmd(
            &suites,
            RunFlags {
                out,
                quiet,
                time_scale,
                seed,
                json,
                hold,
            },
        ),
        Command::List { dir } => list(&dir),
        Command::Report { run_dir } => match svclab_report::write::rerender(&run_dir) {
            Ok(()) => {
                println!("{}", run_dir.join("index.html").display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("svclab report: {e}");
                Ok(ExitCode::from(2))
            }
        },
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
        } => match inspect::inspect(&run, &reports, &inspect::InspectFilter { port, node }) {
            Ok(text) => {
                print!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("svclab inspect: {e:#}");
                Ok(ExitCode::from(2))
            }
        },
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

/// `svclab run` flags.
struct RunFlags {
    out: std::path::PathBuf,
    quiet: bool,
    time_scale: f64,
    seed: Option<u64>,
    json: bool,
    hold: bool,
}

/// False (after saying why) when not root: runs create network namespaces
/// and load eBPF programs.
pub(crate) fn require_root(what: &str) -> bool {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    eprintln!(
        "{what} needs root: it creates network namespaces and loads eBPF programs (try: sudo -E just run <suite>)"
    );
    false
}

/// A flag SIGINT and SIGTERM set, so a run stops, tears down and reports.
pub(crate) fn stop_on_signals() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, std::sync::Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    Ok(stop)
}

fn list(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let paths = match nightly::suite_files(dir, None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("svclab list: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut bad = false;
    for p in paths {
        match svclab_suite::load(&p) {
            Ok(l) => println!("{:<28} {}", l.suite.name, l.suite.description),
            Err(e) => {
                bad = true;
                let stem = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                println!("{stem:<28} INVALID: {e}");
            }
        }
    }
    Ok(ExitCode::from(if bad { 2 } else { 0 }))
}

/// One JSON object summarising a run, for `--json`.
pub fn json_summary(o: &runner::RunOutcome) -> serde_json::Value {
    let r = &o.record;
    serde_json::json!({
        "suite": r.suite.name,
        "run_id": r.run_id,
        "verdict": r.verdict,
        "interrupted": r.interrupted,
        "error": r.error,
        "report": o.dir.join("index.html"),
        "elapsed_s": r.elapsed_s,
        "expectations": r.expectations,
        "mechanism": r.mechanism,
    })
}

/// A suite argument as given, or `suites/<name>.yaml` when it is a bare
/// suite name (`just run probe-liveness-cascade`).
fn suite_path(p: &std::path::Path) -> std::path::PathBuf {
    if !p.exists() && p.extension().is_none() && p.components().count() == 1 {
        let candidate = std::path::Path::new("suites")
            .join(p)
            .with_extension("yaml");
        if candidate.exists() {
            return candidate;
        }
    }
    p.to_owned()
}

fn run_cmd(paths: &[std::path::PathBuf], flags: RunFlags) -> anyhow::Result<ExitCode> {
    let RunFlags {
        out,
        quiet,
        time_scale,
        seed,
        json,
        hold,
    } = flags;
    if !(time_scale.is_finite() && (0.01..=100.0).contains(&time_scale)) {
        eprintln!("svclab: --time-scale must be between 0.01 and 100, got {time_scale}");
        return Ok(ExitCode::from(2));
    }
    // Validate everything before any kernel state exists.
    let mut loaded = Vec::new();
    for p in paths {
        match svclab_suite::load(&suite_path(p)) {
            Ok(mut l) => {
                if let Some(seed) = seed {
                    l.suite.seed = seed;
                }
                if let Err(e) = runner::kube_scale(&l.suite, time_scale) {
                    eprintln!("{}: {e}", l.path.display());
                    return Ok(ExitCode::from(2));
                }
                loaded.push(l)
            }
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    if let Err(e) = nightly::check_writable(&out) {
        eprintln!("svclab run: {e:#}");
        return Ok(ExitCode::from(2));
    }
    if !require_root("svclab run") {
        return Ok(ExitCode::from(2));
    }
    let stop = stop_on_signals()?;
    let opts = runner::RunOptions {
        out,
        time_scale,
        quiet,
        hold,
        stop: std::sync::Arc::clone(&stop),
        exe: std::env::current_exe().context("locating the svclab executable")?,
    };
    let mut worst = 0u8;
    for l in &loaded {
        eprintln!("== {} ({})", l.suite.name, l.path.display());
        let outcome = runner::run_suite(l, &opts)?;
        let r = &outcome.record;
        for e in &r.expectations {
            let measured = e.measured.map_or("n/a".to_owned(), |v| format!("{v:.4}"));
            eprintln!(
                "   {} {} over [{:.0}s, {:.0}s]: {measured} (min {:?}, max {:?})",
                if e.pass { "PASS" } else { "FAIL" },
                e.metric,
                e.window_s[0],
                e.window_s[1],
                e.min,
                e.max
            );
        }
        if let Some(err) = &r.error {
            eprintln!("   error: {err}");
        }
        eprintln!(
            "   verdict: {:?}; report: {}",
            outcome.verdict,
            outcome.dir.join("index.html").display()
        );
        if json {
            println!("{}", json_summary(&outcome));
        }
        let code = match outcome.verdict {
            svclab_report::record::Verdict::Pass => 0,
            svclab_report::record::Verdict::Interrupted => 130,
            _ => 1,
        };
        worst = worst.max(code);
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
    }
    Ok(ExitCode::from(worst))
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
