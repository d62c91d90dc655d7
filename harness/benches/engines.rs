//! `just bench` (engines): TCP connections/s from a client pod through each
//! kube-proxy engine's ClusterIP (iptables, nftables; kube-proxy's rules in
//! the node netns, the kernel's conntrack and NAT) versus the backend's pod
//! IP directly with no netfilter rules at all, each engine on a fresh
//! 1-node topology, connection per request. The direct runs come first
//! (conntrack's hooks are only registered once a rule needs them, so they
//! pay nothing), then the VIP runs; each figure is the median of its runs.
//! Anchors measured on this kind of machine with hand-written rules:
//! iptables ≈ 0.77x, nftables ≈ 0.81x of direct. Needs root.
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddrV4},
    time::{Duration, Instant},
};

use svclab::cluster::{
    dataplane::Dataplane,
    kubeproxy::{KubeProxyDataplane, Mode},
};
use svclab_datapath::{Backend, Frontend, NetnsRef};
use svclab_testsupport::topo::{self, PodServer, Topology};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 20);
const BACKEND_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 21);
const PORT: u16 = 8080;
const SECS: f64 = 1.5;
const RUNS: usize = 5;

/// Closed loop, one connection at a time, for `secs`: connections/s.
fn conn_rate(ns: &NetnsRef, target: SocketAddrV4, secs: f64) -> anyhow::Result<f64> {
    ns.run(|| {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < secs {
            topo::http_get(target, None)?;
            n += 1;
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    })?
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn engine(mode: Mode) -> anyhow::Result<(f64, f64)> {
    let mut topo = Topology::new();
    topo.add_pod("client", CLIENT);
    // As in bench-datapath: separate backends for direct and VIP runs, so
    // the direct runs' server-side TIME_WAITs do not meet the VIP runs' SYNs.
    topo.add_pod("backend-a", BACKEND);
    topo.add_pod("backend-b", BACKEND_B);
    let _servers = [
        PodServer::start(topo.pod("backend-a"), PORT),
        PodServer::start(topo.pod("backend-b"), PORT),
    ];
    let client = NetnsRef::named(&topo.pod("client").netns)?;
    let direct = SocketAddrV4::new(BACKEND, PORT);
    conn_rate(&client, direct, 0.5)?;
    let a: Vec<f64> = (0..RUNS)
        .map(|_| conn_rate(&client, direct, SECS))
        .collect::<Result<_, _>>()?;
    let fe = Frontend::tcp(VIP, 80);
    let node = NetnsRef::named(&topo.node)?;
    let mut kp = Box::new(KubeProxyDataplane::start(
        mode,
        &node,
        BTreeMap::from([(fe, "web".to_owned())]),
        Duration::ZERO,
    )?);
    kp.upsert_service(fe)?;
    kp.set_backends(fe, &[Backend::active(SocketAddrV4::new(BACKEND_B, PORT))])?;
    kp.wait_synced(Duration::from_secs(10))?;
    conn_rate(&client, fe.addr(), 0.5)?;
    let b: Vec<f64> = (0..RUNS)
        .map(|_| conn_rate(&client, fe.addr(), SECS))
        .collect::<Result<_, _>>()?;
    kp.close()?;
    println!(
        "{}: direct {:>7.0} conn/s runs {a:.0?}; VIP {:>7.0} conn/s runs {b:.0?}; ratio {:.3}",
        mode.engine(),
        median(&a),
        median(&b),
        median(&b) / median(&a)
    );
    Ok((median(&a), median(&b)))
}

fn main() -> anyhow::Result<()> {
    // `cargo test --benches` runs bench binaries with no `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    if !svclab_testsupport::have_root("bench engines") {
        return Ok(());
    }
    for m in [Mode::Iptables, Mode::Nftables] {
        engine(m)?;
    }
    println!("(anchors on this kind of machine: iptables ≈ 0.77x, nftables ≈ 0.81x of direct)");
    Ok(())
}
