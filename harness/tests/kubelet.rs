//! kubelet end to end through the runner: real pod processes with a slow
//! start, probed from the node netns. A startup probe that allows for the
//! slow start gates readiness and liveness until the server listens (no
//! restart); one that does not kills the container again and again: the
//! same pod (one record, one IP) restarts with a growing back-off and the
//! reason recorded, and never becomes Ready.
mod common;

use common::run_options;
use svclab::runner;
use svclab_report::record::PodPhase;
use svclab_testsupport::require_root;

/// Two deployments start at 1 s, each with a 3 s slow start: `patient`
/// has a startup probe that allows 10 s, `strict` one that allows 1 s.
/// Kubelet clocks at 0.1x: back-off 1 s, 2 s, 4 s; probe period 500 ms.
const SUITE: &str = "\
# kubelet test: startup probes against a slow start
duration: 12s
kubelet:
  time_scale: 0.1
deployments:
  - name: patient
    replicas: 0
    server: { startup_time: 3s }
    probes:
      startup: { tcp: {}, period: 5s, failure_threshold: 20 }
      readiness: { tcp: {}, period: 5s }
      liveness: { http: { path: /healthz }, period: 5s, failure_threshold: 1 }
  - name: strict
    replicas: 0
    server: { startup_time: 3s }
    probes:
      startup: { tcp: {}, period: 5s, failure_threshold: 2 }
      readiness: { tcp: {}, period: 5s }
services:
  - { name: patient, cluster_ip: 198.19.0.10, port: 80, selector: patient }
  - { name: strict, cluster_ip: 198.19.0.11, port: 80, selector: strict }
clients:
  - { name: c, service: patient, load: { mode: open, rate: 20 }, start: 6s }
timeline:
  - { at: 1s, scale: { deployment: patient, replicas: 1 } }
  - { at: 1s, scale: { deployment: strict, replicas: 1 } }
";

#[test]
fn startup_probe_gates_a_slow_start_or_restarts_it_with_back_off() {
    require_root!();
    let dir = std::env::temp_dir().join(format!("svclab-kubelet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("startup.yaml");
    std::fs::write(&path, SUITE).expect("write suite");
    let loaded = svclab_suite::load(&path).expect("suite loads");
    let opts = run_options(dir.join("reports"), 1.0);
    let o = runner::run_suite(&loaded, &opts).expect("run");
    let r = &o.record;
    assert!(r.error.is_none(), "run error {:?}", r.error);
    let pod = |name: &str| {
        r.pods
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no pod {name}: {:?}", r.pods))
    };

    // patient: gated until it listens, then Ready, never restarted, and the
    // client got answers from it.
    let patient = pod("patient-0");
    assert!(patient.restarts.is_empty(), "{:?}", patient.restarts);
    let ready_at = patient
        .phases
        .iter()
        .find(|c| c.phase == PodPhase::Ready)
        .map(|c| c.t_s)
        .unwrap_or_else(|| panic!("patient never ready: {:?}", patient.phases));
    assert!(
        ready_at >= 1.0 + 2.5,
        "ready at {ready_at:.2}s, before its 3 s slow start ended"
    );
    let ok: u64 = r.buckets.iter().map(|b| b.client.ok).sum();
    assert!(ok > 0, "no response from the patient pod");

    // strict: killed by its startup probe, restarted in place with a
    // growing back-off, never Ready.
    assert_eq!(
        r.pods.iter().filter(|p| p.deployment == "strict").count(),
        1,
        "a restart keeps the pod (same name, same IP)"
    );
    let strict = pod("strict-0");
    assert!(
        strict.restarts.len() >= 3,
        "only {} restarts: {:?}",
        strict.restarts.len(),
        strict.restarts
    );
    for (i, x) in strict.restarts.iter().enumerate() {
        assert_eq!(x.count as usize, i + 1);
        assert!(
            x.reason.starts_with("startup probe failed"),
            "reason {:?}",
            x.reason
        );
    }
    assert!(strict.phases.iter().all(|c| c.phase != PodPhase::Ready));
    assert!(strict.phases.iter().any(|c| c.phase == PodPhase::BackOff));
    // Kills come ~1 s after each start; starts wait 0, 1, 2 s (scaled back-off):
    // the gaps between kills grow.
    let t: Vec<f64> = strict.restarts.iter().map(|x| x.t_s).collect();
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0] + 0.5),
        "back-off does not grow: kills at {t:?}"
    );
    // The restart events name the pod and the count.
    assert!(
        r.events
            .iter()
            .any(|e| e.kind == "restart" && e.detail.starts_with("strict-0 restart #2"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `suite` (YAML) in a temp dir and returns its record.
fn run_inline(tag: &str, suite: &str) -> svclab_report::record::RunRecord {
    let dir = std::env::temp_dir().join(format!("svclab-kubelet-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{tag}.yaml"));
    std::fs::write(&path, suite).expect("write suite");
    let loaded = svclab_suite::load(&path).expect("suite loads");
    let o = runner::run_suite(&loaded, &run_options(dir.join("reports"), 1.0)).expect("run");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.record.error.is_none(), "run error {:?}", o.record.error);
    o.record
}

/// kubelet keeps probing readiness while a pod is deleted (worker.go
/// doProbe stops only liveness and startup on a DeletionTimestamp): a
/// terminating pod whose readiness starts failing turns not ready and
/// leaves the service before it is gone. Its preStop hook makes the
/// readiness check fail and then sleeps.
#[test]
fn a_deleted_pod_keeps_its_readiness_probe() {
    require_root!();
    let flag = format!("/tmp/svclab-kubelet-draining-{}", std::process::id());
    let suite = format!(
        "\
# kubelet test: readiness on delete
duration: 9s
deployments:
  - name: web
    replicas: 1
    termination_grace: 30s
    lifecycle:
      pre_stop: {{ exec: {{ command: [sh, -c, \"touch {flag}; sleep 5\"] }} }}
    probes:
      readiness: {{ exec: {{ command: [sh, -c, \"test ! -e {flag}\"] }}, period: 500ms, failure_threshold: 2 }}
      liveness: {{ exec: {{ command: [sh, -c, \"test ! -e {flag}\"] }}, period: 500ms, failure_threshold: 1 }}
services:
  - {{ name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }}
clients:
  - {{ name: c, service: web, load: {{ mode: open, rate: 10 }} }}
timeline:
  - {{ at: 2s, scale: {{ deployment: web, replicas: 0 }} }}
"
    );
    let r = run_inline("delete", &suite);
    let _ = std::fs::remove_file(&flag);
    let at = |kind: &str| {
        r.events
            .iter()
            .find(|e| e.kind == kind && e.detail.starts_with("web-0"))
            .map(|e| e.t_s)
    };
    let unready = at("pod_not_ready").unwrap_or_else(|| {
        panic!(
            "web-0 never turned not ready while terminating: {:#?}",
            r.events
        )
    });
    let sigterm = at("sigterm").expect("SIGTERM after the preStop hook");
    assert!(
        (2.0..sigterm).contains(&unready),
        "not ready at {unready:.2}s: after the delete at 2 s, before SIGTERM at {sigterm:.2}s"
    );
    assert!(
        r.pods
            .iter()
            .find(|p| p.name == "web-0")
            .is_some_and(|p| p.restarts.is_empty()),
        "liveness stopped on delete: no restart"
    );
    assert!(
        r.events
            .iter()
            .any(|e| e.kind == "endpoint_update" && e.detail.contains("web-0 removed")),
        "the endpoint left the service once not serving"
    );
}

/// The startup probe's success is a pod sync that triggers the readiness
/// probe at once (prober_manager.go UpdatePodStatus → manualTriggerCh):
/// the pod is Ready right after it started, not at the readiness worker's
/// next tick a period later (its first tick always finds the startup gate
/// shut: the startup probe has not run yet).
#[test]
fn readiness_runs_at_once_when_the_container_has_started() {
    require_root!();
    let r = run_inline(
        "trigger",
        "\
# kubelet test: readiness trigger on the startup probe's success
duration: 13s
deployments:
  - name: web
    replicas: 0
    probes:
      startup: { exec: { command: [\"true\"] }, period: 1s }
      readiness: { exec: { command: [\"true\"] }, period: 5s }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }
clients:
  - { name: c, service: web, load: { mode: open, rate: 5 }, start: 12s }
timeline:
  - { at: 6s, scale: { deployment: web, replicas: 1 } }
",
    );
    let pod = r.pods.iter().find(|p| p.name == "web-0").expect("web-0");
    let created = pod.phases.first().map(|c| c.t_s).expect("phases");
    let ready = pod
        .phases
        .iter()
        .find(|c| c.phase == PodPhase::Ready)
        .map(|c| c.t_s)
        .unwrap_or_else(|| panic!("never ready: {:?}", pod.phases));
    assert!(
        ready - created < 2.5,
        "ready {:.2}s after creation: the startup probe runs within 1 s, readiness then at once (not 5 s later)",
        ready - created
    );
}
