//! `svclab_manifests::import`: each mapping rule on hand-written manifests
//! (`tests/data/`), each kind of bad input (its error names the file, the
//! document, the field path and what was expected), and the shipped
//! example (`examples/import/`), whose import must carry the
//! probe-liveness-cascade incident's deployment field for field.
use std::path::{Path, PathBuf};

use svclab_manifests::import::{ImportError, Imported, Input, Options, import};
use svclab_suite::model::{
    HpaMetricKind, IntOrPercent, ServiceType, SessionAffinity, StrategyType, TrafficPolicy,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn input(rel: &str) -> Input {
    Input {
        path: PathBuf::from(rel),
        text: std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}")),
    }
}

fn data(names: &[&str]) -> Vec<Input> {
    names
        .iter()
        .map(|n| input(&format!("manifests/tests/data/{n}")))
        .collect()
}

fn ok(names: &[&str], options: &Options) -> Imported {
    import(&data(names), options).unwrap_or_else(|e| panic!("{names:?}: {e}"))
}

fn err(names: &[&str]) -> String {
    match import(&data(names), &Options::default()) {
        Ok(i) => panic!("{names:?} imported:\n{}", i.text),
        Err(ImportError::Internal(e)) => panic!("internal error instead of bad input: {e}"),
        Err(e) => e.to_string(),
    }
}

fn unmapped(i: &Imported) -> Vec<String> {
    i.unmapped.iter().map(ToString::to_string).collect()
}

fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

const ORDERS: [&str; 3] = [
    "deployment-probes.yaml",
    "service-named.yaml",
    "hpa-behavior.yaml",
];

#[test]
fn deployment_fields_map_to_the_suite_deployment() {
    let i = ok(&ORDERS, &Options::default());
    let d = &i.suite.deployments[0];
    assert_eq!(i.suite.name, "orders-api");
    assert_eq!(d.name, "orders-api");
    assert_eq!(d.replicas, 3);
    assert_eq!(d.termination_grace.to_string(), "45s");
    assert_eq!(d.min_ready_seconds.to_string(), "10s");
    assert_eq!(d.strategy.kind, StrategyType::RollingUpdate);
    assert_eq!(d.strategy.max_surge, IntOrPercent::Count(1));
    assert_eq!(d.strategy.max_unavailable, IntOrPercent::Count(0));
    let pre = d.lifecycle.pre_stop.as_ref().expect("preStop");
    assert_eq!(pre.sleep.map(|s| s.to_string()).as_deref(), Some("5s"));
    // resources.limits.cpu 500m is the pod server's CPU limit.
    assert!((d.server.cpus - 0.5).abs() < 1e-9);
    assert!(
        i.text
            .contains("# container api: image ghcr.example.org/shop/orders-api:5.2.0")
    );
}

#[test]
fn probes_resolve_named_ports_through_the_container() {
    let i = ok(&ORDERS, &Options::default());
    let d = &i.suite.deployments[0];
    // The Service's targetPort `http` is the serving port; probes on it
    // leave `port` to default to it.
    assert_eq!(d.server.port, 8080);
    let live = d.probes.liveness.as_ref().expect("liveness");
    assert_eq!(live.tcp.as_ref().map(|t| t.port), Some(None));
    assert_eq!(
        (live.initial_delay.to_string(), live.period.to_string()),
        ("15s".into(), "20s".into())
    );
    assert_eq!(live.timeout.to_string(), "3s");
    assert_eq!(live.failure_threshold, 4);
    // Probes on `admin` (8081) get the number, and the pod server a health
    // listener there.
    let ready = d.probes.readiness.as_ref().expect("readiness");
    let http = ready.http.as_ref().expect("http readiness");
    assert_eq!((http.path.as_str(), http.port), ("/ready", Some(8081)));
    assert_eq!(http.headers[0].name, "X-Probe");
    assert_eq!(http.headers[0].value, "readiness");
    assert_eq!((ready.success_threshold, ready.failure_threshold), (2, 2));
    assert_eq!(ready.timeout.to_string(), "2s");
    let start = d.probes.startup.as_ref().expect("startup");
    assert_eq!(start.http.as_ref().map(|h| h.port), Some(Some(8081)));
    assert_eq!(start.failure_threshold, 30);
    assert_eq!(d.server.health.as_ref().map(|h| h.port), Some(8081));
    assert!(
        i.text.contains("# port admin = 8081, the health port"),
        "{}",
        i.text
    );
}

#[test]
fn services_split_per_port_with_named_target_ports_and_policies() {
    let i = ok(&ORDERS, &Options::default());
    let s = &i.suite.services;
    assert_eq!(s.len(), 2, "one suite service per port");
    assert_eq!(s[0].name, "orders-api-http");
    assert_eq!(s[1].name, "orders-api-metrics");
    assert_eq!(s[0].cluster_ip.to_string(), "198.19.0.10");
    assert_eq!(
        s[1].cluster_ip, s[0].cluster_ip,
        "one Service, one ClusterIP"
    );
    assert!(
        i.text
            .contains("cluster_ip: 198.19.0.10  # was 10.43.128.19")
    );
    assert_eq!((s[0].port, s[0].target_port), (80, None));
    assert_eq!(s[0].selector, "orders-api");
    assert_eq!(s[0].service_type, ServiceType::NodePort);
    assert_eq!(s[0].node_port, Some(30080));
    assert_eq!(s[0].external_traffic_policy, Some(TrafficPolicy::Local));
    assert_eq!(s[0].session_affinity, SessionAffinity::ClientIp);
    assert_eq!(
        s[0].session_affinity_timeout
            .map(|t| t.to_string())
            .as_deref(),
        Some("10m")
    );
    // The metrics port is not the serving port: kept as target_port, with
    // a warning that the pod server does not listen there.
    assert_eq!(s[1].target_port, Some(9102));
    assert!(has(
        &unmapped(&i),
        "spec.ports[1].targetPort: targets port 9102"
    ));
    // One client per service in the skeleton.
    assert_eq!(i.suite.clients.len(), 2);
    assert_eq!(i.suite.clients[0].service, "orders-api-http");
}

#[test]
fn hpa_cpu_utilization_is_busy_workers_and_behavior_maps_windows() {
    let i = ok(&ORDERS, &Options::default());
    let a = &i.suite.autoscalers[0];
    assert_eq!(a.deployment, "orders-api");
    assert_eq!((a.min_replicas, a.max_replicas), (2, 10));
    assert_eq!(a.metric.kind, HpaMetricKind::BusyWorkers);
    assert!((a.metric.target - 0.7).abs() < 1e-9);
    assert_eq!(a.scale_up_stabilization.to_string(), "30s");
    assert_eq!(a.scale_down_stabilization.to_string(), "2m");
    let u = unmapped(&i);
    // Memory cannot be measured; a second mappable metric is dropped with
    // a reason; a non-default policy has no knob; the default one is silent.
    assert!(has(&u, "spec.metrics[1]: resource memory"), "{u:#?}");
    assert!(
        has(&u, "spec.metrics[2]: a suite autoscaler takes one metric"),
        "{u:#?}"
    );
    assert!(has(&u, "spec.behavior.scaleUp.policies"), "{u:#?}");
    assert!(!has(&u, "spec.behavior.scaleDown.policies"), "{u:#?}");
}

#[test]
fn hpa_requests_per_second_average_value_is_request_rate() {
    let i = ok(
        &["deployment-probes.yaml", "hpa-request-rate.yaml"],
        &Options::default(),
    );
    let a = &i.suite.autoscalers[0];
    assert_eq!(a.metric.kind, HpaMetricKind::RequestRate);
    assert!((a.metric.target - 2.5).abs() < 1e-9, "2500m is 2.5 req/s");
    assert_eq!(i.suite.deployments[0].replicas, 3);
    assert_eq!(a.min_replicas, 3);
}

#[test]
fn every_unmapped_field_is_listed_with_its_reason() {
    let i = ok(&ORDERS, &Options::default());
    let u = unmapped(&i);
    for needle in [
        "deployment-probes.yaml: document 1 (Deployment orders-api): spec.template.spec.containers[1]: container \"envoy\"",
        "spec.template.spec.containers[0].resources.requests: requests only place pods",
        "spec.template.spec.containers[0].resources.limits.memory",
        "spec.template.spec.containers[0].args: the customer's image does not run here",
        "spec.template.spec.nodeSelector",
        "metadata.namespace: shop",
    ] {
        assert!(has(&u, needle), "{needle} missing from {u:#?}");
    }
    // Defaults kubectl prints and bookkeeping are not listed.
    assert!(!has(&u, "protocol"), "{u:#?}");
    // The header lists them too.
    assert!(i.text.contains(&format!("# Not mapped ({}):", u.len())));
}

#[test]
fn multi_document_files_skip_empty_documents_and_note_other_kinds() {
    let i = ok(&["multi-doc.yaml"], &Options::default());
    let u = unmapped(&i);
    assert!(has(&u, "document 1 (Namespace billing)"), "{u:#?}");
    assert!(has(&u, "document 2 (ConfigMap invoicer-config)"), "{u:#?}");
    // Document 4 is empty; the Service is document 5.
    assert!(has(&u, "document 5 (Service invoicer)"), "{u:#?}");
    let d = &i.suite.deployments[0];
    assert_eq!(d.strategy.kind, StrategyType::Recreate);
    assert_eq!(d.server.port, 3000);
    // exec probe → exec; httpGet on the serving port by number → no port.
    let live = d.probes.liveness.as_ref().expect("liveness");
    assert_eq!(
        live.exec.as_ref().map(|e| e.command.clone()),
        Some(vec!["/bin/true".to_owned()])
    );
    assert!(i.text.contains("exec runs on this host in the pod's netns"));
    let ready = d
        .probes
        .readiness
        .as_ref()
        .and_then(|p| p.http.as_ref())
        .expect("http");
    assert_eq!((ready.path.as_str(), ready.port), ("/status", None));
    let hook = d
        .lifecycle
        .pre_stop
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("hook");
    assert_eq!((hook.path.as_str(), hook.port), ("/drain", None));
    let s = &i.suite.services[0];
    assert_eq!((s.port, s.target_port), (8080, None));
    assert_eq!(s.internal_traffic_policy, TrafficPolicy::Local);
    assert!(
        i.text.contains("# the manifest has none"),
        "no clusterIP in a render"
    );
}

#[test]
fn list_items_statefulsets_load_balancers_and_pdbs() {
    let i = ok(&["list.yaml"], &Options::default());
    let u = unmapped(&i);
    let d = &i.suite.deployments[0];
    assert_eq!((d.name.as_str(), d.replicas), ("ledger", 3));
    assert_eq!(d.termination_grace.to_string(), "1m");
    assert!(d.probes.readiness.is_none(), "a gRPC probe does not map");
    assert!(
        has(
            &u,
            "items[0].spec.template.spec.containers[0].readinessProbe: a gRPC probe"
        ),
        "{u:#?}"
    );
    assert_eq!(
        d.probes
            .liveness
            .as_ref()
            .and_then(|p| p.tcp.as_ref())
            .map(|t| t.port),
        Some(None)
    );
    assert!(has(&u, "items[0].spec.serviceName"), "{u:#?}");
    assert!(i.text.contains("ordinal identity"), "StatefulSet note");
    let s = &i.suite.services[0];
    assert_eq!(
        s.service_type,
        ServiceType::NodePort,
        "LoadBalancer → NodePort"
    );
    assert_eq!(s.node_port, Some(31443));
    assert!(
        has(&u, "items[1].spec.type: LoadBalancer is mapped to NodePort"),
        "{u:#?}"
    );
    assert!(
        has(
            &u,
            "(PodDisruptionBudget ledger): items[2]: svclab has no voluntary-disruption budget"
        ),
        "{u:#?}"
    );
}

#[test]
fn command_replaces_the_pod_server_for_that_container() {
    let opts = Options {
        name: Some("orders".into()),
        commands: vec!["api=/bin/sleep infinity".into()],
    };
    let i = ok(&ORDERS, &opts);
    assert_eq!(i.suite.name, "orders");
    let d = &i.suite.deployments[0];
    let c = d.container.as_ref().expect("container");
    assert_eq!(c.command, vec!["/bin/sleep", "infinity"]);
    assert_eq!(c.port, 8080);
    assert!(has(
        &unmapped(&i),
        "limits.cpu: a --command program runs without svclab's CPU model"
    ));
    let bad = import(
        &data(&ORDERS),
        &Options {
            name: None,
            commands: vec!["nosuch=/bin/true".into()],
        },
    )
    .expect_err("unknown container");
    assert!(
        bad.to_string().contains("expected one of: api, envoy"),
        "{bad}"
    );
}

#[test]
fn the_output_is_a_valid_suite() {
    for names in [&ORDERS[..], &["multi-doc.yaml"], &["list.yaml"]] {
        let i = ok(names, &Options::default());
        svclab_suite::parse(&i.text, Path::new("imported.yaml"))
            .unwrap_or_else(|e| panic!("{names:?}: {e}\n{}", i.text));
    }
}

#[test]
fn bad_yaml_names_file_and_document() {
    let e = err(&["bad-not-yaml.yaml"]);
    assert!(
        e.starts_with("manifests/tests/data/bad-not-yaml.yaml: document 2: not YAML or JSON"),
        "{e}"
    );
    assert!(e.contains("line 9 column 5"), "{e}");
    assert!(
        e.contains("expected `kubectl get -o yaml` or `-o json` output"),
        "{e}"
    );
}

#[test]
fn unknown_kind_is_bad_input() {
    let e = err(&["bad-unknown-kind.yaml"]);
    assert!(
        e.starts_with("manifests/tests/data/bad-unknown-kind.yaml: document 2 (Deploymnet web): kind: unknown kind \"Deploymnet\""),
        "{e}"
    );
    assert!(e.contains("expected a Kubernetes kind: Deployment"), "{e}");
}

#[test]
fn service_selecting_nothing_is_bad_input() {
    let e = err(&["bad-selector.yaml"]);
    assert!(
        e.starts_with("manifests/tests/data/bad-selector.yaml: document 2 (Service catalog): spec.selector: {app=catalogue} matches no pod template"),
        "{e}"
    );
    assert!(e.contains("expected the labels of a Deployment, StatefulSet or ReplicaSet pod template: Deployment catalog {app=catalog}"), "{e}");
}

#[test]
fn probe_on_an_undeclared_port_name_is_bad_input() {
    let e = err(&["bad-probe-port.yaml"]);
    assert_eq!(
        e,
        "manifests/tests/data/bad-probe-port.yaml: document 1 (Deployment web): \
         spec.template.spec.containers[0].livenessProbe.httpGet.port: \
         no container port named \"health\" in container \"web\"; expected one of: http, metrics"
    );
}

#[test]
fn a_wrongly_typed_field_is_bad_input_at_its_path() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: many\n  selector: {}\n  template: {}\n";
    let e = import(
        &[Input {
            path: "typed.yaml".into(),
            text: text.into(),
        }],
        &Options::default(),
    )
    .expect_err("replicas: many");
    let e = e.to_string();
    assert!(
        e.starts_with("typed.yaml: document 1 (Deployment w): spec.replicas: "),
        "{e}"
    );
}

#[test]
fn a_document_that_is_not_an_object_is_bad_input() {
    let e = import(
        &[Input {
            path: "notes.txt".into(),
            text: "just some notes the customer pasted\n".into(),
        }],
        &Options::default(),
    )
    .expect_err("a string");
    assert_eq!(
        e.to_string(),
        "notes.txt: document 1: (object): expected a Kubernetes object (a mapping with apiVersion and kind), got a string"
    );
}

/// The worked example: the customer's `kubectl get deploy,svc,hpa -o yaml`
/// of the probe-liveness-cascade incident. What manifests carry must equal
/// the shipped suite's hand-written model field for field. The suite's own
/// (not in any manifest): the pod server's workload (workers, backlog,
/// cpu_time), kubelet.time_scale, duration, clients, timeline, expect.
#[test]
fn the_example_reproduces_the_probe_liveness_cascade_deployment() {
    let i = import(
        &[input("examples/import/customer.yaml")],
        &Options::default(),
    )
    .expect("the example imports");
    let shipped = std::fs::read_to_string(repo().join("examples/import/customer-suite.yaml"))
        .expect("examples/import/customer-suite.yaml");
    assert_eq!(
        i.text, shipped,
        "regenerate: svclab import examples/import/customer.yaml > examples/import/customer-suite.yaml"
    );
    let cascade = svclab_suite::load(&repo().join("suites/probe-liveness-cascade.yaml"))
        .expect("the cascade suite")
        .suite;
    let (got, want) = (&i.suite.deployments[0], &cascade.deployments[0]);
    assert_eq!(got.name, want.name);
    assert_eq!(got.replicas, want.replicas);
    assert_eq!(got.probes, want.probes, "every probe field");
    assert_eq!(got.termination_grace, want.termination_grace);
    assert_eq!(got.lifecycle, want.lifecycle);
    assert_eq!(got.strategy, want.strategy);
    assert_eq!(got.min_ready_seconds, want.min_ready_seconds);
    assert_eq!(got.unreachable_toleration, want.unreachable_toleration);
    assert_eq!(got.nodes, want.nodes);
    assert_eq!((&got.container, &got.nginx), (&want.container, &want.nginx));
    assert_eq!(got.server.port, want.server.port);
    assert!(
        (got.server.cpus - want.server.cpus).abs() < 1e-9,
        "limits.cpu"
    );
    assert_eq!(got.server.health, want.server.health);
    assert_eq!(
        i.suite.services, cascade.services,
        "the Service, ClusterIP remapped"
    );
    assert_eq!(
        i.suite.autoscalers, cascade.autoscalers,
        "the HPA: min, max, metric, windows"
    );
    // The rest is the suite's own: the workload and kubelet's clock.
    assert_ne!(got.server.workers, want.server.workers);
    assert_ne!(i.suite.kubelet, cascade.kubelet);
}
