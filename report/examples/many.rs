//! Writes the many-backends sample (default 1000) and prints the page's and
//! the record's sizes:
//! `cargo run --release -p svclab-report --example many -- 1000 /tmp/svclab-many`.
use std::path::PathBuf;

use svclab_report::{sample::many_backends, write_report};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/svclab-many".into()));
    let rec = many_backends(n);
    write_report(&dir, &rec)?;
    let html = std::fs::metadata(dir.join("index.html"))?.len();
    let pretty = std::fs::metadata(dir.join("run.json"))?.len();
    let compact = serde_json::to_string(&rec)?.len();
    // Backend entries over all buckets (new backends have none before the
    // scale-up); each comes with its pod's entry.
    let cells = rec
        .buckets
        .iter()
        .map(|b| b.backends.len())
        .sum::<usize>()
        .max(1) as f64;
    let mut bare = rec.clone();
    for b in &mut bare.buckets {
        b.backends.clear();
        b.pods.clear();
    }
    let bare_pretty = serde_json::to_string_pretty(&bare)?.len() as f64;
    let bare_compact = serde_json::to_string(&bare)?.len() as f64;
    println!("{}", dir.join("index.html").display());
    println!("backends {n}, buckets {}", rec.buckets.len());
    println!("index.html {html} bytes");
    println!("run.json pretty {pretty} bytes, compact {compact} bytes");
    println!(
        "per backend per bucket (its backends + pods entries): pretty {:.1} B, compact {:.1} B",
        (pretty as f64 - bare_pretty) / cells,
        (compact as f64 - bare_compact) / cells
    );
    Ok(())
}
