//! The netfilter user-space tools kube-proxy's engines run inside a node
//! netns, and parsing what they print: `iptables-nft-restore`/`-save` (the
//! rules and svclab's counter rules) and `conntrack` (the kernel's
//! connection tracking, listed, deleted by service, and kube-proxy's stale
//! UDP cleanup). Each runs as a child of a thread that entered the netns
//! (a forked child inherits the forking thread's namespaces).
//!
//! Why the tools and not a netlink crate: kube-proxy v1.30 itself drives
//! iptables through `iptables-restore` (one atomic batch per sync, which
//! is the behaviour to copy), and the conntrack tool gives the same view an
//! operator uses; the Rust netlink crates for nf_tables/ctnetlink are young
//! and would add a second, unfamiliar rendering of the same state.
//!
//! iptables-nft (Debian's default `iptables`, and what kube-proxy's image
//! picks on a fresh node through iptables-wrapper) is used, never
//! iptables-legacy: the rules land in nf_tables tables `ip filter` / `ip
//! nat` of the node netns.
use std::{
    collections::BTreeMap,
    io::Write as _,
    net::{Ipv4Addr, SocketAddrV4},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};
use svclab_datapath::{BackendStats, NetnsRef};

pub const IPTABLES_RESTORE: &str = "iptables-nft-restore";
pub const IPTABLES_SAVE: &str = "iptables-nft-save";
pub const CONNTRACK: &str = "conntrack";
pub const NFT: &str = "nft";

/// Runs `prog args` with `stdin` in the calling thread's netns; returns
/// stdout. Fails with the tool's stderr.
pub fn run_here(
    prog: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {prog} (is it installed? scripts/bootstrap.sh run)"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .with_context(|| format!("writing to {prog}"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for {prog}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!(
            "{prog} {}: {} {}",
            args.join(" "),
            out.status,
            stderr.trim()
        );
    }
    Ok((stdout, stderr))
}

/// [`run_here`] inside `netns`.
pub fn run_in(
    netns: &NetnsRef,
    prog: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<(String, String)> {
    netns
        .run(|| run_here(prog, args, stdin))
        .with_context(|| format!("entering {}", netns.name()))?
}

/// `nft --check` of a kube-proxy-like table in a throwaway network
/// namespace (unshare in the child before exec; it goes when nft exits):
/// proves the kernel takes nf_tables NAT and verdict maps.
pub fn nft_probe() -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = Command::new(NFT);
    cmd.args(["--check", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: the hook runs between fork and exec; unshare(2) is
    // async-signal-safe (no allocation) and only affects the child.
    unsafe {
        cmd.pre_exec(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting nft")?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(
            b"add table ip kube-proxy
              add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
              add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
",
        )
        .context("writing to nft")?;
    }
    let out = child.wait_with_output().context("waiting for nft")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Whether `prog` can be found on `PATH`.
pub fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(prog);
            f.is_file()
        })
    })
}

/// svclab's counter rules from `iptables-save -c -t filter` output: per
/// endpoint address, new connections (`selections`, `syns`) and packets and
/// bytes of the original direction.
pub fn parse_counters(save: &str) -> BTreeMap<SocketAddrV4, BackendStats> {
    let mut m: BTreeMap<SocketAddrV4, BackendStats> = BTreeMap::new();
    for l in save.lines() {
        let Some((pkts, bytes, rest)) = counted_rule(l) else {
            continue;
        };
        let Some(c) = rest.split("--comment \"svclab ").nth(1) else {
            continue;
        };
        let mut w = c.trim_end_matches('"').split(['"', ' ']);
        let (Some(kind), Some(_frontend), Some(ep)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let Ok(ep) = ep.parse::<SocketAddrV4>() else {
            continue;
        };
        let e = m.entry(ep).or_default();
        match kind {
            "new" => {
                e.selections += pkts;
                e.syns += pkts;
            }
            "packets" => {
                e.packets += pkts;
                e.bytes += bytes;
            }
            _ => {}
        }
    }
    m
}

/// `[pkts:bytes] -A ...` → (pkts, bytes, rule text).
pub fn counted_rule(l: &str) -> Option<(u64, u64, &str)> {
    let rest = l.strip_prefix('[')?;
    let (c, rule) = rest.split_once("] ")?;
    let (p, b) = c.split_once(':')?;
    Some((p.parse().ok()?, b.parse().ok()?, rule))
}

/// One `conntrack -L` line: protocol, state, original tuple, and the
/// reply's source (the endpoint after DNAT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtLine {
    pub proto: String,
    /// TCP state (`ESTABLISHED`, `TIME_WAIT`, ...), empty for UDP.
    pub state: String,
    pub timeout_s: u64,
    pub client: SocketAddrV4,
    pub orig_dst: SocketAddrV4,
    pub reply_src: SocketAddrV4,
}

/// Parses `conntrack -L` output (default format), IPv4 TCP/UDP only.
pub fn parse_conntrack(out: &str) -> Vec<CtLine> {
    out.lines().filter_map(parse_ct_line).collect()
}

fn parse_ct_line(l: &str) -> Option<CtLine> {
    let mut w = l.split_whitespace();
    let proto = w.next()?.to_owned();
    let _num = w.next()?;
    let timeout_s = w.next()?.parse().ok()?;
    let mut state = String::new();
    let mut kv: Vec<(&str, &str)> = Vec::new();
    for t in w {
        if let Some((k, v)) = t.split_once('=') {
            kv.push((k, v));
        } else if kv.is_empty() && !t.starts_with('[') {
            state = t.to_owned();
        }
    }
    let nth = |key: &str, n: usize| kv.iter().filter(|(k, _)| *k == key).nth(n).map(|(_, v)| *v);
    let ip = |key: &str, n: usize| nth(key, n)?.parse::<Ipv4Addr>().ok();
    let port = |key: &str, n: usize| nth(key, n)?.parse::<u16>().ok();
    Some(CtLine {
        proto,
        state,
        timeout_s,
        client: SocketAddrV4::new(ip("src", 0)?, port("sport", 0)?),
        orig_dst: SocketAddrV4::new(ip("dst", 0)?, port("dport", 0)?),
        reply_src: SocketAddrV4::new(ip("src", 1)?, port("sport", 1)?),
    })
}

/// "N flow entries have been deleted." → N.
pub fn parse_deleted(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            l.split_once("): ")
                .map_or(l, |(_, r)| r)
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_rules_parse_back_to_per_endpoint_stats() {
        let save = "\
# Generated by iptables-nft-save
*filter
:SVCLAB-BACKENDS - [0:0]
[5:300] -A SVCLAB-BACKENDS -p tcp -m comment --comment \"svclab packets 198.19.0.10:80 198.18.1.2:8080\" -m conntrack --ctstate DNAT
[2:120] -A SVCLAB-BACKENDS -p tcp -m comment --comment \"svclab new 198.19.0.10:80 198.18.1.2:8080\" -m conntrack --ctstate NEW
[9:9] -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
COMMIT";
        let m = parse_counters(save);
        let s = &m[&"198.18.1.2:8080".parse().unwrap()];
        assert_eq!((s.syns, s.selections, s.packets, s.bytes), (2, 2, 5, 300));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn conntrack_lines_give_the_dnat_endpoint() {
        let out = "tcp      6 117 TIME_WAIT src=198.18.0.5 dst=198.19.0.10 sport=40000 dport=80 src=198.18.1.3 dst=198.18.0.5 sport=8080 dport=40000 [ASSURED] mark=0 use=1\n\
udp      17 29 src=198.18.0.5 dst=198.19.0.10 sport=5000 dport=53 [UNREPLIED] src=198.18.1.4 dst=198.18.0.5 sport=53 dport=5000 mark=0 use=1\n";
        let v = parse_conntrack(out);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].state, "TIME_WAIT");
        assert_eq!(v[0].reply_src, "198.18.1.3:8080".parse().unwrap());
        assert_eq!(v[0].orig_dst, "198.19.0.10:80".parse().unwrap());
        assert_eq!(v[1].state, "");
        assert_eq!(v[1].reply_src, "198.18.1.4:53".parse().unwrap());
    }

    #[test]
    fn deleted_count_is_read_from_the_summary() {
        assert_eq!(
            parse_deleted(
                "conntrack v1.4.7 (conntrack-tools): 12 flow entries have been deleted.\n"
            ),
            12
        );
    }
}
