//! What a valid suite may still get wrong, as positioned warnings that
//! `svclab validate` and `svclab run` print (`--deny-warnings` makes them
//! errors): a liveness probe that kills on one failure on the serving port
//! (incident B itself), a probe timeout longer than its period, and a
//! client whose source ports recur inside the client's TIME_WAIT.
use std::time::Duration;

use crate::{
    LoadedSuite,
    error::Diagnostic,
    index::PathIndex,
    model::{Closer, ConnectionMode, Deployment, LoadMode, PortMode, Probe, Suite},
};

/// Linux's TIME_WAIT (`TCP_TIMEWAIT_LEN`, 60 s): a port the client closed
/// first cannot connect to the same peer again before it ends.
const TIME_WAIT: Duration = Duration::from_secs(60);

/// The port a deployment's pods serve on.
fn serving_port(d: &Deployment) -> u16 {
    if let Some(c) = &d.container {
        c.port
    } else if let Some(n) = &d.nginx {
        n.port
    } else {
        d.server.port
    }
}

/// The port probe `p` targets, when it targets one (exec: none).
fn probe_port(p: &Probe, serving: u16) -> Option<u16> {
    if let Some(t) = &p.tcp {
        Some(t.port.unwrap_or(serving))
    } else {
        p.http.as_ref().map(|h| h.port.unwrap_or(serving))
    }
}

/// Every warning for `suite`, as (field path, message).
#[must_use]
pub fn suite_warnings(suite: &Suite) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, d) in suite.deployments.iter().enumerate() {
        let serving = serving_port(d);
        if let Some(l) = &d.probes.liveness
            && l.failure_threshold == 1
            && probe_port(l, serving) == Some(serving)
        {
            out.push((
                format!("deployments[{i}].probes.liveness.failure_threshold"),
                format!(
                    "1 on the serving port {serving}: one slow or refused probe restarts a pod that is only busy, and its load moves to the others (the liveness cascade of incident B); use at least 3, or probe a health port of its own (`server.health`)"
                ),
            ));
        }
        for (kind, p) in [
            ("startup", &d.probes.startup),
            ("readiness", &d.probes.readiness),
            ("liveness", &d.probes.liveness),
        ] {
            let Some(p) = p else { continue };
            // As written (Kubernetes' fields): kubelet.time_scale shortens
            // periods but not timeouts, which are compared with real latency.
            if p.timeout.0 > p.period.0 {
                out.push((
                    format!("deployments[{i}].probes.{kind}.timeout"),
                    format!(
                        "{} is longer than the period {}: kubelet waits for each attempt, so a probe that hangs runs only every {} and its failures come that far apart",
                        p.timeout, p.period, p.timeout
                    ),
                ));
            }
        }
    }
    for (i, c) in suite.clients.iter().enumerate() {
        if c.connection != ConnectionMode::PerRequest || c.load.mode != LoadMode::Open {
            continue;
        }
        let client_closes = suite
            .services
            .iter()
            .find(|s| s.name == c.service)
            .and_then(|s| suite.deployments.iter().find(|d| d.name == s.selector))
            .is_some_and(|d| {
                d.container.is_none() && d.nginx.is_none() && d.server.close == Closer::Client
            });
        let ports = u32::from(c.source_ports.range[1]) - u32::from(c.source_ports.range[0]) + 1;
        if !client_closes || c.load.rate == 0 {
            continue;
        }
        let recur = Duration::from_secs_f64(f64::from(ports) / f64::from(c.load.rate));
        if recur < TIME_WAIT {
            let what = match c.source_ports.mode {
                PortMode::Pool => "connects fail with EADDRINUSE",
                PortMode::Ephemeral => "the kernel runs out of ports (EADDRNOTAVAIL)",
            };
            out.push((
                format!("clients[{i}].load.rate"),
                format!(
                    "{} req/s over {ports} source ports reuses each every {:.1} s, inside the client's 60 s TIME_WAIT (its server closes `client`): {what}",
                    c.load.rate,
                    recur.as_secs_f64()
                ),
            ));
        }
    }
    for (i, e) in suite.timeline.iter().enumerate() {
        let crate::model::Action::Fault(f) = &e.action else {
            continue;
        };
        if let Some(l) = &f.loss
            && let (Some(p), Some(c)) = (l.percent, l.correlation)
            && c > 0.0
        {
            let real = crate::model::netem_correlated_loss(p, c);
            if (real - p).abs() > 0.1 * p.max(1.0) {
                out.push((
                    format!("timeline[{i}].fault.loss.correlation"),
                    format!(
                        "netem's correlated loss does not keep the rate: {p}% with {c}% correlation drops about {real:.2}% (its draws average toward the middle; svclab does what netem does); for bursts at a set rate use `burst`"
                    ),
                ));
            }
        }
    }
    out
}

/// [`suite_warnings`] located in the suite's file.
#[must_use]
pub fn warnings(loaded: &LoadedSuite) -> Vec<Diagnostic> {
    locate(loaded, suite_warnings(&loaded.suite))
}

/// [`crate::machine_problems`] located in the suite's file: what `run`
/// would refuse to start without, which `validate` and `list` only warn
/// about.
#[must_use]
pub fn machine_warnings(loaded: &LoadedSuite) -> Vec<Diagnostic> {
    locate(loaded, crate::machine_problems(&loaded.suite))
}

fn locate(loaded: &LoadedSuite, w: Vec<(String, String)>) -> Vec<Diagnostic> {
    if w.is_empty() {
        return Vec::new();
    }
    let Ok(index) = PathIndex::read(&loaded.text, &loaded.path) else {
        return Vec::new();
    };
    let mut out: Vec<Diagnostic> = w
        .into_iter()
        .map(|(field, message)| {
            let pos = index.locate(&field);
            index.diagnostic(pos, &field, message)
        })
        .collect();
    out.sort_by_key(|d| (d.line, d.column));
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn load(extra_deploy: &str, client: &str) -> LoadedSuite {
        let text = format!(
            "name: w\nduration: 20s\ndeployments:\n  - name: web\n    replicas: 2\n{extra_deploy}services:\n  - {{ name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }}\nclients:\n  - {client}\n"
        );
        crate::parse(&text, Path::new("w.yaml")).expect("valid suite")
    }

    fn fields(l: &LoadedSuite) -> Vec<String> {
        warnings(l).into_iter().map(|d| d.field).collect()
    }

    #[test]
    fn a_clean_suite_has_none() {
        let l = load("", "{ name: c, service: web }");
        assert!(warnings(&l).is_empty());
    }

    #[test]
    fn liveness_killing_on_one_failure_on_the_serving_port() {
        let l = load(
            "    probes:\n      liveness: { tcp: {}, failure_threshold: 1 }\n",
            "{ name: c, service: web }",
        );
        let w = warnings(&l);
        assert_eq!(
            fields(&l),
            ["deployments[0].probes.liveness.failure_threshold"]
        );
        assert_eq!(w[0].line, 7, "{w:?}");
        assert!(w[0].message.contains("incident B"), "{w:?}");
        // On a health port of its own: fine.
        let l = load(
            "    server: { health: { port: 9090 } }\n    probes:\n      liveness: { http: { port: 9090 }, failure_threshold: 1 }\n",
            "{ name: c, service: web }",
        );
        assert!(warnings(&l).is_empty());
        // Threshold 3 on the serving port: fine.
        let l = load(
            "    probes:\n      liveness: { tcp: {} }\n",
            "{ name: c, service: web }",
        );
        assert!(warnings(&l).is_empty());
    }

    #[test]
    fn a_probe_timeout_longer_than_its_period() {
        let l = load(
            "    probes:\n      readiness: { tcp: {}, period: 1s, timeout: 2s }\n",
            "{ name: c, service: web }",
        );
        assert_eq!(fields(&l), ["deployments[0].probes.readiness.timeout"]);
    }

    #[test]
    fn ports_recurring_inside_the_clients_time_wait() {
        let l = load(
            "    server: { close: client }\n",
            "{ name: c, service: web, source_ports: { mode: pool, range: [40000, 40999] }, load: { mode: open, rate: 100 } }",
        );
        let w = warnings(&l);
        assert_eq!(fields(&l), ["clients[0].load.rate"]);
        assert!(
            w[0].message.contains("every 10.0 s") && w[0].message.contains("EADDRINUSE"),
            "{w:?}"
        );
        // The server closes first: no TIME_WAIT on the client.
        let l = load(
            "    server: { close: server }\n",
            "{ name: c, service: web, source_ports: { mode: pool, range: [40000, 40999] }, load: { mode: open, rate: 100 } }",
        );
        assert!(warnings(&l).is_empty());
    }
}
