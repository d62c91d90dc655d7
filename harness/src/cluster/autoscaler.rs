//! The HPA controller loop for one deployment: every sync period it reads
//! each pod's metric from the pod's kubelet telemetry, asks
//! `svclab_kube::hpa` for the desired replicas and hands them to the
//! cluster. Which metric and why is the suite's choice (busy-worker ratio
//! follows Kubernetes' CPU rules, request rate the Pods-metric rules).
use std::time::Duration;

use svclab_kube::hpa::{Hpa, HpaDecision, HpaSpec, MetricSource};
use svclab_suite::model::{self, HpaMetricKind};

pub struct Autoscaler {
    pub deployment: String,
    pub metric: HpaMetricKind,
    hpa: Hpa,
    /// Scaled sync period.
    pub sync: Duration,
    next: Duration,
    /// The last decision, for telemetry.
    pub last: Option<HpaDecision>,
}

impl Autoscaler {
    pub fn new(spec: &model::Autoscaler, scale: f64, now: Duration) -> Self {
        let source = match spec.metric.kind {
            HpaMetricKind::BusyWorkers => MetricSource::Resource,
            HpaMetricKind::RequestRate => MetricSource::Pods,
        };
        let mut s = HpaSpec::with_defaults(
            spec.min_replicas,
            spec.max_replicas,
            spec.metric.target,
            source,
            scale,
        );
        s.tolerance = spec.tolerance;
        s.scale_up_stabilization = spec.scale_up_stabilization.0.mul_f64(scale);
        s.scale_down_stabilization = spec.scale_down_stabilization.0.mul_f64(scale);
        let sync = spec.sync_period.0.mul_f64(scale);
        Self {
            deployment: spec.deployment.clone(),
            metric: spec.metric.kind,
            hpa: Hpa::new(s),
            sync,
            next: now + sync,
            last: None,
        }
    }

    pub fn due(&self, now: Duration) -> bool {
        now >= self.next
    }

    pub fn reconcile(
        &mut self,
        now: Duration,
        current: u32,
        pods: &[svclab_kube::hpa::PodView],
    ) -> HpaDecision {
        self.next = now + self.sync;
        let d = self.hpa.reconcile(now, current, pods);
        self.last = Some(d.clone());
        d
    }

    /// The settings in words for the report.
    pub fn describe(&self) -> String {
        let s = self.hpa.spec();
        let metric = match self.metric {
            HpaMetricKind::BusyWorkers => format!("busy-worker ratio target {}", s.target),
            HpaMetricKind::RequestRate => format!("request rate target {} req/s per pod", s.target),
        };
        format!(
            "{}: {metric}, replicas {}..={}, tolerance {}, sync period {:?}, scale-up stabilization {:?}, scale-down stabilization {:?}",
            self.deployment,
            s.min_replicas,
            s.max_replicas,
            s.tolerance,
            self.sync,
            s.scale_up_stabilization,
            s.scale_down_stabilization
        )
    }
}
