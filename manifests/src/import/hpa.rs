//! HorizontalPodAutoscalers → suite autoscalers, and PodDisruptionBudgets
//! (noted: svclab has no voluntary-disruption budget).
//!
//! Decision on metrics: svclab measures two things per pod. CPU
//! `Utilization` (Resource or ContainerResource) maps to `busy-workers`
//! with target averageUtilization/100: the pod server's busy workers over
//! its workers, averaged over the sync period, which stands for CPU used
//! over CPU requested (it follows Kubernetes' CPU rules for not-ready
//! pods). A Pods or Object metric whose name says requests per second,
//! with an `AverageValue` target, maps to `request-rate` (requests the pod
//! completed per second). Everything else (memory, external metrics,
//! other custom metrics, CPU `AverageValue`) is listed as not mapped with
//! the reason; of several mappable metrics the first is used, as a suite
//! autoscaler takes one.
use std::collections::BTreeMap;

use k8s_openapi::api::{
    autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscaler, MetricSpec, MetricTarget},
    policy::v1::PodDisruptionBudget,
};
use svclab_suite::model::{Autoscaler, Dur, HpaMetric, HpaMetricKind};

use super::{
    context::Context,
    error::ImportError,
    read::{Object, WorkloadKind},
    workload::{self, Workload},
};

/// An HPA as read.
#[derive(Clone, Debug)]
pub(crate) struct Read {
    pub obj: usize,
    pub hpa: HorizontalPodAutoscaler,
}

pub(crate) fn read(_cx: &mut Context, i: usize, o: &Object) -> Result<Read, ImportError> {
    o.require("/spec", "spec", &["scaleTargetRef", "maxReplicas"])?;
    o.require(
        "/spec/scaleTargetRef",
        "spec.scaleTargetRef",
        &["kind", "name"],
    )?;
    Ok(Read {
        obj: i,
        hpa: o.typed()?,
    })
}

/// A PodDisruptionBudget: typed (so a malformed one is bad input), then
/// listed as not mapped.
pub(crate) fn pdb(cx: &mut Context, i: usize, o: &Object) -> Result<(), ImportError> {
    let _: PodDisruptionBudget = o.typed()?;
    cx.object_note(
        i,
        "svclab has no voluntary-disruption budget: nothing drains nodes or evicts pods here, and the timeline's kill and delete_pod act as a crash and `kubectl delete` do, past any budget",
    );
    Ok(())
}

/// A suite autoscaler with its comments.
#[derive(Clone, Debug)]
pub(crate) struct Mapped {
    pub model: Autoscaler,
    pub head: Vec<String>,
    pub comments: BTreeMap<String, String>,
}

/// Maps every HPA onto the workload it scales; moves a deployment's
/// replicas into the HPA's range (the HPA would at its first sync).
pub(crate) fn map(
    cx: &mut Context,
    objects: &[Object],
    hpas: &[Read],
    workloads: &[Workload],
    deployments: &mut [workload::Mapped],
) -> Result<Vec<Mapped>, ImportError> {
    let mut out: Vec<Mapped> = Vec::new();
    for r in hpas {
        let (i, o) = (r.obj, &objects[r.obj]);
        let spec = r.hpa.spec.clone().unwrap_or_default();
        let t = &spec.scale_target_ref;
        cx.used(i, "spec.scaleTargetRef");
        let kind = match t.kind.as_str() {
            "Deployment" => Some(WorkloadKind::Deployment),
            "StatefulSet" => Some(WorkloadKind::StatefulSet),
            "ReplicaSet" => Some(WorkloadKind::ReplicaSet),
            _ => None,
        };
        let Some(wi) = workloads.iter().position(|w| {
            Some(w.kind) == kind
                && objects[w.obj].origin.name == t.name
                && objects[w.obj].namespace() == o.namespace()
        }) else {
            cx.object_note(
                i,
                &format!(
                    "it scales {} {} in namespace {}, which is not in the input",
                    t.kind,
                    t.name,
                    o.namespace()
                ),
            );
            continue;
        };
        let w = &workloads[wi];
        if out.iter().any(|a| a.model.deployment == w.name) {
            cx.object_note(
                i,
                "a second HPA on the same workload: a suite deployment takes one autoscaler",
            );
            continue;
        }
        if deployments
            .iter()
            .any(|d| d.model.name == w.name && d.model.replicas == 0)
        {
            cx.object_note(
                i,
                &format!(
                    "{} {} has replicas 0, and Kubernetes turns autoscaling off while a workload has 0 replicas: the deployment keeps replicas 0 and runs without an autoscaler",
                    t.kind, t.name
                ),
            );
            continue;
        }
        let mut comments = BTreeMap::new();
        let Some((metric, note)) = metric(cx, i, o, spec.metrics.as_deref())? else {
            cx.warn(
                i,
                "spec.metrics",
                "no metric svclab can measure: the deployment runs without an autoscaler",
            );
            continue;
        };
        comments.insert("metric".to_owned(), note);
        let min = match spec.min_replicas {
            Some(n) => {
                cx.used(i, "spec.minReplicas");
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| o.bad("spec.minReplicas", format!("expected >= 1, got {n}")))?
            }
            None => 1,
        };
        cx.used(i, "spec.maxReplicas");
        let max = u32::try_from(spec.max_replicas)
            .ok()
            .filter(|n| (min..=svclab_suite::MAX_REPLICAS_N).contains(n))
            .ok_or_else(|| {
                o.bad(
                    "spec.maxReplicas",
                    format!(
                        "expected {min}..=2000 (minReplicas is {min}), got {}",
                        spec.max_replicas
                    ),
                )
            })?;
        let mut model = Autoscaler {
            deployment: w.name.clone(),
            min_replicas: min,
            max_replicas: max,
            metric,
            sync_period: Dur::from_secs(15),
            tolerance: 0.1,
            scale_up_stabilization: Dur::default(),
            scale_down_stabilization: Dur::from_secs(300),
        };
        if let Some(b) = &spec.behavior {
            if let Some(up) = &b.scale_up
                && let Some(s) = rules(cx, i, o, "spec.behavior.scaleUp", up, &DEFAULT_UP)?
            {
                model.scale_up_stabilization = s;
                comments.insert(
                    "scale_up_stabilization".into(),
                    "spec.behavior.scaleUp.stabilizationWindowSeconds".into(),
                );
            }
            if let Some(down) = &b.scale_down
                && let Some(s) = rules(cx, i, o, "spec.behavior.scaleDown", down, &DEFAULT_DOWN)?
            {
                model.scale_down_stabilization = s;
                comments.insert(
                    "scale_down_stabilization".into(),
                    "spec.behavior.scaleDown.stabilizationWindowSeconds".into(),
                );
            }
        }
        tolerance(cx, i, o, &spec, &mut model, &mut comments)?;
        if let Some(d) = deployments.iter_mut().find(|d| d.model.name == w.name) {
            let r = d.model.replicas;
            let clamped = r.clamp(min, max);
            if clamped != r {
                d.model.replicas = clamped;
                d.comments.insert(
                    "replicas".into(),
                    format!("{r} in the manifest, moved into the HPA's [{min}, {max}] as the HPA does at its first sync"),
                );
            }
        }
        out.push(Mapped {
            model,
            head: vec![format!(
                "from HorizontalPodAutoscaler {}, {} document {}{}",
                o.origin.name,
                o.origin.file,
                o.origin.doc,
                o.origin.item()
            )],
            comments,
        });
    }
    Ok(out)
}

/// A scaling direction's Kubernetes defaults: (type, value, period) of
/// each policy, and selectPolicy (autoscaling/v2 SetDefaults).
struct Defaults {
    policies: &'static [(&'static str, i32, i32)],
}
const DEFAULT_UP: Defaults = Defaults {
    policies: &[("Pods", 4, 15), ("Percent", 100, 15)],
};
const DEFAULT_DOWN: Defaults = Defaults {
    policies: &[("Percent", 100, 15)],
};

/// One direction's rules: the stabilization window (mapped); policies and
/// selectPolicy are fine at Kubernetes' defaults (svclab's HPA applies
/// those) and not mapped otherwise. Tolerance is read for both directions
/// at once ([`tolerance`]).
fn rules(
    cx: &mut Context,
    i: usize,
    o: &Object,
    path: &str,
    r: &HPAScalingRules,
    d: &Defaults,
) -> Result<Option<Dur>, ImportError> {
    let at_default = r.policies.as_ref().is_none_or(|ps| {
        ps.len() == d.policies.len()
            && ps
                .iter()
                .zip(d.policies)
                .all(|(p, (t, v, s))| p.type_ == *t && p.value == *v && p.period_seconds == *s)
    });
    if at_default {
        cx.used(i, format!("{path}.policies"));
    } else {
        cx.why(
            i,
            format!("{path}.policies"),
            "svclab's HPA applies Kubernetes' default rate policies (scale up by 4 pods or 100% per 15s, down by 100% per 15s) and has no knob for others",
        );
    }
    match r.select_policy.as_deref() {
        Some("Max") | None => cx.used(i, format!("{path}.selectPolicy")),
        Some(_) => cx.why(
            i,
            format!("{path}.selectPolicy"),
            "svclab's HPA picks the policy allowing the largest change (Max)",
        ),
    }
    workload::seconds(
        cx,
        i,
        o,
        &format!("{path}.stabilizationWindowSeconds"),
        r.stabilization_window_seconds.map(i64::from),
    )
}

/// `behavior.scaleUp.tolerance` and `behavior.scaleDown.tolerance` (an
/// unset one is Kubernetes' 0.1): equal ones are the suite autoscaler's
/// `tolerance`; different ones are listed, as the suite has one for both
/// directions.
fn tolerance(
    cx: &mut Context,
    i: usize,
    o: &Object,
    spec: &k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerSpec,
    model: &mut Autoscaler,
    comments: &mut BTreeMap<String, String>,
) -> Result<(), ImportError> {
    let b = spec.behavior.as_ref();
    let mut read = |dir: &str, r: Option<&HPAScalingRules>| -> Result<Option<f64>, ImportError> {
        let Some(q) = r.and_then(|r| r.tolerance.as_ref()) else {
            return Ok(None);
        };
        let path = format!("spec.behavior.{dir}.tolerance");
        let v = quantity(&q.0).filter(|v| *v >= 0.0).ok_or_else(|| {
            o.bad(
                &path,
                format!("expected a quantity >= 0 like 0.1 or 100m, got {:?}", q.0),
            )
        })?;
        cx.used(i, path);
        Ok(Some(v))
    };
    let up = read("scaleUp", b.and_then(|b| b.scale_up.as_ref()))?;
    let down = read("scaleDown", b.and_then(|b| b.scale_down.as_ref()))?;
    if up.is_none() && down.is_none() {
        return Ok(());
    }
    let (u, d) = (up.unwrap_or(0.1), down.unwrap_or(0.1));
    if (u - d).abs() > 1e-9 {
        cx.warn(
            i,
            "spec.behavior",
            format!(
                "scaleUp tolerance {u} and scaleDown tolerance {d} differ (an unset one is 0.1): the suite's autoscaler has one tolerance for both directions, so the default 0.1 is kept"
            ),
        );
        return Ok(());
    }
    let t = if u > 1.0 {
        cx.warn(
            i,
            "spec.behavior",
            format!("tolerance {u} is capped at 1: svclab's autoscaler tolerance is 0..=1"),
        );
        1.0
    } else {
        u
    };
    model.tolerance = t;
    comments.insert(
        "tolerance".into(),
        "spec.behavior.scaleUp/scaleDown.tolerance".into(),
    );
    Ok(())
}

/// The first metric svclab can measure, and the note for its line.
fn metric(
    cx: &mut Context,
    i: usize,
    o: &Object,
    metrics: Option<&[MetricSpec]>,
) -> Result<Option<(HpaMetric, String)>, ImportError> {
    let Some(metrics) = metrics.filter(|m| !m.is_empty()) else {
        return Ok(Some((
            HpaMetric {
                kind: HpaMetricKind::BusyWorkers,
                target: 0.8,
            },
            "no metrics in the manifest: Kubernetes' default, CPU averageUtilization 80%, as the busy-worker ratio".to_owned(),
        )));
    };
    // An autoscaling/v1 HPA's one metric is its
    // targetCPUUtilizationPercentage: name that, not spec.metrics[0].
    let v1 = |t: String| {
        if o.v1_cpu {
            let at = t.find("spec.metrics[0]").map(|k| {
                let rest = &t[k + "spec.metrics[0]".len()..];
                let end = rest
                    .find(|ch: char| ch.is_whitespace() || ch == ':')
                    .unwrap_or(rest.len());
                (k, k + "spec.metrics[0]".len() + end)
            });
            if let Some((from, to)) = at {
                return format!(
                    "{}spec.targetCPUUtilizationPercentage{}",
                    &t[..from],
                    &t[to..]
                );
            }
        }
        t
    };
    let mut chosen = None;
    for (j, m) in metrics.iter().enumerate() {
        let mp = format!("spec.metrics[{j}]");
        let found = one_metric(o, &mp, m).map_err(|e| match e {
            ImportError::Bad {
                origin,
                path,
                message,
            } => ImportError::Bad {
                origin,
                path: v1(path),
                message,
            },
            e => e,
        })?;
        match (found, &chosen) {
            (Ok((metric, note, warnings)), None) => {
                cx.used(i, mp);
                for (path, why) in warnings {
                    cx.warn(i, v1(path), why);
                }
                chosen = Some((metric, v1(note)));
            }
            (Ok(_), Some(_)) => cx.why(
                i,
                mp,
                "a suite autoscaler takes one metric (the first svclab can measure); Kubernetes scales on the largest proposal of all its metrics",
            ),
            (Err(why), _) => cx.why(i, mp, why),
        }
    }
    Ok(chosen)
}

/// A metric svclab measures: the metric, the note for its line, and the
/// losses on it as (path, why).
type OneMetric = (HpaMetric, String, Vec<(String, String)>);

/// A metric as svclab's, or why it cannot be.
fn one_metric(
    o: &Object,
    mp: &str,
    m: &MetricSpec,
) -> Result<Result<OneMetric, String>, ImportError> {
    let cpu = |name: &str, target: &MetricTarget, what: &str, tp: &str| {
        if name != "cpu" {
            return Ok(Err(format!(
                "{what} {name}: svclab's pod server has no memory or other resource model; only CPU maps (to the busy-worker ratio)"
            )));
        }
        match (target.type_.as_str(), target.average_utilization) {
            ("Utilization", Some(u)) if u > 0 => {
                let ratio = (f64::from(u) / 100.0).min(1.0);
                let mut note = format!(
                    "{tp}: cpu averageUtilization {u}% → the busy-worker ratio {ratio} (busy workers / workers over the sync period stands for CPU used / CPU requested)"
                );
                let mut warnings = Vec::new();
                if u > 100 {
                    note.push_str("; above 100% is capped at 1: the ratio cannot exceed it");
                    warnings.push((
                        format!("{tp}.averageUtilization"),
                        format!("{u}% is capped at the busy-worker ratio 1: busy workers cannot exceed the workers, so the target is 100%"),
                    ));
                }
                Ok(Ok((
                    HpaMetric {
                        kind: HpaMetricKind::BusyWorkers,
                        target: ratio,
                    },
                    note,
                    warnings,
                )))
            }
            ("Utilization", _) => Err(o.bad(
                &format!("{tp}.averageUtilization"),
                "expected a percentage above 0 with type Utilization",
            )),
            (t, _) => Ok(Err(format!(
                "cpu target type {t}: only Utilization maps (to the busy-worker ratio); an absolute CPU value has no measure here"
            ))),
        }
    };
    let rate = |name: &str, target: &MetricTarget, tp: &str, what: &str| {
        if !is_request_rate(name) {
            return Ok(Err(format!(
                "{what} metric {name:?}: svclab measures a pod's request rate only (a metric named like requests per second)"
            )));
        }
        match (target.type_.as_str(), &target.average_value) {
            ("AverageValue", Some(q)) => {
                let v = quantity(&q.0).filter(|v| *v > 0.0).ok_or_else(|| {
                    o.bad(
                        &format!("{tp}.averageValue"),
                        format!("expected a quantity above 0 like 50 or 500m, got {:?}", q.0),
                    )
                })?;
                let mut warnings = Vec::new();
                let v = if v > 1_000_000.0 {
                    warnings.push((
                        format!("{tp}.averageValue"),
                        format!("{} is capped at 1000000: svclab's request-rate target is at most 1000000 req/s", q.0),
                    ));
                    1_000_000.0
                } else {
                    v
                };
                Ok(Ok((
                    HpaMetric {
                        kind: HpaMetricKind::RequestRate,
                        target: v,
                    },
                    format!(
                        "{tp}: {what} metric {name} averageValue {} → request-rate {v} req/s per pod (requests the pod's server completed per second)",
                        q.0
                    ),
                    warnings,
                )))
            }
            (t, _) => Ok(Err(format!(
                "{what} metric {name} with target type {t}: only AverageValue (per pod) maps to request-rate"
            ))),
        }
    };
    let with = |r: Result<Result<OneMetric, String>, ImportError>, extra: Vec<(String, String)>| {
        r.map(|r| {
            r.map(|(m, n, mut w)| {
                w.extend(extra);
                (m, n, w)
            })
        })
    };
    let selector_loss = |path: String, has: bool| {
        has.then(|| {
            (
                path,
                "a metric label selector has no equivalent: svclab measures every request the pod's server completes".to_owned(),
            )
        })
    };
    match m.type_.as_str() {
        "Resource" => match &m.resource {
            Some(r) => cpu(&r.name, &r.target, "resource", &format!("{mp}.resource.target")),
            None => Err(o.bad(&format!("{mp}.resource"), "missing; expected it with type Resource")),
        },
        "ContainerResource" => match &m.container_resource {
            Some(r) => with(
                cpu(&r.name, &r.target, "container resource", &format!("{mp}.containerResource.target")),
                vec![(
                    format!("{mp}.containerResource.container"),
                    format!("container {:?}: svclab's pod runs one server, so the ratio is the pod's, not one container's", r.container),
                )],
            ),
            None => Err(o.bad(&format!("{mp}.containerResource"), "missing; expected it with type ContainerResource")),
        },
        "Pods" => match &m.pods {
            Some(p) => with(
                rate(&p.metric.name, &p.target, &format!("{mp}.pods.target"), "Pods"),
                selector_loss(format!("{mp}.pods.metric.selector"), p.metric.selector.is_some()).into_iter().collect(),
            ),
            None => Err(o.bad(&format!("{mp}.pods"), "missing; expected it with type Pods")),
        },
        "Object" => match &m.object {
            Some(p) => with(
                rate(&p.metric.name, &p.target, &format!("{mp}.object.target"), "Object"),
                selector_loss(format!("{mp}.object.metric.selector"), p.metric.selector.is_some())
                    .into_iter()
                    .chain(std::iter::once((
                        format!("{mp}.object.describedObject"),
                        format!(
                            "{} {}: svclab measures the scaled pods' own request rate, per pod",
                            p.described_object.kind, p.described_object.name
                        ),
                    )))
                    .collect(),
            ),
            None => Err(o.bad(&format!("{mp}.object"), "missing; expected it with type Object")),
        },
        "External" => Ok(Err(
            "an External metric comes from outside the cluster (a queue, a cloud monitor); svclab has none".to_owned(),
        )),
        other => Err(o.bad(
            &format!("{mp}.type"),
            format!("expected Resource, ContainerResource, Pods, Object or External, got {other:?}"),
        )),
    }
}

/// Whether a metric's name says requests per second
/// (`http_requests_per_second`, `requests_rate`, `rps`, `qps`).
fn is_request_rate(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let request =
        n.contains("request") || n.contains("req_") || n.contains("rps") || n.contains("qps");
    let rate = n.contains("per_second")
        || n.contains("per_sec")
        || n.contains("rate")
        || n.contains("rps")
        || n.contains("qps")
        || n.ends_with("_ps");
    request && rate
}

/// A Kubernetes quantity as a number: `100`, `500m`, `2k`, `1.5`.
fn quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let (num, mul) = match q.char_indices().last()? {
        (k, 'm') => (&q[..k], 1e-3),
        (k, 'k') => (&q[..k], 1e3),
        (k, 'M') => (&q[..k], 1e6),
        _ => (q, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    v.is_finite().then_some(v * mul)
}
