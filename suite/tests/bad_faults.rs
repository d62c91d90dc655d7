//! `fault` and `clear_fault` entries: a valid set parses; each mistake is
//! exit 2 with the line:column and field path (unknown target, two kinds,
//! a percentage out of range, overlapping faults of one kind on one
//! target, a node fault without a fabric, a delay queue the suite's rate
//! overruns, clearing a fault that is not active, a fault past the end,
//! a reset on a node, a service fault without a backend of that service).
mod common;

use std::path::Path;

use common::{edit, rejects, with};
use svclab_suite::parse;

/// `MIN` with a timeline of `entries` (each a flow mapping after `- `).
fn timeline(entries: &[&str]) -> String {
    let mut t = String::from("timeline:\n");
    for e in entries {
        t += &format!("  - {e}\n");
    }
    with(&t)
}

#[test]
fn a_valid_set_of_faults_parses() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: lossy, target: { pod: web-1 }, loss: { percent: 5, correlation: 25 }, duration: 10s } }",
        "{ at: 5s, fault: { name: bursty, target: { deployment: web, pods: 1 }, direction: to, loss: { burst: { enter: 1, leave: 10 } } } }",
        "{ at: 20s, fault: { name: slow, target: { pod: web-0 }, delay: { time: 20ms, jitter: 5ms, distribution: normal } } }",
        "{ at: 20s, fault: { name: narrow, target: { pod: web-2 }, bandwidth: { rate: 10mbit, burst: 32kb } } }",
        "{ at: 30s, fault: { name: rst, target: { deployment: web }, reset: { established: true, every: 5s, new_percent: 10 } } }",
        "{ at: 40s, clear_fault: slow }",
    ]);
    parse(&t, Path::new("suites/ok.yaml")).expect("valid");
}

#[test]
fn a_fault_on_an_unknown_deployment() {
    let t =
        timeline(&["{ at: 5s, fault: { name: x, target: { deployment: api }, blackhole: true } }"]);
    rejects(
        &t,
        "14:55",
        "timeline[0].fault.target.deployment",
        "unknown deployment `api`",
    );
}

#[test]
fn two_kinds_in_one_fault() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: x, target: { pod: web-0 }, blackhole: true, loss: { percent: 1 } } }",
    ]);
    rejects(&t, "14:22", "timeline[0].fault", "exactly one fault kind");
}

#[test]
fn a_loss_above_100_percent() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: x, target: { pod: web-0 }, loss: { percent: 150 } } }",
    ]);
    rejects(
        &t,
        "14:74",
        "timeline[0].fault.loss.percent",
        "a percentage 0..=100",
    );
}

#[test]
fn overlapping_faults_of_one_kind_on_one_target() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: a, target: { pod: web-0 }, loss: { percent: 1 }, duration: 10s } }",
        "{ at: 10s, fault: { name: b, target: { pod: web-0 }, loss: { percent: 2 } } }",
    ]);
    rejects(&t, "15:23", "timeline[1].fault", "overlaps fault `a`");
}

#[test]
fn a_node_fault_without_a_fabric() {
    let t = timeline(&["{ at: 5s, fault: { name: x, target: { node: 0 }, blackhole: true } }"]);
    rejects(
        &t,
        "14:49",
        "timeline[0].fault.target.node",
        "cluster.nodes is 1",
    );
}

#[test]
fn a_delay_queue_the_rate_overruns() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: x, target: { pod: web-0 }, delay: { time: 500ms, limit: 100 } } }",
    ]);
    rejects(
        &t,
        "14:86",
        "timeline[0].fault.delay.limit",
        "raise `limit` to at least 1000",
    );
}

#[test]
fn clearing_a_fault_that_is_not_active() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: a, target: { pod: web-0 }, blackhole: true, duration: 5s } }",
        "{ at: 20s, clear_fault: a }",
        "{ at: 25s, clear_fault: nope }",
    ]);
    rejects(&t, "15:11", "timeline[1].at", "while fault `a` is active");
    let t = timeline(&["{ at: 25s, clear_fault: nope }"]);
    rejects(
        &t,
        "14:29",
        "timeline[0].clear_fault",
        "unknown fault `nope`",
    );
}

#[test]
fn a_fault_that_outlasts_the_run() {
    let t = timeline(&[
        "{ at: 50s, fault: { name: x, target: { pod: web-0 }, blackhole: true, duration: 20s } }",
    ]);
    rejects(
        &t,
        "14:85",
        "timeline[0].fault.duration",
        "ends by the suite's end",
    );
}

#[test]
fn a_reset_on_a_node() {
    let t = edit("duration: 60s\n", "duration: 60s\ncluster: { nodes: 2 }\n")
        + "timeline:\n  - { at: 5s, fault: { name: x, target: { node: 1 }, reset: { established: true } } }\n";
    rejects(
        &t,
        "15:41",
        "timeline[0].fault.target",
        "reset acts on a pod's connections",
    );
}

#[test]
fn a_bad_rate_names_the_units() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: x, target: { pod: web-0 }, bandwidth: { rate: 10mb } } }",
    ]);
    rejects(
        &t,
        "14:76",
        "timeline[0].fault.bandwidth.rate",
        "unknown unit `mb`",
    );
}

#[test]
fn a_pod_name_with_a_leading_zero() {
    let t = timeline(&["{ at: 5s, fault: { name: x, target: { pod: web-01 }, blackhole: true } }"]);
    rejects(
        &t,
        "14:48",
        "timeline[0].fault.target.pod",
        "as the run names pods",
    );
}

#[test]
fn a_reset_period_longer_than_the_fault() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: x, target: { pod: web-0 }, reset: { established: true, every: 10s }, duration: 10s } }",
    ]);
    rejects(
        &t,
        "14:92",
        "timeline[0].fault.reset.every",
        "never comes round again",
    );
}

#[test]
fn a_delay_on_a_pod_and_on_its_deployment_at_once() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: a, target: { deployment: web }, delay: { time: 5ms } } }",
        "{ at: 10s, fault: { name: b, target: { pod: web-1 }, delay: { time: 9ms } } }",
    ]);
    rejects(&t, "15:23", "timeline[1].fault", "overlaps fault `a`");
    // Two losses may stack on pods of one deployment: each program drops
    // on its own.
    let t = timeline(&[
        "{ at: 5s, fault: { name: a, target: { deployment: web }, loss: { percent: 1 } } }",
        "{ at: 10s, fault: { name: b, target: { pod: web-1 }, loss: { percent: 2 } } }",
    ]);
    parse(&t, Path::new("suites/ok.yaml")).expect("valid");
}

#[test]
fn correlated_loss_warns_that_netem_does_not_keep_the_rate() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: x, target: { pod: web-0 }, loss: { percent: 5, correlation: 25 } } }",
    ]);
    let suite = parse(&t, Path::new("suites/ok.yaml")).expect("valid");
    let w = svclab_suite::suite_warnings(&suite.suite);
    assert!(
        w.iter().any(|(f, m)| f == "timeline[0].fault.loss.correlation" && m.contains("drops about 0.")),
        "{w:?}"
    );
}

#[test]
fn a_service_fault_parses_with_a_backend_of_that_service() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: svc, target: { service: web, pod: web-1 }, loss: { percent: 5 }, duration: 10s } }",
    ]);
    parse(&t, Path::new("suites/ok.yaml")).expect("valid");
}

#[test]
fn a_service_fault_on_an_unknown_service() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: x, target: { service: wbe, pod: web-1 }, blackhole: true } }",
    ]);
    rejects(
        &t,
        "14:52",
        "timeline[0].fault.target.service",
        "unknown service `wbe` (did you mean `web`?",
    );
}

#[test]
fn a_service_fault_without_a_backend() {
    let t =
        timeline(&["{ at: 5s, fault: { name: x, target: { service: web }, blackhole: true } }"]);
    rejects(
        &t,
        "14:41",
        "timeline[0].fault.target",
        "`pod` (with optional `service`)",
    );
    let t = timeline(&[
        "{ at: 5s, fault: { name: x, target: { service: web, deployment: web }, blackhole: true } }",
    ]);
    rejects(
        &t,
        "14:52",
        "timeline[0].fault.target.service",
        "expected `pod` with `service`",
    );
}

#[test]
fn a_service_fault_on_a_pod_the_service_does_not_select() {
    let t = format!(
        "{}timeline:\n  - {{ at: 5s, fault: {{ name: x, target: {{ service: web, pod: api-0 }}, blackhole: true }} }}\n",
        edit(
            "    replicas: 3\n",
            "    replicas: 3\n  - { name: api, replicas: 1 }\n"
        )
    );
    rejects(
        &t,
        "15:62",
        "timeline[0].fault.target.pod",
        "expected a backend of service `web` (a pod of deployment `web`), got `api-0`",
    );
}

#[test]
fn a_rate_limit_on_a_services_traffic() {
    let t = timeline(&[
        "{ at: 5s, fault: { name: x, target: { service: web, pod: web-1 }, bandwidth: { rate: 1mbit } } }",
    ]);
    rejects(
        &t,
        "14:52",
        "timeline[0].fault.target.service",
        "bandwidth limits a link",
    );
}
