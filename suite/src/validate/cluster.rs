//! The `cluster` section: how many nodes.
use super::checker::Checker;
use crate::{expected::NODES, model::Cluster};

/// Checks `cluster`; returns the node count when it is valid (checks
/// against it wait, like those against the suite duration).
pub(super) fn check(c: &mut Checker<'_>, cluster: &Cluster) -> Option<u8> {
    let nodes_ok = (1..=16).contains(&cluster.nodes);
    c.expect(nodes_ok, "cluster.nodes", NODES, cluster.nodes);
    nodes_ok.then_some(cluster.nodes)
}
