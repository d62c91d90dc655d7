//! `import(export(suite))` for every shipped suite: each field that exists
//! both in the suite and in the Kubernetes objects comes back as it was —
//! replicas, probes, grace, preStop, strategy, minReadySeconds, the
//! unreachable toleration, service ports, selector, affinity, traffic
//! policies, NodePorts, and the autoscalers' bounds, metric and windows.
//! (The load Jobs and the timeline script are not import's input.) A
//! synthetic suite adds what no shipped suite has: Recreate, exec and
//! startup probes with headers, both preStop handlers, cpus, a health
//! port, a request-rate autoscaler and a tolerance.
use std::path::{Path, PathBuf};

use svclab_manifests::{
    export::export,
    import::{Input, Options, import},
};
use svclab_suite::{Dur, Suite, model::node_ports};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A duration as Kubernetes carries it: whole seconds, rounded up.
fn secs(d: Dur) -> u64 {
    d.0.as_millis().div_ceil(1000) as u64
}

/// The fields both sides have, of `s`, in one comparable text per object;
/// the pod server's fields only for the deployments in `servers` (a
/// `container:` comes back as the pod server).
fn shared_fields(s: &Suite, servers: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for d in &s.deployments {
        let probe = |p: &Option<svclab_suite::model::Probe>| {
            p.as_ref().map(|p| {
                (
                    p.tcp.as_ref().map(|t| t.port.unwrap_or(d.port())),
                    p.http.as_ref().map(|h| {
                        (
                            h.path.clone(),
                            h.port.unwrap_or(d.port()),
                            h.headers.clone(),
                        )
                    }),
                    p.exec.clone(),
                    secs(p.initial_delay),
                    secs(p.period).max(1),
                    secs(p.timeout).max(1),
                    p.success_threshold,
                    p.failure_threshold,
                )
            })
        };
        let pre = d.lifecycle.pre_stop.as_ref().map(|p| {
            (
                p.exec.clone(),
                p.http_get.as_ref().map(|h| {
                    (
                        h.path.clone(),
                        h.port.unwrap_or(d.port()),
                        h.headers.clone(),
                    )
                }),
                p.sleep.map(secs),
            )
        });
        let server = servers
            .contains(&d.name.as_str())
            .then(|| (d.server.cpus, d.server.health.as_ref().map(|h| h.port)));
        out.push(format!(
            "deployment {} replicas {} port {} server {server:?} startup {:?} readiness {:?} liveness {:?} grace {} preStop {:?} strategy {:?} minReady {} toleration {}",
            d.name,
            d.replicas,
            d.port(),
            probe(&d.probes.startup),
            probe(&d.probes.readiness),
            probe(&d.probes.liveness),
            secs(d.termination_grace),
            pre,
            d.strategy,
            secs(d.min_ready_seconds),
            secs(d.unreachable_toleration),
        ));
    }
    for (svc, node_port) in s.services.iter().zip(node_ports(&s.services)) {
        let target = svc.target_port.unwrap_or_else(|| {
            s.deployments
                .iter()
                .find(|d| d.name == svc.selector)
                .map_or(0, svclab_suite::model::Deployment::port)
        });
        out.push(format!(
            "service {} port {} target {target} selector {} affinity {:?} {:?} internal {:?} distribution {:?} type {:?} nodePort {node_port:?} external {:?}",
            svc.name,
            svc.port,
            svc.selector,
            svc.session_affinity,
            svc.affinity().map(|t| t.as_secs()),
            svc.internal_traffic_policy,
            svc.traffic_distribution,
            svc.service_type,
            svc.external_traffic_policy
                .unwrap_or(svclab_suite::model::TrafficPolicy::Cluster),
        ));
    }
    for a in &s.autoscalers {
        // Kubernetes carries a CPU target in whole percent.
        let target = match a.metric.kind {
            svclab_suite::model::HpaMetricKind::BusyWorkers => {
                format!("{}%", (a.metric.target * 100.0).round())
            }
            svclab_suite::model::HpaMetricKind::RequestRate => a.metric.target.to_string(),
        };
        out.push(format!(
            "autoscaler {} min {} max {} metric {:?} {target} up {} down {} tolerance {}",
            a.deployment,
            a.min_replicas,
            a.max_replicas,
            a.metric.kind,
            secs(a.scale_up_stabilization),
            secs(a.scale_down_stabilization),
            a.tolerance,
        ));
    }
    out
}

/// `import(export(suite))` against `suite`: the differing lines.
fn round_trip(suite: &Suite, problems: &mut Vec<String>) -> usize {
    let exported = export(suite).expect("export");
    let inputs: Vec<Input> = ["deployments.yaml", "services.yaml", "autoscalers.yaml"]
        .into_iter()
        .filter_map(|name| exported.file(name))
        .map(|f| Input {
            path: PathBuf::from(&f.name),
            text: f.text.clone(),
        })
        .collect();
    let imported = match import(&inputs, &Options::default()) {
        Ok(i) => i,
        Err(e) => {
            problems.push(format!("{}: import failed: {e}", suite.name));
            return 0;
        }
    };
    let servers: Vec<&str> = suite
        .deployments
        .iter()
        .filter(|d| d.container.is_none())
        .map(|d| d.name.as_str())
        .collect();
    let (want, got) = (
        shared_fields(suite, &servers),
        shared_fields(&imported.suite, &servers),
    );
    for (w, g) in want.iter().zip(&got) {
        if w != g {
            problems.push(format!("{}:\n  suite:    {w}\n  imported: {g}", suite.name));
        }
    }
    if want.len() != got.len() {
        problems.push(format!(
            "{}: {} objects exported, {} imported",
            suite.name,
            want.len(),
            got.len()
        ));
    }
    want.len()
}

#[test]
fn import_of_export_gives_back_every_field_both_sides_have() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join("suites"))
        .expect("read suites/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let (mut problems, mut compared) = (Vec::new(), 0);
    for path in paths {
        let loaded = svclab_suite::load(&path).expect("a shipped suite loads");
        compared += round_trip(&loaded.suite, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(compared > 60, "only {compared} objects compared");
}

/// What no shipped suite has, each in a field both sides carry.
const SYNTHETIC: &str = r#"
name: roundtrip-synthetic
duration: 20s
deployments:
  - name: api
    replicas: 2
    server: { port: 8080, cpus: 1.5, health: { port: 8081 } }
    strategy: { type: Recreate }
    unreachable_toleration: 30s
    termination_grace: 20s
    lifecycle:
      pre_stop:
        http_get: { path: /drain, port: 8081, headers: [{ name: X-Drain, value: "1" }] }
    probes:
      startup:
        exec: { command: [/bin/true] }
        period: 2s
        failure_threshold: 30
      readiness:
        http: { path: /healthz/ready, port: 8081, headers: [{ name: X-Probe, value: kubelet }] }
        period: 3s
        timeout: 2s
        success_threshold: 2
      liveness:
        tcp: {}
        initial_delay: 5s
  - name: worker
    replicas: 3
    server: { port: 9000, cpus: 0.5 }
    lifecycle:
      pre_stop:
        exec: { command: [/bin/sleep, "2"] }
    probes:
      readiness:
        exec: { command: [/bin/true, --ready] }
services:
  - name: api
    cluster_ip: 198.19.0.10
    port: 80
    selector: api
    internal_traffic_policy: Local
  - { name: worker, cluster_ip: 198.19.0.11, port: 9000, selector: worker }
autoscalers:
  - deployment: api
    min_replicas: 2
    max_replicas: 6
    metric: { kind: request-rate, target: 0.5 }
    scale_up_stabilization: 45s
    tolerance: 0.2
  - deployment: worker
    min_replicas: 1
    max_replicas: 4
    metric: { kind: busy-workers, target: 0.625 }
clients:
  - { name: c, service: api, load: { mode: open, rate: 10 } }
"#;

#[test]
fn a_synthetic_suite_with_what_no_shipped_suite_has_comes_back() {
    let loaded = svclab_suite::parse(SYNTHETIC, Path::new("synthetic.yaml"))
        .unwrap_or_else(|e| panic!("the synthetic suite: {e}"));
    let s = &loaded.suite;
    assert_eq!(s.deployments[0].unreachable_toleration, Dur::from_secs(30));
    assert!((s.autoscalers[0].tolerance - 0.2).abs() < 1e-9);
    let mut problems = Vec::new();
    let compared = round_trip(s, &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(compared, 6);
}
