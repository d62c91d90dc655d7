//! `svclab new` and `svclab schema`, the suite-authoring commands, through
//! the binary (no root needed): a new suite validates and carries the new
//! name and header template, an existing file is never replaced, a bad name
//! writes nothing, `schema` prints the shipped schema file and `schema
//! --run-record` run.json's.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicUsize, Ordering},
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh, empty folder under the temp dir, with a `suites/` holding a
/// copy of kill-pod.yaml.
fn workdir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "svclab-new-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("suites")).expect("create work dir");
    std::fs::copy(
        repo().join("suites/kill-pod.yaml"),
        dir.join("suites/kill-pod.yaml"),
    )
    .expect("copy kill-pod.yaml");
    dir
}

fn svclab(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_svclab"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run svclab")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn new_from_a_bare_name_writes_a_valid_renamed_suite() {
    let dir = workdir();
    let o = svclab(&dir, &["new", "my-incident", "--from", "kill-pod"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = dir.join("suites/my-incident.yaml");
    let loaded = svclab_suite::load(&path).expect("the new suite validates");
    assert_eq!(loaded.suite.name, "my-incident");
    assert!(loaded.suite.description.starts_with("TODO"));
    assert!(
        loaded
            .text
            .starts_with("# yaml-language-server: $schema=./svclab.schema.json\n"),
        "{}",
        loaded.text
    );
    assert!(
        loaded.header.starts_with("What this reproduces: TODO"),
        "{}",
        loaded.header
    );
    assert!(loaded.header.contains("Expected verdict: TODO"));
    assert!(
        !loaded.text.contains("A pod dies mid-run"),
        "old header kept"
    );
    // The body is the source's: same deployments, timeline and expectations.
    let source = svclab_suite::load(&dir.join("suites/kill-pod.yaml")).expect("source");
    assert_eq!(loaded.suite.deployments, source.suite.deployments);
    assert_eq!(loaded.suite.timeline, source.suite.timeline);
    assert_eq!(loaded.suite.expect, source.suite.expect);
}

#[test]
fn new_from_a_path_writes_to_out() {
    let dir = workdir();
    let from = repo().join("suites/probe-recommended.yaml");
    let from = from.to_str().expect("utf-8 path");
    let o = svclab(
        &dir,
        &["new", "probes-2", "--from", from, "--out", "p2.yaml"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let loaded = svclab_suite::load(&dir.join("p2.yaml")).expect("validates");
    assert_eq!(loaded.suite.name, "probes-2");
    // No schema beside it: the command says how to put one there.
    assert!(stderr(&o).contains("svclab schema >"), "{}", stderr(&o));
}

#[test]
fn new_refuses_to_overwrite() {
    let dir = workdir();
    let target = dir.join("suites/taken.yaml");
    std::fs::write(&target, "keep me\n").expect("write");
    let o = svclab(&dir, &["new", "taken", "--from", "kill-pod"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me\n");
}

#[test]
fn new_rejects_a_bad_name_and_writes_nothing() {
    let dir = workdir();
    for name in [
        ".hidden",
        "a/b",
        "x # y",
        "way-too-long-".repeat(6).as_str(),
    ] {
        let o = svclab(&dir, &["new", name, "--from", "kill-pod"]);
        assert_eq!(o.status.code(), Some(2), "{name:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("svclab new: "), "{}", stderr(&o));
    }
    let left: Vec<_> = std::fs::read_dir(dir.join("suites"))
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["kill-pod.yaml"], "nothing new written");
}

#[test]
fn new_rejects_a_missing_source() {
    let dir = workdir();
    let o = svclab(&dir, &["new", "x", "--from", "no-such-suite"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--from"), "{}", stderr(&o));
}

#[test]
fn schema_prints_the_shipped_schema() {
    let o = svclab(&repo(), &["schema"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = String::from_utf8(o.stdout).expect("utf-8");
    let shipped =
        std::fs::read_to_string(repo().join("suites/svclab.schema.json")).expect("shipped schema");
    assert_eq!(
        printed, shipped,
        "suites/svclab.schema.json is stale: run `svclab schema > suites/svclab.schema.json`"
    );
}

#[test]
fn schema_run_record_prints_the_run_json_schema() {
    let o = svclab(&repo(), &["schema", "--run-record"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).expect("the output is JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(
        schema,
        svclab_report::record::schema::run_record_schema(),
        "the record types' schema"
    );
    for field in ["run_id", "buckets", "verdict", "host"] {
        assert!(schema["properties"].get(field).is_some(), "{field}");
    }
    let help = svclab(&repo(), &["schema", "--help"]);
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--run-record"),
        "{help:?}"
    );
}

/// `validate` finds a bare suite name as `run` does, and a misspelt one
/// gets the nearest shipped suite as a hint (exit 2).
#[test]
fn validate_takes_suite_names_and_hints_at_typos() {
    let dir = workdir();
    let out = svclab(&dir, &["validate", "kill-pod"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("suites/kill-pod.yaml: ok (kill-pod)"),
        "{out:?}"
    );
    let out = svclab(&dir, &["validate", "kil-pod"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(did you mean `kill-pod`?)"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Completion scripts and man pages come from the clap command line:
/// every visible command is in them, hidden ones are not.
#[test]
fn completions_and_man_pages_cover_every_command() {
    let dir = workdir();
    for shell in ["bash", "zsh", "fish"] {
        let out = svclab(&dir, &["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for cmd in ["run", "monitor", "inspect", "validate"] {
            assert!(text.contains(cmd), "{shell} completion lacks {cmd}");
        }
        assert!(
            !text.contains("pod-server"),
            "{shell}: hidden command listed"
        );
    }
    let out = svclab(&dir, &["man"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(".ie"),
        "roff"
    );
    let pages = dir.join("man");
    let out = svclab(&dir, &["man", "--out", "man"]);
    assert!(out.status.success(), "{out:?}");
    for page in ["svclab.1", "svclab-run.1", "svclab-monitor.1"] {
        let text = std::fs::read_to_string(pages.join(page)).expect(page);
        assert!(text.contains(".TH"), "{page}");
    }
    assert!(!pages.join("svclab-pod-server.1").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `validate` prints a suite's warnings with their positions; they fail
/// it only with `--deny-warnings`.
#[test]
fn warnings_fail_validate_only_when_denied() {
    let dir = workdir();
    std::fs::copy(
        repo().join("suites/probe-liveness-cascade.yaml"),
        dir.join("suites/probe-liveness-cascade.yaml"),
    )
    .expect("copy");
    let out = svclab(&dir, &["validate", "probe-liveness-cascade"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: deployments[0].probes.liveness.failure_threshold"),
        "{err}"
    );
    let out = svclab(
        &dir,
        &["validate", "--deny-warnings", "probe-liveness-cascade"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = svclab(&dir, &["validate", "--deny-warnings", "kill-pod"]);
    assert!(out.status.success(), "no warnings: {out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A program this machine lacks is a warning for `list` and `validate`
/// (the file is fine) and an error only for `run` (tests/programs.rs).
#[test]
fn a_missing_program_only_warns_in_list_and_validate() {
    let dir = workdir();
    let text = std::fs::read_to_string(dir.join("suites/kill-pod.yaml")).expect("read");
    let text = text.replacen(
        "deployments:\n",
        "deployments:\n  - name: other\n    replicas: 1\n    container:\n      command: [/no/such/svclab-prog]\n      port: 9000\n",
        1,
    );
    std::fs::write(dir.join("suites/needs-prog.yaml"), text).expect("write");
    let out = svclab(&dir, &["validate", "needs-prog"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: deployments[0].container.command[0]: this machine has no program"),
        "{err}"
    );
    let out = svclab(&dir, &["list"]);
    assert!(out.status.success(), "{out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("[this machine lacks what it runs: deployments[0].container.command[0]]"),
        "{listed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `validate --json` and `list --json`: one object per file or suite.
#[test]
fn validate_and_list_print_json() {
    let dir = workdir();
    std::fs::write(
        dir.join("suites/bad.yaml"),
        "name: bad\nduration: 10s\ndeployments:\n  - { name: web, replcas: 1 }\n",
    )
    .expect("write");
    let out = svclab(&dir, &["validate", "--json", "kill-pod", "bad"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let objs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(objs.len(), 2, "{objs:?}");
    assert_eq!(objs[0]["ok"], true);
    assert_eq!(objs[1]["ok"], false);
    let errors = objs[1]["errors"].as_array().expect("errors");
    let e = errors
        .iter()
        .find(|e| e["field"] == "deployments[0].replcas")
        .unwrap_or_else(|| panic!("{errors:?}"));
    assert_eq!(e["line"], 4, "{e}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("did you mean `replicas`")),
        "{e}"
    );
    let out = svclab(&dir, &["list", "--json"]);
    let listed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(
        listed
            .iter()
            .any(|x| x["name"] == "kill-pod" && x["valid"] == true),
        "{listed:?}"
    );
    assert!(listed.iter().any(|x| x["valid"] == false), "{listed:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
