//! The subcommands of `svclab`, one file each, and the dispatch from the
//! parsed command line; what they share is in `shared.rs`.
pub mod clean;
pub mod compare;
pub mod docs;
pub mod doctor;
pub mod export;
pub mod import;
pub mod inspect;
pub mod list;
pub mod monitor;
pub mod needs;
pub mod new;
pub mod nightly;
pub mod report;
pub mod run;
pub mod schema;
mod shared;
pub mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs one parsed command line; the exit code follows the README (0 pass,
/// 1 fail, 2 bad input, 130 interrupted).
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Doctor => doctor::run(),
        Command::ContainerRun(args) => crate::kubelet::programs::shim::run(args),
        Command::PodServer(args) => {
            crate::podserver::serve(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate {
            suites,
            deny_warnings,
            json,
        } => Ok(validate::run(&suites, deny_warnings, json)),
        Command::Schema { run_record } => schema::run(run_record),
        Command::Completions { shell } => Ok(docs::completions(shell)),
        Command::Man { out } => docs::man(out.as_deref()),
        Command::Needs { suites } => Ok(needs::run(&suites)),
        Command::New { name, from, out } => Ok(new::run(&name, &from, out.as_deref())),
        Command::Import {
            files,
            out,
            name,
            command,
        } => Ok(import::run(&files, out.as_deref(), name, command)),
        Command::Export { suite, out } => Ok(export::run(&suite, out.as_deref())),
        Command::Run(args) => run::run(args),
        Command::List { dir, json } => Ok(list::run(&dir, json)),
        Command::Monitor(args) => Ok(monitor::run(&args)),
        Command::Report { run_dir } => Ok(report::run(&run_dir)),
        Command::Nightly(args) => nightly::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Inspect {
            run,
            port,
            node,
            reports,
        } => Ok(inspect::run(
            &run,
            &reports,
            &inspect::InspectFilter { port, node },
        )),
        Command::Clean {
            run,
            dry_run,
            reports,
        } => clean::run(run.as_deref(), dry_run, &reports),
    }
}
