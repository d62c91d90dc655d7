//! `svclab validate`: parse and validate suite files without touching the
//! kernel; every bad file is reported, exit 2 when any is bad. Warnings
//! (an expectation window with an edge inside a bucket) do not fail. A
//! bare suite name is found as `run` finds it (`suites/<name>.yaml`).
use std::{path::PathBuf, process::ExitCode};

use super::shared::load_suite;

pub fn run(suites: &[PathBuf], deny_warnings: bool) -> ExitCode {
    let mut bad = false;
    for path in suites {
        match load_suite(path) {
            Ok(l) => {
                println!("{}: ok ({})", l.path.display(), l.suite.name);
                let mut warned = super::shared::print_warnings(&l, 1.0);
                // What this machine lacks: `run` stops there, `validate`
                // only says so (the file is fine).
                for d in svclab_suite::machine_warnings(&l) {
                    eprintln!(
                        "{}:{}:{}: warning: {}: {} (`svclab run` needs it)",
                        d.file.display(),
                        d.line,
                        d.column,
                        d.field,
                        d.message
                    );
                    warned = true;
                }
                bad |= deny_warnings && warned;
            }
            Err(first) => {
                // Every mistake of the file, not just the first.
                let mut all = svclab_suite::diagnose_file(&super::shared::suite_path(path));
                // A file that cannot be read: the first message, which
                // names the nearest shipped suite.
                if all.iter().all(|e| e.diagnostic().is_none()) {
                    eprintln!("{first}");
                    all.clear();
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
                bad = true;
            }
        }
    }
    ExitCode::from(if bad { 2 } else { 0 })
}
