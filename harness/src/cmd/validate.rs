//! `svclab validate`: parse and validate suite files without touching the
//! kernel; every bad file is reported, exit 2 when any is bad. Warnings
//! (an expectation window with an edge inside a bucket) do not fail.
use std::{path::PathBuf, process::ExitCode};

pub fn run(suites: &[PathBuf]) -> ExitCode {
    let mut bad = false;
    for path in suites {
        match svclab_suite::load(path) {
            Ok(l) => {
                println!("{}: ok ({})", path.display(), l.suite.name);
                for w in svclab_suite::window_edge_warnings(&l.suite) {
                    eprintln!("{}: warning: {w}", path.display());
                }
            }
            Err(e) => {
                eprintln!("{e}");
                bad = true;
            }
        }
    }
    ExitCode::from(if bad { 2 } else { 0 })
}
