//! Timeline actions against the real cluster, at their edges: a bucket
//! closes at its boundary before an action due at that instant changes the
//! cluster (the SYNs to pods a scale-up creates belong to the bucket that
//! starts with it), and restarting a client replaces its pod (new netns
//! and IP) or, with `keep_ip`, restarts it in place; a fault on a
//! service's traffic to one backend spares the kubelet's probes; a node
//! cut off past its pods' toleration has them evicted and replaced.
mod common;

use std::path::Path;

use common::run_options;
use svclab::runner::{self, RunOutcome};
use svclab_testsupport::{one_at_a_time, require_root};

fn run_text(name: &str, text: &str) -> RunOutcome {
    let _turn = one_at_a_time();
    let loaded = svclab_suite::parse(text, Path::new(&format!("{name}.yaml"))).expect("suite");
    let opts = run_options(
        std::env::temp_dir().join(format!("svclab-timeline-{}", std::process::id())),
        1.0,
    );
    let o = runner::run_suite(&loaded, &opts).expect("run");
    assert!(o.record.error.is_none(), "{name}: {:?}", o.record.error);
    o
}

const SCALE_AT_BOUNDARY: &str = "\
name: scale-at-boundary
duration: 6s
deployments:
  - { name: web, replicas: 2 }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }
clients:
  - name: c
    service: web
    load: { mode: open, rate: 400 }
timeline:
  - at: 3s
    scale: { deployment: web, replicas: 12 }
";

#[test]
fn a_bucket_closes_at_its_boundary_before_a_scale_up_due_there() {
    require_root!();
    let o = run_text("scale-at-boundary", SCALE_AT_BOUNDARY);
    let r = &o.record;
    let added: Vec<&str> = r
        .backends
        .iter()
        .filter(|b| b.added_by_last_scale_up)
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(added.len(), 10, "{:?}", r.backends);
    // Bucket 2 is [2 s, 3 s): it closes at 3 s, before the scale-up spends
    // its time creating pods. Had it closed after, the SYNs sent meanwhile
    // (to the old pods) would be counted in it: more than its second of
    // connections.
    let before = &r.buckets[2];
    let syns: u64 = before.backends.values().map(|b| b.new_conns).sum();
    let sent = before.client.sent;
    assert!(
        syns as f64 <= sent as f64 * 1.05 + 5.0,
        "bucket [2 s, 3 s) counts {syns} SYNs for {sent} requests sent in it"
    );
    for name in &added {
        let b = before.backends.get(*name);
        assert!(
            b.is_none_or(|b| b.new_conns == 0 && b.responses == 0),
            "{name} has traffic in the bucket before the scale-up: {b:?}"
        );
    }
    // And the new pods do get traffic from the bucket that starts with it.
    let after: u64 = r.buckets[3..]
        .iter()
        .flat_map(|b| added.iter().filter_map(|n| b.backends.get(*n)))
        .map(|b| b.new_conns)
        .sum();
    assert!(after > 0, "no traffic to the added pods after the scale-up");
}

/// Legacy CT, a pool of ports, a scale-up, then a client restart.
fn restart_suite(keep_ip: bool) -> String {
    format!(
        "\
name: restart-client
duration: 12s
datapath: {{ selection: random, ct_reuse: legacy, timeouts: {{ tcp: 6h }} }}
deployments:
  - {{ name: web, replicas: 2, server: {{ close: server }} }}
services:
  - {{ name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }}
clients:
  - name: c
    service: web
    source_ports: {{ mode: pool, range: [42000, 42399] }}
    load: {{ mode: open, rate: 400 }}
timeline:
  - at: 3s
    scale: {{ deployment: web, replicas: 4 }}
  - at: 6s
    restart_client: {{ client: c, keep_ip: {keep_ip} }}
"
    )
}

/// Share of responses the pods added at 3 s served in [from, to).
fn added_share(o: &RunOutcome, [from, to]: [f64; 2]) -> f64 {
    let r = &o.record;
    let (mut added, mut all) = (0u64, 0u64);
    for b in r.buckets.iter().filter(|b| b.t_s >= from && b.t_s < to) {
        for (name, v) in &b.backends {
            all += v.responses;
            if r.backends
                .iter()
                .any(|i| &i.name == name && i.added_by_last_scale_up)
            {
                added += v.responses;
            }
        }
    }
    assert!(all > 0, "no responses in [{from}, {to})");
    added as f64 / all as f64
}

fn restart_event(o: &RunOutcome) -> String {
    o.record
        .events
        .iter()
        .find(|e| e.kind == "restart_client")
        .map(|e| e.detail.clone())
        .expect("a restart_client event")
}

#[test]
fn restart_client_recreates_the_pod_with_a_new_ip_and_rebalances() {
    require_root!();
    let o = run_text("restart-client", &restart_suite(false));
    let pinned = added_share(&o, [4.0, 6.0]);
    assert!(pinned < 0.1, "before the restart: {pinned:.3}");
    let detail = restart_event(&o);
    let ips: Vec<&str> = detail
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|w| w.starts_with("198.18."))
        .collect();
    assert_eq!(ips.len(), 2, "{detail}");
    assert_ne!(ips[0], ips[1], "a recreated pod gets a new IP: {detail}");
    // Every 5-tuple is new: the 2 added of 4 pods take about half.
    let share = added_share(&o, [7.0, 12.0]);
    assert!(share > 0.35, "after the pod was recreated: {share:.3}");
    assert_eq!(
        o.record
            .buckets
            .iter()
            .map(|b| b.client.errors.values().sum::<u64>())
            .sum::<u64>(),
        0
    );
}

#[test]
fn restart_client_in_place_keeps_the_ip_and_stays_pinned() {
    require_root!();
    let o = run_text("restart-client-in-place", &restart_suite(true));
    assert!(restart_event(&o).contains("in place"));
    // Same IP, the pool starts at its first port again: the same 5-tuples
    // hit their CT entries and keep their backends.
    let share = added_share(&o, [7.0, 12.0]);
    assert!(share < 0.1, "after an in-place restart: {share:.3}");
}

/// One backend of two cut off for 4 s, TCP readiness probes every second
/// failing after one miss: on the pod's link, or on the service's traffic
/// to it only.
fn cut_suite(target: &str) -> String {
    format!(
        "\
name: cut
duration: 8s
deployments:
  - name: web
    replicas: 2
    probes:
      readiness: {{ tcp: {{}}, period: 1s, timeout: 500ms, failure_threshold: 1 }}
services:
  - {{ name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }}
clients:
  - name: c
    service: web
    load: {{ mode: open, rate: 50 }}
    timeout: 1s
timeline:
  - at: 2s
    fault: {{ name: cut, target: {target}, blackhole: true, duration: 4s }}
"
    )
}

fn left_service(o: &RunOutcome, pod: &str) -> bool {
    o.record
        .events
        .iter()
        .any(|e| e.kind == "pod_not_ready" && e.detail.contains(pod))
}

#[test]
fn a_fault_on_a_services_traffic_spares_the_kubelets_probes() {
    require_root!();
    // The pod's link: the probe from the node is cut too, the pod leaves.
    let o = run_text("cut-pod", &cut_suite("{ pod: web-1 }"));
    assert!(left_service(&o, "web-1"), "{:?}", o.record.events);
    // The service's traffic only: the probes pass, the pod stays in the
    // service, its clients' connects time out, and the TCP SYN probe from
    // the node's measuring address saw every SYN lost.
    let o = run_text("cut-service", &cut_suite("{ service: web, pod: web-1 }"));
    assert!(!left_service(&o, "web-1"), "{:?}", o.record.events);
    let f = &o.record.faults[0];
    assert_eq!(f.target, "web-1 (service web, port 8080)");
    assert!(f.probe.ends_with("web-1:8080 (TCP SYN)"), "{f:?}");
    // 40 SYNs in 4 s, less the last second's (still in their grace).
    assert!(f.probe_sent >= 20 && f.probe_received == 0, "{f:?}");
    let errors: u64 = o
        .record
        .buckets
        .iter()
        .filter(|b| (2.0..6.0).contains(&b.t_s))
        .map(|b| b.client.errors.values().sum::<u64>())
        .sum();
    assert!(errors >= 40, "about half of 200 requests fail: {errors}");
}

/// Node 1 cut off for 8 s at a quarter of Kubernetes' clocks: lease
/// renewals every 2.5 s, a 2.5 s grace, an 8 s × 0.25 = 2 s toleration of
/// the unreachable taint.
const EVICTION: &str = "\
name: evict
duration: 16s
kubelet: { time_scale: 0.25 }
cluster: { nodes: 2, node_monitor_grace_period: 10s }
deployments:
  - { name: web, replicas: 4, unreachable_toleration: 8s, termination_grace: 4s }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }
clients:
  - { name: c, service: web, node: 0, load: { mode: open, rate: 50 }, timeout: 1s }
timeline:
  - at: 2s
    fault: { name: cut, target: { node: 1 }, blackhole: true, duration: 8s }
";

#[test]
fn a_cut_off_nodes_pods_are_evicted_after_their_toleration_and_replaced_elsewhere() {
    require_root!();
    let o = run_text("evict", EVICTION);
    let r = &o.record;
    let at = |kind: &str| {
        r.events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| (e.t_s, e.detail.clone()))
            .collect::<Vec<_>>()
    };
    let down = at("node_not_ready");
    let tainted = at("node_tainted");
    let evicted = at("pod_evicted");
    let up = at("node_ready");
    eprintln!("NotReady {down:?}\ntainted {tainted:?}\nevicted {evicted:?}\nReady {up:?}");
    assert_eq!(
        (down.len(), tainted.len(), up.len()),
        (1, 1, 1),
        "{:?}",
        r.events
    );
    // The taint comes with NotReady (one node: the queue's first token).
    assert!((tainted[0].0 - down[0].0).abs() < 0.1);
    // Node 1's two pods, each 2 s (the scaled toleration) after the taint.
    assert_eq!(evicted.len(), 2, "{evicted:?}");
    for (t, _) in &evicted {
        let after = t - tainted[0].0;
        assert!(
            (1.9..2.6).contains(&after),
            "evicted {after:.2} s after the taint"
        );
    }
    // Each replaced on node 0 (not onto the NotReady node).
    let replaced = at("pod_replaced");
    assert_eq!(replaced.len(), 2, "{replaced:?}");
    for (_, detail) in &replaced {
        let new = detail.rsplit(' ').next().expect("the new pod's name");
        let p = r
            .pods
            .iter()
            .find(|p| p.name == new)
            .expect("replacement recorded");
        assert_eq!(p.node, 0, "{p:?}");
    }
    // The evicted pods: not ready from NotReady, terminating from their
    // eviction, gone after the node came back and its kubelet ended them.
    use svclab_report::record::PodPhase;
    for name in ["web-1", "web-3"] {
        let p = r.pods.iter().find(|p| p.name == name).expect("pod");
        let phases: Vec<PodPhase> = p.phases.iter().map(|c| c.phase).collect();
        assert!(
            phases.ends_with(&[PodPhase::Ready, PodPhase::NotReady, PodPhase::Terminating]),
            "{name}: {:?}",
            p.phases
        );
        let gone = p.removed_s.expect("removed after the heal");
        assert!(
            gone >= up[0].0,
            "{name} gone at {gone}, node back at {}",
            up[0].0
        );
    }
    // Nothing fails once the replacements serve.
    let late_errors: u64 = r
        .buckets
        .iter()
        .filter(|b| b.t_s >= evicted[1].0 + 2.0)
        .map(|b| b.client.errors.values().sum::<u64>())
        .sum();
    assert_eq!(late_errors, 0);
}
