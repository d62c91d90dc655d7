//! The single aggregator: folds the clients' immutable request records and
//! the datapath samples into per-bucket figures (the run record's buckets).
//! Latency is measured from the scheduled start, so in open loop it is
//! corrected for coordinated omission (a stalled server delays the start of
//! later requests; their latency counts from when they were due).
use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use hdrhistogram::Histogram;
use svclab_report::record::{BackendBucket, Bucket, ClientBucket, DeploymentBucket, PodBucket};

use super::client::{Outcome, RequestRecord};

struct Acc {
    sent: u64,
    ok: u64,
    errors: BTreeMap<&'static str, u64>,
    latency_us: Histogram<u64>,
    ports: HashSet<(u16, u16)>,
    reuses: u64,
    responses: BTreeMap<Arc<str>, u64>,
    datapath: BTreeMap<String, BackendBucket>,
    pods: BTreeMap<String, PodBucket>,
    deployments: BTreeMap<String, DeploymentBucket>,
}

impl Acc {
    fn new(latency_us: Histogram<u64>) -> Self {
        Self {
            sent: 0,
            ok: 0,
            errors: BTreeMap::new(),
            latency_us,
            ports: HashSet::new(),
            reuses: 0,
            responses: BTreeMap::new(),
            datapath: BTreeMap::new(),
            pods: BTreeMap::new(),
            deployments: BTreeMap::new(),
        }
    }
}

/// Totals over the whole run (exact; buckets split them by time).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
}

pub struct Aggregator {
    bucket_ns: u64,
    buckets: Vec<Acc>,
    seen_ports: HashSet<(u16, u16)>,
    /// Every record, kept for mechanism figures (a 60 s run at 1k req/s is 60k).
    pub records: Vec<RequestRecord>,
    pub totals: Totals,
}

impl Aggregator {
    pub fn new(bucket: std::time::Duration, n_buckets: usize) -> anyhow::Result<Self> {
        // 1 µs .. 1 h at 3 significant digits.
        let hist = Histogram::new_with_bounds(1, 3_600_000_000, 3)?;
        Ok(Self {
            bucket_ns: u64::try_from(bucket.as_nanos())
                .unwrap_or(1_000_000_000)
                .max(1),
            buckets: (0..n_buckets.max(1))
                .map(|_| Acc::new(hist.clone()))
                .collect(),
            seen_ports: HashSet::new(),
            records: Vec::new(),
            totals: Totals::default(),
        })
    }

    fn idx(&self, ns: u64) -> usize {
        usize::try_from(ns / self.bucket_ns)
            .unwrap_or(usize::MAX)
            .min(self.buckets.len() - 1)
    }

    pub fn bucket_of(&self, ns: u64) -> usize {
        self.idx(ns)
    }

    pub fn add(&mut self, r: RequestRecord) {
        let sent_at = self.idx(r.scheduled_ns);
        let end_at = self.idx(r.end_ns);
        self.buckets[sent_at].sent += 1;
        self.totals.sent += 1;
        let b = &mut self.buckets[end_at];
        match &r.outcome {
            Outcome::Ok { backend } => {
                b.ok += 1;
                self.totals.ok += 1;
                *b.responses.entry(Arc::clone(backend)).or_default() += 1;
                let us = r.end_ns.saturating_sub(r.scheduled_ns) / 1000;
                let _ = b.latency_us.record(us.max(1));
            }
            Outcome::Err(k) => {
                *b.errors.entry(k.name()).or_default() += 1;
                self.totals.errors += 1;
            }
        }
        if r.new_conn && r.sport != 0 {
            let key = (r.client, r.sport);
            let start_at = self.idx(r.start_ns);
            let sb = &mut self.buckets[start_at];
            sb.ports.insert(key);
            if !self.seen_ports.insert(key) {
                sb.reuses += 1;
            }
        }
        self.records.push(r);
    }

    /// Records what the datapath saw for one backend in bucket `i`.
    pub fn set_datapath(&mut self, i: usize, backend: &str, new_conns: u64, ct_entries: u64) {
        let i = i.min(self.buckets.len() - 1);
        let e = self.buckets[i]
            .datapath
            .entry(backend.to_owned())
            .or_default();
        e.new_conns += new_conns;
        e.ct_entries += ct_entries;
    }

    /// Records the kubelet's per-pod and per-deployment figures of bucket `i`.
    pub fn set_pods(
        &mut self,
        i: usize,
        pods: BTreeMap<String, PodBucket>,
        deployments: BTreeMap<String, DeploymentBucket>,
    ) {
        let i = i.min(self.buckets.len() - 1);
        self.buckets[i].pods = pods;
        self.buckets[i].deployments = deployments;
    }

    /// Buckets `0..n` as the run record stores them.
    pub fn buckets(&self, n: usize) -> Vec<Bucket> {
        let secs = self.bucket_ns as f64 / 1e9;
        self.buckets
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, a)| {
                let mut backends: BTreeMap<String, BackendBucket> = a.datapath.clone();
                for (name, n) in &a.responses {
                    backends.entry(name.to_string()).or_default().responses += n;
                }
                let h = &a.latency_us;
                let ms = |q: f64| {
                    if h.is_empty() {
                        0.0
                    } else {
                        h.value_at_quantile(q) as f64 / 1000.0
                    }
                };
                Bucket {
                    t_s: i as f64 * secs,
                    backends,
                    client: ClientBucket {
                        sent: a.sent,
                        ok: a.ok,
                        errors: a
                            .errors
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), *v))
                            .collect(),
                        p50_ms: ms(0.5),
                        p99_ms: ms(0.99),
                        max_ms: if h.is_empty() {
                            0.0
                        } else {
                            h.max() as f64 / 1000.0
                        },
                        distinct_ports: a.ports.len() as u64,
                        port_reuses: a.reuses,
                    },
                    pods: a.pods.clone(),
                    deployments: a.deployments.clone(),
                }
            })
            .collect()
    }

    /// Live progress figures: (ok, errors) in bucket `i`.
    pub fn bucket_rates(&self, i: usize) -> (u64, u64) {
        let a = &self.buckets[i.min(self.buckets.len() - 1)];
        (a.ok, a.errors.values().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::client::ErrorKind;

    fn rec(sched_ms: u64, end_ms: u64, outcome: Outcome, sport: u16) -> RequestRecord {
        RequestRecord {
            client: 0,
            scheduled_ns: sched_ms * 1_000_000,
            start_ns: sched_ms * 1_000_000,
            end_ns: end_ms * 1_000_000,
            outcome,
            sport,
            new_conn: true,
        }
    }

    #[test]
    fn buckets_split_by_time_and_totals_balance() {
        let mut a = Aggregator::new(std::time::Duration::from_secs(1), 3).expect("aggregator");
        let web0: Arc<str> = Arc::from("web-0");
        a.add(rec(
            100,
            150,
            Outcome::Ok {
                backend: Arc::clone(&web0),
            },
            40000,
        ));
        a.add(rec(
            900,
            1100,
            Outcome::Ok {
                backend: Arc::clone(&web0),
            },
            40001,
        ));
        a.add(rec(1500, 1600, Outcome::Err(ErrorKind::Refused), 40000));
        a.add(rec(2500, 9000, Outcome::Err(ErrorKind::Timeout), 40002));
        let b = a.buckets(3);
        assert_eq!(
            [b[0].client.sent, b[1].client.sent, b[2].client.sent],
            [2, 1, 1]
        );
        assert_eq!([b[0].client.ok, b[1].client.ok], [1, 1]);
        assert_eq!(b[1].client.errors["refused"], 1);
        assert_eq!(
            b[2].client.errors["timeout"], 1,
            "late ends land in the last bucket"
        );
        assert_eq!(b[1].client.port_reuses, 1, "port 40000 reused in second 1");
        assert_eq!(b[0].backends["web-0"].responses, 1);
        assert!((b[0].client.p50_ms - 50.0).abs() < 0.5);
        assert_eq!(a.totals.sent, a.totals.ok + a.totals.errors);
    }
}
