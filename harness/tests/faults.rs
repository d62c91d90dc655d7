//! Network faults on real traffic in a two-node topology, each effect
//! measured by the test's own sockets inside the namespaces (datagrams
//! counted at the receiver, connect times, bytes per second, connection
//! errors), never by svclab's counters: loss on the receiving side,
//! blackhole on a path between nodes, delay through the NFQUEUE delay line
//! (in order, and reordered when allowed), a TBF rate limit, resets of
//! established connections and a share of new ones refused. After each
//! fault is dropped the path is whole again and no rule or qdisc is left.
use std::{
    io::{ErrorKind, Read as _, Write as _},
    net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

use svclab::chaos::{
    ActiveFault, Hop, Kind, Placement, PortFilter, PortSide, ProbeAt, delay::DelayModel,
    measure::ProbeKind,
};
use svclab_datapath::{FAULT_MODEL_RANDOM, FaultConfig, NetnsRef, probability};
use svclab_testsupport::{require_root, unique_prefix};
use svclab_topology::{
    FABRIC_IFNAME, PodSpec, Topology, TopologySpec, fabric_address, probe_address,
};

/// Two nodes; pods `a` and `b` on node 0, `c` on node 1.
struct Lab {
    a: (NetnsRef, Ipv4Addr),
    b: (NetnsRef, Ipv4Addr, String),
    c: (NetnsRef, Ipv4Addr),
    node0: NetnsRef,
    node1: NetnsRef,
    prefix: String,
    topo: Topology,
}

impl Lab {
    fn new() -> Self {
        let prefix = unique_prefix("flt");
        let mut topo = Topology::build(TopologySpec::new(prefix.clone(), 2)).expect("topology");
        let plan = topo.plan();
        let mut pod = |name: &str, node: u8, k: u32| {
            let ip = plan.pod_ip(node, k).expect("pod ip");
            let info = topo
                .add_pod(PodSpec {
                    name: name.into(),
                    node,
                    ip,
                })
                .expect("pod");
            (
                NetnsRef::open(&info.netns_path).expect("pod netns"),
                ip,
                info.lxc,
            )
        };
        let a = pod("a", 0, 10);
        let b = pod("b", 0, 11);
        let c = pod("c", 1, 10);
        Lab {
            a: (a.0, a.1),
            b,
            c: (c.0, c.1),
            node0: NetnsRef::open(topo.node_netns_path(0)).expect("node0"),
            node1: NetnsRef::open(topo.node_netns_path(1)).expect("node1"),
            prefix,
            topo,
        }
    }

    fn comment(&self, name: &str) -> String {
        format!("{}fault-{name}", self.prefix)
    }

    /// Pod b's receiving sides: `to` its eth0, `from` its lxc in the node.
    fn pod_b(&self, to: bool, from: bool) -> Placement {
        let mut p = Placement {
            what: "b".into(),
            ..Default::default()
        };
        if to {
            p.hops.push(Hop {
                netns: self.b.0.try_clone().expect("ns"),
                ifname: "eth0".into(),
                egress: false,
                src: Vec::new(),
                port: None,
            });
            p.shapers
                .push((self.node0.try_clone().expect("ns"), self.b.2.clone()));
        }
        if from {
            p.hops.push(Hop {
                netns: self.node0.try_clone().expect("ns"),
                ifname: self.b.2.clone(),
                egress: false,
                src: Vec::new(),
                port: None,
            });
            p.shapers
                .push((self.b.0.try_clone().expect("ns"), "eth0".into()));
        }
        p.pods.push(self.b.0.try_clone().expect("ns"));
        p.probe = Some(ProbeAt {
            netns: self.node0.try_clone().expect("ns"),
            to: self.b.1,
            kind: ProbeKind::Icmp,
            name: "node0 → b".into(),
        });
        p
    }

    /// Service traffic to pod b on `port`: `pod_b` narrowed by port, the
    /// node's gateway spared, probed by TCP SYN from the node's measuring
    /// address.
    fn service_b(&self, port: u16) -> Placement {
        let spare = self.topo.plan().gateway(0);
        let filter = |side| PortFilter { port, side, spare };
        let mut p = self.pod_b(true, true);
        p.hops[0].port = Some(filter(PortSide::Dst));
        p.hops[1].port = Some(filter(PortSide::Src));
        p.pod_port = Some(filter(PortSide::Dst));
        if let Some(probe) = p.probe.as_mut() {
            probe.kind = ProbeKind::TcpSyn {
                port,
                from: probe_address(0),
            };
        }
        p
    }
}

/// Sends `n` datagrams from `from` to `to:port`, 200 µs apart; returns the
/// sequence numbers received, in arrival order.
fn udp_run(from: &NetnsRef, to: (&NetnsRef, Ipv4Addr), n: u32, gap: Duration) -> Vec<u32> {
    let port = 9000;
    let rx =
        to.0.run(|| UdpSocket::bind(SocketAddrV4::new(to.1, port)))
            .expect("netns")
            .expect("bind");
    rx.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let tx = from
        .run(|| UdpSocket::bind("0.0.0.0:0"))
        .expect("netns")
        .expect("bind");
    let sender = std::thread::spawn(move || {
        for i in 0..n {
            tx.send_to(&i.to_be_bytes(), SocketAddrV4::new(to.1, port))
                .expect("send: the sender's own stack never sees the loss");
            std::thread::sleep(gap);
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    while let Ok(k) = rx.recv(&mut buf) {
        if k == 4 {
            got.push(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
        }
    }
    sender.join().expect("sender");
    got
}

/// A listener on `ip:port` inside `ns` accepting (and holding) every
/// connection on a thread; returns when it listens.
fn listen(ns: &NetnsRef, ip: Ipv4Addr, port: u16) -> TcpListener {
    ns.run(|| TcpListener::bind(SocketAddrV4::new(ip, port)))
        .expect("netns")
        .expect("listen")
}

/// How long a TCP connect from `from` to `to` takes (one round trip).
fn connect_time(from: &NetnsRef, to: SocketAddrV4) -> Duration {
    from.run(|| {
        let t = Instant::now();
        let s = TcpStream::connect_timeout(&to.into(), Duration::from_secs(5)).expect("connect");
        let took = t.elapsed();
        drop(s);
        took
    })
    .expect("netns")
}

/// The fault rules svclab left in `ns` (lines naming the run's prefix).
fn leftover_rules(ns: &NetnsRef, prefix: &str) -> Vec<String> {
    let out = ns
        .run(|| std::process::Command::new("iptables-nft-save").output())
        .expect("netns")
        .expect("iptables-nft-save");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(prefix))
        .map(str::to_owned)
        .collect()
}

fn qdisc(ns: &NetnsRef, ifname: &str) -> String {
    let out = ns
        .run(|| {
            std::process::Command::new("tc")
                .args(["qdisc", "show", "dev", ifname])
                .output()
        })
        .expect("netns")
        .expect("tc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ms` each way, no jitter, in order, a 1000-packet queue.
fn fixed_delay(ms: u64) -> DelayModel {
    DelayModel {
        delay: Duration::from_millis(ms),
        jitter: Duration::ZERO,
        normal: false,
        reorder: false,
        limit: 1000,
    }
}

#[test]
fn loss_drops_its_share_where_the_packet_is_received() {
    require_root!();
    let lab = Lab::new();
    for (to, from) in [(true, false), (false, true)] {
        let cfg = FaultConfig {
            model: FAULT_MODEL_RANDOM,
            loss: probability(0.2),
            ..Default::default()
        };
        let f = ActiveFault::start(
            &Kind::Loss(cfg),
            &lab.pod_b(to, from),
            &lab.comment("loss"),
            1,
        )
        .expect("start");
        let n = 2000;
        let got = if to {
            udp_run(&lab.a.0, (&lab.b.0, lab.b.1), n, Duration::from_micros(200))
        } else {
            udp_run(&lab.b.0, (&lab.a.0, lab.a.1), n, Duration::from_micros(200))
        };
        let lost = f64::from(n) - got.len() as f64;
        eprintln!("loss 20% (to={to}): {lost} of {n} datagrams lost");
        let (mean, sigma) = (f64::from(n) * 0.2, (f64::from(n) * 0.2 * 0.8).sqrt());
        assert!(
            (lost - mean).abs() < 5.0 * sigma,
            "to={to}: {lost} of {n} lost, expected {mean} ± {:.0}",
            5.0 * sigma
        );
        let r = f.finish().expect("finish");
        assert!(
            r.dropped >= lost as u64,
            "the program dropped what the receiver missed"
        );
        // Cleared: everything arrives again.
        let got = udp_run(
            &lab.a.0,
            (&lab.b.0, lab.b.1),
            300,
            Duration::from_micros(200),
        );
        assert_eq!(got.len(), 300, "to={to}: whole again after the fault");
    }
}

#[test]
fn blackhole_on_a_path_cuts_only_that_path() {
    require_root!();
    let lab = Lab::new();
    let plan = lab.topo.plan();
    let from = |n: u8| {
        vec![
            (plan.pod_cidr(n), plan.prefix_len()),
            (fabric_address(n), 32),
        ]
    };
    let place = Placement {
        what: "path 0 ↔ 1".into(),
        hops: vec![
            Hop {
                netns: lab.node1.try_clone().expect("ns"),
                ifname: FABRIC_IFNAME.into(),
                egress: false,
                src: from(0),
                port: None,
            },
            Hop {
                netns: lab.node0.try_clone().expect("ns"),
                ifname: FABRIC_IFNAME.into(),
                egress: false,
                src: from(1),
                port: None,
            },
        ],
        ..Default::default()
    };
    let f = ActiveFault::start(&Kind::Blackhole, &place, &lab.comment("cut"), 2).expect("start");
    let across = udp_run(
        &lab.a.0,
        (&lab.c.0, lab.c.1),
        200,
        Duration::from_micros(200),
    );
    assert!(
        across.is_empty(),
        "node 0 → node 1 cut: {} arrived",
        across.len()
    );
    let back = udp_run(
        &lab.c.0,
        (&lab.a.0, lab.a.1),
        200,
        Duration::from_micros(200),
    );
    assert!(
        back.is_empty(),
        "node 1 → node 0 cut: {} arrived",
        back.len()
    );
    let local = udp_run(
        &lab.a.0,
        (&lab.b.0, lab.b.1),
        200,
        Duration::from_micros(200),
    );
    assert_eq!(local.len(), 200, "inside node 0 untouched");
    drop(f);
    let healed = udp_run(
        &lab.a.0,
        (&lab.c.0, lab.c.1),
        200,
        Duration::from_micros(200),
    );
    assert_eq!(healed.len(), 200, "healed once the fault is gone");
}

#[test]
fn delay_adds_its_time_each_way_and_keeps_order_unless_told() {
    require_root!();
    let lab = Lab::new();
    let l = listen(&lab.b.0, lab.b.1, 8080);
    let to = SocketAddrV4::new(lab.b.1, 8080);
    let base = connect_time(&lab.a.0, to);
    let model = fixed_delay(40);
    let f = ActiveFault::start(
        &Kind::Delay(model),
        &lab.pod_b(true, true),
        &lab.comment("slow"),
        3,
    )
    .expect("start");
    let mut times: Vec<Duration> = (0..9).map(|_| connect_time(&lab.a.0, to)).collect();
    times.sort_unstable();
    let median = times[4];
    eprintln!("delay 40 ms each way: connect {median:?} (median of 9), {base:?} without");
    assert!(
        median >= Duration::from_millis(80) && median < Duration::from_millis(110),
        "connect (one round trip through 40 ms each way) took {median:?}; {base:?} without the fault"
    );
    let r = f.finish().expect("finish");
    let d = r.delay.expect("delay stats");
    assert!(d.packets >= 18, "the line held the handshakes: {d:?}");
    assert!(
        (75_000..100_000).contains(&r.ping.rtt_p50_us),
        "the pinger saw the round trip: {:?}",
        r.ping
    );
    drop(l);

    // ± 15 ms of jitter on datagrams 1 ms apart: in order unless
    // reordering is allowed, then out of order.
    for reorder in [false, true] {
        let model = DelayModel {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(15),
            normal: false,
            reorder,
            limit: 1000,
        };
        let f = ActiveFault::start(
            &Kind::Delay(model),
            &lab.pod_b(true, false),
            &lab.comment("j"),
            4,
        )
        .expect("start");
        let got = udp_run(&lab.a.0, (&lab.b.0, lab.b.1), 300, Duration::from_millis(1));
        drop(f);
        assert_eq!(got.len(), 300, "reorder={reorder}: nothing lost");
        let inversions = got.windows(2).filter(|w| w[1] < w[0]).count();
        if reorder {
            assert!(inversions > 10, "jitter reorders: {inversions} inversions");
        } else {
            assert_eq!(inversions, 0, "in order: {got:?}");
        }
    }
    assert!(leftover_rules(&lab.b.0, &lab.prefix).is_empty());
    assert!(leftover_rules(&lab.node0, &lab.prefix).is_empty());
}

#[test]
fn bandwidth_limits_the_rate_into_the_pod() {
    require_root!();
    let lab = Lab::new();
    let l = listen(&lab.b.0, lab.b.1, 8081);
    let reader = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let mut n = 0usize;
        let t = Instant::now();
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        (n, t.elapsed())
    });
    let rate = 8_000_000u64;
    let f = ActiveFault::start(
        &Kind::Bandwidth {
            rate_bps: rate,
            burst: 16 * 1024,
        },
        &lab.pod_b(true, false),
        &lab.comment("narrow"),
        5,
    )
    .expect("start");
    assert!(
        qdisc(&lab.node0, &lab.b.2).contains("tbf"),
        "TBF on the lxc"
    );
    let to = SocketAddrV4::new(lab.b.1, 8081);
    lab.a
        .0
        .run(|| {
            let mut s = TcpStream::connect(to).expect("connect");
            let chunk = vec![7u8; 64 * 1024];
            for _ in 0..32 {
                s.write_all(&chunk).expect("write");
            }
        })
        .expect("netns");
    let (n, took) = reader.join().expect("reader");
    drop(f);
    let bps = n as f64 * 8.0 / took.as_secs_f64();
    eprintln!("bandwidth 8 Mbit/s: {:.2} Mbit/s measured", bps / 1e6);
    assert_eq!(n, 2 * 1024 * 1024);
    assert!(
        (0.75 * rate as f64..1.15 * rate as f64).contains(&bps),
        "{:.2} Mbit/s through an 8 Mbit/s limit",
        bps / 1e6
    );
    assert!(!qdisc(&lab.node0, &lab.b.2).contains("tbf"), "TBF removed");
}

#[test]
fn reset_ends_established_connections_and_refuses_a_share_of_new_ones() {
    require_root!();
    let lab = Lab::new();
    let l = listen(&lab.b.0, lab.b.1, 8082);
    let to = SocketAddrV4::new(lab.b.1, 8082);
    let mut clients: Vec<TcpStream> = lab
        .a
        .0
        .run(|| {
            (0..5)
                .map(|_| TcpStream::connect(to).expect("connect"))
                .collect()
        })
        .expect("netns");
    let held: Vec<TcpStream> = (0..5).map(|_| l.accept().expect("accept").0).collect();
    let f = ActiveFault::start(
        &Kind::Reset {
            established: true,
            every: None,
            lasts: None,
            new_p: None,
        },
        &lab.pod_b(true, true),
        &lab.comment("rst"),
        6,
    )
    .expect("start");
    for c in &mut clients {
        c.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut b = [0u8; 1];
        let e = c.read(&mut b).expect_err("the peer reset it");
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    }
    let r = f.finish().expect("finish");
    assert_eq!(r.resets, 5, "five connections destroyed");
    drop(held);

    let f = ActiveFault::start(
        &Kind::Reset {
            established: false,
            every: None,
            lasts: None,
            new_p: Some(0.5),
        },
        &lab.pod_b(true, false),
        &lab.comment("rst-new"),
        7,
    )
    .expect("start");
    l.set_nonblocking(true).expect("nonblocking");
    let n = 200;
    let refused = lab
        .a
        .0
        .run(|| {
            (0..n)
                .filter(|_| {
                    let r = TcpStream::connect_timeout(&to.into(), Duration::from_secs(2));
                    while l.accept().is_ok() {}
                    matches!(r, Err(e) if e.kind() == ErrorKind::ConnectionRefused)
                })
                .count()
        })
        .expect("netns");
    eprintln!("reset new 50%: {refused} of {n} connects refused");
    assert!(
        (65..=135).contains(&refused),
        "{refused} of {n} refused with a RST at 50%"
    );
    assert_eq!(
        leftover_rules(&lab.b.0, &lab.prefix).len(),
        1,
        "the rule is in place"
    );
    drop(f);
    assert!(
        leftover_rules(&lab.b.0, &lab.prefix).is_empty(),
        "and gone after"
    );
    let ok = connect_time(&lab.a.0, to);
    assert!(ok < Duration::from_secs(1));
}

/// A connect from `from` to `to` within `limit`: its local address, or
/// the error.
fn try_connect(from: &NetnsRef, to: SocketAddrV4, limit: Duration) -> std::io::Result<TcpStream> {
    from.run(|| TcpStream::connect_timeout(&to.into(), limit))
        .expect("netns")
}

#[test]
fn a_service_fault_meets_its_clients_on_its_port_and_spares_the_kubelet() {
    require_root!();
    let lab = Lab::new();
    let (svc, other) = (8083, 8084);
    let ls = listen(&lab.b.0, lab.b.1, svc);
    let lo = listen(&lab.b.0, lab.b.1, other);
    let gateway = lab.topo.plan().gateway(0);

    // Blackhole: the client's connects to the service port fail, the
    // node's (the kubelet's source) and the other port's go through; the
    // TCP SYN probe from the measuring address sees everything lost.
    let f = ActiveFault::start(
        &Kind::Blackhole,
        &lab.service_b(svc),
        &lab.comment("svc"),
        8,
    )
    .expect("start");
    let kubelet = try_connect(
        &lab.node0,
        SocketAddrV4::new(lab.b.1, svc),
        Duration::from_secs(1),
    )
    .expect("the node's connect is spared");
    assert_eq!(
        kubelet.local_addr().expect("addr").ip(),
        std::net::IpAddr::V4(gateway),
        "the node's own traffic to a pod leaves from the gateway address"
    );
    let e = try_connect(
        &lab.a.0,
        SocketAddrV4::new(lab.b.1, svc),
        Duration::from_secs(1),
    )
    .expect_err("a client's connect to the service port is cut");
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    try_connect(
        &lab.a.0,
        SocketAddrV4::new(lab.b.1, other),
        Duration::from_secs(1),
    )
    .expect("another port is untouched");
    std::thread::sleep(Duration::from_millis(1500));
    let r = f.finish().expect("finish");
    eprintln!(
        "service blackhole: probe {} lost {} of {}",
        r.probe,
        r.ping.sent - r.ping.received,
        r.ping.sent
    );
    assert!(r.ping.sent >= 10 && r.ping.received == 0, "{:?}", r.ping);
    // Healed: the probe's SYNs are answered.
    let f = ActiveFault::start(
        &Kind::Loss(FaultConfig::default()),
        &lab.service_b(svc),
        &lab.comment("svc-none"),
        9,
    )
    .expect("start");
    std::thread::sleep(Duration::from_millis(1500));
    let r = f.finish().expect("finish");
    assert!(
        r.ping.sent >= 10 && r.ping.received == r.ping.sent,
        "{:?}",
        r.ping
    );
    assert!(r.ping.rtt_p99_us < 50_000, "{:?}", r.ping);

    // Delay: only the client's service connections wait.
    let model = fixed_delay(60);
    let f = ActiveFault::start(
        &Kind::Delay(model),
        &lab.service_b(svc),
        &lab.comment("svc-d"),
        10,
    )
    .expect("start");
    let slow = connect_time(&lab.a.0, SocketAddrV4::new(lab.b.1, svc));
    let node = connect_time(&lab.node0, SocketAddrV4::new(lab.b.1, svc));
    let fast = connect_time(&lab.a.0, SocketAddrV4::new(lab.b.1, other));
    eprintln!("service delay 60ms each way: client {slow:?}, node {node:?}, other port {fast:?}");
    assert!(slow >= Duration::from_millis(115), "client: {slow:?}");
    assert!(node < Duration::from_millis(30), "node: {node:?}");
    assert!(fast < Duration::from_millis(30), "other port: {fast:?}");
    drop(f);

    // Reset: the client's service connection is reset, the node's and the
    // other port's stay.
    ls.set_nonblocking(true).expect("nonblocking");
    lo.set_nonblocking(true).expect("nonblocking");
    while ls.accept().is_ok() {}
    while lo.accept().is_ok() {}
    let mut client = try_connect(
        &lab.a.0,
        SocketAddrV4::new(lab.b.1, svc),
        Duration::from_secs(1),
    )
    .expect("connect");
    let mut node = try_connect(
        &lab.node0,
        SocketAddrV4::new(lab.b.1, svc),
        Duration::from_secs(1),
    )
    .expect("connect");
    let mut side = try_connect(
        &lab.a.0,
        SocketAddrV4::new(lab.b.1, other),
        Duration::from_secs(1),
    )
    .expect("connect");
    std::thread::sleep(Duration::from_millis(100));
    let mut held = Vec::new();
    while let Ok((c, _)) = ls.accept() {
        held.push(c);
    }
    while let Ok((c, _)) = lo.accept() {
        held.push(c);
    }
    assert_eq!(held.len(), 3, "three connections accepted");
    let f = ActiveFault::start(
        &Kind::Reset {
            established: true,
            every: None,
            lasts: None,
            new_p: None,
        },
        &lab.service_b(svc),
        &lab.comment("svc-rst"),
        11,
    )
    .expect("start");
    let r = f.finish().expect("finish");
    assert_eq!(r.resets, 1, "only the client's service connection");
    let mut b = [0u8; 1];
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let e = client.read(&mut b).expect_err("reset");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    for s in [&mut node, &mut side] {
        s.write_all(b"x").expect("still open");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let e = s.read(&mut b).expect_err("nothing to read, but open");
        assert!(
            matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{e}"
        );
    }
    assert!(leftover_rules(&lab.b.0, &lab.prefix).is_empty());
    assert!(leftover_rules(&lab.node0, &lab.prefix).is_empty());
}
