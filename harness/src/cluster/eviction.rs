//! What the node-lifecycle controller's decisions (`nodelifecycle.rs`)
//! do to the cluster: a NotReady node's pods are not ready in the API
//! (their endpoints leave every service), nothing is scheduled onto it,
//! and once its `unreachable:NoExecute` taint has outlasted a pod's
//! toleration the taint-eviction controller deletes that pod and its
//! ReplicaSet creates a replacement on a Ready node. The pod's kubelet,
//! cut off, learns of the deletion only when the node is back, and then
//! terminates it as any deleted pod (preStop, SIGTERM, grace). The pod
//! timeline shows the API's view: Ready pods of a NotReady node as not
//! ready, an evicted pod as terminating.
//!
//! Kubernetes v1.31: pkg/controller/tainteviction/taint_eviction.go
//! (`processPodOnNode`: delete at the taint's observation +
//! `getMinTolerationTime`), pkg/controller/replicaset/replica_set.go
//! (`FilterActivePods` leaves out pods with a DeletionTimestamp, so the
//! evicted pod is replaced at once), the scheduler's TaintToleration
//! filter against the `unreachable:NoSchedule` taint
//! (`doNoScheduleTaintingPass`, node_lifecycle_controller.go).
use std::time::{Duration, Instant};

use svclab_report::record::{PhaseChange, PodPhase};

use super::{
    nodelifecycle::NodeChange,
    state::{Cluster, Pod},
};

impl Cluster {
    /// Whether the node-lifecycle controller has node `n` Ready.
    pub fn node_ready(&self, n: u8) -> bool {
        self.leases
            .as_ref()
            .is_none_or(|l| !l.not_ready.contains(&n))
    }

    /// A pod's Ready condition as the API has it: its kubelet's readiness,
    /// unless the node-lifecycle controller marked it not ready or it was
    /// evicted.
    pub fn pod_ready(&self, p: &Pod) -> bool {
        p.kubelet.ready() && self.node_ready(p.node) && p.evicted_s.is_none()
    }

    /// The node-lifecycle controller's pass when due (nodes whose lease
    /// went stale turn NotReady with their pods, nodes renewing again turn
    /// Ready, taints come and go), then the evictions whose toleration ran
    /// out.
    pub fn node_lifecycle_tick(&mut self) -> anyhow::Result<()> {
        let Some(leases) = self.leases.as_mut() else {
            return Ok(());
        };
        let changes = leases.check(Instant::now());
        let (_, grace) = leases.timings();
        let t = self.run_time_s();
        let mut sync = !changes.is_empty();
        for c in changes {
            match c {
                NodeChange::NotReady(n, since) => {
                    self.node_windows.push((n, t, None));
                    let pods = self.pods_on(n);
                    self.event(
                        t,
                        "node_not_ready",
                        format!(
                            "node {n} NotReady: no lease renewal for {:.1} s (grace {:.1} s); pods marked not ready: {pods}",
                            since.as_secs_f64(),
                            grace.as_secs_f64()
                        ),
                        false,
                    );
                }
                NodeChange::Ready(n) => {
                    if let Some(w) = self
                        .node_windows
                        .iter_mut()
                        .rev()
                        .find(|w| w.0 == n && w.2.is_none())
                    {
                        w.2 = Some(t);
                    }
                    let pods = self.pods_on(n);
                    self.event(
                        t,
                        "node_ready",
                        format!(
                            "node {n} Ready: its lease renews again; its pods report their own readiness ({pods})"
                        ),
                        false,
                    );
                    // Its kubelet sees the deletions made while it was cut
                    // off, before any endpoint turns ready again.
                    let evicted: Vec<String> = self
                        .pods
                        .values()
                        .filter(|p| p.node == n && p.evicted_s.is_some() && !p.kubelet.deleting)
                        .map(|p| p.name.clone())
                        .collect();
                    for name in evicted {
                        self.start_termination(&name, t)?;
                    }
                }
                NodeChange::Tainted(n) => {
                    let tolerations = self.tolerations_on(n);
                    self.event(
                        t,
                        "node_tainted",
                        format!(
                            "node {n} tainted node.kubernetes.io/unreachable:NoExecute; its pods are evicted after their toleration ({tolerations})"
                        ),
                        false,
                    );
                }
                NodeChange::Untainted(n, why) => self.event(
                    t,
                    "node_untainted",
                    format!("node {n} untainted: {why}"),
                    false,
                ),
            }
        }
        sync |= self.evict_due(t)?;
        if sync {
            self.sync_endpoints()?;
        }
        Ok(())
    }

    /// `a-0, a-1` (or `no pods`) on node `n`.
    fn pods_on(&self, n: u8) -> String {
        let pods: Vec<&str> = self
            .pods
            .values()
            .filter(|p| p.node == n && p.active())
            .map(|p| p.name.as_str())
            .collect();
        if pods.is_empty() {
            "no pods".to_owned()
        } else {
            pods.join(", ")
        }
    }

    /// A deployment's scaled toleration of the unreachable taint.
    fn toleration(&self, deployment: &str) -> Duration {
        self.deployments
            .get(deployment)
            .map_or(Duration::from_secs(300), |d| {
                d.spec.unreachable_toleration.0
            })
            .mul_f64(self.kube_scale)
    }

    /// `web 300 s, api 30 s` for the deployments with pods on node `n`.
    fn tolerations_on(&self, n: u8) -> String {
        let mut deps: Vec<&str> = self
            .pods
            .values()
            .filter(|p| p.node == n && p.active())
            .map(|p| p.deployment.as_str())
            .collect();
        deps.sort_unstable();
        deps.dedup();
        if deps.is_empty() {
            return "no pods".to_owned();
        }
        deps.iter()
            .map(|d| format!("{d} {:.0} s", self.toleration(d).as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Evicts every active pod on a tainted node whose toleration ran out
    /// and replaces it; whether any was.
    fn evict_due(&mut self, t: f64) -> anyhow::Result<bool> {
        let Some(leases) = self.leases.as_ref() else {
            return Ok(false);
        };
        let now = Instant::now();
        let mut due: Vec<(String, String, u8, Duration)> = Vec::new();
        for (&n, &since) in &leases.tainted {
            for p in self.pods.values().filter(|p| p.node == n && p.active()) {
                let tol = self.toleration(&p.deployment);
                // The controller's timer starts when it sees the pod on the
                // tainted node: the taint, or the pod's creation if later
                // (a replacement that had nowhere else to go).
                let created = self.epoch + p.kubelet.phases.first().map_or(Duration::ZERO, |c| c.0);
                if now.saturating_duration_since(since.max(created)) >= tol {
                    due.push((p.name.clone(), p.deployment.clone(), n, tol));
                }
            }
        }
        for (name, deployment, n, tol) in &due {
            if let Some(p) = self.pods.get_mut(name) {
                p.evicted_s = Some(t);
            }
            self.event(
                t,
                "pod_evicted",
                format!(
                    "{name} evicted: node {n} unreachable past its {:.0} s toleration; its kubelet learns of it when the node is back",
                    tol.as_secs_f64()
                ),
                false,
            );
            let new = self.create_pod(deployment, t, true)?;
            self.event(
                t,
                "pod_replaced",
                format!("ReplicaSet replaces evicted {name} with {new}"),
                false,
            );
        }
        Ok(!due.is_empty())
    }

    /// Nodes a new pod may be scheduled on: Ready ones (the scheduler's
    /// TaintToleration filter against `unreachable:NoSchedule`).
    pub(super) fn schedulable(&self, n: u8) -> bool {
        self.node_ready(n)
    }

    /// The NotReady windows of node `n`.
    pub(super) fn not_ready_windows(&self, n: u8) -> Vec<(f64, Option<f64>)> {
        self.node_windows
            .iter()
            .filter(|w| w.0 == n)
            .map(|w| (w.1, w.2))
            .collect()
    }
}

/// A pod's phases as the API shows them: its kubelet's, except that while
/// its node is NotReady a Ready pod is not ready (`MarkPodsNotReady`), and
/// from its eviction on it is terminating (a DeletionTimestamp).
pub(super) fn api_phases(
    kubelet: &[PhaseChange],
    not_ready: &[(f64, Option<f64>)],
    evicted_s: Option<f64>,
) -> Vec<PhaseChange> {
    let mut times: Vec<f64> = kubelet.iter().map(|c| c.t_s).collect();
    for (from, to) in not_ready {
        times.push(*from);
        times.extend(*to);
    }
    times.extend(evicted_s);
    times.sort_by(f64::total_cmp);
    times.dedup();
    let start = kubelet.first().map_or(f64::INFINITY, |c| c.t_s);
    let mut out: Vec<PhaseChange> = Vec::new();
    for t in times.into_iter().filter(|t| *t >= start) {
        let own = kubelet
            .iter()
            .rev()
            .find(|c| c.t_s <= t)
            .map_or(PodPhase::Pending, |c| c.phase);
        let cut = not_ready
            .iter()
            .any(|(from, to)| *from <= t && to.is_none_or(|to| t < to));
        let phase = if evicted_s.is_some_and(|e| e <= t) {
            PodPhase::Terminating
        } else if cut && own == PodPhase::Ready {
            PodPhase::NotReady
        } else {
            own
        };
        if out.last().is_none_or(|c| c.phase != phase) {
            out.push(PhaseChange { t_s: t, phase });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(t_s: f64, phase: PodPhase) -> PhaseChange {
        PhaseChange { t_s, phase }
    }

    #[test]
    fn a_cut_off_node_shows_its_ready_pods_not_ready_and_an_eviction_as_terminating() {
        use PodPhase::{NotReady, Pending, Ready, Running, Terminating};
        let kubelet = [ch(0.0, Pending), ch(1.0, Running), ch(2.0, Ready)];
        // NotReady 50–75: not ready, then its own Ready again.
        assert_eq!(
            api_phases(&kubelet, &[(50.0, Some(75.0))], None),
            vec![
                ch(0.0, Pending),
                ch(1.0, Running),
                ch(2.0, Ready),
                ch(50.0, NotReady),
                ch(75.0, Ready)
            ]
        );
        // Still NotReady at the end, evicted at 60: terminating from 60.
        assert_eq!(
            api_phases(&kubelet, &[(50.0, None)], Some(60.0)),
            vec![
                ch(0.0, Pending),
                ch(1.0, Running),
                ch(2.0, Ready),
                ch(50.0, NotReady),
                ch(60.0, Terminating)
            ]
        );
        // A pod that was not Ready keeps its own phase; a window before
        // the pod existed changes nothing.
        let starting = [ch(52.0, Pending), ch(53.0, Running)];
        assert_eq!(
            api_phases(&starting, &[(10.0, Some(20.0)), (50.0, None)], None),
            starting.to_vec()
        );
    }
}
