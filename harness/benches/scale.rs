//! `just bench` (scale): 1000 backend pods on 4 nodes through the cluster
//! the runner uses — how long until every pod is ready (namespace, veth,
//! dataplane on its lxc, `svclab pod-server` started and accepting from
//! its node) after the topology is up, how long teardown takes (every pod
//! SIGKILLed and reaped by PID, every namespace deleted), and the harness's
//! RSS with 1000 pods. The physical bound it is compared with, in the same
//! run: fork+exec of the svclab binary into a pod's netns (`svclab
//! --version`, waited for), once per pod, from the same process.
//! Needs root. `SVCLAB_BENCH_PODS` (default 1000) sets the pod count.
use std::{
    os::{fd::AsRawFd as _, unix::process::CommandExt as _},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use svclab::cluster::Cluster;
use svclab_testsupport::bench::goal_row;
use svclab_topology::list_with_prefix;

const NODES: u8 = 4;
const GOAL_START: Duration = Duration::from_secs(3);
const GOAL_TEARDOWN: Duration = Duration::from_secs(2);
const GOAL_RSS_MB: f64 = 200.0;

fn suite(pods: u32) -> anyhow::Result<svclab_suite::Suite> {
    let text = format!(
        "name: bench-scale\nduration: 10s\ncluster: {{ nodes: {NODES} }}\n\
         deployments:\n  - name: web\n    replicas: {pods}\n\
         services:\n  - {{ name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }}\n\
         clients:\n  - {{ name: c, service: web }}\n"
    );
    Ok(svclab_suite::parse(&text, std::path::Path::new("bench-scale.yaml"))?.suite)
}

/// VmRSS and VmHWM of this process, in MB.
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// fork+exec of `exe --version` into each netns in turn, waited for.
fn spawn_bound(exe: &PathBuf, netns: &[PathBuf]) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    for path in netns {
        let ns = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        let fd = ns.as_raw_fd();
        let mut cmd = Command::new(exe);
        cmd.arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setns is async-signal-safe and affects only the child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let st = cmd.status().context("spawning svclab --version")?;
        anyhow::ensure!(st.success(), "svclab --version: {st}");
    }
    Ok(t0.elapsed())
}

fn main() -> anyhow::Result<()> {
    if !svclab_testsupport::have_root("scale bench") {
        return Ok(());
    }
    let pods: u32 = std::env::var("SVCLAB_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| (1..=2000).contains(&n))
        .unwrap_or(1000);
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_target(false)
            .finish(),
    );
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_svclab"));
    let prefix = format!("svl-bscale{}-", std::process::id());
    let suite = suite(pods)?;
    let t0 = Instant::now();
    let mut cluster = Cluster::build(&prefix, &suite, exe.clone(), 1.0)?;
    let topo = t0.elapsed();
    let t1 = Instant::now();
    let started = cluster.scale("web", pods, 0.0, true);
    let start = t1.elapsed();
    let ready = cluster.ready_pods();
    let (rss, _) = rss_mb();
    let netns: Vec<PathBuf> = cluster
        .pods
        .values()
        .map(|p| p.kubelet.spec.netns_path.clone())
        .collect();
    let bound = if started.is_ok() {
        spawn_bound(&exe, &netns)
    } else {
        Ok(Duration::ZERO)
    };
    let t2 = Instant::now();
    let down = cluster.teardown();
    let teardown = t2.elapsed();
    let (_, hwm) = rss_mb();
    let left = list_with_prefix(&prefix);
    started.context("starting the pods")?;
    down.context("teardown")?;
    let bound = bound?;
    anyhow::ensure!(left.is_empty(), "namespaces left behind: {left:?}");
    anyhow::ensure!(ready as u32 == pods, "{ready} of {pods} pods ready");
    println!(
        "scale: {pods} pods on {NODES} nodes; topology {:.2} s, pods ready {:.2} s ({:.0} pods/s), \
         fork+exec bound {:.2} s ({:.0} us/pod), teardown {:.2} s, RSS {rss:.0} MB (peak {hwm:.0} MB)",
        topo.as_secs_f64(),
        start.as_secs_f64(),
        f64::from(pods) / start.as_secs_f64(),
        bound.as_secs_f64(),
        bound.as_secs_f64() * 1e6 / f64::from(pods),
        teardown.as_secs_f64(),
    );
    goal_row(
        "scale",
        &format!("pod start: {pods} pods on {NODES} nodes ready after the topology, <= 3 s"),
        &format!(
            "{:.2} s ({:.0} pods/s; {:.2}x the fork+exec bound of {:.2} s)",
            start.as_secs_f64(),
            f64::from(pods) / start.as_secs_f64(),
            start.as_secs_f64() / bound.as_secs_f64().max(1e-9),
            bound.as_secs_f64()
        ),
        Some(start <= GOAL_START),
    );
    goal_row(
        "scale",
        &format!("teardown: {pods} pods reaped, namespaces deleted, <= 2 s"),
        &format!("{:.2} s", teardown.as_secs_f64()),
        Some(teardown <= GOAL_TEARDOWN),
    );
    goal_row(
        "scale",
        &format!("harness RSS with {pods} pods < 200 MB"),
        &format!("{rss:.0} MB"),
        Some(rss < GOAL_RSS_MB),
    );
    Ok(())
}
