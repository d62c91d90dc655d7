//! Hostile input: files that are not files, too big, too deep, tagged,
//! not text, or suites whose size would make validation slow. Each must be
//! refused quickly with a positioned error (or validated in linear time),
//! never hang the loader or exhaust memory.
mod common;

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::mpsc,
    time::{Duration, Instant},
};

use common::{MIN, edit};
use svclab_suite::{
    LoadedSuite, MAX_DEPTH, MAX_SUITE_BYTES, PathIndex, SuiteError, check, load, parse,
};

/// Runs `f` on its own thread; panics if it has not returned in `secs`
/// (the thread is left behind, blocked, instead of hanging the test).
#[track_caller]
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(_) => panic!("{what} did not return within {secs}s"),
    }
}

fn load_within(path: &Path) -> Result<LoadedSuite, SuiteError> {
    let p = path.to_owned();
    within(5, &format!("load({})", path.display()), move || load(&p))
}

fn parse_within(text: String) -> Result<LoadedSuite, SuiteError> {
    within(5, "parse", move || {
        parse(&text, Path::new("suites/bad.yaml"))
    })
}

/// A fresh empty folder for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("svclab-hostile-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// `(line:column, field, message)` of a located error of kind `kind`.
#[track_caller]
fn located(r: Result<LoadedSuite, SuiteError>, kind: &str) -> (String, String, String) {
    let err = match r {
        Ok(_) => panic!("suite was accepted"),
        Err(e) => e,
    };
    let shown = err.to_string();
    let got = match &err {
        SuiteError::Syntax(_) => "syntax",
        SuiteError::Type(_) => "type",
        SuiteError::Invalid(_) => "invalid",
        _ => "file",
    };
    assert_eq!(got, kind, "wrong kind: {shown}");
    assert_eq!(err.exit_code(), 2);
    let d = err.diagnostic().expect("a located error");
    assert!(shown.starts_with(&format!("{}:{}:{}: ", d.file.display(), d.line, d.column)));
    (
        format!("{}:{}", d.line, d.column),
        d.field.clone(),
        d.message.clone(),
    )
}

// ---- 8: only regular files, of bounded size ----

#[test]
fn fifo_named_yaml_is_refused_without_blocking() {
    let dir = scratch("fifo");
    let fifo = dir.join("pipe.yaml");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(ok.success(), "mkfifo failed");
    match load_within(&fifo) {
        Err(SuiteError::NotAFile { path, found }) => {
            assert_eq!(path, fifo);
            assert!(found.contains("FIFO"), "{found}");
        }
        other => panic!("expected NotAFile, got {other:?}"),
    }
    let shown = load_within(&fifo).expect_err("a FIFO").to_string();
    assert!(
        shown.ends_with("expected a regular file, found a FIFO (named pipe)"),
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn symlink_to_dev_zero_is_refused_without_reading_it() {
    let dir = scratch("zero");
    let link = dir.join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
    match load_within(&link) {
        Err(SuiteError::NotAFile { found, .. }) => {
            assert_eq!(found, "a character device");
        }
        other => panic!("expected NotAFile, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn directory_named_yaml_is_refused() {
    let dir = scratch("dir");
    let sub = dir.join("sub.yaml");
    std::fs::create_dir(&sub).expect("mkdir");
    assert!(matches!(
        load_within(&sub),
        Err(SuiteError::NotAFile {
            found: "a directory",
            ..
        })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn oversize_regular_file_is_refused() {
    let dir = scratch("big");
    let big = dir.join("big.yaml");
    // A valid suite padded with comments to one byte over the limit.
    let mut text = MIN.to_owned();
    let pad = usize::try_from(MAX_SUITE_BYTES).expect("fits") + 1 - text.len();
    text.push('#');
    text.push_str(&"x".repeat(pad - 2));
    text.push('\n');
    assert_eq!(text.len() as u64, MAX_SUITE_BYTES + 1);
    std::fs::write(&big, &text).expect("write");
    match load_within(&big) {
        Err(e @ SuiteError::TooLarge { .. }) => {
            assert_eq!(e.exit_code(), 2);
            assert!(
                e.to_string().contains("expected at most 1048576 bytes"),
                "{e}"
            );
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // At the limit it is read (and valid).
    text.truncate(text.len() - 2);
    text.push('\n');
    std::fs::write(&big, &text).expect("write");
    load_within(&big).expect("a suite of exactly MAX_SUITE_BYTES loads");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn symlink_to_a_regular_suite_loads() {
    let dir = scratch("link");
    let real = dir.join("real.yaml");
    std::fs::write(&real, MIN).expect("write");
    let link = dir.join("link.yaml");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let l = load_within(&link).expect("a symlink to a suite loads");
    assert_eq!(l.suite.name, "link");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- 9: nesting depth is bounded; validation is linear ----

/// Deep `text` is refused within seconds (a quadratic index allocated
/// gigabytes here) at `pos`, naming the depth limit.
#[track_caller]
fn refused_as_too_deep(text: String, pos: &str) {
    let start = Instant::now();
    let (at, _field, msg) = located(parse_within(text), "syntax");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(at, pos, "{msg}");
    assert!(
        msg.contains(&format!("nested deeper than {MAX_DEPTH} levels")),
        "{msg}"
    );
}

#[test]
fn deep_block_sequences_are_refused_quickly() {
    // 40000 levels, 80 KB: the file that used to allocate 4 GB.
    refused_as_too_deep(format!("{}x\n", "- ".repeat(40_000)), "1:129");
    // One item per line, each indented one more.
    let mut t = String::new();
    for i in 0..500 {
        let _ = writeln!(t, "{}-", " ".repeat(i));
    }
    refused_as_too_deep(t, "65:65");
}

#[test]
fn deep_flow_sequences_are_refused_quickly() {
    // yaml-rust2's scanner reads ahead and stops at 255 open flow
    // collections, before the parser's events reach level 65.
    refused_as_too_deep("[".repeat(20_000), "1:256");
    refused_as_too_deep(
        format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)),
        "1:256",
    );
}

#[test]
fn deep_mappings_are_refused_quickly() {
    refused_as_too_deep(
        format!("{}1{}", "{a: ".repeat(20_000), "}".repeat(20_000)),
        "1:1021",
    );
    let mut t = String::new();
    for i in 0..500 {
        let _ = writeln!(t, "{}a:", " ".repeat(i));
    }
    // yaml-rust2 marks a block mapping just after its first key.
    refused_as_too_deep(t, "65:66");
}

#[test]
fn depth_limit_names_the_field_inside_a_suite() {
    let deep = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    let t = format!("{MIN}description: {deep}\n");
    let (at, field, msg) = located(parse_within(t), "syntax");
    // The root mapping is level 1: the 64th `[` opens level 65.
    assert_eq!(at, "13:77", "{msg}");
    assert!(field.starts_with("description[0][0]"), "{field}");
    // Nesting a suite actually uses stays far below the limit.
    let ok = format!(
        "{MIN}description: {}1{}\n",
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    let (_, _, msg) = located(parse_within(ok), "type");
    assert!(msg.contains("expected a string"), "{msg}");
}

// ---- 10: YAML tags are refused ----

#[track_caller]
fn refused_tag(text: &str, pos: &str, field: &str, tag: &str) {
    let (at, f, msg) = located(parse_within(text.to_owned()), "type");
    assert_eq!((at.as_str(), f.as_str()), (pos, field), "{msg}");
    assert_eq!(
        msg,
        format!(
            "YAML tags are not supported (found {tag}); write the value without a tag, its type comes from the field"
        )
    );
}

#[test]
fn core_schema_tag_on_a_number_is_refused() {
    refused_tag(
        &edit("replicas: 3", "replicas: !!str 4"),
        "4:15",
        "deployments[0].replicas",
        "!!str",
    );
}

#[test]
fn custom_tag_on_a_duration_is_refused() {
    refused_tag(
        &edit("duration: 60s", "duration: !custom 60s"),
        "1:11",
        "duration",
        "!custom",
    );
}

#[test]
fn binary_tag_on_a_string_is_refused() {
    refused_tag(
        &format!("{MIN}description: !!binary aGVsbG8=\n"),
        "13:14",
        "description",
        "!!binary",
    );
}

#[test]
fn tags_on_collections_and_list_items_are_refused() {
    refused_tag(
        &edit("clients:\n", "clients: !!seq\n"),
        "10:10",
        "clients",
        "!!seq",
    );
    refused_tag(
        &edit("  - name: nginx\n", "  - !thing\n    name: nginx\n"),
        "11:5",
        "clients[0]",
        "!thing",
    );
}

// ---- 12: bad bytes at their line:column ----

#[test]
fn nul_byte_is_reported_at_its_line_and_column() {
    let (at, field, msg) = located(parse_within(edit("replicas: 3", "replicas: 3\0")), "syntax");
    assert_eq!(at, "4:16", "{msg}");
    assert_eq!(field, "deployments[0].replicas");
    assert!(
        msg.starts_with("control character U+0000 (NUL) is not allowed"),
        "{msg}"
    );
    // On a line of its own, after multi-byte characters.
    let (at, _, _) = located(
        parse_within(format!("{MIN}description: \"é€\u{1F600}\u{7}\"\n")),
        "syntax",
    );
    assert_eq!(at, "13:18");
}

#[test]
fn invalid_utf8_is_reported_at_the_first_bad_byte() {
    let dir = scratch("utf8");
    let file = dir.join("latin1.yaml");
    let mut bytes = MIN
        .replace("- name: web\n    replicas", "- name: wéb\n    replicas")
        .into_bytes();
    // "é" as Latin-1: one byte 0xE9, not UTF-8.
    let at = bytes
        .windows(2)
        .position(|w| w == "é".as_bytes())
        .expect("é");
    bytes.splice(at..at + 2, [0xE9]);
    std::fs::write(&file, &bytes).expect("write");
    let (pos, field, msg) = located(load_within(&file), "syntax");
    assert_eq!(pos, "3:12", "{msg}");
    assert_eq!(field, "deployments[0].name");
    assert_eq!(msg, "invalid UTF-8 (byte 0xE9); a suite file is UTF-8 text");
    let shown = load_within(&file).expect_err("latin1").to_string();
    assert!(
        shown.starts_with(&format!("{}:3:12: deployments[0].name: ", file.display())),
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A valid suite with `d` deployments (`a` of them autoscaled), `s`
/// services, `c` clients and timeline entries for every deployment and
/// client, on 16 nodes and within their pod capacity.
fn big_suite(d: usize, a: usize, s: usize, c: usize) -> String {
    let mut t = String::from("duration: 1h\ncluster: { nodes: 16 }\ndeployments:\n");
    for i in 0..d {
        let r = u32::from(i < a);
        let _ = writeln!(
            t,
            "  - {{ name: d{i}, replicas: {r}, nodes: [{}] }}",
            i % 16
        );
    }
    t.push_str("services:\n");
    for i in 0..s {
        let _ = writeln!(
            t,
            "  - {{ name: s{i}, cluster_ip: 198.19.0.10, port: {}, selector: d{} }}",
            i + 1,
            i % d
        );
    }
    t.push_str("clients:\n");
    for i in 0..c {
        let _ = writeln!(
            t,
            "  - {{ name: c{i}, service: s{}, node: {} }}",
            i % s,
            i % 16
        );
    }
    t.push_str("autoscalers:\n");
    for i in 0..a {
        let _ = writeln!(
            t,
            "  - {{ deployment: d{i}, max_replicas: 1, metric: {{ kind: busy-workers, target: 0.5 }} }}"
        );
    }
    t.push_str("timeline:\n");
    for i in 0..d {
        let _ = writeln!(
            t,
            "  - {{ at: 1s, scale: {{ deployment: d{i}, replicas: {} }} }}",
            u32::from(i < a)
        );
        if i < a {
            let _ = writeln!(
                t,
                "  - {{ at: 2s, kill: {{ deployment: d{i}, count: 1 }} }}"
            );
        }
    }
    for i in 0..c {
        let _ = writeln!(t, "  - {{ at: 3s, restart_client: {{ client: c{i} }} }}");
    }
    t
}

/// The suite `text` types to (it must be valid) and its index.
fn typed(text: &str) -> (svclab_suite::Suite, PathIndex) {
    let suite = match parse(text, Path::new("big.yaml")) {
        Ok(l) => l.suite,
        Err(e) => panic!("the big suite is valid: {e}"),
    };
    let index = PathIndex::build(text, Path::new("big.yaml")).expect("indexes");
    (suite, index)
}

#[test]
fn many_deployments_clients_and_timeline_entries_validate_in_linear_time() {
    // 5000 deployments (2000 autoscaled, 1 pod each), 250 services, 2000
    // clients (4000 pods on 16 nodes: the capacity), 9000 timeline entries.
    // Reading and typing are linear (about 1 MB of YAML); the rules were
    // not: a scan of the timeline and autoscalers per deployment took 10s.
    let (suite, index) = typed(&big_suite(5000, 2000, 250, 2000));
    let start = Instant::now();
    let found = check(&suite, &index);
    let took = start.elapsed();
    assert!(found.is_empty(), "{}", found[0]);
    assert!(took < Duration::from_secs(5), "validation took {took:?}");
}

#[test]
fn many_unknown_references_are_reported_in_linear_time() {
    // Every client names a missing service among 250: each error lists the
    // known names, which must not cost the whole list per error.
    let (mut suite, index) = typed(&big_suite(5000, 2000, 250, 2000));
    for c in &mut suite.clients {
        c.service = "nope".to_owned();
    }
    let start = Instant::now();
    let found = check(&suite, &index);
    let took = start.elapsed();
    assert_eq!(found.len(), 2000);
    assert!(took < Duration::from_secs(5), "validation took {took:?}");
    let longest = found.iter().map(|d| d.message.len()).max().unwrap_or(0);
    assert!(longest < 400, "a message of {longest} bytes: {}", found[0]);
}
