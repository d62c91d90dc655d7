//! A run with many backends (issue 15's scale: 1000 backends): a deployment
//! of `n` pods, a quarter of them added by a scale-up half-way through that
//! receive less than their fair share (reused source ports keep old flows on
//! old backends), a few pods that restart once, per-pod telemetry in every
//! bucket and one client proxy's access log. It is what the report's top-N
//! views and the record-size bound are tested on.
use std::collections::BTreeMap;

use super::base::{Lcg, backend_counters, empty_record};
use crate::record::{
    AccessLogTotals, BackendBucket, BackendInfo, Bucket, ClientBucket, DeploymentBucket, Event,
    PhaseChange, PodBucket, PodPhase, PodRecord, ProbeBucket, ProgramInfo, Restart, RunRecord,
    Verdict,
};

/// Buckets of [`many_backends`] (1 s each).
pub const MANY_BUCKETS: usize = 60;

/// When [`many_backends`] scales up.
pub const MANY_SCALE_AT_S: f64 = 30.0;

/// Every this many pods, one restarts once (liveness timeout).
const RESTART_EVERY: usize = 97;

/// A 60 s run of `n` backends (`web-0` … `web-{n-1}`); the last quarter
/// (at least one when `n` > 1) is created by a scale-up at
/// [`MANY_SCALE_AT_S`]. Responses per bucket: about 20 per old backend,
/// skewed by a per-backend weight, and about a third of that per new one.
pub fn many_backends(n: usize) -> RunRecord {
    let mut rec = empty_record();
    rec.run_id = format!("many-{n}");
    rec.suite.name = format!("many-{n}");
    rec.suite.path = format!("suites/many-{n}.yaml");
    rec.suite.description = format!("{n} backends, scale-up at 30 s (synthetic)");
    rec.duration_s = MANY_BUCKETS as f64;
    rec.elapsed_s = MANY_BUCKETS as f64;
    let new_from = if n > 1 { n - n.div_ceil(4) } else { n };
    let mut rng = Lcg(0x5ca1e ^ n as u64);
    let weights: Vec<f64> = (0..n).map(|_| 0.5 + rng.unit()).collect();
    for i in 0..n {
        let new = i >= new_from;
        let created_s = if new { MANY_SCALE_AT_S } else { 0.0 };
        let name = format!("web-{i}");
        rec.backends.push(BackendInfo {
            name: name.clone(),
            addr: format!("198.18.{}.{}:8080", 16 + i / 250, 1 + i % 250),
            deployment: "web".into(),
            node: (i % 4) as u8,
            created_s,
            removed_s: None,
            added_by_last_scale_up: new,
            killed: false,
            replacement: false,
            revision: 1,
            sigterm_s: None,
            conns_after_sigterm: 0,
        });
        let mut phases = vec![
            PhaseChange {
                t_s: created_s,
                phase: PodPhase::Pending,
            },
            PhaseChange {
                t_s: created_s + 0.5,
                phase: PodPhase::Ready,
            },
        ];
        let mut restarts = Vec::new();
        if i % RESTART_EVERY == 1 {
            let t = 40.0 + (i % 13) as f64;
            phases.push(PhaseChange {
                t_s: t,
                phase: PodPhase::Terminating,
            });
            phases.push(PhaseChange {
                t_s: t + 0.5,
                phase: PodPhase::Running,
            });
            phases.push(PhaseChange {
                t_s: t + 1.5,
                phase: PodPhase::Ready,
            });
            restarts.push(Restart {
                t_s: t,
                count: 1,
                reason: "liveness probe failed: timeout after 1s (http GET :8080/healthz)".into(),
            });
        }
        rec.pods.push(PodRecord {
            name,
            deployment: "web".into(),
            node: (i % 4) as u8,
            ip: format!("198.18.{}.{}", 16 + i / 250, 1 + i % 250),
            created_s,
            removed_s: None,
            phases,
            restarts,
            backlog: 511,
            workers: 4,
        });
    }
    for k in 0..MANY_BUCKETS {
        let t = k as f64;
        let mut bucket = Bucket {
            t_s: t,
            ..Bucket::default()
        };
        let mut ok = 0;
        let mut ready = 0;
        let mut exist = 0;
        for (i, (info, pod)) in rec.backends.iter().zip(&rec.pods).enumerate() {
            if info.created_s > t {
                continue;
            }
            exist += 1;
            let restarting = pod
                .restarts
                .iter()
                .any(|r| r.t_s < t + 1.0 && r.t_s + 1.5 > t);
            let base = if info.added_by_last_scale_up {
                7.0
            } else {
                20.0
            };
            let responses = if restarting {
                0
            } else {
                (base * weights[i] * (0.8 + 0.4 * rng.unit())).round() as u64
            };
            ok += responses;
            if !restarting {
                ready += 1;
            }
            bucket.backends.insert(
                info.name.clone(),
                BackendBucket {
                    responses,
                    new_conns: responses,
                    ct_entries: responses * 3,
                },
            );
            let liveness = ProbeBucket {
                success: u32::from(!restarting),
                failure: 0,
                timeout: u32::from(restarting),
                latency_ms_mean: 1.0 + rng.unit(),
                latency_ms_max: 2.0 + rng.unit(),
            };
            let queue = (rng.unit() * 6.0) as u32;
            bucket.pods.insert(
                info.name.clone(),
                PodBucket {
                    phase: if restarting {
                        PodPhase::Running
                    } else {
                        PodPhase::Ready
                    },
                    restarts: pod.restarts.iter().filter(|r| r.t_s < t + 1.0).count() as u32,
                    probes: BTreeMap::from([("liveness".to_string(), liveness)]),
                    accept_queue_max: queue,
                    accept_queue_mean: f64::from(queue) / 2.0,
                    backlog: 511,
                    busy_max: (1 + queue).min(4),
                    busy_mean: f64::from((1 + queue).min(4)) / 2.0,
                    requests: responses,
                },
            );
        }
        bucket.client = ClientBucket {
            sent: ok,
            ok,
            errors: BTreeMap::new(),
            p50_ms: 1.2,
            p99_ms: 4.0,
            max_ms: 9.0,
            distinct_ports: ok / 2,
            port_reuses: ok / 3,
            source_kept: 0,
        };
        bucket.deployments.insert(
            "web".into(),
            DeploymentBucket {
                desired: if t < MANY_SCALE_AT_S {
                    new_from as u32
                } else {
                    n as u32
                },
                pods: exist,
                ready,
                ready_min: ready,
                hpa_desired: None,
                hpa_metric: None,
            },
        );
        rec.buckets.push(bucket);
    }
    rec.events.push(Event {
        t_s: MANY_SCALE_AT_S,
        kind: "scale".into(),
        detail: format!("scale web {new_from} → {n}"),
        timeline: true,
    });
    rec.datapath.backends = backend_counters(&rec, |s| s / 50);
    rec.datapath.reasons.insert("ct-reopen".into(), 42);
    let mut by_backend = BTreeMap::new();
    for (name, c) in &rec.datapath.backends {
        by_backend.insert(name.clone(), c.connections);
    }
    let requests: u64 = by_backend.values().sum();
    rec.access_logs.push(AccessLogTotals {
        client: "c".into(),
        path: "/var/log/svclab/c/access.log".into(),
        requests,
        by_backend,
        unattributed: 0,
        upstream_attempts: requests,
        status_5xx: 0,
    });
    rec.programs.push(ProgramInfo {
        owner: "deployment web".into(),
        kind: "container".into(),
        command: vec!["svclab-echo".into(), "--port".into(), "8080".into()],
        config_path: None,
        config: None,
        logs: "reports/many/logs/web-*.log".into(),
    });
    rec.verdict = Verdict::Pass;
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes per backend per bucket of run.json, pretty (as written) and
    /// compact: (the buckets' `backends` entries, their `pods` entries).
    fn bytes_per_backend_bucket(rec: &RunRecord) -> [(f64, f64); 2] {
        let size = |r: &RunRecord| {
            (
                serde_json::to_string_pretty(r).unwrap().len() as f64,
                serde_json::to_string(r).unwrap().len() as f64,
            )
        };
        let full = size(rec);
        let mut no_pods = rec.clone();
        no_pods.buckets.iter_mut().for_each(|b| b.pods.clear());
        let without_pods = size(&no_pods);
        no_pods.buckets.iter_mut().for_each(|b| b.backends.clear());
        let bare = size(&no_pods);
        let cells = rec.buckets.iter().map(|b| b.backends.len()).sum::<usize>() as f64;
        [
            (
                (without_pods.0 - bare.0) / cells,
                (without_pods.1 - bare.1) / cells,
            ),
            (
                (full.0 - without_pods.0) / cells,
                (full.1 - without_pods.1) / cells,
            ),
        ]
    }

    /// The run record grows by a fixed amount per backend per bucket
    /// (issue 15: bounded). Measured on 1000 backends × 60 buckets (names
    /// `web-0` … `web-999`, one probe kind): `backends` entries 113 B pretty /
    /// 58 B compact, `pods` entries 520 B pretty / 275 B compact; the bounds
    /// leave ~10% for longer names and numbers, so growth of the per-bucket
    /// structures fails here.
    #[test]
    fn record_bytes_per_backend_per_bucket_are_bounded() {
        let rec = many_backends(1000);
        let [(backend_pretty, backend_compact), (pod_pretty, pod_compact)] =
            bytes_per_backend_bucket(&rec);
        eprintln!(
            "run.json per backend per bucket: backends {backend_pretty:.1} B pretty / \
             {backend_compact:.1} B compact; pods {pod_pretty:.1} B pretty / {pod_compact:.1} B compact"
        );
        assert!(backend_pretty < 125.0, "{backend_pretty}");
        assert!(backend_compact < 65.0, "{backend_compact}");
        assert!(pod_pretty < 575.0, "{pod_pretty}");
        assert!(pod_compact < 305.0, "{pod_compact}");
        // Linear: half the backends, the same per entry (within a byte or two
        // for the shorter names).
        let [(half_backend, _), (half_pod, _)] = bytes_per_backend_bucket(&many_backends(500));
        assert!((half_backend - backend_pretty).abs() < 3.0);
        assert!((half_pod - pod_pretty).abs() < 3.0);
    }

    #[test]
    fn many_backends_has_every_backend_pod_and_bucket() {
        let rec = many_backends(1000);
        assert_eq!(rec.backends.len(), 1000);
        assert_eq!(rec.pods.len(), 1000);
        assert_eq!(rec.buckets.len(), MANY_BUCKETS);
        assert_eq!(
            rec.backends
                .iter()
                .filter(|b| b.added_by_last_scale_up)
                .count(),
            250
        );
        let last = rec.buckets.last().unwrap();
        assert_eq!(last.backends.len(), 1000);
        assert_eq!(last.pods.len(), 1000);
        let ok: u64 = rec.buckets.iter().map(|b| b.client.ok).sum();
        let responses: u64 = rec
            .buckets
            .iter()
            .flat_map(|b| b.backends.values())
            .map(|b| b.responses)
            .sum();
        assert_eq!(ok, responses);
        assert!(rec.pods.iter().any(|p| !p.restarts.is_empty()));
    }
}
