//! `just bench` (probes): kubelet-style probe scheduling at node scale —
//! 1000 pods × 2 probes (TCP readiness, HTTP liveness on /healthz) every 1 s
//! from one node's `Prober` (2 threads). Reports the share of probes that
//! start within 50 ms of their due time (goal ≥ 99 %), the start delay and
//! probe latency percentiles, and the CPU the bench process (= the prober;
//! the pod servers are separate `svclab pod-server` processes) spends on
//! probing, as % of one core and µs per probe. Two phases: probe workers
//! started as pods come up (spread over one period, as kubelet's are) and
//! all started at once (every probe due in the same millisecond, the worst
//! case). Needs root. `SVCLAB_BENCH_SECS` sets each phase's length (20 s),
//! `SVCLAB_BENCH_PODS` the pod count (1000; one node, its pod CIDR sized
//! to fit).
use std::{
    io::Write as _,
    net::{Ipv4Addr, SocketAddrV4},
    path::Path,
    sync::{Arc, mpsc},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use svclab::{
    kubelet::{
        pods::PodProcess,
        probe::{
            Handler, ProbeGate, ProbeHandle, ProbeKind, ProbeOutcome, ProbeReport, ProbeTask,
            Prober,
        },
    },
    podserver::podstats::StatsMap,
};
use svclab_datapath::NetnsRef;
use svclab_suite::model::ServerSpec;
use svclab_topology::{AddrPlan, PodSpec, Topology, TopologySpec, list_with_prefix};

/// Pods on the node unless `SVCLAB_BENCH_PODS` says otherwise.
const PODS: u16 = 1000;

fn pods() -> u16 {
    std::env::var("SVCLAB_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=4000).contains(n))
        .unwrap_or(PODS)
}
const PORT: u16 = 8080;
const PERIOD: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(1);
const THREADS: usize = 2;
const GOAL_MS: u64 = 50;
const GOAL_SHARE: f64 = 0.99;

/// Everything the bench creates, torn down in reverse order on every exit.
struct Bench {
    prefix: String,
    /// The pods' addresses, in pod order.
    ips: Vec<Ipv4Addr>,
    handles: Vec<ProbeHandle>,
    prober: Option<Prober>,
    pods: Vec<PodProcess>,
    /// Each pod server's stats page: it opens it by path at start, so the
    /// bench keeps it open as long as the pods run.
    stats: Vec<StatsMap>,
    topo: Option<Topology>,
}

impl Bench {
    fn teardown(&mut self) -> anyhow::Result<()> {
        self.handles.clear();
        self.prober.take();
        // Dropping a PodProcess kills it by PID and reaps it.
        self.pods.clear();
        if let Some(t) = self.topo.take() {
            t.teardown().context("tearing the topology down")?;
        }
        let left = list_with_prefix(&self.prefix);
        if !left.is_empty() {
            bail!("namespaces left behind: {left:?}");
        }
        Ok(())
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            let _ =
                std::io::stderr().write_all(format!("probes bench teardown: {e:#}\n").as_bytes());
        }
    }
}

/// User and system CPU time of this process. System time includes the
/// kernel's TCP work for both ends of each probe connection: on a veth the
/// peer's softirq processing runs in the sender's context.
#[derive(Clone, Copy, Debug, Default)]
struct Cpu {
    user: Duration,
    sys: Duration,
}

impl Cpu {
    fn now() -> Self {
        // SAFETY: getrusage fills the struct we pass.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: RUSAGE_SELF with a valid pointer.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let tv = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        Self {
            user: tv(ru.ru_utime),
            sys: tv(ru.ru_stime),
        }
    }
    fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            sys: self.sys.saturating_sub(earlier.sys),
        }
    }
    fn total(self) -> Duration {
        self.user + self.sys
    }
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

struct PhaseResult {
    name: &'static str,
    probes: usize,
    within: usize,
    delay: Vec<u64>,
    tcp_latency: Vec<u64>,
    http_latency: Vec<u64>,
    failures: usize,
    timeouts: usize,
    cpu: Cpu,
    wall: Duration,
}

impl PhaseResult {
    fn share(&self) -> f64 {
        if self.probes == 0 {
            0.0
        } else {
            self.within as f64 / self.probes as f64
        }
    }
}

/// Starts every pod's two probe tasks (spread over one period or all at
/// once), lets them run `warmup` + `secs`, and measures the window.
fn phase(
    b: &mut Bench,
    rx: &mpsc::Receiver<ProbeReport>,
    t0: Instant,
    name: &'static str,
    spread: bool,
    secs: u64,
) -> PhaseResult {
    let prober = b.prober.as_ref().expect("prober is up");
    let n = u32::try_from(b.ips.len()).unwrap_or(u32::MAX).max(1);
    for (i, ip) in b.ips.iter().enumerate() {
        let addr = SocketAddrV4::new(*ip, PORT);
        let pod: Arc<str> = Arc::from(format!("p{i}"));
        let gate = Arc::new(ProbeGate::default());
        gate.set(&[ProbeKind::Readiness, ProbeKind::Liveness], 1, 0);
        for (kind, handler) in [
            (ProbeKind::Readiness, Handler::Tcp { addr }),
            (
                ProbeKind::Liveness,
                Handler::Http {
                    addr,
                    path: "/healthz".to_owned(),
                    headers: Vec::new(),
                },
            ),
        ] {
            b.handles.push(prober.spawn(ProbeTask {
                pod: Arc::clone(&pod),
                kind,
                handler,
                period: PERIOD,
                timeout: TIMEOUT,
                initial_delay: Duration::ZERO,
                gate: Arc::clone(&gate),
            }));
        }
        if spread {
            std::thread::sleep(PERIOD / n);
        }
    }
    // One period of warm-up, then the measured window.
    std::thread::sleep(PERIOD);
    let ns = |t: Instant| u64::try_from(t.duration_since(t0).as_nanos()).unwrap_or(u64::MAX);
    while rx.try_recv().is_ok() {}
    let (w0, cpu0) = (Instant::now(), Cpu::now());
    let end = w0 + Duration::from_secs(secs);
    let mut reports = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(r) => reports.push(r),
            Err(_) => break,
        }
    }
    let (wall, cpu) = (w0.elapsed(), Cpu::now().since(cpu0));
    b.handles.clear();
    // Let aborted tasks go, then drop their last reports.
    std::thread::sleep(Duration::from_millis(200));
    while rx.try_recv().is_ok() {}

    let (lo, hi) = (ns(w0), ns(end));
    let mut r = PhaseResult {
        name,
        probes: 0,
        within: 0,
        delay: Vec::new(),
        tcp_latency: Vec::new(),
        http_latency: Vec::new(),
        failures: 0,
        timeouts: 0,
        cpu,
        wall,
    };
    for rep in reports.iter().filter(|x| (lo..hi).contains(&x.start_ns)) {
        let d = rep.start_ns.saturating_sub(rep.due_ns);
        r.probes += 1;
        if d <= GOAL_MS * 1_000_000 {
            r.within += 1;
        }
        r.delay.push(d);
        let lat = u64::try_from(rep.result.latency.as_nanos()).unwrap_or(u64::MAX);
        match rep.kind {
            ProbeKind::Readiness => r.tcp_latency.push(lat),
            _ => r.http_latency.push(lat),
        }
        match rep.result.outcome {
            ProbeOutcome::Success => {}
            ProbeOutcome::Failure => r.failures += 1,
            ProbeOutcome::Timeout => r.timeouts += 1,
        }
    }
    r.delay.sort_unstable();
    r.tcp_latency.sort_unstable();
    r.http_latency.sort_unstable();
    r
}

fn print(results: &[PhaseResult], pods: usize) {
    let row = |label: &str, f: &dyn Fn(&PhaseResult) -> String| {
        let cols: String = results.iter().map(|r| format!("{:>18}", f(r))).collect();
        println!("{label:<34}{cols}");
    };
    println!();
    println!(
        "probe scheduling: {pods} pods x 2 probes (TCP readiness + HTTP /healthz liveness) every {PERIOD:?}, one prober, {THREADS} threads"
    );
    row("", &|r| r.name.to_owned());
    row("probes measured", &|r| r.probes.to_string());
    row("probes/s", &|r| {
        format!("{:.0}", r.probes as f64 / r.wall.as_secs_f64())
    });
    row(&format!("started within {GOAL_MS} ms of due"), &|r| {
        format!("{:.3} %", r.share() * 100.0)
    });
    row("start delay p50", &|r| ms(pct(&r.delay, 0.50)));
    row("start delay p99", &|r| ms(pct(&r.delay, 0.99)));
    row("start delay max", &|r| {
        ms(r.delay.last().copied().unwrap_or(0))
    });
    row("TCP probe latency p50", &|r| ms(pct(&r.tcp_latency, 0.50)));
    row("TCP probe latency p99", &|r| ms(pct(&r.tcp_latency, 0.99)));
    row("HTTP probe latency p50", &|r| {
        ms(pct(&r.http_latency, 0.50))
    });
    row("HTTP probe latency p99", &|r| {
        ms(pct(&r.http_latency, 0.99))
    });
    row("failures / timeouts", &|r| {
        format!("{} / {}", r.failures, r.timeouts)
    });
    let share = |d: Duration, r: &PhaseResult| d.as_secs_f64() / r.wall.as_secs_f64() * 100.0;
    let per = |d: Duration, r: &PhaseResult| d.as_secs_f64() * 1e6 / (r.probes.max(1) as f64);
    row("prober CPU (% of one core)", &|r| {
        format!("{:.1} %", share(r.cpu.total(), r))
    });
    row("  of which user / sys", &|r| {
        format!("{:.1} / {:.1} %", share(r.cpu.user, r), share(r.cpu.sys, r))
    });
    row("prober CPU per probe", &|r| {
        format!("{:.0} us", per(r.cpu.total(), r))
    });
    row("  of which user / sys", &|r| {
        format!("{:.0} / {:.0} us", per(r.cpu.user, r), per(r.cpu.sys, r))
    });
    for r in results {
        svclab_testsupport::bench::goal_row(
            "probes",
            &format!(
                "{pods} pods x 2 probes/s, {}: >= {:.0} % started within {GOAL_MS} ms of due",
                r.name,
                GOAL_SHARE * 100.0
            ),
            &format!(
                "{:.3} % (p99 delay {})",
                r.share() * 100.0,
                ms(pct(&r.delay, 0.99))
            ),
            Some(r.share() >= GOAL_SHARE),
        );
    }
}

fn run(b: &mut Bench, secs: u64) -> anyhow::Result<()> {
    let setup = Instant::now();
    let topo = b.topo.as_mut().context("topology")?;
    let plan = topo.plan();
    b.ips = (0..u32::from(pods()))
        .map(|k| plan.pod_ip(0, k).context("pod address"))
        .collect::<anyhow::Result<_>>()?;
    let pods: Vec<PodSpec> = b
        .ips
        .iter()
        .enumerate()
        .map(|(i, ip)| PodSpec {
            name: format!("p{i}"),
            node: 0,
            ip: *ip,
        })
        .collect();
    let infos = topo.add_pods(pods).context("adding pods")?;
    let node = NetnsRef::open(topo.node_netns_path(0))?;
    let server = ServerSpec {
        port: PORT,
        workers: 2,
        ..ServerSpec::default()
    };
    // The main thread spawns and outlives the pods, so their PDEATHSIG
    // fires only when the bench dies.
    for p in &infos {
        let stats = StatsMap::create()?;
        b.pods.push(PodProcess::spawn(
            Path::new(env!("CARGO_BIN_EXE_svclab")),
            &p.netns_path,
            &p.name,
            &server,
            &stats,
        )?);
        b.stats.push(stats);
    }
    for p in &infos {
        svclab::kubelet::pods::wait_listening(
            &node,
            SocketAddrV4::new(p.ip, PORT),
            Duration::from_secs(20),
        )?;
    }
    eprintln!(
        "probes bench: {} pods and servers up in {:.1} s; {secs} s per phase",
        b.ips.len(),
        setup.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    let (tx, rx) = mpsc::channel();
    b.prober = Some(Prober::new(&node, THREADS, t0, tx)?);
    let spread = phase(b, &rx, t0, "staggered", true, secs);
    let aligned = phase(b, &rx, t0, "all at once", false, secs);
    let pods = b.ips.len();
    print(&[spread, aligned], pods);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if !svclab_testsupport::have_root("probes bench") {
        return Ok(());
    }
    let secs = std::env::var("SVCLAB_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| (1..=600).contains(&s))
        .unwrap_or(20);
    let prefix = format!("svl-bprobe{}-", std::process::id());
    let plan = AddrPlan::for_pods(1, u32::from(pods())).context("address plan")?;
    let topo = Topology::build_with(TopologySpec::new(prefix.clone(), 1), plan)
        .context("building the topology")?;
    let mut b = Bench {
        prefix,
        ips: Vec::new(),
        handles: Vec::new(),
        prober: None,
        pods: Vec::new(),
        stats: Vec::new(),
        topo: Some(topo),
    };
    let r = run(&mut b, secs);
    let down = b.teardown();
    r?;
    down
}
