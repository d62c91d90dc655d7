//! `svclab monitor`: a live stream of a run's per-flow decisions, the way
//! the real systems are debugged — `cilium monitor` / `hubble observe` for
//! the eBPF and socket-LB engines (the datapath's monitor ring buffer,
//! filtered in the kernel), `conntrack -E` for kube-proxy (the node's
//! conntrack NEW events: each is a new NAT decision, the backend being the
//! reply's source).
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::{BufRead as _, BufReader},
    net::{Ipv4Addr, SocketAddrV4},
    path::Path,
    process::{Child, Command, ExitCode, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::Duration,
};

use anyhow::{Context as _, bail};
use svclab_datapath::{FlowEvent, Monitor, MonitorSpec, Protocol, Reason};

use super::shared::stop_on_signals;
use crate::{
    cli::MonitorArgs,
    cluster::state_file::RunState,
    engines::{Engine, kubeproxy::tools},
};

/// How long one wait for events lasts before the loop checks the run and
/// the stop flag again.
const POLL: Duration = Duration::from_millis(200);

/// One decision as printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub time_ns: u64,
    pub node: u8,
    pub client: SocketAddrV4,
    pub service: SocketAddrV4,
    pub proto: Protocol,
    pub verdict: String,
    pub backend: Option<SocketAddrV4>,
    pub tcp_flags: u8,
}

fn flags(f: u8) -> String {
    let mut v = Vec::new();
    for (bit, name) in [(0x02, "SYN"), (0x10, "ACK"), (0x01, "FIN"), (0x04, "RST")] {
        if f & bit != 0 {
            v.push(name);
        }
    }
    v.join("|")
}

impl Line {
    fn render(&self, t0: Option<u64>, names: &BTreeMap<String, String>) -> String {
        let t = match t0 {
            Some(t0) if self.time_ns >= t0 => {
                format!("{:>9.3}s", (self.time_ns - t0) as f64 / 1e9)
            }
            Some(t0) => format!("{:>9.3}s", -((t0 - self.time_ns) as f64 / 1e9)),
            None => format!("{:>9.3}s", self.time_ns as f64 / 1e9),
        };
        let proto = match self.proto {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        let client = if self.client.ip().is_unspecified() {
            "(socket)".to_owned()
        } else {
            self.client.to_string()
        };
        let mut out = format!(
            "{t} node {} {proto} {client} -> {} {:<7} {:<17}",
            self.node,
            self.service,
            flags(self.tcp_flags),
            self.verdict
        );
        match self.backend {
            Some(b) => {
                let name = names.get(&b.to_string()).map_or("?", String::as_str);
                let _ = write!(out, " -> {name} ({b})");
            }
            None => out.push_str(" -> no backend"),
        }
        out
    }

    fn from_flow(node: u8, e: &FlowEvent) -> Self {
        Self {
            time_ns: e.time_ns,
            node,
            client: e.client,
            service: e.service,
            proto: e.proto,
            verdict: e.verdict.name().to_owned(),
            backend: e.backend,
            tcp_flags: e.tcp_flags,
        }
    }
}

/// What the user asked for, resolved against the run.
struct Filter {
    spec: MonitorSpec,
    node: Option<u8>,
}

fn resolve(args: &MonitorArgs, state: &RunState) -> anyhow::Result<Filter> {
    let backend = match &args.backend {
        None => None,
        Some(b) => Some(match b.parse::<Ipv4Addr>() {
            Ok(ip) => ip,
            Err(_) => {
                let pod = state.pods.iter().find(|p| &p.name == b);
                let ip = match pod {
                    Some(p) => p.ip.clone(),
                    None => state
                        .backends
                        .iter()
                        .find(|(_, name)| *name == b)
                        .and_then(|(addr, _)| addr.split(':').next().map(str::to_owned))
                        .with_context(|| {
                            format!(
                                "no pod named {b} in run {} (pods: {})",
                                state.run_id,
                                state
                                    .pods
                                    .iter()
                                    .map(|p| p.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        })?,
                };
                ip.parse()
                    .with_context(|| format!("pod {b}'s address {ip}"))?
            }
        }),
    };
    // Only the verdicts the run's engines report.
    let mut possible: Vec<Reason> = Vec::new();
    for n in &state.nodes {
        for r in verdicts_of(Engine::named(&n.engine)) {
            if !possible.contains(r) {
                possible.push(*r);
            }
        }
    }
    let mut verdicts = Vec::new();
    for r in &args.reasons {
        match Reason::from_name(r) {
            Some(v) if possible.contains(&v) => verdicts.push(v),
            _ => bail!(
                "run {} never reports the verdict {r:?}; its engine's are: {}",
                state.run_id,
                possible
                    .iter()
                    .map(|v| v.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    if let Some(n) = args.node
        && !state.nodes.iter().any(|x| x.node == n)
    {
        bail!("run {} has no node {n}", state.run_id);
    }
    Ok(Filter {
        spec: MonitorSpec {
            port: args.port,
            backend,
            verdicts,
        },
        node: args.node,
    })
}

/// The verdicts an engine's monitor reports.
fn verdicts_of(engine: Option<Engine>) -> &'static [Reason] {
    match engine {
        Some(Engine::KubeProxy(_)) => &[Reason::CtNew],
        Some(Engine::SocketLb) => &[Reason::SockXlate, Reason::SockNoBackend],
        _ => &[
            Reason::CtNew,
            Reason::CtReuse,
            Reason::CtReopen,
            Reason::CtRebalance,
            Reason::CtReopenNew,
            Reason::CtDrain,
            Reason::BackendGone,
            Reason::DropNoBackend,
            Reason::RejectNoBackend,
        ],
    }
}

/// Where events come from, one per node.
enum Source {
    Ebpf {
        node: u8,
        monitor: Box<Monitor>,
    },
    /// The process stays ours until dropped (killed by PID).
    Conntrack {
        child: Child,
    },
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Source::Conntrack { child, .. } = self {
            // Ours, by PID.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `conntrack -E -e NEW` in the node's netns, its lines to `tx`.
fn conntrack_events(
    node: u8,
    netns: &str,
    tx: mpsc::Sender<Line>,
    filter: &MonitorSpec,
) -> anyhow::Result<Source> {
    use std::os::unix::process::CommandExt as _;
    let ns = std::fs::File::open(svclab_topology::netns_path(netns))
        .with_context(|| format!("opening node netns {netns}"))?;
    let parent = crate::process::parent_pid();
    let mut cmd = Command::new(tools::CONNTRACK);
    cmd.args(["-E", "-e", "NEW"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only setns(2) and prctl(2)/getppid(2),
    // async-signal-safe system calls on an fd opened before the fork. The
    // child enters the node netns itself and dies with this (the spawning,
    // long-lived main) thread's process, so a killed monitor leaves no
    // conntrack behind in the run's namespace.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
            crate::process::die_with_parent(parent)
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting `conntrack -E` in {netns}"))?;
    // Owned by the source from here: dropped (killed) on every path.
    let mut source = Source::Conntrack { child };
    let Source::Conntrack { child } = &mut source else {
        unreachable!("just built");
    };
    let out = child.stdout.take().context("conntrack's stdout")?;
    let f = filter.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let Some(l) = parse_conntrack_event(node, &line) else {
                continue;
            };
            if matches_filter(&l, &f) && tx.send(l).is_err() {
                return;
            }
        }
    });
    Ok(source)
}

/// A `conntrack -E` NEW line of a NATed flow (the reply's source differs
/// from the original destination: kube-proxy's DNAT chose that backend).
pub fn parse_conntrack_event(node: u8, line: &str) -> Option<Line> {
    let rest = line.trim_start().strip_prefix("[NEW]")?;
    let ct = tools::parse_conntrack(rest).into_iter().next()?;
    if ct.reply_src == ct.orig_dst {
        return None;
    }
    let proto = match ct.proto.as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return None,
    };
    Some(Line {
        time_ns: svclab_datapath::monotonic_ns(),
        node,
        client: ct.client,
        service: ct.orig_dst,
        proto,
        verdict: "ct-new".to_owned(),
        backend: Some(ct.reply_src),
        tcp_flags: if proto == Protocol::Tcp { 0x02 } else { 0 },
    })
}

fn matches_filter(l: &Line, f: &MonitorSpec) -> bool {
    let port_ok = f.port.is_none_or(|p| {
        l.client.port() == p || l.service.port() == p || l.backend.is_some_and(|b| b.port() == p)
    });
    let backend_ok = f
        .backend
        .is_none_or(|ip| l.backend.is_some_and(|b| *b.ip() == ip));
    let verdict_ok = f.verdicts.is_empty() || f.verdicts.iter().any(|v| v.name() == l.verdict);
    port_ok && backend_ok && verdict_ok
}

fn run_alive(state: &RunState, dir: &Path) -> bool {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(state.pid).unwrap_or(0));
    nix::sys::signal::kill(pid, None).is_ok() && dir.exists()
}

/// Streams events to `out` until `stop`, `count` events, or the run ends.
/// Returns how many were printed.
pub fn monitor(
    args: &MonitorArgs,
    stop: &Arc<AtomicBool>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<u64> {
    let path = super::inspect::locate(&args.run, &args.reports)?;
    let state: RunState = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    if !run_alive(&state, &path) {
        bail!(
            "run {} (pid {}) is gone; its datapath went with it",
            state.run_id,
            state.pid
        );
    }
    let filter = resolve(args, &state)?;
    let (tx, rx) = mpsc::channel::<Line>();
    let mut sources = Vec::new();
    for n in state
        .nodes
        .iter()
        .filter(|n| filter.node.is_none_or(|x| x == n.node))
    {
        match Engine::named(&n.engine) {
            Some(Engine::KubeProxy(_)) => {
                sources.push(conntrack_events(
                    n.node,
                    &n.netns,
                    tx.clone(),
                    &filter.spec,
                )?);
            }
            _ => {
                let monitor = Monitor::attach(&n.maps, &filter.spec, args.force)
                    .with_context(|| format!("attaching to node {}'s datapath", n.node))?;
                sources.push(Source::Ebpf {
                    node: n.node,
                    monitor: Box::new(monitor),
                });
            }
        }
    }
    drop(tx);
    let ebpf_nodes = sources
        .iter()
        .filter(|s| matches!(s, Source::Ebpf { .. }))
        .count()
        .max(1);
    let wait = POLL / u32::try_from(ebpf_nodes).unwrap_or(1);
    writeln!(
        out,
        "monitoring run {} ({} node{}); Ctrl-C to stop",
        state.run_id,
        sources.len(),
        if sources.len() == 1 { "" } else { "s" }
    )?;
    let mut printed = 0u64;
    let done = |n: u64| args.count.is_some_and(|c| n >= c);
    while !stop.load(Ordering::Relaxed) && !done(printed) {
        let mut lines = Vec::new();
        let mut any_ebpf = false;
        for s in &mut sources {
            if let Source::Ebpf { node, monitor } = s {
                any_ebpf = true;
                for e in monitor.poll(wait)? {
                    lines.push(Line::from_flow(*node, &e));
                }
            }
        }
        if !any_ebpf && let Ok(l) = rx.recv_timeout(POLL) {
            lines.push(l);
        }
        lines.extend(rx.try_iter());
        lines.sort_by_key(|l| l.time_ns);
        for l in lines {
            if done(printed) {
                break;
            }
            writeln!(out, "{}", l.render(state.t0_monotonic_ns, &state.backends))?;
            printed += 1;
        }
        out.flush()?;
        if !run_alive(&state, &path) {
            writeln!(out, "run {} ended", state.run_id)?;
            break;
        }
    }
    Ok(printed)
}

/// The command: streams, or says why it cannot (exit 2).
pub fn run(args: &MonitorArgs) -> ExitCode {
    let stop = match stop_on_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("svclab monitor: {e:#}");
            return ExitCode::from(2);
        }
    };
    match monitor(args, &stop, &mut std::io::stdout().lock()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("svclab monitor: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conntrack_new_event_of_a_natted_flow_is_a_decision() {
        let l = parse_conntrack_event(
            1,
            "    [NEW] tcp      6 120 SYN_SENT src=198.18.1.2 dst=198.19.0.10 sport=40000 dport=80 [UNREPLIED] src=198.18.2.3 dst=198.18.1.2 sport=8080 dport=40000",
        )
        .expect("parsed");
        assert_eq!(l.client, "198.18.1.2:40000".parse().unwrap());
        assert_eq!(l.service, "198.19.0.10:80".parse().unwrap());
        assert_eq!(l.backend, Some("198.18.2.3:8080".parse().unwrap()));
        assert_eq!(l.verdict, "ct-new");
        // Not NATed (pod to pod): no service decision.
        assert!(parse_conntrack_event(
            0,
            "[NEW] tcp 6 120 SYN_SENT src=198.18.1.2 dst=198.18.2.3 sport=1 dport=8080 [UNREPLIED] src=198.18.2.3 dst=198.18.1.2 sport=8080 dport=1",
        )
        .is_none());
        assert!(parse_conntrack_event(0, "[DESTROY] tcp 6 ...").is_none());
    }

    #[test]
    fn filters_and_rendering() {
        let l = Line {
            time_ns: 12_500_000_000,
            node: 0,
            client: "198.18.1.2:40000".parse().unwrap(),
            service: "198.19.0.10:80".parse().unwrap(),
            proto: Protocol::Tcp,
            verdict: "ct-reopen".to_owned(),
            backend: Some("198.18.2.3:8080".parse().unwrap()),
            tcp_flags: 0x02,
        };
        let names = BTreeMap::from([("198.18.2.3:8080".to_owned(), "web-2".to_owned())]);
        let text = l.render(Some(10_000_000_000), &names);
        assert!(
            text.contains("    2.500s node 0 tcp 198.18.1.2:40000 -> 198.19.0.10:80"),
            "{text}"
        );
        assert!(
            text.contains("ct-reopen") && text.ends_with("-> web-2 (198.18.2.3:8080)"),
            "{text}"
        );
        let spec = |port, backend, verdicts| MonitorSpec {
            port,
            backend,
            verdicts,
        };
        assert!(matches_filter(&l, &spec(Some(40000), None, vec![])));
        assert!(matches_filter(&l, &spec(Some(8080), None, vec![])));
        assert!(!matches_filter(&l, &spec(Some(1), None, vec![])));
        assert!(matches_filter(
            &l,
            &spec(None, Some("198.18.2.3".parse().unwrap()), vec![])
        ));
        assert!(!matches_filter(&l, &spec(None, None, vec![Reason::CtNew])));
        assert!(matches_filter(
            &l,
            &spec(None, None, vec![Reason::CtReopen])
        ));
    }
}
