//! Valid suites: the incident-A example and a probes/autoscaler/spike suite
//! parse to the expected values and defaults, every action kind reads, and
//! `Dur` / whole suites round-trip.
use std::{
    collections::HashMap,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    time::Duration,
};

use svclab_suite::{
    Dur, load,
    model::{
        Action, Autoscaler, Closer, ConnectionMode, CtReuseSpec, ExecProbe, HealthSpec, HpaMetric,
        HpaMetricKind, HttpHeader, HttpProbe, LoadMode, PortMode, Probe, Probes, ProfileSpec,
        ProtocolSpec, SelectionSpec, Suite, TcpProbe,
    },
    parse,
};

const INCIDENT_A: &str = "\
# Incident A: service conntrack pins reused source ports to old backends.
# Expect: PASS (the 3 new backends get < 10% of the traffic after the scale-up).
name: ct-port-reuse-legacy
description: Legacy CT reuse keeps reused client ports on the old backends after a scale-up
duration: 60s
cluster: { nodes: 1 }
datapath:
  selection: random
  ct_reuse: legacy
  timeouts: { tcp: 6h }
deployments:
  - name: web
    replicas: 3
    server: { port: 8080, workers: 4, backlog: 128, close: server }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }
clients:
  - name: nginx
    service: web
    connection: per-request
    source_ports: { mode: pool, range: [40000, 40099] }
    load: { mode: open, rate: 400 }
timeline:
  - at: 20s
    scale: { deployment: web, replicas: 6 }
expect:
  - metric: new_backend_share
    window: [30s, 60s]
    max: 0.10
";

/// Every kubelet-side field: probes of each handler kind (one aimed at a
/// port nothing listens on), a health port, autoscalers on both metrics,
/// spikes with and without a duration, and a faster kubelet clock.
const PROBES_HPA: &str = "\
# Probes, a health listener, autoscalers and a traffic spike.
# Expect: PASS.
name: probes-hpa
duration: 120s
kubelet: { time_scale: 0.1 }
deployments:
  - name: web
    replicas: 2
    server:
      port: 8080
      cpu_time: 20ms
      health: { port: 8081 }
      startup_time: 5s
    probes:
      startup:
        http: {}
        period: 2s
        failure_threshold: 30
      readiness:
        http:
          path: /ready?full=1
          port: 8081
          headers:
            - { name: X-Probe, value: kubelet }
            - { name: Accept, value: \"application/json; q=1\" }
        period: 5s
        timeout: 500ms
        success_threshold: 2
      liveness:
        tcp: {}
        initial_delay: 10s
    termination_grace: 5s
  - name: api
    replicas: 1
    server: { cpus: 2.5, health: { port: 9000, workers: 2 } }
    probes:
      liveness:
        exec: { command: [/bin/true, --quiet] }
      readiness:
        tcp: { port: 9090 }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }
  - { name: api, cluster_ip: 198.19.0.11, port: 80, selector: api }
clients:
  - name: nginx
    service: web
    load: { mode: open, rate: 200 }
  - name: batch
    service: api
    load: { mode: closed, concurrency: 4 }
timeline:
  - at: 30s
    spike: { client: nginx, rate: 900, duration: 20s }
  - at: 90s
    spike: { client: nginx, rate: 400 }
autoscalers:
  - deployment: web
    max_replicas: 8
    metric: { kind: busy-workers, target: 0.6 }
  - deployment: api
    min_replicas: 1
    max_replicas: 4
    metric: { kind: request-rate, target: 150 }
    sync_period: 5s
    tolerance: 0.05
    scale_up_stabilization: 30s
    scale_down_stabilization: 60s
expect:
  - { metric: restarts, max: 0 }
  - { metric: hpa_max_desired, window: [30s, 60s], min: 3 }
  - { metric: time_to_recover_s, window: [30s, 120s], max: 20 }
";

fn secs(s: u64) -> Dur {
    Dur(Duration::from_secs(s))
}

#[test]
fn incident_a_parses_with_values_and_defaults() {
    let loaded = parse(INCIDENT_A, Path::new("suites/ct-port-reuse-legacy.yaml"))
        .expect("incident A is valid");
    assert_eq!(
        loaded.header,
        "Incident A: service conntrack pins reused source ports to old backends.\n\
         Expect: PASS (the 3 new backends get < 10% of the traffic after the scale-up)."
    );
    assert_eq!(loaded.text, INCIDENT_A);
    assert_eq!(loaded.path, Path::new("suites/ct-port-reuse-legacy.yaml"));
    let s = &loaded.suite;
    assert_eq!(s.name, "ct-port-reuse-legacy");
    assert!(s.description.starts_with("Legacy CT reuse"));
    assert_eq!(s.duration, secs(60));
    assert_eq!(s.bucket, secs(1), "default bucket");
    assert_eq!(s.seed, 1, "default seed");
    assert_eq!(s.cluster.nodes, 1);

    let dp = &s.datapath;
    assert_eq!(dp.profile, ProfileSpec::Cilium1_16, "default profile");
    assert_eq!(dp.selection, SelectionSpec::Random);
    assert_eq!(dp.ct_reuse, Some(CtReuseSpec::Legacy));
    assert_eq!(dp.maglev_table_size, 16381, "default Maglev M");
    assert_eq!(dp.rebalance_grace, None, "the profile's grace");
    assert_eq!(dp.timeouts.tcp, Some(secs(6 * 3600)));
    assert_eq!(dp.timeouts.syn, None, "the profile's SYN timeout");
    assert_eq!(dp.timeouts.close, None);
    assert_eq!(dp.timeouts.non_tcp, None);
    assert_eq!(dp.gc_interval, None, "Cilium's adaptive GC unless set");
    assert_eq!(dp.ct_map_size, 65536);

    let [d] = s.deployments.as_slice() else {
        panic!("one deployment: {:?}", s.deployments)
    };
    assert_eq!((d.name.as_str(), d.replicas), ("web", 3));
    assert!(d.nodes.is_empty());
    assert_eq!(
        (d.server.port, d.server.workers, d.server.backlog),
        (8080, 4, 128)
    );
    assert_eq!(d.server.service_time, Dur::default());
    assert_eq!(d.server.close, Closer::Server);

    let [svc] = s.services.as_slice() else {
        panic!("one service: {:?}", s.services)
    };
    assert_eq!(svc.cluster_ip, Ipv4Addr::new(198, 19, 0, 10));
    assert_eq!((svc.port, svc.target_port), (80, None));
    assert_eq!(svc.protocol, ProtocolSpec::Tcp);
    assert_eq!(svc.selector, "web");

    let [c] = s.clients.as_slice() else {
        panic!("one client: {:?}", s.clients)
    };
    assert_eq!(
        (c.name.as_str(), c.node, c.service.as_str()),
        ("nginx", 0, "web")
    );
    assert_eq!(c.connection, ConnectionMode::PerRequest);
    assert_eq!(c.pool_size, 16);
    assert_eq!(c.source_ports.mode, PortMode::Pool);
    assert_eq!(c.source_ports.range, [40000, 40099]);
    assert_eq!(c.load.mode, LoadMode::Open);
    assert_eq!(
        (c.load.rate, c.load.concurrency, c.load.max_in_flight),
        (400, 8, 512)
    );
    assert_eq!(c.start, Dur::default());
    assert_eq!(c.duration, None);
    assert_eq!(c.timeout, secs(2));

    let [t] = s.timeline.as_slice() else {
        panic!("one timeline entry: {:?}", s.timeline)
    };
    assert_eq!(t.at, secs(20));
    assert_eq!(
        t.action,
        Action::Scale {
            deployment: "web".into(),
            replicas: 6
        }
    );

    let [x] = s.expect.as_slice() else {
        panic!("one expectation: {:?}", s.expect)
    };
    assert_eq!(x.metric, "new_backend_share");
    assert_eq!(x.window, Some([secs(30), secs(60)]));
    assert_eq!((x.min, x.max), (None, Some(0.10)));
    assert_eq!(x.note, "");
}

#[test]
fn kubelet_fields_default_when_absent() {
    let s = parse(INCIDENT_A, Path::new("suites/a.yaml"))
        .expect("valid")
        .suite;
    assert_eq!(s.kubelet.time_scale, 1.0, "default time_scale");
    assert!(s.autoscalers.is_empty());
    let d = &s.deployments[0];
    assert_eq!(d.probes, Probes::default(), "no probes by default");
    assert_eq!(d.termination_grace, secs(30), "default termination grace");
    assert_eq!(d.server.cpu_time, Dur::default());
    assert_eq!(d.server.cpus, 1.0, "default cpus");
    assert_eq!(d.server.health, None);
    assert_eq!(d.server.startup_time, Dur::default());
}

#[test]
fn probes_autoscalers_and_spikes_parse_with_values_and_defaults() {
    let loaded =
        parse(PROBES_HPA, Path::new("suites/probes-hpa.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let s = &loaded.suite;
    assert_eq!(s.kubelet.time_scale, 0.1);

    let [web, api] = s.deployments.as_slice() else {
        panic!("two deployments: {:?}", s.deployments)
    };
    assert_eq!(web.server.port, 8080);
    assert_eq!(web.server.cpu_time, Dur::from_millis(20));
    assert_eq!(web.server.cpus, 1.0, "default cpus");
    assert_eq!(
        web.server.health,
        Some(HealthSpec {
            port: 8081,
            workers: 1
        }),
        "default health workers"
    );
    assert_eq!(web.server.startup_time, secs(5));
    assert_eq!(web.termination_grace, secs(5));

    // Startup: an HTTP probe with every handler field defaulted.
    let startup = web.probes.startup.as_ref().expect("startup probe");
    assert_eq!(
        startup,
        &Probe {
            tcp: None,
            http: Some(HttpProbe {
                path: "/healthz".into(),
                port: None,
                headers: Vec::new(),
            }),
            exec: None,
            initial_delay: Dur::default(),
            period: secs(2),
            timeout: secs(1),
            success_threshold: 1,
            failure_threshold: 30,
        }
    );
    let readiness = web.probes.readiness.as_ref().expect("readiness probe");
    assert_eq!(
        readiness.http,
        Some(HttpProbe {
            path: "/ready?full=1".into(),
            port: Some(8081),
            headers: vec![
                HttpHeader {
                    name: "X-Probe".into(),
                    value: "kubelet".into()
                },
                HttpHeader {
                    name: "Accept".into(),
                    value: "application/json; q=1".into()
                },
            ],
        })
    );
    assert_eq!(
        (
            readiness.period,
            readiness.timeout,
            readiness.success_threshold
        ),
        (secs(5), Dur::from_millis(500), 2)
    );
    assert_eq!(readiness.failure_threshold, 3, "default failure threshold");
    // Liveness: kubelet's defaults but for the initial delay.
    assert_eq!(
        web.probes.liveness,
        Some(Probe {
            tcp: Some(TcpProbe { port: None }),
            http: None,
            exec: None,
            initial_delay: secs(10),
            period: secs(10),
            timeout: secs(1),
            success_threshold: 1,
            failure_threshold: 3,
        })
    );

    assert_eq!(api.server.cpus, 2.5);
    assert_eq!(
        api.server.health,
        Some(HealthSpec {
            port: 9000,
            workers: 2
        })
    );
    assert_eq!(api.termination_grace, secs(30), "default termination grace");
    assert_eq!(api.probes.startup, None);
    let liveness = api.probes.liveness.as_ref().expect("liveness probe");
    assert_eq!(
        liveness.exec,
        Some(ExecProbe {
            command: vec!["/bin/true".into(), "--quiet".into()]
        })
    );
    assert_eq!(
        (liveness.tcp.as_ref(), liveness.http.as_ref()),
        (None, None)
    );
    // A probe on a port neither the server nor its health listener opens.
    let readiness = api.probes.readiness.as_ref().expect("readiness probe");
    assert_eq!(readiness.tcp, Some(TcpProbe { port: Some(9090) }));

    assert_eq!(
        s.autoscalers,
        [
            Autoscaler {
                deployment: "web".into(),
                min_replicas: 1,
                max_replicas: 8,
                metric: HpaMetric {
                    kind: HpaMetricKind::BusyWorkers,
                    target: 0.6
                },
                sync_period: secs(15),
                tolerance: 0.1,
                scale_up_stabilization: secs(0),
                scale_down_stabilization: secs(300),
            },
            Autoscaler {
                deployment: "api".into(),
                min_replicas: 1,
                max_replicas: 4,
                metric: HpaMetric {
                    kind: HpaMetricKind::RequestRate,
                    target: 150.0
                },
                sync_period: secs(5),
                tolerance: 0.05,
                scale_up_stabilization: secs(30),
                scale_down_stabilization: secs(60),
            },
        ]
    );

    let actions: Vec<_> = s.timeline.iter().map(|t| (t.at, &t.action)).collect();
    assert_eq!(
        actions,
        [
            (
                secs(30),
                &Action::Spike {
                    client: "nginx".into(),
                    rate: 900,
                    duration: Some(secs(20))
                }
            ),
            (
                secs(90),
                &Action::Spike {
                    client: "nginx".into(),
                    rate: 400,
                    duration: None
                }
            ),
        ]
    );
    let metrics: Vec<&str> = s.expect.iter().map(|x| x.metric.as_str()).collect();
    assert_eq!(
        metrics,
        ["restarts", "hpa_max_desired", "time_to_recover_s"]
    );
}

#[test]
fn name_defaults_to_file_stem() {
    let text = INCIDENT_A.replace("name: ct-port-reuse-legacy\n", "");
    let loaded = parse(&text, Path::new("suites/my-incident.yaml")).expect("valid");
    assert_eq!(loaded.suite.name, "my-incident");
}

#[test]
fn every_action_kind_reads() {
    // Entries out of time order on purpose: they keep document order.
    let text = INCIDENT_A.replace(
        "    scale: { deployment: web, replicas: 6 }\n",
        "    scale: { deployment: web, replicas: 6 }
  - at: 10s
    kill: { deployment: web, count: 2 }
  - { at: 30s, delete_pod: { deployment: web, index: 1 } }
  - at: 40s
    flush_ct:
  - at: 41s
    flush_ct: { node: 0 }
  - restart_client: { client: nginx }
    at: 50s
",
    );
    let loaded = parse(&text, Path::new("x.yaml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let actions: Vec<_> = loaded
        .suite
        .timeline
        .iter()
        .map(|t| (t.at, t.action.clone()))
        .collect();
    assert_eq!(
        actions,
        [
            (
                secs(20),
                Action::Scale {
                    deployment: "web".into(),
                    replicas: 6
                }
            ),
            (
                secs(10),
                Action::Kill {
                    deployment: "web".into(),
                    count: 2
                }
            ),
            (
                secs(30),
                Action::DeletePod {
                    deployment: "web".into(),
                    index: 1
                }
            ),
            (secs(40), Action::FlushCt { node: None }),
            (secs(41), Action::FlushCt { node: Some(0) }),
            (
                secs(50),
                Action::RestartClient {
                    client: "nginx".into(),
                    keep_ip: false,
                }
            ),
        ]
    );
}

#[test]
fn dur_round_trips_through_text() {
    for (input, shown, ms) in [
        ("250ms", "250ms", 250),
        ("30s", "30s", 30_000),
        ("1.5m", "90s", 90_000),
        ("0.3s", "300ms", 300),
        ("6h", "6h", 21_600_000),
        ("120m", "2h", 7_200_000),
        ("0s", "0s", 0),
        ("1500ms", "1500ms", 1500),
        ("8000s", "8000s", 8_000_000),
    ] {
        let d: Dur = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(d, Dur::from_millis(ms), "{input}");
        assert_eq!(d.to_string(), shown, "{input}");
        assert_eq!(shown.parse::<Dur>(), Ok(d), "{shown} parses back");
        let yaml = serde_yaml::to_string(&d).expect("serialises");
        assert_eq!(yaml.trim(), shown);
        let back: Dur = serde_yaml::from_str(&yaml).expect("deserialises");
        assert_eq!(back, d);
    }
    for bad in [
        "10", "5 s", "-1s", "1x", "", "s", ".5s", "5.s", "1.2.3s", "1e3s", "0.5ms",
    ] {
        assert!(bad.parse::<Dur>().is_err(), "{bad:?} must be rejected");
    }
}

#[test]
fn whole_suite_round_trips_through_yaml() {
    let loaded = parse(INCIDENT_A, Path::new("suites/a.yaml")).expect("valid");
    let yaml = serde_yaml::to_string(&loaded.suite).expect("serialises");
    let again = parse(&yaml, Path::new("suites/a.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(again.suite, loaded.suite);
    let direct: Suite = serde_yaml::from_str(&yaml).expect("plain serde_yaml reads it too");
    assert_eq!(direct, loaded.suite);
}

#[test]
fn probes_suite_round_trips_through_yaml() {
    let loaded = parse(PROBES_HPA, Path::new("suites/p.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let yaml = serde_yaml::to_string(&loaded.suite).expect("serialises");
    let again = parse(&yaml, Path::new("suites/p.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(again.suite, loaded.suite);
    let direct: Suite = serde_yaml::from_str(&yaml).expect("plain serde_yaml reads it too");
    assert_eq!(direct, loaded.suite);
}

/// Every `*.yaml` in the repository's suites/ loads, has a header comment
/// and a name of its own (suite names become report directories). Files are
/// checked in name order and all problems reported together, so suites
/// added later are covered without listing them here.
#[test]
fn load_reads_the_repository_suites() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipped: no suites directory at {}", dir.display());
        return;
    };
    let mut paths: Vec<_> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let mut problems = Vec::new();
    let mut names: HashMap<String, PathBuf> = HashMap::new();
    for path in &paths {
        let loaded = match load(path) {
            Ok(l) => l,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        if loaded.header.is_empty() {
            problems.push(format!("{}: no header comment", path.display()));
        }
        if let Some(first) = names.insert(loaded.suite.name.clone(), path.clone()) {
            problems.push(format!(
                "{}: suite name `{}` is also used by {}",
                path.display(),
                loaded.suite.name,
                first.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(!paths.is_empty(), "no suites in {}", dir.display());
}
