//! The Deployment and ReplicaSet controllers' arithmetic, as pure functions
//! over counts: how far a rolling update may surge and dip
//! ([`resolve_fenceposts`]), how many pods the new ReplicaSet may have next
//! ([`new_rs_new_replicas`]), how far the old ones may shrink
//! ([`old_rs_scale_down`]), Recreate's two phases ([`recreate_step`]), when
//! a rollout is complete ([`complete`]), and which pods a ReplicaSet deletes
//! first ([`victim_order`]).
//!
//! Source: kubernetes v1.31, `pkg/controller/deployment/rolling.go`
//! (rolloutRolling, reconcileNewReplicaSet, reconcileOldReplicaSets,
//! cleanupUnhealthyReplicas, scaleDownOldReplicaSetsForRollingUpdate),
//! `pkg/controller/deployment/recreate.go` (rolloutRecreate,
//! oldPodsRunning), `pkg/controller/deployment/util/deployment_util.go`
//! (ResolveFenceposts, NewRSNewReplicas, DeploymentComplete) and
//! `pkg/controller/controller_utils.go` (ActivePodsWithRanks.Less). The
//! harness owns the pods and the clock and calls these each control pass.
use std::{cmp::Ordering, time::Duration};

/// maxSurge / maxUnavailable: a count or a percentage of the desired
/// replicas (intstr.IntOrString).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fencepost {
    Count(u32),
    Percent(u32),
}

impl Fencepost {
    /// intstr.GetScaledValueFromIntOrPercent: a percentage of `total`,
    /// rounded up or down (math.Ceil / math.Floor of total*pct/100).
    #[must_use]
    pub fn scaled(self, total: u32, round_up: bool) -> u32 {
        match self {
            Self::Count(n) => n,
            Self::Percent(p) => {
                let x = u64::from(p) * u64::from(total);
                let v = if round_up { x.div_ceil(100) } else { x / 100 };
                u32::try_from(v).unwrap_or(u32::MAX)
            }
        }
    }
}

/// deployment_util.go ResolveFenceposts: surge rounds up, unavailable
/// down; when both resolve to 0, unavailable becomes 1 ("on the theory
/// that surge might not work due to quota"). Returns (max_surge,
/// max_unavailable) in pods.
#[must_use]
pub fn resolve_fenceposts(surge: Fencepost, unavailable: Fencepost, desired: u32) -> (u32, u32) {
    let s = surge.scaled(desired, true);
    let mut u = unavailable.scaled(desired, false);
    if s == 0 && u == 0 {
        u = 1;
    }
    (s, u)
}

/// deployment_util.go MaxUnavailable: the resolved unavailable, capped at
/// the desired replicas (0 when desired is 0).
#[must_use]
pub fn max_unavailable(surge: Fencepost, unavailable: Fencepost, desired: u32) -> u32 {
    if desired == 0 {
        return 0;
    }
    resolve_fenceposts(surge, unavailable, desired)
        .1
        .min(desired)
}

/// One ReplicaSet as the Deployment controller counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RsCounts {
    /// spec.replicas.
    pub replicas: u32,
    /// status.availableReplicas: ready for at least minReadySeconds, not
    /// being deleted.
    pub available: u32,
}

/// deployment_util.go NewRSNewReplicas (RollingUpdate): the new
/// ReplicaSet's next replicas. `all_replicas` is Σ spec.replicas over
/// every ReplicaSet (GetReplicaCountForReplicaSets): pods being deleted do
/// not count, as in Kubernetes.
#[must_use]
pub fn new_rs_new_replicas(desired: u32, max_surge: u32, all_replicas: u32, new_rs: u32) -> u32 {
    let max_total = desired + max_surge;
    if all_replicas >= max_total {
        return new_rs;
    }
    let up = (max_total - all_replicas).min(desired.saturating_sub(new_rs));
    new_rs + up
}

/// rolling.go reconcileOldReplicaSets: the old ReplicaSets' next replicas
/// (oldest first, as given), or None when none may shrink yet. First
/// cleanupUnhealthyReplicas takes unavailable pods off, up to
/// maxScaledDown = all - minAvailable - newUnavailable; then
/// scaleDownOldReplicaSetsForRollingUpdate takes available - minAvailable
/// more, counted after the cleanup.
#[must_use]
pub fn old_rs_scale_down(
    desired: u32,
    max_unavailable: u32,
    new_rs: RsCounts,
    old: &[RsCounts],
) -> Option<Vec<u32>> {
    let old_count: u32 = old.iter().map(|r| r.replicas).sum();
    if old_count == 0 {
        return None;
    }
    let all = i64::from(old_count + new_rs.replicas);
    let min_available = i64::from(desired) - i64::from(max_unavailable);
    let new_unavailable = i64::from(new_rs.replicas) - i64::from(new_rs.available);
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return None;
    }
    let mut next: Vec<u32> = old.iter().map(|r| r.replicas).collect();
    // cleanupUnhealthyReplicas.
    let mut cleaned: i64 = 0;
    for (i, rs) in old.iter().enumerate() {
        if cleaned >= max_scaled_down {
            break;
        }
        if rs.replicas == 0 || rs.replicas == rs.available {
            continue;
        }
        let n =
            (max_scaled_down - cleaned).min(i64::from(rs.replicas - rs.available.min(rs.replicas)));
        next[i] -= u32::try_from(n).unwrap_or(0);
        cleaned += n;
    }
    // scaleDownOldReplicaSetsForRollingUpdate over the cleaned-up sets:
    // available pods are the same (only unavailable ones went).
    let available: i64 =
        i64::from(new_rs.available) + old.iter().map(|r| i64::from(r.available)).sum::<i64>();
    let mut scaled: i64 = 0;
    if available > min_available {
        let total = available - min_available;
        for n in &mut next {
            if scaled >= total {
                break;
            }
            if *n == 0 {
                continue;
            }
            let k = i64::from(*n).min(total - scaled);
            *n -= u32::try_from(k).unwrap_or(0);
            scaled += k;
        }
    }
    (cleaned + scaled > 0).then_some(next)
}

/// What Recreate does next (recreate.go rolloutRecreate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecreateStep {
    /// Scale every old ReplicaSet to 0.
    ScaleDownOld,
    /// Old pods still run (terminating ones count: oldPodsRunning): wait.
    WaitOldGone,
    /// Scale the new ReplicaSet to the desired replicas.
    ScaleUpNew,
    Done,
}

/// recreate.go: scale old to 0; wait until no old pod runs (a pod being
/// deleted still runs); then scale the new ReplicaSet up.
#[must_use]
pub fn recreate_step(
    old_replicas: u32,
    old_pods_running: u32,
    new_rs: u32,
    desired: u32,
) -> RecreateStep {
    if old_replicas > 0 {
        RecreateStep::ScaleDownOld
    } else if old_pods_running > 0 {
        RecreateStep::WaitOldGone
    } else if new_rs != desired {
        RecreateStep::ScaleUpNew
    } else {
        RecreateStep::Done
    }
}

/// deployment_util.go DeploymentComplete: updatedReplicas == replicas,
/// status.replicas (every non-terminating pod) == replicas, available ==
/// replicas.
#[must_use]
pub fn complete(desired: u32, updated: u32, total_pods: u32, available: u32) -> bool {
    updated == desired && total_pods == desired && available == desired
}

/// A pod as ActivePodsWithRanks ranks it for deletion.
#[derive(Clone, Debug, PartialEq)]
pub struct PodRank {
    pub name: String,
    /// Phase Pending (created, container not running yet).
    pub pending: bool,
    pub ready: bool,
    /// Since when it has been ready (the Ready condition's transition).
    pub ready_since: Option<Duration>,
    pub restarts: u32,
    pub created: Duration,
    /// Active related pods (the deployment's, any ReplicaSet) on its node:
    /// the replica set controller's rank (getPodsRankedByRelatedPodsOnSameNode).
    pub on_same_node: u32,
}

/// controller_utils.go ActivePodsWithRanks.Less (steps 1-8) with
/// LogarithmicScaleDown (on by default since v1.22): deleted first are
/// pending before running, not ready before ready, more related pods on
/// the same node before fewer (the rank), ready for a shorter time before
/// longer (compared on a log2 scale of seconds), more restarts before
/// fewer, newer before older (also log2), then by exact creation time.
/// Not here: unscheduled pods, the Unknown phase and pod-deletion-cost
/// annotations (every pod is scheduled, costs are all 0).
#[must_use]
pub fn delete_before(a: &PodRank, b: &PodRank, now: Duration) -> Ordering {
    let log = |t: Duration| -> i64 {
        let s = now.saturating_sub(t).as_secs();
        // podutil: int64(math.Floor(math.Log2(float64(d.Seconds())))) for d > 0.
        if s == 0 {
            -1
        } else {
            i64::from(63 - s.leading_zeros())
        }
    };
    b.pending
        .cmp(&a.pending)
        .then(a.ready.cmp(&b.ready))
        .then(b.on_same_node.cmp(&a.on_same_node))
        .then_with(|| match (a.ready, a.ready_since, b.ready_since) {
            (true, Some(x), Some(y)) => log(x).cmp(&log(y)),
            _ => Ordering::Equal,
        })
        .then(b.restarts.cmp(&a.restarts))
        .then_with(|| log(a.created).cmp(&log(b.created)))
        .then(b.created.cmp(&a.created))
}

/// The pods in the order a ReplicaSet deletes them.
#[must_use]
pub fn victim_order(mut pods: Vec<PodRank>, now: Duration) -> Vec<PodRank> {
    pods.sort_by(|a, b| delete_before(a, b, now));
    pods
}

#[cfg(test)]
mod tests;
