//! The imported suite as commented YAML: a header naming the sources, every
//! unmapped field and the notes; the mapped sections with the manifest
//! field each value came from beside it; a client/timeline/expect skeleton
//! the user completes. Written by hand (serde_yaml writes no comments) and
//! read back by `svclab_suite::parse`, which [`check_round_trip`] compares
//! with the model the stages built.
use std::{fmt::Write as _, path::Path};

use svclab_suite::model::{
    self, IntOrPercent, Probe, ServiceType, SessionAffinity, StrategyType, TrafficPolicy,
};

use super::{error::Unmapped, hpa, service, workload};

/// What the suite is made of.
pub(crate) struct Parts<'a> {
    pub name: &'a str,
    pub sources: &'a [&'a Path],
    pub unmapped: &'a [Unmapped],
    pub notes: &'a [String],
    pub deployments: &'a [workload::Mapped],
    pub services: &'a [service::Mapped],
    pub autoscalers: &'a [hpa::Mapped],
}

/// A YAML line builder: `line` writes `text` at the current indent with an
/// optional trailing comment.
struct Out(String);

impl Out {
    fn line(&mut self, indent: usize, text: &str, comment: Option<&String>) {
        self.0.push_str(&" ".repeat(indent));
        self.0.push_str(text);
        if let Some(c) = comment {
            let _ = write!(self.0, "  # {}", one_line(c));
        }
        self.0.push('\n');
    }
    fn comment(&mut self, indent: usize, text: &str) {
        let _ = writeln!(self.0, "{}# {}", " ".repeat(indent), one_line(text));
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A YAML scalar for `s`: plain when that reads back as the same string,
/// else JSON-quoted (a JSON string is a YAML double-quoted scalar).
fn q(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

fn num(v: f64) -> String {
    format!("{v}")
}

fn int_or_percent(v: &IntOrPercent) -> String {
    match v {
        IntOrPercent::Count(n) => n.to_string(),
        IntOrPercent::Percent(s) => serde_json::to_string(s).unwrap_or_default(),
    }
}

/// The suite text.
pub(crate) fn suite(p: &Parts<'_>) -> String {
    let mut o = Out(String::new());
    let sources: Vec<String> = p.sources.iter().map(|s| s.display().to_string()).collect();
    o.comment(
        0,
        &format!("Imported by `svclab import` from {}.", sources.join(", ")),
    );
    o.comment(
        0,
        "What this reproduces: TODO: the incident, its mechanism and how this suite shows it.",
    );
    o.comment(
        0,
        "Expected verdict: TODO: PASS or FAIL, and which expectations decide it.",
    );
    o.0.push_str("#\n");
    if p.unmapped.is_empty() {
        o.comment(
            0,
            "Not mapped: nothing; every field of the input is in this suite.",
        );
    } else {
        o.comment(
            0,
            &format!(
                "Not mapped ({}): in the manifests but not in this suite; check each before trusting a run.",
                p.unmapped.len()
            ),
        );
        for u in p.unmapped {
            o.comment(0, &format!("  - {u}"));
        }
    }
    o.0.push_str("#\n");
    o.comment(0, "Notes:");
    for n in p.notes {
        o.comment(0, &format!("  - {n}"));
    }
    for n in [
        "metadata other than names and labels (uid, resourceVersion, managedFields, ...) and status are the apiserver's bookkeeping and are not read.",
        "Not in any manifest, so at svclab's defaults: the pod server's workload (workers 4, backlog 128, service_time and cpu_time 0), kubelet.time_scale 1, the HPA's sync period (15s) and tolerance (0.1), cluster.nodes 1: set them to the incident's.",
    ] {
        o.comment(0, &format!("  - {n}"));
    }
    o.line(0, &format!("name: {}", q(p.name)), None);
    o.line(
        0,
        &format!(
            "description: {}",
            q(&format!(
                "TODO: one line on what this suite shows (imported from {})",
                sources.join(", ")
            ))
        ),
        None,
    );
    o.line(
        0,
        "duration: 60s",
        Some(&"TODO: the run's length".to_owned()),
    );
    if p.services
        .iter()
        .any(|s| s.model.traffic_distribution.is_some())
    {
        o.line(0, "cluster:", None);
        o.line(
            2,
            "nodes: 2",
            Some(&"TODO: the customer's zones; PreferClose needs zones".to_owned()),
        );
        o.line(2, "zones: [zone-a, zone-b]", None);
    }
    o.line(0, "deployments:", None);
    for d in p.deployments {
        deployment(&mut o, d);
    }
    if p.services.is_empty() {
        o.line(
            0,
            "services: []",
            Some(&"no Service in the input".to_owned()),
        );
    } else {
        o.line(0, "services:", None);
        for s in p.services {
            service(&mut o, s);
        }
    }
    if !p.autoscalers.is_empty() {
        o.line(0, "autoscalers:", None);
        for a in p.autoscalers {
            autoscaler(&mut o, a);
        }
    }
    skeleton(&mut o, p);
    o.0
}

fn deployment(o: &mut Out, d: &workload::Mapped) {
    let m = &d.model;
    let c = |k: &str| d.comments.get(k);
    for h in &d.head {
        o.comment(2, h);
    }
    o.line(2, &format!("- name: {}", q(&m.name)), None);
    o.line(4, &format!("replicas: {}", m.replicas), c("replicas"));
    if let Some(ct) = &m.container {
        o.line(4, "container:", c("container"));
        o.line(6, &format!("command: {}", list(&ct.command)), None);
        o.line(6, &format!("port: {}", ct.port), c("server.port"));
    } else {
        let s = &m.server;
        o.line(4, "server:", None);
        o.line(6, &format!("port: {}", s.port), c("server.port"));
        o.line(6, &format!("cpus: {}", num(s.cpus)), c("server.cpus"));
        if let Some(h) = &s.health {
            o.line(
                6,
                &format!("health: {{ port: {} }}", h.port),
                c("server.health"),
            );
        }
        o.comment(
            6,
            "TODO: the workload is not in a manifest: workers (4), backlog (128), service_time, cpu_time (0ms)",
        );
    }
    let probes = [
        ("startup", &m.probes.startup),
        ("readiness", &m.probes.readiness),
        ("liveness", &m.probes.liveness),
    ];
    if probes.iter().any(|(_, p)| p.is_some()) {
        o.line(4, "probes:", None);
        for (kind, p) in probes {
            if let Some(p) = p {
                o.line(6, &format!("{kind}:"), c(&format!("probes.{kind}")));
                probe(o, p, c(&format!("probes.{kind}.handler")));
            }
        }
    }
    o.line(
        4,
        &format!("termination_grace: {}", m.termination_grace),
        c("termination_grace"),
    );
    if let Some(pre) = &m.lifecycle.pre_stop {
        o.line(4, "lifecycle:", None);
        o.line(6, "pre_stop:", Some(&"from lifecycle.preStop".to_owned()));
        if let Some(e) = &pre.exec {
            o.line(
                8,
                &format!("exec: {{ command: {} }}", list(&e.command)),
                Some(&"runs on this host in the pod's netns".to_owned()),
            );
        }
        if let Some(g) = &pre.http_get {
            o.line(8, "http_get:", None);
            o.line(10, &format!("path: {}", q(&g.path)), None);
            if let Some(port) = g.port {
                o.line(10, &format!("port: {port}"), None);
            }
            headers(o, 10, &g.headers);
        }
        if let Some(s) = pre.sleep {
            o.line(8, &format!("sleep: {s}"), None);
        }
    }
    let st = &m.strategy;
    o.line(4, "strategy:", c("strategy"));
    match st.kind {
        StrategyType::Recreate => o.line(6, "type: Recreate", None),
        StrategyType::RollingUpdate => {
            o.line(6, "type: RollingUpdate", None);
            o.line(
                6,
                &format!("max_surge: {}", int_or_percent(&st.max_surge)),
                None,
            );
            o.line(
                6,
                &format!("max_unavailable: {}", int_or_percent(&st.max_unavailable)),
                None,
            );
        }
    }
    o.line(
        4,
        &format!("min_ready_seconds: {}", m.min_ready_seconds),
        c("min_ready_seconds"),
    );
    if m.unreachable_toleration != model::Dur::from_secs(300) {
        o.line(
            4,
            &format!("unreachable_toleration: {}", m.unreachable_toleration),
            c("unreachable_toleration"),
        );
    }
}

fn probe(o: &mut Out, p: &Probe, note: Option<&String>) {
    if let Some(t) = &p.tcp {
        match t.port {
            Some(port) => o.line(8, &format!("tcp: {{ port: {port} }}"), note),
            None => o.line(8, "tcp: {}", note),
        }
    }
    if let Some(h) = &p.http {
        o.line(8, "http:", note);
        o.line(10, &format!("path: {}", q(&h.path)), None);
        if let Some(port) = h.port {
            o.line(10, &format!("port: {port}"), None);
        }
        headers(o, 10, &h.headers);
    }
    if let Some(e) = &p.exec {
        o.line(
            8,
            &format!("exec: {{ command: {} }}", list(&e.command)),
            note,
        );
    }
    o.line(8, &format!("initial_delay: {}", p.initial_delay), None);
    o.line(8, &format!("period: {}", p.period), None);
    o.line(8, &format!("timeout: {}", p.timeout), None);
    o.line(
        8,
        &format!("success_threshold: {}", p.success_threshold),
        None,
    );
    o.line(
        8,
        &format!("failure_threshold: {}", p.failure_threshold),
        None,
    );
}

fn headers(o: &mut Out, indent: usize, h: &[model::HttpHeader]) {
    if h.is_empty() {
        return;
    }
    o.line(indent, "headers:", None);
    for h in h {
        o.line(
            indent + 2,
            &format!(
                "- {{ name: {}, value: {} }}",
                q(&h.name),
                serde_json::to_string(&h.value).unwrap_or_default()
            ),
            None,
        );
    }
}

fn service(o: &mut Out, s: &service::Mapped) {
    let m = &s.model;
    let c = |k: &str| s.comments.get(k);
    for h in &s.head {
        o.comment(2, h);
    }
    o.line(2, &format!("- name: {}", q(&m.name)), None);
    o.line(4, &format!("cluster_ip: {}", m.cluster_ip), c("cluster_ip"));
    o.line(4, &format!("port: {}", m.port), c("port"));
    if let Some(t) = m.target_port {
        o.line(4, &format!("target_port: {t}"), None);
    }
    o.line(4, &format!("selector: {}", q(&m.selector)), c("selector"));
    if m.service_type == ServiceType::NodePort {
        o.line(4, "type: NodePort", c("type"));
        if let Some(np) = m.node_port {
            o.line(4, &format!("node_port: {np}"), None);
        }
        if let Some(p) = m.external_traffic_policy {
            o.line(4, &format!("external_traffic_policy: {}", policy(p)), None);
        }
    }
    if m.session_affinity == SessionAffinity::ClientIp {
        o.line(4, "session_affinity: ClientIP", None);
        if let Some(t) = m.session_affinity_timeout {
            o.line(4, &format!("session_affinity_timeout: {t}"), None);
        }
    }
    if m.internal_traffic_policy == TrafficPolicy::Local {
        o.line(4, "internal_traffic_policy: Local", None);
    }
    if m.traffic_distribution.is_some() {
        o.line(4, "traffic_distribution: PreferClose", None);
    }
}

fn policy(p: TrafficPolicy) -> &'static str {
    match p {
        TrafficPolicy::Cluster => "Cluster",
        TrafficPolicy::Local => "Local",
    }
}

fn autoscaler(o: &mut Out, a: &hpa::Mapped) {
    let m = &a.model;
    let c = |k: &str| a.comments.get(k);
    for h in &a.head {
        o.comment(2, h);
    }
    o.line(2, &format!("- deployment: {}", q(&m.deployment)), None);
    o.line(4, &format!("min_replicas: {}", m.min_replicas), None);
    o.line(4, &format!("max_replicas: {}", m.max_replicas), None);
    let kind = match m.metric.kind {
        model::HpaMetricKind::BusyWorkers => "busy-workers",
        model::HpaMetricKind::RequestRate => "request-rate",
    };
    o.line(
        4,
        &format!(
            "metric: {{ kind: {kind}, target: {} }}",
            num(m.metric.target)
        ),
        c("metric"),
    );
    o.line(
        4,
        &format!("scale_up_stabilization: {}", m.scale_up_stabilization),
        c("scale_up_stabilization"),
    );
    o.line(
        4,
        &format!("scale_down_stabilization: {}", m.scale_down_stabilization),
        c("scale_down_stabilization"),
    );
    if (m.tolerance - 0.1).abs() > 1e-12 {
        o.line(
            4,
            &format!("tolerance: {}", num(m.tolerance)),
            c("tolerance"),
        );
    }
}

/// Client names: `<service>-client`, within 40 characters.
pub(crate) fn client_name(service: &str) -> String {
    let stem: String = service.chars().take(33).collect();
    format!("{}-client", stem.trim_end_matches('-'))
}

fn skeleton(o: &mut Out, p: &Parts<'_>) {
    o.comment(
        0,
        "Load: TODO. One client per service at 100 req/s, open loop, a new connection per request:",
    );
    o.comment(
        0,
        "set each to the customer's traffic (rate or concurrency, keep-alive, timeout, `external: true` for a NodePort from outside).",
    );
    let first_client = p.services.first().map(|s| client_name(&s.model.name));
    if p.services.is_empty() {
        o.line(0, "clients: []", None);
    } else {
        o.line(0, "clients:", None);
        for s in p.services {
            o.line(
                2,
                &format!("- name: {}", q(&client_name(&s.model.name))),
                None,
            );
            o.line(4, &format!("service: {}", q(&s.model.name)), None);
            o.line(
                4,
                "load: { mode: open, rate: 100 }",
                Some(&"TODO: the customer's request rate".to_owned()),
            );
            o.line(
                4,
                "timeout: 2s",
                Some(&"TODO: the callers' timeout".to_owned()),
            );
        }
    }
    let d = p
        .deployments
        .first()
        .map(|d| d.model.name.clone())
        .unwrap_or_default();
    o.comment(0, "What happens during the run: TODO. For example:");
    if let Some(client) = &first_client {
        o.comment(0, "  - at: 15s");
        o.comment(
            0,
            &format!("    spike: {{ client: {client}, rate: 300, duration: 30s }}"),
        );
    }
    o.comment(0, "  - at: 20s");
    o.comment(0, &format!("    kill: {{ deployment: {d}, count: 1 }}"));
    o.comment(0, "  - at: 40s");
    o.comment(0, &format!("    scale: {{ deployment: {d}, replicas: 2 }}"));
    o.line(0, "timeline: []", None);
    o.comment(0, "The verdict: TODO. For example:");
    o.comment(0, "  - metric: error_rate");
    o.comment(0, "    window: [15s, 45s]");
    o.comment(0, "    max: 0.01");
    o.comment(0, "    note: no errors while pods are replaced");
    o.line(0, "expect: []", None);
}

/// Whether the suite read back holds what the stages built.
pub(crate) fn check_round_trip(
    suite: &model::Suite,
    deployments: &[workload::Mapped],
    services: &[service::Mapped],
    autoscalers: &[hpa::Mapped],
) -> Result<(), String> {
    let want: Vec<&model::Deployment> = deployments.iter().map(|d| &d.model).collect();
    let got: Vec<&model::Deployment> = suite.deployments.iter().collect();
    if want != got {
        return Err(format!("deployments read back as {got:?}, built {want:?}"));
    }
    let want: Vec<&model::Service> = services.iter().map(|s| &s.model).collect();
    let got: Vec<&model::Service> = suite.services.iter().collect();
    if want != got {
        return Err(format!("services read back as {got:?}, built {want:?}"));
    }
    let want: Vec<&model::Autoscaler> = autoscalers.iter().map(|a| &a.model).collect();
    let got: Vec<&model::Autoscaler> = suite.autoscalers.iter().collect();
    if want != got {
        return Err(format!("autoscalers read back as {got:?}, built {want:?}"));
    }
    Ok(())
}
