//! The `svclab` binary: parses the command line and hands over to the library.
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = svclab::cli::Cli::parse();
    match svclab::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("svclab: {e:#}");
            ExitCode::from(1)
        }
    }
}
