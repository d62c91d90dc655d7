//! `svclab inspect`: what a live or held run's kernel datapath holds, read
//! straight from its BPF maps by ID — services and backends like
//! `cilium bpf lb list`, conntrack like `cilium bpf ct list global`,
//! per-backend counters — plus the run's pods. A run writes `state.json`
//! into its report folder while it runs (and while `--hold` keeps it up) and
//! removes it at teardown.
use std::collections::BTreeMap;
use std::{
    fmt::Write as _,
    net::SocketAddrV4,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use svclab_datapath::{CtKind, DatapathView};

use crate::{
    cluster::state_file::{RunState, STATE_FILE},
    engines::Engine,
};

#[derive(Clone, Debug, Default)]
pub struct InspectFilter {
    /// Only CT entries whose client source port is this.
    pub port: Option<u16>,
    pub node: Option<u8>,
}

/// Finds the state file: a run folder, or a run id under `reports/`.
pub(crate) fn locate(target: &Path, reports: &Path) -> anyhow::Result<PathBuf> {
    let direct = target.join(STATE_FILE);
    if direct.exists() {
        return Ok(direct);
    }
    let id = target.to_string_lossy();
    if let Ok(suites) = std::fs::read_dir(reports) {
        for s in suites.flatten() {
            let p = s.path().join(id.as_ref()).join(STATE_FILE);
            if p.exists() {
                return Ok(p);
            }
        }
    }
    bail!(
        "no live or held run at {} (a run writes {STATE_FILE} while it runs; start one with `svclab run --hold <suite>`)",
        target.display()
    )
}

pub fn inspect(target: &Path, reports: &Path, filter: &InspectFilter) -> anyhow::Result<String> {
    let path = locate(target, reports)?;
    let state: RunState = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    // No signal: only checks that the PID exists.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(state.pid).unwrap_or(0));
    if nix::sys::signal::kill(pid, None).is_err() {
        bail!(
            "run {} (pid {}) is gone; its maps went with it (stale {})",
            state.run_id,
            state.pid,
            path.display()
        );
    }
    let name = |a: &SocketAddrV4| {
        state
            .backends
            .get(&a.to_string())
            .cloned()
            .unwrap_or_else(|| "?".into())
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} ({}), pid {}",
        state.run_id,
        if state.held { "held" } else { "running" },
        state.pid
    );
    let _ = writeln!(out, "\nPods:");
    for p in &state.pods {
        let _ = writeln!(
            out,
            "  {:<14} {:<10} node {} {:<15} {:<12} pid {}",
            p.name, p.deployment, p.node, p.ip, p.phase, p.pid
        );
    }
    for n in state
        .nodes
        .iter()
        .filter(|n| filter.node.is_none_or(|x| x == n.node))
    {
        let engine = Engine::named(&n.engine);
        if let Some(Engine::KubeProxy(mode)) = engine {
            crate::engines::kubeproxy::inspect::node(
                &mut out,
                n.node,
                &n.netns,
                mode,
                filter.port,
                &|a| state.backends.get(a).cloned().unwrap_or_else(|| "?".into()),
            )?;
            continue;
        }
        let view = DatapathView::open(&n.maps)
            .with_context(|| format!("opening node {}'s maps", n.node))?;
        let _ = writeln!(
            out,
            "\nNode {} ({}): services (like `cilium bpf lb list`)",
            n.node, n.netns
        );
        let _ = writeln!(
            out,
            "  {:<24} {:<40}",
            "SERVICE ADDRESS", "BACKEND ADDRESS (ID) (STATE) POD"
        );
        for s in view.services()? {
            let mut first = true;
            if s.backends.is_empty() {
                let _ = writeln!(out, "  {:<24} (no backends)", s.frontend.to_string());
            }
            for (id, addr, st) in &s.backends {
                let col = if first {
                    s.frontend.to_string()
                } else {
                    String::new()
                };
                first = false;
                let addr_s = addr.map_or("gone".to_owned(), |a| a.to_string());
                let state = st.map_or("?".to_owned(), |st| format!("{st:?}").to_lowercase());
                let pod = addr.as_ref().map(&name).unwrap_or_default();
                let _ = writeln!(out, "  {col:<24} {addr_s} ({id}) ({state}) {pod}");
            }
        }
        let mut ct = view.ct_entries()?;
        ct.retain(|e| filter.port.is_none_or(|p| e.client.port() == p));
        ct.sort_by_key(|e| (e.client, e.kind));
        let _ = writeln!(
            out,
            "\nNode {}: conntrack (like `cilium bpf ct list global`), {} entries{}",
            n.node,
            ct.len(),
            filter
                .port
                .map_or(String::new(), |p| format!(" for source port {p}"))
        );
        for e in &ct {
            let kind = match e.kind {
                CtKind::Service => "SVC",
                CtKind::Out => "OUT",
            };
            let backend = e
                .backend
                .map_or(format!("id {} (gone)", e.backend_id), |b| {
                    format!("{b} ({})", name(&b))
                });
            let mut flags = Vec::new();
            if e.tx_closing {
                flags.push("TxClosing");
            }
            if e.rx_closing {
                flags.push("RxClosing");
            }
            if e.seen_non_syn {
                flags.push("SeenNonSyn");
            }
            let expires = e
                .expires_in
                .map_or("expired".to_owned(), |d| format!("{}s", d.as_secs()));
            let _ = writeln!(
                out,
                "  {} {kind} {} -> {} expires={expires} backend={backend} RevNAT={} TxPackets={} RxPackets={} Reopened={} Rebalanced={} idle={:.1}s TxFlagsSeen={:#04x} LastTxReport={}s ago Flags=[{}]",
                e.proto,
                e.client,
                e.target,
                e.rev_nat_index,
                e.tx_packets,
                e.rx_packets,
                e.reopened,
                e.rebalanced,
                e.idle.as_secs_f64(),
                e.tx_flags_seen,
                e.since_report.as_secs(),
                flags.join(" ")
            );
        }
        if engine == Some(Engine::SocketLb) {
            let rev = view.sock_revnat_entries()?;
            let _ = writeln!(
                out,
                "\nNode {}: socket-LB reverse translation (LB4_REVERSE_NAT_SK_MAP), {} entries",
                n.node,
                rev.len()
            );
            let mut per: BTreeMap<(SocketAddrV4, SocketAddrV4), u64> = BTreeMap::new();
            for e in &rev {
                *per.entry((e.service, e.backend)).or_default() += 1;
            }
            for ((svc, backend), sockets) in &per {
                let _ = writeln!(
                    out,
                    "  {svc} <- {backend} ({}) sockets={sockets}",
                    name(backend)
                );
            }
        }
        let c = view.counters()?;
        let _ = writeln!(out, "\nNode {}: per-backend counters", n.node);
        for (addr, s) in &c.backends {
            let _ = writeln!(
                out,
                "  {addr:<21} {:<10} connections={} selections={} reselections={} packets={} bytes={}",
                name(addr),
                s.syns,
                s.selections,
                s.reselections,
                s.packets,
                s.bytes
            );
        }
        let reasons: Vec<String> = c
            .reasons
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(r, v)| format!("{}={v}", r.name()))
            .collect();
        let _ = writeln!(out, "  reasons: {}", reasons.join(" "));
    }
    Ok(out)
}

/// The command: prints the state, or the reason there is none (exit 2).
pub fn run(target: &Path, reports: &Path, filter: &InspectFilter) -> std::process::ExitCode {
    match inspect(target, reports, filter) {
        Ok(text) => {
            print!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("svclab inspect: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
