//! Network faults on the cluster: where a suite's `fault` acts (its
//! target resolved against the pods and nodes there are when it starts,
//! `chaos::Placement`), starting and clearing it, ending it when its
//! duration is up, and what the record keeps of it. The kernel pieces
//! are `chaos`'s.
use std::{net::Ipv4Addr, time::Duration};

use anyhow::{Context as _, bail};
use svclab_datapath::{FAULT_MODEL_GE, FAULT_MODEL_RANDOM, FaultConfig, NetnsRef, probability};
use svclab_report::record::FaultRecord;
use svclab_suite::model::{
    Fault, JitterDistribution, netem_correlated_loss, parse_rate, parse_size,
};
use svclab_topology::{FABRIC_IFNAME, POD_IFNAME, fabric_address, probe_address};

use super::{Cluster, inflight::RunningFault};
use crate::chaos::{
    ActiveFault, Hop, Kind, Placement, PortFilter, PortSide, ProbeAt, delay::DelayModel,
    measure::ProbeKind, shape::default_burst,
};

/// The kernel pieces' view of a suite fault's kind, and its words.
fn kind(f: &Fault) -> anyhow::Result<(Kind, &'static str, String)> {
    if let Some(l) = &f.loss {
        if let Some(b) = &l.burst {
            let cfg = FaultConfig {
                model: FAULT_MODEL_GE,
                loss: probability(b.loss_outside() / 100.0),
                ge_p: probability(b.enter / 100.0),
                ge_r: probability(b.leave() / 100.0),
                // netem's `h` is the chance of passing in the bad state.
                ge_h: probability(1.0 - b.loss_in_burst() / 100.0),
                ..Default::default()
            };
            let words = format!(
                "bursts (Gilbert–Elliott): enter {}%, leave {}%, {}% lost in a burst, {}% outside; mean {:.2}%",
                b.enter,
                b.leave(),
                b.loss_in_burst(),
                b.loss_outside(),
                b.mean_loss()
            );
            return Ok((Kind::Loss(cfg), "loss", words));
        }
        let p = l.percent.unwrap_or(0.0);
        let c = l.correlation.unwrap_or(0.0);
        let cfg = FaultConfig {
            model: FAULT_MODEL_RANDOM,
            loss: probability(p / 100.0),
            corr: probability(c / 100.0),
            ..Default::default()
        };
        let words = if c > 0.0 {
            format!(
                "{p}% random, {c}% correlated (as netem: {:.2}% in effect)",
                netem_correlated_loss(p, c)
            )
        } else {
            format!("{p}% random")
        };
        return Ok((Kind::Loss(cfg), "loss", words));
    }
    if let Some(d) = &f.delay {
        let jitter = d.jitter.map_or(Duration::ZERO, |j| j.0);
        let limit = d.limit.unwrap_or(svclab_suite::DEFAULT_DELAY_LIMIT);
        let normal = d.distribution == JitterDistribution::Normal;
        let model = DelayModel {
            delay: d.time.0,
            jitter,
            normal,
            reorder: d.reorder,
            limit,
        };
        let mut words = format!("{}", d.time);
        if !jitter.is_zero() {
            words += &format!(
                " ± {} {}",
                d.jitter.map(|j| j.to_string()).unwrap_or_default(),
                if normal { "normal (σ)" } else { "uniform" }
            );
        }
        words += if d.reorder {
            ", reordering allowed"
        } else {
            ", in order"
        };
        words += &format!(", queue {limit}");
        return Ok((Kind::Delay(model), "delay", words));
    }
    if let Some(b) = &f.bandwidth {
        let rate_bps = parse_rate(&b.rate).map_err(anyhow::Error::msg)?;
        let burst = match &b.burst {
            Some(s) => parse_size(s).map_err(anyhow::Error::msg)?,
            None => default_burst(rate_bps),
        };
        let words = format!("{}, burst {} B", b.rate, burst);
        return Ok((Kind::Bandwidth { rate_bps, burst }, "bandwidth", words));
    }
    if let Some(r) = &f.reset {
        let mut words = Vec::new();
        if r.established {
            words.push(match r.every {
                Some(e) => format!("established connections reset now and every {e}"),
                None => "established connections reset once".to_owned(),
            });
        }
        if let Some(p) = r.new_percent {
            words.push(format!("{p}% of new connections refused with a RST"));
        }
        let k = Kind::Reset {
            established: r.established,
            every: r.every.map(|e| e.0),
            lasts: f.duration.map(|d| d.0),
            new_p: r.new_percent.map(|p| p / 100.0),
        };
        return Ok((k, "reset", words.join("; ")));
    }
    if f.blackhole {
        return Ok((
            Kind::Blackhole,
            "blackhole",
            "every packet dropped".to_owned(),
        ));
    }
    bail!("fault `{}` sets no kind", f.name)
}

/// The round-trip loss a probe across both set directions should see, in
/// percent.
fn expected_loss(k: &Kind, f: &Fault) -> Option<f64> {
    let one_way = match (k, &f.loss) {
        (Kind::Blackhole, _) => 1.0,
        (Kind::Loss(_), Some(l)) => match &l.burst {
            Some(b) => b.mean_loss() / 100.0,
            None => {
                netem_correlated_loss(l.percent.unwrap_or(0.0), l.correlation.unwrap_or(0.0))
                    / 100.0
            }
        },
        _ => return None,
    };
    let ways = i32::from(f.direction.to()) + i32::from(f.direction.from());
    Some(100.0 * (1.0 - (1.0 - one_way).powi(ways)))
}

impl Cluster {
    /// Starts `f` at run time `t` (its entry is due at `at`); returns the
    /// event's words.
    pub fn start_fault(
        &mut self,
        f: &Fault,
        t: f64,
        at: Duration,
        prefix: &str,
    ) -> anyhow::Result<String> {
        if self.faults.contains_key(&f.name) {
            bail!("fault `{}` is already active", f.name);
        }
        let (k, kind_name, set) = kind(f)?;
        let delay = matches!(k, Kind::Delay(_));
        let place = self
            .place(f, delay)
            .with_context(|| format!("placing fault `{}`", f.name))?;
        let ident = u16::try_from(self.faults.len() + self.fault_records.len())
            .unwrap_or(0)
            .wrapping_add(0x5100);
        let comment = format!("{prefix}fault-{}", f.name);
        let active = ActiveFault::start(&k, &place, &comment, ident)
            .with_context(|| format!("starting fault `{}` on {}", f.name, place.what))?;
        let dir = format!("{:?}", f.direction).to_lowercase();
        let words = format!(
            "fault {}: {kind_name} {set} on {} ({dir})",
            f.name, place.what
        );
        let record = FaultRecord {
            name: f.name.clone(),
            kind: kind_name.to_owned(),
            target: place.what.clone(),
            direction: dir,
            set,
            start_s: t,
            end_s: t,
            expected_loss_pct: expected_loss(&k, f),
            ..Default::default()
        };
        // From the time the entry was due, not the few ms later it ran: a
        // fault that follows it back to back on the same target starts
        // only after this one's pieces are gone.
        let ends = f.duration.map(|d| at + d.0);
        self.faults.insert(
            f.name.clone(),
            RunningFault {
                active,
                ends,
                record,
            },
        );
        Ok(words)
    }

    /// Ends fault `name` at `t`; returns the event's words.
    pub fn clear_fault(&mut self, name: &str, t: f64) -> anyhow::Result<String> {
        let running = self
            .faults
            .remove(name)
            .with_context(|| format!("no active fault `{name}`"))?;
        let rec = finish(running, t)?;
        let words = clear_words(&rec);
        self.fault_records.push(rec);
        Ok(words)
    }

    /// Ends the faults whose duration is up at `now` (events for each).
    pub fn faults_tick(&mut self, now: Duration) -> anyhow::Result<()> {
        let due: Vec<String> = self
            .faults
            .iter()
            .filter(|(_, f)| f.ends.is_some_and(|e| e <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            let t = self.faults[&name].ends.map_or(now, |e| e).as_secs_f64();
            let words = self.clear_fault(&name, t)?;
            // Its band on the charts shows the end: no marker.
            self.event(t, "fault_end", words, false);
        }
        Ok(())
    }

    /// Ends every fault still in force (the run's end, or teardown).
    pub fn end_faults(&mut self, t: f64) {
        let names: Vec<String> = self.faults.keys().cloned().collect();
        for name in names {
            match self.clear_fault(&name, t) {
                Ok(words) => self.event(t, "fault_end", words, false),
                Err(e) => tracing::error!("ending fault {name}: {e:#}"),
            }
        }
    }

    /// What the record keeps of every fault that ran.
    pub fn fault_records(&self) -> Vec<FaultRecord> {
        let mut v = self.fault_records.clone();
        v.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        v
    }

    /// Where `f` acts now. `delay` places a node's outgoing side on the
    /// node's own `fab0` (netfilter has no hook on the fabric's bridge
    /// ports); loss and blackhole use the bridge port's tc ingress, the
    /// receiving side.
    fn place(&self, f: &Fault, delay: bool) -> anyhow::Result<Placement> {
        let t = &f.target;
        let topo = self.topo.as_ref().context("topology already torn down")?;
        let mut p = Placement::default();
        let node_ns = |n: u8| -> anyhow::Result<NetnsRef> {
            Ok(self
                .nodes
                .get(usize::from(n))
                .with_context(|| format!("no node {n}"))?
                .netns
                .try_clone()?)
        };
        let hop = |netns: NetnsRef, ifname: &str, egress: bool, src: Vec<(Ipv4Addr, u8)>| Hop {
            netns,
            ifname: ifname.to_owned(),
            egress,
            src,
            port: None,
        };
        let probe = |netns: NetnsRef, to: Ipv4Addr, name: String| ProbeAt {
            netns,
            to,
            kind: ProbeKind::Icmp,
            name,
        };
        if t.pod.is_some() || t.deployment.is_some() {
            let mut names: Vec<&str> = match (&t.pod, &t.deployment) {
                (Some(pod), _) => {
                    if !self.pods.contains_key(pod) {
                        let dep = pod.rsplit_once('-').map_or("", |d| d.0);
                        let there: Vec<&str> = self
                            .pods
                            .values()
                            .filter(|p| p.deployment == dep)
                            .map(|p| p.name.as_str())
                            .collect();
                        bail!(
                            "no pod `{pod}` at this time (pods of `{dep}` now: {})",
                            if there.is_empty() {
                                "none".to_owned()
                            } else {
                                there.join(", ")
                            }
                        );
                    }
                    vec![pod.as_str()]
                }
                (None, Some(d)) => {
                    // Oldest first: pod ordinals grow with creation.
                    let mut v: Vec<(u32, &str)> = self
                        .pods
                        .values()
                        .filter(|p| &p.deployment == d && p.active())
                        .map(|p| {
                            let ord = p
                                .name
                                .rsplit_once('-')
                                .and_then(|(_, n)| n.parse().ok())
                                .unwrap_or(u32::MAX);
                            (ord, p.name.as_str())
                        })
                        .collect();
                    v.sort_unstable();
                    let n = t.pods.map_or(v.len(), |n| n as usize);
                    v.into_iter().take(n).map(|(_, name)| name).collect()
                }
                (None, None) => Vec::new(),
            };
            if names.is_empty() {
                bail!("the target has no running pods at this time");
            }
            // By ordinal (web-2 before web-10), as the run names them.
            names.sort_by_key(|n| {
                n.rsplit_once('-')
                    .and_then(|(_, o)| o.parse::<u32>().ok())
                    .unwrap_or(u32::MAX)
            });
            p.what = names.join(", ");
            // A service's traffic to the backend: its target port, the
            // node's own address (the kubelet's probes) spared.
            let service = match &t.service {
                Some(name) => {
                    let s = self
                        .services
                        .iter()
                        .find(|s| &s.name == name)
                        .with_context(|| format!("no service `{name}`"))?;
                    p.what = format!("{} (service {name}, port {})", p.what, s.target_port);
                    Some(s.target_port)
                }
                None => None,
            };
            for name in &names {
                let pod = &self.pods[*name];
                let pod_ns = NetnsRef::open(&pod.kubelet.spec.netns_path)?;
                let gateway = topo.plan().gateway(pod.node);
                let filter = |side| {
                    service.map(|port| PortFilter {
                        port,
                        side,
                        spare: gateway,
                    })
                };
                if f.direction.to() {
                    let mut h = hop(pod_ns.try_clone()?, POD_IFNAME, false, Vec::new());
                    h.port = filter(PortSide::Dst);
                    p.hops.push(h);
                    p.shapers.push((node_ns(pod.node)?, pod.lxc.clone()));
                }
                if f.direction.from() {
                    let mut h = hop(node_ns(pod.node)?, &pod.lxc, false, Vec::new());
                    h.port = filter(PortSide::Src);
                    p.hops.push(h);
                    p.shapers.push((pod_ns.try_clone()?, POD_IFNAME.to_owned()));
                }
                p.pod_port = filter(PortSide::Dst);
                p.pods.push(pod_ns);
            }
            let first = &self.pods[names[0]];
            let mut at = probe(
                node_ns(first.node)?,
                first.ip,
                format!("node{} → {}", first.node, first.name),
            );
            if let Some(port) = service {
                // From the node's measuring address: the gateway's
                // packets are spared.
                at.kind = ProbeKind::TcpSyn {
                    port,
                    from: probe_address(first.node),
                };
                at.name = format!("node{} → {}:{port} (TCP SYN)", first.node, first.name);
            }
            p.probe = Some(at);
            return Ok(p);
        }
        let fabric = || -> anyhow::Result<NetnsRef> {
            let name = topo
                .fabric_netns()
                .context("a node or path fault needs the fabric (2+ nodes)")?;
            Ok(NetnsRef::named(name)?)
        };
        if let Some(n) = t.node {
            p.what = format!("node {n}");
            if f.direction.to() {
                p.hops
                    .push(hop(node_ns(n)?, FABRIC_IFNAME, false, Vec::new()));
                p.shapers.push((fabric()?, format!("node{n}")));
            }
            if f.direction.from() {
                p.hops.push(if delay {
                    hop(node_ns(n)?, FABRIC_IFNAME, true, Vec::new())
                } else {
                    hop(fabric()?, &format!("node{n}"), false, Vec::new())
                });
                p.shapers.push((node_ns(n)?, FABRIC_IFNAME.to_owned()));
            }
            let other = if n == 0 { 1 } else { 0 };
            p.probe = Some(probe(
                node_ns(n)?,
                fabric_address(other),
                format!("node{n} → node{other}"),
            ));
            return Ok(p);
        }
        if let Some([a, b]) = t.path {
            let plan = topo.plan();
            // A node's traffic: its pods' addresses and its own fabric one.
            let from = |n: u8| {
                vec![
                    (plan.pod_cidr(n), plan.prefix_len()),
                    (fabric_address(n), 32),
                ]
            };
            if f.direction.to() {
                p.hops.push(hop(node_ns(b)?, FABRIC_IFNAME, false, from(a)));
            }
            if f.direction.from() {
                p.hops.push(hop(node_ns(a)?, FABRIC_IFNAME, false, from(b)));
            }
            p.what = match (f.direction.to(), f.direction.from()) {
                (true, false) => format!("path {a} → {b}"),
                (false, true) => format!("path {b} → {a}"),
                _ => format!("path {a} ↔ {b}"),
            };
            p.probe = Some(probe(
                node_ns(a)?,
                fabric_address(b),
                format!("node{a} → node{b}"),
            ));
            return Ok(p);
        }
        bail!("fault `{}` has no target", f.name)
    }
}

/// Finishes a running fault at `t`: its record with what it measured.
fn finish(running: RunningFault, t: f64) -> anyhow::Result<FaultRecord> {
    let RunningFault {
        active, mut record, ..
    } = running;
    let r = active.finish()?;
    record.end_s = t;
    record.probe = r.probe;
    record.probe_sent = r.ping.sent;
    record.probe_received = r.ping.received;
    record.measured_loss_pct = r.ping.loss_pct();
    record.rtt_p50_ms = r.ping.rtt_p50_us as f64 / 1000.0;
    record.rtt_p99_ms = r.ping.rtt_p99_us as f64 / 1000.0;
    record.matched = r.matched;
    record.dropped = r.dropped;
    if let Some(d) = r.delay {
        record.delayed = d.packets;
        record.delay_late_p99_us = d.late_p99_us;
    }
    record.resets = r.resets;
    record.problems = r.problems;
    Ok(record)
}

/// The event's words when a fault ends: what the probe measured.
fn clear_words(r: &FaultRecord) -> String {
    let mut w = format!("fault {} ended after {:.1} s", r.name, r.end_s - r.start_s);
    if r.probe_sent > 0 {
        w += &format!(
            "; probe {}: {:.1}% lost of {}, RTT p50 {:.2} ms p99 {:.2} ms",
            r.probe, r.measured_loss_pct, r.probe_sent, r.rtt_p50_ms, r.rtt_p99_ms
        );
    }
    if r.resets > 0 {
        w += &format!("; {} connections reset", r.resets);
    }
    for p in &r.problems {
        w += &format!("; {p}");
    }
    w
}
