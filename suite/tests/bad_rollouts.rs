//! Malformed rollout and termination settings: each is exit 2 with the
//! line:column and field path (a rollout of an unknown deployment,
//! max_surge and max_unavailable both 0, a preStop longer than the grace,
//! a preStop with two handlers, a bad percentage, a too long delay).
mod common;

use std::path::Path;

use common::{edit, rejects, with};
use svclab_suite::parse;

/// MIN's deployment with `extra` lines (4-space indented) after replicas.
fn deployment(extra: &str) -> String {
    edit("    replicas: 3\n", &format!("    replicas: 3\n{extra}"))
}

#[test]
fn a_valid_rollout_suite_parses() {
    let t = deployment(
        "    strategy: { max_surge: 1, max_unavailable: \"0%\" }\n    lifecycle: { pre_stop: { sleep: 5s } }\n    server: { on_sigterm: drain }\n",
    ) + "endpoints: { propagation_delay: 1s }\ntimeline:\n  - at: 10s\n    rollout: { deployment: web, template: { server: { on_sigterm: drain } } }\n";
    parse(&t, Path::new("suites/ok.yaml")).expect("valid");
}

#[test]
fn rollout_of_an_unknown_deployment() {
    let t = with(
        "timeline:\n  - at: 10s\n    rollout: { deployment: api, template: { server: { workers: 8 } } }\n",
    );
    rejects(
        &t,
        "15:28",
        "timeline[0].rollout.deployment",
        "unknown deployment `api`",
    );
}

#[test]
fn rollout_without_a_template_change() {
    let t = with("timeline:\n  - at: 10s\n    rollout: { deployment: web, template: {} }\n");
    rejects(&t, "15:43", "timeline[0].rollout.template", "server");
}

#[test]
fn max_surge_and_max_unavailable_both_zero() {
    let t = deployment("    strategy: { max_surge: 0, max_unavailable: \"0%\" }\n");
    rejects(
        &t,
        "5:48",
        "deployments[0].strategy.max_unavailable",
        "may not be 0 when max_surge is 0",
    );
}

#[test]
fn a_percentage_above_100() {
    let t = deployment("    strategy: { max_surge: \"150%\" }\n");
    rejects(
        &t,
        "5:28",
        "deployments[0].strategy.max_surge",
        "a percentage",
    );
}

#[test]
fn a_pre_stop_longer_than_the_grace() {
    let t = deployment("    termination_grace: 10s\n    lifecycle: { pre_stop: { sleep: 20s } }\n");
    rejects(
        &t,
        "6:37",
        "deployments[0].lifecycle.pre_stop.sleep",
        "no longer than termination_grace (10s)",
    );
}

#[test]
fn a_pre_stop_with_two_handlers() {
    let t = deployment("    lifecycle: { pre_stop: { sleep: 1s, http_get: { path: /stop } } }\n");
    rejects(
        &t,
        "5:28",
        "deployments[0].lifecycle.pre_stop",
        "exactly one handler",
    );
}

#[test]
fn a_propagation_delay_over_a_minute() {
    let t = with("endpoints: { propagation_delay: 2m }\n");
    rejects(&t, "13:33", "endpoints.propagation_delay", "at most 1m");
}

#[test]
fn an_unknown_sigterm_behaviour() {
    let t = deployment("    server: { on_sigterm: linger }\n");
    rejects(
        &t,
        "5:27",
        "deployments[0].server.on_sigterm",
        "expected one of `exit`, `stop-accepting`, `drain`, `ignore`, got `linger`",
    );
}
