//! `svclab export` against the Kubernetes API: every shipped suite exports,
//! every object it writes validates against the JSON Schema of its type
//! (generated from k8s-openapi v0.29's `schemars` impls, the Kubernetes
//! v1.33 API, made strict: no property the API does not define) and reads
//! back into the typed object unchanged, and every `timeline.sh` passes
//! `bash -n`.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use k8s_openapi::api::{
    apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, batch::v1::Job,
    core::v1::ConfigMap, core::v1::Service,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use svclab_manifests::export::{Exported, export};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every shipped suite, loaded and validated.
fn shipped() -> Vec<svclab_suite::LoadedSuite> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join("suites"))
        .expect("read suites/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(paths.len() > 20, "suites/ holds the shipped suites");
    paths
        .iter()
        .map(|p| svclab_suite::load(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

fn exported(name: &str) -> Exported {
    let loaded = svclab_suite::load(&repo().join(format!("suites/{name}.yaml"))).expect("load");
    export(&loaded.suite).expect("export")
}

/// The YAML documents of a file, as JSON values.
fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("a YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Sets `additionalProperties: false` on every object schema that lists
/// its properties and says nothing of others: k8s-openapi's schemas allow
/// anything else, which would let a misspelt field through.
fn strict(schema: &mut Value) {
    match schema {
        Value::Object(o) => {
            if o.contains_key("properties") && !o.contains_key("additionalProperties") {
                o.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            o.values_mut().for_each(strict);
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

/// The object's type's schema, made [`strict`].
fn schema_of<T: schemars::JsonSchema>() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).expect("schema as JSON");
    strict(&mut schema);
    schema
}

/// Validates `doc` against `T`'s schema and checks that it reads back
/// into `T` and writes out the same.
fn check<T>(where_: &str, doc: &Value, api_version: &str) -> Vec<String>
where
    T: schemars::JsonSchema + DeserializeOwned + Serialize,
{
    let mut problems = Vec::new();
    if doc["apiVersion"] != api_version {
        problems.push(format!(
            "{where_}: apiVersion {} ≠ {api_version}",
            doc["apiVersion"]
        ));
    }
    let schema = schema_of::<T>();
    let validator = jsonschema::validator_for(&schema).expect("the generated schema compiles");
    for e in validator.iter_errors(doc) {
        problems.push(format!("{where_}: {} at {}", e, e.instance_path()));
    }
    match serde_json::from_value::<T>(doc.clone()) {
        Ok(typed) => {
            let back = serde_json::to_value(&typed).expect("serialize");
            if &back != doc {
                problems.push(format!("{where_}: does not read back unchanged"));
            }
        }
        Err(e) => problems.push(format!("{where_}: does not read as its type: {e}")),
    }
    problems
}

#[test]
fn every_exported_object_validates_against_the_kubernetes_v1_33_schema() {
    let mut problems = Vec::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for loaded in shipped() {
        let out =
            export(&loaded.suite).unwrap_or_else(|e| panic!("{}: export: {e}", loaded.suite.name));
        for file in out.files.iter().filter(|f| f.name.ends_with(".yaml")) {
            for (i, doc) in documents(&file.text).iter().enumerate() {
                let kind = doc["kind"].as_str().unwrap_or("").to_owned();
                let at = format!("{}/{}[{i}] {kind}", loaded.suite.name, file.name);
                *kinds.entry(kind.clone()).or_default() += 1;
                problems.extend(match kind.as_str() {
                    "Deployment" => check::<Deployment>(&at, doc, "apps/v1"),
                    "Service" => check::<Service>(&at, doc, "v1"),
                    "HorizontalPodAutoscaler" => {
                        check::<HorizontalPodAutoscaler>(&at, doc, "autoscaling/v2")
                    }
                    "Job" => check::<Job>(&at, doc, "batch/v1"),
                    "ConfigMap" => check::<ConfigMap>(&at, doc, "v1"),
                    other => vec![format!("{at}: unexpected kind {other:?}")],
                });
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for kind in [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "Job",
        "ConfigMap",
    ] {
        assert!(
            kinds.get(kind).is_some_and(|n| *n > 0),
            "no {kind} exported: {kinds:?}"
        );
    }
}

#[test]
fn the_strict_schema_refuses_a_misspelt_field() {
    let schema = schema_of::<Deployment>();
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    let mut doc = documents(
        &exported("kill-pod")
            .file("deployments.yaml")
            .expect("file")
            .text,
    )
    .remove(0);
    assert!(validator.is_valid(&doc));
    doc["spec"]["replica"] = Value::from(3);
    assert!(!validator.is_valid(&doc), "an unknown field must fail");
    doc["spec"].as_object_mut().expect("spec").remove("replica");
    doc["spec"]["replicas"] = Value::from("three");
    assert!(!validator.is_valid(&doc), "a wrong type must fail");
}

#[test]
fn every_timeline_script_passes_bash_syntax_check() {
    let dir = std::env::temp_dir().join(format!("svclab-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut failed = Vec::new();
    for loaded in shipped() {
        let out = export(&loaded.suite).expect("export");
        let script = out.file("timeline.sh").expect("timeline.sh");
        assert!(script.text.starts_with("#!/usr/bin/env bash\n"));
        let path = dir.join(format!("{}.sh", loaded.suite.name));
        std::fs::write(&path, &script.text).expect("write script");
        let o = Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("run bash -n");
        if !o.status.success() {
            failed.push(format!(
                "{}: {}",
                loaded.suite.name,
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn probe_liveness_cascade_keeps_its_probes_autoscaler_and_spike() {
    let out = exported("probe-liveness-cascade");
    let deployments = documents(&out.file("deployments.yaml").expect("file").text);
    let c = &deployments[0]["spec"]["template"]["spec"]["containers"][0];
    let live = &c["livenessProbe"];
    assert_eq!(live["httpGet"]["path"], "/healthz");
    assert_eq!(live["httpGet"]["port"], "http");
    assert_eq!(live["failureThreshold"], 1);
    assert_eq!(live["initialDelaySeconds"], 5);
    assert_eq!(live["timeoutSeconds"], 1);
    assert_eq!(c["readinessProbe"]["tcpSocket"]["port"], "http");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["resources"]["limits"]["cpu"], "1");
    let hpa = &documents(&out.file("autoscalers.yaml").expect("file").text)[0];
    let metric = &hpa["spec"]["metrics"][0]["resource"];
    assert_eq!(metric["name"], "cpu");
    assert_eq!(metric["target"]["averageUtilization"], 60);
    assert_eq!(hpa["spec"]["minReplicas"], 4);
    assert_eq!(hpa["spec"]["maxReplicas"], 6);
    let load = &out.file("load.yaml").expect("file").text;
    assert!(load.contains("ramping-arrival-rate"), "{load}");
    assert!(
        load.contains("\\\"target\\\": 360") || load.contains("\"target\": 360"),
        "{load}"
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.starts_with("kubelet.time_scale 0.2")),
        "{:?}",
        out.notes
    );
}

#[test]
fn what_kubernetes_cannot_say_is_a_note_in_every_file_it_concerns() {
    let out = exported("fault-lossy-backend");
    assert!(out.notes.iter().any(|n| n.starts_with("datapath")));
    for f in &out.files {
        assert!(
            f.text.contains("datapath"),
            "{} lacks the datapath note",
            f.name
        );
    }
    let script = &out.file("timeline.sh").expect("file").text;
    assert!(script.contains("kind: NetworkChaos"), "{script}");
    assert!(
        out.notes.iter().any(|n| n.contains("fault")),
        "{:?}",
        out.notes
    );
}

#[test]
fn kill_and_scale_become_kubectl_steps_at_their_times() {
    let script = exported("kill-pod")
        .file("timeline.sh")
        .expect("file")
        .text
        .clone();
    assert!(script.contains("kubectl apply -f load.yaml"), "{script}");
    assert!(
        script.contains("xargs -r kubectl delete --grace-period=0 --force"),
        "{script}"
    );
}
