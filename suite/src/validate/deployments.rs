//! The `deployments` section: names, replicas, placement on nodes, the
//! server each pod runs and its termination grace. Each pod's probes are
//! checked in [`super::probes`].
use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use super::{
    checker::{Checker, MINUTE},
    probes, programs,
};
use crate::{
    expected::{
        AT_MOST_10M, BACKLOG, CPU_TIME, CPUS, EXEC_COMMAND, HEALTH_WORKERS, HTTP_PATH,
        INT_OR_PERCENT, PORT, READ_TIMEOUT, REPLICAS, SERVICE_TIME, WORKERS,
    },
    model::{Deployment, HealthSpec, IntOrPercent, ServerSpec, StrategyType},
};

/// `nodes` and `scale` are cluster.nodes and kubelet.time_scale when valid.
pub(super) fn check(
    c: &mut Checker<'_>,
    deployments: &[Deployment],
    nodes: Option<u8>,
    scale: Option<f64>,
) {
    let mut seen = HashMap::new();
    for (i, d) in deployments.iter().enumerate() {
        deployment(c, &format!("deployments[{i}]"), d, nodes, scale, &mut seen);
    }
}

/// One deployment at path `p`; `seen` holds the names before it.
fn deployment<'s>(
    c: &mut Checker<'_>,
    p: &str,
    d: &'s Deployment,
    nodes: Option<u8>,
    scale: Option<f64>,
    seen: &mut HashMap<&'s str, String>,
) {
    c.name(&format!("{p}.name"), &d.name, "deployment", seen);
    c.expect(
        d.replicas <= crate::expected::MAX_REPLICAS_N,
        &format!("{p}.replicas"),
        REPLICAS,
        d.replicas,
    );
    let mut listed = HashSet::new();
    for (j, &n) in d.nodes.iter().enumerate() {
        let np = format!("{p}.nodes[{j}]");
        c.node(&np, n, nodes);
        if !listed.insert(n) {
            c.fail(&np, format!("node {n} is listed twice"));
        }
    }
    server(c, p, &d.server);
    programs::deployment(c, p, d);
    let pr = &d.probes;
    for (kind, probe) in [
        ("startup", &pr.startup),
        ("readiness", &pr.readiness),
        ("liveness", &pr.liveness),
    ] {
        if let Some(probe) = probe {
            probes::check(c, &format!("{p}.probes.{kind}"), kind, probe, scale);
        }
    }
    c.expect(
        d.termination_grace.0 <= 10 * MINUTE,
        &format!("{p}.termination_grace"),
        AT_MOST_10M,
        d.termination_grace,
    );
    c.expect(
        d.unreachable_toleration.0 <= 6 * 10 * MINUTE,
        &format!("{p}.unreachable_toleration"),
        "at most 1h",
        d.unreachable_toleration,
    );
    rollout_fields(c, p, d);
}

/// `{p}.lifecycle`, `{p}.strategy`, `{p}.min_ready_seconds`.
fn rollout_fields(c: &mut Checker<'_>, p: &str, d: &Deployment) {
    if let Some(h) = &d.lifecycle.pre_stop {
        let hp = format!("{p}.lifecycle.pre_stop");
        if h.handlers() != 1 {
            c.fail(
                &hp,
                format!(
                    "expected exactly one handler: `exec`, `http_get` or `sleep`, got {}",
                    h.handlers()
                ),
            );
        }
        if let Some(sleep) = h.sleep {
            // kubelet bounds the hook by the grace (executePreStopHook's
            // timeout): a longer sleep never finishes, SIGTERM comes anyway.
            c.expect(
                sleep <= d.termination_grace,
                &format!("{hp}.sleep"),
                &format!(
                    "a sleep no longer than termination_grace ({}): kubelet cuts the hook off at the grace",
                    d.termination_grace
                ),
                sleep,
            );
        }
        if let Some(e) = &h.exec {
            c.expect(
                e.command.first().is_some_and(|a| !a.is_empty()),
                &format!("{hp}.exec.command"),
                EXEC_COMMAND,
                format!("{:?}", e.command),
            );
        }
        if let Some(g) = &h.http_get {
            c.expect(
                g.path.starts_with('/'),
                &format!("{hp}.http_get.path"),
                HTTP_PATH,
                &g.path,
            );
            if let Some(port) = g.port {
                c.expect(port != 0, &format!("{hp}.http_get.port"), PORT, port);
            }
        }
    }
    let st = &d.strategy;
    for (name, v) in [
        ("max_surge", &st.max_surge),
        ("max_unavailable", &st.max_unavailable),
    ] {
        let ok = match v {
            IntOrPercent::Count(n) => *n <= 200,
            IntOrPercent::Percent(_) => v.percent().is_some(),
        };
        c.expect(
            ok,
            &format!("{p}.strategy.{name}"),
            INT_OR_PERCENT,
            match v {
                IntOrPercent::Count(n) => n.to_string(),
                IntOrPercent::Percent(s) => format!("{s:?}"),
            },
        );
    }
    if st.kind == StrategyType::RollingUpdate
        && st.max_surge.is_zero()
        && st.max_unavailable.is_zero()
    {
        // Kubernetes v1.31 pkg/apis/apps/validation/validation.go
        // ValidateRollingUpdateDeployment: "may not be 0 when `maxSurge` is 0".
        c.fail(
            &format!("{p}.strategy.max_unavailable"),
            "may not be 0 when max_surge is 0: the rollout could never replace a pod".to_owned(),
        );
    }
    c.expect(
        d.min_ready_seconds.0 <= 10 * MINUTE,
        &format!("{p}.min_ready_seconds"),
        AT_MOST_10M,
        d.min_ready_seconds,
    );
}

/// `{p}.server`: the pod's listener, workers and per-request costs.
pub(super) fn server(c: &mut Checker<'_>, p: &str, s: &ServerSpec) {
    c.expect(s.port != 0, &format!("{p}.server.port"), PORT, s.port);
    c.expect(
        (1..=256).contains(&s.workers),
        &format!("{p}.server.workers"),
        WORKERS,
        s.workers,
    );
    c.expect(
        (1..=65535).contains(&s.backlog),
        &format!("{p}.server.backlog"),
        BACKLOG,
        s.backlog,
    );
    c.expect(
        s.service_time.0 <= Duration::from_secs(60),
        &format!("{p}.server.service_time"),
        SERVICE_TIME,
        s.service_time,
    );
    c.expect(
        s.cpu_time.0 <= Duration::from_secs(10),
        &format!("{p}.server.cpu_time"),
        CPU_TIME,
        s.cpu_time,
    );
    c.expect(
        (0.1..=64.0).contains(&s.cpus),
        &format!("{p}.server.cpus"),
        CPUS,
        s.cpus,
    );
    if let Some(h) = &s.health {
        health(c, p, s, h);
    }
    c.expect(
        s.startup_time.0 <= 10 * MINUTE,
        &format!("{p}.server.startup_time"),
        AT_MOST_10M,
        s.startup_time,
    );
    c.expect(
        s.read_timeout.0 >= Duration::from_millis(10) && s.read_timeout.0 <= 10 * MINUTE,
        &format!("{p}.server.read_timeout"),
        READ_TIMEOUT,
        s.read_timeout,
    );
}

/// `{p}.server.health`: a second listener, so not on the serving port.
fn health(c: &mut Checker<'_>, p: &str, s: &ServerSpec, h: &HealthSpec) {
    let hp = format!("{p}.server.health.port");
    c.expect(h.port != 0, &hp, PORT, h.port);
    if h.port == s.port && s.port != 0 {
        c.fail(
            &hp,
            format!(
                "expected a port other than server.port {}: the health listener is a second listener with its own workers, got {}",
                s.port, h.port
            ),
        );
    }
    c.expect(
        (1..=16).contains(&h.workers),
        &format!("{p}.server.health.workers"),
        HEALTH_WORKERS,
        h.workers,
    );
}
