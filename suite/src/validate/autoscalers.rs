//! The `autoscalers` section: each HPA scales a deployment that exists (at
//! most one per deployment), within replica bounds that hold its starting
//! count, toward a target its metric can mean, on kubelet-scaled clocks.
use std::collections::{HashMap, HashSet};

use super::checker::{Checker, HOUR};
use crate::{
    expected::{AT_MOST_1H, BUSY_TARGET, MAX_REPLICAS, MIN_REPLICAS, RATE_TARGET, TOLERANCE},
    model::{Autoscaler, Deployment, HpaMetricKind, Suite},
};

/// `scale` is kubelet.time_scale when valid; `deployments` the names an
/// autoscaler may scale.
pub(super) fn check(
    c: &mut Checker<'_>,
    suite: &Suite,
    scale: Option<f64>,
    deployments: &HashSet<&str>,
) {
    let mut scaled: HashMap<&str, usize> = HashMap::new();
    // The first deployment of each name (a duplicate is reported by its
    // own rule): a lookup per autoscaler, not a scan.
    let mut by_name: HashMap<&str, &Deployment> = HashMap::new();
    for d in &suite.deployments {
        by_name.entry(d.name.as_str()).or_insert(d);
    }
    for (i, a) in suite.autoscalers.iter().enumerate() {
        let d = by_name.get(a.deployment.as_str()).copied();
        autoscaler(c, d, i, a, scale, deployments, &mut scaled);
    }
}

/// `autoscalers[i]`; `scaled` maps each deployment already given an
/// autoscaler to that autoscaler's index.
fn autoscaler<'s>(
    c: &mut Checker<'_>,
    d: Option<&Deployment>,
    i: usize,
    a: &'s Autoscaler,
    scale: Option<f64>,
    deployments: &HashSet<&str>,
    scaled: &mut HashMap<&'s str, usize>,
) {
    let p = format!("autoscalers[{i}]");
    let dp = format!("{p}.deployment");
    c.reference(&dp, &a.deployment, "deployment", deployments);
    if let Some(first) = scaled.get(a.deployment.as_str()) {
        c.fail(
            &dp,
            format!(
                "deployment `{}` already has an autoscaler (autoscalers[{first}]); a deployment takes at most one",
                a.deployment
            ),
        );
    } else {
        scaled.insert(&a.deployment, i);
    }
    replicas(c, &p, d, a);
    target(c, &p, a);
    c.expect(
        (0.0..=1.0).contains(&a.tolerance),
        &format!("{p}.tolerance"),
        TOLERANCE,
        a.tolerance,
    );
    c.scaled_period(&format!("{p}.sync_period"), a.sync_period, scale);
    for (key, v) in [
        ("scale_up_stabilization", a.scale_up_stabilization),
        ("scale_down_stabilization", a.scale_down_stabilization),
    ] {
        c.expect(v.0 <= HOUR, &format!("{p}.{key}"), AT_MOST_1H, v);
    }
}

/// `{p}.min_replicas` and `{p}.max_replicas`, and the deployment's starting
/// replicas between them (`d`: the deployment it scales, if it exists).
fn replicas(c: &mut Checker<'_>, p: &str, d: Option<&Deployment>, a: &Autoscaler) {
    let (min, max) = (a.min_replicas, a.max_replicas);
    let (minp, maxp) = (format!("{p}.min_replicas"), format!("{p}.max_replicas"));
    let min_ok = (1..=crate::expected::MAX_REPLICAS_N).contains(&min);
    c.expect(min_ok, &minp, MIN_REPLICAS, min);
    let max_ok = (min.max(1)..=crate::expected::MAX_REPLICAS_N).contains(&max);
    let what = if min_ok {
        format!("{MAX_REPLICAS} (min_replicas is {min})")
    } else {
        MAX_REPLICAS.to_owned()
    };
    c.expect(max_ok, &maxp, &what, max);
    // The HPA clamps the current count into [min, max] at its first sync,
    // so a suite starting outside would measure the clamp, not its load.
    if min_ok
        && max_ok
        && let Some(d) = d
        && d.replicas <= crate::expected::MAX_REPLICAS_N
    {
        let (name, r) = (&d.name, d.replicas);
        if r == 0 {
            c.fail(
                &minp,
                format!(
                    "deployment `{name}` starts with replicas 0, and Kubernetes turns autoscaling off while a deployment has 0 replicas; give it replicas within [{min}, {max}]"
                ),
            );
        } else if r < min {
            c.fail(
                &minp,
                format!(
                    "deployment `{name}` starts with replicas {r}, below min_replicas {min}: Kubernetes would scale it up to {min} at once; give it replicas within [{min}, {max}]"
                ),
            );
        } else if r > max {
            c.fail(
                &maxp,
                format!(
                    "deployment `{name}` starts with replicas {r}, above max_replicas {max}: Kubernetes would scale it down to {max} at once; give it replicas within [{min}, {max}]"
                ),
            );
        }
    }
}

/// `{p}.metric.target`, in the metric's own unit.
fn target(c: &mut Checker<'_>, p: &str, a: &Autoscaler) {
    let t = a.metric.target;
    let tp = format!("{p}.metric.target");
    match a.metric.kind {
        HpaMetricKind::BusyWorkers => c.expect(t > 0.0 && t <= 1.0, &tp, BUSY_TARGET, t),
        HpaMetricKind::RequestRate => {
            c.expect(t > 0.0 && t <= 1_000_000.0, &tp, RATE_TARGET, t);
        }
    }
}
