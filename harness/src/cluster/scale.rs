//! Changing how many pods a deployment has: scale (up: new pods, flagged as
//! the last scale-up's; down: graceful deletes in the ReplicaSet
//! controller's order), kill (SIGKILL and replace), delete (terminating →
//! SIGTERM → removal, replaced), and the autoscalers' syncs that call scale.
use std::time::Duration;

use anyhow::Context as _;

use super::state::{Cluster, Pod};

impl Cluster {
    /// The deployment's pods that are not being deleted, oldest first.
    fn running(&self, deployment: &str) -> Vec<String> {
        // Creation order = ordinal order; names sort by ordinal only when
        // widths match, so sort by the report index.
        let mut v: Vec<&Pod> = self
            .pods
            .values()
            .filter(|p| p.deployment == deployment && p.active())
            .collect();
        v.sort_by_key(|p| p.info);
        v.into_iter().map(|p| p.name.clone()).collect()
    }

    /// Which pods a scale-down deletes first, as the ReplicaSet controller
    /// ranks them ([`svclab_kube::deployment::victim_order`]).
    fn scale_down_order(&self, deployment: &str) -> Vec<String> {
        self.victim_order(deployment, |_| true)
    }

    /// Sets a deployment's replicas: new pods on scale-up (flagged as the
    /// last scale-up's); on scale-down pods are deleted gracefully in the
    /// ReplicaSet controller's order ([`Cluster::scale_down_order`]).
    pub fn scale(
        &mut self,
        deployment: &str,
        replicas: u32,
        now_s: f64,
        initial: bool,
    ) -> anyhow::Result<()> {
        let current = self.running(deployment);
        let want = usize::try_from(replicas).unwrap_or(0);
        if let Some(d) = self.deployments.get_mut(deployment) {
            d.spec.replicas = replicas;
        }
        if want > current.len() {
            let added = self.create_pods(deployment, want - current.len(), now_s, false)?;
            if !initial {
                for b in &mut self.backends {
                    if b.deployment == deployment {
                        b.added_by_last_scale_up = added.contains(&b.name);
                    }
                }
            }
        } else {
            let victims: Vec<String> = self
                .scale_down_order(deployment)
                .into_iter()
                .take(current.len() - want)
                .collect();
            for name in &victims {
                self.delete(name, now_s, false)?;
            }
            if !victims.is_empty() {
                self.event(
                    now_s,
                    "scale_down_victims",
                    format!(
                        "ReplicaSet deletes {} (pending, not ready, doubled up on a node, ready for less time, more restarts, newer first)",
                        victims.join(", ")
                    ),
                    false,
                );
            }
        }
        self.sync_endpoints()
    }

    /// SIGKILLs the `count` oldest running pods of `deployment` and replaces them.
    pub fn kill(
        &mut self,
        deployment: &str,
        count: u32,
        now_s: f64,
    ) -> anyhow::Result<Vec<String>> {
        let victims: Vec<String> = self
            .running(deployment)
            .into_iter()
            .take(usize::try_from(count).unwrap_or(0))
            .collect();
        for v in &victims {
            if let Some(p) = self.pods.get_mut(v) {
                p.kubelet.kill_now();
                let i = p.info;
                self.backends[i].killed = true;
            }
            self.remove(v, now_s)?;
        }
        self.sync_endpoints()?;
        for _ in &victims {
            self.create_pod(deployment, now_s, true)?;
        }
        self.sync_endpoints()?;
        Ok(victims)
    }

    /// Deletes the `index`-th running pod gracefully: terminating in the
    /// datapath first (existing flows drain), SIGTERM, then removal; replaced.
    pub fn delete_pod(
        &mut self,
        deployment: &str,
        index: u32,
        now_s: f64,
    ) -> anyhow::Result<String> {
        let running = self.running(deployment);
        let name = running
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .cloned()
            .with_context(|| format!("{deployment} has no running pod #{index}"))?;
        self.delete(&name, now_s, true)?;
        self.create_pod(deployment, now_s, true)?;
        self.sync_endpoints()?;
        Ok(name)
    }

    /// Deletes a pod gracefully: terminating endpoint, preStop, SIGTERM,
    /// SIGKILL after the grace (`terminate.rs`, advanced each pass).
    fn delete(&mut self, name: &str, now_s: f64, killed: bool) -> anyhow::Result<()> {
        if let Some(p) = self.pods.get(name) {
            let i = p.info;
            self.backends[i].killed |= killed;
        }
        self.start_termination(name, now_s)
    }

    /// Runs every autoscaler whose sync period is due.
    pub fn autoscale(&mut self) -> anyhow::Result<()> {
        let now = self.now();
        let now_s = self.record_s(now);
        for i in 0..self.autoscalers.len() {
            if !self.autoscalers[i].due(now) {
                continue;
            }
            let dep = self.autoscalers[i].deployment.clone();
            let kind = self.autoscalers[i].metric;
            let window = self.autoscalers[i].sync;
            let views: Vec<svclab_kube::hpa::PodView> = self
                .pods
                .values()
                .filter(|p| p.deployment == dep)
                .map(|p| {
                    let k = &p.kubelet;
                    svclab_kube::hpa::PodView {
                        name: p.name.clone(),
                        pending: k.pending(),
                        deleting: !p.active(),
                        failed: false,
                        ready: k.ready(),
                        start: k.phases.first().map_or(Duration::ZERO, |(t, _)| *t),
                        ready_transition: k.ready_transition,
                        metric: k.hpa_metric(kind, now, window).map(|value| {
                            svclab_kube::hpa::PodMetric {
                                value,
                                timestamp: now,
                                window,
                            }
                        }),
                    }
                })
                .collect();
            let current = self.deployments.get(&dep).map_or(0, |d| d.spec.replicas);
            let d = self.autoscalers[i].reconcile(now, current, &views);
            let rec = d.recommendation.clone().unwrap_or_default();
            tracing::info!(
                ready = rec.ready,
                unready = rec.unready,
                missing = rec.missing,
                "HPA sync: {dep} {current} → {} (metric {}){}",
                d.desired,
                rec.usage.map_or("n/a".to_owned(), |u| format!("{u:.2}")),
                d.limited_by
                    .map_or(String::new(), |l| format!(", limited by {l}")),
            );
            if d.desired != current {
                self.event(
                    now_s,
                    "hpa_scale",
                    format!(
                        "HPA {dep} {current} → {} (metric {}, {} ready, {} not ready, {} missing)",
                        d.desired,
                        rec.usage.map_or("n/a".to_owned(), |u| format!("{u:.2}")),
                        rec.ready,
                        rec.unready,
                        rec.missing
                    ),
                    false,
                );
                self.scale(&dep, d.desired, now_s, false)?;
            }
        }
        Ok(())
    }
}
