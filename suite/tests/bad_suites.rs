//! Malformed suites: each must be rejected with the exact line:column, the
//! field path and a message saying what was expected.
mod common;

use std::path::Path;

use common::{MIN, edit, with};
use svclab_suite::{SuiteError, parse};

/// Parses `text`, expects an error of the given kind at `pos` ("line:col")
/// on `field`, whose message contains `phrase`.
#[track_caller]
fn rejects(text: &str, kind: &str, pos: &str, field: &str, phrase: &str) {
    let err = match parse(text, Path::new("suites/bad.yaml")) {
        Ok(_) => panic!("suite was accepted:\n{text}"),
        Err(e) => e,
    };
    let shown = err.to_string();
    let got_kind = match &err {
        SuiteError::Read { .. } | SuiteError::NotAFile { .. } | SuiteError::TooLarge { .. } => {
            "file"
        }
        SuiteError::Syntax(_) => "syntax",
        SuiteError::Type(_) => "type",
        SuiteError::Invalid(_) => "invalid",
    };
    assert_eq!(got_kind, kind, "wrong error kind: {shown}");
    assert_eq!(err.exit_code(), 2);
    let d = err.diagnostic().expect("a located error");
    assert_eq!(
        format!("{}:{}", d.line, d.column),
        pos,
        "wrong position: {shown}"
    );
    assert_eq!(d.field, field, "wrong field: {shown}");
    assert!(
        d.message.contains(phrase),
        "message lacks {phrase:?}: {shown}"
    );
    let prefix = format!(
        "suites/bad.yaml:{pos}: {}: ",
        if field.is_empty() {
            "(document)"
        } else {
            field
        }
    );
    assert!(
        shown.starts_with(&prefix),
        "display {shown:?} lacks prefix {prefix:?}"
    );
}

#[test]
fn min_is_valid() {
    let s = parse(MIN, Path::new("suites/min.yaml")).expect("MIN is valid");
    assert_eq!(s.suite.name, "min");
}

// ---- syntax ----

#[test]
fn yaml_syntax_error_unclosed_flow_mapping() {
    let t = edit(
        "    replicas: 3\n",
        "    replicas: 3\n    server: { port: 8080\n",
    );
    rejects(
        &t,
        "syntax",
        "6:9",
        "deployments[0].server",
        "did not find expected ',' or '}', while parsing a flow mapping at 5:13",
    );
}

#[test]
fn yaml_syntax_error_tab_indentation() {
    let t = edit("    replicas: 3", "\treplicas: 3");
    rejects(
        &t,
        "syntax",
        "4:1",
        "deployments[0].name",
        "found a tab character that violates indentation",
    );
}

// ---- types ----

#[test]
fn replicas_wrong_type() {
    let t = edit("replicas: 3", "replicas: three");
    rejects(
        &t,
        "type",
        "4:15",
        "deployments[0].replicas",
        "expected an integer 0..=2000, got \"three\"",
    );
}

#[test]
fn negative_replicas() {
    let t = edit("replicas: 3", "replicas: -1");
    rejects(
        &t,
        "type",
        "4:15",
        "deployments[0].replicas",
        "expected an integer 0..=2000, got -1",
    );
}

#[test]
fn deployment_given_as_scalar() {
    let t = edit("  - name: web\n    replicas: 3\n", "  - web\n");
    rejects(
        &t,
        "type",
        "3:5",
        "deployments[0]",
        "expected a mapping, got \"web\"",
    );
}

#[test]
fn cluster_ip_not_an_address() {
    let t = edit("198.19.0.10", "198.19.0");
    rejects(
        &t,
        "type",
        "7:17",
        "services[0].cluster_ip",
        "expected an IPv4 address in 198.19.0.0/24",
    );
}

#[test]
fn unknown_enum_variant() {
    let t = with("datapath:\n  selection: round-robin\n");
    rejects(
        &t,
        "type",
        "14:14",
        "datapath.selection",
        "expected `random` or `maglev`, got `round-robin`",
    );
}

#[test]
fn port_range_with_three_items() {
    let t = with("    source_ports: { mode: pool, range: [40000, 40010, 40020] }\n");
    rejects(
        &t,
        "type",
        "13:40",
        "clients[0].source_ports.range",
        "got a list of 3 items",
    );
}

#[test]
fn window_with_one_item() {
    let t = with("expect:\n  - { metric: cv, window: [10s], max: 1 }\n");
    rejects(
        &t,
        "type",
        "14:27",
        "expect[0].window",
        "got a list of 1 item",
    );
}

#[test]
fn node_count_out_of_u8() {
    let t = with("cluster: { nodes: 300 }\n");
    rejects(
        &t,
        "type",
        "13:19",
        "cluster.nodes",
        "expected an integer 1..=16, got 300",
    );
}

// ---- unknown, missing and duplicate keys ----

#[test]
fn unknown_field_top_level() {
    let t = with("colour: red\n");
    rejects(&t, "type", "13:1", "colour", "unknown field `colour`");
}

#[test]
fn unknown_field_in_list_item() {
    let t = edit("    replicas: 3\n", "    replicas: 3\n    replics: 4\n");
    rejects(
        &t,
        "type",
        "5:5",
        "deployments[0].replics",
        "unknown field `replics`",
    );
}

#[test]
fn unknown_field_in_nested_flow_mapping() {
    let t = edit(
        "    replicas: 3\n",
        "    replicas: 3\n    server: { port: 8080, wrkers: 4 }\n",
    );
    rejects(
        &t,
        "type",
        "5:27",
        "deployments[0].server.wrkers",
        "unknown field `wrkers`",
    );
}

#[test]
fn unknown_field_inside_timeline_action() {
    let t = with("timeline:\n  - at: 10s\n    scale: { deployment: web, replicas: 6, surge: 1 }\n");
    rejects(
        &t,
        "type",
        "15:44",
        "timeline[0].scale.surge",
        "unknown field `surge`",
    );
}

#[test]
fn unknown_timeline_action() {
    let t = with("timeline:\n  - at: 10s\n    scael: { deployment: web, replicas: 6 }\n");
    rejects(
        &t,
        "type",
        "15:5",
        "timeline[0].scael",
        "unknown field `scael`",
    );
}

#[test]
fn missing_required_field() {
    let t = edit("    service: web\n", "");
    rejects(
        &t,
        "type",
        "11:5",
        "clients[0].service",
        "missing required field `service`",
    );
}

#[test]
fn missing_required_top_level_field() {
    let t = edit("duration: 60s\n", "");
    rejects(
        &t,
        "type",
        "1:1",
        "duration",
        "missing required field `duration`",
    );
}

#[test]
fn duplicate_key() {
    let t = edit("    replicas: 3\n", "    replicas: 3\n    replicas: 4\n");
    rejects(
        &t,
        "type",
        "5:5",
        "deployments[0].replicas",
        "duplicate key `replicas`",
    );
}

#[test]
fn two_action_keys_in_one_timeline_entry() {
    let t = with(
        "timeline:\n  - at: 10s\n    scale: { deployment: web, replicas: 6 }\n    kill: { deployment: web, count: 1 }\n",
    );
    rejects(&t, "type", "16:5", "timeline[0].kill", "exactly one action");
}

#[test]
fn timeline_entry_without_action() {
    let t = with("timeline:\n  - at: 10s\n");
    rejects(&t, "type", "14:5", "timeline[0]", "missing action");
}

// ---- durations ----

#[test]
fn duration_without_unit() {
    let t = edit("duration: 60s", "duration: 10");
    rejects(&t, "type", "1:11", "duration", "add a unit");
}

#[test]
fn duration_with_space() {
    let t = edit("duration: 60s", "duration: 5 s");
    rejects(
        &t,
        "type",
        "1:11",
        "duration",
        "expected a duration like 250ms, 30s, 1.5m or 6h, got \"5 s\"",
    );
}

#[test]
fn negative_duration() {
    let t = edit("duration: 60s", "duration: -1s");
    rejects(&t, "type", "1:11", "duration", "got \"-1s\"");
}

#[test]
fn duration_unknown_unit() {
    let t = edit("duration: 60s", "duration: 1x");
    rejects(&t, "type", "1:11", "duration", "got \"1x\"");
}

#[test]
fn timeline_at_without_unit() {
    let t = with("timeline:\n  - at: 20\n    flush_ct: {}\n");
    rejects(&t, "type", "14:9", "timeline[0].at", "add a unit");
}

#[test]
fn zero_duration() {
    let t = edit("duration: 60s", "duration: 0s");
    rejects(
        &t,
        "invalid",
        "1:11",
        "duration",
        "expected a duration above 0s and at most 1h, got 0s",
    );
}

#[test]
fn duration_over_an_hour() {
    let t = edit("duration: 60s", "duration: 2h");
    rejects(&t, "invalid", "1:11", "duration", "at most 1h, got 2h");
}

#[test]
fn bucket_too_small() {
    let t = with("bucket: 50ms\n");
    rejects(
        &t,
        "invalid",
        "13:9",
        "bucket",
        "from 100ms up to the suite duration, got 50ms",
    );
}

// ---- semantic: names, ranges, references ----

#[test]
fn empty_deployment_name() {
    let t = edit(
        "  - name: web\n    replicas",
        "  - name: \"\"\n    replicas",
    );
    rejects(
        &t,
        "invalid",
        "3:11",
        "deployments[0].name",
        "expected a DNS label",
    );
}

#[test]
fn uppercase_client_name() {
    let t = edit("name: nginx", "name: Nginx");
    rejects(&t, "invalid", "11:11", "clients[0].name", "got \"Nginx\"");
}

#[test]
fn duplicate_deployment_name() {
    let t = edit(
        "    replicas: 3\n",
        "    replicas: 3\n  - name: web\n    replicas: 1\n",
    );
    rejects(
        &t,
        "invalid",
        "5:11",
        "deployments[1].name",
        "duplicate deployment name `web`",
    );
}

#[test]
fn too_many_replicas() {
    let t = edit("replicas: 3", "replicas: 2001");
    rejects(
        &t,
        "invalid",
        "4:15",
        "deployments[0].replicas",
        "expected an integer 0..=2000, got 2001",
    );
}

#[test]
fn cluster_ip_outside_service_range() {
    let t = edit("198.19.0.10", "10.96.0.10");
    rejects(
        &t,
        "invalid",
        "7:17",
        "services[0].cluster_ip",
        "198.19.0.0/24",
    );
}

#[test]
fn cluster_ip_broadcast() {
    let t = edit("198.19.0.10", "198.19.0.255");
    rejects(
        &t,
        "invalid",
        "7:17",
        "services[0].cluster_ip",
        "other than .0 and .255, like 198.19.0.10, got 198.19.0.255",
    );
}

#[test]
fn duplicate_cluster_ip_and_port() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n  - name: web2\n    cluster_ip: 198.19.0.10\n    port: 80\n    selector: web\n",
    );
    rejects(
        &t,
        "invalid",
        "11:17",
        "services[1].cluster_ip",
        "198.19.0.10:80 is already the frontend of service `web`",
    );
}

#[test]
fn selector_names_unknown_deployment() {
    let t = edit("selector: web", "selector: wbe");
    rejects(
        &t,
        "invalid",
        "9:15",
        "services[0].selector",
        "unknown deployment `wbe` (did you mean `web`?) (known: web)",
    );
}

#[test]
fn client_targets_unknown_service() {
    let t = edit("    service: web", "    service: api");
    rejects(
        &t,
        "invalid",
        "12:14",
        "clients[0].service",
        "unknown service `api`",
    );
}

#[test]
fn client_node_out_of_range() {
    let t = with("    node: 1\n");
    rejects(
        &t,
        "invalid",
        "13:11",
        "clients[0].node",
        "expected a node index 0..=0 (cluster.nodes is 1), got 1",
    );
}

#[test]
fn deployment_node_out_of_range_and_duplicate() {
    let t = edit("    replicas: 3\n", "    replicas: 3\n    nodes: [0, 2]\n")
        .replace("duration: 60s\n", "duration: 60s\ncluster: { nodes: 2 }\n");
    rejects(
        &t,
        "invalid",
        "6:16",
        "deployments[0].nodes[1]",
        "(cluster.nodes is 2), got 2",
    );
    let t = edit("    replicas: 3\n", "    replicas: 3\n    nodes: [0, 0]\n");
    rejects(
        &t,
        "invalid",
        "5:16",
        "deployments[0].nodes[1]",
        "node 0 is listed twice",
    );
}

#[test]
fn maglev_table_size_not_prime() {
    let t = with("datapath: { selection: maglev, maglev_table_size: 1000 }\n");
    rejects(
        &t,
        "invalid",
        "13:51",
        "datapath.maglev_table_size",
        "251, 509, 1021",
    );
}

#[test]
fn source_port_below_1024() {
    let t = with("    source_ports: { mode: pool, range: [80, 90] }\n");
    rejects(
        &t,
        "invalid",
        "13:41",
        "clients[0].source_ports.range[0]",
        "expected a port 1024..=65535, got 80",
    );
}

#[test]
fn source_port_range_reversed() {
    let t = with("    source_ports: { range: [40099, 40000] }\n");
    rejects(
        &t,
        "invalid",
        "13:28",
        "clients[0].source_ports.range",
        "got [40099, 40000]",
    );
}

#[test]
fn same_pools_on_one_node_are_fine() {
    // Each client is its own pod: its own netns and IP, so two pools with
    // the same ports never take each other's 5-tuples.
    let t = with(
        "    source_ports: { mode: pool, range: [40000, 40099] }\n  - name: other\n    service: web\n    source_ports: { mode: pool, range: [40050, 40149] }\n",
    );
    parse(&t, Path::new("x.yaml")).expect("pools of two client pods do not collide");
}

#[test]
fn same_pools_on_different_nodes_are_fine() {
    let t = with(
        "    source_ports: { mode: pool, range: [40000, 40099] }\n  - name: other\n    node: 1\n    service: web\n    source_ports: { mode: pool, range: [40000, 40099] }\n",
    )
    .replace("duration: 60s\n", "duration: 60s\ncluster: { nodes: 2 }\n");
    parse(&t, Path::new("x.yaml")).expect("pools on different nodes do not collide");
}

#[test]
fn client_window_past_the_end() {
    let t = with("    start: 50s\n    duration: 20s\n");
    rejects(
        &t,
        "invalid",
        "14:15",
        "clients[0].duration",
        "ends by the suite's end",
    );
    let t = with("    start: 60s\n");
    rejects(
        &t,
        "invalid",
        "13:12",
        "clients[0].start",
        "before the suite duration 1m",
    );
}

#[test]
fn client_timeout_out_of_range() {
    let t = with("    timeout: 61s\n");
    rejects(
        &t,
        "invalid",
        "13:14",
        "clients[0].timeout",
        "1ms..=60s, got 61s",
    );
}

#[test]
fn too_many_pods_on_one_node() {
    // 16 nodes get a /20 each: 4093 addresses, 4090 pods with headroom.
    let t = "cluster: { nodes: 16 }\n".to_owned()
        + &edit("replicas: 3", "replicas: 2000\n    nodes: [0]").replace(
            "services:\n",
            "  - name: api\n    replicas: 2000\n    nodes: [0]\n  - name: extra\n    replicas: 91\n    nodes: [0]\nservices:\n",
        );
    rejects(
        &t,
        "invalid",
        "11:15",
        "deployments[2].replicas",
        "node 0 would hold 4091 pods",
    );
    rejects(
        &t,
        "invalid",
        "11:15",
        "deployments[2].replicas",
        "with 16 node(s) at most 4090 fit",
    );
    // The same pods spread over the 16 nodes fit.
    let spread = t.replace("    nodes: [0]\n", "");
    assert!(parse(&spread, Path::new("suites/ok.yaml")).is_ok());
}

// ---- timeline ----

#[test]
fn timeline_unknown_deployment() {
    let t = with("timeline:\n  - at: 10s\n    scale: { deployment: api, replicas: 6 }\n");
    rejects(
        &t,
        "invalid",
        "15:26",
        "timeline[0].scale.deployment",
        "unknown deployment `api`",
    );
}

#[test]
fn timeline_at_past_duration() {
    let t = with("timeline:\n  - at: 60s\n    flush_ct:\n");
    rejects(
        &t,
        "invalid",
        "14:9",
        "timeline[0].at",
        "a time before the suite duration 1m, got 1m",
    );
}

#[test]
fn timeline_kill_zero() {
    let t = with("timeline:\n  - { at: 10s, kill: { deployment: web, count: 0 } }\n");
    rejects(
        &t,
        "invalid",
        "14:48",
        "timeline[0].kill.count",
        "at least 1, got 0",
    );
}

#[test]
fn timeline_references_unknown_client_and_node() {
    let t = with("timeline:\n  - { at: 10s, restart_client: { client: curl } }\n");
    rejects(
        &t,
        "invalid",
        "14:42",
        "timeline[0].restart_client.client",
        "unknown client `curl`",
    );
    let t = with("timeline:\n  - { at: 10s, flush_ct: { node: 3 } }\n");
    rejects(&t, "invalid", "14:34", "timeline[0].flush_ct.node", "got 3");
}

// ---- expectations ----

#[test]
fn unknown_metric() {
    let t = with("expect:\n  - metric: fairness\n    min: 0.9\n");
    rejects(
        &t,
        "invalid",
        "14:13",
        "expect[0].metric",
        "unknown metric `fairness`; expected one of new_backend_share",
    );
}

#[test]
fn window_past_duration() {
    let t = with("expect:\n  - metric: cv\n    window: [30s, 90s]\n    max: 0.2\n");
    rejects(
        &t,
        "invalid",
        "15:19",
        "expect[0].window[1]",
        "at most the suite duration 1m, got 90s",
    );
}

#[test]
fn window_reversed() {
    let t = with("expect:\n  - metric: cv\n    window: [40s, 30s]\n    max: 0.2\n");
    rejects(&t, "invalid", "15:13", "expect[0].window", "from < to");
}

#[test]
fn min_above_max() {
    let t = with("expect:\n  - metric: jain_index\n    min: 0.9\n    max: 0.5\n");
    rejects(
        &t,
        "invalid",
        "16:10",
        "expect[0].max",
        "expected max >= min (0.9), got 0.5",
    );
}

#[test]
fn neither_min_nor_max() {
    let t = with("expect:\n  - metric: jain_index\n    note: hm\n");
    rejects(
        &t,
        "invalid",
        "14:5",
        "expect[0]",
        "at least one of `min` or `max`",
    );
}

#[test]
fn non_finite_bound() {
    let t = with("expect:\n  - metric: cv\n    max: .nan\n");
    rejects(
        &t,
        "invalid",
        "15:10",
        "expect[0].max",
        "expected a finite number, got NaN",
    );
}

// ---- ordering and files ----

#[test]
fn first_error_in_document_order_wins() {
    // Both the selector (line 9) and the client node (line 13) are wrong;
    // the selector comes first in the file.
    let t = edit("selector: web", "selector: nope") + "    node: 4\n";
    rejects(
        &t,
        "invalid",
        "9:15",
        "services[0].selector",
        "unknown deployment `nope`",
    );
}

#[test]
fn missing_file_is_a_read_error() {
    let err = svclab_suite::load(Path::new("/nonexistent/suite.yaml")).expect_err("no such file");
    assert!(matches!(err, SuiteError::Read { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        err.to_string().split(": ").take(2).collect::<Vec<_>>(),
        ["/nonexistent/suite.yaml", "cannot read suite file"]
    );
}

#[test]
fn second_yaml_document() {
    let t = with("---\nduration: 5s\n");
    rejects(&t, "type", "13:1", "", "one YAML document");
}

#[test]
fn list_given_as_scalar() {
    let t = with("timeline: 5\n");
    rejects(&t, "type", "13:11", "timeline", "expected a list, got 5");
}

#[test]
fn keep_alive_pool_larger_than_port_pool() {
    let t = with(
        "    connection: keep-alive\n    source_ports: { mode: pool, range: [40000, 40009] }\n",
    );
    rejects(
        &t,
        "invalid",
        "14:40",
        "clients[0].source_ports.range",
        "needs at least 16 source ports",
    );
}

#[test]
fn zero_ct_timeout() {
    let t = with("datapath: { timeouts: { tcp: 0s } }\n");
    rejects(
        &t,
        "invalid",
        "13:30",
        "datapath.timeouts.tcp",
        "expected a whole number of seconds, at least 1s (Cilium's datapath counts whole seconds), got 0s",
    );
}

#[test]
fn fractional_ct_timeout_and_grace() {
    let t = with("datapath: { timeouts: { close: 1.5s } }\n");
    rejects(
        &t,
        "invalid",
        "13:32",
        "datapath.timeouts.close",
        "expected a whole number of seconds, at least 1s (Cilium's datapath counts whole seconds), got 1500ms",
    );
    let t = with("datapath: { profile: cilium-1.12, rebalance_grace: 500ms }\n");
    rejects(
        &t,
        "invalid",
        "13:52",
        "datapath.rebalance_grace",
        "expected a whole number of seconds of at most 1h (Cilium's datapath counts whole seconds), got 500ms",
    );
}

#[test]
fn one_second_timeouts_are_zero_units_on_the_jiffies_clock() {
    // cilium-1.11/1.12 count CT time in units of 1.024 s: 1 s is 0 units.
    let t = with("datapath: { profile: cilium-1.12, timeouts: { close: 1s } }\n");
    let err = parse(&t, Path::new("suites/bad.yaml")).expect_err("rejected");
    let d = err.diagnostic().expect("located");
    assert_eq!(d.field, "datapath.timeouts.close", "{err}");
    assert!(d.message.contains("0 units of the jiffies clock"), "{err}");
    let ok = with("datapath: { profile: cilium-1.16, timeouts: { close: 1s } }\n");
    parse(&ok, Path::new("t.yaml")).expect("ktime seconds: valid");
    let ok = with("datapath: { profile: cilium-1.12, timeouts: { close: 2s } }\n");
    parse(&ok, Path::new("t.yaml")).expect("2 s = 1 unit: valid");
}

#[test]
fn grace_without_rebalance_has_no_effect() {
    // cilium-1.11 has no close-rebalance: a grace alone would do nothing.
    let t = with("datapath: { profile: cilium-1.11, rebalance_grace: 5s }\n");
    rejects(
        &t,
        "invalid",
        "13:52",
        "datapath.rebalance_grace",
        "has no effect: CT reuse is `legacy`",
    );
    let t = with("datapath: { ct_reuse: legacy, rebalance_grace: 5s }\n");
    rejects(
        &t,
        "invalid",
        "13:48",
        "datapath.rebalance_grace",
        "has no effect",
    );
    // With close-rebalance on top of 1.11 it is an override.
    let ok = with(
        "datapath: { profile: cilium-1.11, ct_reuse: close-rebalance, rebalance_grace: 5s }\n",
    );
    svclab_suite::parse(&ok, std::path::Path::new("t.yaml")).expect("valid");
}

#[test]
fn unknown_profile() {
    let t = with("datapath: { profile: cilium-1.13 }\n");
    rejects(
        &t,
        "type",
        "13:22",
        "datapath.profile",
        "expected one of `cilium-1.11`, `cilium-1.12`, `cilium-1.15`, `cilium-1.15.8`, `cilium-1.16`, got `cilium-1.13`",
    );
}

#[test]
fn duplicate_at_in_timeline_entry() {
    let t = with("timeline:\n  - at: 1s\n    at: 2s\n    flush_ct:\n");
    rejects(&t, "type", "15:5", "timeline[0].at", "duplicate key `at`");
}

// ---- kubelet, probes, server, autoscalers, spikes ----

/// `MIN` with `lines` added to its deployment, from line 5 on.
fn in_deployment(lines: &str) -> String {
    edit("    replicas: 3\n", &format!("    replicas: 3\n{lines}"))
}

/// `MIN` with one probe of `kind` (line 6) whose fields are `body`.
fn probe(kind: &str, body: &str) -> String {
    in_deployment(&format!("    probes:\n      {kind}: {{ {body} }}\n"))
}

#[test]
fn time_scale_out_of_range() {
    let t = with("kubelet: { time_scale: 2 }\n");
    rejects(
        &t,
        "invalid",
        "13:24",
        "kubelet.time_scale",
        "expected a finite number 0.01..=1, got 2",
    );
    let t = with("kubelet: { time_scale: 0.001 }\n");
    rejects(&t, "invalid", "13:24", "kubelet.time_scale", "got 0.001");
    let t = with("kubelet: { time_scale: .nan }\n");
    rejects(&t, "invalid", "13:24", "kubelet.time_scale", "got NaN");
    let t = with("kubelet: { time_scale: fast }\n");
    rejects(
        &t,
        "type",
        "13:24",
        "kubelet.time_scale",
        "expected a finite number 0.01..=1, got \"fast\"",
    );
}

#[test]
fn probe_with_two_handlers() {
    let t = probe("readiness", "tcp: {}, http: {}");
    rejects(
        &t,
        "invalid",
        "6:18",
        "deployments[0].probes.readiness",
        "a probe needs exactly one handler of `tcp`, `http`, `exec`; got `tcp` and `http`",
    );
    let t = probe("startup", "tcp: {}, http: {}, exec: { command: [true] }");
    rejects(
        &t,
        "invalid",
        "6:16",
        "deployments[0].probes.startup",
        "got `tcp`, `http` and `exec`",
    );
}

#[test]
fn probe_without_handler() {
    let t = probe("liveness", "period: 5s");
    rejects(
        &t,
        "invalid",
        "6:17",
        "deployments[0].probes.liveness",
        "exactly one handler of `tcp`, `http`, `exec`; got none",
    );
    // `tcp:` without a value is null: no handler, and the message says why.
    let t = in_deployment("    probes:\n      liveness:\n        tcp:\n");
    rejects(
        &t,
        "invalid",
        "7:9",
        "deployments[0].probes.liveness",
        "got none (`tcp:` has no value; `tcp: {}` takes its defaults)",
    );
}

#[test]
fn probe_unknown_field() {
    let t = probe("readiness", "tcp: {}, periodSeconds: 5");
    rejects(
        &t,
        "type",
        "6:29",
        "deployments[0].probes.readiness.periodSeconds",
        "unknown field `periodSeconds`",
    );
    let t = probe("readiness", "grpc: { port: 9000 }");
    rejects(
        &t,
        "type",
        "6:20",
        "deployments[0].probes.readiness.grpc",
        "unknown field `grpc`",
    );
}

#[test]
fn probe_period_zero_or_too_short_once_scaled() {
    let t = probe("readiness", "tcp: {}, period: 0s");
    rejects(
        &t,
        "invalid",
        "6:37",
        "deployments[0].probes.readiness.period",
        "expected a duration above 0s that is at least 100ms once multiplied by kubelet.time_scale, got 0s",
    );
    let t = probe("readiness", "tcp: {}, period: 50ms");
    rejects(
        &t,
        "invalid",
        "6:37",
        "deployments[0].probes.readiness.period",
        "got 50ms",
    );
    let t = probe("liveness", "tcp: {}, period: 5s") + "kubelet: { time_scale: 0.01 }\n";
    rejects(
        &t,
        "invalid",
        "6:36",
        "deployments[0].probes.liveness.period",
        "once multiplied by kubelet.time_scale (with time_scale 0.01: at least 10s), got 5s",
    );
    // Exactly 100ms once scaled is enough (10s × 0.01 in binary is not exact).
    let t = probe("liveness", "tcp: {}, period: 10s") + "kubelet: { time_scale: 0.01 }\n";
    parse(&t, Path::new("x.yaml")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn probe_timeout_out_of_range() {
    let t = probe("readiness", "tcp: {}, timeout: 5ms");
    rejects(
        &t,
        "invalid",
        "6:38",
        "deployments[0].probes.readiness.timeout",
        "expected a duration 10ms..=60s, got 5ms",
    );
    let t = probe("readiness", "tcp: {}, timeout: 61s");
    rejects(
        &t,
        "invalid",
        "6:38",
        "deployments[0].probes.readiness.timeout",
        "got 61s",
    );
}

#[test]
fn probe_initial_delay_over_an_hour() {
    let t = probe("startup", "exec: { command: [true] }, initial_delay: 2h");
    rejects(
        &t,
        "invalid",
        "6:60",
        "deployments[0].probes.startup.initial_delay",
        "expected a duration of at most 1h, got 2h",
    );
}

#[test]
fn probe_success_threshold() {
    let t = probe("readiness", "tcp: {}, success_threshold: 0");
    rejects(
        &t,
        "invalid",
        "6:48",
        "deployments[0].probes.readiness.success_threshold",
        "expected an integer of at least 1, got 0",
    );
    let t = in_deployment(
        "    probes:\n      liveness:\n        tcp: {}\n        success_threshold: 2\n",
    );
    rejects(
        &t,
        "invalid",
        "8:28",
        "deployments[0].probes.liveness.success_threshold",
        "expected 1 (Kubernetes requires success_threshold 1 for liveness and startup probes), got 2",
    );
    let t = probe("startup", "tcp: {}, success_threshold: 3");
    rejects(
        &t,
        "invalid",
        "6:46",
        "deployments[0].probes.startup.success_threshold",
        "Kubernetes requires success_threshold 1",
    );
    // A typing error reads like the rule.
    let t = probe("liveness", "tcp: {}, success_threshold: -1");
    rejects(
        &t,
        "type",
        "6:47",
        "deployments[0].probes.liveness.success_threshold",
        "expected 1 (Kubernetes requires success_threshold 1 for liveness and startup probes), got -1",
    );
}

#[test]
fn probe_failure_threshold() {
    let t = probe("readiness", "tcp: {}, failure_threshold: 0");
    rejects(
        &t,
        "invalid",
        "6:48",
        "deployments[0].probes.readiness.failure_threshold",
        "expected an integer 1..=1000, got 0",
    );
    let t = probe("readiness", "tcp: {}, failure_threshold: 1001");
    rejects(
        &t,
        "invalid",
        "6:48",
        "deployments[0].probes.readiness.failure_threshold",
        "got 1001",
    );
}

#[test]
fn probe_http_path() {
    let t = probe("readiness", "http: { path: healthz }");
    rejects(
        &t,
        "invalid",
        "6:34",
        "deployments[0].probes.readiness.http.path",
        "expected a request path starting with '/', at most 1024 bytes, without whitespace or control characters, got \"healthz\"",
    );
    let t = probe("readiness", "http: { path: \"/health z\" }");
    rejects(
        &t,
        "invalid",
        "6:34",
        "deployments[0].probes.readiness.http.path",
        "got \"/health z\"",
    );
    let long = format!("/{}", "a".repeat(1024));
    let t = probe("readiness", &format!("http: {{ path: {long} }}"));
    rejects(
        &t,
        "invalid",
        "6:34",
        "deployments[0].probes.readiness.http.path",
        "got a path of 1025 bytes",
    );
}

#[test]
fn probe_http_headers() {
    let t = probe(
        "readiness",
        "http: { headers: [{ name: Host, value: web }, { name: \"X Probe\", value: 1 }] }",
    );
    rejects(
        &t,
        "invalid",
        "6:74",
        "deployments[0].probes.readiness.http.headers[1].name",
        "expected an HTTP header name: 1 or more token characters",
    );
    let t = probe(
        "readiness",
        "http: { headers: [{ name: \"X:Y\", value: a }] }",
    );
    rejects(
        &t,
        "invalid",
        "6:46",
        "deployments[0].probes.readiness.http.headers[0].name",
        "got \"X:Y\"",
    );
    let t = probe("readiness", "http: { headers: [{ name: \"\", value: a }] }");
    rejects(
        &t,
        "invalid",
        "6:46",
        "deployments[0].probes.readiness.http.headers[0].name",
        "got \"\"",
    );
    let t = probe(
        "readiness",
        "http: { headers: [{ name: X-A, value: \"a\\r\\nX-B: b\" }] }",
    );
    rejects(
        &t,
        "invalid",
        "6:58",
        "deployments[0].probes.readiness.http.headers[0].value",
        "expected a header value without CR, LF or NUL, got \"a\\r\\nX-B: b\"",
    );
    let t = probe("readiness", "http: { headers: [{ name: X-A }] }");
    rejects(
        &t,
        "type",
        "6:38",
        "deployments[0].probes.readiness.http.headers[0].value",
        "missing required field `value`",
    );
}

#[test]
fn probe_exec_command() {
    let t = probe("liveness", "exec: { command: [] }");
    rejects(
        &t,
        "invalid",
        "6:36",
        "deployments[0].probes.liveness.exec.command",
        "expected a command: a list of 1 or more arguments whose first (the program) is not empty, got an empty list",
    );
    let t = probe("liveness", "exec: { command: [\"\", x] }");
    rejects(
        &t,
        "invalid",
        "6:37",
        "deployments[0].probes.liveness.exec.command[0]",
        "expected a program to run (the first argument of the command), got \"\"",
    );
    let t = probe("liveness", "exec: {}");
    rejects(
        &t,
        "type",
        "6:25",
        "deployments[0].probes.liveness.exec.command",
        "missing required field `command`",
    );
}

#[test]
fn probe_ports() {
    let t = probe("readiness", "tcp: { port: 0 }");
    rejects(
        &t,
        "invalid",
        "6:33",
        "deployments[0].probes.readiness.tcp.port",
        "expected a port 1..=65535, got 0",
    );
    let t = probe("readiness", "http: { port: 0 }");
    rejects(
        &t,
        "invalid",
        "6:34",
        "deployments[0].probes.readiness.http.port",
        "expected a port 1..=65535, got 0",
    );
    let t = probe("readiness", "http: { port: 70000 }");
    rejects(
        &t,
        "type",
        "6:34",
        "deployments[0].probes.readiness.http.port",
        "expected a port 1..=65535, got 70000",
    );
}

#[test]
fn probe_on_a_port_nothing_listens_on_is_allowed() {
    // A probe aimed at the wrong port is a scenario, not a typo to reject.
    let t = probe("readiness", "tcp: { port: 9999 }");
    parse(&t, Path::new("x.yaml")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn server_cpu_fields() {
    let t = in_deployment("    server: { cpu_time: 11s }\n");
    rejects(
        &t,
        "invalid",
        "5:25",
        "deployments[0].server.cpu_time",
        "expected a duration of at most 10s, got 11s",
    );
    let t = in_deployment("    server: { cpus: 0.05 }\n");
    rejects(
        &t,
        "invalid",
        "5:21",
        "deployments[0].server.cpus",
        "expected a finite number of cores 0.1..=64, got 0.05",
    );
    let t = in_deployment("    server: { cpus: .inf }\n");
    rejects(
        &t,
        "invalid",
        "5:21",
        "deployments[0].server.cpus",
        "got inf",
    );
    let t = in_deployment("    server: { cpus: 65 }\n");
    rejects(
        &t,
        "invalid",
        "5:21",
        "deployments[0].server.cpus",
        "got 65",
    );
    let t = in_deployment("    server: { cpus: two }\n");
    rejects(
        &t,
        "type",
        "5:21",
        "deployments[0].server.cpus",
        "expected a finite number of cores 0.1..=64, got \"two\"",
    );
}

#[test]
fn server_read_timeout() {
    let t = in_deployment("    server: { read_timeout: 5ms }\n");
    rejects(
        &t,
        "invalid",
        "5:29",
        "deployments[0].server.read_timeout",
        "expected a duration from 10ms up to 10m, got 5ms",
    );
    let t = in_deployment("    server: { read_timeout: 11m }\n");
    rejects(
        &t,
        "invalid",
        "5:29",
        "deployments[0].server.read_timeout",
        "got 11m",
    );
}

#[test]
fn server_health_listener() {
    let t = in_deployment("    server: { port: 8080, health: { port: 8080 } }\n");
    rejects(
        &t,
        "invalid",
        "5:43",
        "deployments[0].server.health.port",
        "expected a port other than server.port 8080",
    );
    // The default serving port counts too.
    let t = in_deployment("    server: { health: { port: 8080 } }\n");
    rejects(
        &t,
        "invalid",
        "5:31",
        "deployments[0].server.health.port",
        "other than server.port 8080",
    );
    let t = in_deployment("    server: { health: { port: 0 } }\n");
    rejects(
        &t,
        "invalid",
        "5:31",
        "deployments[0].server.health.port",
        "expected a port 1..=65535, got 0",
    );
    let t = in_deployment("    server: { health: { port: 8081, workers: 0 } }\n");
    rejects(
        &t,
        "invalid",
        "5:46",
        "deployments[0].server.health.workers",
        "expected an integer 1..=16, got 0",
    );
    let t = in_deployment("    server: { health: { port: 8081, workers: 17 } }\n");
    rejects(
        &t,
        "invalid",
        "5:46",
        "deployments[0].server.health.workers",
        "got 17",
    );
    let t = in_deployment("    server: { health: { workers: 2 } }\n");
    rejects(
        &t,
        "type",
        "5:23",
        "deployments[0].server.health.port",
        "missing required field `port`",
    );
}

#[test]
fn server_startup_time_and_termination_grace() {
    let t = in_deployment("    server: { startup_time: 11m }\n");
    rejects(
        &t,
        "invalid",
        "5:29",
        "deployments[0].server.startup_time",
        "expected a duration of at most 10m, got 11m",
    );
    let t = in_deployment("    termination_grace: 601s\n");
    rejects(
        &t,
        "invalid",
        "5:24",
        "deployments[0].termination_grace",
        "expected a duration of at most 10m, got 601s",
    );
}

/// `MIN` with one autoscaler on line 14 written as `fields`.
fn autoscaler(fields: &str) -> String {
    with(&format!("autoscalers:\n  - {{ {fields} }}\n"))
}

const HPA: &str = "deployment: web, max_replicas: 10, metric: { kind: busy-workers, target: 0.6 }";

#[test]
fn autoscaler_unknown_or_duplicate_deployment() {
    let t = autoscaler(
        "deployment: api, max_replicas: 10, metric: { kind: busy-workers, target: 0.6 }",
    );
    rejects(
        &t,
        "invalid",
        "14:19",
        "autoscalers[0].deployment",
        "unknown deployment `api` (known: web)",
    );
    let t = with(&format!("autoscalers:\n  - {{ {HPA} }}\n  - {{ {HPA} }}\n"));
    rejects(
        &t,
        "invalid",
        "15:19",
        "autoscalers[1].deployment",
        "deployment `web` already has an autoscaler (autoscalers[0]); a deployment takes at most one",
    );
}

#[test]
fn autoscaler_replica_bounds() {
    let t = autoscaler(&format!("{HPA}, min_replicas: 0"));
    rejects(
        &t,
        "invalid",
        "14:101",
        "autoscalers[0].min_replicas",
        "expected an integer 1..=2000, got 0",
    );
    let t = autoscaler(
        "deployment: web, min_replicas: 3, max_replicas: 2, metric: { kind: busy-workers, target: 0.6 }",
    );
    rejects(
        &t,
        "invalid",
        "14:55",
        "autoscalers[0].max_replicas",
        "expected an integer min_replicas..=2000 (min_replicas is 3), got 2",
    );
    let t = autoscaler(
        "deployment: web, max_replicas: 2001, metric: { kind: busy-workers, target: 0.6 }",
    );
    rejects(
        &t,
        "invalid",
        "14:38",
        "autoscalers[0].max_replicas",
        "got 2001",
    );
    let t = autoscaler("deployment: web, metric: { kind: busy-workers, target: 0.6 }");
    rejects(
        &t,
        "type",
        "14:5",
        "autoscalers[0].max_replicas",
        "missing required field `max_replicas`",
    );
}

#[test]
fn autoscaler_must_start_within_its_replica_range() {
    // web starts with 3 replicas.
    let t = autoscaler(&format!("{HPA}, min_replicas: 4"));
    rejects(
        &t,
        "invalid",
        "14:101",
        "autoscalers[0].min_replicas",
        "deployment `web` starts with replicas 3, below min_replicas 4: Kubernetes would scale it up to 4 at once; give it replicas within [4, 10]",
    );
    let t =
        autoscaler("deployment: web, max_replicas: 2, metric: { kind: busy-workers, target: 0.6 }");
    rejects(
        &t,
        "invalid",
        "14:38",
        "autoscalers[0].max_replicas",
        "above max_replicas 2: Kubernetes would scale it down to 2 at once",
    );
    let t = autoscaler(HPA).replace("replicas: 3", "replicas: 0");
    rejects(
        &t,
        "invalid",
        "14:5",
        "autoscalers[0].min_replicas",
        "Kubernetes turns autoscaling off while a deployment has 0 replicas",
    );
}

#[test]
fn autoscaler_metric_target() {
    let t =
        autoscaler("deployment: web, max_replicas: 10, metric: { kind: busy-workers, target: 60 }");
    rejects(
        &t,
        "invalid",
        "14:80",
        "autoscalers[0].metric.target",
        "expected a ratio in (0, 1] for `busy-workers` (busy workers / workers: 0.6 means 60%), got 60",
    );
    let t =
        autoscaler("deployment: web, max_replicas: 10, metric: { kind: busy-workers, target: 0 }");
    rejects(
        &t,
        "invalid",
        "14:80",
        "autoscalers[0].metric.target",
        "got 0",
    );
    let t =
        autoscaler("deployment: web, max_replicas: 10, metric: { kind: request-rate, target: 0 }");
    rejects(
        &t,
        "invalid",
        "14:80",
        "autoscalers[0].metric.target",
        "expected requests per second per pod for `request-rate`: a finite number above 0, at most 1000000, got 0",
    );
    let t = autoscaler(
        "deployment: web, max_replicas: 10, metric: { kind: request-rate, target: 2e6 }",
    );
    rejects(
        &t,
        "invalid",
        "14:80",
        "autoscalers[0].metric.target",
        "got 2000000",
    );
    let t = autoscaler("deployment: web, max_replicas: 10, metric: { kind: cpu, target: 0.5 }");
    rejects(
        &t,
        "type",
        "14:58",
        "autoscalers[0].metric.kind",
        "expected `busy-workers` or `request-rate`, got `cpu`",
    );
    let t = autoscaler(
        "deployment: web, max_replicas: 10, metric: { kind: busy-workers, target: high }",
    );
    rejects(
        &t,
        "type",
        "14:80",
        "autoscalers[0].metric.target",
        "expected a per-pod target: a ratio in (0, 1] for `busy-workers`",
    );
}

#[test]
fn autoscaler_tolerance_sync_and_windows() {
    let t = autoscaler(&format!("{HPA}, tolerance: 1.5"));
    rejects(
        &t,
        "invalid",
        "14:98",
        "autoscalers[0].tolerance",
        "expected a finite number 0..=1, got 1.5",
    );
    let t = autoscaler(&format!("{HPA}, tolerance: -0.1"));
    rejects(
        &t,
        "invalid",
        "14:98",
        "autoscalers[0].tolerance",
        "got -0.1",
    );
    let t = autoscaler(&format!("{HPA}, sync_period: 0s"));
    rejects(
        &t,
        "invalid",
        "14:100",
        "autoscalers[0].sync_period",
        "expected a duration above 0s that is at least 100ms once multiplied by kubelet.time_scale, got 0s",
    );
    let t = autoscaler(&format!("{HPA}, sync_period: 15s")) + "kubelet: { time_scale: 0.005 }\n";
    rejects(&t, "invalid", "15:24", "kubelet.time_scale", "got 0.005");
    let t = autoscaler(&format!("{HPA}, sync_period: 1s")) + "kubelet: { time_scale: 0.05 }\n";
    rejects(
        &t,
        "invalid",
        "14:100",
        "autoscalers[0].sync_period",
        "(with time_scale 0.05: at least 2s), got 1s",
    );
    let t = autoscaler(&format!("{HPA}, scale_down_stabilization: 61m"));
    rejects(
        &t,
        "invalid",
        "14:113",
        "autoscalers[0].scale_down_stabilization",
        "expected a duration of at most 1h, got 61m",
    );
    let t = autoscaler(&format!("{HPA}, scale_up_stabilization: 2h"));
    rejects(
        &t,
        "invalid",
        "14:111",
        "autoscalers[0].scale_up_stabilization",
        "got 2h",
    );
}

#[test]
fn autoscaler_max_counts_towards_pod_capacity() {
    // On node 0 of 16: web's autoscaler may take it to 2000, plus 2091
    // pods of two more deployments: 4091 > 4090.
    let t = "cluster: { nodes: 16 }\n".to_owned()
        + &edit("replicas: 3", "replicas: 10\n    nodes: [0]").replace(
            "services:\n",
            "  - name: big\n    replicas: 2000\n    nodes: [0]\n  - name: big2\n    replicas: 91\n    nodes: [0]\nservices:\n",
        )
        + "autoscalers:\n  - { deployment: web, min_replicas: 10, max_replicas: 2000, metric: { kind: request-rate, target: 50 } }\n";
    rejects(
        &t,
        "invalid",
        "11:15",
        "deployments[2].replicas",
        "node 0 would hold 4091 pods at peak (replicas at their highest over the timeline or autoscaler max_replicas",
    );
}

/// `MIN` with a spike timeline entry on line 14.
fn spike(at: &str, args: &str) -> String {
    with(&format!(
        "timeline:\n  - at: {at}\n    spike: {{ {args} }}\n"
    ))
}

#[test]
fn spike_unknown_field_and_missing_action() {
    let t = spike("10s", "client: nginx, rate: 900, ramp: 5s");
    rejects(
        &t,
        "type",
        "15:40",
        "timeline[0].spike.ramp",
        "unknown field `ramp`",
    );
    let t = with("timeline:\n  - at: 10s\n    spkie: { client: nginx, rate: 900 }\n");
    rejects(
        &t,
        "type",
        "15:5",
        "timeline[0].spkie",
        "expected one of `at`, `scale`, `kill`, `delete_pod`, `flush_ct`, `restart_client`, `spike`, `rollout`",
    );
    let t = with("timeline:\n  - at: 10s\n");
    rejects(
        &t,
        "type",
        "14:5",
        "timeline[0]",
        "missing action: a timeline entry needs one of `scale`, `kill`, `delete_pod`, `flush_ct`, `restart_client`, `spike`, `rollout`, `fault` or `clear_fault`",
    );
    let t = spike("10s", "client: nginx");
    rejects(
        &t,
        "type",
        "15:12",
        "timeline[0].spike.rate",
        "missing required field `rate`",
    );
    let t =
        with("timeline:\n  - at: 10s\n    spike: { client: nginx, rate: 900 }\n    flush_ct:\n");
    rejects(
        &t,
        "type",
        "16:5",
        "timeline[0].flush_ct",
        "already has `spike`",
    );
}

#[test]
fn spike_client_must_exist_and_run_open_loop() {
    let t = spike("10s", "client: curl, rate: 900");
    rejects(
        &t,
        "invalid",
        "15:22",
        "timeline[0].spike.client",
        "unknown client `curl` (known: nginx)",
    );
    let t = with("    load: { mode: closed }\n")
        + "timeline:\n  - { at: 10s, spike: { client: nginx, rate: 900 } }\n";
    rejects(
        &t,
        "invalid",
        "15:33",
        "timeline[0].spike.client",
        "client `nginx` runs a closed loop (load.mode: closed); a spike sets an arrival rate, so it needs a client with load.mode: open",
    );
}

#[test]
fn spike_rate_out_of_range() {
    let t = spike("10s", "client: nginx, rate: 0");
    rejects(
        &t,
        "invalid",
        "15:35",
        "timeline[0].spike.rate",
        "expected an integer 1..=50000, got 0",
    );
    let t = spike("10s", "client: nginx, rate: 50001");
    rejects(
        &t,
        "invalid",
        "15:35",
        "timeline[0].spike.rate",
        "got 50001",
    );
    let t = spike("10s", "client: nginx, rate: -5");
    rejects(
        &t,
        "type",
        "15:35",
        "timeline[0].spike.rate",
        "expected an integer 1..=50000, got -5",
    );
}

#[test]
fn spike_duration() {
    let t = spike("10s", "client: nginx, rate: 900, duration: 0s");
    rejects(
        &t,
        "invalid",
        "15:50",
        "timeline[0].spike.duration",
        "expected a duration above 0s that ends by the suite's end (at 10s + duration <= 1m), got 0s",
    );
    let t = spike("50s", "client: nginx, rate: 900, duration: 20s");
    rejects(
        &t,
        "invalid",
        "15:50",
        "timeline[0].spike.duration",
        "(at 50s + duration <= 1m), got 20s",
    );
    let t = spike("10s", "client: nginx, rate: 900, duration: 20");
    rejects(
        &t,
        "type",
        "15:50",
        "timeline[0].spike.duration",
        "add a unit",
    );
}

#[test]
fn spike_outside_the_client_window() {
    let t = with("    start: 20s\n    duration: 20s\n")
        + "timeline:\n  - at: 10s\n    spike: { client: nginx, rate: 900 }\n";
    rejects(
        &t,
        "invalid",
        "16:9",
        "timeline[0].at",
        "expected a time while client `nginx` sends ([20s, 40s): its start to start + duration), got 10s",
    );
    let t = with("    start: 20s\n    duration: 20s\n")
        + "timeline:\n  - at: 40s\n    spike: { client: nginx, rate: 900 }\n";
    rejects(&t, "invalid", "16:9", "timeline[0].at", "got 40s");
    let t = with("    duration: 30s\n")
        + "timeline:\n  - at: 20s\n    spike: { client: nginx, rate: 900, duration: 15s }\n";
    rejects(
        &t,
        "invalid",
        "16:50",
        "timeline[0].spike.duration",
        "expected a spike that ends by the time client `nginx` stops (30s): a duration of at most 10s, got 15s",
    );
    // Without a duration the spike lasts while the client sends.
    let t = with("    duration: 30s\n")
        + "timeline:\n  - at: 20s\n    spike: { client: nginx, rate: 900 }\n";
    parse(&t, Path::new("x.yaml")).unwrap_or_else(|e| panic!("{e}"));
}

// ---- kill counts bounded by the pods that exist ----

#[test]
fn kill_more_pods_than_the_deployment_has() {
    let t = with("timeline:\n  - at: 1s\n    kill: {deployment: web, count: 100000}\n");
    rejects(
        &t,
        "invalid",
        "15:36",
        "timeline[0].kill.count",
        "expected at most 3 (the pods deployment `web` can have at 1s: its initial replicas 3), got 100000",
    );
}

#[test]
fn kill_bound_follows_the_latest_scale_before_it() {
    let ok = with(
        "timeline:\n  - at: 10s\n    kill: {deployment: web, count: 8}\n  - at: 5s\n    scale: {deployment: web, replicas: 10}\n",
    );
    parse(&ok, Path::new("suites/ok.yaml")).expect("8 of 10 pods after the scale");
    let t = with(
        "timeline:\n  - at: 5s\n    scale: {deployment: web, replicas: 10}\n  - at: 20s\n    scale: {deployment: web, replicas: 2}\n  - at: 30s\n    kill: {deployment: web, count: 3}\n",
    );
    rejects(
        &t,
        "invalid",
        "19:36",
        "timeline[2].kill.count",
        "expected at most 2 (the pods deployment `web` can have at 30s: replicas 2 from the scale at timeline[1]), got 3",
    );
}

#[test]
fn kill_bound_of_an_autoscaled_deployment_is_its_max_replicas() {
    let hpa = "autoscalers:\n  - deployment: web\n    max_replicas: 6\n    metric: {kind: busy-workers, target: 0.5}\n";
    let ok = with(&format!(
        "{hpa}timeline:\n  - at: 1s\n    kill: {{deployment: web, count: 6}}\n"
    ));
    parse(&ok, Path::new("suites/ok.yaml")).expect("the HPA may have scaled to 6");
    let t = with(&format!(
        "{hpa}timeline:\n  - at: 1s\n    kill: {{deployment: web, count: 7}}\n"
    ));
    rejects(
        &t,
        "invalid",
        "19:36",
        "timeline[0].kill.count",
        "its autoscaler's max_replicas 6), got 7",
    );
}

// ---- engines and matrix ----

#[test]
fn unknown_engine() {
    let t = with("datapath:\n  engine: ipvs\n");
    rejects(&t, "type", "14:11", "datapath.engine", "ipvs");
}

#[test]
fn min_sync_period_needs_a_kube_proxy_engine() {
    let t = with("datapath:\n  min_sync_period: 2s\n");
    rejects(
        &t,
        "invalid",
        "14:20",
        "datapath.min_sync_period",
        "has no effect with engine `ebpf`",
    );
}

#[test]
fn matrix_engine_label_must_be_known() {
    let t = with("matrix:\n  engines: [ebpf:cilium-1.11, kube-proxy-ipvs]\n");
    rejects(
        &t,
        "invalid",
        "14:31",
        "matrix.engines[1]",
        "expected an engine label",
    );
}

#[test]
fn matrix_needs_two_engines() {
    let t = with("matrix:\n  engines: [kube-proxy-iptables]\n");
    rejects(
        &t,
        "invalid",
        "14:12",
        "matrix.engines",
        "at least 2 engines",
    );
}

#[test]
fn expectation_engine_label_must_be_known() {
    let t = with("expect:\n  - { metric: error_rate, max: 0.1, engines: [nope] }\n");
    rejects(
        &t,
        "invalid",
        "14:47",
        "expect[0].engines[0]",
        "expected an engine label",
    );
}

#[test]
fn socket_lb_rejects_per_packet_settings() {
    let t = with("datapath:\n  engine: socket-lb\n  selection: maglev\n");
    rejects(
        &t,
        "invalid",
        "15:14",
        "datapath.selection",
        "has no effect with engine `socket-lb`",
    );
    let t = with("datapath:\n  engine: socket-lb\n  timeouts: { close: 10s }\n");
    rejects(
        &t,
        "invalid",
        "15:22",
        "datapath.timeouts.close",
        "has no effect with engine `socket-lb`",
    );
}

#[test]
fn misspellings_get_the_nearest_name() {
    let t = with("datapath: { profile: cilium-1.13 }\n");
    let err = parse(&t, Path::new("t.yaml")).expect_err("no such profile");
    let d = err.diagnostic().expect("located");
    assert!(
        d.message
            .contains("cilium-1.13 is covered by `cilium-1.12`"),
        "{err}"
    );
    let t = with("datapath: { selection: magelv }\n");
    let err = parse(&t, Path::new("t.yaml")).expect_err("typo");
    assert!(
        err.to_string().contains("(did you mean `maglev`?)"),
        "{err}"
    );
    let t = edit("replicas:", "replcas:");
    let err = parse(&t, Path::new("t.yaml")).expect_err("typo");
    assert!(
        err.to_string().contains("(did you mean `replicas`?)"),
        "{err}"
    );
    let t = with("expect:\n  - { metric: eror_rate, max: 0.1 }\n");
    let err = parse(&t, Path::new("t.yaml")).expect_err("typo");
    assert!(
        err.to_string().contains("(did you mean `error_rate`?)"),
        "{err}"
    );
}

/// `svclab validate` reports every mistake of a file in one pass: a bad
/// profile and a misspelt field (typing, stepped over), a bad value, an
/// unknown reference and an unknown metric (semantic), each located and
/// the misspellings with a suggestion.
#[test]
fn five_mistakes_five_located_errors() {
    let text = "\
name: five
duration: 30s
datapath: { profile: cilium-1.13 }
deployments:
  - name: web
    replcas: 3
    server: { workers: 0 }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: webb }
clients:
  - { name: c, service: web, load: { mode: open, rate: 10 } }
expect:
  - { metric: eror_rate, max: 0.01 }
";
    let all = svclab_suite::diagnose(text, Path::new("five.yaml"));
    let got: Vec<(String, usize, usize, String)> = all
        .iter()
        .map(|e| {
            let d = e.diagnostic().expect("located");
            (d.field.clone(), d.line, d.column, d.message.clone())
        })
        .collect();
    let fields: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(
        fields,
        [
            "datapath.profile",
            "deployments[0].replcas",
            "deployments[0].server.workers",
            "services[0].selector",
            "expect[0].metric"
        ],
        "{got:#?}"
    );
    let lines: Vec<usize> = got.iter().map(|g| g.1).collect();
    assert_eq!(lines, [3, 6, 7, 9, 13]);
    assert!(got[0].3.contains("covered by `cilium-1.12`"));
    assert!(got[1].3.contains("(did you mean `replicas`?)"));
    assert!(got[3].3.contains("(did you mean `web`?)"));
    assert!(got[4].3.contains("(did you mean `error_rate`?)"));
    // A valid suite has none; a missing required field stops typing.
    assert!(svclab_suite::diagnose(MIN, Path::new("min.yaml")).is_empty());
    let stuck = edit("duration: 60s\n", "");
    assert_eq!(svclab_suite::diagnose(&stuck, Path::new("t.yaml")).len(), 1);
}

/// Stepping over typing errors never misplaces or invents one: not at a
/// list item (the items after it would be renumbered), no semantic pass
/// once a value other rules compare with fell back to its default, and a
/// bad value under a field a typo was read as is the typo's.
#[test]
fn stepping_over_errors_neither_misplaces_nor_invents() {
    let item = "name: g\nduration: 10s\ndeployments:\n  - 7\n  - { name: web, replicas: 1, server: { workers: 0 } }\nservices:\n  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }\nclients:\n  - { name: c, service: web }\n";
    let all = svclab_suite::diagnose(item, Path::new("a.yaml"));
    assert_eq!(all.len(), 1, "{all:?}");
    let nodes = "name: g\nduration: 10s\ncluster: { nodes: thre }\ndeployments:\n  - { name: web, replicas: 1, nodes: [2] }\nservices:\n  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }\nclients:\n  - { name: c, service: web, node: 2 }\n";
    let all = svclab_suite::diagnose(nodes, Path::new("b.yaml"));
    assert_eq!(all.len(), 1, "only the bad node count: {all:?}");
    let typo = "name: g\nduration: 10s\ndeployments:\n  - name: web\n    replicas: 1\n    node: a\nservices:\n  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: wbe }\nclients:\n  - { name: c, service: web }\n";
    let fields: Vec<String> = svclab_suite::diagnose(typo, Path::new("c.yaml"))
        .iter()
        .filter_map(|e| e.diagnostic().map(|d| d.field.clone()))
        .collect();
    assert_eq!(fields, ["deployments[0].node", "services[0].selector"]);
}

#[test]
fn session_affinity_timeout_without_client_ip() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n    session_affinity_timeout: 60s\n",
    );
    rejects(
        &t,
        "invalid",
        "10:31",
        "services[0].session_affinity_timeout",
        "a timeout goes with `session_affinity: ClientIP`",
    );
}

#[test]
fn session_affinity_timeout_past_a_day() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n    session_affinity: ClientIP\n    session_affinity_timeout: 86401s\n",
    );
    rejects(
        &t,
        "invalid",
        "11:31",
        "services[0].session_affinity_timeout",
        "whole seconds from 1s to 86400s",
    );
}

#[test]
fn session_affinity_unknown_kind() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n    session_affinity: Cookie\n",
    );
    rejects(
        &t,
        "type",
        "10:23",
        "services[0].session_affinity",
        "ClientIP",
    );
}

#[test]
fn internal_traffic_policy_on_a_cilium_profile_without_it() {
    let t = with("datapath: { profile: cilium-1.12 }\n").replace(
        "    selector: web\n",
        "    selector: web\n    internal_traffic_policy: Local\n",
    );
    rejects(
        &t,
        "invalid",
        "10:30",
        "services[0].internal_traffic_policy",
        "Cilium added it in v1.13.0",
    );
}

#[test]
fn prefer_close_without_zones() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n    traffic_distribution: PreferClose\n",
    );
    rejects(
        &t,
        "invalid",
        "10:27",
        "services[0].traffic_distribution",
        "give the nodes zones",
    );
}

#[test]
fn zones_not_one_per_node() {
    let t = with("cluster: { nodes: 3, zones: [a, b] }\n");
    rejects(
        &t,
        "invalid",
        "13:29",
        "cluster.zones",
        "one zone per node (3 nodes)",
    );
}

#[test]
fn node_port_on_a_cluster_ip_service() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n    node_port: 30080\n",
    );
    rejects(
        &t,
        "invalid",
        "10:16",
        "services[0].node_port",
        "goes with `type: NodePort`",
    );
}

#[test]
fn external_traffic_policy_on_a_cluster_ip_service() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n    external_traffic_policy: Local\n",
    );
    rejects(
        &t,
        "invalid",
        "10:30",
        "services[0].external_traffic_policy",
        "applies to `type: NodePort`",
    );
}

#[test]
fn node_port_outside_the_range() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n    type: NodePort\n    node_port: 8080\n",
    );
    rejects(
        &t,
        "invalid",
        "11:16",
        "services[0].node_port",
        "30000..=32767",
    );
}

#[test]
fn node_port_twice() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n    type: NodePort\n    node_port: 30080\n  - { name: api, cluster_ip: 198.19.0.11, port: 80, selector: web, type: NodePort, node_port: 30080 }\n",
    );
    rejects(
        &t,
        "invalid",
        "12:95",
        "services[1].node_port",
        "already the NodePort of service `web`",
    );
}

#[test]
fn external_client_of_a_cluster_ip_service() {
    let t = with("cluster: { nodes: 2 }\n").replace(
        "    service: web\n",
        "    service: web\n    external: true\n",
    );
    rejects(
        &t,
        "invalid",
        "13:15",
        "clients[0].external",
        "type: NodePort",
    );
}

#[test]
fn external_client_on_one_node() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n    type: NodePort\n",
    )
    .replace(
        "    service: web\n",
        "    service: web\n    external: true\n",
    );
    rejects(
        &t,
        "invalid",
        "14:15",
        "clients[0].external",
        "2 or more nodes",
    );
}

const EXTERNAL: &str = "\
duration: 60s
cluster: { nodes: 2 }
deployments:
  - { name: web, replicas: 2 }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web, type: NodePort }
clients:
  - { name: a, service: web, external: true }
  - { name: b, service: web, external: true, node: 1, source_ports: { range: [40000, 41000] } }
";

#[test]
fn external_clients_with_two_ephemeral_ranges() {
    rejects(
        EXTERNAL,
        "invalid",
        "9:78",
        "clients[1].source_ports.range",
        "share one network namespace",
    );
}

#[test]
fn restart_of_an_external_client() {
    let t = EXTERNAL.replace(", source_ports: { range: [40000, 41000] }", "")
        + "timeline:\n  - { at: 10s, restart_client: { client: a } }\n";
    rejects(
        &t,
        "invalid",
        "11:42",
        "timeline[0].restart_client.client",
        "has no pod to replace",
    );
}

#[test]
fn matrix_engine_without_a_service_feature() {
    let t = edit(
        "    selector: web\n",
        "    selector: web\n    internal_traffic_policy: Local\n",
    ) + "matrix: { engines: [ebpf, \"ebpf:cilium-1.12\"] }\n";
    rejects(
        &t,
        "invalid",
        "14:27",
        "matrix.engines[1]",
        "under `ebpf:cilium-1.12`, services[0].internal_traffic_policy: profile cilium-1.12 has no internalTrafficPolicy",
    );
}
