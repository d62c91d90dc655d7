//! Suite clients → batch/v1 Jobs running k6, each with its script in a
//! ConfigMap. k6 because its arrival-rate executors are an open loop with
//! a bound on VUs (svclab's `rate` and `max_in_flight`; beyond it k6
//! counts `dropped_iterations` as svclab counts `overload`), `constant-vus`
//! is the closed loop, `noConnectionReuse` is `per-request`, and a
//! `ramping-arrival-rate` carries the timeline's spikes at their times.
use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        batch::v1::{Job, JobSpec},
        core::v1::{
            ConfigMap, ConfigMapVolumeSource, Container, EnvVar, PodSecurityContext, PodSpec,
            PodTemplateSpec, Sysctl, Volume, VolumeMount,
        },
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde_json::{Value, json};
use svclab_suite::{
    Suite,
    model::{Action, Client, ConnectionMode, LoadMode, PortMode, node_ports},
};

use super::{Area, ExportError, K6_IMAGE, Notes, PLACEHOLDER, app_labels, to_yaml};

/// The Job (and ConfigMap, and pod label) name of a client.
#[must_use]
pub fn job_name(client: &str) -> String {
    format!("load-{client}")
}

/// The default `source_ports.range` (the kernel's ip_local_port_range).
const DEFAULT_RANGE: [u16; 2] = [32768, 60999];

/// VUs k6 allocates before the start (more come up to `max_in_flight`).
const PREALLOCATED_VUS: u32 = 50;

/// A ConfigMap and a Job per client.
pub(super) fn clients(suite: &Suite, notes: &mut Notes) -> Result<Vec<String>, ExportError> {
    let mut docs = Vec::new();
    let node_ports = node_ports(&suite.services);
    for c in &suite.clients {
        let (i, svc) = suite
            .services
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == c.service)
            .ok_or_else(|| ExportError::Dangling {
                field: format!("clients[{}].service", c.name),
                name: c.service.clone(),
                what: "service",
            })?;
        client_notes(suite, c, notes);
        let url = if c.external {
            match (svc.node_port, node_ports[i]) {
                (Some(port), _) => format!("'http://' + __ENV.NODE_ADDRESS + ':{port}/'"),
                // Not set in the suite, so not in the Service: the cluster
                // allocates it, and the Job reads it from NODE_PORT.
                (None, Some(_)) => {
                    "'http://' + __ENV.NODE_ADDRESS + ':' + __ENV.NODE_PORT + '/'".to_owned()
                }
                (None, None) => format!("'http://' + __ENV.NODE_ADDRESS + ':{}/'", svc.port),
            }
        } else {
            // The short name resolves in whatever namespace this is applied to.
            format!("'http://{}:{}/'", svc.name, svc.port)
        };
        let script = k6_script(suite, c, &url)?;
        let name = job_name(&c.name);
        let config = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(app_labels(&name)),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([("script.js".to_owned(), script)])),
            ..ConfigMap::default()
        };
        docs.push(to_yaml("load.yaml", &config)?);
        let node_port_unset = c.external && svc.node_port.is_none() && node_ports[i].is_some();
        if node_port_unset {
            notes.add(
                Area::Load,
                format!(
                    "clients[{}].external: services[{}] sets no node_port, so the cluster allocates one; set NODE_PORT in the Job (now {PLACEHOLDER}) to it: kubectl get service {} -o jsonpath='{{.spec.ports[0].nodePort}}'.",
                    c.name, svc.name, svc.name
                ),
            );
        }
        docs.push(to_yaml("load.yaml", &job(c, &name, node_port_unset))?);
    }
    Ok(docs)
}

/// `node_port_unset`: the client is external and its Service's NodePort is
/// the cluster's choice, so the Job takes it in NODE_PORT.
fn job(c: &Client, name: &str, node_port_unset: bool) -> Job {
    let mut env = Vec::new();
    if c.external {
        env.push(EnvVar {
            name: "NODE_ADDRESS".to_owned(),
            value: Some(PLACEHOLDER.to_owned()),
            value_from: None,
        });
        if node_port_unset {
            env.push(EnvVar {
                name: "NODE_PORT".to_owned(),
                value: Some(PLACEHOLDER.to_owned()),
                value_from: None,
            });
        }
    }
    let sysctls = (c.source_ports.mode == PortMode::Ephemeral
        && c.source_ports.range != DEFAULT_RANGE)
        .then(|| {
            vec![Sysctl {
                name: "net.ipv4.ip_local_port_range".to_owned(),
                value: format!("{} {}", c.source_ports.range[0], c.source_ports.range[1]),
            }]
        });
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(app_labels(name)),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(app_labels(name)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".to_owned()),
                    security_context: sysctls.map(|s| PodSecurityContext {
                        sysctls: Some(s),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![Container {
                        name: "k6".to_owned(),
                        image: Some(K6_IMAGE.to_owned()),
                        args: Some(vec!["run".to_owned(), "/scripts/script.js".to_owned()]),
                        env: (!env.is_empty()).then_some(env),
                        volume_mounts: Some(vec![VolumeMount {
                            name: "script".to_owned(),
                            mount_path: "/scripts".to_owned(),
                            read_only: Some(true),
                            ..VolumeMount::default()
                        }]),
                        ..Container::default()
                    }],
                    volumes: Some(vec![Volume {
                        name: "script".to_owned(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: name.to_owned(),
                            ..ConfigMapVolumeSource::default()
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            // A load run is not retried: a failed k6 is a result.
            backoff_limit: Some(0),
            ..JobSpec::default()
        }),
        status: None,
    }
}

fn client_notes(suite: &Suite, c: &Client, notes: &mut Notes) {
    let area = Area::Load;
    let field = |f: &str| format!("clients[{}].{f}", c.name);
    if c.external {
        notes.add(
            area,
            format!(
                "{}: the client sends to a node's NodePort from outside; set NODE_ADDRESS in its Job (now {PLACEHOLDER}) to a node's address, and run the Job outside the cluster's pod network for the same path.",
                field("external")
            ),
        );
    }
    if suite.cluster.nodes > 1 {
        notes.add(
            area,
            format!(
                "{} {}: svclab's node index has no name on a real cluster; add a nodeSelector to place the Job.",
                field("node"),
                c.node
            ),
        );
    }
    if c.source_ports.mode == PortMode::Pool {
        notes.add(
            area,
            format!(
                "{} pool {:?}: svclab binds source ports explicitly (exact reuse); k6 cannot, the kernel picks them.",
                field("source_ports"),
                c.source_ports.range
            ),
        );
    }
    if c.connection == ConnectionMode::KeepAlive {
        notes.add(
            area,
            format!(
                "{} {}: k6 keeps a connection per VU (up to maxVUs), not a fixed pool.",
                field("pool_size"),
                c.pool_size
            ),
        );
    }
    if c.proxy.is_some() {
        let upstream = c
            .upstream
            .as_ref()
            .and_then(|u| serde_json::to_string(u).ok())
            .unwrap_or_else(|| "nginx's defaults".to_owned());
        notes.add(
            area,
            format!(
                "{}: nginx: svclab runs nginx in the client pod in front of the service (upstream {upstream}); the Job sends to the service directly, so add the customer's nginx as a sidecar to keep that leg.",
                field("proxy")
            ),
        );
    }
}

/// The k6 script: the client's load as a scenario, one GET per iteration.
fn k6_script(suite: &Suite, c: &Client, url: &str) -> Result<String, ExportError> {
    let start = c.start.0;
    let len = c
        .duration
        .map_or_else(|| suite.duration.0.saturating_sub(start), |d| d.0);
    let ms = |d: std::time::Duration| svclab_suite::Dur(d).to_string();
    let mut scenario = match c.load.mode {
        LoadMode::Closed => json!({
            "executor": "constant-vus",
            "vus": c.load.concurrency,
            "duration": ms(len),
        }),
        LoadMode::Open => {
            let spikes = spikes(suite, &c.name, start, len);
            if spikes.is_empty() {
                json!({
                    "executor": "constant-arrival-rate",
                    "rate": c.load.rate,
                    "timeUnit": "1s",
                    "duration": ms(len),
                    "preAllocatedVUs": c.load.max_in_flight.min(PREALLOCATED_VUS),
                    "maxVUs": c.load.max_in_flight,
                })
            } else {
                json!({
                    "executor": "ramping-arrival-rate",
                    "startRate": c.load.rate,
                    "timeUnit": "1s",
                    "stages": stages(c.load.rate, &spikes, len),
                    "preAllocatedVUs": c.load.max_in_flight.min(PREALLOCATED_VUS),
                    "maxVUs": c.load.max_in_flight,
                })
            }
        }
    };
    if let Value::Object(o) = &mut scenario {
        o.insert("startTime".to_owned(), json!(ms(start)));
        // In-flight requests end by their own timeout.
        o.insert("gracefulStop".to_owned(), json!(ms(c.timeout.0)));
    }
    let options = json!({
        "discardResponseBodies": true,
        "noConnectionReuse": c.connection == ConnectionMode::PerRequest,
        "scenarios": { "load": scenario },
    });
    let options = serde_json::to_string_pretty(&options).map_err(|source| ExportError::Json {
        file: "load.yaml",
        source,
    })?;
    let load = match c.load.mode {
        LoadMode::Open => format!(
            "open loop, {} req/s, at most {} in flight",
            c.load.rate, c.load.max_in_flight
        ),
        LoadMode::Closed => format!("closed loop, {} workers", c.load.concurrency),
    };
    let conn = match c.connection {
        ConnectionMode::PerRequest => "a connection per request".to_owned(),
        ConnectionMode::KeepAlive => format!("keep-alive (pool of {})", c.pool_size),
    };
    Ok(format!(
        "// svclab client {name}: {load}; {conn}; timeout {timeout};\n\
         // from {start} for {len}.\n\
         import http from 'k6/http';\n\n\
         export const options = {options};\n\n\
         const url = {url};\n\n\
         export default function () {{\n  http.get(url, {{ timeout: '{timeout}' }});\n}}\n",
        name = c.name,
        timeout = c.timeout,
        start = c.start,
        len = svclab_suite::Dur(len),
    ))
}

/// A spike of a client, relative to the client's start: [from, to) at `rate`.
struct Spike {
    from: std::time::Duration,
    to: std::time::Duration,
    rate: u32,
}

/// The timeline's spikes of `client`, clipped to its window [0, len).
fn spikes(
    suite: &Suite,
    client: &str,
    start: std::time::Duration,
    len: std::time::Duration,
) -> Vec<Spike> {
    let mut out: Vec<Spike> = suite
        .timeline
        .iter()
        .filter_map(|e| match &e.action {
            Action::Spike {
                client: c,
                rate,
                duration,
            } if c == client => {
                let at = e.at.0;
                let end = duration.map_or(suite.duration.0, |d| at + d.0);
                let from = at.saturating_sub(start).min(len);
                let to = end.saturating_sub(start).min(len);
                (from < to).then_some(Spike {
                    from,
                    to,
                    rate: *rate,
                })
            }
            _ => None,
        })
        .collect();
    out.sort_by_key(|s| s.from);
    out
}

/// ramping-arrival-rate stages: the base rate with each spike a step
/// (a 0s stage jumps, the next holds).
fn stages(base: u32, spikes: &[Spike], len: std::time::Duration) -> Vec<Value> {
    let ms = |d: std::time::Duration| svclab_suite::Dur(d).to_string();
    let mut stages = Vec::new();
    let mut t = std::time::Duration::ZERO;
    let mut rate = base;
    let hold = |stages: &mut Vec<Value>, rate: &mut u32, to_rate: u32, d| {
        if *rate != to_rate {
            stages.push(json!({ "duration": "0s", "target": to_rate }));
            *rate = to_rate;
        }
        if d > std::time::Duration::ZERO {
            stages.push(json!({ "duration": ms(d), "target": to_rate }));
        }
    };
    for s in spikes {
        let from = s.from.max(t);
        hold(&mut stages, &mut rate, base, from - t);
        hold(&mut stages, &mut rate, s.rate, s.to.saturating_sub(from));
        t = s.to.max(from);
    }
    hold(&mut stages, &mut rate, base, len.saturating_sub(t));
    stages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_is_a_step_between_holds_at_the_base_rate() {
        let s = |a: u64| std::time::Duration::from_secs(a);
        let st = stages(
            120,
            &[Spike {
                from: s(15),
                to: s(45),
                rate: 360,
            }],
            s(90),
        );
        assert_eq!(
            st,
            vec![
                json!({"duration": "15s", "target": 120}),
                json!({"duration": "0s", "target": 360}),
                json!({"duration": "30s", "target": 360}),
                json!({"duration": "0s", "target": 120}),
                json!({"duration": "45s", "target": 120}),
            ]
        );
    }
}
