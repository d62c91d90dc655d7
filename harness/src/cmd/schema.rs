//! `svclab schema`: print the suite file's JSON Schema (draft 2020-12),
//! generated from the suite model, for editors (suites/svclab.schema.json is
//! this output); with `--run-record`, the schema of a run's `run.json`,
//! generated from the record types.
use std::process::ExitCode;

use anyhow::Context as _;

pub fn run(run_record: bool) -> anyhow::Result<ExitCode> {
    let (schema, what) = if run_record {
        (
            svclab_report::record::schema::run_record_schema(),
            "the run record schema",
        )
    } else {
        (svclab_suite::schema(), "the suite schema")
    };
    let text =
        serde_json::to_string_pretty(&schema).with_context(|| format!("serialise {what}"))?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}
