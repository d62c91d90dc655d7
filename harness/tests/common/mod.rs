//! What the harness's integration tests share: the `svclab` binary as a
//! command, a fresh work folder per test, and run options for in-process
//! runs through the runner.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, atomic::AtomicBool},
};

use svclab::runner::RunOptions;

/// `svclab <args>` with no stdin, as CI runs it.
pub fn svclab(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_svclab"));
    c.args(args).stdin(Stdio::null());
    c
}

/// The repository's root (the binary's working folder in CLI tests, as
/// the README runs it).
pub fn repo() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `svclab <args>` run to its end from the repository's root.
pub fn in_repo(args: &[&str]) -> std::process::Output {
    svclab(args)
        .current_dir(repo())
        .output()
        .expect("run svclab")
}

/// What a finished command printed on stderr.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An empty folder of this test process's own (`tag` tells tests apart).
pub fn workdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("svclab-t{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("workdir");
    d
}

/// Options for an in-process run: quiet, no hold, never stopped, pods run
/// by the test build's `svclab`.
pub fn run_options(out: PathBuf, time_scale: f64) -> RunOptions {
    RunOptions {
        out,
        time_scale,
        quiet: true,
        hold: false,
        stop: Arc::new(AtomicBool::new(false)),
        exe: PathBuf::from(env!("CARGO_BIN_EXE_svclab")),
    }
}
