//! Suite deployments → apps/v1 Deployments: replicas, strategy,
//! minReadySeconds, grace, preStop, probes, the CPU limit and the
//! unreachable toleration, and the container that stands for what svclab's
//! pods run (its pod server, a `container` program, or nginx with its
//! config in a ConfigMap).
use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        core::v1::{
            ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
            EnvVar, EnvVarSource, ExecAction, HTTPGetAction, HTTPHeader, Lifecycle,
            LifecycleHandler, ObjectFieldSelector, PodSpec, PodTemplateSpec, Probe,
            ResourceRequirements, SleepAction, TCPSocketAction, Toleration, Volume, VolumeMount,
        },
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};
use svclab_suite::{
    Dur,
    model::{
        ContainerSpec, Deployment as SuiteDeployment, HttpHeader, IntOrPercent, NginxServerSpec,
        Probe as SuiteProbe, ServerSpec, StrategyType, Workload,
    },
};

use super::{
    Area, ExportError, Notes, PLACEHOLDER, app_labels, quantity, secs_i32, to_yaml, whole_secs,
};

/// The container's name in every exported pod.
pub const CONTAINER: &str = "server";

/// The name of the serving port (probes and preStop use it when they
/// target the serving port).
pub const HTTP_PORT: &str = "http";

/// The pod server's separate health listener's port name.
const HEALTH_PORT: &str = "health";

/// Where a `container` program's `{run_dir}` is mounted (an emptyDir).
const RUN_DIR: &str = "/svclab-run";

/// The default of `unreachable_toleration` (DefaultTolerationSeconds).
const DEFAULT_TOLERATION: Dur = Dur::from_secs(300);

/// One YAML document per deployment (and per nginx deployment's ConfigMap
/// first).
pub(super) fn deployments(
    suite: &svclab_suite::Suite,
    notes: &mut Notes,
) -> Result<Vec<String>, ExportError> {
    let mut docs = Vec::new();
    for d in &suite.deployments {
        if let Workload::Nginx(n) = d.workload() {
            docs.push(to_yaml("deployments.yaml", &nginx_config(&d.name, n))?);
        }
        docs.push(to_yaml("deployments.yaml", &deployment(suite, d, notes))?);
    }
    Ok(docs)
}

fn deployment(suite: &svclab_suite::Suite, d: &SuiteDeployment, notes: &mut Notes) -> Deployment {
    let area = Area::Deployments;
    let field = |f: &str| format!("deployments[{}].{f}", d.name);
    if !d.nodes.is_empty() && d.nodes.len() < usize::from(suite.cluster.nodes) {
        notes.add(
            area,
            format!(
                "{} {:?}: svclab places pods on node indexes round robin; a real cluster's nodes have names, so the scheduler places them (add a nodeAffinity by hand).",
                field("nodes"),
                d.nodes
            ),
        );
    }
    let (container, volumes, annotations) = container(d, notes);
    let mut tolerations = None;
    if d.unreachable_toleration != DEFAULT_TOLERATION {
        tolerations = Some(vec![Toleration {
            key: Some("node.kubernetes.io/unreachable".to_owned()),
            operator: Some("Exists".to_owned()),
            effect: Some("NoExecute".to_owned()),
            toleration_seconds: Some(whole_secs(
                d.unreachable_toleration,
                &field("unreachable_toleration"),
                area,
                notes,
            )),
            value: None,
        }]);
    }
    let strategy = match d.strategy.kind {
        StrategyType::Recreate => DeploymentStrategy {
            type_: Some("Recreate".to_owned()),
            rolling_update: None,
        },
        StrategyType::RollingUpdate => DeploymentStrategy {
            type_: Some("RollingUpdate".to_owned()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(int_or_percent(&d.strategy.max_surge)),
                max_unavailable: Some(int_or_percent(&d.strategy.max_unavailable)),
            }),
        },
    };
    let min_ready = d.min_ready_seconds;
    Deployment {
        metadata: ObjectMeta {
            name: Some(d.name.clone()),
            labels: Some(app_labels(&d.name)),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(d.replicas).unwrap_or(i32::MAX)),
            selector: LabelSelector {
                match_labels: Some(app_labels(&d.name)),
                match_expressions: None,
            },
            strategy: Some(strategy),
            min_ready_seconds: (min_ready != Dur::default())
                .then(|| secs_i32(min_ready, &field("min_ready_seconds"), 0, area, notes)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(app_labels(&d.name)),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    termination_grace_period_seconds: Some(whole_secs(
                        d.termination_grace,
                        &field("termination_grace"),
                        area,
                        notes,
                    )),
                    tolerations,
                    volumes,
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn int_or_percent(v: &IntOrPercent) -> IntOrString {
    match v {
        IntOrPercent::Count(n) => IntOrString::Int(i32::try_from(*n).unwrap_or(i32::MAX)),
        IntOrPercent::Percent(p) => IntOrString::String(p.clone()),
    }
}

/// The pod's one container, its volumes and the pod template's annotations.
fn container(
    d: &SuiteDeployment,
    notes: &mut Notes,
) -> (Container, Option<Vec<Volume>>, BTreeMap<String, String>) {
    let port = d.port();
    let mut ports = vec![ContainerPort {
        name: Some(HTTP_PORT.to_owned()),
        container_port: i32::from(port),
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }];
    let mut annotations = BTreeMap::new();
    let mut volumes = None;
    let mut c = Container {
        name: CONTAINER.to_owned(),
        env: Some(downward_env()),
        ..Container::default()
    };
    match d.workload() {
        Workload::PodServer(s) => {
            c.image = Some(format!("svclab/pod-server:{PLACEHOLDER}"));
            c.command = Some(vec!["svclab".to_owned()]);
            c.args = Some(pod_server_args(s));
            c.resources = Some(ResourceRequirements {
                limits: Some(BTreeMap::from([("cpu".to_owned(), quantity(s.cpus))])),
                ..ResourceRequirements::default()
            });
            if let Some(h) = &s.health {
                ports.push(ContainerPort {
                    name: Some(HEALTH_PORT.to_owned()),
                    container_port: i32::from(h.port),
                    protocol: Some("TCP".to_owned()),
                    ..ContainerPort::default()
                });
            }
            annotations.insert(
                "svclab.io/image".to_owned(),
                "No public image: build one holding the svclab binary (`svclab pod-server` is the server) and replace PLACEHOLDER.".to_owned(),
            );
            annotations.insert("svclab.io/workload".to_owned(), workload_summary(s));
        }
        Workload::Container(spec) => {
            c.image = Some(format!("svclab/container:{PLACEHOLDER}"));
            let (command, env, uses_run_dir) = container_command(spec, port);
            c.command = Some(command);
            c.env.get_or_insert_default().extend(env);
            if uses_run_dir {
                volumes = Some(vec![Volume {
                    name: "run-dir".to_owned(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                }]);
                c.volume_mounts = Some(vec![VolumeMount {
                    name: "run-dir".to_owned(),
                    mount_path: RUN_DIR.to_owned(),
                    ..VolumeMount::default()
                }]);
            }
            annotations.insert(
                "svclab.io/image".to_owned(),
                format!(
                    "Replace PLACEHOLDER with an image that has {:?}: svclab runs it from the host.",
                    spec.command.first().map_or("", String::as_str)
                ),
            );
        }
        Workload::Nginx(n) => {
            c.image = Some("nginx:1.22.1".to_owned());
            volumes = Some(vec![Volume {
                name: "nginx-conf".to_owned(),
                config_map: Some(ConfigMapVolumeSource {
                    name: format!("{}-nginx", d.name),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            }]);
            c.volume_mounts = Some(vec![VolumeMount {
                name: "nginx-conf".to_owned(),
                mount_path: "/etc/nginx/nginx.conf".to_owned(),
                sub_path: Some("nginx.conf".to_owned()),
                read_only: Some(true),
                ..VolumeMount::default()
            }]);
            if n.delay != Dur::default() {
                notes.add(
                    Area::Deployments,
                    format!(
                        "deployments[{}].nginx.delay {}: svclab uses Debian's echo module (echo_sleep), which the official nginx image lacks; the exported config answers at once.",
                        d.name, n.delay
                    ),
                );
            }
        }
    }
    c.ports = Some(ports);
    let probe = |p: &Option<SuiteProbe>, which: &str, notes: &mut Notes| {
        p.as_ref().map(|p| probe(d, p, which, notes))
    };
    c.startup_probe = probe(&d.probes.startup, "startup", notes);
    c.readiness_probe = probe(&d.probes.readiness, "readiness", notes);
    c.liveness_probe = probe(&d.probes.liveness, "liveness", notes);
    if let Some(pre) = &d.lifecycle.pre_stop {
        let handler = LifecycleHandler {
            exec: pre.exec.as_ref().map(|e| ExecAction {
                command: Some(e.command.clone()),
            }),
            http_get: pre.http_get.as_ref().map(|h| HTTPGetAction {
                path: Some(h.path.clone()),
                port: probe_port(d, h.port),
                http_headers: headers(&h.headers),
                ..HTTPGetAction::default()
            }),
            sleep: pre.sleep.map(|s| SleepAction {
                seconds: whole_secs(
                    s,
                    &format!("deployments[{}].lifecycle.pre_stop.sleep", d.name),
                    Area::Deployments,
                    notes,
                ),
            }),
            tcp_socket: None,
        };
        c.lifecycle = Some(Lifecycle {
            pre_stop: Some(handler),
            ..Lifecycle::default()
        });
    }
    (c, volumes, annotations)
}

/// POD_NAME and POD_IP from the downward API, for `$(POD_NAME)` in args.
fn downward_env() -> Vec<EnvVar> {
    let field = |name: &str, path: &str| EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                api_version: None,
            }),
            ..EnvVarSource::default()
        }),
        value: None,
    };
    vec![
        field("POD_NAME", "metadata.name"),
        field("POD_IP", "status.podIP"),
    ]
}

/// `svclab pod-server` flags for `s` (the pod's name from the downward API).
pub(super) fn pod_server_args(s: &ServerSpec) -> Vec<String> {
    let us = |d: Dur| d.0.as_micros();
    let mut a = vec![
        "pod-server".to_owned(),
        "--name=$(POD_NAME)".to_owned(),
        format!("--port={}", s.port),
        format!("--workers={}", s.workers),
        format!("--backlog={}", s.backlog),
        format!("--service-time-us={}", us(s.service_time)),
        format!("--cpu-time-us={}", us(s.cpu_time)),
        format!("--cpus={}", s.cpus),
        format!(
            "--close={}",
            match s.close {
                svclab_suite::model::Closer::Server => "server",
                svclab_suite::model::Closer::Client => "client",
            }
        ),
        format!("--read-timeout-ms={}", s.read_timeout.0.as_millis()),
        format!("--on-sigterm={}", s.on_sigterm.name()),
    ];
    if s.startup_time != Dur::default() {
        a.push(format!("--startup-time-us={}", us(s.startup_time)));
    }
    if let Some(h) = &s.health {
        a.push(format!("--health-port={}", h.port));
        a.push(format!("--health-workers={}", h.workers));
    }
    a
}

/// What the pod server does, in a sentence (the `svclab.io/workload`
/// annotation).
fn workload_summary(s: &ServerSpec) -> String {
    let mut out = format!(
        "svclab pod server on :{}: {} workers, backlog {}, {} per request",
        s.port, s.workers, s.backlog, s.service_time
    );
    if s.cpu_time != Dur::default() {
        out.push_str(&format!(" + {} CPU shared by {} cores", s.cpu_time, s.cpus));
    }
    out.push_str(&format!(
        "; {} closes first; on SIGTERM: {}",
        match s.close {
            svclab_suite::model::Closer::Server => "server",
            svclab_suite::model::Closer::Client => "client",
        },
        s.on_sigterm.name()
    ));
    if s.startup_time != Dur::default() {
        out.push_str(&format!("; listens {} after start", s.startup_time));
    }
    out
}

/// A `container` program's argv and env with svclab's placeholders as
/// Kubernetes expands them (`$(POD_NAME)`; a literal `$(` escaped as
/// `$$(`), and whether `{run_dir}` occurs.
pub(super) fn container_command(
    spec: &ContainerSpec,
    port: u16,
) -> (Vec<String>, Vec<EnvVar>, bool) {
    let mut run_dir = false;
    let mut expand = |s: &str| {
        run_dir |= s.contains("{run_dir}");
        s.replace("$(", "$$(")
            .replace("{pod}", "$(POD_NAME)")
            .replace("{pod_ip}", "$(POD_IP)")
            .replace("{port}", &port.to_string())
            .replace("{run_dir}", RUN_DIR)
    };
    let mut command = Vec::with_capacity(spec.command.len());
    for (i, arg) in spec.command.iter().enumerate() {
        // svclab replaces placeholders in the arguments, not the program.
        command.push(if i == 0 {
            arg.replace("$(", "$$(")
        } else {
            expand(arg)
        });
    }
    let env = spec
        .env
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.clone(),
            value: Some(expand(v)),
            value_from: None,
        })
        .collect();
    (command, env, run_dir)
}

/// A probe or preStop port: the serving port's name when it is (or
/// defaults to) the serving port, the health port's name, else the number.
fn probe_port(d: &SuiteDeployment, port: Option<u16>) -> IntOrString {
    let health = match d.workload() {
        Workload::PodServer(s) => s.health.as_ref().map(|h| h.port),
        _ => None,
    };
    match port {
        None => IntOrString::String(HTTP_PORT.to_owned()),
        Some(p) if p == d.port() => IntOrString::String(HTTP_PORT.to_owned()),
        Some(p) if Some(p) == health => IntOrString::String(HEALTH_PORT.to_owned()),
        Some(p) => IntOrString::Int(i32::from(p)),
    }
}

fn headers(h: &[HttpHeader]) -> Option<Vec<HTTPHeader>> {
    (!h.is_empty()).then(|| {
        h.iter()
            .map(|h| HTTPHeader {
                name: h.name.clone(),
                value: h.value.clone(),
            })
            .collect()
    })
}

fn probe(d: &SuiteDeployment, p: &SuiteProbe, which: &str, notes: &mut Notes) -> Probe {
    let area = Area::Deployments;
    let field = |f: &str| format!("deployments[{}].probes.{which}.{f}", d.name);
    if p.exec.is_some() {
        notes.add(
            area,
            format!(
                "{}: svclab runs exec probes on the node in the pod's netns; kubelet runs them inside the container, so the image must have the program.",
                field("exec")
            ),
        );
    }
    Probe {
        tcp_socket: p.tcp.as_ref().map(|t| TCPSocketAction {
            port: probe_port(d, t.port),
            host: None,
        }),
        http_get: p.http.as_ref().map(|h| HTTPGetAction {
            path: Some(h.path.clone()),
            port: probe_port(d, h.port),
            http_headers: headers(&h.headers),
            ..HTTPGetAction::default()
        }),
        exec: p.exec.as_ref().map(|e| ExecAction {
            command: Some(e.command.clone()),
        }),
        initial_delay_seconds: Some(secs_i32(
            p.initial_delay,
            &field("initial_delay"),
            0,
            area,
            notes,
        )),
        period_seconds: Some(secs_i32(p.period, &field("period"), 1, area, notes)),
        timeout_seconds: Some(secs_i32(p.timeout, &field("timeout"), 1, area, notes)),
        success_threshold: Some(i32::try_from(p.success_threshold).unwrap_or(i32::MAX)),
        failure_threshold: Some(i32::try_from(p.failure_threshold).unwrap_or(i32::MAX)),
        ..Probe::default()
    }
}

/// The ConfigMap with an nginx deployment's nginx.conf: svclab's preset
/// (200, the pod's name in the body and an `X-Pod` header; in Kubernetes
/// the pod's hostname is its name).
fn nginx_config(name: &str, n: &NginxServerSpec) -> ConfigMap {
    let conf = format!(
        "worker_processes {};\nevents {{ worker_connections {}; }}\nhttp {{\n  access_log off;\n  keepalive_timeout {}s;\n  server {{\n    listen {} backlog={};\n    location / {{\n      add_header X-Pod $hostname always;\n      return 200 \"$hostname\\n\";\n    }}\n  }}\n}}\n",
        n.worker_processes,
        n.worker_connections,
        n.keepalive_timeout.0.as_secs(),
        n.port,
        n.backlog,
    );
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("{name}-nginx")),
            labels: Some(app_labels(name)),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("nginx.conf".to_owned(), conf)])),
        ..ConfigMap::default()
    }
}
