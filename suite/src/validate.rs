//! Semantic validation: the rules a well-typed suite must also meet before
//! the harness creates anything in the kernel (ranges, references between
//! sections, address and port collisions, per-node pod capacity).
//!
//! The expectation texts the rules print live in [`crate::expected`].
use std::{
    collections::{HashMap, HashSet},
    fmt::Display,
    net::Ipv4Addr,
    time::Duration,
};

use crate::{
    error::{Diagnostic, SuiteError},
    expected::*,
    index::PathIndex,
    model::{
        Action, Autoscaler, ConnectionMode, Dur, HpaMetricKind, LoadMode, METRICS, PortMode, Probe,
        Suite, TimelineEntry,
    },
};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Maglev needs a prime table size; these are Cilium's accepted values.
const MAGLEV_SIZES: &[u32] = &[251, 509, 1021, 2039, 4093, 8191, 16381];
/// Pod addresses per node: 198.18.<node>.2..=254, less a little headroom.
const PODS_PER_NODE: u32 = 250;

/// An HTTP/1.1 request target we can put on the request line as is.
fn is_http_path(s: &str) -> bool {
    s.starts_with('/') && s.len() <= 1024 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// RFC 9110 `token` (a field name): 1 or more tchar.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 9110 §5.5: CR, LF and NUL in a field value are invalid (and would
/// split or cut the request).
fn is_header_value(s: &str) -> bool {
    !s.contains(['\r', '\n', '\0'])
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
        self.out.push(self.ix.diagnostic(pos, path, message));
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

    /// A kubelet/HPA period: above 0s and, once multiplied by `scale`
    /// (kubelet.time_scale, `None` while that is itself invalid), at least
    /// 100ms, so a scaled-down run does not turn into a busy loop.
    fn scaled_period(&mut self, path: &str, v: Dur, scale: Option<f64>) {
        let ms = v.0.as_secs_f64() * 1000.0;
        // The tolerance absorbs binary rounding (10s × 0.01 is 100ms).
        let ok = !v.0.is_zero() && scale.is_none_or(|s| ms * s >= 100.0 - 1e-6);
        let what = match scale {
            Some(s) if s != 1.0 => {
                // 100.0 / s is at most 10000 for a valid scale: no truncation.
                let least = Dur::from_millis((100.0 / s - 1e-6).ceil() as u64);
                format!("{PROBE_PERIOD} (with time_scale {s}: at least {least})")
            }
            _ => PROBE_PERIOD.to_owned(),
        };
        self.expect(ok, path, &what, v);
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

    c.expect(
        is_suite_name(&suite.name),
        "name",
        SUITE_NAME,
        format!("{:?}", suite.name),
    );
    let dur_ok = !dur.is_zero() && dur <= HOUR;
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
        dp.rebalance_grace.0 <= HOUR,
        "datapath.rebalance_grace",
        AT_MOST_1H,
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

    let ts = suite.kubelet.time_scale;
    let scale_ok = (0.01..=1.0).contains(&ts);
    c.expect(scale_ok, "kubelet.time_scale", TIME_SCALE, ts);
    // Like `dur`: scaled checks wait for a valid scale.
    let scale = scale_ok.then_some(ts);

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
        c.expect(
            s.startup_time.0 <= 10 * MINUTE,
            &format!("{p}.server.startup_time"),
            AT_MOST_10M,
            s.startup_time,
        );
        c.expect(
            s.read_timeout.0 >= ms(10) && s.read_timeout.0 <= 10 * MINUTE,
            &format!("{p}.server.read_timeout"),
            READ_TIMEOUT,
            s.read_timeout,
        );
        let pr = &d.probes;
        for (kind, probe) in [
            ("startup", &pr.startup),
            ("readiness", &pr.readiness),
            ("liveness", &pr.liveness),
        ] {
            if let Some(probe) = probe {
                check_probe(&mut c, &format!("{p}.probes.{kind}"), kind, probe, scale);
            }
        }
        c.expect(
            d.termination_grace.0 <= 10 * MINUTE,
            &format!("{p}.termination_grace"),
            AT_MOST_10M,
            d.termination_grace,
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
    let mut client_info: HashMap<&str, ClientInfo> = HashMap::new();
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
        let start_ok = cl.start.0 < dur;
        c.expect(
            start_ok,
            &format!("{p}.start"),
            &format!("a start before the suite duration {}", suite.duration),
            cl.start,
        );
        let end = cl.duration.map_or(dur, |d| cl.start.0 + d.0);
        let length_ok = cl.duration.is_none_or(|d| !d.0.is_zero() && end <= dur);
        if let Some(d) = cl.duration {
            c.expect(
                length_ok,
                &format!("{p}.duration"),
                &format!(
                    "a duration above 0s that ends by the suite's end (start {} + duration <= {})",
                    cl.start, suite.duration
                ),
                d,
            );
        }
        // A duplicate name is reported above; spikes refer to the first.
        client_info.entry(&cl.name).or_insert(ClientInfo {
            mode: cl.load.mode,
            window: (dur_ok && start_ok && length_ok).then_some((cl.start, Dur(end))),
        });
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

    let known = Known {
        duration: Dur(dur),
        nodes,
        deployments: &deployments,
        clients: &clients,
        client_info: &client_info,
    };
    for (i, e) in suite.timeline.iter().enumerate() {
        timeline_entry(&mut c, i, e, &known);
    }

    let mut scaled: HashMap<&str, usize> = HashMap::new();
    for (i, a) in suite.autoscalers.iter().enumerate() {
        autoscaler(&mut c, suite, i, a, scale, &deployments, &mut scaled);
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

/// What the timeline checks need from the rest of the suite.
struct Known<'a> {
    /// The suite duration, or [`Duration::MAX`] while it is itself invalid.
    duration: Dur,
    nodes: Option<u8>,
    deployments: &'a HashSet<&'a str>,
    clients: &'a HashSet<&'a str>,
    client_info: &'a HashMap<&'a str, ClientInfo>,
}

/// A client as a spike sees it.
struct ClientInfo {
    mode: LoadMode,
    /// [start, end) of its sending, when its start and duration are valid.
    window: Option<(Dur, Dur)>,
}

fn timeline_entry(c: &mut Checker<'_>, i: usize, e: &TimelineEntry, k: &Known<'_>) {
    let Known {
        duration,
        nodes,
        deployments,
        clients,
        client_info,
    } = *k;
    let p = format!("timeline[{i}]");
    c.expect(
        e.at < duration,
        &format!("{p}.at"),
        &format!("a time before the suite duration {duration}"),
        e.at,
    );
    match &e.action {
        Action::Spike {
            client,
            rate,
            duration: length,
        } => {
            let cp = format!("{p}.spike.client");
            c.reference(&cp, client, "client", clients);
            let info = client_info.get(client.as_str());
            if let Some(ClientInfo {
                mode: LoadMode::Closed,
                ..
            }) = info
            {
                c.fail(
                    &cp,
                    format!(
                        "client `{client}` runs a closed loop (load.mode: closed); a spike sets an arrival rate, so it needs a client with load.mode: open"
                    ),
                );
            }
            c.expect(
                (1..=50_000).contains(rate),
                &format!("{p}.spike.rate"),
                RATE,
                rate,
            );
            let lp = format!("{p}.spike.duration");
            let fits = length.is_none_or(|l| !l.0.is_zero() && e.at.0 + l.0 <= duration.0);
            if let Some(l) = length {
                c.expect(
                    fits,
                    &lp,
                    &format!("{SPIKE_DURATION} (at {} + duration <= {duration})", e.at),
                    l,
                );
            }
            // The spike changes the client's rate, so it must happen while
            // the client sends: a spike outside that window does nothing.
            if let Some(&ClientInfo {
                window: Some((start, end)),
                ..
            }) = info
                && e.at < duration
            {
                if e.at < start || e.at >= end {
                    c.fail(
                        &format!("{p}.at"),
                        format!(
                            "expected a time while client `{client}` sends ([{start}, {end}): its start to start + duration), got {}",
                            e.at
                        ),
                    );
                } else if let Some(l) = length
                    && fits
                    && e.at.0 + l.0 > end.0
                {
                    c.fail(
                        &lp,
                        format!(
                            "expected a spike that ends by the time client `{client}` stops ({end}): a duration of at most {}, got {l}",
                            Dur(end.0 - e.at.0)
                        ),
                    );
                }
            }
        }
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
            c.expect(*count >= 1, &format!("{p}.kill.count"), AT_LEAST_1, count);
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

/// One probe: its handler and kubelet's timing fields. `kind` is
/// `startup`, `readiness` or `liveness`; `scale` is kubelet.time_scale when
/// valid. A port that neither the server nor its health listener opens is
/// allowed: a misconfigured probe is a scenario worth running.
fn check_probe(c: &mut Checker<'_>, p: &str, kind: &str, probe: &Probe, scale: Option<f64>) {
    let handlers = [
        ("tcp", probe.tcp.is_some()),
        ("http", probe.http.is_some()),
        ("exec", probe.exec.is_some()),
    ];
    let given: Vec<&str> = handlers.iter().filter(|h| h.1).map(|h| h.0).collect();
    if given.len() != 1 {
        let got = if given.is_empty() {
            // `tcp:` with no value reads as no handler at all: say so.
            let written = handlers
                .iter()
                .map(|h| h.0)
                .find(|k| c.ix.get(&format!("{p}.{k}")).is_some());
            match written {
                Some("exec") => "none (`exec:` has no value)".to_owned(),
                Some(k) => format!("none (`{k}:` has no value; `{k}: {{}}` takes its defaults)"),
                None => "none".to_owned(),
            }
        } else {
            ticked_list(&given, "and")
        };
        c.fail(
            p,
            format!("a probe needs exactly one handler of `tcp`, `http`, `exec`; got {got}"),
        );
    }
    c.expect(
        probe.initial_delay.0 <= HOUR,
        &format!("{p}.initial_delay"),
        AT_MOST_1H,
        probe.initial_delay,
    );
    c.scaled_period(&format!("{p}.period"), probe.period, scale);
    c.expect(
        probe.timeout.0 >= Duration::from_millis(10) && probe.timeout.0 <= MINUTE,
        &format!("{p}.timeout"),
        PROBE_TIMEOUT,
        probe.timeout,
    );
    let st = probe.success_threshold;
    let sp = format!("{p}.success_threshold");
    if kind == "readiness" {
        c.expect(st >= 1, &sp, AT_LEAST_1, st);
    } else {
        c.expect(st == 1, &sp, SUCCESS_ONE, st);
    }
    c.expect(
        (1..=1000).contains(&probe.failure_threshold),
        &format!("{p}.failure_threshold"),
        FAILURE,
        probe.failure_threshold,
    );
    if let Some(t) = &probe.tcp
        && let Some(port) = t.port
    {
        c.expect(port != 0, &format!("{p}.tcp.port"), PORT, port);
    }
    if let Some(h) = &probe.http {
        let got = if h.path.len() > 1024 {
            format!("a path of {} bytes", h.path.len())
        } else {
            format!("{:?}", h.path)
        };
        c.expect(
            is_http_path(&h.path),
            &format!("{p}.http.path"),
            HTTP_PATH,
            got,
        );
        if let Some(port) = h.port {
            c.expect(port != 0, &format!("{p}.http.port"), PORT, port);
        }
        for (j, hd) in h.headers.iter().enumerate() {
            let hp = format!("{p}.http.headers[{j}]");
            c.expect(
                is_token(&hd.name),
                &format!("{hp}.name"),
                HEADER_NAME,
                format!("{:?}", hd.name),
            );
            c.expect(
                is_header_value(&hd.value),
                &format!("{hp}.value"),
                HEADER_VALUE,
                format!("{:?}", hd.value),
            );
        }
    }
    if let Some(x) = &probe.exec {
        let cp = format!("{p}.exec.command");
        match x.command.first() {
            None => c.fail(&cp, format!("expected {EXEC_COMMAND}, got an empty list")),
            Some(program) if program.is_empty() => c.fail(
                &format!("{cp}[0]"),
                "expected a program to run (the first argument of the command), got \"\""
                    .to_owned(),
            ),
            Some(_) => {}
        }
    }
}

/// `autoscalers[i]`; `scaled` maps each deployment already given an
/// autoscaler to that autoscaler's index.
fn autoscaler<'s>(
    c: &mut Checker<'_>,
    suite: &Suite,
    i: usize,
    a: &'s Autoscaler,
    scale: Option<f64>,
    deployments: &HashSet<&str>,
    scaled: &mut HashMap<&'s str, usize>,
) {
    let p = format!("autoscalers[{i}]");
    let dp = format!("{p}.deployment");
    c.reference(&dp, &a.deployment, "deployment", deployments);
    if let Some(first) = scaled.get(a.deployment.as_str()) {
        c.fail(
            &dp,
            format!(
                "deployment `{}` already has an autoscaler (autoscalers[{first}]); a deployment takes at most one",
                a.deployment
            ),
        );
    } else {
        scaled.insert(&a.deployment, i);
    }

    let (min, max) = (a.min_replicas, a.max_replicas);
    let (minp, maxp) = (format!("{p}.min_replicas"), format!("{p}.max_replicas"));
    let min_ok = (1..=200).contains(&min);
    c.expect(min_ok, &minp, MIN_REPLICAS, min);
    let max_ok = (min.max(1)..=200).contains(&max);
    let what = if min_ok {
        format!("{MAX_REPLICAS} (min_replicas is {min})")
    } else {
        MAX_REPLICAS.to_owned()
    };
    c.expect(max_ok, &maxp, &what, max);
    // The HPA clamps the current count into [min, max] at its first sync,
    // so a suite starting outside would measure the clamp, not its load.
    if min_ok
        && max_ok
        && let Some(d) = suite.deployments.iter().find(|d| d.name == a.deployment)
        && d.replicas <= 200
    {
        let (name, r) = (&d.name, d.replicas);
        if r == 0 {
            c.fail(
                &minp,
                format!(
                    "deployment `{name}` starts with replicas 0, and Kubernetes turns autoscaling off while a deployment has 0 replicas; give it replicas within [{min}, {max}]"
                ),
            );
        } else if r < min {
            c.fail(
                &minp,
                format!(
                    "deployment `{name}` starts with replicas {r}, below min_replicas {min}: Kubernetes would scale it up to {min} at once; give it replicas within [{min}, {max}]"
                ),
            );
        } else if r > max {
            c.fail(
                &maxp,
                format!(
                    "deployment `{name}` starts with replicas {r}, above max_replicas {max}: Kubernetes would scale it down to {max} at once; give it replicas within [{min}, {max}]"
                ),
            );
        }
    }

    let t = a.metric.target;
    let tp = format!("{p}.metric.target");
    match a.metric.kind {
        HpaMetricKind::BusyWorkers => c.expect(t > 0.0 && t <= 1.0, &tp, BUSY_TARGET, t),
        HpaMetricKind::RequestRate => {
            c.expect(t > 0.0 && t <= 1_000_000.0, &tp, RATE_TARGET, t);
        }
    }
    c.expect(
        (0.0..=1.0).contains(&a.tolerance),
        &format!("{p}.tolerance"),
        TOLERANCE,
        a.tolerance,
    );
    c.scaled_period(&format!("{p}.sync_period"), a.sync_period, scale);
    for (key, v) in [
        ("scale_up_stabilization", a.scale_up_stabilization),
        ("scale_down_stabilization", a.scale_down_stabilization),
    ] {
        c.expect(v.0 <= HOUR, &format!("{p}.{key}"), AT_MOST_1H, v);
    }
}

/// Pods per node at peak must fit the node's /24 (.1 is the gateway).
///
/// A deployment counts with its highest replica count over the run
/// (initial, any `scale`, or its autoscaler's max_replicas), spread round
/// robin over its nodes starting at the first listed; each client is one
/// more pod on its node.
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
                        "node {n} would hold {count} pods at peak (replicas at their highest over the timeline or autoscaler max_replicas, plus client pods), but at most {PODS_PER_NODE} fit in 198.18.{n}.0/24"
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
            .chain(
                suite
                    .autoscalers
                    .iter()
                    .filter(|a| a.deployment == d.name)
                    .map(|a| a.max_replicas),
            )
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
    fn http_tokens_paths_and_values() {
        for ok in ["Host", "X-Probe", "x_y.z", "!#$%&'*+-.^_`|~09"] {
            assert!(is_token(ok), "{ok}");
        }
        for bad in ["", "X Probe", "X:Y", "X\tY", "Ä", "(x)", "a/b"] {
            assert!(!is_token(bad), "{bad}");
        }
        for ok in ["/", "/healthz", "/ready?full=1&x=%20"] {
            assert!(is_http_path(ok), "{ok}");
        }
        let long = format!("/{}", "a".repeat(1024));
        for bad in ["", "healthz", "/a b", "/a\tb", "/a\u{7f}", &long] {
            assert!(!is_http_path(bad), "{bad:?}");
        }
        assert!(is_header_value("text/plain; q=0.9, */*"));
        for bad in ["a\rb", "a\nb", "a\0b"] {
            assert!(!is_header_value(bad), "{bad:?}");
        }
    }
}
