//! The JSON Schema against the suites: the shipped `suites/svclab.schema.json`
//! is what `svclab_suite::schema()` generates, it accepts every shipped
//! suite, and each bad suite here is rejected by the schema and by
//! `svclab_suite::parse` alike (the schema never contradicts validation on
//! what it can express).
//!
//! `SVCLAB_BLESS=1 cargo test -p svclab-suite --test schema` rewrites the
//! shipped file.
mod common;

use std::path::{Path, PathBuf};

use common::{MIN, edit, with};
use jsonschema::Validator;
use serde_json::Value;
use svclab_suite::{parse, schema};

fn suites_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites")
}

fn validator() -> Validator {
    jsonschema::draft202012::new(&schema()).expect("the generated schema compiles")
}

/// The YAML text as the JSON value an editor's schema check sees.
fn json(text: &str) -> Value {
    serde_yaml::from_str(text).expect("YAML reads as JSON")
}

#[test]
fn shipped_schema_is_current() {
    let path = suites_dir().join("svclab.schema.json");
    let generated = schema();
    if std::env::var_os("SVCLAB_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&generated).expect("schema serialises");
        std::fs::write(&path, format!("{text}\n")).expect("write the schema");
    }
    let shipped: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    assert!(
        shipped == generated,
        "{} is stale or missing: the suite model changed. Regenerate it with \
         `svclab schema > suites/svclab.schema.json` or \
         `SVCLAB_BLESS=1 cargo test -p svclab-suite --test schema`",
        path.display()
    );
}

#[test]
fn generated_schema_is_valid_draft_2020_12() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    if let Err(e) = jsonschema::draft202012::meta::validate(&s) {
        panic!("schema fails the 2020-12 meta-schema: {e}");
    }
}

#[test]
fn schema_accepts_every_shipped_suite() {
    let v = validator();
    let mut seen = 0;
    let entries = std::fs::read_dir(suites_dir()).expect("suites/ exists");
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read suite");
        let errors: Vec<String> = v
            .iter_errors(&json(&text))
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        assert!(
            text.starts_with("# yaml-language-server: $schema=./svclab.schema.json\n"),
            "{} does not start with the schema modeline",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 9, "found only {seen} suites");
}

#[test]
fn schema_accepts_the_minimal_suite_and_optional_forms() {
    let v = validator();
    for text in [
        MIN.to_owned(),
        with("timeline:\n  - { at: 10s, flush_ct: }\n  - { at: 20s, flush_ct: { node: 0 } }\n"),
        with("expect:\n  - { metric: errors, max: 0 }\n"),
        with("regression: { p99_ms: 0.5 }\n"),
        edit(
            "replicas: 3",
            "replicas: 3\n    probes:\n      readiness: { tcp: {} }",
        ),
    ] {
        parse(&text, Path::new("suites/ok.yaml")).expect("parse accepts it");
        let errors: Vec<String> = v.iter_errors(&json(&text)).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{text}\n{errors:#?}");
    }
}

/// Cases the schema must reject, and `parse` with it.
fn bad_suites() -> Vec<(&'static str, String)> {
    vec![
        ("unknown top-level key", with("colour: blue\n")),
        (
            "unknown key in a section",
            edit("replicas: 3", "replicas: 3\n    colour: blue"),
        ),
        (
            "unknown key in a nested section",
            with("datapath: { timeouts: { fin: 10s } }\n"),
        ),
        ("wrong type", edit("replicas: 3", "replicas: \"four\"")),
        ("enum value", with("datapath: { ct_reuse: sometimes }\n")),
        (
            "enum value (kebab-case)",
            with("datapath: { ct_reuse: close_rebalance }\n"),
        ),
        ("replicas above 2000", edit("replicas: 3", "replicas: 2001")),
        ("nodes above 16", with("cluster: { nodes: 17 }\n")),
        ("nodes 0", with("cluster: { nodes: 0 }\n")),
        ("port 0", edit("port: 80", "port: 0")),
        (
            "rate 0",
            edit("service: web", "service: web\n    load: { rate: 0 }"),
        ),
        ("time_scale above 1", with("kubelet: { time_scale: 2 }\n")),
        (
            "maglev size not prime",
            with("datapath: { maglev_table_size: 250 }\n"),
        ),
        (
            "duration without unit",
            edit("duration: 60s", "duration: \"60\""),
        ),
        (
            "duration as a number",
            edit("duration: 60s", "duration: 60"),
        ),
        (
            "duration with a bad unit",
            edit("duration: 60s", "duration: 60d"),
        ),
        (
            "missing required section",
            MIN.replace("clients:\n  - name: nginx\n    service: web\n", ""),
        ),
        (
            "name not a DNS label",
            edit("- name: web\n    replicas", "- name: Web\n    replicas"),
        ),
        ("suite name", format!("name: .hidden\n{MIN}")),
        (
            "cluster_ip outside 198.19.0.0/24",
            edit("198.19.0.10", "10.0.0.1"),
        ),
        (
            "timeline without at",
            with("timeline:\n  - { kill: { deployment: web, count: 1 } }\n"),
        ),
        (
            "timeline without action",
            with("timeline:\n  - { at: 10s }\n"),
        ),
        (
            "timeline with two actions",
            with("timeline:\n  - { at: 10s, flush_ct: {}, kill: { deployment: web, count: 1 } }\n"),
        ),
        (
            "unknown action",
            with("timeline:\n  - { at: 10s, explode: {} }\n"),
        ),
        (
            "unknown key inside an action",
            with(
                "timeline:\n  - { at: 10s, scale: { deployment: web, replicas: 4, now: true } }\n",
            ),
        ),
        (
            "scale above 2000",
            with("timeline:\n  - { at: 10s, scale: { deployment: web, replicas: 3000 } }\n"),
        ),
        (
            "probe with two handlers",
            edit(
                "replicas: 3",
                "replicas: 3\n    probes:\n      readiness: { tcp: {}, exec: { command: [true] } }",
            ),
        ),
        (
            "probe without a handler",
            edit(
                "replicas: 3",
                "replicas: 3\n    probes:\n      readiness: { period: 5s }",
            ),
        ),
        (
            "liveness success_threshold 2",
            edit(
                "replicas: 3",
                "replicas: 3\n    probes:\n      liveness: { tcp: {}, success_threshold: 2 }",
            ),
        ),
        (
            "http path without slash",
            edit(
                "replicas: 3",
                "replicas: 3\n    probes:\n      readiness: { http: { path: healthz } }",
            ),
        ),
        (
            "exec with an empty program",
            edit(
                "replicas: 3",
                "replicas: 3\n    probes:\n      readiness: { exec: { command: [\"\"] } }",
            ),
        ),
        (
            "expect without bounds",
            with("expect:\n  - { metric: errors }\n"),
        ),
        (
            "unknown metric",
            with("expect:\n  - { metric: happiness, min: 1 }\n"),
        ),
        (
            "unknown regression figure",
            with("regression: { vibes: 0.2 }\n"),
        ),
        (
            "regression threshold 0",
            with("regression: { p99_ms: 0 }\n"),
        ),
        (
            "busy-workers target above 1",
            with(
                "autoscalers:\n  - { deployment: web, max_replicas: 6, metric: { kind: busy-workers, target: 2 } }\n",
            ),
        ),
        (
            "source port below 1024",
            edit(
                "service: web",
                "service: web\n    source_ports: { range: [80, 2000] }",
            ),
        ),
        (
            "node listed twice",
            edit("replicas: 3", "replicas: 3\n    nodes: [0, 0]"),
        ),
    ]
}

#[test]
fn schema_and_parse_reject_bad_suites() {
    let v = validator();
    for (what, text) in bad_suites() {
        assert!(
            !v.is_valid(&json(&text)),
            "schema accepts a bad suite ({what}):\n{text}"
        );
        assert!(
            parse(&text, Path::new("suites/bad.yaml")).is_err(),
            "parse accepts a bad suite ({what}):\n{text}"
        );
    }
}

#[test]
fn maglev_sizes_agree_with_validation() {
    let s = schema();
    let sizes = s["$defs"]["DatapathSpec"]["properties"]["maglev_table_size"]["enum"]
        .as_array()
        .expect("maglev_table_size has an enum")
        .clone();
    assert_eq!(sizes.len(), 7);
    for size in sizes {
        let text = with(&format!("datapath: {{ maglev_table_size: {size} }}\n"));
        parse(&text, Path::new("suites/ok.yaml")).expect("validation accepts the schema's size");
    }
}

#[test]
fn schema_carries_docs_defaults_and_bounds() {
    let s = schema();
    let server = &s["$defs"]["ServerSpec"]["properties"];
    assert_eq!(server["port"]["default"], 8080);
    assert_eq!(server["port"]["minimum"], 1);
    assert_eq!(server["workers"]["maximum"], 256);
    assert!(
        server["workers"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Worker threads")),
        "{:#}",
        server["workers"]
    );
    assert_eq!(server["read_timeout"]["default"], "1m");
    assert_eq!(s["$defs"]["Deployment"]["additionalProperties"], false);
    assert_eq!(s["additionalProperties"], false);
}
