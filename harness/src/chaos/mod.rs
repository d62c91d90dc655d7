//! Network faults without netem, in the run's own namespaces: what each
//! fault kind puts in the kernel and takes out again. The cluster decides
//! where a fault acts ([`Placement`], `cluster/faults.rs`); this module
//! owns the pieces and their undoing:
//! - loss and blackhole: the eBPF fault program (`svclab_datapath::FaultProgram`),
//!   first in the TCX chain of each receiving interface, netem's models;
//! - delay: an NFQUEUE delay line per receiving netns (`delay.rs`) behind
//!   an iptables rule (`netfilter.rs`);
//! - bandwidth: a TBF root qdisc (`shape.rs`);
//! - reset: sock_diag destroy of established connections (`reset.rs`) and
//!   an iptables REJECT with tcp-reset for a share of new ones;
//! - measurement: an ICMP pinger across the hop (`measure.rs`).
//!
//! An [`ActiveFault`] owns everything it set: dropping it (or
//! [`ActiveFault::finish`]) removes the rules first, then releases held
//! packets, detaches the programs and deletes the qdiscs. Everything lives
//! inside the run's namespaces, so a crashed run's faults go with them
//! (`svclab clean`); nothing touches the root namespace.
pub mod delay;
mod filter;
pub mod measure;
pub mod netfilter;
mod nfqueue;
pub mod reset;
pub mod shape;

pub use self::filter::{PortFilter, PortSide};

use std::{
    net::Ipv4Addr,
    sync::atomic::{AtomicU16, Ordering},
    time::Duration,
};

use anyhow::Context as _;
use svclab_datapath::{FaultConfig, FaultProgram, NetnsRef};

use self::{
    delay::{DelayLine, DelayModel, DelayStats},
    filter::{prefix, src_args},
    measure::{PingStats, Pinger, ProbeKind},
    netfilter::Rule,
    reset::Resetter,
    shape::Tbf,
};

/// One receiving side of a faulted hop: packets arriving on `ifname` in
/// `netns` (or, with `egress`, leaving on it: a node's way out, where the
/// bridge in the fabric gives netfilter no hook), from `src` when set.
pub struct Hop {
    pub netns: NetnsRef,
    pub ifname: String,
    pub egress: bool,
    /// Only packets from these prefixes (a path's sending node).
    pub src: Vec<(Ipv4Addr, u8)>,
    /// Only one service's packets (a service's traffic to one backend).
    pub port: Option<PortFilter>,
}

/// Where a fault's probe runs: from `netns` to `to`, as `kind`; `name` is
/// the pair as the report shows it (`node0 → web-1`).
pub struct ProbeAt {
    pub netns: NetnsRef,
    pub to: Ipv4Addr,
    pub kind: ProbeKind,
    pub name: String,
}

/// Where one fault acts, resolved from its target when it starts.
#[derive(Default)]
pub struct Placement {
    /// The target as the report names it (`web-1, web-2`, `node 1`, `path 0 → 1`).
    pub what: String,
    /// Receiving sides: loss, blackhole and delay.
    pub hops: Vec<Hop>,
    /// Interfaces whose egress a rate limit shapes.
    pub shapers: Vec<(NetnsRef, String)>,
    /// Pods whose connections a reset acts on.
    pub pods: Vec<NetnsRef>,
    /// With a service target: a reset acts on that service's connections
    /// only (the filter's `Dst` side: the backend's port, not the node's).
    pub pod_port: Option<PortFilter>,
    /// Where the probe runs.
    pub probe: Option<ProbeAt>,
}

/// A fault kind with its values, as the kernel pieces take them.
#[derive(Clone, Debug)]
pub enum Kind {
    /// Loss by the fault program's config (model and probabilities).
    Loss(FaultConfig),
    Blackhole,
    Delay(DelayModel),
    Bandwidth {
        rate_bps: u64,
        burst: u64,
    },
    Reset {
        established: bool,
        every: Option<Duration>,
        /// The fault's duration (no pass at or after its end).
        lasts: Option<Duration>,
        /// Probability of refusing a new connection, 0..=1.
        new_p: Option<f64>,
    },
}

/// What a fault did, when it ends.
#[derive(Clone, Debug, Default)]
pub struct FaultResult {
    pub ping: PingStats,
    /// The probe pair (`node0 → web-1`).
    pub probe: String,
    /// Loss and blackhole: packets the program matched and dropped.
    pub matched: u64,
    pub dropped: u64,
    pub delay: Option<DelayStats>,
    /// Reset: connections destroyed.
    pub resets: u64,
    /// What went wrong while it ran (a delay line that stopped early, a
    /// reset pass that failed): the fault still ended cleanly.
    pub problems: Vec<String>,
}

/// NFQUEUE numbers, unique within the process (a netns may hold several
/// faults' queues).
static NEXT_QUEUE: AtomicU16 = AtomicU16::new(100);

/// A fault in force. Field order is drop order: rules first (no new
/// packets reach a queue), then the delay lines (release what they hold),
/// then programs, qdiscs, the resetter and the pinger.
pub struct ActiveFault {
    rules: Vec<Rule>,
    delays: Vec<DelayLine>,
    programs: Vec<FaultProgram>,
    shapers: Vec<Tbf>,
    resetter: Option<Resetter>,
    pinger: Option<Pinger>,
    probe: String,
    first_resets: u64,
}

impl std::fmt::Debug for ActiveFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveFault")
            .field("rules", &self.rules)
            .field("programs", &self.programs)
            .field("shapers", &self.shapers)
            .finish_non_exhaustive()
    }
}

impl ActiveFault {
    /// Puts `kind` in place at `place`. `comment` (the run's prefix and the
    /// fault's name) labels its iptables rules. On an error, whatever was
    /// set is undone (drop) before it returns.
    pub fn start(
        kind: &Kind,
        place: &Placement,
        comment: &str,
        ident: u16,
    ) -> anyhow::Result<Self> {
        let mut f = ActiveFault {
            rules: Vec::new(),
            delays: Vec::new(),
            programs: Vec::new(),
            shapers: Vec::new(),
            resetter: None,
            pinger: None,
            probe: place
                .probe
                .as_ref()
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            first_resets: 0,
        };
        match kind {
            Kind::Loss(cfg) => f.drop_on_hops(*cfg, place)?,
            Kind::Blackhole => f.drop_on_hops(
                FaultConfig {
                    model: svclab_datapath::FAULT_MODEL_ALL,
                    ..Default::default()
                },
                place,
            )?,
            Kind::Delay(model) => {
                for hop in &place.hops {
                    let q = NEXT_QUEUE.fetch_add(1, Ordering::Relaxed);
                    f.delays.push(DelayLine::start(&hop.netns, q, *model)?);
                    let (chain, dir) = if hop.egress {
                        ("POSTROUTING", "-o")
                    } else {
                        ("PREROUTING", "-i")
                    };
                    let mut spec = vec![dir.to_owned(), hop.ifname.clone()];
                    spec.extend(src_args(&hop.src));
                    spec.extend(hop.port.map(PortFilter::args).unwrap_or_default());
                    spec.extend(
                        [
                            "-j",
                            "NFQUEUE",
                            "--queue-num",
                            &q.to_string(),
                            "--queue-bypass",
                        ]
                        .map(str::to_owned),
                    );
                    f.rules
                        .push(Rule::append(&hop.netns, "mangle", chain, &spec, comment)?);
                }
            }
            Kind::Bandwidth { rate_bps, burst } => {
                for (ns, ifname) in &place.shapers {
                    f.shapers.push(Tbf::set(ns, ifname, *rate_bps, *burst)?);
                }
            }
            Kind::Reset {
                established,
                every,
                lasts,
                new_p,
            } => {
                if let Some(p) = new_p {
                    for ns in &place.pods {
                        let mut spec = match place.pod_port {
                            Some(f) => f.args(),
                            None => vec!["-p".to_owned(), "tcp".to_owned()],
                        };
                        spec.extend(
                            [
                                "--syn",
                                "-m",
                                "statistic",
                                "--mode",
                                "random",
                                "--probability",
                                &format!("{p:.6}"),
                                "-j",
                                "REJECT",
                                "--reject-with",
                                "tcp-reset",
                            ]
                            .map(str::to_owned),
                        );
                        f.rules
                            .push(Rule::append(ns, "filter", "INPUT", &spec, comment)?);
                    }
                }
                if *established {
                    let (r, n) = Resetter::start(&place.pods, place.pod_port, *every, *lasts)?;
                    f.resetter = Some(r);
                    f.first_resets = n;
                }
            }
        }
        if let Some(probe) = &place.probe {
            // An echo is late, not lost, within a second plus twice the
            // longest delay it can meet.
            let grace = Duration::from_secs(1)
                + match kind {
                    Kind::Delay(m) => 2 * (m.delay + 4 * m.jitter),
                    _ => Duration::ZERO,
                };
            f.pinger = Some(Pinger::start(
                &probe.netns,
                probe.to,
                probe.kind,
                ident,
                grace,
            )?);
        }
        Ok(f)
    }

    /// One fault program instance per hop, attached first on the hop's
    /// ingress. The hop's `src` is the program's source filter (`base`'s
    /// own is replaced: a fault's filters are where it acts).
    fn drop_on_hops(&mut self, base: FaultConfig, place: &Placement) -> anyhow::Result<()> {
        for hop in &place.hops {
            let mut cfg = base;
            for (i, s) in hop.src.iter().take(2).enumerate() {
                cfg.src[i] = prefix(*s);
            }
            cfg.n_src = u32::try_from(hop.src.len().min(2)).unwrap_or(0);
            if let Some(port) = hop.port {
                port.apply(&mut cfg);
            }
            let mut p = FaultProgram::load(cfg).context("loading the fault program")?;
            p.attach(&hop.netns, &hop.ifname)?;
            self.programs.push(p);
        }
        Ok(())
    }

    /// Ends the fault: undoes everything and returns what it did.
    pub fn finish(mut self) -> anyhow::Result<FaultResult> {
        let ping = self.pinger.take().map(Pinger::finish).unwrap_or_default();
        let mut r = FaultResult {
            ping,
            probe: std::mem::take(&mut self.probe),
            resets: self.first_resets,
            ..Default::default()
        };
        for p in &self.programs {
            let (m, d) = p.counters()?;
            r.matched += m;
            r.dropped += d;
        }
        self.rules.clear();
        for line in self.delays.drain(..) {
            let q = line.queue;
            let s = match line.finish() {
                Ok(s) => s,
                Err(e) => {
                    r.problems
                        .push(format!("delay line (queue {q}) stopped early: {e:#}"));
                    continue;
                }
            };
            let d = r.delay.get_or_insert_with(DelayStats::default);
            d.packets += s.packets;
            d.max_held = d.max_held.max(s.max_held);
            d.late_p50_us = d.late_p50_us.max(s.late_p50_us);
            d.late_p99_us = d.late_p99_us.max(s.late_p99_us);
        }
        if let Some(rs) = self.resetter.take() {
            match rs.finish() {
                Ok(n) => r.resets += n,
                Err(e) => r.problems.push(format!("resetter stopped early: {e:#}")),
            }
        }
        Ok(r)
    }
}
