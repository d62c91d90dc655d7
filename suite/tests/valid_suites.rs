//! Valid suites: the incident-A example parses to the expected values and
//! defaults, every action kind reads, and `Dur` / whole suites round-trip.
use std::{net::Ipv4Addr, path::Path, time::Duration};

use svclab_suite::{
    Dur, load,
    model::{
        Action, Closer, ConnectionMode, CtReuseSpec, LoadMode, PortMode, ProtocolSpec,
        SelectionSpec, Suite,
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
    assert_eq!(dp.selection, SelectionSpec::Random);
    assert_eq!(dp.ct_reuse, CtReuseSpec::Legacy);
    assert_eq!(dp.maglev_table_size, 16381, "default Maglev M");
    assert_eq!(dp.rebalance_grace, secs(30));
    assert_eq!(dp.timeouts.tcp, secs(6 * 3600));
    assert_eq!(dp.timeouts.syn, secs(60), "default SYN timeout");
    assert_eq!(dp.timeouts.close, secs(10));
    assert_eq!(dp.timeouts.non_tcp, secs(60));
    assert_eq!(dp.gc_interval, secs(5));
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
                    client: "nginx".into()
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
fn load_reads_the_repository_suites() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipped: no suites directory at {}", dir.display());
        return;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let loaded = load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                !loaded.header.is_empty(),
                "{}: no header comment",
                path.display()
            );
            count += 1;
        }
    }
    assert!(count > 0, "no suites in {}", dir.display());
}
