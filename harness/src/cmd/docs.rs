//! `svclab completions` and `svclab man`: shell completion scripts
//! (clap_complete) and roff man pages (clap_mangen), both generated from
//! the clap command line so they never drift from it.
use std::{path::Path, process::ExitCode};

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::Cli;

/// The command line without its hidden commands (`pod-server`,
/// `container-run`, `needs`: svclab runs them itself), which some
/// completion generators would offer.
fn visible() -> clap::Command {
    let full = Cli::command();
    let subs: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut cmd = clap::Command::new("svclab")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommands(subs);
    if let Some(a) = full.get_about() {
        cmd = cmd.about(a.clone());
    }
    cmd
}

/// The completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = visible();
    clap_complete::generate(shell, &mut cmd, "svclab", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// The top-level man page on stdout, or every command's page into `out`.
pub fn man(out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cmd = Cli::command();
    match out {
        None => match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
            // `svclab man | head`: the reader left, nothing went wrong.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r.context("writing the man page")?,
        },
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            println!("man pages written to {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
