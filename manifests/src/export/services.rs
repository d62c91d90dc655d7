//! Suite services → core/v1 Services (ports, selector, session affinity,
//! traffic policies and distribution, NodePort) and suite autoscalers →
//! autoscaling/v2 HorizontalPodAutoscalers (target, bounds, metric,
//! behavior).
use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        autoscaling::v2::{
            CrossVersionObjectReference, HPAScalingRules, HorizontalPodAutoscaler,
            HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricIdentifier,
            MetricSpec, MetricTarget, PodsMetricSource, ResourceMetricSource,
        },
        core::v1::{ClientIPConfig, Service, ServicePort, ServiceSpec, SessionAffinityConfig},
    },
    apimachinery::pkg::{apis::meta::v1::ObjectMeta, util::intstr::IntOrString},
};
use svclab_suite::{
    Dur, Suite,
    model::{HpaMetricKind, ServiceType, SessionAffinity, TrafficPolicy},
};

use super::{
    Area, ExportError, Notes, app_labels, quantity, secs_i32, to_yaml, workloads::HTTP_PORT,
};

/// The Pods metric a `request-rate` autoscaler reads (served by a custom
/// metrics adapter, e.g. prometheus-adapter).
pub const REQUEST_RATE_METRIC: &str = "http_requests_per_second";

/// The HPA's default tolerance (kube-controller-manager's
/// `--horizontal-pod-autoscaler-tolerance`).
const DEFAULT_TOLERANCE: f64 = 0.1;

/// The HPA's default sync period (`--horizontal-pod-autoscaler-sync-period`).
const DEFAULT_SYNC: Dur = Dur::from_secs(15);

fn policy(p: TrafficPolicy) -> String {
    match p {
        TrafficPolicy::Cluster => "Cluster",
        TrafficPolicy::Local => "Local",
    }
    .to_owned()
}

/// One YAML document per service.
pub(super) fn services(suite: &Suite, notes: &mut Notes) -> Result<Vec<String>, ExportError> {
    let mut docs = Vec::new();
    for s in &suite.services {
        // Only a NodePort the suite sets; else the cluster allocates one
        // (svclab's lowest-free choice is its own).
        let node_port = s
            .node_port
            .filter(|_| s.service_type == ServiceType::NodePort);
        let d = suite
            .deployments
            .iter()
            .find(|d| d.name == s.selector)
            .ok_or_else(|| ExportError::Dangling {
                field: format!("services[{}].selector", s.name),
                name: s.selector.clone(),
                what: "deployment",
            })?;
        let node_port_type = s.service_type == ServiceType::NodePort;
        let affinity = s.session_affinity == SessionAffinity::ClientIp;
        let svc = Service {
            metadata: ObjectMeta {
                name: Some(s.name.clone()),
                annotations: Some(BTreeMap::from([(
                    "svclab.io/cluster-ip".to_owned(),
                    format!(
                        "{} in the suite; not set here, as the cluster's service CIDR decides.",
                        s.cluster_ip
                    ),
                )])),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                type_: Some(
                    if node_port_type {
                        "NodePort"
                    } else {
                        "ClusterIP"
                    }
                    .to_owned(),
                ),
                selector: Some(app_labels(&s.selector)),
                ports: Some(vec![ServicePort {
                    name: Some(HTTP_PORT.to_owned()),
                    protocol: Some("TCP".to_owned()),
                    port: i32::from(s.port),
                    target_port: Some(IntOrString::Int(i32::from(
                        s.target_port.unwrap_or_else(|| d.port()),
                    ))),
                    node_port: node_port.map(i32::from),
                    ..ServicePort::default()
                }]),
                session_affinity: affinity.then(|| "ClientIP".to_owned()),
                session_affinity_config: affinity
                    .then_some(s.session_affinity_timeout)
                    .flatten()
                    .map(|t| SessionAffinityConfig {
                        client_ip: Some(ClientIPConfig {
                            timeout_seconds: Some(secs_i32(
                                t,
                                &format!("services[{}].session_affinity_timeout", s.name),
                                1,
                                Area::Services,
                                notes,
                            )),
                        }),
                    }),
                internal_traffic_policy: (s.internal_traffic_policy == TrafficPolicy::Local)
                    .then(|| policy(TrafficPolicy::Local)),
                external_traffic_policy: s.external_traffic_policy.map(policy),
                traffic_distribution: s.traffic_distribution.map(|_| "PreferClose".to_owned()),
                ..ServiceSpec::default()
            }),
            status: None,
        };
        docs.push(to_yaml("services.yaml", &svc)?);
    }
    Ok(docs)
}

/// One YAML document per autoscaler.
pub(super) fn autoscalers(suite: &Suite, notes: &mut Notes) -> Result<Vec<String>, ExportError> {
    let area = Area::Autoscalers;
    let mut docs = Vec::new();
    for a in &suite.autoscalers {
        let field = |f: &str| format!("autoscalers[{}].{f}", a.deployment);
        if !suite.deployments.iter().any(|d| d.name == a.deployment) {
            return Err(ExportError::Dangling {
                field: field("deployment"),
                name: a.deployment.clone(),
                what: "deployment",
            });
        }
        // Kubernetes takes whole percent, at least 1.
        let pct = a.metric.target * 100.0;
        let utilization = (pct.round() as i32).max(1);
        if a.metric.kind == HpaMetricKind::BusyWorkers
            && (f64::from(utilization) - pct).abs() > 1e-9
        {
            notes.add(
                area,
                format!(
                    "{} {}: averageUtilization takes a whole percentage of at least 1; written as {utilization}%.",
                    field("metric.target"),
                    a.metric.target
                ),
            );
        }
        let rate = super::quantity(a.metric.target);
        let rate = if a.metric.kind == HpaMetricKind::RequestRate && rate.0 == "0" {
            notes.add(
                area,
                format!(
                    "{} {}: below a milli-request per second; written as 1m, the smallest averageValue above 0.",
                    field("metric.target"),
                    a.metric.target
                ),
            );
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("1m".to_owned())
        } else {
            rate
        };
        let (metric, annotation) = match a.metric.kind {
            HpaMetricKind::BusyWorkers => (
                MetricSpec {
                    type_: "Resource".to_owned(),
                    resource: Some(ResourceMetricSource {
                        name: "cpu".to_owned(),
                        target: MetricTarget {
                            type_: "Utilization".to_owned(),
                            average_utilization: Some(utilization),
                            ..MetricTarget::default()
                        },
                    }),
                    ..MetricSpec::default()
                },
                format!(
                    "busy-workers target {}: svclab's busy-worker ratio stands in for CPU utilization (averageUtilization {}% of the CPU request, which defaults to the limit).",
                    a.metric.target, utilization
                ),
            ),
            HpaMetricKind::RequestRate => (
                MetricSpec {
                    type_: "Pods".to_owned(),
                    pods: Some(PodsMetricSource {
                        metric: MetricIdentifier {
                            name: REQUEST_RATE_METRIC.to_owned(),
                            selector: None,
                        },
                        target: MetricTarget {
                            type_: "AverageValue".to_owned(),
                            average_value: Some(rate),
                            ..MetricTarget::default()
                        },
                    }),
                    ..MetricSpec::default()
                },
                format!(
                    "request-rate target {}/s per pod: a Pods metric {REQUEST_RATE_METRIC} that a custom metrics adapter (e.g. prometheus-adapter) must serve.",
                    a.metric.target
                ),
            ),
        };
        if a.sync_period != DEFAULT_SYNC {
            notes.add(
                area,
                format!(
                    "{} {}: kube-controller-manager's --horizontal-pod-autoscaler-sync-period, a flag of the control plane, not of the HPA.",
                    field("sync_period"),
                    a.sync_period
                ),
            );
        }
        let tolerance = ((a.tolerance - DEFAULT_TOLERANCE).abs() > 1e-9).then(|| {
            notes.add(
                area,
                format!(
                    "{} {}: written as behavior.scaleUp/scaleDown.tolerance, an alpha field in v1.33 (feature gate HPAConfigurableTolerance); else the cluster's --horizontal-pod-autoscaler-tolerance applies.",
                    field("tolerance"),
                    a.tolerance
                ),
            );
            quantity(a.tolerance)
        });
        let rules = |window: Dur, f: &str, notes: &mut Notes| HPAScalingRules {
            stabilization_window_seconds: Some(secs_i32(window, &field(f), 0, area, notes)),
            tolerance: tolerance.clone(),
            ..HPAScalingRules::default()
        };
        let hpa = HorizontalPodAutoscaler {
            metadata: ObjectMeta {
                name: Some(a.deployment.clone()),
                annotations: Some(BTreeMap::from([(
                    "svclab.io/metric".to_owned(),
                    annotation,
                )])),
                ..ObjectMeta::default()
            },
            spec: Some(HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".to_owned()),
                    kind: "Deployment".to_owned(),
                    name: a.deployment.clone(),
                },
                min_replicas: Some(i32::try_from(a.min_replicas).unwrap_or(i32::MAX)),
                max_replicas: i32::try_from(a.max_replicas).unwrap_or(i32::MAX),
                metrics: Some(vec![metric]),
                behavior: Some(HorizontalPodAutoscalerBehavior {
                    scale_up: Some(rules(
                        a.scale_up_stabilization,
                        "scale_up_stabilization",
                        notes,
                    )),
                    scale_down: Some(rules(
                        a.scale_down_stabilization,
                        "scale_down_stabilization",
                        notes,
                    )),
                }),
            }),
            status: None,
        };
        docs.push(to_yaml("autoscalers.yaml", &hpa)?);
    }
    Ok(docs)
}
