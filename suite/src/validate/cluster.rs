//! The `cluster` section: how many nodes, and the node-lifecycle
//! controller's grace period.
use super::checker::Checker;
use crate::{expected::NODES, model::Cluster};

/// Checks `cluster`; returns the node count when it is valid (checks
/// against it wait, like those against the suite duration).
pub(super) fn check(c: &mut Checker<'_>, cluster: &Cluster) -> Option<u8> {
    let nodes_ok = (1..=16).contains(&cluster.nodes);
    c.expect(nodes_ok, "cluster.nodes", NODES, cluster.nodes);
    let g = cluster.node_monitor_grace_period.0;
    c.expect(
        g.as_secs() >= 10 && g.as_secs() <= 600,
        "cluster.node_monitor_grace_period",
        "a grace period from 10s to 10m (above the 10 s lease renewal)",
        cluster.node_monitor_grace_period,
    );
    if !cluster.zones.is_empty() {
        c.expect(
            cluster.zones.len() == usize::from(cluster.nodes),
            "cluster.zones",
            &format!("one zone per node ({} nodes)", cluster.nodes),
            format!("{} zones", cluster.zones.len()),
        );
        for (i, z) in cluster.zones.iter().enumerate() {
            let ok = (1..=63).contains(&z.len())
                && z.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
                && z.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && z.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
            c.expect(
                ok,
                &format!("cluster.zones[{i}]"),
                "a label value (1..=63 letters, digits, '-', '_', '.', alphanumeric at both ends)",
                format!("{z:?}"),
            );
        }
    }
    nodes_ok.then_some(cluster.nodes)
}
