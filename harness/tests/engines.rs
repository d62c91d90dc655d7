//! End to end per dataplane engine: real TCP from a client pod through
//! each engine's ClusterIP to backend pods on two nodes; the engine's
//! per-backend counters must agree with what the client saw, the engine's
//! rule about reused source ports must show, and nothing may be left in
//! any netns afterwards.
mod common;

use std::path::{Path, PathBuf};

use common::run_options;
use svclab::runner::{self, RunOutcome};
use svclab_suite::model::EngineSpec;
use svclab_testsupport::{one_at_a_time, require_root};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `suites/<name>.yaml` on `engine`, two nodes, scaled to `secs`.
fn run_on(name: &str, engine: EngineSpec, secs: f64) -> RunOutcome {
    let _guard = one_at_a_time();
    let path = repo().join("suites").join(format!("{name}.yaml"));
    let mut loaded = svclab_suite::load(&path).expect("suite loads");
    loaded.suite.datapath.engine = engine;
    loaded.suite.cluster.nodes = 2;
    let f = secs / loaded.suite.duration.0.as_secs_f64();
    let out = std::env::temp_dir().join(format!("svclab-engines-{}", std::process::id()));
    let outcome = runner::run_suite(&loaded, &run_options(out, f)).expect("run");
    let r = &outcome.record;
    assert!(r.error.is_none(), "{name}: run error {:?}", r.error);
    let prefix = format!("svl-{}-", r.run_id);
    let left = svclab_testsupport::topo::netns_with_prefix(&prefix);
    assert!(left.is_empty(), "{name}: leftover netns {left:?}");
    let mounts = svclab_cgroup::leftover_mounts(&prefix);
    assert!(
        mounts.is_empty(),
        "{name}: leftover cgroup trees {mounts:?}"
    );
    outcome
}

fn mech(o: &RunOutcome, key: &str) -> f64 {
    *o.record
        .mechanism
        .get(key)
        .unwrap_or_else(|| panic!("mechanism {key} missing: {:?}", o.record.mechanism))
}

fn expectation(o: &RunOutcome, metric: &str) -> f64 {
    o.record
        .expectations
        .iter()
        .find(|e| e.metric == metric)
        .and_then(|e| e.measured)
        .unwrap_or_else(|| panic!("no {metric} in {:#?}", o.record.expectations))
}

/// kube-proxy iptables: netfilter's conntrack treats a SYN on a closed
/// (TIME_WAIT) entry as a new connection (Linux net/netfilter/
/// nf_conntrack_proto_tcp.c, nf_conntrack_tcp_packet: "Attempt to reopen a
/// closed/aborted connection. Delete this connection and look up again."),
/// so NAT runs again and reused ports reach the scaled-up backends: about half of
/// the connections go to the 3 new of 6 backends.
#[test]
fn kube_proxy_iptables_renats_reused_ports_and_counts_every_connection() {
    require_root!();
    renats_reused_ports(EngineSpec::KubeProxyIptables);
}

/// kube-proxy nftables: the same conntrack rule, `numgen random` picking.
#[test]
fn kube_proxy_nftables_renats_reused_ports_and_counts_every_connection() {
    require_root!();
    renats_reused_ports(EngineSpec::KubeProxyNftables);
}

/// Incident A on `engine`, shortened: the client's requests succeed, the
/// engine's per-backend new connections sum to the client's connections
/// backend by backend, and the 3 new of 6 backends get about half (`why`
/// says which rule of the engine makes them).
fn fair_after_scale_up(engine: EngineSpec, why: &str) -> RunOutcome {
    let o = run_on("ct-port-reuse-legacy", engine, 24.0);
    let r = &o.record;
    let sent: u64 = r.buckets.iter().map(|b| b.client.sent).sum();
    let ok: u64 = r.buckets.iter().map(|b| b.client.ok).sum();
    assert!(ok as f64 >= 0.99 * sent as f64, "{ok} of {sent} ok");
    // The initial endpoints are in the kernel before t=0, however the
    // engine programs them (`Cluster::start_clock`).
    let first = &r.buckets[0].client;
    assert!(
        first.errors.is_empty(),
        "errors in the first second: {:?}",
        first.errors
    );
    let per = mech(&o, "datapath_conns_per_client_conn");
    assert!(
        (per - 1.0).abs() <= 0.01,
        "datapath/client connections {per}"
    );
    let diff = mech(&o, "accounting_max_backend_diff");
    assert!(diff <= 0.01, "per-backend counts differ by {diff}");
    assert_eq!(r.datapath.backends.len(), 6, "{:?}", r.datapath.backends);
    let share = expectation(&o, "new_backend_share");
    assert!(
        (0.35..=0.65).contains(&share),
        "new backends' share {share}: {why}"
    );
    o
}

fn renats_reused_ports(engine: EngineSpec) {
    let o = fair_after_scale_up(engine, "netfilter should re-run NAT for reused ports");
    let r = &o.record;
    assert!(
        r.datapath.backends.values().all(|b| b.reselections == 0),
        "netfilter never moves an existing entry"
    );
}

/// Socket-LB (Cilium v1.16.0 bpf_sock.c): every connect() picks a random
/// backend before a packet exists, so a reused source port meets no service
/// conntrack and the 3 new of 6 backends get about half at once; the
/// per-backend counts are the connect4 program's and match the client's.
#[test]
fn socket_lb_selects_per_connect_and_counts_every_connection() {
    require_root!();
    let o = fair_after_scale_up(EngineSpec::SocketLb, "socket-LB selects per connect");
    let r = &o.record;
    let xlate = r.datapath.reasons.get("sock-xlate").copied().unwrap_or(0);
    assert!(xlate > 0, "{:?}", r.datapath.reasons);
    assert_eq!(
        r.datapath.reasons.get("service-hit").copied().unwrap_or(0),
        0,
        "no per-packet service LB"
    );
}

/// `svclab compare` end to end from the command line: the shipped
/// comparison suite under Cilium 1.11's eBPF LB, kube-proxy (iptables,
/// nftables) and socket-LB,
/// each engine's expectation holding (pinning vs re-NAT), one comparison
/// page linking both reports, nothing left behind.
#[test]
fn compare_runs_each_engine_and_writes_one_page() {
    require_root!();
    let _guard = one_at_a_time();
    let out = common::workdir("compare");
    let suite = repo().join("suites").join("ct-port-reuse-compare.yaml");
    let junit = out.join("compare.xml");
    let done = common::svclab(&[
        "compare",
        "-q",
        "--json",
        "--junit",
        junit.to_str().expect("utf-8"),
        "--time-scale",
        "0.35",
        "--out",
        out.to_str().expect("utf-8"),
        suite.to_str().expect("utf-8"),
    ])
    .output()
    .expect("svclab compare");
    assert_eq!(
        done.status.code(),
        Some(0),
        "both engines' expectations hold"
    );
    // `--json`: a `run --json` object per engine; `--junit`: a test suite each.
    let runs: Vec<serde_json::Value> = String::from_utf8_lossy(&done.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert!(runs.iter().all(|r| r["verdict"] == "pass"), "{runs:?}");
    let xml = std::fs::read_to_string(&junit).expect("junit file");
    assert_eq!(xml.matches("<testsuite ").count(), 4, "{xml}");
    assert!(
        xml.contains("name=\"ct-port-reuse-compare.kube-proxy-iptables\""),
        "{xml}"
    );
    let cmp_dir = out.join("ct-port-reuse-compare");
    let page = std::fs::read_dir(&cmp_dir)
        .expect("comparison folder")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("compare-"))
        })
        .expect("a compare-<id> folder")
        .join("index.html");
    let html = std::fs::read_to_string(&page).expect("comparison page");
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "one share chart per engine"
    );
    for label in [
        "ebpf:cilium-1.11",
        "kube-proxy-iptables",
        "kube-proxy-nftables",
        "socket-lb",
    ] {
        assert!(html.contains(label), "{label} on the page");
        let dir = out.join(format!("ct-port-reuse-compare.{}", label.replace(':', "-")));
        assert!(dir.exists(), "{} exists", dir.display());
    }
    let summary: svclab_report::compare::CompareSummary = serde_json::from_slice(
        &std::fs::read(page.with_file_name("compare.json")).expect("compare.json"),
    )
    .expect("parses");
    for e in &summary.engines {
        assert!(out.join(&e.report_dir).join("index.html").exists());
    }
    for e in &summary.engines {
        let id = e.report_dir.rsplit('/').next().unwrap_or_default();
        let prefix = format!("svl-{id}-");
        let left = svclab_testsupport::topo::netns_with_prefix(&prefix);
        assert!(left.is_empty(), "leftover netns {left:?}");
        let mounts = svclab_cgroup::leftover_mounts(&prefix);
        assert!(mounts.is_empty(), "leftover cgroup trees {mounts:?}");
    }
}

/// An engine this machine lacks is exit 2 with the reason, before any
/// kernel state exists (here: no netfilter tools on PATH; needs no root).
#[test]
fn a_missing_engine_is_bad_input_before_anything_is_built() {
    let dir = common::workdir("noengine");
    let suite = dir.join("kp.yaml");
    std::fs::write(
        &suite,
        "duration: 5s\ndatapath: { engine: kube-proxy-nftables }\n\
         deployments:\n  - { name: web, replicas: 1 }\n\
         services:\n  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }\n\
         clients:\n  - { name: c, service: web }\n",
    )
    .expect("write suite");
    let out = common::svclab(&["run", "-q", "--out", dir.to_str().expect("utf-8")])
        .arg(&suite)
        .env("PATH", dir.join("empty-path"))
        .output()
        .expect("svclab run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("engine kube-proxy-nftables needs `nft`"),
        "{err}"
    );
    assert!(!dir.join("kp").exists(), "no run folder was created");
}

/// kube-proxy's minSyncPeriod pacing against the eBPF datapath, from the
/// shipped suite: with 10s and the burst spent, a killed pod's DNAT rule
/// lingers and new connections to it time out; under eBPF they do not.
#[test]
fn kube_proxy_min_sync_period_lag_fails_connections_ebpf_does_not() {
    require_root!();
    let _guard = one_at_a_time();
    let path = repo().join("suites").join("kube-proxy-sync-lag.yaml");
    let loaded = svclab_suite::load(&path).expect("suite loads");
    let out = std::env::temp_dir().join(format!("svclab-synclag-{}", std::process::id()));
    let mut rates = Vec::new();
    for label in ["ebpf:cilium-1.16", "kube-proxy-iptables"] {
        let choice = svclab_suite::model::EngineChoice::parse(label).expect("label");
        let variant = svclab_suite::LoadedSuite {
            suite: svclab_suite::engines::for_engine(&loaded.suite, choice),
            ..loaded.clone()
        };
        let o = runner::run_suite(&variant, &run_options(out.clone(), 1.0)).expect("run");
        assert!(o.record.error.is_none(), "{label}: {:?}", o.record.error);
        assert_eq!(
            o.verdict,
            svclab_report::record::Verdict::Pass,
            "{label}: {:#?}",
            o.record.expectations
        );
        rates.push(expectation(&o, "error_rate"));
    }
    assert!(
        rates[1] > 5.0 * rates[0].max(0.0005),
        "kube-proxy's lag should cost far more connections: {rates:?}"
    );
}

/// kube-proxy's conntrack setup writes its timeouts in the node netns
/// (read back there) and leaves the root namespace's values alone.
#[test]
fn kube_proxy_writes_its_conntrack_timeouts_in_the_node_netns_only() {
    use svclab::engines::kubeproxy::{KubeProxyDataplane, Mode, conntrack};
    require_root!();
    let topo = svclab_testsupport::topo::Topology::new();
    let node = svclab_datapath::NetnsRef::named(&topo.node).expect("node netns");
    let names = [
        "nf_conntrack_tcp_timeout_established",
        "nf_conntrack_tcp_timeout_close_wait",
    ];
    let root = names.map(|n| conntrack::read(n).expect("root value"));
    let in_node = |ns: &svclab_datapath::NetnsRef| {
        ns.run(|| names.map(|n| conntrack::read(n).expect("node value")))
            .expect("enter node")
    };
    assert_eq!(
        in_node(&node),
        conntrack::KERNEL_DEFAULTS,
        "a fresh netns starts from the kernel's defaults"
    );
    let kp = KubeProxyDataplane::start(
        Mode::Iptables,
        &node,
        std::collections::BTreeMap::new(),
        std::time::Duration::ZERO,
    )
    .expect("start kube-proxy");
    assert_eq!(in_node(&node), [86_400, 3_600], "kube-proxy's 24h and 1h");
    assert_eq!(
        names.map(|n| conntrack::read(n).expect("root")),
        root,
        "root untouched"
    );
    svclab::engines::Dataplane::close(Box::new(kp)).expect("close");
}

/// `svclab monitor` on a live run of incident A, per engine: the eBPF
/// datapath (its ring buffer, filtered in the kernel by the client port)
/// shows the reused port reopening its old backend; kube-proxy (the node's
/// `conntrack -E` NEW events) shows every reuse as a new NAT decision.
#[test]
fn monitor_streams_a_live_runs_decisions_per_engine() {
    require_root!();
    for (engine, verdict) in [
        (EngineSpec::Ebpf, "ct-reopen"),
        (EngineSpec::KubeProxyIptables, "ct-new"),
    ] {
        let _guard = one_at_a_time();
        let path = repo().join("suites").join("ct-port-reuse-legacy.yaml");
        let mut loaded = svclab_suite::load(&path).expect("suite loads");
        loaded.suite.datapath.engine = engine;
        let out = std::env::temp_dir().join(format!("svclab-monitor-{}", std::process::id()));
        let opts = run_options(out.clone(), 12.0 / 60.0);
        let runner = std::thread::spawn(move || runner::run_suite(&loaded, &opts));
        // The state file appears once the cluster is up.
        let suite_dir = out.join("ct-port-reuse-legacy");
        let mut run_dir = None;
        for _ in 0..200 {
            run_dir = std::fs::read_dir(&suite_dir).ok().and_then(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .find(|p| p.join("state.json").exists())
            });
            if run_dir.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let run_dir = run_dir.expect("the run wrote its state file");
        // Let a port come round twice (each recurs every 2.5 s at full rate).
        std::thread::sleep(std::time::Duration::from_secs(3));
        let args = svclab::cli::MonitorArgs {
            run: run_dir,
            port: Some(40_001),
            backend: None,
            reasons: Vec::new(),
            node: None,
            count: Some(2),
            force: false,
            reports: out.clone(),
        };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut text = Vec::new();
        let n = svclab::cmd::monitor::monitor(&args, &stop, &mut text).expect("monitor");
        let text = String::from_utf8_lossy(&text).into_owned();
        let outcome = runner.join().expect("runner thread").expect("run");
        assert!(outcome.record.error.is_none(), "{:?}", outcome.record.error);
        let _ = std::fs::remove_dir_all(&out);
        assert_eq!(n, 2, "{engine:?}: {text}");
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert!(
            lines
                .iter()
                .all(|l| l.contains(":40001 -> 198.19.0.10:80") && l.contains(verdict)),
            "{engine:?}: {text}"
        );
        let backend = |l: &str| l.rsplit("-> ").next().map(str::to_owned);
        if engine == EngineSpec::Ebpf {
            assert_eq!(
                backend(lines[0]),
                backend(lines[1]),
                "reopened to the same backend: {text}"
            );
        }
    }
}

/// `sessionAffinity: ClientIP` on every engine (`affinity-nat-gateway`
/// scaled to 12 s): the one client address's connections all reach one
/// backend (Cilium's affinity map by address, or by netns cookie at the
/// socket; kube-proxy's `recent` lists and nftables sets), the scale-up's
/// three new backends get none, and the engine's own per-backend counts
/// show a single backend opened to.
#[test]
fn session_affinity_pins_one_client_address_on_every_engine() {
    require_root!();
    for engine in EngineSpec::ALL {
        let o = run_on("affinity-nat-gateway", engine, 12.0);
        let r = &o.record;
        assert_eq!(
            o.verdict,
            svclab_report::record::Verdict::Pass,
            "{engine:?}: {:#?}",
            r.expectations
        );
        let opened: Vec<_> = r
            .datapath
            .backends
            .iter()
            .filter(|(_, b)| b.connections > 0)
            .map(|(a, _)| a.clone())
            .collect();
        assert_eq!(opened.len(), 1, "{engine:?}: {:?}", r.datapath.backends);
        assert_eq!(expectation(&o, "new_backend_share"), 0.0, "{engine:?}");
    }
}

/// `text` on `engine` (both nodes), at its own length.
fn run_text_on(name: &str, text: &str, engine: EngineSpec) -> RunOutcome {
    let _guard = one_at_a_time();
    let mut loaded = svclab_suite::parse(text, Path::new(&format!("{name}.yaml"))).expect("suite");
    loaded.suite.datapath.engine = engine;
    let out = std::env::temp_dir().join(format!("svclab-engines-{}", std::process::id()));
    let o = runner::run_suite(&loaded, &run_options(out, 1.0)).expect("run");
    assert!(o.record.error.is_none(), "{name}: {:?}", o.record.error);
    o
}

/// Connections each backend pod was given, by name.
fn conns(o: &RunOutcome, pod: &str) -> u64 {
    o.record
        .datapath
        .backends
        .get(pod)
        .map_or(0, |b| b.connections)
}

fn errors(o: &RunOutcome, kind: &str) -> u64 {
    o.record
        .buckets
        .iter()
        .map(|b| b.client.errors.get(kind).copied().unwrap_or(0))
        .sum()
}

const LOCAL: &str = "\
name: itp-local
duration: 6s
cluster: { nodes: 2 }
deployments:
  - { name: web, replicas: 4 }
  - { name: api, replicas: 2, nodes: [1] }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web, internal_traffic_policy: Local }
  - { name: api, cluster_ip: 198.19.0.11, port: 80, selector: api, internal_traffic_policy: Local }
clients:
  - { name: c0, service: web, node: 0, load: { mode: open, rate: 50 }, timeout: 1s }
  - { name: lonely, service: api, node: 0, load: { mode: open, rate: 10 }, timeout: 1s }
";

/// `internalTrafficPolicy: Local` on every engine: node 0's client reaches
/// only node 0's web pods (web-0, web-2 of the round robin); the api
/// service has pods on node 1 only, so node 0 has none: kube-proxy drops
/// ("has no local endpoints": the connects time out), Cilium v1.16
/// answers as for any service without a backend (its ICMP reject:
/// refused), socket-LB refuses the connect (EHOSTUNREACH).
#[test]
fn internal_traffic_policy_local_keeps_traffic_on_its_node_on_every_engine() {
    require_root!();
    for (engine, kind) in [
        (EngineSpec::Ebpf, "refused"),
        (EngineSpec::KubeProxyIptables, "connect_timeout"),
        (EngineSpec::KubeProxyNftables, "connect_timeout"),
        (EngineSpec::SocketLb, "other"),
    ] {
        let o = run_text_on("itp-local", LOCAL, engine);
        let here = conns(&o, "web-0") + conns(&o, "web-2");
        let there = conns(&o, "web-1") + conns(&o, "web-3");
        assert!(
            here > 200 && there == 0,
            "{engine:?}: {here} here, {there} on node 1"
        );
        assert_eq!(conns(&o, "api-0") + conns(&o, "api-1"), 0, "{engine:?}");
        let failed = errors(&o, kind);
        assert!(
            failed >= 30,
            "{engine:?}: {failed} {kind} of ~60 api requests: {:?}",
            o.record
                .buckets
                .iter()
                .map(|b| &b.client.errors)
                .collect::<Vec<_>>()
        );
        assert!(
            o.record
                .events
                .iter()
                .any(|e| e.kind == "node_endpoints" && e.detail.contains("no local endpoint")),
            "{engine:?}"
        );
    }
}

const CLOSE: &str = "\
name: prefer-close
duration: 6s
cluster: { nodes: 3, zones: [a, a, b] }
deployments:
  - { name: web, replicas: 3 }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web, traffic_distribution: PreferClose }
clients:
  - { name: in-a, service: web, node: 0, load: { mode: open, rate: 60 } }
  - { name: in-b, service: web, node: 2, load: { mode: open, rate: 20 } }
";

/// `trafficDistribution: PreferClose` on every engine: zone b's only pod
/// (web-2, node 2) takes exactly zone b's client (a quarter of the load,
/// not a third) and zone a's pods none of it.
#[test]
fn prefer_close_keeps_each_zones_traffic_in_its_zone_on_every_engine() {
    require_root!();
    for engine in EngineSpec::ALL {
        let o = run_text_on("prefer-close", CLOSE, engine);
        let (a, b) = (conns(&o, "web-0") + conns(&o, "web-1"), conns(&o, "web-2"));
        let share = b as f64 / (a + b) as f64;
        assert!(
            (0.22..0.28).contains(&share),
            "{engine:?}: web-2 took {share:.3} ({b} of {})",
            a + b
        );
    }
}

const NODE_PORT: &str = "\
name: node-port
duration: 6s
cluster: { nodes: 3 }
deployments:
  - { name: web, replicas: 2, nodes: [0, 1] }
services:
  - { name: cl, cluster_ip: 198.19.0.10, port: 80, selector: web, type: NodePort, node_port: 30080 }
  - { name: lo, cluster_ip: 198.19.0.11, port: 80, selector: web, type: NodePort, node_port: 30081, external_traffic_policy: Local }
clients:
  - { name: cluster-0, service: cl, external: true, node: 0, duration: 1800ms, load: { mode: open, rate: 60 } }
  - { name: local-0, service: lo, external: true, node: 0, start: 2s, duration: 1800ms, load: { mode: open, rate: 60 } }
  - { name: local-2, service: lo, external: true, node: 2, start: 4s, load: { mode: open, rate: 20 }, timeout: 1s }
";

/// Sums `f` over the buckets starting in [from, to).
fn over(
    o: &RunOutcome,
    from: f64,
    to: f64,
    f: impl Fn(&svclab_report::record::Bucket) -> u64,
) -> u64 {
    o.record
        .buckets
        .iter()
        .filter(|b| b.t_s >= from && b.t_s < to)
        .map(f)
        .sum()
}

/// NodePort from a client outside the cluster, on every engine, one phase
/// per second pair: through node 0's `Cluster` NodePort both pods serve
/// (web-1 on node 1 through the node's SNAT) and kube-proxy masquerades
/// every flow while Cilium keeps the client's address for node 0's own pod;
/// through node 0's `Local` NodePort only web-0 serves and sees the
/// client; node 2's `Local` NodePort has no local endpoint: kube-proxy
/// drops (connect timeouts), Cilium v1.16 answers with its ICMP reject
/// (refused), on the tc path under socket-LB too.
#[test]
fn node_port_external_policies_on_every_engine() {
    require_root!();
    for (engine, kind) in [
        (EngineSpec::Ebpf, "refused"),
        (EngineSpec::KubeProxyIptables, "connect_timeout"),
        (EngineSpec::KubeProxyNftables, "connect_timeout"),
        (EngineSpec::SocketLb, "refused"),
    ] {
        let o = run_text_on("node-port", NODE_PORT, engine);
        let served = |from: f64, to: f64, pod: &'static str| {
            over(&o, from, to, |b| {
                b.backends.get(pod).map_or(0, |x| x.responses)
            })
        };
        let ok = |from, to| over(&o, from, to, |b| b.client.ok);
        let kept = |from, to| over(&o, from, to, |b| b.client.source_kept);
        let errs = |from, to| over(&o, from, to, |b| b.client.error_count());
        // Cluster, through node 0.
        let (w0, w1) = (served(0.0, 2.0, "web-0"), served(0.0, 2.0, "web-1"));
        assert!(
            w0 > 20 && w1 > 20,
            "{engine:?}: cluster phase web-0 {w0}, web-1 {w1}"
        );
        assert_eq!(errs(0.0, 2.0), 0, "{engine:?}: cluster phase errors");
        let (k, n) = (kept(0.0, 2.0), ok(0.0, 2.0));
        if matches!(engine, EngineSpec::Ebpf | EngineSpec::SocketLb) {
            // Exactly the local pod's responses keep the address.
            assert_eq!(k, w0, "{engine:?}: {k} kept of {n}");
        } else {
            assert_eq!(k, 0, "{engine:?}: kube-proxy masquerades, {k} kept of {n}");
        }
        // Local, through node 0: its own pod only, address kept.
        assert_eq!(
            served(2.0, 4.0, "web-1"),
            0,
            "{engine:?}: web-1 under Local"
        );
        let (k, n) = (kept(2.0, 4.0), ok(2.0, 4.0));
        assert!(n > 60 && k == n, "{engine:?}: local phase {k} kept of {n}");
        // Local, through node 2: no local endpoint.
        let failed = over(&o, 4.0, 7.0, |b| {
            b.client.errors.get(kind).copied().unwrap_or(0)
        });
        assert!(
            failed >= 10 && ok(4.0, 7.0) == 0,
            "{engine:?}: {failed} {kind} at node 2: {:?}",
            o.record
                .buckets
                .iter()
                .map(|b| &b.client.errors)
                .collect::<Vec<_>>()
        );
    }
}
