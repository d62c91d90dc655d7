//! `svclab validate`: parse and validate suite files without touching the
//! kernel; every mistake of a bad file is reported with its position, exit
//! 2 when any file is bad. Warnings (the suite's rules, what this machine
//! lacks, window edges inside a bucket) do not fail unless denied. A bare
//! suite name is found as `run` finds it (`suites/<name>.yaml`). `--json`
//! prints one object per file instead of the lines.
use std::{path::PathBuf, process::ExitCode};

use serde_json::json;
use svclab_suite::Diagnostic;

use super::shared::{load_suite, suite_path};

fn diag_json(d: &Diagnostic) -> serde_json::Value {
    json!({
        "file": d.file,
        "line": d.line,
        "column": d.column,
        "field": d.field,
        "message": d.message,
    })
}

fn print_diag(kind: &str, d: &Diagnostic, tail: &str) {
    eprintln!(
        "{}:{}:{}: {kind}{}: {}{tail}",
        d.file.display(),
        d.line,
        d.column,
        d.field,
        d.message
    );
}

pub fn run(suites: &[PathBuf], deny_warnings: bool, as_json: bool) -> ExitCode {
    let mut bad = false;
    for path in suites {
        match load_suite(path) {
            Ok(l) => {
                let rules = svclab_suite::warnings(&l);
                let machine = svclab_suite::machine_warnings(&l);
                let windows = crate::runner::window_warnings(&l.suite, 1.0);
                let warned = !rules.is_empty() || !machine.is_empty() || !windows.is_empty();
                let denied = deny_warnings && warned;
                bad |= denied;
                if denied && !as_json {
                    eprintln!("{}: warnings denied (--deny-warnings)", l.path.display());
                }
                if as_json {
                    println!(
                        "{}",
                        json!({
                            "path": l.path,
                            "suite": l.suite.name,
                            "ok": !denied,
                            "errors": [],
                            "warnings": rules.iter().map(diag_json).collect::<Vec<_>>(),
                            "machine": machine.iter().map(diag_json).collect::<Vec<_>>(),
                            "windows": windows,
                        })
                    );
                    continue;
                }
                println!("{}: ok ({})", l.path.display(), l.suite.name);
                for d in &rules {
                    print_diag("warning: ", d, "");
                }
                // What this machine lacks: `run` stops there, `validate`
                // only says so (the file is fine).
                for d in &machine {
                    print_diag("warning: ", d, " (`svclab run` needs it)");
                }
                for w in &windows {
                    eprintln!("{}: warning: {w}", l.path.display());
                }
            }
            Err(first) => {
                bad = true;
                // Every mistake of the file, not just the first.
                let mut all = svclab_suite::diagnose_file(&suite_path(path));
                // A file that cannot be read: the first message, which
                // names the nearest shipped suite.
                let unreadable = all.iter().all(|e| e.diagnostic().is_none());
                if unreadable {
                    all.clear();
                }
                if as_json {
                    let errors: Vec<serde_json::Value> = if unreadable {
                        vec![json!({ "message": first })]
                    } else {
                        all.iter()
                            .filter_map(|e| e.diagnostic())
                            .map(diag_json)
                            .collect()
                    };
                    println!(
                        "{}",
                        json!({ "path": path, "ok": false, "errors": errors, "warnings": [] })
                    );
                    continue;
                }
                if unreadable {
                    eprintln!("{first}");
                }
                for e in &all {
                    eprintln!("{e}");
                }
                if all.len() >= svclab_suite::MAX_ERRORS {
                    eprintln!(
                        "{}: stopped after {} errors",
                        path.display(),
                        svclab_suite::MAX_ERRORS
                    );
                }
            }
        }
    }
    ExitCode::from(if bad { 2 } else { 0 })
}
