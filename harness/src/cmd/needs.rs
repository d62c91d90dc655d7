//! `svclab needs SUITE…` (hidden): the host package sets the suites need
//! beyond what every run needs, one `scripts/bootstrap.sh` profile a line,
//! so `./just run` and `./just nightly` install them before running (`run`
//! refuses to start without them). A suite that does
//! not parse needs nothing here: `svclab run` then reports it with its
//! position.
use std::{collections::BTreeSet, path::PathBuf, process::ExitCode};

use super::shared::suite_path;

pub fn run(suites: &[PathBuf]) -> ExitCode {
    let mut needs = BTreeSet::new();
    for p in suites {
        let path = suite_path(p);
        let files: Vec<PathBuf> = if path.is_dir() {
            std::fs::read_dir(&path)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            vec![path]
        };
        for f in files {
            if let Ok(n) = svclab_suite::host_needs(&f) {
                needs.extend(n);
            }
        }
    }
    for n in needs {
        println!("{}", n.profile());
    }
    ExitCode::SUCCESS
}
