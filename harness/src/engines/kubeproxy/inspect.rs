//! `svclab inspect` for a kube-proxy node: its `KUBE-*` rules with packet
//! counts (like `iptables-save -c -t nat`), the per-endpoint counters and
//! the conntrack entries of service ClusterIPs and NodePorts (like
//! `conntrack -L --orig-dst ...`), read from inside the node netns.
use std::{
    fmt::Write as _,
    net::{Ipv4Addr, SocketAddrV4},
};

use svclab_datapath::NetnsRef;

use super::{Mode, tools};

/// svclab's ClusterIP range (the validator allows nothing else).
fn is_cluster_ip(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    o[0] == 198 && o[1] == 19 && o[2] == 0
}

/// kube-apiserver's default `--service-node-port-range`, the only one
/// svclab's validator allows.
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30_000..=32_767;

/// A connection to a service: to a ClusterIP, or to a NodePort (any
/// address of the node: kube-proxy's `--dst-type LOCAL`).
fn is_service(dst: SocketAddrV4) -> bool {
    is_cluster_ip(*dst.ip()) || NODE_PORTS.contains(&dst.port())
}

/// Appends node `node`'s netfilter state to `out` for kube-proxy in `mode`.
pub fn node(
    out: &mut String,
    node: u8,
    netns: &str,
    mode: Mode,
    port: Option<u16>,
    name: &dyn Fn(&str) -> String,
) -> anyhow::Result<()> {
    let ns = NetnsRef::named(netns)?;
    if mode == Mode::Nftables {
        let (kp, _) = tools::run_in(
            &ns,
            tools::NFT,
            &["list", "table", "ip", "kube-proxy"],
            None,
        )?;
        let _ = writeln!(
            out,
            "\nNode {node} ({netns}): kube-proxy rules (like `nft list table ip kube-proxy`)"
        );
        for l in kp.lines() {
            let _ = writeln!(out, "  {l}");
        }
        let (list, _) = tools::run_in(&ns, tools::NFT, &["list", "table", "ip", "svclab"], None)?;
        counters(out, node, super::nftables::parse_counters(&list), name);
        return conntrack(out, node, &ns, port, name);
    }
    let (nat, _) = tools::run_in(&ns, tools::IPTABLES_SAVE, &["-c", "-t", "nat"], None)?;
    let _ = writeln!(
        out,
        "\nNode {node} ({netns}): kube-proxy rules (like `iptables-save -c -t nat`), [packets:bytes]"
    );
    for l in nat.lines() {
        let is_kube = l.contains("KUBE-");
        if is_kube && (l.starts_with('[') || l.starts_with(':')) {
            let _ = writeln!(out, "  {l}");
        }
    }
    let (filter, _) = tools::run_in(&ns, tools::IPTABLES_SAVE, &["-c", "-t", "filter"], None)?;
    counters(out, node, tools::parse_counters(&filter), name);
    conntrack(out, node, &ns, port, name)
}

fn counters(
    out: &mut String,
    node: u8,
    c: std::collections::BTreeMap<std::net::SocketAddrV4, svclab_datapath::BackendStats>,
    name: &dyn Fn(&str) -> String,
) {
    let _ = writeln!(
        out,
        "\nNode {node}: per-endpoint counters (svclab's counter rules)"
    );
    for (addr, s) in c {
        let a = addr.to_string();
        let _ = writeln!(
            out,
            "  {a:<21} {:<10} connections={} packets={} bytes={}",
            name(&a),
            s.syns,
            s.packets,
            s.bytes
        );
    }
}

fn conntrack(
    out: &mut String,
    node: u8,
    ns: &NetnsRef,
    port: Option<u16>,
    name: &dyn Fn(&str) -> String,
) -> anyhow::Result<()> {
    let (ct, _) = tools::run_in(ns, tools::CONNTRACK, &["-L"], None)?;
    let mut lines: Vec<tools::CtLine> = tools::parse_conntrack(&ct)
        .into_iter()
        .filter(|l| is_service(l.orig_dst))
        .filter(|l| port.is_none_or(|p| l.client.port() == p))
        .collect();
    lines.sort_by_key(|l| l.client);
    let _ = writeln!(
        out,
        "\nNode {node}: conntrack entries to ClusterIPs and NodePorts (like `conntrack -L`), {} entries{}",
        lines.len(),
        port.map_or(String::new(), |p| format!(" for source port {p}"))
    );
    for l in &lines {
        let ep = l.reply_src.to_string();
        let _ = writeln!(
            out,
            "  {} {} -> {} {} timeout={}s endpoint={ep} ({})",
            l.proto,
            l.client,
            l.orig_dst,
            if l.state.is_empty() { "-" } else { &l.state },
            l.timeout_s,
            name(&ep)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ip_and_node_port_connections_are_service_connections() {
        let at = |a: [u8; 4], p: u16| SocketAddrV4::new(Ipv4Addr::from(a), p);
        assert!(is_service(at([198, 19, 0, 10], 80)));
        assert!(is_service(at([198, 19, 255, 1], 30080)));
        assert!(!is_service(at([198, 18, 1, 2], 8080)), "pod to pod");
    }
}
