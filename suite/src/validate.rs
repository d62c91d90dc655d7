//! Semantic validation: the rules a well-typed suite must also meet before
//! the harness creates anything in the kernel (ranges, references between
//! sections, address and port collisions, per-node pod capacity).
//!
//! Every rule's expectation text lives here, and typing errors reuse it
//! ([`expected_for`]), so `replicas: -1` and `replicas: 300` read alike.
use std::{
    collections::{HashMap, HashSet},
    fmt::Display,
    net::Ipv4Addr,
    time::Duration,
};

use crate::{
    error::{Diagnostic, SuiteError},
    index::PathIndex,
    model::{Action, ConnectionMode, Dur, METRICS, PortMode, Suite, TimelineEntry},
};

const SUITE_NAME: &str =
    "a suite name of 1..=64 letters, digits, '.', '_' or '-', not starting with '.' or '-'";
const DURATION: &str = "a duration above 0s and at most 1h";
const BUCKET: &str = "a duration from 100ms up to the suite duration";
const NODES: &str = "an integer 1..=16";
const MAGLEV: &str = "one of the prime table sizes 251, 509, 1021, 2039, 4093, 8191, 16381";
const POSITIVE: &str = "a duration above 0s";
const GC: &str = "a duration of at least 100ms";
const CT_SIZE: &str = "an integer 16..=16777216";
const GRACE: &str = "a duration of at most 1h";
const LABEL: &str = "a DNS label: 1..=40 lowercase letters, digits or '-', starting and ending with a letter or digit";
const REPLICAS: &str = "an integer 0..=200";
const NODE_INDEX: &str = "a node index 0..=15, below cluster.nodes";
const PORT: &str = "a port 1..=65535";
const WORKERS: &str = "an integer 1..=256";
const BACKLOG: &str = "an integer 1..=65535";
const SERVICE_TIME: &str = "a duration of at most 60s";
const CLUSTER_IP: &str =
    "an IPv4 address in 198.19.0.0/24 other than .0 and .255, like 198.19.0.10";
const POOL_SIZE: &str = "an integer 1..=1024";
const RANGE: &str = "a port range [low, high] with 1024 <= low <= high <= 65535";
const RANGE_PORT: &str = "a port 1024..=65535";
const RATE: &str = "an integer 1..=50000";
const CONCURRENCY: &str = "an integer 1..=1024";
const MAX_IN_FLIGHT: &str = "an integer 1..=10000";
const CLIENT_TIMEOUT: &str = "a duration 1ms..=60s";
const KILL_COUNT: &str = "an integer of at least 1";
const POD_INDEX: &str = "an integer 0..=199";
const WINDOW: &str = "a window [from, to] with from < to <= the suite duration";
const BOUND: &str = "a finite number";

/// Maglev needs a prime table size; these are Cilium's accepted values.
const MAGLEV_SIZES: &[u32] = &[251, 509, 1021, 2039, 4093, 8191, 16381];
/// Pod addresses per node: 198.18.<node>.2..=254, less a little headroom.
const PODS_PER_NODE: u32 = 250;

/// The expectation text for a field path (`deployments[3].replicas` and
/// `deployments[].replicas` alike), used by typing errors too.
pub(crate) fn expected_for(path: &str) -> Option<&'static str> {
    let mut pattern = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                pattern.push('[');
            }
            ']' => {
                in_index = false;
                pattern.push(']');
            }
            _ if in_index => {}
            c => pattern.push(c),
        }
    }
    Some(match pattern.as_str() {
        "name" => SUITE_NAME,
        "duration" => DURATION,
        "bucket" => BUCKET,
        "cluster.nodes" => NODES,
        "datapath.maglev_table_size" => MAGLEV,
        "datapath.ct_map_size" => CT_SIZE,
        "datapath.gc_interval" => GC,
        "datapath.rebalance_grace" => GRACE,
        "datapath.timeouts.syn"
        | "datapath.timeouts.tcp"
        | "datapath.timeouts.close"
        | "datapath.timeouts.non_tcp" => POSITIVE,
        "deployments[].name" | "services[].name" | "clients[].name" => LABEL,
        "deployments[].replicas" | "timeline[].scale.replicas" => REPLICAS,
        "deployments[].nodes[]" | "clients[].node" | "timeline[].flush_ct.node" => NODE_INDEX,
        "deployments[].server.port" | "services[].port" | "services[].target_port" => PORT,
        "deployments[].server.workers" => WORKERS,
        "deployments[].server.backlog" => BACKLOG,
        "deployments[].server.service_time" => SERVICE_TIME,
        "services[].cluster_ip" => CLUSTER_IP,
        "clients[].pool_size" => POOL_SIZE,
        "clients[].source_ports.range" => RANGE,
        "clients[].source_ports.range[]" => RANGE_PORT,
        "clients[].load.rate" => RATE,
        "clients[].load.concurrency" => CONCURRENCY,
        "clients[].load.max_in_flight" => MAX_IN_FLIGHT,
        "clients[].timeout" => CLIENT_TIMEOUT,
        "timeline[].kill.count" => KILL_COUNT,
        "timeline[].delete_pod.index" => POD_INDEX,
        "expect[].window" => WINDOW,
        "expect[].min" | "expect[].max" => BOUND,
        _ => return None,
    })
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, 1..=40 chars.
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=40).contains(&b.len())
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter().all(|c| edge(c) || *c == b'-')
}

/// Suite names become report directory names: no separators, no dot files.
fn is_suite_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && !s.starts_with(['.', '-'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Key figures the nightly compares against the previous night.
pub const REGRESSION_FIGURES: &[&str] = &[
    "duration_s",
    "imbalance",
    "jain",
    "p99_ms",
    "errors",
    "error_rate",
    "min_ready",
];

struct Checker<'a> {
    ix: &'a PathIndex,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn fail(&mut self, path: &str, message: String) {
        let pos = self.ix.locate(path);
        self.out.push(Diagnostic::at(self.ix, pos, path, message));
    }

    /// `expected <what>, got <value>` unless `ok`.
    fn expect(&mut self, ok: bool, path: &str, what: &str, got: impl Display) {
        if !ok {
            self.fail(path, format!("expected {what}, got {got}"));
        }
    }

    /// A DNS-label name, unique among `seen` (name → path of first use).
    fn name<'s>(
        &mut self,
        path: &str,
        name: &'s str,
        kind: &str,
        seen: &mut HashMap<&'s str, String>,
    ) {
        self.expect(is_label(name), path, LABEL, format!("{name:?}"));
        if let Some(first) = seen.get(name) {
            self.fail(
                path,
                format!("duplicate {kind} name `{name}` (first used at {first})"),
            );
        } else {
            seen.insert(name, path.to_owned());
        }
    }

    /// A node index below `nodes`, when `nodes` itself is valid.
    fn node(&mut self, path: &str, node: u8, nodes: Option<u8>) {
        if let Some(n) = nodes
            && node >= n
        {
            self.fail(
                path,
                format!(
                    "expected a node index 0..={} (cluster.nodes is {n}), got {node}",
                    n - 1
                ),
            );
        }
    }

    fn reference(&mut self, path: &str, name: &str, kind: &str, known: &HashSet<&str>) {
        if !known.contains(name) {
            let mut names: Vec<&str> = known.iter().copied().collect();
            names.sort_unstable();
            let list = if names.is_empty() {
                format!("there are no {kind}s")
            } else {
                format!("known: {}", names.join(", "))
            };
            self.fail(path, format!("unknown {kind} `{name}` ({list})"));
        }
    }
}

/// Every rule violation in `suite`, sorted into document order.
#[must_use]
pub fn check(suite: &Suite, index: &PathIndex) -> Vec<Diagnostic> {
    let mut c = Checker {
        ix: index,
        out: Vec::new(),
    };
    let dur = suite.duration.0;
    let ms = Duration::from_millis;
    let hour = Duration::from_secs(3600);

    c.expect(
        is_suite_name(&suite.name),
        "name",
        SUITE_NAME,
        format!("{:?}", suite.name),
    );
    let dur_ok = !dur.is_zero() && dur <= hour;
    c.expect(dur_ok, "duration", DURATION, suite.duration);
    // Checks against the suite duration wait for it to be valid: a bad
    // `duration` is one error, not one per field compared with it.
    let dur = if dur_ok { dur } else { Duration::MAX };
    c.expect(
        suite.bucket.0 >= ms(100) && suite.bucket.0 <= dur,
        "bucket",
        BUCKET,
        suite.bucket,
    );
    let nodes_ok = (1..=16).contains(&suite.cluster.nodes);
    c.expect(nodes_ok, "cluster.nodes", NODES, suite.cluster.nodes);
    let nodes = nodes_ok.then_some(suite.cluster.nodes);

    let dp = &suite.datapath;
    c.expect(
        MAGLEV_SIZES.contains(&dp.maglev_table_size),
        "datapath.maglev_table_size",
        MAGLEV,
        dp.maglev_table_size,
    );
    c.expect(
        dp.rebalance_grace.0 <= hour,
        "datapath.rebalance_grace",
        GRACE,
        dp.rebalance_grace,
    );
    let t = &dp.timeouts;
    for (key, v) in [
        ("syn", t.syn),
        ("tcp", t.tcp),
        ("close", t.close),
        ("non_tcp", t.non_tcp),
    ] {
        c.expect(
            !v.0.is_zero(),
            &format!("datapath.timeouts.{key}"),
            POSITIVE,
            v,
        );
    }
    c.expect(
        dp.gc_interval.0 >= ms(100),
        "datapath.gc_interval",
        GC,
        dp.gc_interval,
    );
    c.expect(
        (16..=16_777_216).contains(&dp.ct_map_size),
        "datapath.ct_map_size",
        CT_SIZE,
        dp.ct_map_size,
    );

    let deployments: HashSet<&str> = suite.deployments.iter().map(|d| d.name.as_str()).collect();
    let clients: HashSet<&str> = suite.clients.iter().map(|c| c.name.as_str()).collect();

    let mut seen = HashMap::new();
    for (i, d) in suite.deployments.iter().enumerate() {
        let p = format!("deployments[{i}]");
        c.name(&format!("{p}.name"), &d.name, "deployment", &mut seen);
        c.expect(
            d.replicas <= 200,
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
        let s = &d.server;
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
    }

    let mut seen = HashMap::new();
    let mut frontends: HashMap<(Ipv4Addr, u16), usize> = HashMap::new();
    for (i, s) in suite.services.iter().enumerate() {
        let p = format!("services[{i}]");
        c.name(&format!("{p}.name"), &s.name, "service", &mut seen);
        let [a, b, cc, d] = s.cluster_ip.octets();
        let ip_ok = [a, b, cc] == [198, 19, 0] && d != 0 && d != 255;
        c.expect(ip_ok, &format!("{p}.cluster_ip"), CLUSTER_IP, s.cluster_ip);
        c.expect(s.port != 0, &format!("{p}.port"), PORT, s.port);
        if let Some(tp) = s.target_port {
            c.expect(tp != 0, &format!("{p}.target_port"), PORT, tp);
        }
        if let Some(first) = frontends.get(&(s.cluster_ip, s.port)) {
            c.fail(
                &format!("{p}.cluster_ip"),
                format!(
                    "{}:{} is already the frontend of service `{}` (services[{first}]); each (cluster_ip, port) must be unique",
                    s.cluster_ip, s.port, suite.services[*first].name
                ),
            );
        } else {
            frontends.insert((s.cluster_ip, s.port), i);
        }
        c.reference(
            &format!("{p}.selector"),
            &s.selector,
            "deployment",
            &deployments,
        );
    }
    let services: HashSet<&str> = suite.services.iter().map(|s| s.name.as_str()).collect();

    let mut seen = HashMap::new();
    for (i, cl) in suite.clients.iter().enumerate() {
        let p = format!("clients[{i}]");
        c.name(&format!("{p}.name"), &cl.name, "client", &mut seen);
        c.node(&format!("{p}.node"), cl.node, nodes);
        c.reference(&format!("{p}.service"), &cl.service, "service", &services);
        c.expect(
            (1..=1024).contains(&cl.pool_size),
            &format!("{p}.pool_size"),
            POOL_SIZE,
            cl.pool_size,
        );
        let [low, high] = cl.source_ports.range;
        let rp = format!("{p}.source_ports.range");
        c.expect(low >= 1024, &format!("{rp}[0]"), RANGE_PORT, low);
        c.expect(low <= high, &rp, RANGE, format!("[{low}, {high}]"));
        let size = u32::from(high.saturating_sub(low)) + 1;
        if cl.source_ports.mode == PortMode::Pool
            && cl.connection == ConnectionMode::KeepAlive
            && low <= high
            && size < cl.pool_size
        {
            c.fail(
                &rp,
                format!(
                    "a keep-alive pool of {} connections needs at least {} source ports, the pool range has {size}",
                    cl.pool_size, cl.pool_size
                ),
            );
        }
        let l = &cl.load;
        c.expect(
            (1..=50_000).contains(&l.rate),
            &format!("{p}.load.rate"),
            RATE,
            l.rate,
        );
        c.expect(
            (1..=1024).contains(&l.concurrency),
            &format!("{p}.load.concurrency"),
            CONCURRENCY,
            l.concurrency,
        );
        c.expect(
            (1..=10_000).contains(&l.max_in_flight),
            &format!("{p}.load.max_in_flight"),
            MAX_IN_FLIGHT,
            l.max_in_flight,
        );
        c.expect(
            cl.start.0 < dur,
            &format!("{p}.start"),
            &format!("a start before the suite duration {}", suite.duration),
            cl.start,
        );
        if let Some(d) = cl.duration {
            c.expect(
                !d.0.is_zero() && cl.start.0 + d.0 <= dur,
                &format!("{p}.duration"),
                &format!(
                    "a duration above 0s that ends by the suite's end (start {} + duration <= {})",
                    cl.start, suite.duration
                ),
                d,
            );
        }
        c.expect(
            cl.timeout.0 >= ms(1) && cl.timeout.0 <= Duration::from_secs(60),
            &format!("{p}.timeout"),
            CLIENT_TIMEOUT,
            cl.timeout,
        );
        for (j, other) in suite.clients[..i].iter().enumerate() {
            let [ol, oh] = other.source_ports.range;
            if cl.source_ports.mode == PortMode::Pool
                && other.source_ports.mode == PortMode::Pool
                && other.node == cl.node
                && low <= high
                && ol <= oh
                && low <= oh
                && ol <= high
            {
                c.fail(
                    &rp,
                    format!(
                        "source ports {}..={} are also in the pool of client `{}` (clients[{j}]) on node {}; two pools on one node would steal each other's ports",
                        low.max(ol),
                        high.min(oh),
                        other.name,
                        cl.node
                    ),
                );
            }
        }
    }

    for (i, e) in suite.timeline.iter().enumerate() {
        timeline_entry(&mut c, i, e, Dur(dur), nodes, &deployments, &clients);
    }

    for (figure, v) in &suite.regression {
        let p = format!("regression.{figure}");
        if !REGRESSION_FIGURES.contains(&figure.as_str()) {
            c.fail(
                &p,
                format!(
                    "unknown key figure `{figure}`; expected one of {}",
                    REGRESSION_FIGURES.join(", ")
                ),
            );
        }
        c.expect(
            v.is_finite() && *v > 0.0 && *v <= 100.0,
            &p,
            "a relative threshold in (0, 100]",
            v,
        );
    }

    for (i, x) in suite.expect.iter().enumerate() {
        let p = format!("expect[{i}]");
        if !METRICS.contains(&x.metric.as_str()) {
            c.fail(
                &format!("{p}.metric"),
                format!(
                    "unknown metric `{}`; expected one of {}",
                    x.metric,
                    METRICS.join(", ")
                ),
            );
        }
        if let Some([from, to]) = x.window {
            let wp = format!("{p}.window");
            c.expect(from < to, &wp, WINDOW, format!("[{from}, {to}]"));
            c.expect(
                to.0 <= dur,
                &format!("{wp}[1]"),
                &format!("an end at most the suite duration {}", suite.duration),
                to,
            );
        }
        for (key, v) in [("min", x.min), ("max", x.max)] {
            if let Some(v) = v {
                c.expect(v.is_finite(), &format!("{p}.{key}"), BOUND, v);
            }
        }
        match (x.min, x.max) {
            (None, None) => c.fail(&p, "expected at least one of `min` or `max`".to_owned()),
            (Some(lo), Some(hi)) if lo > hi => c.fail(
                &format!("{p}.max"),
                format!("expected max >= min ({lo}), got {hi}"),
            ),
            _ => {}
        }
    }

    if let Some(n) = nodes {
        pod_capacity(&mut c, suite, n);
    }

    c.out.sort_by_key(|d| (d.line, d.column));
    c.out
}

fn timeline_entry(
    c: &mut Checker<'_>,
    i: usize,
    e: &TimelineEntry,
    duration: Dur,
    nodes: Option<u8>,
    deployments: &HashSet<&str>,
    clients: &HashSet<&str>,
) {
    let p = format!("timeline[{i}]");
    c.expect(
        e.at < duration,
        &format!("{p}.at"),
        &format!("a time before the suite duration {duration}"),
        e.at,
    );
    match &e.action {
        Action::Scale {
            deployment,
            replicas,
        } => {
            c.reference(
                &format!("{p}.scale.deployment"),
                deployment,
                "deployment",
                deployments,
            );
            c.expect(
                *replicas <= 200,
                &format!("{p}.scale.replicas"),
                REPLICAS,
                replicas,
            );
        }
        Action::Kill { deployment, count } => {
            c.reference(
                &format!("{p}.kill.deployment"),
                deployment,
                "deployment",
                deployments,
            );
            c.expect(*count >= 1, &format!("{p}.kill.count"), KILL_COUNT, count);
        }
        Action::DeletePod { deployment, index } => {
            c.reference(
                &format!("{p}.delete_pod.deployment"),
                deployment,
                "deployment",
                deployments,
            );
            c.expect(
                *index < 200,
                &format!("{p}.delete_pod.index"),
                POD_INDEX,
                index,
            );
        }
        Action::FlushCt { node } => {
            if let Some(n) = node {
                c.node(&format!("{p}.flush_ct.node"), *n, nodes);
            }
        }
        Action::RestartClient { client } => {
            c.reference(
                &format!("{p}.restart_client.client"),
                client,
                "client",
                clients,
            );
        }
    }
}

/// Pods per node at peak must fit the node's /24 (.1 is the gateway).
///
/// A deployment counts with its highest replica count over the timeline
/// (initial or any `scale`), spread round robin over its nodes starting at
/// the first listed; each client is one more pod on its node.
fn pod_capacity(c: &mut Checker<'_>, suite: &Suite, nodes: u8) {
    let mut per_node = vec![0u32; usize::from(nodes)];
    let mut reported = vec![false; usize::from(nodes)];
    let mut over = |c: &mut Checker<'_>, per_node: &[u32], path: &str| {
        for (n, &count) in per_node.iter().enumerate() {
            if count > PODS_PER_NODE && !reported[n] {
                reported[n] = true;
                c.fail(
                    path,
                    format!(
                        "node {n} would hold {count} pods at peak (replicas at their highest over the timeline, plus client pods), but at most {PODS_PER_NODE} fit in 198.18.{n}.0/24"
                    ),
                );
            }
        }
    };
    for (i, d) in suite.deployments.iter().enumerate() {
        let peak = suite
            .timeline
            .iter()
            .filter_map(|e| match &e.action {
                Action::Scale {
                    deployment,
                    replicas,
                } if *deployment == d.name => Some(*replicas),
                _ => None,
            })
            .fold(d.replicas, u32::max)
            // Counts above 200 are reported by their own rule.
            .min(200);
        let mut places: Vec<u8> = Vec::new();
        if d.nodes.is_empty() {
            places.extend(0..nodes);
        } else {
            for &n in &d.nodes {
                if n < nodes && !places.contains(&n) {
                    places.push(n);
                }
            }
        }
        let k = u32::try_from(places.len()).unwrap_or(u32::MAX);
        if k == 0 {
            continue;
        }
        for (j, &n) in places.iter().enumerate() {
            let extra = u32::from(u32::try_from(j).unwrap_or(u32::MAX) < peak % k);
            per_node[usize::from(n)] += peak / k + extra;
        }
        over(c, &per_node, &format!("deployments[{i}].replicas"));
    }
    for (i, cl) in suite.clients.iter().enumerate() {
        if cl.node < nodes {
            per_node[usize::from(cl.node)] += 1;
            over(c, &per_node, &format!("clients[{i}].node"));
        }
    }
}

/// Checks `suite` and returns its first problem in document order.
pub fn validate(suite: &Suite, index: &PathIndex) -> Result<(), SuiteError> {
    match check(suite, index).into_iter().next() {
        Some(d) => Err(SuiteError::Invalid(d)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "web", "web-1", "0", "a-b-c"] {
            assert!(is_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "Web", "a_b", "a.b", &"a".repeat(41)] {
            assert!(!is_label(bad), "{bad}");
        }
    }

    #[test]
    fn expectation_patterns_ignore_indexes() {
        assert_eq!(expected_for("deployments[12].replicas"), Some(REPLICAS));
        assert_eq!(
            expected_for("clients[0].source_ports.range[1]"),
            Some(RANGE_PORT)
        );
        assert_eq!(expected_for("deployments[0].nope"), None);
    }
}
