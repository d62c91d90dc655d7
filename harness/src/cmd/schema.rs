//! `svclab schema`: print the suite file's JSON Schema (draft 2020-12),
//! generated from the suite model, for editors (suites/svclab.schema.json is
//! this output).
use std::process::ExitCode;

use anyhow::Context as _;

pub fn run() -> anyhow::Result<ExitCode> {
    let text = serde_json::to_string_pretty(&svclab_suite::schema())
        .context("serialise the suite schema")?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}
