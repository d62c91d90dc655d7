//! `fault` and `clear_fault` timeline entries: a name unique among the
//! faults, exactly one kind with its values in range, a target that exists
//! (nodes and paths need a fabric: 2+ nodes), a kind the target supports,
//! a window inside the run, no two faults of one kind on one target at
//! once, a delay queue that can hold what the suite sends, and each
//! `clear_fault` naming a fault that is active then.
use std::collections::HashMap;

use super::{checker::Checker, timeline::Known};
use crate::model::{Action, Dur, Fault, TimelineEntry, parse_rate, parse_size};

/// Packets one request puts on a hop, both ways, with a connection per
/// request (SYN, SYN-ACK, ACK, request, response, FIN/ACK pairs): what a
/// delay queue must hold per request in flight through it.
pub(crate) const PACKETS_PER_REQUEST: u64 = 10;

/// One fault's window as the runner plays it: [at, end).
struct Window<'a> {
    index: usize,
    fault: &'a Fault,
    at: Dur,
    end: Dur,
}

pub(super) fn check(c: &mut Checker<'_>, timeline: &[TimelineEntry], k: &Known<'_>) {
    // The runner plays entries by `at`, ties in listed order.
    let mut order: Vec<usize> = (0..timeline.len()).collect();
    order.sort_by_key(|&i| (timeline[i].at, i));
    let mut windows: Vec<Window<'_>> = Vec::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for &i in &order {
        let e = &timeline[i];
        let p = format!("timeline[{i}]");
        match &e.action {
            Action::Fault(f) => {
                let fp = format!("{p}.fault");
                one(c, &fp, f, k, e.at);
                if let Some(&j) = names.get(f.name.as_str()) {
                    c.fail(
                        &format!("{fp}.name"),
                        format!(
                            "duplicate fault name `{}` (first used at timeline[{j}])",
                            f.name
                        ),
                    );
                } else {
                    names.insert(&f.name, i);
                }
                let end = f
                    .duration
                    .map_or(k.duration, |d| Dur(e.at.0.saturating_add(d.0)));
                windows.push(Window {
                    index: i,
                    fault: f,
                    at: e.at,
                    end,
                });
            }
            Action::ClearFault(name) => {
                let cp = format!("{p}.clear_fault");
                match windows.iter_mut().find(|w| &w.fault.name == name) {
                    None => c.fail(
                        &cp,
                        format!(
                            "unknown fault `{name}`: a clear_fault names a fault started earlier in the timeline"
                        ),
                    ),
                    Some(w) if e.at >= w.end || e.at < w.at => c.fail(
                        &format!("{p}.at"),
                        format!(
                            "expected a time while fault `{name}` is active ([{}, {}) from timeline[{}]), got {}",
                            w.at, w.end, w.index, e.at
                        ),
                    ),
                    Some(w) => w.end = e.at,
                }
            }
            _ => {}
        }
    }
    overlaps(c, &windows);
}

/// Two faults of one kind on one target at once: the second is an error.
fn overlaps(c: &mut Checker<'_>, windows: &[Window<'_>]) {
    for (n, b) in windows.iter().enumerate() {
        for a in &windows[..n] {
            let same_kind = a.fault.kinds().iter().any(|k| b.fault.kinds().contains(k));
            // A delay or a rate limit holds its hop alone (the first
            // NFQUEUE rule's verdict passes the packet on; one root qdisc
            // per interface): pods of one deployment, or a node and a path
            // through it, may share one.
            let exclusive = ["delay", "bandwidth"]
                .iter()
                .any(|k| a.fault.kinds().contains(k));
            let target_met = a.fault.target == b.fault.target
                || exclusive && may_share(&a.fault.target, &b.fault.target);
            let both_ways = a.fault.direction.to() && b.fault.direction.to()
                || a.fault.direction.from() && b.fault.direction.from();
            if target_met && same_kind && both_ways && b.at < a.end {
                c.fail(
                    &format!("timeline[{}].fault", b.index),
                    format!(
                        "fault `{}` overlaps fault `{}` (timeline[{}], active [{}, {})) of the same kind on the same target; one kind on one target at a time: end the first (duration or clear_fault) or merge them",
                        b.fault.name, a.fault.name, a.index, a.at, a.end
                    ),
                );
                break;
            }
        }
    }
}

/// Whether two targets may resolve to a shared pod or node.
fn may_share(a: &crate::model::FaultTarget, b: &crate::model::FaultTarget) -> bool {
    let dep = |t: &crate::model::FaultTarget| {
        t.deployment.clone().or_else(|| {
            t.pod
                .as_ref()
                .and_then(|p| p.rsplit_once('-'))
                .map(|d| d.0.to_owned())
        })
    };
    let nodes = |t: &crate::model::FaultTarget| -> Vec<u8> {
        t.node
            .into_iter()
            .chain(t.path.into_iter().flatten())
            .collect()
    };
    match (dep(a), dep(b)) {
        (Some(x), Some(y)) => x == y,
        _ => nodes(a).iter().any(|n| nodes(b).contains(n)),
    }
}

fn percent(c: &mut Checker<'_>, path: &str, v: f64) {
    c.expect((0.0..=100.0).contains(&v), path, "a percentage 0..=100", v);
}

/// One fault's own rules.
fn one(c: &mut Checker<'_>, p: &str, f: &Fault, k: &Known<'_>, at: Dur) {
    let name_ok = (1..=32).contains(&f.name.len())
        && f.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    c.expect(
        name_ok,
        &format!("{p}.name"),
        "1..=32 letters, digits, '-' or '_'",
        format!("{:?}", f.name),
    );
    let kinds = f.kinds();
    if kinds.len() != 1 {
        c.fail(
            p,
            format!(
                "expected exactly one fault kind (loss, delay, bandwidth, reset or blackhole: true), got {}",
                if kinds.is_empty() {
                    "none".to_owned()
                } else {
                    kinds.join(", ")
                }
            ),
        );
    }
    let node_like = target(c, p, f, k);
    if let Some(d) = f.duration {
        c.expect(
            !d.0.is_zero() && at.0 + d.0 <= k.duration.0,
            &format!("{p}.duration"),
            &format!(
                "a duration above 0s that ends by the suite's end (at {at} + duration <= {})",
                k.duration
            ),
            d,
        );
    }
    if let Some(l) = &f.loss {
        let lp = format!("{p}.loss");
        match (&l.percent, &l.burst) {
            (Some(v), None) => percent(c, &format!("{lp}.percent"), *v),
            (None, Some(b)) => {
                let bp = format!("{lp}.burst");
                percent(c, &format!("{bp}.enter"), b.enter);
                for (key, v) in [
                    ("leave", b.leave),
                    ("loss_in_burst", b.loss_in_burst),
                    ("loss_outside", b.loss_outside),
                ] {
                    if let Some(v) = v {
                        percent(c, &format!("{bp}.{key}"), v);
                    }
                }
                if l.correlation.is_some() {
                    c.fail(
                        &format!("{lp}.correlation"),
                        "correlation goes with `percent` (netem's `loss random P C`); the burst model has its own memory".to_owned(),
                    );
                }
            }
            _ => c.fail(
                &lp,
                "expected exactly one of `percent` (random loss) and `burst` (Gilbert–Elliott)"
                    .to_owned(),
            ),
        }
        if let Some(v) = l.correlation {
            percent(c, &format!("{lp}.correlation"), v);
        }
    }
    if let Some(d) = &f.delay {
        let dp = format!("{p}.delay");
        c.expect(
            d.time.0.as_millis() >= 1 && d.time.0.as_secs() <= 10,
            &format!("{dp}.time"),
            "a delay from 1ms to 10s",
            d.time,
        );
        if let Some(j) = d.jitter {
            c.expect(
                j.0.as_secs() <= 10,
                &format!("{dp}.jitter"),
                "a jitter up to 10s",
                j,
            );
        }
        let limit = d.limit.unwrap_or(DEFAULT_DELAY_LIMIT);
        c.expect(
            (1..=65_536).contains(&limit),
            &format!("{dp}.limit"),
            "a queue bound of 1..=65536 packets",
            limit,
        );
        // What the queue must hold: the packets the suite sends through
        // the hop during one delay (both ways, every request).
        let held = d.time.0.as_secs_f64() + d.jitter.map_or(0.0, |j| j.0.as_secs_f64());
        let need = (k.total_rate as f64 * PACKETS_PER_REQUEST as f64 * held).ceil() as u64;
        if (1..=65_536).contains(&limit) && need > u64::from(limit) {
            c.fail(
                &format!("{dp}.limit"),
                format!(
                    "the delay queue holds {limit} packets, but the suite's {} req/s × ~{PACKETS_PER_REQUEST} packets a request × {held:.3} s of delay put ~{need} in it at once: raise `limit` to at least {need} (at most 65536) or lower the rate or the delay",
                    k.total_rate
                ),
            );
        }
    }
    if let Some(b) = &f.bandwidth {
        let bp = format!("{p}.bandwidth");
        if let Err(m) = parse_rate(&b.rate) {
            c.fail(&format!("{bp}.rate"), format!("expected a rate: {m}"));
        }
        if let Some(s) = &b.burst
            && let Err(m) = parse_size(s)
        {
            c.fail(&format!("{bp}.burst"), format!("expected a size: {m}"));
        }
        if f.target.service.is_some() {
            c.fail(
                &format!("{p}.target.service"),
                "bandwidth limits a link (a qdisc on one interface), not one service's share of it: target the pod".to_owned(),
            );
        }
        if f.target.path.is_some() {
            c.fail(
                &format!("{p}.target.path"),
                "bandwidth limits a pod's or a node's link (a qdisc on one interface); a path between two nodes shares the node's link: target the node".to_owned(),
            );
        }
    }
    if let Some(r) = &f.reset {
        let rp = format!("{p}.reset");
        if node_like {
            c.fail(
                &format!("{p}.target"),
                "reset acts on a pod's connections: target a pod or a deployment".to_owned(),
            );
        }
        if !r.established && r.new_percent.is_none() {
            c.fail(
                &rp,
                "expected `established: true`, `new_percent`, or both".to_owned(),
            );
        }
        if let Some(e) = r.every {
            c.expect(
                r.established && e.0.as_millis() >= 100,
                &format!("{rp}.every"),
                "100ms or more, with `established: true`",
                e,
            );
            let lasts = f.duration.unwrap_or(Dur(k.duration.0.saturating_sub(at.0)));
            if e.0 >= lasts.0 {
                c.fail(
                    &format!("{rp}.every"),
                    format!(
                        "expected a period shorter than the fault ({lasts}): a pass every {e} never comes round again"
                    ),
                );
            }
        }
        if let Some(v) = r.new_percent {
            percent(c, &format!("{rp}.new_percent"), v);
        }
    }
}

/// Packets a delay queue holds by default.
pub const DEFAULT_DELAY_LIMIT: u32 = 10_000;

/// The target's own rules; whether it is a node or a path.
fn target(c: &mut Checker<'_>, p: &str, f: &Fault, k: &Known<'_>) -> bool {
    let t = &f.target;
    let tp = format!("{p}.target");
    let set = [
        t.pod.is_some(),
        t.deployment.is_some(),
        t.node.is_some(),
        t.path.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        c.fail(
            &tp,
            "expected exactly one of `pod` (with optional `service`), `deployment` (with optional `pods`), `node`, `path`"
                .to_owned(),
        );
    }
    if let Some(pod) = &t.pod {
        // `<deployment>-<n>`, n as the run writes it (no leading zeros).
        let dep = pod.rsplit_once('-').and_then(|(d, n)| {
            let v = n.parse::<u32>().ok()?;
            (v.to_string() == n).then_some(d)
        });
        match dep {
            Some(d) => c.reference(&format!("{tp}.pod"), d, "deployment", k.deployments),
            None => c.fail(
                &format!("{tp}.pod"),
                format!(
                    "expected a pod name `<deployment>-<n>` (as the run names pods), got {pod:?}"
                ),
            ),
        }
    }
    if let Some(svc) = &t.service {
        let sp = format!("{tp}.service");
        c.reference(&sp, svc, "service", k.services);
        match (&t.pod, k.selectors.get(svc.as_str())) {
            (None, _) => c.fail(
                &sp,
                "expected `pod` with `service`: the fault acts on the service's traffic to that one backend".to_owned(),
            ),
            (Some(pod), Some(sel)) => {
                let dep = pod.rsplit_once('-').map_or("", |d| d.0);
                if dep != *sel {
                    c.fail(
                        &format!("{tp}.pod"),
                        format!(
                            "expected a backend of service `{svc}` (a pod of deployment `{sel}`), got `{pod}`"
                        ),
                    );
                }
            }
            (Some(_), None) => {}
        }
    }
    if let Some(d) = &t.deployment {
        c.reference(&format!("{tp}.deployment"), d, "deployment", k.deployments);
    }
    if let Some(n) = t.pods {
        c.expect(
            t.deployment.is_some() && n >= 1,
            &format!("{tp}.pods"),
            "a count of 1 or more, with `deployment`",
            n,
        );
    }
    let fabric = |c: &mut Checker<'_>, path: &str| {
        if let Some(n) = k.nodes
            && n < 2
        {
            c.fail(
                path,
                format!(
                    "a node or path fault acts on the fabric between nodes; cluster.nodes is {n}: set it to 2 or more"
                ),
            );
        }
    };
    if let Some(n) = t.node {
        fabric(c, &format!("{tp}.node"));
        c.node(&format!("{tp}.node"), n, k.nodes);
    }
    if let Some([a, b]) = t.path {
        let pp = format!("{tp}.path");
        fabric(c, &pp);
        c.node(&pp, a, k.nodes);
        c.node(&pp, b, k.nodes);
        if a == b {
            c.fail(&pp, format!("expected two different nodes, got [{a}, {b}]"));
        }
    }
    t.node.is_some() || t.path.is_some()
}
