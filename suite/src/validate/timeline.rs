//! The `timeline` section: each entry happens within the run, refers to a
//! deployment, client or node that exists, a kill takes no more pods than
//! the deployment has then, and a spike falls while its client sends.
use std::collections::{HashMap, HashSet};

use super::{checker::Checker, clients::ClientInfo};
use crate::{
    expected::{AT_LEAST_1, POD_INDEX, RATE, REPLICAS, SPIKE_DURATION},
    model::{Action, Dur, LoadMode, TimelineEntry},
};

/// What the timeline checks need from the rest of the suite.
pub(super) struct Known<'a> {
    /// The suite duration, or [`Duration::MAX`](std::time::Duration::MAX)
    /// while it is itself invalid.
    pub(super) duration: Dur,
    pub(super) nodes: Option<u8>,
    pub(super) deployments: &'a HashSet<&'a str>,
    pub(super) services: &'a HashSet<&'a str>,
    /// Each service's selector (deployment), by name.
    pub(super) selectors: &'a HashMap<&'a str, &'a str>,
    /// Each deployment's initial replicas, by name.
    pub(super) replicas: &'a HashMap<&'a str, u32>,
    /// The max_replicas of each autoscaled deployment, by name.
    pub(super) hpa_max: &'a HashMap<&'a str, u32>,
    pub(super) clients: &'a HashSet<&'a str>,
    pub(super) client_info: &'a HashMap<&'a str, ClientInfo>,
    /// Requests per second of every open-loop client together (what a
    /// delay queue must hold per second of delay).
    pub(super) total_rate: u64,
}

pub(super) fn check(c: &mut Checker<'_>, timeline: &[TimelineEntry], k: &Known<'_>) {
    let scales = Scales::new(timeline);
    for (i, e) in timeline.iter().enumerate() {
        entry(c, i, e, k, &scales);
    }
}

/// Each deployment's `scale` entries in the order the runner applies them:
/// by `at`, entries at one instant in listed order (a stable sort).
struct Scales<'a>(HashMap<&'a str, Vec<(Dur, usize, u32)>>);

impl<'a> Scales<'a> {
    fn new(timeline: &'a [TimelineEntry]) -> Self {
        let mut by: HashMap<&str, Vec<(Dur, usize, u32)>> = HashMap::new();
        for (i, e) in timeline.iter().enumerate() {
            if let Action::Scale {
                deployment,
                replicas,
            } = &e.action
            {
                by.entry(deployment).or_default().push((e.at, i, *replicas));
            }
        }
        for v in by.values_mut() {
            v.sort_unstable_by_key(|&(at, i, _)| (at, i));
        }
        Scales(by)
    }

    /// The last scale of `deployment` applied before entry `i` at `at`:
    /// its index and replicas.
    fn before(&self, deployment: &str, at: Dur, i: usize) -> Option<(usize, u32)> {
        let v = self.0.get(deployment)?;
        let n = v.partition_point(|&(a, j, _)| (a, j) < (at, i));
        n.checked_sub(1).map(|k| (v[k].1, v[k].2))
    }
}

fn entry(c: &mut Checker<'_>, i: usize, e: &TimelineEntry, k: &Known<'_>, scales: &Scales<'_>) {
    let Known {
        duration,
        nodes,
        deployments,
        clients,
        ..
    } = *k;
    let p = format!("timeline[{i}]");
    c.expect(
        e.at < duration,
        &format!("{p}.at"),
        &format!("a time before the suite duration {duration}"),
        e.at,
    );
    match &e.action {
        // Faults are checked together (names, windows, overlaps) in
        // `faults.rs`.
        Action::Fault(_) | Action::ClearFault(_) => {}
        Action::Spike {
            client,
            rate,
            duration: length,
        } => spike(c, &p, e.at, client, *rate, *length, k),
        Action::Scale {
            deployment,
            replicas,
        } => {
            c.reference(
                &format!("{p}.scale.deployment"),
                deployment,
                "deployment",
                deployments,
            );
            c.expect(
                *replicas <= crate::expected::MAX_REPLICAS_N,
                &format!("{p}.scale.replicas"),
                REPLICAS,
                replicas,
            );
        }
        Action::Kill { deployment, count } => {
            c.reference(
                &format!("{p}.kill.deployment"),
                deployment,
                "deployment",
                deployments,
            );
            c.expect(*count >= 1, &format!("{p}.kill.count"), AT_LEAST_1, count);
            if *count >= 1 {
                kill_bound(c, &p, e.at, i, deployment, *count, k, scales);
            }
        }
        Action::DeletePod { deployment, index } => {
            c.reference(
                &format!("{p}.delete_pod.deployment"),
                deployment,
                "deployment",
                deployments,
            );
            c.expect(
                *index < 200,
                &format!("{p}.delete_pod.index"),
                POD_INDEX,
                index,
            );
        }
        Action::FlushCt { node } => {
            if let Some(n) = node {
                c.node(&format!("{p}.flush_ct.node"), *n, nodes);
            }
        }
        Action::RestartClient { client, .. } => {
            c.reference(
                &format!("{p}.restart_client.client"),
                client,
                "client",
                clients,
            );
            if k.client_info
                .get(client.as_str())
                .is_some_and(|i| i.external)
            {
                c.fail(
                    &format!("{p}.restart_client.client"),
                    format!("client `{client}` is external: it has no pod to replace"),
                );
            }
        }
        Action::Rollout {
            deployment,
            template,
        } => {
            c.reference(
                &format!("{p}.rollout.deployment"),
                deployment,
                "deployment",
                deployments,
            );
            if let Some(s) = &template.server {
                super::deployments::server(c, &format!("{p}.rollout.template"), s);
            }
            if template.server.is_none() && template.container.is_none() {
                c.fail(
                    &format!("{p}.rollout.template"),
                    "expected a new pod template: `server` or `container` (what the new ReplicaSet's pods change)".to_owned(),
                );
            }
        }
    }
}

/// `{p}.kill.count` at most the pods `deployment` can have when entry `i`
/// runs at `at`: its replicas then (initial, or set by the last `scale`
/// before it), or its autoscaler's max_replicas when that is higher (the
/// HPA may have scaled up to it). Unchecked while a count it depends on is
/// itself out of range (reported by its own rule).
#[expect(
    clippy::too_many_arguments,
    reason = "one rule over one entry's fields"
)]
fn kill_bound(
    c: &mut Checker<'_>,
    p: &str,
    at: Dur,
    i: usize,
    deployment: &str,
    count: u32,
    k: &Known<'_>,
    scales: &Scales<'_>,
) {
    let Some(&initial) = k.replicas.get(deployment) else {
        return;
    };
    let (mut bound, mut from) = match scales.before(deployment, at, i) {
        Some((j, r)) => (r, format!("replicas {r} from the scale at timeline[{j}]")),
        None => (initial, format!("its initial replicas {initial}")),
    };
    if let Some(&max) = k.hpa_max.get(deployment)
        && max > bound
    {
        bound = max;
        from = format!("its autoscaler's max_replicas {max}");
    }
    if bound <= crate::expected::MAX_REPLICAS_N && count > bound {
        c.fail(
            &format!("{p}.kill.count"),
            format!(
                "expected at most {bound} (the pods deployment `{deployment}` can have at {at}: {from}), got {count}"
            ),
        );
    }
}

/// `{p}.spike` at `at`: an open-loop client, a valid rate, a length that
/// ends by the suite's end.
fn spike(
    c: &mut Checker<'_>,
    p: &str,
    at: Dur,
    client: &str,
    rate: u32,
    length: Option<Dur>,
    k: &Known<'_>,
) {
    let duration = k.duration;
    let cp = format!("{p}.spike.client");
    c.reference(&cp, client, "client", k.clients);
    let info = k.client_info.get(client);
    if let Some(ClientInfo {
        mode: LoadMode::Closed,
        ..
    }) = info
    {
        c.fail(
            &cp,
            format!(
                "client `{client}` runs a closed loop (load.mode: closed); a spike sets an arrival rate, so it needs a client with load.mode: open"
            ),
        );
    }
    c.expect(
        (1..=50_000).contains(&rate),
        &format!("{p}.spike.rate"),
        RATE,
        rate,
    );
    let lp = format!("{p}.spike.duration");
    let fits = length.is_none_or(|l| !l.0.is_zero() && at.0 + l.0 <= duration.0);
    if let Some(l) = length {
        c.expect(
            fits,
            &lp,
            &format!("{SPIKE_DURATION} (at {at} + duration <= {duration})"),
            l,
        );
    }
    // The spike changes the client's rate, so it must happen while
    // the client sends: a spike outside that window does nothing.
    if let Some(&ClientInfo {
        window: Some(window),
        ..
    }) = info
        && at < duration
    {
        while_sending(c, p, at, client, length.filter(|_| fits), window);
    }
}

/// A spike at `at` (of `length`, when that fits the run) inside `window`,
/// the [start, end) in which `client` sends.
fn while_sending(
    c: &mut Checker<'_>,
    p: &str,
    at: Dur,
    client: &str,
    length: Option<Dur>,
    (start, end): (Dur, Dur),
) {
    if at < start || at >= end {
        c.fail(
            &format!("{p}.at"),
            format!(
                "expected a time while client `{client}` sends ([{start}, {end}): its start to start + duration), got {at}"
            ),
        );
    } else if let Some(l) = length
        && at.0 + l.0 > end.0
    {
        c.fail(
            &format!("{p}.spike.duration"),
            format!(
                "expected a spike that ends by the time client `{client}` stops ({end}): a duration of at most {}, got {l}",
                Dur(end.0 - at.0)
            ),
        );
    }
}
