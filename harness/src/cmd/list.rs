//! `svclab list`: the suites in a folder with their one-line descriptions;
//! an invalid file is listed as such (exit 2); a suite this machine lacks
//! a program for (nginx, a container command) is listed with a note.
//! `--json` prints one object per suite.
use std::{path::Path, process::ExitCode};

use super::shared::suite_files;

pub fn run(dir: &Path, as_json: bool) -> ExitCode {
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
            Ok(l) if as_json => {
                let lacks: Vec<String> = svclab_suite::machine_problems(&l.suite)
                    .into_iter()
                    .map(|(f, _)| f)
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({
                        "name": l.suite.name,
                        "description": l.suite.description,
                        "path": p,
                        "valid": true,
                        "lacks": lacks,
                    })
                );
            }
            Err(e) if as_json => {
                bad = true;
                println!(
                    "{}",
                    serde_json::json!({
                        "name": p.file_stem().map(|s| s.to_string_lossy().into_owned()),
                        "path": p,
                        "valid": false,
                        "error": e.to_string(),
                    })
                );
            }
            Ok(l) => {
                let missing = svclab_suite::machine_problems(&l.suite);
                let note = if missing.is_empty() {
                    String::new()
                } else {
                    format!(
                        " [this machine lacks what it runs: {}]",
                        missing
                            .iter()
                            .map(|(f, _)| f.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                println!("{:<28} {}{note}", l.suite.name, l.suite.description);
            }
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
