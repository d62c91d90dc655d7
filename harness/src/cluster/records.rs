//! What the cluster tells the run record and `svclab inspect`: pod
//! telemetry samples, per-bucket pod and deployment figures, every pod's
//! lifecycle record, and the state file's contents.
use std::collections::BTreeMap;

use svclab_report::record::{DeploymentBucket, PodBucket, PodRecord};

use super::{
    state::{Cluster, Pod},
    state_file,
};

impl Cluster {
    fn ready_of(&self, deployment: &str) -> u32 {
        let n = self
            .pods
            .values()
            .filter(|p| p.deployment == deployment && p.kubelet.ready())
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    pub(super) fn note_ready(&mut self) {
        let names: Vec<String> = self.deployments.keys().cloned().collect();
        for d in names {
            let r = self.ready_of(&d);
            let m = self.ready_min.entry(d).or_insert(r);
            *m = (*m).min(r);
        }
    }

    /// One telemetry sample of every pod (accept queue, busy workers).
    pub fn sample_pods(&mut self) {
        let now = self.now();
        for p in self.pods.values_mut() {
            let window = self
                .autoscalers
                .iter()
                .filter(|a| a.deployment == p.deployment)
                .map(|a| a.sync)
                .max();
            p.kubelet.sample(now, window);
        }
    }

    /// Closes a bucket: per-pod and per-deployment figures since the last call.
    pub fn take_buckets(
        &mut self,
    ) -> (
        BTreeMap<String, PodBucket>,
        BTreeMap<String, DeploymentBucket>,
    ) {
        let pods = self
            .pods
            .iter_mut()
            .map(|(n, p)| (n.clone(), p.kubelet.take_bucket()))
            .collect();
        let mut deps = BTreeMap::new();
        let names: Vec<String> = self.deployments.keys().cloned().collect();
        for d in names {
            let ready = self.ready_of(&d);
            let hpa = self.autoscalers.iter().find(|a| a.deployment == d);
            let dep = DeploymentBucket {
                desired: self.deployments[&d].spec.replicas,
                pods: u32::try_from(self.pods.values().filter(|p| p.deployment == d).count())
                    .unwrap_or(u32::MAX),
                ready,
                ready_min: self.ready_min.remove(&d).unwrap_or(ready).min(ready),
                hpa_desired: hpa.and_then(|a| a.last.as_ref()).map(|l| l.desired),
                hpa_metric: hpa
                    .and_then(|a| a.last.as_ref())
                    .and_then(|l| l.recommendation.as_ref())
                    .and_then(|r| r.usage),
            };
            deps.insert(d, dep);
        }
        (pods, deps)
    }

    /// What `svclab inspect` needs to find this run's maps and name things.
    pub fn state(
        &self,
        run_id: &str,
        prefix: &str,
        held: bool,
    ) -> anyhow::Result<state_file::RunState> {
        let mut nodes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            nodes.push(state_file::NodeMaps {
                node: u8::try_from(i).unwrap_or(u8::MAX),
                netns: n.netns.name().to_owned(),
                engine: n.dataplane.engine().to_owned(),
                maps: n.dataplane.inspect_ids(),
            });
        }
        Ok(state_file::RunState {
            run_id: run_id.to_owned(),
            prefix: prefix.to_owned(),
            pid: std::process::id(),
            held,
            nodes,
            backends: self
                .backends
                .iter()
                .map(|b| (b.addr.clone(), b.name.clone()))
                .collect(),
            pods: self
                .pods
                .values()
                .map(|p| state_file::PodState {
                    name: p.name.clone(),
                    deployment: p.deployment.clone(),
                    node: p.node,
                    ip: p.ip.to_string(),
                    phase: p.kubelet.phase().word().to_owned(),
                    pid: p.pid(),
                })
                .collect(),
        })
    }

    pub(super) fn pod_record(&self, p: &Pod, removed_s: Option<f64>) -> PodRecord {
        let (phases, restarts) = p.kubelet.record_parts(|t| self.record_s(t));
        let b = &self.backends[p.info];
        PodRecord {
            name: p.name.clone(),
            deployment: p.deployment.clone(),
            node: p.node,
            ip: p.ip.to_string(),
            created_s: b.created_s,
            removed_s,
            phases,
            restarts,
            backlog: p.kubelet.spec.backlog,
            workers: p.kubelet.spec.workers,
        }
    }

    /// Every pod's lifecycle record (removed and live), in creation order.
    pub fn pod_records(&self) -> Vec<PodRecord> {
        let mut v: Vec<(usize, PodRecord)> = self.gone_pods.clone();
        for p in self.pods.values() {
            v.push((p.info, self.pod_record(p, None)));
        }
        v.sort_by_key(|(i, _)| *i);
        v.into_iter().map(|(_, r)| r).collect()
    }
}
