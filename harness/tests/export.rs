//! `svclab export` through the binary (no root needed): a shipped suite by
//! bare name writes every file into --out and prints the notes, a second
//! export into the same folder replaces nothing, a missing suite is bad
//! input (exit 2).
mod common;

use std::path::PathBuf;

use common::{in_repo, stderr};

fn out_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("svclab-export-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn export_of_a_bare_suite_name_writes_the_manifests_and_the_script() {
    let dir = out_dir("kill-pod");
    let d = dir.to_str().expect("utf-8 temp dir");
    let o = in_repo(&["export", "kill-pod", "--out", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "deployments.yaml",
        "services.yaml",
        "load.yaml",
        "timeline.sh",
        "NOTES.txt",
    ] {
        assert!(dir.join(f).is_file(), "{f} not written");
    }
    let deployments = std::fs::read_to_string(dir.join("deployments.yaml")).expect("read");
    assert!(deployments.contains("kind: Deployment"), "{deployments}");
    assert!(
        stderr(&o).contains("svclab export: note: datapath"),
        "{}",
        stderr(&o)
    );
    // Again into the same folder: refused, nothing replaced.
    std::fs::write(dir.join("services.yaml"), "edited\n").expect("edit");
    let o = in_repo(&["export", "kill-pod", "--out", d]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("already exist"), "{}", stderr(&o));
    let kept = std::fs::read_to_string(dir.join("services.yaml")).expect("read");
    assert_eq!(kept, "edited\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_of_a_missing_suite_is_bad_input() {
    let dir = out_dir("missing");
    let o = in_repo(&[
        "export",
        "no-such-suite",
        "--out",
        dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("svclab export: "), "{}", stderr(&o));
    assert!(!dir.exists(), "nothing is written for a bad suite");
}
