//! `import(export(suite))` for every shipped suite: each field that exists
//! both in the suite and in the Kubernetes objects comes back as it was —
//! replicas, probes, grace, preStop, strategy, minReadySeconds, the
//! unreachable toleration, service ports, selector, affinity, traffic
//! policies, NodePorts, and the autoscalers' bounds, metric and windows.
//! (The load Jobs and the timeline script are not import's input.)
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

/// The fields both sides have, of `s`, in one comparable text per object.
fn shared_fields(s: &Suite) -> Vec<String> {
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
        out.push(format!(
            "deployment {} replicas {} port {} startup {:?} readiness {:?} liveness {:?} grace {} preStop {:?} strategy {:?} minReady {} toleration {}",
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
        out.push(format!(
            "autoscaler {} min {} max {} metric {:?} {} up {} down {} tolerance {}",
            a.deployment,
            a.min_replicas,
            a.max_replicas,
            a.metric.kind,
            a.metric.target,
            secs(a.scale_up_stabilization),
            secs(a.scale_down_stabilization),
            a.tolerance,
        ));
    }
    out
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
        let exported = export(&loaded.suite).expect("export");
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
                problems.push(format!("{}: import failed: {e}", loaded.suite.name));
                continue;
            }
        };
        let (want, got) = (shared_fields(&loaded.suite), shared_fields(&imported.suite));
        compared += want.len();
        for (w, g) in want.iter().zip(&got) {
            if w != g {
                problems.push(format!(
                    "{}:\n  suite:    {w}\n  imported: {g}",
                    loaded.suite.name
                ));
            }
        }
        if want.len() != got.len() {
            problems.push(format!(
                "{}: {} objects exported, {} imported",
                loaded.suite.name,
                want.len(),
                got.len()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(compared > 60, "only {compared} objects compared");
}
