//! `--junit FILE` from the outside: a real short run's JUnit file holds one
//! test case per expectation of its run.json (same names, same pass/fail,
//! the verdict line as the failure message), the terminal shows the same
//! verdict lines, and `svclab nightly --junit` adds a broken suite file as
//! an error. Needs root (a real topology); 2 s suites.
mod common;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use common::{svclab, workdir};
use svclab_report::{
    fmt::{expectation_name, verdict_line},
    record::RunRecord,
};
use svclab_testsupport::{one_at_a_time, require_root};

/// One expectation passes, one fails on its bound (with a note), one has
/// no data (no scale-up) and fails too.
const TINY: &str = "\
duration: 2s
deployments:
  - { name: web, replicas: 2 }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }
clients:
  - { name: c, service: web, load: { mode: open, rate: 50 } }
expect:
  - { metric: ok_rate, min: 1 }
  - { metric: ok_rate, window: [0.5s, 1.5s], min: 1000000, note: \"50 req/s & <1e6\" }
  - { metric: new_backend_share, max: 0.1, note: \"no scale-up\" }
";

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// The only run folder under `<out>/<suite>/`.
fn the_run(out: &Path, suite: &str) -> (PathBuf, RunRecord) {
    let runs: Vec<PathBuf> = std::fs::read_dir(out.join(suite))
        .expect("suite report folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "one run of {suite}: {runs:?}");
    let record = svclab_report::write::read_record(&runs[0].join("run.json")).expect("run.json");
    (runs[0].clone(), record)
}

fn attr<'a>(n: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    n.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no {name}", n.tag_name().name()))
}

fn elements<'a, 'i>(
    n: roxmltree::Node<'a, 'i>,
    tag: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    n.children().filter(move |c| c.has_tag_name(tag))
}

fn property(n: roxmltree::Node, name: &str) -> Option<String> {
    elements(n, "properties")
        .flat_map(|p| elements(p, "property"))
        .find(|p| attr(*p, "name") == name)
        .map(|p| attr(p, "value").to_owned())
}

/// The testsuite's cases match the record's expectations one to one.
fn assert_matches_record(suite: roxmltree::Node, record: &RunRecord, report: &Path) {
    assert_eq!(attr(suite, "name"), record.suite.name);
    assert_eq!(
        property(suite, "report").map(PathBuf::from).as_deref(),
        Some(report)
    );
    let cases: Vec<_> = elements(suite, "testcase").collect();
    assert_eq!(cases.len(), record.expectations.len(), "one case each");
    for (c, e) in cases.iter().zip(&record.expectations) {
        assert_eq!(attr(*c, "name"), expectation_name(e));
        assert_eq!(attr(*c, "classname"), record.suite.name);
        let failure = elements(*c, "failure").next();
        assert_eq!(failure.is_some(), !e.pass, "{}", expectation_name(e));
        if let Some(f) = failure {
            assert_eq!(attr(f, "message"), verdict_line(e));
        }
    }
    let failed = record.expectations.iter().filter(|e| !e.pass).count();
    assert_eq!(attr(suite, "failures"), failed.to_string());
    assert_eq!(attr(suite, "errors"), "0");
}

#[test]
fn run_junit_matches_run_json_and_the_terminal() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("run");
    let suite = dir.join("tiny.yaml");
    std::fs::write(&suite, TINY).expect("write suite");
    let out = dir.join("reports");
    let junit = dir.join("ci").join("junit.xml");
    let run = svclab(&[
        "run",
        "-q",
        "--junit",
        s(&junit),
        "--out",
        s(&out),
        s(&suite),
    ])
    .output()
    .expect("run svclab");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(1),
        "two expectations fail: {stderr}"
    );

    let (run_dir, record) = the_run(&out, "tiny");
    assert_eq!(record.expectations.len(), 3);
    let pass: Vec<bool> = record.expectations.iter().map(|e| e.pass).collect();
    assert_eq!(pass, [true, false, false], "{stderr}");
    assert!(
        record.expectations[2].measured.is_none(),
        "no scale-up, no data"
    );

    // The terminal shows each verdict line as the report crate formats it.
    for e in &record.expectations {
        let line = format!("   {}\n", verdict_line(e));
        assert!(stderr.contains(&line), "{line:?} in\n{stderr}");
    }
    assert!(stderr.contains("   PASS ok_rate "), "{stderr}");
    assert!(
        stderr.contains(
            " < 1000000 over 0.5–1.5 s (whole buckets: 1–2 s) (expected: 50 req/s & <1e6)"
        ),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("   FAIL new_backend_share n/a (no data) over 0–2 s (expected: no scale-up)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Some(") && !stderr.contains("None"),
        "{stderr}"
    );
    // Issue 30: the window edge inside a bucket is warned about up front.
    assert!(
        stderr.contains(
            "warning: expect[1].window [0.5s, 1.5s] (ok_rate): an edge inside a 1s bucket; buckets are counted whole, so it covers 1–2 s"
        ),
        "{stderr}"
    );

    let xml = std::fs::read_to_string(&junit).expect("junit file written despite exit 1");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert!(root.has_tag_name("testsuites"));
    assert_eq!(attr(root, "tests"), "3");
    assert_eq!(attr(root, "failures"), "2");
    let suites: Vec<_> = elements(root, "testsuite").collect();
    assert_eq!(suites.len(), 1);
    assert_matches_record(suites[0], &record, &run_dir.join("index.html"));
    assert!(run_dir.join("index.html").exists(), "the report it names");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nightly_junit_has_every_suite_and_broken_ones_as_errors() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("nightly");
    let suites = dir.join("suites");
    std::fs::create_dir_all(&suites).expect("suites dir");
    std::fs::write(suites.join("tiny.yaml"), TINY).expect("write suite");
    std::fs::write(
        suites.join("broken.yaml"),
        "duration: 2s\ndeployments: [}\n",
    )
    .expect("write broken");
    let out = dir.join("reports");
    let junit = out.join("junit.xml");
    let done = svclab(&[
        "nightly",
        "-q",
        "--json",
        "--suites",
        s(&suites),
        "--out",
        s(&out),
        "--junit",
        s(&junit),
    ])
    .stderr(Stdio::null())
    .output()
    .expect("nightly");
    assert_eq!(done.status.code(), Some(1), "failures and a broken suite");
    // `--json`: one summary object with every suite.
    let summary: serde_json::Value = serde_json::from_slice(&done.stdout).expect("JSON summary");
    let verdicts: Vec<&str> = summary["suites"]
        .as_array()
        .expect("suites")
        .iter()
        .map(|x| x["verdict"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(verdicts, ["error", "fail"], "{summary}");
    assert_eq!(summary["passed"], 0);

    let (run_dir, record) = the_run(&out, "tiny");
    let xml = std::fs::read_to_string(&junit).expect("junit file");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    let suites: Vec<_> = elements(root, "testsuite").collect();
    let names: Vec<&str> = suites.iter().map(|s| attr(*s, "name")).collect();
    assert_eq!(names, ["broken", "tiny"], "suite files in order");
    assert_eq!(attr(root, "tests"), "4");
    assert_eq!(attr(root, "failures"), "2");
    assert_eq!(attr(root, "errors"), "1");
    let broken: Vec<_> = elements(suites[0], "testcase").collect();
    assert_eq!(broken.len(), 1);
    let error = elements(broken[0], "error")
        .next()
        .unwrap_or_else(|| panic!("broken suite as an error\n{xml}"));
    assert!(attr(error, "message").contains("broken.yaml"), "{xml}");
    assert_matches_record(suites[1], &record, &run_dir.join("index.html"));
    let _ = std::fs::remove_dir_all(&dir);
}
