//! `svclab list`: the suites in a folder with their one-line descriptions;
//! an invalid file is listed as such (exit 2).
use std::{path::Path, process::ExitCode};

use super::shared::suite_files;

pub fn run(dir: &Path) -> ExitCode {
    let paths = match suite_files(dir, None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("svclab list: {e:#}");
            return ExitCode::from(2);
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
    ExitCode::from(if bad { 2 } else { 0 })
}
