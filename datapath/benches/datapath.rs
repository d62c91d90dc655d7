//! `just bench-datapath`: per-packet cost of `from_pod` (BPF_PROG_TEST_RUN)
//! for a CT hit and a CT miss, and TCP connections/s from a client pod to a
//! backend's pod IP directly (no datapath attached) versus to the VIP through
//! the datapath, all from one run; and what `svclab monitor` costs per
//! decision with no monitor, a filtering one and one taking every event.
//! Needs root.
use std::{
    net::{Ipv4Addr, SocketAddrV4},
    time::{Duration, Instant},
};

use svclab_datapath::{Backend, Config, Datapath, Frontend, Hook, NetnsRef, pktgen};
use svclab_testsupport::topo::{self, BenchLab};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const PORT: u16 = 8080;

/// The datapath loaded in the current netns with the VIP's service and
/// three active backends (nothing attached: packets go through test runs).
fn with_service() -> anyhow::Result<(Datapath, Frontend)> {
    let mut dp = Datapath::load(NetnsRef::current()?, Config::default())?;
    let fe = Frontend::tcp(VIP, 80);
    dp.upsert_service(fe)?;
    let set: Vec<Backend> = (0..3)
        .map(|i| Backend::active(SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 20 + i), PORT)))
        .collect();
    dp.set_backends(fe, &set)?;
    Ok((dp, fe))
}

fn packet_cost() -> anyhow::Result<()> {
    let (mut dp, fe) = with_service()?;
    let n = 20_000u16;
    // A rewritten packet would not be a service packet any more, so every
    // run gets a fresh copy (repeat = 1) and the kernel-timed durations add up.
    let mut miss = Duration::ZERO;
    let mut hit = Duration::ZERO;
    for i in 0..n {
        let src = SocketAddrV4::new(CLIENT, 10_000 + i);
        let syn = pktgen::tcp(src, fe.addr(), pktgen::TCP_SYN, b"");
        miss += dp.run_packet(Hook::FromPod, &syn, 1)?.duration;
        let ack = pktgen::tcp(src, fe.addr(), pktgen::TCP_ACK, b"");
        hit += dp.run_packet(Hook::FromPod, &ack, 1)?.duration;
    }
    // Fixed cost of one BPF_PROG_TEST_RUN: a non-IP frame exits at once.
    let mut base = Duration::ZERO;
    let mut arp = vec![0xffu8; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend_from_slice(&[0u8; 28]);
    for _ in 0..n {
        base += dp.run_packet(Hook::FromPod, &arp, 1)?.duration;
    }
    let per = |d: Duration| d.as_nanos() as f64 / f64::from(n);
    println!(
        "from_pod non-IP:  {:>7.0} ns/packet  (test-run floor: timer and skb setup)",
        per(base)
    );
    println!(
        "from_pod CT miss: {:>7.0} ns/packet  ({n} SYNs, BPF_PROG_TEST_RUN)",
        per(miss)
    );
    println!(
        "from_pod CT hit:  {:>7.0} ns/packet  ({n} ACKs, BPF_PROG_TEST_RUN)",
        per(hit)
    );
    let above = per(hit) - per(base);
    svclab_testsupport::bench::goal_row(
        "datapath",
        "CT hit cost above the test-run floor, <= 300 ns/packet",
        &format!(
            "{above:.0} ns ({:.0} ns hit, {:.0} ns floor; CT miss {:.0} ns)",
            per(hit),
            per(base),
            per(miss)
        ),
        Some(above <= 300.0),
    );
    Ok(())
}

/// What the monitor costs on a CT miss (a SYN: every miss is a decision
/// the monitor reports): no monitor attached (the filter's `enabled` 0,
/// one array lookup), one attached whose in-kernel filter drops every
/// event, and one that takes every event. Interleaved rounds, medians.
fn monitor_cost() -> anyhow::Result<()> {
    use svclab_datapath::{Monitor, MonitorSpec};
    let (mut dp, fe) = with_service()?;
    let ids = dp.map_ids()?;
    let n = 5_000u16;
    let mut next_port = 1024u16;
    let mut round = |dp: &mut Datapath, drain: Option<&mut Monitor>| -> anyhow::Result<f64> {
        let mut t = Duration::ZERO;
        for _ in 0..n {
            next_port = next_port.wrapping_add(1).max(1024);
            let syn = pktgen::tcp(
                SocketAddrV4::new(CLIENT, next_port),
                fe.addr(),
                pktgen::TCP_SYN,
                b"",
            );
            t += dp.run_packet(Hook::FromPod, &syn, 1)?.duration;
        }
        if let Some(m) = drain {
            m.poll(Duration::ZERO)?;
        }
        dp.ct_flush()?;
        Ok(t.as_nanos() as f64 / f64::from(n))
    };
    let (mut off, mut filtered, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        off.push(round(&mut dp, None)?);
        let m = Monitor::attach(
            &ids,
            &MonitorSpec {
                port: Some(1),
                ..Default::default()
            },
            false,
        )?;
        filtered.push(round(&mut dp, None)?);
        drop(m);
        let mut m = Monitor::attach(&ids, &MonitorSpec::default(), false)?;
        all.push(round(&mut dp, Some(&mut m))?);
        drop(m);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (off, filtered, all) = (med(&mut off), med(&mut filtered), med(&mut all));
    println!("from_pod CT miss, no monitor:           {off:>7.0} ns/packet (median of 7 x {n})");
    println!("from_pod CT miss, monitor filtering out: {filtered:>7.0} ns/packet");
    println!("from_pod CT miss, monitor taking all:    {all:>7.0} ns/packet");
    svclab_testsupport::bench::goal_row(
        "datapath",
        "no monitor attached: CT miss no slower than under a monitor filtering all out (+5%)",
        &format!("{off:.0} ns off, {filtered:.0} ns filtered, {all:.0} ns all events"),
        Some(off <= filtered * 1.05),
    );
    Ok(())
}

/// TCP retransmitted segments and SYN retransmits seen in the calling
/// thread's netns.
fn retransmits() -> (u64, u64) {
    let read = |file: &str, group: &str, field: &str| -> u64 {
        let text =
            std::fs::read_to_string(format!("/proc/thread-self/net/{file}")).unwrap_or_default();
        let mut lines = text.lines().filter(|l| l.starts_with(group));
        let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
            return 0;
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(k, _)| *k == field)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    (
        read("snmp", "Tcp:", "RetransSegs"),
        read("netstat", "TcpExt:", "TCPSynRetrans"),
    )
}

/// Closed loop, one connection at a time (connect, GET, read until the
/// server closes), for `secs`; returns connections per second.
fn conn_rate(client_ns: &NetnsRef, target: SocketAddrV4, secs: f64) -> anyhow::Result<f64> {
    client_ns.run(|| {
        let before = retransmits();
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < secs {
            topo::http_get(target, None)?;
            n += 1;
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        let after = retransmits();
        let (re, syn) = (after.0 - before.0, after.1 - before.1);
        if re + syn > 0 {
            println!(
                "  note: {target}: {re} retransmitted segments, {syn} SYN retransmits in this run"
            );
        }
        Ok(rate)
    })?
}

fn connection_rate() -> anyhow::Result<()> {
    // Separate backends for (a) and (b) (see `BenchLab`).
    let lab = BenchLab::new();
    let (client_ns, direct) = (&lab.client, lab.direct);
    let fe = Frontend::tcp(VIP, 80);
    let mut dp = Datapath::load(lab.node(), Config::default())?;
    dp.upsert_service(fe)?;
    dp.set_backends(fe, &[Backend::active(lab.vip_backend)])?;
    // Pairs of adjacent runs (direct, then VIP) share the machine's state of
    // the moment; the median of the per-pair ratios is steadier on a shared
    // 2-core machine than the ratio of two medians.
    let (secs, pairs) = (1.5, 9);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    conn_rate(client_ns, direct, 0.5)?; // warm up neighbours and caches
    for _ in 0..pairs {
        a.push(conn_rate(client_ns, direct, secs)?);
        for pod in &lab.topo.pods {
            dp.attach(&pod.lxc)?;
        }
        b.push(conn_rate(client_ns, fe.addr(), secs)?);
        for pod in &lab.topo.pods {
            dp.detach(&pod.lxc)?;
        }
    }
    dp.close()?;
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratios: Vec<f64> = a.iter().zip(&b).map(|(a, b)| b / a).collect();
    println!(
        "TCP conn/s (a) client pod -> backend pod IP, no datapath: {:>8.0}  runs {a:.0?}",
        median(&a)
    );
    println!(
        "TCP conn/s (b) client pod -> VIP through the datapath:    {:>8.0}  runs {b:.0?}",
        median(&b)
    );
    println!(
        "ratio b/a: {:.3}  (goal >= 0.95; median of {pairs} adjacent pairs of {secs} s runs, \
         pair ratios {ratios:.3?};",
        median(&ratios)
    );
    svclab_testsupport::bench::goal_row(
        "datapath",
        "TCP conn/s through the VIP / direct to the pod IP, >= 0.95",
        &format!(
            "{:.3} (median of {pairs} adjacent pair ratios)",
            median(&ratios)
        ),
        Some(median(&ratios) >= 0.95),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo test --benches` runs bench binaries with no `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    if !svclab_testsupport::have_root("bench-datapath") {
        return Ok(());
    }
    packet_cost()?;
    monitor_cost()?;
    connection_rate()?;
    Ok(())
}
