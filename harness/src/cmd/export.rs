//! `svclab export SUITE [--out DIR]`: the suite as Kubernetes manifests
//! (`svclab_manifests::export`) written into DIR, default
//! `export/<suite name>/`, with the notes on what did not carry over on
//! stderr.
//!
//! A bad suite, or a file of the export already in DIR, is bad input
//! (exit 2) and nothing is written: the export never replaces a file, so a
//! customer's edits to an earlier export survive.
use std::{
    fs::OpenOptions,
    io::{ErrorKind, Write as _},
    path::Path,
    process::ExitCode,
};

use super::shared::load_suite;

pub fn run(suite: &Path, out: Option<&Path>) -> ExitCode {
    let bad = |msg: String| {
        eprintln!("svclab export: {msg}");
        ExitCode::from(2)
    };
    let loaded = match load_suite(suite) {
        Ok(l) => l,
        Err(e) => return bad(e),
    };
    let exported = match svclab_manifests::export::export(&loaded.suite) {
        Ok(e) => e,
        Err(e) => return bad(format!("{}: {e}", loaded.path.display())),
    };
    let dir = out.map_or_else(
        || Path::new("export").join(&loaded.suite.name),
        Path::to_owned,
    );
    let taken: Vec<String> = exported
        .files
        .iter()
        .map(|f| dir.join(&f.name))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        return bad(format!(
            "{} already exist(s); choose another --out or remove them (nothing was written)",
            taken.join(", ")
        ));
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return bad(format!("cannot create {}: {e}", dir.display()));
    }
    for f in &exported.files {
        let path = dir.join(&f.name);
        let file = OpenOptions::new().write(true).create_new(true).open(&path);
        let mut file = match file {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return bad(format!("{} appeared while writing", path.display()));
            }
            Err(e) => return bad(format!("cannot create {}: {e}", path.display())),
        };
        if let Err(e) = file.write_all(f.text.as_bytes()) {
            return bad(format!("cannot write {}: {e}", path.display()));
        }
        #[cfg(unix)]
        if f.name.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt as _;
            if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            {
                eprintln!(
                    "svclab export: warning: cannot make {} executable: {e}",
                    path.display()
                );
            }
        }
    }
    for n in &exported.notes {
        eprintln!("svclab export: note: {n}");
    }
    let names: Vec<&str> = exported.files.iter().map(|f| f.name.as_str()).collect();
    println!(
        "{}: {} from {}; replace the PLACEHOLDER images, apply the manifests, then run timeline.sh",
        dir.display(),
        names.join(", "),
        loaded.path.display()
    );
    ExitCode::SUCCESS
}
