//! `svclab run`: validate every suite given before any kernel state exists,
//! then run them one after another, print each verdict and return the worst
//! exit code (0 pass, 1 fail, 2 bad input, 130 interrupted). With
//! `--junit FILE` the verdicts are also saved as JUnit XML, rewritten after
//! every suite and on the way out of a failed one, so CI has it whatever the
//! exit code ([`save_junit`], shared with `svclab nightly`).
use std::{path::Path, process::ExitCode};

use anyhow::Context as _;
use svclab_report::{
    fmt::verdict_line,
    junit::{JunitSuite, junit_xml, write_junit},
};

use super::shared::{check_writable, load_suite, print_warnings, require_root, stop_on_signals};
use crate::{cli::RunArgs, runner};

/// How one suite of this invocation ended, for the JUnit file.
enum Finished {
    Ran(Box<runner::RunOutcome>),
    /// Did not load, or the run failed before saving a record.
    Broken {
        suite: String,
        path: String,
        error: String,
    },
}

impl Finished {
    fn junit(&self) -> JunitSuite<'_> {
        match self {
            Finished::Ran(o) => JunitSuite::Ran {
                record: &o.record,
                report: o.dir.join("index.html"),
            },
            Finished::Broken { suite, path, error } => JunitSuite::Broken { suite, path, error },
        }
    }
}

/// The folder `--junit FILE` goes into, for checking up front that it is
/// writable.
pub(super) fn junit_dir(file: &Path) -> &Path {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Saves the JUnit XML of `suites` at `path`. A failure is printed, not
/// returned: the verdicts decide the exit code, and the folder was checked
/// before any suite ran.
pub(super) fn save_junit(path: &Path, suites: &[JunitSuite]) {
    if let Err(e) = write_junit(path, &junit_xml(suites)) {
        eprintln!("svclab: writing the JUnit file: {e}");
    }
}

fn save_finished(path: Option<&Path>, finished: &[Finished]) {
    if let Some(path) = path {
        let suites: Vec<JunitSuite> = finished.iter().map(Finished::junit).collect();
        save_junit(path, &suites);
    }
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

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let RunArgs {
        suites: paths,
        out,
        quiet,
        time_scale,
        seed,
        json,
        hold,
        junit,
        deny_warnings,
    } = args;
    let junit = junit.as_deref();
    if !(time_scale.is_finite() && (0.01..=100.0).contains(&time_scale)) {
        eprintln!("svclab: --time-scale must be between 0.01 and 100, got {time_scale}");
        return Ok(ExitCode::from(2));
    }
    // Validate everything before any kernel state exists.
    let mut loaded = Vec::new();
    for p in &paths {
        match load_suite(p) {
            Ok(mut l) => {
                if let Some(seed) = seed {
                    l.suite.seed = seed;
                }
                if let Err(e) = runner::preflight(&l.suite, time_scale) {
                    let error = format!("{}: {e}", l.path.display());
                    eprintln!("{error}");
                    return Ok(bad_input(junit, l.suite.name.clone(), p, error));
                }
                if print_warnings(&l, time_scale) && deny_warnings {
                    let error = format!("{}: warnings denied (--deny-warnings)", l.path.display());
                    eprintln!("{error}");
                    return Ok(bad_input(junit, l.suite.name.clone(), p, error));
                }
                loaded.push(l)
            }
            Err(e) => {
                eprintln!("{e}");
                let stem = p.file_stem().unwrap_or(p.as_os_str());
                let suite = stem.to_string_lossy().into_owned();
                return Ok(bad_input(junit, suite, p, e.to_string()));
            }
        }
    }
    for dir in std::iter::once(out.as_path()).chain(junit.map(junit_dir)) {
        if let Err(e) = check_writable(dir) {
            eprintln!("svclab run: {e:#}");
            return Ok(ExitCode::from(2));
        }
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
    let mut finished = Vec::new();
    for l in &loaded {
        eprintln!("== {} ({})", l.suite.name, l.path.display());
        let outcome = match runner::run_suite(l, &opts) {
            Ok(o) => o,
            Err(e) => {
                finished.push(Finished::Broken {
                    suite: l.suite.name.clone(),
                    path: l.path.display().to_string(),
                    error: format!("{e:#}"),
                });
                save_finished(junit, &finished);
                return Err(e);
            }
        };
        let r = &outcome.record;
        for e in &r.expectations {
            eprintln!("   {}", verdict_line(e));
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
        finished.push(Finished::Ran(Box::new(outcome)));
        save_finished(junit, &finished);
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
    }
    Ok(ExitCode::from(worst))
}

/// Exit 2 for a suite that did not validate, its error saved as the JUnit
/// file's only suite when one was asked for (nothing ran).
fn bad_input(junit: Option<&Path>, suite: String, path: &Path, error: String) -> ExitCode {
    if let Some(file) = junit
        && check_writable(junit_dir(file)).is_ok()
    {
        let broken = Finished::Broken {
            suite,
            path: path.display().to_string(),
            error,
        };
        save_finished(Some(file), &[broken]);
    }
    ExitCode::from(2)
}
