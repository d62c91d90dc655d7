//! The `just bench` goal table: each benchmark adds one row per goal it
//! measures (bench, goal, figure, met or not) to the file that
//! `SVCLAB_BENCH_SUMMARY` names, and `just bench` prints the table once
//! every benchmark has run. Without the variable a row is only printed.
use std::io::Write as _;

/// Appends one goal row; `met` is None for a figure without a goal.
pub fn goal_row(bench: &str, goal: &str, figure: &str, met: Option<bool>) {
    let verdict = match met {
        Some(true) => "met",
        Some(false) => "NOT MET",
        None => "-",
    };
    let clean = |s: &str| s.replace(['\t', '\n'], " ");
    let line = format!(
        "{}\t{}\t{}\t{verdict}\n",
        clean(bench),
        clean(goal),
        clean(figure)
    );
    println!("goal: {}", line.trim_end().replace('\t', " | "));
    if let Some(path) = std::env::var_os("SVCLAB_BENCH_SUMMARY") {
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = r {
            eprintln!("bench summary {}: {e}", path.to_string_lossy());
        }
    }
}
