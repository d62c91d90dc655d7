//! `svclab doctor`: what this machine offers a run — the kernel, root,
//! nginx (for the nginx presets), whether the eBPF datapath loads,
//! verifies and takes a service (loaded in the current netns with nothing
//! attached and nothing pinned), and whether socket-LB's cgroup programs
//! attach to a threaded cgroup v2 (a throwaway `svl-doctor<pid>-` tree).
use std::{net::Ipv4Addr, process::ExitCode};

use anyhow::Context as _;
use svclab_datapath::{Backend, Config, Datapath, Frontend, NetnsRef};

pub fn run() -> anyhow::Result<ExitCode> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("kernel: {}", release.trim());
    let root = svclab_topology::is_root();
    println!(
        "root: {}",
        if root {
            "yes"
        } else {
            "no (svclab creates netns and loads eBPF: run it as root)"
        }
    );
    nginx();
    let netns = NetnsRef::current()?;
    let mut dp = Datapath::load(netns, Config::default()).context("loading the eBPF datapath")?;
    let fe = Frontend::tcp(Ipv4Addr::new(198, 19, 0, 1), 80);
    dp.upsert_service(fe)?;
    dp.set_backends(fe, &[Backend::active("198.18.0.2:80".parse()?)])?;
    dp.delete_service(fe)?;
    println!(
        "eBPF datapath: loads, programs verified, maps writable (nothing attached, nothing pinned)"
    );
    socket_lb(&mut dp)?;
    dp.close()?;
    Ok(ExitCode::SUCCESS)
}

/// `engine: socket-lb`: cgroup v2 mounts at a run-owned path, a threaded
/// cgroup takes the connect4/sendmsg4/recvmsg4/getpeername4 programs;
/// everything is removed again before this returns.
fn socket_lb(dp: &mut Datapath) -> anyhow::Result<()> {
    let prefix = format!("svl-doctor{}-", std::process::id());
    let mut tree = svclab_cgroup::CgroupTree::create(&prefix).context("socket-lb: cgroup v2")?;
    tree.add("node0")?;
    dp.attach_cgroup(tree.open("node0")?)
        .context("socket-lb: attaching the cgroup programs")?;
    println!(
        "socket-lb: cgroup2 mounts at {}, programs verified and attached to a threaded cgroup (removed again)",
        tree.mount_point().display()
    );
    // The links go with the datapath; the cgroup can go first.
    tree.teardown()?;
    Ok(())
}

/// nginx for `deployments[].nginx` and `clients[].proxy: nginx`: found or
/// not (not an error: only suites using it need it), its version, the echo
/// module `nginx.delay` needs.
fn nginx() {
    let Some(bin) = svclab_suite::nginx_binary() else {
        println!(
            "nginx: not installed (only the nginx presets need it; ./just setup installs Debian's nginx)"
        );
        return;
    };
    // `nginx -v` prints "nginx version: nginx/1.22.1" on stderr.
    let version = std::process::Command::new(&bin)
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
        .unwrap_or_else(|e| format!("cannot run it: {e}"));
    let echo = if std::path::Path::new(svclab_suite::NGINX_ECHO_MODULE).exists() {
        "echo module present (nginx.delay works)"
    } else {
        "echo module missing (nginx.delay needs libnginx-mod-http-echo)"
    };
    println!("nginx: {} ({version}); {echo}", bin.display());
}
