//! Incident B: a traffic spike that turns a strict liveness probe into a
//! restart cascade, as one synthetic record with pod telemetry.
use std::collections::BTreeMap;

use super::{
    base::{Lcg, backend_counters, empty_record},
    cascade_pods::{
        CASCADE_BACKLOG, CASCADE_PODS, CASCADE_WORKERS, POD_CAPACITY, phase_at, time_in,
    },
};
use crate::{
    derive::{ExpectationSpec, evaluate},
    record::{
        BackendBucket, BackendInfo, Bucket, ClientBucket, DeploymentBucket, Event, KubeletInfo,
        PodBucket, PodPhase, PodRecord, ProbeBucket, Restart, RunRecord, SuiteInfo, Verdict,
    },
};

/// Start and end of the traffic spike in [`liveness_cascade`].
pub const SPIKE_AT_S: f64 = 20.0;

pub const SPIKE_END_S: f64 = 50.0;

/// Incident B over 80 one-second buckets: `web` runs 3 pods (4 workers,
/// backlog 64, ~400 req/s each) behind an HTTP liveness probe on the
/// serving port with failureThreshold 1 and a 1 s timeout, and a TCP
/// readiness probe. At t = 20 the client's rate spikes from 600 to 1500
/// req/s for 30 s: the pods saturate, their accept queues fill to the
/// backlog (TCP readiness still passes, the kernel completes handshakes),
/// liveness probes queue behind requests and time out, and kubelet
/// restarts the pods one after another into the same load, in growing
/// back-off. The autoscaler adds a fourth pod at 22 s, which fails its
/// startup probe and joins the cascade. Ready pods drop to one; the run
/// recovers after the spike. The expectations are the fixed probes', so
/// the verdict is FAIL.
pub fn liveness_cascade() -> RunRecord {
    let mut rng = Lcg(11);
    let mut rec = empty_record();
    rec.run_id = "20260101-130000-c0de".into();
    rec.suite = SuiteInfo {
        name: "liveness-cascade".into(),
        path: "suites/liveness-cascade.yaml".into(),
        description: "A traffic spike turns a strict liveness probe into a restart cascade".into(),
        header: CASCADE_HEADER.into(),
        yaml: CASCADE_YAML.into(),
        datapath_mode: "cilium-1.16: random selection, new selection on every reused closing entry, service TCP lifetime 8000s".into(),
        datapath: Vec::new(),
    };
    rec.started_at = "2026-01-01T13:00:00Z".into();
    rec.duration_s = 80.0;
    rec.elapsed_s = 80.0;
    rec.seed = 11;
    rec.kubelet = KubeletInfo {
        time_scale: 0.1,
        constants: vec![
            "probe periods and initial delays ×0.1 (timeouts are not scaled)".into(),
            "restart back-off 1s doubling to 30s, reset after 60s of running".into(),
            "termination grace 3s; HPA sync period 1.5s, scale-down stabilization 30s".into(),
        ],
        probes: vec![
            "web startup: http GET :8080/healthz, period 1s, timeout 1s, failureThreshold 1".into(),
            "web readiness: tcp :8080, period 1s, timeout 1s, failureThreshold 3".into(),
            "web liveness: http GET :8080/healthz, period 1s, timeout 1s, failureThreshold 1"
                .into(),
        ],
        autoscalers: vec![
            "web: request-rate target 300 req/s per pod, min 3, max 4 replicas".into(),
        ],
    };

    for (i, script) in CASCADE_PODS.iter().enumerate() {
        let (phases, restarts) = script.lifecycle();
        let ip = format!("198.18.{}.{}", script.node, 10 + i);
        rec.backends.push(BackendInfo {
            name: script.name.into(),
            addr: format!("{ip}:8080"),
            deployment: "web".into(),
            node: script.node,
            created_s: script.created,
            removed_s: None,
            added_by_last_scale_up: script.created > 0.0,
            killed: false,
            replacement: false,
            revision: 1,
            sigterm_s: None,
            conns_after_sigterm: 0,
        });
        rec.pods.push(PodRecord {
            name: script.name.into(),
            deployment: "web".into(),
            node: script.node,
            ip,
            created_s: script.created,
            removed_s: None,
            phases,
            restarts,
            backlog: CASCADE_BACKLOG,
            workers: CASCADE_WORKERS,
        });
    }

    for i in 0..80 {
        let t = f64::from(i);
        let window = [t, t + 1.0];
        let rate = if (SPIKE_AT_S..SPIKE_END_S).contains(&t) {
            1500.0
        } else {
            600.0
        };
        let sent = (rate * (0.99 + 0.02 * rng.unit())).round() as u64;
        let ready_s: Vec<f64> = rec
            .pods
            .iter()
            .map(|p| time_in(p, window, |ph| ph == PodPhase::Ready))
            .collect();
        let ready_total: f64 = ready_s.iter().sum();
        let capacity = POD_CAPACITY * ready_total;
        let load = if capacity > 0.0 {
            sent as f64 / capacity
        } else {
            f64::INFINITY
        };
        let overloaded = load > 0.9;
        let ok = if overloaded {
            ((capacity * (0.96 + 0.03 * rng.unit())) as u64).min(sent)
        } else {
            sent
        };
        let error_count = sent - ok;
        let mut errors = BTreeMap::new();
        if error_count > 0 {
            let timeouts = error_count * 2 / 3;
            errors.insert("timeout".to_string(), timeouts);
            errors.insert("reset".to_string(), error_count - timeouts);
        }

        let mut backends = BTreeMap::new();
        let mut pods = BTreeMap::new();
        for (pod, ready) in rec.pods.iter().zip(&ready_s) {
            if pod.created_s >= t + 1.0 {
                continue;
            }
            let requests = if ready_total > 0.0 {
                (ok as f64 * ready / ready_total).round() as u64
            } else {
                0
            };
            backends.insert(
                pod.name.clone(),
                BackendBucket {
                    responses: requests,
                    new_conns: requests,
                    ct_entries: requests / 50,
                },
            );
            let end_phase = phase_at(pod, t + 1.0 - 1e-9).unwrap_or_default();
            let running =
                |ph| matches!(ph, PodPhase::Running | PodPhase::Ready | PodPhase::NotReady);
            let listening = *ready > 0.0 || running(end_phase);
            let running_s = time_in(pod, window, running);
            let busy = *ready > 0.0 && overloaded;
            let (queue_max, queue_mean) = if busy {
                (
                    CASCADE_BACKLOG - 4 + (rng.unit() * 6.0) as u32,
                    36.0 + 20.0 * rng.unit(),
                )
            } else if *ready > 0.0 && load > 0.7 {
                (6 + (rng.unit() * 12.0) as u32, 3.0 + 4.0 * rng.unit())
            } else {
                ((rng.unit() * 2.5) as u32, 0.2 * rng.unit())
            };
            let utilisation = if *ready > 0.0 { load.min(1.0) } else { 0.0 };
            let restarted_here: Vec<&Restart> = pod
                .restarts
                .iter()
                .filter(|r| r.t_s >= t && r.t_s < t + 1.0)
                .collect();
            let mut probes = BTreeMap::new();
            if running_s > 0.0 || !restarted_here.is_empty() {
                let liveness_failed = restarted_here
                    .iter()
                    .any(|r| r.reason.starts_with("liveness"));
                let live_ms = if busy {
                    350.0 + 500.0 * rng.unit()
                } else {
                    1.2 + rng.unit()
                };
                probes.insert(
                    "liveness".to_string(),
                    ProbeBucket {
                        success: u32::from(!liveness_failed),
                        failure: 0,
                        timeout: u32::from(liveness_failed),
                        latency_ms_mean: if liveness_failed { 1000.0 } else { live_ms },
                        latency_ms_max: if liveness_failed {
                            1000.0
                        } else {
                            live_ms * 1.2
                        },
                    },
                );
                let not_ready = time_in(pod, window, |ph| ph == PodPhase::NotReady) > 0.0;
                let tcp_ms = 0.15 + 0.1 * rng.unit();
                probes.insert(
                    "readiness".to_string(),
                    ProbeBucket {
                        success: u32::from(!not_ready),
                        failure: 0,
                        timeout: u32::from(not_ready),
                        latency_ms_mean: if not_ready { 1000.0 } else { tcp_ms },
                        latency_ms_max: if not_ready { 1000.0 } else { tcp_ms * 1.5 },
                    },
                );
            }
            // The startup probe runs from a container's start until it
            // first passes (then readiness takes over).
            let startup_failed = restarted_here
                .iter()
                .any(|r| r.reason.starts_with("startup"));
            let started_here = pod.phases.windows(2).any(|w| {
                w[0].phase == PodPhase::Running
                    && w[1].phase == PodPhase::Ready
                    && w[1].t_s >= t
                    && w[1].t_s < t + 1.0
            });
            if startup_failed || started_here {
                let ms = if startup_failed {
                    1000.0
                } else {
                    2.0 + 20.0 * utilisation * rng.unit()
                };
                probes.insert(
                    "startup".to_string(),
                    ProbeBucket {
                        success: u32::from(!startup_failed),
                        failure: 0,
                        timeout: u32::from(startup_failed),
                        latency_ms_mean: ms,
                        latency_ms_max: ms,
                    },
                );
            }
            let workers = f64::from(CASCADE_WORKERS);
            pods.insert(
                pod.name.clone(),
                PodBucket {
                    phase: end_phase,
                    restarts: pod.restarts.iter().filter(|r| r.t_s < t + 1.0).count() as u32,
                    probes,
                    accept_queue_max: if listening { queue_max } else { 0 },
                    accept_queue_mean: if listening { queue_mean } else { 0.0 },
                    backlog: if listening { CASCADE_BACKLOG } else { 0 },
                    busy_max: if busy {
                        CASCADE_WORKERS
                    } else if running_s == 0.0 {
                        0
                    } else {
                        ((utilisation * workers + rng.unit()).ceil() as u32).min(CASCADE_WORKERS)
                    },
                    busy_mean: utilisation * workers * ready,
                    requests,
                },
            );
        }

        // Ready pods at the bucket's start and after every change inside it.
        let mut instants = vec![t];
        instants.extend(
            rec.pods
                .iter()
                .flat_map(|p| &p.phases)
                .map(|c| c.t_s)
                .filter(|s| *s > t && *s < t + 1.0),
        );
        let ready_at = |at: f64| {
            rec.pods
                .iter()
                .filter(|p| phase_at(p, at) == Some(PodPhase::Ready))
                .count() as u32
        };
        let ready_min = instants.iter().map(|at| ready_at(*at)).min().unwrap_or(0);
        let scaled = t + 1.0 > 22.0;
        let alive = rec.pods.iter().filter(|p| p.created_s < t + 1.0).count() as u32;
        let mut deployments = BTreeMap::new();
        deployments.insert(
            "web".to_string(),
            DeploymentBucket {
                desired: if scaled { 4 } else { 3 },
                pods: alive,
                ready: ready_at(t + 1.0 - 1e-9),
                ready_min,
                hpa_desired: Some(if scaled { 4 } else { 3 }),
                hpa_metric: Some(ok as f64 / f64::from(alive.max(1))),
            },
        );

        let p50 = if overloaded {
            180.0 + 120.0 * rng.unit()
        } else {
            9.0 + 2.0 * rng.unit()
        };
        let p99 = if overloaded {
            900.0 + 100.0 * rng.unit()
        } else {
            24.0 + 6.0 * rng.unit()
        };
        rec.buckets.push(Bucket {
            t_s: t,
            backends,
            client: ClientBucket {
                sent,
                ok,
                errors,
                p50_ms: p50,
                p99_ms: p99,
                max_ms: if overloaded { 2000.0 } else { p99 * 1.5 },
                distinct_ports: sent,
                port_reuses: 0,
                source_kept: 0,
            },
            pods,
            deployments,
        });
    }

    let mut events = vec![
        Event {
            t_s: 0.0,
            kind: "run_start".into(),
            detail: "run start".into(),
            timeline: false,
        },
        Event {
            t_s: SPIKE_AT_S,
            kind: "spike".into(),
            detail: "spike nginx 600 → 1500 req/s for 30s".into(),
            timeline: true,
        },
        Event {
            t_s: 22.0,
            kind: "hpa_scale".into(),
            detail: "hpa web 3 → 4 (request rate 400/s per pod, target 300/s)".into(),
            timeline: false,
        },
        Event {
            t_s: 40.0,
            kind: "pod_not_ready".into(),
            detail: "web-2 not ready: readiness probe failed 3 times (timeout)".into(),
            timeline: false,
        },
        Event {
            t_s: 80.0,
            kind: "run_end".into(),
            detail: "run end".into(),
            timeline: false,
        },
    ];
    for pod in &rec.pods {
        for r in &pod.restarts {
            events.push(Event {
                t_s: r.t_s,
                kind: "restart".into(),
                detail: format!("{} restart {}: {}", pod.name, r.count, r.reason),
                timeline: false,
            });
        }
    }
    events.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    rec.events = events;

    rec.datapath.backends = backend_counters(&rec, |_| 0);
    let total: u64 = rec.datapath.backends.values().map(|c| c.selections).sum();
    rec.datapath.reasons.insert("ct-new".into(), total);

    let spec =
        |metric: &str, window_s: [f64; 2], min: Option<f64>, max: Option<f64>, note: &str| {
            ExpectationSpec {
                metric: metric.into(),
                window_s,
                min,
                max,
                note: note.into(),
            }
        };
    rec.expectations = evaluate(
        &rec,
        &[
            spec(
                "restarts",
                [0.0, 80.0],
                None,
                Some(0.0),
                "a spike must not restart pods",
            ),
            spec(
                "min_ready",
                [0.0, 80.0],
                Some(3.0),
                None,
                "no ready pod is lost",
            ),
            spec(
                "time_to_recover_s",
                [SPIKE_AT_S, 80.0],
                None,
                Some(10.0),
                "the spike is absorbed within 10 s",
            ),
            spec("hpa_max_desired", [0.0, 80.0], None, Some(4.0), ""),
        ],
    );
    rec.verdict = if rec.expectations.iter().all(|e| e.pass) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    rec
}

const CASCADE_HEADER: &str = "Incident B: health probes that cause a cascading failure.
web: 3 pods of 4 workers (~400 req/s each), an HTTP liveness probe on the
serving port with failureThreshold 1 and a TCP readiness probe; an HPA on
request rate (max 4). At t=20 s the client spikes from 600 to 1500 req/s for
30 s: accept queues fill, TCP readiness still passes, liveness probes queue
behind requests and time out, and kubelet restarts the pods one after
another into the same load.";

const CASCADE_YAML: &str = "# Incident B: health probes that cause a cascading failure.
name: liveness-cascade
description: A traffic spike turns a strict liveness probe into a restart cascade
duration: 80s
kubelet: { time_scale: 0.1 }
deployments:
  - name: web
    replicas: 3
    server: { workers: 4, backlog: 64, service_time: 10ms, startup_time: 1500ms }
    probes:
      startup: { http: {}, period: 10s, failure_threshold: 1 }
      readiness: { tcp: {}, period: 10s }
      liveness: { http: {}, period: 10s, timeout: 1s, failure_threshold: 1 }
autoscalers:
  - deployment: web
    min_replicas: 3
    max_replicas: 4
    metric: { kind: request-rate, target: 300 }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }
clients:
  - name: nginx
    service: web
    load: { mode: open, rate: 600 }
timeline:
  - { at: 20s, spike: { client: nginx, rate: 1500, duration: 30s } }
expect:
  - { metric: restarts, max: 0 }
  - { metric: min_ready, min: 3 }
  - { metric: time_to_recover_s, window: [20s, 80s], max: 10 }
  - { metric: hpa_max_desired, max: 4 }
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive::metric;

    #[test]
    fn cascade_shows_restarts_lost_replicas_and_full_queues() {
        let rec = liveness_cascade();
        let whole = [0.0, 80.0];
        let m = |name: &str, w: [f64; 2]| {
            metric(&rec, name, w).unwrap_or_else(|| panic!("{name} undefined"))
        };
        assert_eq!(rec.pods.len(), 4);
        assert_eq!(m("restarts", whole), 11.0);
        assert_eq!(
            m("restarts", [0.0, SPIKE_AT_S]),
            0.0,
            "nothing before the spike"
        );
        assert_eq!(m("min_ready", whole), 1.0);
        assert_eq!(m("min_ready", [0.0, SPIKE_AT_S]), 3.0);
        assert_eq!(m("hpa_max_desired", whole), 4.0);
        assert!(m("accept_queue_fill", whole) > 0.9);
        assert!(m("accept_queue_fill", [0.0, SPIKE_AT_S]) < 0.1);
        assert_eq!(m("liveness_failures", whole), 10.0);
        assert!(m("readiness_failures", whole) > 0.0);
        assert_eq!(m("time_to_recover_s", [SPIKE_AT_S, 80.0]), 30.0);
        assert!(
            rec.pods
                .iter()
                .flat_map(|p| &p.phases)
                .any(|c| c.phase == PodPhase::BackOff)
        );
        assert_eq!(rec.verdict, Verdict::Fail);
        // Per-bucket figures agree with the pod records.
        for b in &rec.buckets {
            for pod in &rec.pods {
                let Some(pb) = b.pods.get(&pod.name) else {
                    assert!(
                        pod.created_s >= b.t_s + 1.0,
                        "{} missing at {}",
                        pod.name,
                        b.t_s
                    );
                    continue;
                };
                let so_far = pod.restarts.iter().filter(|r| r.t_s < b.t_s + 1.0).count();
                assert_eq!(pb.restarts as usize, so_far, "{} at {}", pod.name, b.t_s);
                assert_eq!(Some(pb.phase), phase_at(pod, b.t_s + 1.0 - 1e-9));
                assert!(pb.busy_max <= pod.workers && pb.accept_queue_max <= pod.backlog + 1);
            }
            let web = &b.deployments["web"];
            assert!(web.ready_min <= web.ready && web.ready <= web.pods);
        }
        // Restart counts run 1, 2, 3 per pod; sent = ok + errors per bucket.
        for pod in &rec.pods {
            let counts: Vec<u32> = pod.restarts.iter().map(|r| r.count).collect();
            assert_eq!(counts, (1..=counts.len() as u32).collect::<Vec<_>>());
        }
        for b in &rec.buckets {
            assert_eq!(b.client.sent, b.client.ok + b.client.error_count());
        }
    }
}
