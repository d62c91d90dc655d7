//! The single aggregator: folds the clients' immutable request records and
//! the datapath samples into per-bucket figures (the run record's buckets)
//! and the whole-run figures the mechanism section needs. Latency is
//! measured from the scheduled start, so in open loop it is corrected for
//! coordinated omission (a stalled server delays the start of later
//! requests; their latency counts from when they were due).
//!
//! Memory stays flat however long the run: no record is kept. A bucket's
//! latency histogram and set of source ports exist only while requests can
//! still land in it (its end plus the longest a request may take); then
//! they shrink to the numbers the record stores. The mechanism figures are
//! kept incrementally, bounded by the number of source ports.
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use hdrhistogram::Histogram;
use svclab_report::record::{BackendBucket, Bucket, ClientBucket, DeploymentBucket, PodBucket};

use super::client::{Outcome, RequestRecord};

/// A client's source port: (client index, port).
type PortKey = (u16, u16);

/// What a bucket needs in full while it can still receive requests.
struct Open {
    latency_us: Histogram<u64>,
    ports: HashSet<PortKey>,
}

/// A bucket's latency and port figures: not touched yet, open, or reduced.
enum Detail {
    Untouched,
    Open(Box<Open>),
    Closed {
        p50_ms: f64,
        p99_ms: f64,
        max_ms: f64,
        distinct_ports: u64,
    },
}

impl Detail {
    /// (p50, p99, max in ms, distinct ports) as the record stores them
    /// (0 for an empty histogram).
    fn figures(&self) -> (f64, f64, f64, u64) {
        match self {
            Detail::Untouched => (0.0, 0.0, 0.0, 0),
            Detail::Open(o) => {
                let h = &o.latency_us;
                if h.is_empty() {
                    return (0.0, 0.0, 0.0, o.ports.len() as u64);
                }
                let ms = |v: u64| v as f64 / 1000.0;
                (
                    ms(h.value_at_quantile(0.5)),
                    ms(h.value_at_quantile(0.99)),
                    ms(h.max()),
                    o.ports.len() as u64,
                )
            }
            Detail::Closed {
                p50_ms,
                p99_ms,
                max_ms,
                distinct_ports,
            } => (*p50_ms, *p99_ms, *max_ms, *distinct_ports),
        }
    }
}

struct Acc {
    sent: u64,
    ok: u64,
    source_kept: u64,
    errors: BTreeMap<&'static str, u64>,
    detail: Detail,
    reuses: u64,
    responses: BTreeMap<Arc<str>, u64>,
    datapath: BTreeMap<String, BackendBucket>,
    pods: BTreeMap<String, PodBucket>,
    deployments: BTreeMap<String, DeploymentBucket>,
}

impl Acc {
    fn new() -> Self {
        Self {
            sent: 0,
            ok: 0,
            source_kept: 0,
            errors: BTreeMap::new(),
            detail: Detail::Untouched,
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

/// Reused source ports after the latest scale action: did they keep the
/// backend they had before it?
struct ScaleMark {
    t_ns: u64,
    /// Each port's backend as of the last response that ended before `t_ns`.
    before: HashMap<PortKey, Arc<str>>,
    kept: u64,
    total: u64,
}

pub struct Aggregator {
    bucket_ns: u64,
    buckets: Vec<Acc>,
    /// Buckets older than this many buckets behind the newest response
    /// can receive nothing more: they are closed.
    lag_buckets: usize,
    /// Every bucket below this index is closed.
    closed_below: usize,
    /// A histogram to clone for a bucket that opens (1 µs .. 1 h, 3 digits).
    empty_hist: Histogram<u64>,
    seen_ports: HashSet<PortKey>,
    /// Each port's backend as of its latest response.
    last_backend: HashMap<PortKey, Arc<str>>,
    scale: Option<ScaleMark>,
    /// New connections the clients completed, per backend.
    pub client_conns: BTreeMap<Arc<str>, u64>,
    pub totals: Totals,
}

impl Aggregator {
    /// `max_age` is the longest a request can take from its start to its
    /// record (the clients' longest timeout): buckets further back close.
    pub fn new(bucket: Duration, n_buckets: usize, max_age: Duration) -> anyhow::Result<Self> {
        let bucket_ns = u64::try_from(bucket.as_nanos())
            .unwrap_or(1_000_000_000)
            .max(1);
        let age_ns = u64::try_from(max_age.as_nanos()).unwrap_or(u64::MAX);
        // One bucket more for records that reach us slightly out of order.
        let lag_buckets = usize::try_from(age_ns.div_ceil(bucket_ns))
            .unwrap_or(usize::MAX)
            .saturating_add(2);
        Ok(Self {
            bucket_ns,
            buckets: (0..n_buckets.max(1)).map(|_| Acc::new()).collect(),
            lag_buckets,
            closed_below: 0,
            empty_hist: Histogram::new_with_bounds(1, 3_600_000_000, 3)?,
            seen_ports: HashSet::new(),
            last_backend: HashMap::new(),
            scale: None,
            client_conns: BTreeMap::new(),
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

    /// The open detail of bucket `i`, or `None` once it closed.
    fn open(&mut self, i: usize) -> Option<&mut Open> {
        let b = &mut self.buckets[i];
        if matches!(b.detail, Detail::Untouched) {
            b.detail = Detail::Open(Box::new(Open {
                latency_us: self.empty_hist.clone(),
                ports: HashSet::new(),
            }));
        }
        match &mut b.detail {
            Detail::Open(o) => Some(o),
            _ => None,
        }
    }

    /// Closes every bucket below `i`.
    fn close_below(&mut self, i: usize) {
        while self.closed_below < i.min(self.buckets.len()) {
            let b = &mut self.buckets[self.closed_below];
            let (p50_ms, p99_ms, max_ms, distinct_ports) = b.detail.figures();
            b.detail = Detail::Closed {
                p50_ms,
                p99_ms,
                max_ms,
                distinct_ports,
            };
            self.closed_below += 1;
        }
    }

    /// How many buckets hold a histogram and port set now.
    pub fn open_buckets(&self) -> usize {
        self.buckets
            .iter()
            .filter(|b| matches!(b.detail, Detail::Open(_)))
            .count()
    }

    pub fn add(&mut self, r: RequestRecord) {
        let sent_at = self.idx(r.scheduled_ns);
        let end_at = self.idx(r.end_ns);
        self.buckets[sent_at].sent += 1;
        self.totals.sent += 1;
        match &r.outcome {
            Outcome::Ok { backend } => {
                self.totals.ok += 1;
                let us = (r.end_ns.saturating_sub(r.scheduled_ns) / 1000).max(1);
                let b = &mut self.buckets[end_at];
                b.ok += 1;
                b.source_kept += u64::from(r.source_kept);
                // An unnamed backend (a program without X-Pod) counts as ok
                // only; its share comes from the datapath.
                if !backend.is_empty() {
                    *b.responses.entry(Arc::clone(backend)).or_default() += 1;
                }
                if let Detail::Closed { max_ms, .. } = &mut b.detail {
                    // Later than any request may take: only the max still
                    // counts (the quantiles were fixed at closing).
                    let v = self.empty_hist.highest_equivalent(us) as f64 / 1000.0;
                    *max_ms = max_ms.max(v);
                } else if let Some(o) = self.open(end_at) {
                    let _ = o.latency_us.record(us);
                }
                if !backend.is_empty() {
                    self.note_backend(&r, backend);
                }
            }
            Outcome::Err(k) => {
                *self.buckets[end_at].errors.entry(k.name()).or_default() += 1;
                self.totals.errors += 1;
            }
        }
        if r.new_conn && r.sport != 0 {
            let key = (r.client, r.sport);
            let start_at = self.idx(r.start_ns);
            if let Some(o) = self.open(start_at) {
                o.ports.insert(key);
            }
            if !self.seen_ports.insert(key) {
                self.buckets[start_at].reuses += 1;
            }
        }
        self.close_below(end_at.saturating_sub(self.lag_buckets));
    }

    /// Whole-run figures of one response: new connections per backend, and
    /// which backend each source port had around the latest scale action.
    fn note_backend(&mut self, r: &RequestRecord, backend: &Arc<str>) {
        if r.new_conn {
            *self.client_conns.entry(Arc::clone(backend)).or_default() += 1;
        }
        let key = (r.client, r.sport);
        if let Some(s) = &mut self.scale {
            if r.start_ns > s.t_ns + 1_000_000_000
                && let Some(b) = s.before.get(&key)
            {
                s.total += 1;
                s.kept += u64::from(b == backend);
            }
            if r.end_ns < s.t_ns && r.sport != 0 {
                s.before.insert(key, Arc::clone(backend));
            }
        }
        if r.sport != 0 {
            self.last_backend.insert(key, Arc::clone(backend));
        }
    }

    /// A scale action at `t_ns`: from now on, responses that started more
    /// than a second after it are compared with each port's backend before it.
    pub fn mark_scale(&mut self, t_ns: u64) {
        self.scale = Some(ScaleMark {
            t_ns,
            before: self.last_backend.clone(),
            kept: 0,
            total: 0,
        });
    }

    /// (kept, total) of reused ports after the latest scale action.
    pub fn kept_after_scale(&self) -> Option<(u64, u64)> {
        self.scale.as_ref().map(|s| (s.kept, s.total))
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
                let (p50_ms, p99_ms, max_ms, distinct_ports) = a.detail.figures();
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
                        p50_ms,
                        p99_ms,
                        max_ms,
                        distinct_ports,
                        port_reuses: a.reuses,
                        source_kept: a.source_kept,
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
            source_kept: false,
        }
    }

    #[test]
    fn buckets_split_by_time_and_totals_balance() {
        let mut a =
            Aggregator::new(Duration::from_secs(1), 3, Duration::from_secs(2)).expect("aggregator");
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

    fn ok(sched_ms: u64, end_ms: u64, backend: &Arc<str>, sport: u16) -> RequestRecord {
        rec(
            sched_ms,
            end_ms,
            Outcome::Ok {
                backend: Arc::clone(backend),
            },
            sport,
        )
    }

    #[test]
    fn an_hour_of_records_keeps_only_the_recent_buckets_open() {
        // 3600 one-second buckets at 20 req/s, 2 s timeout: no record is
        // kept and at most lag + 1 buckets hold a histogram and a port set
        // (the memory a long run would otherwise grow by every second).
        let mut a =
            Aggregator::new(Duration::from_secs(1), 3600, Duration::from_secs(2)).expect("agg");
        let web: Arc<str> = Arc::from("web-0");
        let mut most_open = 0;
        for ms in (0..3_600_000u64).step_by(50) {
            let port = 40_000 + u16::try_from(ms / 50 % 1000).expect("port");
            a.add(ok(ms, ms + 3, &web, port));
            most_open = most_open.max(a.open_buckets());
        }
        assert!(most_open <= a.lag_buckets + 1, "{most_open} buckets open");
        assert_eq!(a.totals.ok, 72_000);
        let b = a.buckets(3600);
        assert_eq!(b[1800].client.ok, 20);
        assert_eq!(b[1800].client.distinct_ports, 20);
        assert!((b[1800].client.p50_ms - 3.0).abs() < 0.01);
    }

    #[test]
    fn a_closed_bucket_reports_what_it_did_while_open() {
        let mut a = Aggregator::new(Duration::from_secs(1), 10, Duration::ZERO).expect("agg");
        let web: Arc<str> = Arc::from("web-0");
        for (i, lat) in [5u64, 7, 9, 400].into_iter().enumerate() {
            a.add(ok(
                100,
                100 + lat,
                &web,
                40_000 + u16::try_from(i).expect("i"),
            ));
        }
        let open = a.buckets(1)[0].client.clone();
        // A response 5 s later closes bucket 0.
        a.add(ok(5_000, 5_010, &web, 41_000));
        assert!(matches!(a.buckets[0].detail, Detail::Closed { .. }));
        let closed = a.buckets(1)[0].client.clone();
        assert_eq!(open, closed);
        assert_eq!(closed.distinct_ports, 4);
        // A straggler still counts, and still moves the max.
        a.add(ok(100, 999, &web, 40_000));
        let late = a.buckets(1)[0].client.clone();
        assert_eq!(late.ok, 5);
        assert!(late.max_ms >= 899.0, "{late:?}");
    }

    #[test]
    fn reused_ports_after_a_scale_compare_with_the_backend_before_it() {
        let mut a =
            Aggregator::new(Duration::from_secs(1), 20, Duration::from_secs(2)).expect("agg");
        let (old, new): (Arc<str>, Arc<str>) = (Arc::from("web-0"), Arc::from("web-9"));
        a.add(ok(100, 200, &old, 40_000));
        a.add(ok(100, 200, &old, 40_001));
        a.mark_scale(3_000_000_000);
        // Ended before the scale but reported after it: still "before".
        a.add(ok(2_900, 2_950, &old, 40_002));
        // Within a second of the scale: not compared.
        a.add(ok(3_500, 3_600, &new, 40_000));
        a.add(ok(4_500, 4_600, &old, 40_000));
        a.add(ok(4_500, 4_600, &new, 40_001));
        a.add(ok(4_500, 4_600, &old, 40_002));
        a.add(ok(4_500, 4_600, &new, 40_003));
        assert_eq!(a.kept_after_scale(), Some((2, 3)));
        assert_eq!(a.client_conns[&old], 5);
    }
}
