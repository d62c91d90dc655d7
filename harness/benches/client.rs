//! `just bench` (harness part): connections per second of svclab's
//! nginx-like client through the VIP on a 1-node topology, next to
//! `wrk -t1 -c32 -H 'Connection: close'` from the same client pod to the
//! same VIP and backends, in one run. Needs root and wrk.
use std::{
    os::unix::process::CommandExt as _,
    path::PathBuf,
    process::Command,
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use svclab::{
    cluster::Cluster,
    load::client::{self, ClientPlan, Outcome},
};
use svclab_datapath::NetnsRef;

const SUITE: &str = "\
duration: 60s
deployments:
  - name: web
    replicas: 3
    server: { workers: 8, backlog: 1024 }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }
clients:
  - { name: bench, service: web }
";

const SECS: u64 = 5;
const CONNS: u32 = 32;

fn svclab_client(
    c: &Cluster,
    netns: &PathBuf,
    ip: std::net::Ipv4Addr,
) -> anyhow::Result<(f64, u64)> {
    let (tx, rx) = mpsc::channel();
    let plan = ClientPlan {
        index: 0,
        name: "bench".into(),
        netns: NetnsRef::open(netns)?,
        local_ip: ip,
        bind_source: false,
        target: "198.19.0.10:80".parse()?,
        connection: client::Connection::PerRequest,
        ports: client::Ports::Ephemeral,
        load: client::Load::Closed { concurrency: CONNS },
        start: Duration::ZERO,
        duration: Duration::from_secs(SECS),
        timeout: Duration::from_secs(2),
        require_pod: true,
        via_proxy: false,
        cgroup: None,
    };
    let _ = c;
    let t0 = Instant::now();
    let mut h = client::start(plan, t0, tx)?;
    h.stop_after_run()?;
    let (mut ok, mut err) = (0u64, 0u64);
    while let Ok(r) = rx.try_recv() {
        match r.outcome {
            Outcome::Ok { .. } => ok += 1,
            Outcome::Err(_) => err += 1,
        }
    }
    Ok((ok as f64 / SECS as f64, err))
}

fn wrk(netns: &PathBuf, url: &str) -> anyhow::Result<f64> {
    let ns = NetnsRef::open(netns)?;
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{CONNS}"),
        &format!("-d{SECS}s"),
        "-H",
        "Connection: close",
        url,
    ]);
    // SAFETY: setns(2) only, between fork and exec, on an fd we keep open.
    unsafe {
        cmd.pre_exec(move || {
            ns.enter_current_thread()
                .map_err(|e| std::io::Error::other(e.to_string()))
        });
    }
    let out = cmd.output().context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("wrk output: {text}"))?;
    Ok(rate)
}

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    if !svclab_testsupport::have_root("client bench") {
        return Ok(());
    }
    let loaded = svclab_suite::parse(SUITE, std::path::Path::new("bench.yaml"))?;
    let prefix = format!("svl-b{}c-", std::process::id());
    let mut c = Cluster::build(
        &prefix,
        &loaded.suite,
        PathBuf::from(env!("CARGO_BIN_EXE_svclab")),
        1.0,
    )?;
    let result = (|| -> anyhow::Result<()> {
        c.scale("web", 3, 0.0, true)?;
        // Endpoint updates wait out the propagation delay in a run's loop;
        // the bench has no loop, so they go to the datapath now.
        c.flush_endpoints()?;
        let (ip, netns) = c.add_client_pod("bench", 0)?;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let (rate, errors) = svclab_client(&c, &netns, ip)?;
            ours.push(rate);
            if errors > 0 {
                println!("  note: svclab client: {errors} errors in a run");
            }
            theirs.push(wrk(&netns, "http://198.19.0.10:80/")?);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (a, b) = (median(&mut ours), median(&mut theirs));
        println!(
            "client conn/s through the VIP (1 node, 3 backends, 32 connections, connection per request, {SECS} s, median of 3):"
        );
        println!("  svclab client (1 thread):                  {a:>8.0}  runs {ours:.0?}");
        println!("  wrk -t1 -c32 -H 'Connection: close':       {b:>8.0}  runs {theirs:.0?}");
        println!("  ratio svclab/wrk: {:.2}  (goal >= 1.0)", a / b);
        svclab_testsupport::bench::goal_row(
            "client",
            "conn/s through the VIP, svclab client / wrk -t1 -c32, connection per request, >= 1.0",
            &format!("{:.2} ({a:.0} vs {b:.0} conn/s, median of 3)", a / b),
            Some(a / b >= 1.0),
        );
        Ok(())
    })();
    let down = c.teardown();
    result?;
    down
}
