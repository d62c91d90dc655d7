//! Incident A: scale 3 → 6 under connection-per-request load with reused
//! source ports, legacy CT reuse (fails) and close-rebalance (passes).
use std::collections::BTreeMap;

use super::base::{Lcg, backend_counters, empty_record};
use crate::{
    derive::{ExpectationSpec, evaluate},
    record::{
        BackendBucket, BackendInfo, Bucket, ClientBucket, Event, RunRecord, SuiteInfo, Verdict,
    },
};

/// Time of the scale-up in [`incident_a`].
pub const SCALE_AT_S: f64 = 20.0;

/// Incident A over 60 one-second buckets: `web` runs 3 pods, the timeline
/// scales it to 6 at t = 20. With `fixed == false` (legacy CT reuse) reused
/// source ports keep hitting their CT entries and the three new pods get
/// almost nothing; with `fixed == true` (close-rebalance) closing entries are
/// reselected and the new pods' share climbs to about half within ~10 s.
/// The expectations are the fixed datapath's, so legacy fails and fixed
/// passes.
pub fn incident_a(fixed: bool) -> RunRecord {
    let mut rng = Lcg(if fixed { 7 } else { 3 });
    let rate = 2000.0;
    let mut rec = empty_record();
    rec.run_id = if fixed {
        "20260101-120500-b7e1".into()
    } else {
        "20260101-120000-a3f9".into()
    };
    rec.suite = SuiteInfo {
        name: if fixed {
            "ct-reuse-fixed".into()
        } else {
            "ct-reuse-legacy".into()
        },
        path: if fixed {
            "suites/ct-reuse-fixed.yaml".into()
        } else {
            "suites/ct-reuse-legacy.yaml".into()
        },
        description: "Scale-up under per-request connections with reused source ports".into(),
        header: HEADER.into(),
        yaml: yaml(fixed),
        datapath_mode: if fixed {
            "cilium-1.12: random selection, close-rebalance CT reuse (grace 1s), service TCP lifetime 21600s".into()
        } else {
            "cilium-1.11: random selection, legacy CT reuse, service TCP lifetime 21600s".into()
        },
        datapath: sample_settings(fixed),
    };
    rec.started_at = "2026-01-01T12:00:00Z".into();
    rec.duration_s = 60.0;
    rec.elapsed_s = 60.0;
    rec.seed = 1;

    let old = ["web-0", "web-1", "web-2"];
    let new = ["web-3", "web-4", "web-5"];
    for (i, name) in old.iter().chain(new.iter()).enumerate() {
        let is_new = i >= old.len();
        rec.backends.push(BackendInfo {
            name: (*name).into(),
            addr: format!("198.18.{}.{}:8080", i % 2, 10 + i),
            deployment: "web".into(),
            node: (i % 2) as u8,
            created_s: if is_new {
                SCALE_AT_S + 0.4 + 0.2 * (i - old.len()) as f64
            } else {
                0.0
            },
            removed_s: None,
            added_by_last_scale_up: is_new,
            killed: false,
            replacement: false,
            revision: 1,
            sigterm_s: None,
            conns_after_sigterm: 0,
        });
    }

    let ports = 28232.0; // default ip_local_port_range
    let mut ct: BTreeMap<&str, f64> = old.iter().chain(new.iter()).map(|n| (*n, 0.0)).collect();
    for i in 0..60 {
        let t = i as f64;
        let after = t >= SCALE_AT_S + 1.0;
        // Share of responses going to the three new pods.
        let new_share = match (after, fixed) {
            (false, _) => 0.0,
            (true, false) => 0.012 + 0.01 * rng.unit(),
            (true, true) => 0.5 * ((t - SCALE_AT_S) / 9.0).min(1.0) * (0.96 + 0.06 * rng.unit()),
        };
        let sent = (rate * (0.99 + 0.02 * rng.unit())).round() as u64;
        let mut errors = BTreeMap::new();
        if i == 20 || i == 21 {
            errors.insert("reset".to_string(), 9 + (rng.unit() * 6.0) as u64);
            errors.insert("refused".to_string(), 2);
        }
        if i == 40 && !fixed {
            errors.insert("timeout".to_string(), 4);
        }
        let error_count: u64 = errors.values().sum();
        let ok = sent - error_count;
        let mut backends = BTreeMap::new();
        // Until every source port has been used once, each connection is a
        // new CT entry; afterwards almost all are reopened.
        let fresh = if t < ports / rate { 1.0 } else { 0.004 };
        for name in old.iter().chain(new.iter()) {
            let is_new = new.contains(name);
            if is_new && !after {
                continue;
            }
            let share = if is_new {
                new_share / 3.0
            } else {
                (1.0 - new_share) / 3.0
            };
            let responses = (ok as f64 * share * (0.97 + 0.06 * rng.unit())).round() as u64;
            let reselect = if fixed && after && is_new {
                rate * new_share / 3.0 * 0.35
            } else {
                0.0
            };
            let new_conns =
                ((rate * share * fresh + reselect) * (0.9 + 0.2 * rng.unit())).round() as u64;
            let target = ports * share * (0.97 + 0.06 * rng.unit());
            let entry = ct.entry(name).or_default();
            *entry = if t < ports / rate {
                *entry + rate * share * (0.95 + 0.1 * rng.unit())
            } else {
                *entry + (target - *entry) * 0.3
            };
            backends.insert(
                (*name).to_string(),
                BackendBucket {
                    responses,
                    new_conns,
                    ct_entries: entry.round() as u64,
                },
            );
        }
        let slow = if !fixed && after { 1.0 } else { 0.0 };
        rec.buckets.push(Bucket {
            t_s: t,
            backends,
            client: ClientBucket {
                sent,
                ok,
                errors,
                p50_ms: 0.55 + 0.1 * rng.unit() + 0.2 * slow,
                p99_ms: 1.6 + 0.5 * rng.unit() + 1.2 * slow,
                max_ms: 4.0 + 6.0 * rng.unit() + if i == 20 { 180.0 } else { 0.0 },
                distinct_ports: sent.min(ports as u64),
                port_reuses: if t < ports / rate { 0 } else { sent },
                source_kept: 0,
            },
            pods: BTreeMap::new(),
            deployments: BTreeMap::new(),
        });
    }

    rec.events.push(Event {
        t_s: 0.0,
        kind: "run_start".into(),
        detail: "run start".into(),
        timeline: false,
    });
    rec.events.push(Event {
        t_s: SCALE_AT_S,
        kind: "scale".into(),
        detail: "scale web 3 → 6".into(),
        timeline: true,
    });
    for b in rec.backends.iter().filter(|b| b.added_by_last_scale_up) {
        rec.events.push(Event {
            t_s: b.created_s,
            kind: "pod_ready".into(),
            detail: format!("{} ready", b.name),
            timeline: false,
        });
    }
    rec.events.push(Event {
        t_s: 60.0,
        kind: "run_end".into(),
        detail: "run end".into(),
        timeline: false,
    });

    rec.datapath.backends =
        backend_counters(&rec, |selections| if fixed { selections / 3 } else { 0 });
    let total_new: u64 = rec.datapath.backends.values().map(|c| c.selections).sum();
    let total_sent: u64 = rec.buckets.iter().map(|b| b.client.sent).sum();
    let reasons = &mut rec.datapath.reasons;
    reasons.insert("ct-new".to_string(), total_new);
    reasons.insert(
        "ct-reopen".to_string(),
        total_sent.saturating_sub(total_new),
    );
    reasons.insert("ct-established".to_string(), total_sent * 4);
    if fixed {
        reasons.insert("ct-close-rebalance".to_string(), 41_873);
    }
    rec.mechanism.insert(
        "reused_ports_kept_backend_after_scale_up".into(),
        if fixed { 0.41 } else { 0.994 },
    );
    rec.mechanism.insert("port_reuse_share".into(), 0.53);

    rec.expectations = evaluate(
        &rec,
        &[
            ExpectationSpec {
                metric: "new_backend_fair_ratio".into(),
                window_s: [35.0, 60.0],
                min: Some(0.8),
                max: None,
                note: "new pods get at least 80% of a fair share once the grace has passed".into(),
            },
            ExpectationSpec {
                metric: "jain_index".into(),
                window_s: [35.0, 60.0],
                min: Some(0.9),
                max: None,
                note: "load is even across all six pods".into(),
            },
            ExpectationSpec {
                metric: "error_rate".into(),
                window_s: [0.0, 60.0],
                min: None,
                max: Some(0.01),
                note: String::new(),
            },
        ],
    );
    rec.verdict = if rec.expectations.iter().all(|e| e.pass) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    rec
}

const HEADER: &str = "Incident A: service conntrack pins reused source ports to old backends.
nginx-like client, a new connection per request at 2000 req/s, server closes
first, so source ports recur every ~14 s. At t=20 s web scales 3 → 6.
Legacy CT reuse: a SYN that hits an existing CT_SERVICE entry keeps the old
backend, so the new pods stay nearly idle. close-rebalance: the entry is
reselected, and the new pods' share widens to about half.";

/// What the harness lists for the two sample suites' datapaths.
fn sample_settings(fixed: bool) -> Vec<crate::record::DatapathSetting> {
    let s = |name: &str, value: &str, from: &str| crate::record::DatapathSetting {
        name: name.into(),
        value: value.into(),
        from: from.into(),
    };
    let mut v = vec![if fixed {
        s("profile", "cilium-1.12 (Cilium v1.12.x-v1.14.x)", "suite")
    } else {
        s("profile", "cilium-1.11 (Cilium v1.11.x)", "suite")
    }];
    if fixed {
        v.push(s(
            "ct_reuse",
            "close-rebalance (new selection past the grace)",
            "profile",
        ));
        v.push(s("rebalance_grace", "1s", "suite"));
    } else {
        v.push(s(
            "ct_reuse",
            "legacy (SYN on a closing entry reopens it)",
            "profile",
        ));
    }
    v.push(s("timeouts.tcp", "21600s", "profile"));
    v
}

fn yaml(fixed: bool) -> String {
    let reuse = if fixed {
        "profile: cilium-1.12\n  rebalance_grace: 1s"
    } else {
        "profile: cilium-1.11"
    };
    format!(
        "# Incident A: service conntrack pins reused source ports to old backends.
description: Scale-up under per-request connections with reused source ports
duration: 60s
datapath:
  {reuse}
  selection: random
deployments:
  - name: web
    replicas: 3
    server: {{ workers: 8, close: server }}
services:
  - {{ name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }}
clients:
  - name: nginx
    service: web
    load: {{ mode: open, rate: 2000 }}
timeline:
  - {{ at: 20s, scale: {{ deployment: web, replicas: 6 }} }}
expect:
  - {{ metric: new_backend_fair_ratio, window: [35s, 60s], min: 0.8 }}
  - {{ metric: jain_index, window: [35s, 60s], min: 0.9 }}
  - {{ metric: error_rate, max: 0.01 }}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive::metric;

    #[test]
    fn sample_shows_the_incident_and_the_fix() {
        let legacy = incident_a(false);
        let fixed = incident_a(true);
        assert_eq!(legacy.buckets.len(), 60);
        let w = [35.0, 60.0];
        let l = metric(&legacy, "new_backend_share", w)
            .unwrap_or_else(|| panic!("legacy share undefined"));
        let f = metric(&fixed, "new_backend_share", w)
            .unwrap_or_else(|| panic!("fixed share undefined"));
        assert!(l < 0.05, "legacy new-backend share {l}");
        assert!(f > 0.4, "fixed new-backend share {f}");
        assert_eq!(legacy.verdict, Verdict::Fail);
        assert_eq!(fixed.verdict, Verdict::Pass);
    }
}
