//! `svclab import FILE… [--out F] [--name N] [--command NAME=CMD]…`: the
//! customer's manifests as a commented starting suite. The mapping lives in
//! `svclab_manifests::import`; this reads the files, writes the suite
//! (never over an existing file) and prints what did not map on stderr.
//! Bad input, an unreadable file or an existing `--out` exit 2 with nothing
//! written.
use std::{
    fs::OpenOptions,
    io::{ErrorKind, Write as _},
    path::{Path, PathBuf},
    process::ExitCode,
};

use svclab_manifests::import::{ImportError, Input, Options, import};

pub fn run(
    files: &[PathBuf],
    out: Option<&Path>,
    name: Option<String>,
    commands: Vec<String>,
) -> ExitCode {
    let bad = |msg: &str| {
        eprintln!("svclab import: {msg}");
        ExitCode::from(2)
    };
    let mut inputs = Vec::new();
    for path in files {
        match std::fs::read_to_string(path) {
            Ok(text) => inputs.push(Input {
                path: path.clone(),
                text,
            }),
            Err(e) => return bad(&format!("{}: cannot read: {e}", path.display())),
        }
    }
    let imported = match import(&inputs, &Options { name, commands }) {
        Ok(i) => i,
        Err(e @ ImportError::Internal(_)) => {
            eprintln!("svclab import: {e}");
            return ExitCode::from(1);
        }
        Err(e) => return bad(&e.to_string()),
    };
    for u in &imported.unmapped {
        eprintln!("svclab import: warning: not mapped: {u}");
    }
    let Some(out) = out else {
        print!("{}", imported.text);
        return ExitCode::SUCCESS;
    };
    let file = OpenOptions::new().write(true).create_new(true).open(out);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return bad(&format!(
                "{} already exists; choose another --out (nothing was written)",
                out.display()
            ));
        }
        Err(e) => return bad(&format!("cannot create {}: {e}", out.display())),
    };
    if let Err(e) = file.write_all(imported.text.as_bytes()) {
        return bad(&format!("cannot write {}: {e}", out.display()));
    }
    eprintln!(
        "svclab import: {}: suite {} ({} deployments, {} services, {} autoscalers, {} fields not mapped); complete its TODOs, then `svclab validate {}`",
        out.display(),
        imported.suite.name,
        imported.suite.deployments.len(),
        imported.suite.services.len(),
        imported.suite.autoscalers.len(),
        imported.unmapped.len(),
        out.display()
    );
    ExitCode::SUCCESS
}
