//! `svclab report`: re-render a run folder's `index.html` and `series.csv`
//! from its `run.json` (both are pure functions of the record).
use std::{path::Path, process::ExitCode};

pub fn run(run_dir: &Path) -> ExitCode {
    match svclab_report::write::rerender(run_dir) {
        Ok(()) => {
            println!("{}", run_dir.join("index.html").display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("svclab report: {e}");
            ExitCode::from(2)
        }
    }
}
