//! The Deployment/ReplicaSet arithmetic against Kubernetes' own cases
//! (deployment_util_test.go TestResolveFenceposts / TestNewRSNewReplicas,
//! rolling_test.go's reconcile tables, controller_utils_test.go
//! TestSortingActivePods) and whole rollouts stepped to completion.
use super::*;

const P25: Fencepost = Fencepost::Percent(25);

#[test]
fn fenceposts_round_surge_up_and_unavailable_down() {
    // 25%/25% of 4, 10, 1 and 3 replicas.
    assert_eq!(resolve_fenceposts(P25, P25, 4), (1, 1));
    assert_eq!(resolve_fenceposts(P25, P25, 10), (3, 2));
    assert_eq!(resolve_fenceposts(P25, P25, 3), (1, 0));
    // 1 replica: surge 1, unavailable 0 (25% of 1 rounds down).
    assert_eq!(resolve_fenceposts(P25, P25, 1), (1, 0));
}

#[test]
fn fenceposts_both_zero_make_unavailable_one() {
    // TestResolveFenceposts: maxSurge 0, maxUnavailable 1% of 2 → (0, 1).
    assert_eq!(
        resolve_fenceposts(Fencepost::Count(0), Fencepost::Percent(1), 2),
        (0, 1)
    );
    assert_eq!(
        resolve_fenceposts(Fencepost::Percent(0), Fencepost::Percent(0), 10),
        (0, 1)
    );
    assert_eq!(max_unavailable(P25, P25, 0), 0);
    assert_eq!(
        max_unavailable(Fencepost::Count(0), Fencepost::Count(9), 4),
        4
    );
}

#[test]
fn new_replicas_respect_the_surge() {
    // TestNewRSNewReplicas: 10 desired, surge 1, 5 + 5 pods: stays at 5.
    assert_eq!(new_rs_new_replicas(10, 1, 10, 5), 6);
    assert_eq!(new_rs_new_replicas(10, 1, 11, 5), 5);
    // 4 desired, surge 1: one new pod at a time.
    assert_eq!(new_rs_new_replicas(4, 1, 4, 0), 1);
    // Never above desired.
    assert_eq!(new_rs_new_replicas(4, 4, 4, 3), 4);
}

#[test]
fn old_sets_shrink_only_above_min_available() {
    let rs = |replicas, available| RsCounts {
        replicas,
        available,
    };
    // 4 desired, unavailable 1: 4 old available, new 1 not available yet →
    // all 5 - min 3 - new unavailable 1 = 1 may go.
    assert_eq!(
        old_rs_scale_down(4, 1, rs(1, 0), &[rs(4, 4)]),
        Some(vec![3])
    );
    // Unavailable 0 and new not ready: nothing.
    assert_eq!(old_rs_scale_down(4, 0, rs(1, 0), &[rs(4, 4)]), None);
    // New pod available: one old may go.
    assert_eq!(
        old_rs_scale_down(4, 0, rs(1, 1), &[rs(4, 4)]),
        Some(vec![3])
    );
    // Unhealthy old replicas are cleaned first even without headroom from
    // available pods (rolling.go cleanupUnhealthyReplicas).
    // Headroom 5 - 4 - 0 = 1 bounds the cleanup to one of the two.
    assert_eq!(
        old_rs_scale_down(4, 0, rs(1, 1), &[rs(4, 2)]),
        Some(vec![3])
    );
    // rolling.go's concrete example, case 1: 10 desired, 2 unavailable,
    // newRS 5 crashlooping, old 8: 13 - 8 - 5 = 0 → no scale-down.
    assert_eq!(old_rs_scale_down(10, 2, rs(5, 0), &[rs(8, 7)]), None);
    // No old pods: nothing to do.
    assert_eq!(old_rs_scale_down(4, 1, rs(4, 4), &[rs(0, 0)]), None);
}

/// Steps a rolling update of `desired` pods where every new pod becomes
/// available one step after it is created; returns (new, old) replicas per
/// step until complete.
fn roll(desired: u32, surge: Fencepost, unavail: Fencepost) -> Vec<(u32, u32)> {
    let (s, _) = resolve_fenceposts(surge, unavail, desired);
    let u = max_unavailable(surge, unavail, desired);
    let (mut new, mut new_avail, mut old) = (0u32, 0u32, desired);
    let mut steps = Vec::new();
    for _ in 0..100 {
        let n = new_rs_new_replicas(desired, s, new + old, new);
        if n != new {
            new = n;
        } else if let Some(v) = old_rs_scale_down(
            desired,
            u,
            RsCounts {
                replicas: new,
                available: new_avail,
            },
            &[RsCounts {
                replicas: old,
                available: old,
            }],
        ) {
            old = v[0];
        } else {
            new_avail = new;
        }
        steps.push((new, old));
        if complete(desired, new, new + old, new_avail) && old == 0 {
            break;
        }
        assert!(new + old <= desired + s, "surge exceeded: {steps:?}");
        assert!(
            new_avail + old + u >= desired,
            "too many unavailable: {steps:?}"
        );
    }
    steps
}

#[test]
fn a_rolling_update_progresses_to_complete_within_its_bounds() {
    let steps = roll(4, P25, P25);
    // Surge 1, unavailable 1: new +1, then old -1 (5 pods - min 3 - the
    // new pod not yet available), then the new one may grow again.
    assert_eq!(steps[0], (1, 4));
    assert_eq!(steps[1], (1, 3));
    assert_eq!(steps[2], (2, 3));
    assert_eq!(*steps.last().expect("steps"), (4, 0));
    // maxSurge 1, maxUnavailable 0: strictly one at a time.
    let steps = roll(3, Fencepost::Count(1), Fencepost::Count(0));
    assert_eq!(
        steps,
        vec![
            (1, 3),
            (1, 3),
            (1, 2),
            (2, 2),
            (2, 2),
            (2, 1),
            (3, 1),
            (3, 1),
            (3, 0)
        ]
    );
}

#[test]
fn recreate_waits_for_old_pods_to_be_gone() {
    assert_eq!(recreate_step(4, 4, 0, 4), RecreateStep::ScaleDownOld);
    // Scaled to 0 but two still terminating: oldPodsRunning.
    assert_eq!(recreate_step(0, 2, 0, 4), RecreateStep::WaitOldGone);
    assert_eq!(recreate_step(0, 0, 0, 4), RecreateStep::ScaleUpNew);
    assert_eq!(recreate_step(0, 0, 4, 4), RecreateStep::Done);
}

fn pod(name: &str, created: u64) -> PodRank {
    PodRank {
        name: name.to_owned(),
        pending: false,
        ready: true,
        ready_since: Some(Duration::from_secs(created)),
        restarts: 0,
        created: Duration::from_secs(created),
        on_same_node: 1,
    }
}

#[test]
fn victims_pending_then_not_ready_then_doubled_up_then_restarts_then_newest() {
    let now = Duration::from_secs(1000);
    let mut pending = pod("pending", 990);
    pending.pending = true;
    pending.ready = false;
    pending.ready_since = None;
    let mut unready = pod("unready", 10);
    unready.ready = false;
    unready.ready_since = None;
    let mut doubled = pod("doubled", 10);
    doubled.on_same_node = 2;
    let mut restarted = pod("restarted", 10);
    restarted.restarts = 3;
    let old = pod("old", 10);
    let newer = pod("newer", 900);
    let order: Vec<String> = victim_order(
        vec![old.clone(), newer, restarted, doubled, unready, pending],
        now,
    )
    .into_iter()
    .map(|p| p.name)
    .collect();
    assert_eq!(
        order,
        ["pending", "unready", "doubled", "newer", "restarted", "old"]
    );
}

#[test]
fn victims_on_the_same_log2_scale_fall_to_exact_age() {
    // LogarithmicScaleDown: ready for 600 s and 700 s are both in the
    // 2^9 bucket, so restarts decide, then exact creation.
    let now = Duration::from_secs(1000);
    let a = pod("a", 400);
    let mut b = pod("b", 300);
    b.restarts = 1;
    let order: Vec<String> = victim_order(vec![a.clone(), b], now)
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(order, ["b", "a"]);
    let c = pod("c", 350);
    let order: Vec<String> = victim_order(vec![a, c], now)
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(order, ["a", "c"], "newer first within one bucket");
}
