//! `just bench` (engines): TCP connections/s from a client pod through each
//! engine's ClusterIP (kube-proxy iptables and nftables: kube-proxy's rules
//! in the node netns, the kernel's conntrack and NAT; socket-LB: the
//! connect4 program on the client's cgroup, no per-packet work) versus the
//! backend's pod IP directly with no rules or programs at all, each engine
//! on a fresh 1-node topology, connection per request. The direct runs come first
//! (conntrack's hooks are only registered once a rule needs them, so they
//! pay nothing), then the VIP runs; each figure is the median of its runs.
//! Anchors measured on this kind of machine with hand-written rules:
//! iptables ≈ 0.77x, nftables ≈ 0.81x of direct. Needs root.
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddrV4},
    time::{Duration, Instant},
};

use svclab::engines::{Engine, NodeStart, kubeproxy::Mode};
use svclab_cgroup::CgroupTree;
use svclab_datapath::{Backend, Config, Frontend, NetnsRef};
use svclab_testsupport::topo::{self, BenchLab};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);
const SECS: f64 = 1.5;
const RUNS: usize = 5;

/// The client pod's cgroup and its threaded domain (socket-LB).
type Cg<'a> = Option<(&'a std::path::Path, &'a std::path::Path)>;

/// Closed loop, one connection at a time, for `secs`: connections/s.
fn conn_rate(ns: &NetnsRef, cg: Cg<'_>, target: SocketAddrV4, secs: f64) -> anyhow::Result<f64> {
    ns.run(|| {
        let _m = cg
            .map(|(dir, home)| svclab_cgroup::join_thread(dir, home))
            .transpose()?;
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

fn engine(which: Engine) -> anyhow::Result<(f64, f64)> {
    // Separate backends for direct and VIP runs (see `BenchLab`).
    let lab = BenchLab::new();
    let (client, direct) = (&lab.client, lab.direct);
    let mut tree = if which.uses_cgroups() {
        let mut t = CgroupTree::create(&svclab_testsupport::unique_prefix("bench"))?;
        t.add("node0")?;
        t.add("node0/client")?;
        Some(t)
    } else {
        None
    };
    let paths = match &tree {
        Some(t) => Some((t.path("node0/client")?, t.home().to_owned())),
        None => None,
    };
    let cg: Cg<'_> = paths.as_ref().map(|(d, h)| (d.as_path(), h.as_path()));
    // The direct runs are in the cgroup too, before any program is on it.
    conn_rate(client, cg, direct, 0.5)?;
    let a: Vec<f64> = (0..RUNS)
        .map(|_| conn_rate(client, cg, direct, SECS))
        .collect::<Result<_, _>>()?;
    let fe = Frontend::tcp(VIP, 80);
    let node = lab.node();
    // The harness's own constructor, as a run starts a node's engine.
    let mut dp = which.start_node(
        0,
        NodeStart {
            netns: &node,
            config: Config::default(),
            gc: svclab_datapath::GcSchedule::Fixed(Duration::from_secs(1)),
            service_names: BTreeMap::from([(fe, "web".to_owned())]),
            min_sync_period: Some(Duration::ZERO),
            cgroup: tree.as_ref().map(|t| t.open("node0")).transpose()?,
        },
    )?;
    dp.upsert_service(fe)?;
    dp.set_backends(fe, &[Backend::active(lab.vip_backend)])?;
    dp.wait_synced(Duration::from_secs(10))?;
    conn_rate(client, cg, fe.addr(), 0.5)?;
    let b: Vec<f64> = (0..RUNS)
        .map(|_| conn_rate(client, cg, fe.addr(), SECS))
        .collect::<Result<_, _>>()?;
    dp.close()?;
    if let Some(t) = tree.take() {
        t.teardown()?;
    }
    let ratio = median(&b) / median(&a);
    println!(
        "{}: direct {:>7.0} conn/s runs {a:.0?}; VIP {:>7.0} conn/s runs {b:.0?}; ratio {ratio:.3}",
        which.name(),
        median(&a),
        median(&b),
    );
    svclab_testsupport::bench::goal_row(
        "engines",
        &format!("{} VIP/direct conn/s", which.name()),
        &format!("{ratio:.3}"),
        None,
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
    for e in [
        Engine::KubeProxy(Mode::Iptables),
        Engine::KubeProxy(Mode::Nftables),
        Engine::SocketLb,
    ] {
        engine(e)?;
    }
    println!("(anchors on this kind of machine: iptables ≈ 0.77x, nftables ≈ 0.81x of direct)");
    Ok(())
}
