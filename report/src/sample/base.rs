//! What every synthetic record shares: the empty base record, the
//! datapath counters derived from the buckets, and the seeded generator.
use std::collections::BTreeMap;

use crate::record::{
    BackendCounters, DatapathTotals, KubeletInfo, RunRecord, SCHEMA_VERSION, ShareBasis, SuiteInfo,
    Verdict,
};

/// A record with no backends, buckets or events, 1 s buckets, verdict Pass:
/// a base for hand-built records.
pub fn empty_record() -> RunRecord {
    RunRecord {
        schema: SCHEMA_VERSION,
        run_id: "test".into(),
        suite: SuiteInfo {
            name: "test".into(),
            path: "suites/test.yaml".into(),
            description: String::new(),
            header: String::new(),
            yaml: String::new(),
            datapath_mode:
                "cilium-1.11: random selection, legacy CT reuse, service TCP lifetime 21600s".into(),
            datapath: Vec::new(),
        },
        host: None,
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_s: 0.0,
        elapsed_s: 0.0,
        bucket_s: 1.0,
        seed: 1,
        interrupted: false,
        backends: Vec::new(),
        buckets: Vec::new(),
        events: Vec::new(),
        datapath: DatapathTotals::default(),
        mechanism: BTreeMap::new(),
        expectations: Vec::new(),
        verdict: Verdict::Pass,
        error: None,
        pods: Vec::new(),
        rollouts: Vec::new(),
        faults: Vec::new(),
        kubelet: KubeletInfo::default(),
        programs: Vec::new(),
        access_logs: Vec::new(),
        share_basis: ShareBasis::Responses,
    }
}

/// The datapath's counters per backend, from the buckets: a selection per
/// new connection (`reselect` of them reselected), and packets, bytes and
/// connections in proportion to responses.
pub(super) fn backend_counters(
    rec: &RunRecord,
    reselect: impl Fn(u64) -> u64,
) -> BTreeMap<String, BackendCounters> {
    rec.backend_names()
        .into_iter()
        .map(|name| {
            let (selections, responses) = rec
                .buckets
                .iter()
                .filter_map(|b| b.backends.get(&name))
                .fold((0, 0), |(s, r), b| (s + b.new_conns, r + b.responses));
            let counters = BackendCounters {
                selections,
                reselections: reselect(selections),
                packets: responses * 10,
                bytes: responses * 1_240,
                connections: responses,
            };
            (name, counters)
        })
        .collect()
}

/// Tiny deterministic generator: no dependency for a few hundred numbers.
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    /// Uniform in [0, 1).
    pub(super) fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
