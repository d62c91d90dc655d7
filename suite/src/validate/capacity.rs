//! Pods per node at peak must fit the node's /24 (.1 is the gateway): a
//! rule across `deployments`, `timeline`, `autoscalers` and `clients`.
//!
//! A deployment counts with its highest replica count over the run
//! (initial, any `scale`, or its autoscaler's max_replicas), spread round
//! robin over its nodes starting at the first listed; each client is one
//! more pod on its node.
use std::collections::HashMap;

use super::checker::Checker;
use crate::model::{Action, Deployment, Suite};

/// Pod addresses per node: 198.18.<node>.2..=254, less a little headroom.
const PODS_PER_NODE: u32 = 250;

/// `nodes` is cluster.nodes (checked only when valid). Each node is
/// reported once, at the deployment or client that first overfills it.
pub(super) fn check(c: &mut Checker<'_>, suite: &Suite, nodes: u8) {
    let mut per_node = vec![0u32; usize::from(nodes)];
    let mut reported = vec![false; usize::from(nodes)];
    let mut over = |c: &mut Checker<'_>, per_node: &[u32], path: &str| {
        for (n, &count) in per_node.iter().enumerate() {
            if count > PODS_PER_NODE && !reported[n] {
                reported[n] = true;
                c.fail(
                    path,
                    format!(
                        "node {n} would hold {count} pods at peak (replicas at their highest over the timeline or autoscaler max_replicas, plus client pods), but at most {PODS_PER_NODE} fit in 198.18.{n}.0/24"
                    ),
                );
            }
        }
    };
    let peaks = peaks(suite);
    for (i, d) in suite.deployments.iter().enumerate() {
        let peak = peaks
            .get(d.name.as_str())
            .copied()
            .unwrap_or(0)
            .max(d.replicas)
            // Counts above 200 are reported by their own rule.
            .min(200);
        let places = places(d, nodes);
        let k = u32::try_from(places.len()).unwrap_or(u32::MAX);
        if k == 0 {
            continue;
        }
        for (j, &n) in places.iter().enumerate() {
            let extra = u32::from(u32::try_from(j).unwrap_or(u32::MAX) < peak % k);
            per_node[usize::from(n)] += peak / k + extra;
        }
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
