//! Writes the synthetic reports (incident A legacy and fixed, incident B's
//! liveness cascade) so the pages can be looked at without a kernel:
//! `cargo run -p svclab-report --example sample -- /tmp/svclab-report-sample`
//! writes the legacy run to DIR, the fixed run to DIR/fixed and the cascade
//! to DIR/cascade.
use std::path::PathBuf;

use svclab_report::{
    sample::{incident_a, liveness_cascade},
    write_report,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/svclab-report-sample".into()),
    );
    write_report(&dir, &incident_a(false))?;
    write_report(&dir.join("fixed"), &incident_a(true))?;
    write_report(&dir.join("cascade"), &liveness_cascade())?;
    println!("{}", dir.join("index.html").display());
    println!("{}", dir.join("fixed/index.html").display());
    println!("{}", dir.join("cascade/index.html").display());
    Ok(())
}
