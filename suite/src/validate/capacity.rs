//! Pods per node at peak must fit the node's pod CIDR: a rule across
//! `deployments`, `timeline`, `autoscalers` and `clients`. The harness
//! sizes every node's pod CIDR from the same count ([`pods_per_node`]).
//!
//! A deployment counts with its highest replica count over the run
//! (initial, any `scale`, or its autoscaler's max_replicas), spread round
//! robin over its nodes starting at the first listed; each client is one
//! more pod on its node.
use std::collections::HashMap;

use super::checker::Checker;
use crate::model::{Action, Deployment, Suite};

/// Addresses kept free on each node beyond the peak (a replacement pod is
/// created before its victim's address is reused).
pub const POD_HEADROOM: u32 = 3;

/// The most pod addresses a node can have with `nodes` nodes: pod CIDRs
/// are equal blocks of 198.18.0.0/16, at least a /24 each, less network,
/// gateway and broadcast. The arithmetic of `svclab_topology::AddrPlan`
/// (the harness's tests check that the two agree).
pub fn max_pods_per_node(nodes: u8) -> u32 {
    let nodes = u32::from(nodes.max(1));
    let host_bits = (8..=16u32)
        .rev()
        .find(|b| nodes << b <= 1 << 16)
        .unwrap_or(8);
    (1 << host_bits) - 3
}

/// The most pods a node may hold in a suite with `nodes` nodes.
fn limit(nodes: u8) -> u32 {
    max_pods_per_node(nodes) - POD_HEADROOM
}

/// Each node's pods at peak (the count the rule checks), for a suite that
/// passed validation.
pub fn pods_per_node(suite: &Suite) -> Vec<u32> {
    let nodes = suite.cluster.nodes;
    let mut per_node = vec![0u32; usize::from(nodes)];
    let peaks = peaks(suite);
    for d in &suite.deployments {
        add_deployment(&mut per_node, d, &peaks, nodes);
    }
    for cl in &suite.clients {
        if let Some(n) = per_node.get_mut(usize::from(cl.node)) {
            *n += 1;
        }
    }
    per_node
}

fn add_deployment(per_node: &mut [u32], d: &Deployment, peaks: &HashMap<&str, u32>, nodes: u8) {
    let peak = peaks
        .get(d.name.as_str())
        .copied()
        .unwrap_or(0)
        .max(d.replicas)
        // Counts above the replica limit are reported by their own rule.
        .min(crate::expected::MAX_REPLICAS_N);
    let places = places(d, nodes);
    let k = u32::try_from(places.len()).unwrap_or(u32::MAX);
    if k == 0 {
        return;
    }
    for (j, &n) in places.iter().enumerate() {
        let extra = u32::from(u32::try_from(j).unwrap_or(u32::MAX) < peak % k);
        per_node[usize::from(n)] += peak / k + extra;
    }
}

/// `nodes` is cluster.nodes (checked only when valid). Each node is
/// reported once, at the deployment or client that first overfills it.
pub(super) fn check(c: &mut Checker<'_>, suite: &Suite, nodes: u8) {
    let limit = limit(nodes);
    let mut per_node = vec![0u32; usize::from(nodes)];
    let mut reported = vec![false; usize::from(nodes)];
    let mut over = |c: &mut Checker<'_>, per_node: &[u32], path: &str| {
        for (n, &count) in per_node.iter().enumerate() {
            if count > limit && !reported[n] {
                reported[n] = true;
                c.fail(
                    path,
                    format!(
                        "node {n} would hold {count} pods at peak (replicas at their highest over the timeline or autoscaler max_replicas, plus client pods), but with {nodes} node(s) at most {limit} fit in a node's pod CIDR (198.18.0.0/16 split {nodes} ways, {POD_HEADROOM} addresses kept free); spread the pods over more nodes or use fewer nodes"
                    ),
                );
            }
        }
    };
    let peaks = peaks(suite);
    for (i, d) in suite.deployments.iter().enumerate() {
        add_deployment(&mut per_node, d, &peaks, nodes);
        over(c, &per_node, &format!("deployments[{i}].replicas"));
    }
    for (i, cl) in suite.clients.iter().enumerate() {
        if cl.node < nodes {
            per_node[usize::from(cl.node)] += 1;
            over(c, &per_node, &format!("clients[{i}].node"));
        }
    }
}

/// Each deployment's highest replica count from `scale` entries and its
/// autoscaler's max_replicas, by name: one pass over each section, so the
/// rule stays linear in deployments, timeline entries and autoscalers.
fn peaks(suite: &Suite) -> HashMap<&str, u32> {
    let mut peaks: HashMap<&str, u32> = HashMap::new();
    let scales = suite.timeline.iter().filter_map(|e| match &e.action {
        Action::Scale {
            deployment,
            replicas,
        } => Some((deployment.as_str(), *replicas)),
        _ => None,
    });
    let maxes = suite
        .autoscalers
        .iter()
        .map(|a| (a.deployment.as_str(), a.max_replicas));
    for (name, r) in scales.chain(maxes) {
        let p = peaks.entry(name).or_insert(0);
        *p = (*p).max(r);
    }
    peaks
}

/// The nodes the deployment's pods go to, in round-robin order: every node
/// when it lists none, else the valid listed ones, each once.
fn places(d: &Deployment, nodes: u8) -> Vec<u8> {
    let mut places: Vec<u8> = Vec::new();
    if d.nodes.is_empty() {
        places.extend(0..nodes);
    } else {
        for &n in &d.nodes {
            if n < nodes && !places.contains(&n) {
                places.push(n);
            }
        }
    }
    places
}
