//! Topology build/teardown benchmark: this crate against the same 1-node
//! topology built with iproute2's batch mode, in the same run, with ratios
//! (the benchmarking rule: compare ratios from one run, never absolute
//! times, which depend on the machine and its load).
//!
//! The iproute2 reference: one `ip -batch` file with every `netns add`, one
//! `ip -n <node> -batch` file with the node set-up and, per pod, `link add
//! lxcK type veth peer name eth0 netns <pod>`, `link set lxcK up` and the
//! /32 route; then, per pod, `ip -n <pod> -batch` for lo/eth0 up, address
//! and routes (batch lines cannot switch namespace, so the pod side costs
//! one process per pod, as any iproute2-based builder pays). The node's
//! sysctls, which the crate also writes, are left out of the reference, so
//! the ratio errs against the crate. Teardown is one `ip -batch` file of
//! `netns del`.
//!
//! Runs only as `cargo bench` (`--bench` in argv) and as root; under
//! `cargo test --benches` it exits 0 doing nothing. Prefixes are
//! `svl-b<pid>-...`; everything is deleted, also on panic.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use svclab_topology::{PodSpec, Topology, TopologySpec, list_with_prefix};

const SIZES: [usize; 2] = [50, 200];
const ROUNDS: usize = 5;
/// Namespace destruction finishes asynchronously in the kernel (and holds
/// RTNL while it does); let it settle so one measurement does not pay for
/// the previous one's teardown.
/// Override with `SVCLAB_BENCH_SETTLE_MS`.
const SETTLE_MS: u64 = 1500;

fn settle() {
    let ms = std::env::var("SVCLAB_BENCH_SETTLE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SETTLE_MS);
    std::thread::sleep(Duration::from_millis(ms));
}

fn pod_ip(k: usize) -> std::net::Ipv4Addr {
    // 198.18.0.2 ..= 198.18.0.201 for 200 pods.
    std::net::Ipv4Addr::new(198, 18, 0, u8::try_from(k + 2).expect("at most 253 pods"))
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes every namespace with `prefix` (the iproute2 run's cleanup,
/// also on panic).
struct PrefixGuard(String);

impl Drop for PrefixGuard {
    fn drop(&mut self) {
        for n in list_with_prefix(&self.0) {
            let _ = Command::new("ip").args(["netns", "del", &n]).status();
        }
    }
}

struct Times {
    build: Duration,
    teardown: Duration,
    /// User and system CPU of this process during the build (all threads).
    cpu: (Duration, Duration),
}

fn cpu_time() -> (Duration, Duration) {
    // SAFETY: getrusage fills the zeroed struct we pass.
    let r = unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut r);
        r
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.unsigned_abs())
            + Duration::from_micros(t.tv_usec.unsigned_abs())
    };
    (tv(r.ru_utime), tv(r.ru_stime))
}

fn bench_crate(prefix: &str, n: usize) -> Times {
    let _guard = PrefixGuard(prefix.to_owned());
    let pods: Vec<PodSpec> = (0..n)
        .map(|k| PodSpec {
            name: format!("pod{k}"),
            node: 0,
            ip: pod_ip(k),
        })
        .collect();
    let c0 = cpu_time();
    let t0 = Instant::now();
    let mut t = Topology::build(TopologySpec {
        prefix: prefix.to_owned(),
        nodes: 1,
    })
    .expect("build");
    t.add_pods(pods).expect("add pods");
    let build = t0.elapsed();
    let c1 = cpu_time();
    assert_eq!(list_with_prefix(prefix).len(), n + 1);
    let t1 = Instant::now();
    t.teardown().expect("teardown");
    let teardown = t1.elapsed();
    assert!(list_with_prefix(prefix).is_empty());
    Times {
        build,
        teardown,
        cpu: (c1.0 - c0.0, c1.1 - c0.1),
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn bench_ip_batch(prefix: &str, n: usize, dir: &Path) -> Times {
    let _guard = PrefixGuard(prefix.to_owned());
    let node = format!("{prefix}node0");
    let mut ns = format!("netns add {node}\n");
    let mut node_cmds = String::from("link set lo up\naddr add 198.18.0.1/32 dev lo\n");
    let mut del = format!("netns del {node}\n");
    let mut pod_files: Vec<(String, PathBuf)> = Vec::new();
    for k in 0..n {
        let pod = format!("{prefix}pod{k}");
        let addr = pod_ip(k);
        ns.push_str(&format!("netns add {pod}\n"));
        del.push_str(&format!("netns del {pod}\n"));
        node_cmds.push_str(&format!(
            "link add lxc{k} type veth peer name eth0 netns {pod}\n\
             link set lxc{k} up\n\
             route add {addr}/32 dev lxc{k}\n"
        ));
        let f = dir.join(format!("pod{k}.batch"));
        write(
            &f,
            &format!(
                "link set lo up\nlink set eth0 up\naddr add {addr}/32 dev eth0\n\
                 route add 198.18.0.1 dev eth0 scope link\n\
                 route add default via 198.18.0.1 dev eth0\n"
            ),
        );
        pod_files.push((pod, f));
    }
    let (ns_f, node_f, del_f) = (
        dir.join("ns.batch"),
        dir.join("node.batch"),
        dir.join("del.batch"),
    );
    write(&ns_f, &ns);
    write(&node_f, &node_cmds);
    write(&del_f, &del);
    let s = |p: &Path| p.display().to_string();

    let t0 = Instant::now();
    ip(&["-batch", &s(&ns_f)]);
    ip(&["-n", &node, "-batch", &s(&node_f)]);
    for (pod, f) in &pod_files {
        ip(&["-n", pod, "-batch", &s(f)]);
    }
    let build = t0.elapsed();
    assert_eq!(list_with_prefix(prefix).len(), n + 1);
    let t1 = Instant::now();
    ip(&["-batch", &s(&del_f)]);
    let teardown = t1.elapsed();
    assert!(list_with_prefix(prefix).is_empty());
    Times {
        build,
        teardown,
        cpu: (Duration::ZERO, Duration::ZERO),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:8.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !svclab_testsupport::have_root("topology bench") {
        return;
    }
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("svl-b{pid}-batch"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!(
        "topology build/teardown, 1 node, median of {ROUNDS} rounds (workers: {})",
        std::env::var("SVCLAB_TOPOLOGY_WORKERS").unwrap_or_else(|_| "default".into())
    );
    println!(
        "{:>5}  {:>11} {:>11} {:>7}   {:>11} {:>11} {:>7}",
        "pods", "crate build", "ip -batch", "speedup", "crate del", "ip del", "speedup"
    );
    for n in SIZES {
        let (mut cb, mut ct, mut ib, mut it) = (vec![], vec![], vec![], vec![]);
        let (mut cu, mut cs) = (vec![], vec![]);
        for round in 0..ROUNDS {
            // Alternate which goes first so neither always runs warm.
            let mut run_crate = |cb: &mut Vec<Duration>, ct: &mut Vec<Duration>| {
                settle();
                let t = bench_crate(&format!("svl-b{pid}-c{n}r{round}-"), n);
                cb.push(t.build);
                ct.push(t.teardown);
                cu.push(t.cpu.0);
                cs.push(t.cpu.1);
            };
            let run_ip = |ib: &mut Vec<Duration>, it: &mut Vec<Duration>| {
                settle();
                let t = bench_ip_batch(&format!("svl-b{pid}-i{n}r{round}-"), n, &dir);
                ib.push(t.build);
                it.push(t.teardown);
            };
            if round % 2 == 0 {
                run_crate(&mut cb, &mut ct);
                run_ip(&mut ib, &mut it);
            } else {
                run_ip(&mut ib, &mut it);
                run_crate(&mut cb, &mut ct);
            }
        }
        let (cb, ct, ib, it) = (median(cb), median(ct), median(ib), median(it));
        println!(
            "{n:>5}  {} {} {:>6.2}x   {} {} {:>6.2}x",
            ms(cb),
            ms(ib),
            ib.as_secs_f64() / cb.as_secs_f64(),
            ms(ct),
            ms(it),
            it.as_secs_f64() / ct.as_secs_f64(),
        );
        println!(
            "       crate: {:.0} pods/s build, {:.0} netns/s teardown; ip -batch: {:.0} pods/s, {:.0} netns/s",
            n as f64 / cb.as_secs_f64(),
            (n + 1) as f64 / ct.as_secs_f64(),
            n as f64 / ib.as_secs_f64(),
            (n + 1) as f64 / it.as_secs_f64(),
        );
        svclab_testsupport::bench::goal_row(
            "topology",
            &format!("{n} pods build / teardown vs ip -batch (speedup, >= 1)"),
            &format!(
                "{:.2}x / {:.2}x",
                ib.as_secs_f64() / cb.as_secs_f64(),
                it.as_secs_f64() / ct.as_secs_f64()
            ),
            Some(cb <= ib && ct <= it),
        );
        println!(
            "       crate build CPU (median): user {:.1} ms, sys {:.1} ms: the kernel's work dominates",
            median(cu).as_secs_f64() * 1e3,
            median(cs).as_secs_f64() * 1e3,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
