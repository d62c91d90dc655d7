//! The Deployment controller's rollouts: a `rollout` action bumps the
//! deployment's template revision (a new ReplicaSet); every control pass
//! [`Cluster::rollout_tick`] runs one sync as kubernetes v1.31
//! pkg/controller/deployment does (rolling.go rolloutRolling: scale the
//! new ReplicaSet up if the surge allows, else the old ones down if
//! availability allows; recreate.go rolloutRecreate), with the arithmetic
//! in [`svclab_kube::deployment`]; then a ReplicaSet pass makes each set's
//! pods match its replicas (new pods, or graceful deletes in
//! ActivePodsWithRanks order). Every older revision counts as one old
//! ReplicaSet. Available = ready for min_ready_seconds.
use std::{collections::BTreeMap, time::Duration};

use anyhow::Context as _;
use svclab_kube::deployment::{self as kd, Fencepost, PodRank, RecreateStep, RsCounts};
use svclab_suite::model::{IntOrPercent, PodTemplate, StrategyType};

use super::{
    inflight::Rollout,
    state::{Cluster, Pod},
};

fn fencepost(v: &IntOrPercent) -> Fencepost {
    match v {
        IntOrPercent::Count(n) => Fencepost::Count(*n),
        IntOrPercent::Percent(_) => Fencepost::Percent(v.percent().unwrap_or(25)),
    }
}

impl Cluster {
    /// Starts a rollout of `deployment` to `template`; its words.
    pub fn rollout(&mut self, deployment: &str, template: &PodTemplate) -> anyhow::Result<String> {
        let now = self.now();
        let scale = self.kube_scale;
        // A rollout started during another one takes over (Kubernetes'
        // rollover): the older new set becomes old.
        for r in &mut self.rollouts {
            if r.deployment == deployment {
                r.done = true;
            }
        }
        let d = self
            .deployments
            .get_mut(deployment)
            .with_context(|| format!("unknown deployment {deployment}"))?;
        d.revision += 1;
        if let Some(s) = &template.server {
            d.spec.server = s.clone();
        }
        if let Some(c) = &template.container {
            d.spec.container = Some(c.clone());
        }
        let revision = d.revision;
        let desired = d.spec.replicas;
        let strategy = d.spec.strategy.clone();
        let min_ready = d.spec.min_ready_seconds.0.mul_f64(scale);
        let old = self.running_of(deployment, |p| p.revision < revision).len();
        let (surge, unavailable) = kd::resolve_fenceposts(
            fencepost(&strategy.max_surge),
            fencepost(&strategy.max_unavailable),
            desired,
        );
        self.rollouts.push(Rollout {
            deployment: deployment.to_owned(),
            revision,
            strategy: strategy.clone(),
            min_ready,
            started: now,
            started_s: self.record_s(now),
            complete_s: None,
            steps: vec![(
                self.record_s(now),
                u32::try_from(old).unwrap_or(u32::MAX),
                0,
            )],
            old_replicas: u32::try_from(old).unwrap_or(u32::MAX),
            new_replicas: 0,
            done: false,
        });
        Ok(match strategy.kind {
            StrategyType::RollingUpdate => format!(
                "rollout {deployment} to revision {revision}: RollingUpdate of {desired} pods, max surge {surge}, max unavailable {unavailable}"
            ),
            StrategyType::Recreate => {
                format!("rollout {deployment} to revision {revision}: Recreate of {desired} pods")
            }
        })
    }

    /// Pods of `deployment` not being deleted that `f` selects.
    fn running_of(&self, deployment: &str, f: impl Fn(&Pod) -> bool) -> Vec<&Pod> {
        self.pods
            .values()
            .filter(|p| p.deployment == deployment && p.active() && f(p))
            .collect()
    }

    /// Available: ready for at least `min_ready` (deployment_util.go
    /// IsPodAvailable via podutil).
    fn available(p: &Pod, min_ready: Duration, now: Duration) -> bool {
        p.kubelet.ready() && now.saturating_sub(p.kubelet.ready_transition) >= min_ready
    }

    /// The pods of `deployment` that `f` selects, in the order a
    /// ReplicaSet deletes them ([`kd::victim_order`]).
    pub(super) fn victim_order(&self, deployment: &str, f: impl Fn(&Pod) -> bool) -> Vec<String> {
        let now = self.now();
        let pods = self.running_of(deployment, f);
        // The rank counts the related pods on the same node: every active
        // pod of the deployment, whichever ReplicaSet (replica_set.go
        // getIndirectlyRelatedPods → getPodsRankedByRelatedPodsOnSameNode).
        let mut per_node: BTreeMap<u8, u32> = BTreeMap::new();
        for p in self.running_of(deployment, |_| true) {
            *per_node.entry(p.node).or_default() += 1;
        }
        let ranks: Vec<PodRank> = pods
            .iter()
            .map(|p| PodRank {
                name: p.name.clone(),
                pending: p.kubelet.pending(),
                ready: p.kubelet.ready(),
                ready_since: p.kubelet.ready().then_some(p.kubelet.ready_transition),
                restarts: p.kubelet.restarts,
                created: p.kubelet.phases.first().map_or(Duration::ZERO, |(t, _)| *t),
                on_same_node: per_node.get(&p.node).copied().unwrap_or(0),
            })
            .collect();
        kd::victim_order(ranks, now)
            .into_iter()
            .map(|r| r.name)
            .collect()
    }

    /// One Deployment controller sync per rollout in progress, then the
    /// ReplicaSet pass.
    pub fn rollout_tick(&mut self) -> anyhow::Result<()> {
        for i in 0..self.rollouts.len() {
            if !self.rollouts[i].done {
                self.sync_rollout(i)?;
            }
        }
        Ok(())
    }

    fn sync_rollout(&mut self, i: usize) -> anyhow::Result<()> {
        let now = self.now();
        let now_s = self.record_s(now);
        let (dep, rev, min_ready) = {
            let r = &self.rollouts[i];
            (r.deployment.clone(), r.revision, r.min_ready)
        };
        let desired = self.deployments.get(&dep).map_or(0, |d| d.spec.replicas);
        let new_pods = self.running_of(&dep, |p| p.revision == rev);
        let old_pods = self.running_of(&dep, |p| p.revision < rev);
        let new_avail = new_pods
            .iter()
            .filter(|p| Self::available(p, min_ready, now))
            .count();
        let old_avail = old_pods
            .iter()
            .filter(|p| Self::available(p, min_ready, now))
            .count();
        let (n_new, n_old) = (new_pods.len(), old_pods.len());
        // Old pods still running, terminating ones included (recreate.go oldPodsRunning).
        let old_running = self
            .pods
            .values()
            .filter(|p| p.deployment == dep && p.revision < rev)
            .count();
        let u = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let r = &mut self.rollouts[i];
        let mut what = None;
        match r.strategy.kind {
            StrategyType::RollingUpdate => {
                let (sg, ua) = (
                    fencepost(&r.strategy.max_surge),
                    fencepost(&r.strategy.max_unavailable),
                );
                let (surge, _) = kd::resolve_fenceposts(sg, ua, desired);
                let max_unavailable = kd::max_unavailable(sg, ua, desired);
                let n = kd::new_rs_new_replicas(
                    desired,
                    surge,
                    r.old_replicas + r.new_replicas,
                    r.new_replicas,
                );
                if n != r.new_replicas {
                    what = Some(format!(
                        "scale up new ReplicaSet (revision {rev}) {} → {n}",
                        r.new_replicas
                    ));
                    r.new_replicas = n;
                } else if let Some(v) = kd::old_rs_scale_down(
                    desired,
                    max_unavailable,
                    RsCounts {
                        replicas: r.new_replicas,
                        available: u(new_avail),
                    },
                    &[RsCounts {
                        replicas: r.old_replicas,
                        available: u(old_avail),
                    }],
                ) {
                    what = Some(format!(
                        "scale down old ReplicaSet {} → {}",
                        r.old_replicas, v[0]
                    ));
                    r.old_replicas = v[0];
                }
            }
            StrategyType::Recreate => {
                match kd::recreate_step(r.old_replicas, u(old_running), r.new_replicas, desired) {
                    RecreateStep::ScaleDownOld => {
                        what = Some(format!("scale down old ReplicaSet {} → 0", r.old_replicas));
                        r.old_replicas = 0;
                    }
                    RecreateStep::ScaleUpNew => {
                        what = Some(format!(
                            "scale up new ReplicaSet (revision {rev}) 0 → {desired}"
                        ));
                        r.new_replicas = desired;
                    }
                    RecreateStep::WaitOldGone | RecreateStep::Done => {}
                }
            }
        }
        let (want_new, want_old, started) = (r.new_replicas, r.old_replicas, r.started);
        if what.is_some() {
            r.steps.push((now_s, want_old, want_new));
        }
        if let Some(w) = what {
            self.event(now_s, "rollout_step", format!("{dep}: {w}"), false);
        }
        // ReplicaSet controller: pods to match replicas.
        for _ in n_new..usize::try_from(want_new).unwrap_or(0) {
            self.create_pod(&dep, now_s, false)?;
        }
        let extra = n_old.saturating_sub(usize::try_from(want_old).unwrap_or(0));
        if extra > 0 {
            let victims: Vec<String> = self
                .victim_order(&dep, |p| p.revision < rev)
                .into_iter()
                .take(extra)
                .collect();
            self.event(
                now_s,
                "scale_down_victims",
                format!(
                    "old ReplicaSet deletes {} (ActivePodsWithRanks order)",
                    victims.join(", ")
                ),
                false,
            );
            for v in &victims {
                self.start_termination(v, now_s)?;
            }
        }
        if want_new > u(n_new) || extra > 0 {
            self.sync_endpoints()?;
        }
        if want_old == 0
            && n_old == 0
            && kd::complete(desired, u(n_new), u(n_new + n_old), u(new_avail))
        {
            self.rollouts[i].done = true;
            self.rollouts[i].complete_s = Some(now_s);
            self.event(
                now_s,
                "rollout_complete",
                format!(
                    "{dep} revision {rev} complete after {:.2}s",
                    now.saturating_sub(started).as_secs_f64()
                ),
                true,
            );
        }
        Ok(())
    }
}
