//! `svclab compare <suite> --engines a,b,c`: validates the suite and every
//! engine before any kernel state exists, runs the suite once per engine
//! (`runner::compare`), prints each engine's verdict and the comparison
//! page. Exit 0 when every run passed, 1 when one did not, 2 on bad input,
//! 130 when interrupted. `--json` prints each engine's run as `run --json`
//! does; `--junit FILE` saves a JUnit test suite per engine (a file that
//! does not load as an error case).
use std::process::ExitCode;

use anyhow::Context as _;
use svclab_report::{fmt::verdict_line, junit::JunitSuite, record::Verdict};

use super::{
    run::{junit_dir, save_junit},
    shared::{check_writable, load_suite, require_root, stop_on_signals},
};
use crate::{
    cli::CompareArgs,
    runner::{self, compare},
};

/// Exit 2 for a suite that cannot be compared, saved as an error case
/// when `--junit` asks.
fn bad_input(junit: Option<&std::path::Path>, suite: &std::path::Path, error: &str) -> ExitCode {
    if let Some(j) = junit {
        let name = suite
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = suite.display().to_string();
        save_junit(
            j,
            &[JunitSuite::Broken {
                suite: &name,
                path: &path,
                error,
            }],
        );
    }
    ExitCode::from(2)
}

pub fn run(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let junit = args.junit.as_deref();
    if let Some(j) = junit
        && let Err(e) = check_writable(junit_dir(j))
    {
        eprintln!("svclab compare: {e:#}");
        return Ok(ExitCode::from(2));
    }
    let loaded = match load_suite(&args.suite) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(bad_input(junit, &args.suite, &e));
        }
    };
    let labels = if args.engines.is_empty() {
        loaded
            .suite
            .matrix
            .as_ref()
            .map(|m| m.engines.clone())
            .unwrap_or_default()
    } else {
        args.engines.clone()
    };
    if labels.len() < 2 {
        let m = "give at least two engines (--engines ebpf:cilium-1.11,kube-proxy-iptables) or a `matrix:` in the suite";
        eprintln!("svclab compare: {m}");
        return Ok(bad_input(junit, &args.suite, m));
    }
    let engines = match compare::parse_engines(&labels) {
        Ok(e) => e,
        Err(m) => {
            eprintln!("svclab compare: {m}");
            return Ok(bad_input(junit, &args.suite, &m));
        }
    };
    if !(args.time_scale.is_finite() && (0.01..=100.0).contains(&args.time_scale)) {
        let m = "--time-scale must be between 0.01 and 100";
        eprintln!("svclab compare: {m}");
        return Ok(bad_input(junit, &args.suite, m));
    }
    if let Err(m) = compare::preflight_all(&loaded, &engines, args.time_scale) {
        eprintln!("svclab compare: {m}");
        return Ok(bad_input(junit, &args.suite, &m));
    }
    super::shared::warn_windows(&loaded, args.time_scale);
    if let Err(e) = check_writable(&args.out) {
        eprintln!("svclab compare: {e:#}");
        return Ok(ExitCode::from(2));
    }
    if !require_root("svclab compare") {
        return Ok(ExitCode::from(2));
    }
    let stop = stop_on_signals()?;
    let opts = runner::RunOptions {
        out: args.out.clone(),
        time_scale: args.time_scale,
        quiet: args.quiet,
        hold: false,
        stop: std::sync::Arc::clone(&stop),
        exe: std::env::current_exe().context("locating the svclab executable")?,
    };
    let o = compare::run_compare(&loaded, &engines, &opts)?;
    if let Some(j) = junit {
        let suites: Vec<JunitSuite> = o
            .runs
            .iter()
            .map(|(_, run)| JunitSuite::Ran {
                record: &run.record,
                report: run.dir.join("index.html"),
            })
            .collect();
        save_junit(j, &suites);
    }
    let mut worst = 0u8;
    for (e, run) in &o.runs {
        if args.json {
            println!("{}", super::run::json_summary(run));
        }
        eprintln!("== {} under {}", loaded.suite.name, e.label());
        for x in &run.record.expectations {
            eprintln!("   {}", verdict_line(x));
        }
        if let Some(err) = &run.record.error {
            eprintln!("   error: {err}");
        }
        eprintln!(
            "   verdict: {:?}; report: {}",
            run.verdict,
            run.dir.join("index.html").display()
        );
        worst = worst.max(match run.verdict {
            Verdict::Pass => 0,
            Verdict::Interrupted => 130,
            _ => 1,
        });
    }
    if o.runs.len() < engines.len() {
        worst = worst.max(130);
    }
    eprintln!("comparison: {}", o.page.display());
    Ok(ExitCode::from(worst))
}
