//! What the cluster tells the run record and `svclab inspect`, and the one
//! place the cluster builds the report's record types: events, backends,
//! real programs, access-log totals, rollouts, pod telemetry samples,
//! per-bucket pod and deployment figures, every pod's lifecycle record,
//! and the state file's contents. (A pod's own figures come from its
//! kubelet, `crate::kubelet::telemetry`.)
use std::{collections::BTreeMap, net::SocketAddrV4};

use svclab_report::record::{
    AccessLogTotals, BackendInfo, DeploymentBucket, Event, PodBucket, PodRecord, ProgramInfo,
    RolloutRecord,
};

use super::{
    state::{Cluster, Pod},
    state_file,
};
use crate::kubelet::programs::{accesslog, nginx::NginxConf};

impl Cluster {
    pub fn event(&mut self, t_s: f64, kind: &str, detail: String, timeline: bool) {
        self.events.push(Event {
            t_s,
            kind: kind.to_owned(),
            detail,
            timeline,
        });
    }

    /// Records a backend pod made at `created_s` for the run record's
    /// backend list; returns its index there.
    #[expect(clippy::too_many_arguments, reason = "one backend's identity, named")]
    pub(super) fn note_backend(
        &mut self,
        name: &str,
        addr: SocketAddrV4,
        deployment: &str,
        node: u8,
        created_s: f64,
        replacement: bool,
        revision: u32,
    ) -> usize {
        self.backends.push(BackendInfo {
            name: name.to_owned(),
            addr: addr.to_string(),
            deployment: deployment.to_owned(),
            node,
            created_s,
            removed_s: None,
            added_by_last_scale_up: false,
            killed: false,
            replacement,
            revision,
            sigterm_s: None,
            conns_after_sigterm: 0,
        });
        self.backends.len() - 1
    }

    /// Records a real program for the report's programs section, once per
    /// owner (a deployment's pods and a client's restarts share one entry):
    /// its command, generated config and where its logs go.
    pub(super) fn note_program(
        &mut self,
        owner: String,
        kind: &str,
        argv: &[String],
        conf: Option<&NginxConf>,
        logs: String,
    ) {
        if self.programs.iter().any(|p| p.owner == owner) {
            return;
        }
        self.programs.push(ProgramInfo {
            owner,
            kind: kind.into(),
            command: argv.to_vec(),
            config_path: conf.map(|c| c.path.display().to_string()),
            config: conf.map(|c| c.text.clone()),
            logs,
        });
    }

    /// Every client proxy's access log, counted (after the clients stopped).
    pub fn access_logs(&self) -> Vec<AccessLogTotals> {
        self.proxies
            .iter()
            .filter_map(|(name, p)| {
                let path = p.conf.access_log.as_ref()?;
                let a = accesslog::read(path);
                Some(AccessLogTotals {
                    client: name.clone(),
                    path: path.display().to_string(),
                    requests: a.requests,
                    by_backend: a.by_backend,
                    unattributed: a.unattributed,
                    upstream_attempts: a.upstream_attempts,
                    status_5xx: a.status_5xx,
                })
            })
            .collect()
    }

    /// The rollouts for the run record: the last old pod's removal from
    /// the backends (every pod of an older revision removed).
    pub fn rollout_records(&self) -> Vec<RolloutRecord> {
        self.rollouts
            .iter()
            .map(|r| {
                let old: Vec<_> = self
                    .backends
                    .iter()
                    .filter(|b| b.deployment == r.deployment && b.revision < r.revision)
                    .collect();
                let old_gone_s = old
                    .iter()
                    .map(|b| b.removed_s)
                    .try_fold(r.started_s, |m, x| x.map(|x| m.max(x)));
                RolloutRecord {
                    deployment: r.deployment.clone(),
                    revision: r.revision,
                    strategy: format!("{:?}", r.strategy.kind),
                    start_s: r.started_s,
                    complete_s: r.complete_s,
                    old_gone_s,
                    steps: r.steps.clone(),
                }
            })
            .collect()
    }

    fn ready_of(&self, deployment: &str) -> u32 {
        let n = self
            .pods
            .values()
            .filter(|p| p.deployment == deployment && self.pod_ready(p))
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
        let t0_monotonic_ns = self.zero.map(|z| {
            let since = u64::try_from(z.elapsed().as_nanos()).unwrap_or(u64::MAX);
            svclab_datapath::monotonic_ns().saturating_sub(since)
        });
        Ok(state_file::RunState {
            t0_monotonic_ns,
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
        let phases =
            super::eviction::api_phases(&phases, &self.not_ready_windows(p.node), p.evicted_s);
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
