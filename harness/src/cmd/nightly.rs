//! `svclab nightly` (what `just nightly` runs): every suite in a folder, one
//! after another, each with its own report; a broken suite file is recorded
//! and the others still run. Then history is compared (verdict flips, key
//! figures worse than the suite's threshold), appended, and
//! `reports/index.html` is written. With `--junit FILE` the verdicts are
//! also saved as JUnit XML (every suite file, broken ones as errors). The
//! exit code is non-zero when any suite did not pass — after everything is
//! written.
use std::{collections::BTreeMap, path::Path, process::ExitCode, sync::Arc, time::Instant};

use anyhow::Context as _;
use svclab_report::{
    index::{self, SuiteOutcome},
    junit::JunitSuite,
    record::Verdict,
};

use super::{
    run::{junit_dir, save_junit},
    shared::{check_writable, suite_files},
};
use crate::{
    cli::NightlyArgs,
    runner::{self, RunOptions},
};

pub fn run(opts: &NightlyArgs) -> anyhow::Result<ExitCode> {
    let files = match suite_files(&opts.suites, opts.filter.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("svclab nightly: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    if files.is_empty() {
        eprintln!(
            "svclab nightly: no suites in {} match",
            opts.suites.display()
        );
        return Ok(ExitCode::from(2));
    }
    let junit = opts.junit.as_deref();
    for dir in std::iter::once(opts.out.as_path()).chain(junit.map(junit_dir)) {
        if let Err(e) = check_writable(dir) {
            eprintln!("svclab nightly: {e:#}");
            return Ok(ExitCode::from(2));
        }
    }
    if !super::shared::require_root("svclab nightly") {
        return Ok(ExitCode::from(2));
    }
    let stop = super::shared::stop_on_signals()?;
    let run_opts = RunOptions {
        out: opts.out.clone(),
        time_scale: opts.time_scale,
        quiet: opts.quiet,
        hold: false,
        stop: Arc::clone(&stop),
        exe: std::env::current_exe().context("locating the svclab executable")?,
    };
    let t0 = Instant::now();
    let mut outcomes = Vec::new();
    let mut compares = Vec::new();
    let mut thresholds: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for path in &files {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let loaded = match svclab_suite::load(path) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("== {stem}: BROKEN: {e}");
                outcomes.push(SuiteOutcome::Broken {
                    suite: stem,
                    path: path.display().to_string(),
                    error: e.to_string(),
                });
                continue;
            }
        };
        thresholds.insert(loaded.suite.name.clone(), loaded.suite.regression.clone());
        super::shared::warn_windows(&loaded, opts.time_scale);
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        if let Some(m) = &loaded.suite.matrix {
            // A suite with a matrix runs once per engine, with one
            // comparison page; each engine's run is its own row.
            eprintln!(
                "== {} ({}) under {}",
                loaded.suite.name,
                path.display(),
                m.engines.join(", ")
            );
            let engines = runner::compare::parse_engines(&m.engines).map_err(anyhow::Error::msg);
            let ran = engines.and_then(|engines| {
                runner::compare::preflight_all(&loaded, &engines, opts.time_scale)
                    .map_err(anyhow::Error::msg)?;
                runner::compare::run_compare(&loaded, &engines, &run_opts)
            });
            match ran {
                Ok(c) => {
                    for (_, o) in c.runs {
                        eprintln!("   {}: {:?}", o.record.suite.name, o.verdict);
                        thresholds
                            .insert(o.record.suite.name.clone(), loaded.suite.regression.clone());
                        let report_dir = o
                            .dir
                            .strip_prefix(&opts.out)
                            .map(Path::to_path_buf)
                            .unwrap_or(o.dir.clone());
                        outcomes.push(SuiteOutcome::Ran {
                            record: o.record,
                            report_dir,
                        });
                    }
                    eprintln!("   comparison: {}", c.page.display());
                    compares.push(c.summary);
                }
                Err(e) => {
                    eprintln!("   ERROR: {e:#}");
                    outcomes.push(SuiteOutcome::Broken {
                        suite: loaded.suite.name.clone(),
                        path: path.display().to_string(),
                        error: format!("{e:#}"),
                    });
                }
            }
            continue;
        }
        eprintln!("== {} ({})", loaded.suite.name, path.display());
        match runner::run_suite(&loaded, &run_opts) {
            Ok(o) => {
                eprintln!(
                    "   verdict: {:?} ({:.0} s); {}",
                    o.verdict,
                    o.record.elapsed_s,
                    o.dir.join("index.html").display()
                );
                let report_dir = o
                    .dir
                    .strip_prefix(&opts.out)
                    .map(Path::to_path_buf)
                    .unwrap_or(o.dir.clone());
                outcomes.push(SuiteOutcome::Ran {
                    record: o.record,
                    report_dir,
                });
            }
            Err(e) => {
                eprintln!("   ERROR: {e:#}");
                outcomes.push(SuiteOutcome::Broken {
                    suite: loaded.suite.name.clone(),
                    path: path.display().to_string(),
                    error: format!("{e:#}"),
                });
            }
        }
    }
    // Before history and the index, whose errors end the command early.
    if let Some(path) = junit {
        save_junit(path, &junit_suites(&outcomes, &opts.out));
    }
    let history_dir = opts.out.join("history");
    let history = index::load_history(&history_dir).unwrap_or_else(|e| {
        eprintln!("svclab nightly: history unreadable, starting afresh: {e}");
        Vec::new()
    });
    let regressions = index::regressions(&outcomes, &history, &thresholds);
    index::append_history(&history_dir, &outcomes).context("appending history")?;
    let history = index::load_history(&history_dir).unwrap_or_default();
    let html = index::render_index_with(
        &outcomes,
        &history,
        &regressions,
        &compares,
        "svclab nightly",
    );
    index::write_index(&opts.out, &html).context("writing the index")?;

    let passed = outcomes
        .iter()
        .filter(
            |o| matches!(o, SuiteOutcome::Ran { record, .. } if record.verdict == Verdict::Pass),
        )
        .count();
    if opts.json {
        let suites: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|o| match o {
                SuiteOutcome::Ran { record, report_dir } => serde_json::json!({
                    "suite": record.suite.name,
                    "run_id": record.run_id,
                    "verdict": record.verdict,
                    "error": record.error,
                    "report": opts.out.join(report_dir).join("index.html"),
                    "elapsed_s": record.elapsed_s,
                }),
                SuiteOutcome::Broken { suite, path, error } => serde_json::json!({
                    "suite": suite,
                    "path": path,
                    "verdict": "error",
                    "error": error,
                }),
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "suites": suites,
                "passed": passed,
                "regressions": regressions
                    .iter()
                    .map(|r| serde_json::json!({ "suite": r.suite, "what": r.what }))
                    .collect::<Vec<_>>(),
                "elapsed_s": t0.elapsed().as_secs_f64(),
                "index": opts.out.join("index.html"),
            })
        );
    }
    eprintln!(
        "nightly: {} suites, {passed} passed, {} regressions, {:.0} s; index: {}",
        outcomes.len(),
        regressions.len(),
        t0.elapsed().as_secs_f64(),
        opts.out.join("index.html").display()
    );
    for r in &regressions {
        eprintln!("   regression: {}: {}", r.suite, r.what);
    }
    Ok(ExitCode::from(if passed == outcomes.len() { 0 } else { 1 }))
}

/// The JUnit view of the nightly outcomes; report pages as paths under `out`.
fn junit_suites<'a>(outcomes: &'a [SuiteOutcome], out: &Path) -> Vec<JunitSuite<'a>> {
    outcomes
        .iter()
        .map(|o| match o {
            SuiteOutcome::Ran { record, report_dir } => JunitSuite::Ran {
                record,
                report: out.join(report_dir).join("index.html"),
            },
            SuiteOutcome::Broken { suite, path, error } => {
                JunitSuite::Broken { suite, path, error }
            }
        })
        .collect()
}
