//! `svclab export` on inline suites: a CPU target Kubernetes can say
//! (whole percent, at least 1), a request rate never written as 0, a
//! NodePort left to the cluster when the suite sets none, k6 Jobs that are
//! not retried, and rollout patches that switch between the pod server
//! and a program cleanly.
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use svclab_manifests::export::{Exported, export};

fn exported(text: &str) -> Exported {
    let loaded = svclab_suite::parse(text, Path::new("t.yaml")).unwrap_or_else(|e| panic!("{e}"));
    export(&loaded.suite).expect("export")
}

fn documents(e: &Exported, name: &str) -> Vec<Value> {
    let text = &e.file(name).unwrap_or_else(|| panic!("no {name}")).text;
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("a YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

const SUITE: &str = r#"
name: export-review
duration: 30s
cluster: { nodes: 2 }
deployments:
  - name: web
    replicas: 2
    server: { port: 8080, health: { port: 8081 } }
  - name: py
    replicas: 2
    container: { command: [python3, -m, http.server, "{port}"], port: 8000 }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web, type: NodePort }
  - { name: py, cluster_ip: 198.19.0.11, port: 80, selector: py }
autoscalers:
  - deployment: web
    min_replicas: 2
    max_replicas: 4
    metric: { kind: busy-workers, target: 0.004 }
  - deployment: py
    min_replicas: 2
    max_replicas: 4
    metric: { kind: request-rate, target: 0.0001 }
clients:
  - { name: outside, service: web, external: true, load: { mode: open, rate: 10 } }
timeline:
  - at: 5s
    rollout:
      deployment: web
      template: { container: { command: [python3, -m, http.server, "{port}"], port: 9000 } }
  - at: 10s
    rollout:
      deployment: py
      template: { server: { port: 8000, health: { port: 8001 } } }
"#;

#[test]
fn cpu_and_rate_targets_are_ones_kubernetes_accepts_with_a_note() {
    let e = exported(SUITE);
    let hpas = documents(&e, "autoscalers.yaml");
    let metric = |k: usize| &hpas[k]["spec"]["metrics"][0];
    assert_eq!(metric(0)["resource"]["target"]["averageUtilization"], 1);
    assert_eq!(metric(1)["pods"]["target"]["averageValue"], "1m");
    let notes = e.notes.join("\n");
    assert!(
        notes.contains("averageUtilization takes a whole percentage of at least 1; written as 1%"),
        "{notes}"
    );
    assert!(notes.contains("written as 1m"), "{notes}");
}

#[test]
fn an_unset_node_port_is_the_clusters_and_k6_jobs_are_not_retried() {
    let e = exported(SUITE);
    let svcs = documents(&e, "services.yaml");
    assert_eq!(svcs[0]["spec"]["type"], "NodePort");
    assert!(
        svcs[0]["spec"]["ports"][0].get("nodePort").is_none(),
        "{}",
        svcs[0]
    );
    let load = documents(&e, "load.yaml");
    let job = load.iter().find(|d| d["kind"] == "Job").expect("a Job");
    assert_eq!(job["spec"]["backoffLimit"], 0);
    let env = job["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
    assert!(env.contains("NODE_PORT"), "{env}");
    let config = load
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("a ConfigMap");
    assert!(
        config["data"]["script.js"]
            .as_str()
            .unwrap()
            .contains("__ENV.NODE_PORT")
    );
}

#[test]
fn rollout_patches_null_out_the_other_workloads_fields_and_note_ports() {
    let e = exported(SUITE);
    let script = &e.file("timeline.sh").expect("timeline.sh").text;
    let patches: Vec<Value> = script
        .lines()
        .filter_map(|l| l.split_once("--type=strategic -p '"))
        .map(|(_, p)| serde_json::from_str(p.trim_end_matches('\'')).expect("JSON patch"))
        .collect();
    assert_eq!(patches.len(), 2, "{script}");
    let c = |k: usize| patches[k]["spec"]["template"]["spec"]["containers"][0].clone();
    // Pod server → program: args deleted.
    assert!(
        c(0)["args"].is_null() && c(0).get("args").is_some(),
        "{}",
        c(0)
    );
    assert_eq!(c(0)["command"][0], "python3");
    // Program → pod server: the command is svclab's again.
    assert_eq!(c(1)["command"], serde_json::json!(["svclab"]));
    assert!(c(1)["args"].is_array());
    let notes = e.notes.join("\n");
    assert!(
        notes.contains("rollout web: the template's port 9000 differs from the deployment's 8080"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "rollout py: the template's health port 8001 differs from the deployment's none"
        ),
        "{notes}"
    );
}
