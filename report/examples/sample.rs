//! Writes the synthetic incident-A reports (legacy and fixed) so the page can
//! be looked at without a kernel:
//! `cargo run -p svclab-report --example sample -- /tmp/svclab-report-sample`
//! writes the legacy run to DIR and the fixed run to DIR/fixed.
use std::path::PathBuf;

use svclab_report::{sample::incident_a, write_report};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/svclab-report-sample".into()),
    );
    write_report(&dir, &incident_a(false))?;
    write_report(&dir.join("fixed"), &incident_a(true))?;
    println!("{}", dir.join("index.html").display());
    println!("{}", dir.join("fixed/index.html").display());
    Ok(())
}
