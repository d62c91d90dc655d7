//! Real traffic through the datapath in network namespaces: one node, a
//! client pod and three backend pods running small HTTP servers, the
//! programs attached to the pods' lxc veths. One test runs the scenarios in
//! sequence so it can assert at the end that nothing it created is left.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddrV4,
    time::Duration,
};

mod common;

use common::lab::{CLIENT_IP, Lab, PORT, vip};
use svclab_datapath::{AttachMode, Config, CtKind, CtReuse, NetnsRef, Profile, Reason};
use svclab_testsupport::{require_root, topo};

/// The lab with the programs on every pod's lxc.
fn cluster(config: Config) -> Lab {
    let mut lab = Lab::new(config);
    for pod in &lab.topo.pods {
        lab.dp.attach(&pod.lxc).expect("attach");
    }
    lab
}

/// `http_get` from a bound port, retrying while the previous connection on
/// that port is still finishing its close (EADDRINUSE).
fn get_from(port: u16) -> (SocketAddrV4, String) {
    let mut last = None;
    for _ in 0..50 {
        match topo::http_get(vip(), Some(SocketAddrV4::new(CLIENT_IP, port))) {
            Ok(r) => return r,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                std::thread::sleep(Duration::from_millis(5));
                last = Some(e);
            }
            Err(e) => panic!("request from port {port}: {e}"),
        }
    }
    panic!("port {port} stayed in use: {last:?}");
}

fn connections_all_succeed_and_are_counted() {
    let c = cluster(Config::default());
    let results = c.in_client(|| {
        (0..300)
            .map(|_| topo::http_get(vip(), None))
            .collect::<Vec<_>>()
    });
    let mut per_pod: BTreeMap<String, u64> = BTreeMap::new();
    for r in results {
        let (peer, pod) = r.expect("every connection to the VIP succeeds");
        assert_eq!(peer, vip(), "the client sees the VIP as its peer");
        *per_pod.entry(pod).or_default() += 1;
    }
    assert_eq!(per_pod.values().sum::<u64>(), 300);
    assert_eq!(per_pod.len(), 3, "all backends served: {per_pod:?}");

    let counters = c.dp.counters().expect("counters");
    let selections: u64 = counters.backends.values().map(|s| s.selections).sum();
    assert_eq!(
        selections, 300,
        "per-backend selections sum to the connections"
    );
    for (i, pod) in c.topo.pods[1..].iter().enumerate() {
        let sel = counters.backends[&SocketAddrV4::new(pod.ip, PORT)].selections;
        assert_eq!(
            sel, per_pod[&pod.name],
            "datapath and client agree for {}",
            pod.name
        );
        assert_eq!(
            c.servers[i]
                .served
                .load(std::sync::atomic::Ordering::Relaxed),
            sel
        );
    }
    let ct = c.dp.ct_entries().expect("ct");
    let service: Vec<_> = ct.iter().filter(|e| e.kind == CtKind::Service).collect();
    assert_eq!(service.len(), 300, "one service CT entry per flow");
    let ports: BTreeSet<u16> = service.iter().map(|e| e.client.port()).collect();
    assert_eq!(ports.len(), 300);
    assert!(
        service
            .iter()
            .all(|e| e.target == vip() && e.backend.is_some())
    );
    assert_eq!(ct.iter().filter(|e| e.kind == CtKind::Out).count(), 300);
    assert!(
        counters.reason(Reason::RevNat) >= 600,
        "replies were reverse-NATed"
    );
    assert_eq!(
        counters.reason(Reason::DropNoBackend) + counters.reason(Reason::DropRewrite),
        0
    );
    c.dp.close().expect("detach cleanly");
}

/// 20 fixed source ports, each reused `rounds` times; returns port → pods seen.
fn reuse_ports(c: &Lab, rounds: usize, pause: Duration) -> BTreeMap<u16, Vec<String>> {
    c.in_client(|| {
        let mut seen: BTreeMap<u16, Vec<String>> = BTreeMap::new();
        for round in 0..rounds {
            if round > 0 {
                std::thread::sleep(pause);
            }
            for port in 50000..50020u16 {
                let (peer, pod) = get_from(port);
                assert_eq!(peer, vip());
                seen.entry(port).or_default().push(pod);
            }
        }
        seen
    })
}

fn legacy_pins_reused_ports() {
    let c = cluster(Config::profile(Profile::Cilium1_11));
    let seen = reuse_ports(&c, 8, Duration::from_millis(50));
    for (port, pods) in &seen {
        assert!(
            pods.iter().all(|p| p == &pods[0]),
            "legacy: port {port} moved between backends: {pods:?}"
        );
    }
    let counters = c.dp.counters().expect("counters");
    assert_eq!(
        counters.reason(Reason::CtReopen),
        20 * 7,
        "every reuse reopened its entry"
    );
    assert_eq!(counters.reason(Reason::CtRebalance), 0);
    c.dp.close().expect("detach");
}

fn close_rebalance_moves_reused_ports() {
    // Grace 0 s: every SYN on a closing entry rebalances (PR 20407's
    // description), so the test need not wait whole seconds.
    let c = cluster(Config {
        ct_reuse: CtReuse::CloseRebalance {
            grace: Duration::ZERO,
        },
        ..Config::profile(Profile::Cilium1_12)
    });
    let seen = reuse_ports(&c, 6, Duration::from_millis(300));
    let moved = seen
        .values()
        .filter(|pods| pods.iter().any(|p| p != &pods[0]))
        .count();
    // Each reuse reselects at random over 3 backends: a port staying put for
    // 5 reuses has probability (1/3)^5.
    assert!(
        moved >= 18,
        "close-rebalance: only {moved}/20 ports changed backend: {seen:?}"
    );
    let counters = c.dp.counters().expect("counters");
    assert_eq!(counters.reason(Reason::CtRebalance), 20 * 5);
    c.dp.close().expect("detach");
}

/// Program names on `lxc`'s ingress and egress hooks, as `tc filter show`
/// (clsact + cls_bpf) or the TCX query lists them.
fn hooked(c: &Lab, lxc: &str, mode: AttachMode) -> (Vec<String>, Vec<String>) {
    match mode {
        AttachMode::Tcx => {
            svclab_datapath::tcx_programs(&NetnsRef::named(&c.topo.node).expect("node"), lxc)
                .expect("tcx query")
        }
        AttachMode::Tc => {
            let show = |dir: &str| -> Vec<String> {
                let out = std::process::Command::new("tc")
                    .args(["-n", &c.topo.node, "filter", "show", "dev", lxc, dir])
                    .output()
                    .expect("tc filter show");
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .skip_while(|w| *w != "name")
                    .nth(1)
                    .map(str::to_owned)
                    .into_iter()
                    .collect()
            };
            (show("ingress"), show("egress"))
        }
    }
}

/// Both attach modes put `from_pod` on ingress and `to_pod` on egress,
/// carry the same traffic, and `detach` takes them off; `release` leaves
/// a cls_bpf filter for the interface's deletion to remove.
fn attach_modes() {
    for mode in [AttachMode::Tc, AttachMode::Tcx] {
        let mut c = cluster(Config {
            attach: mode,
            ..Config::default()
        });
        let lxc = c.topo.pods[1].lxc.clone();
        let on = (vec!["from_pod".to_owned()], vec!["to_pod".to_owned()]);
        assert_eq!(hooked(&c, &lxc, mode), on, "{mode:?}");
        let (_, body) = c.in_client(|| get_from(0));
        assert!(!body.is_empty(), "{mode:?}: empty response");
        c.dp.detach(&lxc).expect("detach");
        assert_eq!(
            hooked(&c, &lxc, mode),
            (vec![], vec![]),
            "{mode:?} detached"
        );
        // Attaching again (the clsact qdisc is still there) works.
        c.dp.attach(&lxc).expect("attach again");
        assert_eq!(hooked(&c, &lxc, mode), on, "{mode:?} attached again");
        c.dp.detach(&lxc).expect("detach again");
        let other = c.topo.pods[2].lxc.clone();
        c.dp.release(&other).expect("release");
        let left = if mode == AttachMode::Tc {
            on
        } else {
            (vec![], vec![])
        };
        assert_eq!(hooked(&c, &other, mode), left, "{mode:?} released");
        assert!(c.dp.detach(&other).is_err(), "released means forgotten");
    }
}

/// A connect to a service without backends: ECONNREFUSED at once from
/// v1.15 (the ICMP port unreachable the datapath sends back, seen by the
/// client's kernel), a connect timeout up to v1.14 (dropped SYNs).
fn no_backend_response_per_profile() {
    for (profile, refused) in [(Profile::Cilium1_16, true), (Profile::Cilium1_12, false)] {
        let mut c = cluster(Config::profile(profile));
        c.dp.set_backends(svclab_svc(), &[]).expect("no backends");
        let (kind, took) = c.in_client(|| {
            let start = std::time::Instant::now();
            let r =
                std::net::TcpStream::connect_timeout(&vip().into(), Duration::from_millis(1500));
            (r.map(|_| ()).map_err(|e| e.kind()), start.elapsed())
        });
        if refused {
            assert_eq!(
                kind,
                Err(std::io::ErrorKind::ConnectionRefused),
                "{profile:?}"
            );
            assert!(
                took < Duration::from_millis(500),
                "{profile:?}: refused at once, took {took:?}"
            );
            assert!(
                c.dp.counters()
                    .expect("counters")
                    .reason(Reason::RejectNoBackend)
                    >= 1
            );
        } else {
            assert_eq!(kind, Err(std::io::ErrorKind::TimedOut), "{profile:?}");
            assert!(
                c.dp.counters()
                    .expect("counters")
                    .reason(Reason::DropNoBackend)
                    >= 1
            );
        }
    }
}

fn svclab_svc() -> svclab_datapath::Frontend {
    svclab_datapath::Frontend::tcp(vip().ip().to_owned(), 80)
}

/// `svclab monitor`'s reader on real traffic: with a port filter only that
/// client port's decisions arrive (filtered in the kernel), a reused port
/// under the legacy rule shows `ct-reopen` to its first backend, and
/// nothing is written once the monitor is gone.
fn monitor_reports_filtered_decisions() {
    let c = cluster(Config::profile(Profile::Cilium1_11));
    let ids = c.dp.map_ids().expect("map ids");
    let port = 41234;
    let spec = svclab_datapath::MonitorSpec {
        port: Some(port),
        ..Default::default()
    };
    let mut m = svclab_datapath::Monitor::attach(&ids, &spec, false).expect("attach monitor");
    assert!(
        matches!(
            svclab_datapath::Monitor::attach(&ids, &spec, false),
            Err(svclab_datapath::Error::MonitorBusy)
        ),
        "a second monitor is refused"
    );
    c.in_client(|| {
        get_from(0);
        get_from(port);
        get_from(port);
    });
    let mut events = Vec::new();
    for _ in 0..20 {
        events.extend(m.poll(Duration::from_millis(50)).expect("poll"));
        if events.len() >= 2 {
            break;
        }
    }
    assert!(
        events.iter().all(|e| e.client.port() == port),
        "only the filtered port: {events:#?}"
    );
    let verdicts: Vec<Reason> = events.iter().map(|e| e.verdict).collect();
    assert_eq!(verdicts, [Reason::CtNew, Reason::CtReopen], "{events:#?}");
    assert_eq!(
        events[0].backend, events[1].backend,
        "reopened to the same backend"
    );
    assert_eq!(events[0].service, vip());
    // Detached: the programs write nothing, whatever the traffic. Read the
    // ring itself (attaching would empty it and set a filter).
    drop(m);
    c.in_client(|| {
        get_from(port);
        get_from(0);
    });
    let unread = |ids: &std::collections::BTreeMap<String, u32>| {
        let id = ids[svclab_datapath_common::maps::MONITOR];
        let data = aya::maps::MapData::from_id(id).expect("ring by id");
        let mut ring = aya::maps::RingBuf::try_from(aya::maps::Map::RingBuf(data)).expect("ring");
        let mut n = 0;
        while ring.next().is_some() {
            n += 1;
        }
        n
    };
    assert_eq!(
        unread(&ids),
        0,
        "nothing written while no monitor is attached"
    );
    // The same read sees events when one is (so the check above can fail).
    let m = svclab_datapath::Monitor::attach(&ids, &Default::default(), false).expect("attach");
    c.in_client(|| get_from(port));
    assert!(
        unread(&ids) >= 1,
        "an attached monitor's events are in the ring"
    );
    drop(m);
}

#[test]
fn real_traffic_through_the_datapath() {
    require_root!();
    let before_fds = topo::bpf_fds();
    let prefix = format!("svl-t{}", std::process::id());

    connections_all_succeed_and_are_counted();
    legacy_pins_reused_ports();
    close_rebalance_moves_reused_ports();
    attach_modes();
    no_backend_response_per_profile();
    monitor_reports_filtered_decisions();

    assert!(
        topo::netns_with_prefix(&prefix).is_empty(),
        "leftover netns: {:?}",
        topo::netns_with_prefix(&prefix)
    );
    assert_eq!(
        topo::bpf_fds(),
        before_fds,
        "leftover BPF programs, maps or links"
    );
    assert!(
        topo::child_processes().is_empty(),
        "leftover processes: {:?}",
        topo::child_processes()
    );
}
