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
        AT_MOST_10M, BACKLOG, CPU_TIME, CPUS, HEALTH_WORKERS, PORT, READ_TIMEOUT, REPLICAS,
        SERVICE_TIME, WORKERS,
    },
    model::{Deployment, HealthSpec, ServerSpec},
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
}

/// `{p}.server`: the pod's listener, workers and per-request costs.
fn server(c: &mut Checker<'_>, p: &str, s: &ServerSpec) {
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
