//! `just bench` (faults): how exactly each network fault does what it is
//! set to, measured by the bench's own sockets in a one-node topology
//! (client pod → server pod):
//! - delay: 10 ms added to every datagram into the server pod by the
//!   NFQUEUE delay line, at ~1k and ~10k packets/s; the one-way latency
//!   (send and receive stamps on one clock) minus the same path's without
//!   the fault, p50 and p99 (goal: p50 within 0.5 ms of the set delay, p99
//!   within 2 ms);
//! - loss: 5% random loss on 20,000 datagrams (goal: within 3 sigma of the
//!   binomial mean);
//! - bandwidth: a 50 Mbit/s TBF on a 12 MiB TCP transfer (goal: within 10%);
//! - cost when idle: HTTP requests per second (a connection each) to the
//!   server pod with nothing attached against with a loss program attached
//!   whose filter matches nothing on this path (a fault elsewhere),
//!   alternating 3 pairs (goal: ratio ≥ 0.95). With no fault at all
//!   nothing is attached.
//!
//! Needs root. `SVCLAB_BENCH_SECS` scales each phase (default 3 s).
use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

use svclab::chaos::{ActiveFault, Hop, Kind, Placement, delay::DelayModel};
use svclab_datapath::{FAULT_MODEL_RANDOM, FaultConfig, NetnsRef, probability};
use svclab_testsupport::{
    bench::goal_row,
    topo::{PodServer, Topology, http_get},
};

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 20);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);

fn secs() -> f64 {
    std::env::var("SVCLAB_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|s: &f64| (0.5..=60.0).contains(s))
        .unwrap_or(3.0)
}

struct Lab {
    client: NetnsRef,
    server: NetnsRef,
    node: NetnsRef,
    lxc: String,
}

impl Lab {
    fn to_server(&self) -> Placement {
        Placement {
            what: "server".into(),
            hops: vec![Hop {
                netns: self.server.try_clone().expect("ns"),
                ifname: "eth0".into(),
                egress: false,
                src: Vec::new(),
                port: None,
            }],
            shapers: vec![(self.node.try_clone().expect("ns"), self.lxc.clone())],
            ..Default::default()
        }
    }
}

/// The clock both ends stamp with.
fn now_ns(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// One-way latencies (µs) of `n` datagrams sent at `rate`/s, and how many
/// arrived.
fn one_way(lab: &Lab, rate: u32, n: u32) -> (Vec<u64>, u32) {
    let rx = lab
        .server
        .run(|| UdpSocket::bind(SocketAddrV4::new(SERVER, 9100)))
        .expect("netns")
        .expect("bind");
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let tx = lab
        .client
        .run(|| UdpSocket::bind(SocketAddrV4::new(CLIENT, 0)))
        .expect("netns")
        .expect("bind");
    let t0 = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / f64::from(rate));
    let sender = std::thread::spawn(move || {
        let start = Instant::now();
        for i in 0..n {
            // Sleep (not spin: two cores) until the datagram is due.
            let due = start + gap * i;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let _ = tx.send_to(&now_ns(t0).to_be_bytes(), SocketAddrV4::new(SERVER, 9100));
        }
    });
    let mut lat = Vec::new();
    let mut got = 0;
    let mut buf = [0u8; 16];
    while let Ok(k) = rx.recv(&mut buf) {
        if k == 8 {
            let sent = u64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
            lat.push(now_ns(t0).saturating_sub(sent) / 1000);
            got += 1;
        }
    }
    sender.join().expect("sender");
    lat.sort_unstable();
    (lat, got)
}

fn pct(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn delay(lab: &Lab) {
    let set = Duration::from_millis(10);
    for rate in [1_000u32, 10_000] {
        let n = (f64::from(rate) * secs()) as u32;
        let (base, _) = one_way(lab, rate, n);
        let model = DelayModel {
            delay: set,
            jitter: Duration::ZERO,
            normal: false,
            reorder: false,
            limit: 65_536,
        };
        let f = ActiveFault::start(&Kind::Delay(model), &lab.to_server(), "svl-bench-fault", 1)
            .expect("delay");
        let (with, got) = one_way(lab, rate, n);
        let stats = f.finish().expect("finish");
        let b50 = pct(&base, 0.5);
        let added50 = pct(&with, 0.5).saturating_sub(b50) as f64 / 1000.0;
        let added99 = pct(&with, 0.99).saturating_sub(b50) as f64 / 1000.0;
        println!(
            "delay 10 ms at {rate}/s: added p50 {added50:.2} ms, p99 {added99:.2} ms ({got} of {n} datagrams; line late p99 {} µs)",
            stats.delay.map_or(0, |d| d.late_p99_us)
        );
        goal_row(
            "faults",
            &format!("delay 10 ms at {rate} pkt/s: added p50 within 0.5 ms, p99 within 2 ms"),
            &format!("p50 +{added50:.2} ms, p99 +{added99:.2} ms"),
            Some((added50 - 10.0).abs() <= 0.5 && added99 <= 12.0),
        );
    }
}

fn loss(lab: &Lab) {
    let p = 0.05;
    let cfg = FaultConfig {
        model: FAULT_MODEL_RANDOM,
        loss: probability(p),
        ..Default::default()
    };
    let f =
        ActiveFault::start(&Kind::Loss(cfg), &lab.to_server(), "svl-bench-fault", 2).expect("loss");
    let n = 20_000u32;
    let (_, got) = one_way(lab, 10_000, n);
    drop(f);
    let lost = f64::from(n - got);
    let mean = f64::from(n) * p;
    let sigma = (f64::from(n) * p * (1.0 - p)).sqrt();
    println!("loss 5%: {lost} of {n} lost (expected {mean} ± {sigma:.0})");
    goal_row(
        "faults",
        "loss 5% on 20,000 datagrams: within 3 sigma of the binomial mean",
        &format!("{:.2}% ({lost} of {n})", 100.0 * lost / f64::from(n)),
        Some((lost - mean).abs() <= 3.0 * sigma),
    );
}

fn bandwidth(lab: &Lab) {
    let rate = 50_000_000u64;
    let l = lab
        .server
        .run(|| TcpListener::bind(SocketAddrV4::new(SERVER, 9101)))
        .expect("netns")
        .expect("listen");
    let reader = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = vec![0u8; 256 * 1024];
        let (mut n, t) = (0usize, Instant::now());
        while let Ok(k) = s.read(&mut buf) {
            if k == 0 {
                break;
            }
            n += k;
        }
        (n, t.elapsed())
    });
    let f = ActiveFault::start(
        &Kind::Bandwidth {
            rate_bps: rate,
            burst: 64 * 1024,
        },
        &lab.to_server(),
        "svl-bench-fault",
        3,
    )
    .expect("bandwidth");
    lab.client
        .run(|| {
            let mut s = TcpStream::connect(SocketAddrV4::new(SERVER, 9101)).expect("connect");
            let chunk = vec![1u8; 256 * 1024];
            for _ in 0..48 {
                s.write_all(&chunk).expect("write");
            }
        })
        .expect("netns");
    let (n, took) = reader.join().expect("reader");
    drop(f);
    let bps = n as f64 * 8.0 / took.as_secs_f64();
    println!(
        "bandwidth 50 Mbit/s: {:.1} Mbit/s over {n} bytes",
        bps / 1e6
    );
    goal_row(
        "faults",
        "bandwidth 50 Mbit/s (TBF) on a 12 MiB transfer: within 10%",
        &format!("{:.1} Mbit/s", bps / 1e6),
        Some((bps / rate as f64 - 1.0).abs() <= 0.10),
    );
}

/// HTTP requests (a connection each) per second from the client to the
/// server pod's HTTP server for `d`.
fn conn_rate(lab: &Lab, d: Duration) -> f64 {
    let to = SocketAddrV4::new(SERVER, 9102);
    lab.client
        .run(|| {
            let t = Instant::now();
            let mut n = 0u32;
            while t.elapsed() < d {
                if http_get(to, None).is_ok() {
                    n += 1;
                }
            }
            f64::from(n) / t.elapsed().as_secs_f64()
        })
        .expect("netns")
}

fn idle_cost(lab: &Lab, topo: &Topology) {
    let _server = PodServer::start(topo.pod("server"), 9102);
    // A fault on another node's traffic (a path from node 7): attached
    // here, matching nothing of this path.
    let elsewhere = FaultConfig {
        model: FAULT_MODEL_RANDOM,
        loss: probability(1.0),
        ..Default::default()
    };
    let mut place = lab.to_server();
    place.hops[0].src = vec![(Ipv4Addr::new(198, 18, 7, 0), 24)];
    let d = Duration::from_secs_f64(secs() / 2.0);
    // Warm-up: the first connections of a fresh path are slower.
    conn_rate(lab, d);
    let mut ratios = Vec::new();
    for _ in 0..3 {
        let bare = conn_rate(lab, d);
        let f = ActiveFault::start(&Kind::Loss(elsewhere), &place, "svl-bench-fault", 4)
            .expect("attach");
        let with = conn_rate(lab, d);
        drop(f);
        ratios.push(with / bare);
        println!("idle cost: {bare:.0} req/s bare, {with:.0} with a non-matching fault attached");
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[1];
    goal_row(
        "faults",
        "req/s (a connection each) with a fault program attached that matches nothing / bare (median of 3): ≥ 0.95",
        &format!("{median:.3} (pairs {:.3}..{:.3})", ratios[0], ratios[2]),
        Some(median >= 0.95),
    );
}

fn main() {
    if !svclab_testsupport::have_root("faults bench") {
        return;
    }
    let mut topo = Topology::new();
    topo.add_pod("client", CLIENT);
    let lxc = topo.add_pod("server", SERVER).lxc.clone();
    let lab = Lab {
        client: NetnsRef::named(&topo.pod("client").netns).expect("client"),
        server: NetnsRef::named(&topo.pod("server").netns).expect("server"),
        node: NetnsRef::named(&topo.node).expect("node"),
        lxc,
    };
    delay(&lab);
    loss(&lab);
    bandwidth(&lab);
    idle_cost(&lab, &topo);
}
