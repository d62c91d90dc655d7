//! `svclab run`: validate every suite given before any kernel state exists,
//! then run them one after another, print each verdict and return the worst
//! exit code (0 pass, 1 fail, 2 bad input, 130 interrupted).
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;

use super::shared::{check_writable, require_root, stop_on_signals};
use crate::runner;

/// `svclab run` flags.
pub struct RunFlags {
    pub out: PathBuf,
    pub quiet: bool,
    pub time_scale: f64,
    pub seed: Option<u64>,
    pub json: bool,
    pub hold: bool,
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
fn suite_path(p: &Path) -> PathBuf {
    if !p.exists() && p.extension().is_none() && p.components().count() == 1 {
        let candidate = Path::new("suites").join(p).with_extension("yaml");
        if candidate.exists() {
            return candidate;
        }
    }
    p.to_owned()
}

pub fn run(paths: &[PathBuf], flags: RunFlags) -> anyhow::Result<ExitCode> {
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
    if let Err(e) = check_writable(&out) {
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
