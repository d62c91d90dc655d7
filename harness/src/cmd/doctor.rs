//! `svclab doctor`: what this machine offers a run — the kernel, root, and
//! whether the eBPF datapath loads, verifies and takes a service (loaded in
//! the current netns with nothing attached and nothing pinned).
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
    let netns = NetnsRef::current()?;
    let mut dp = Datapath::load(netns, Config::default()).context("loading the eBPF datapath")?;
    let fe = Frontend::tcp(Ipv4Addr::new(198, 19, 0, 1), 80);
    dp.upsert_service(fe)?;
    dp.set_backends(fe, &[Backend::active("198.18.0.2:80".parse()?)])?;
    dp.delete_service(fe)?;
    dp.close()?;
    println!(
        "eBPF datapath: loads, programs verified, maps writable (nothing attached, nothing pinned)"
    );
    Ok(ExitCode::SUCCESS)
}
