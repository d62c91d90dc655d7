//! `svclab import` through the binary (no root needed): a suite on stdout
//! or in `--out` (never over an existing file), warnings on stderr, exit 2
//! with file, document and field path on bad input or an unreadable file.
mod common;

use common::{in_repo, repo, stderr};

#[test]
fn import_prints_the_example_suite_and_its_warnings() {
    let o = in_repo(&["import", "examples/import/customer.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shipped = std::fs::read_to_string(repo().join("examples/import/customer-suite.yaml"))
        .expect("shipped suite");
    assert_eq!(String::from_utf8_lossy(&o.stdout), shipped);
    assert!(
        stderr(&o).contains("warning: not mapped: examples/import/customer.yaml: document 1 (Deployment web): items[0].spec.template.spec.containers[0].resources.requests"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn import_out_writes_a_valid_suite_and_never_overwrites() {
    let dir = std::env::temp_dir().join(format!("svclab-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("customer.yaml");
    let out_s = out.to_str().expect("utf-8 path");
    let args = [
        "import",
        "examples/import/customer.yaml",
        "--out",
        out_s,
        "--name",
        "customer-cascade",
    ];
    let o = in_repo(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let loaded = svclab_suite::load(&out).expect("the written suite validates");
    assert_eq!(loaded.suite.name, "customer-cascade");
    let again = in_repo(&args);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn import_bad_input_exits_2_with_file_document_and_path() {
    for (file, want) in [
        (
            "bad-not-yaml.yaml",
            "bad-not-yaml.yaml: document 2: not YAML or JSON",
        ),
        (
            "bad-unknown-kind.yaml",
            "document 2 (Deploymnet web): kind: unknown kind",
        ),
        (
            "bad-selector.yaml",
            "document 2 (Service catalog): spec.selector:",
        ),
        (
            "bad-probe-port.yaml",
            "spec.template.spec.containers[0].livenessProbe.httpGet.port: no container port named \"health\"",
        ),
    ] {
        let path = format!("manifests/tests/data/{file}");
        let o = in_repo(&["import", &path]);
        assert_eq!(o.status.code(), Some(2), "{file}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{file}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{file}: nothing on stdout");
    }
    let o = in_repo(&["import", "manifests/tests/data/no-such-file.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no-such-file.yaml: cannot read"),
        "{}",
        stderr(&o)
    );
    let o = in_repo(&[
        "import",
        "examples/import/customer.yaml",
        "--command",
        "web",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("expected NAME=COMMAND"),
        "{}",
        stderr(&o)
    );
}
