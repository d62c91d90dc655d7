//! Embeds the git commit svclab is built from as `SVCLAB_GIT_COMMIT` (12 hex
//! digits) for the run record's host block. `SVCLAB_GIT_COMMIT` in the
//! build's environment wins (a build from a source tarball can say); outside
//! a git checkout, or without git, it is "unknown": the build never fails
//! over it. Reruns when HEAD moves (a commit, a checkout, a fetch of its
//! branch), not on every edit, so it names no "-dirty" state.
use std::{path::PathBuf, process::Command};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SVCLAB_GIT_COMMIT");
    let commit = std::env::var("SVCLAB_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            watch_head();
            git(&["rev-parse", "--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SVCLAB_GIT_COMMIT={}", commit.trim());
}

/// Stdout of a successful `git` run in this crate's folder, trimmed.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

/// Reruns the script when HEAD or the branch it points at moves: the git
/// folder's `HEAD` and its reflog, the ref file, and `packed-refs` (where
/// a ref lives after `git gc`). Nothing when this is not a checkout.
fn watch_head() {
    let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) else {
        return;
    };
    // Linked worktrees keep their refs in the common folder.
    let common = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .map_or_else(|| git_dir.clone(), PathBuf::from);
    let mut watch = vec![
        git_dir.join("HEAD"),
        git_dir.join("logs/HEAD"),
        common.join("packed-refs"),
    ];
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(common.join(&head_ref));
    }
    for p in watch.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}
