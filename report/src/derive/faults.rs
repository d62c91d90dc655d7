//! What each network fault did to the clients: errors per second and the
//! per-second p99 latency inside its window against outside every
//! fault's window, and how long after it ended the clients were back to
//! normal (the first bucket from its end with an error rate under
//! [`RECOVERED_ERROR_RATE`] and a p99 within 1.5 × outside + 1 ms).
use crate::record::{Bucket, FaultRecord, RunRecord};

use super::RECOVERED_ERROR_RATE;

/// The clients inside and outside one fault.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultEffect {
    pub errors_per_s_in: f64,
    pub errors_per_s_out: Option<f64>,
    /// Median over the window's buckets of each bucket's p99.
    pub p99_in_ms: f64,
    pub p99_out_ms: Option<f64>,
    /// Seconds from the fault's end to the first normal bucket; None when
    /// no bucket after it was normal (or the run ended with it).
    pub recovered_after_s: Option<f64>,
}

fn errors(b: &Bucket) -> u64 {
    b.client.errors.values().sum()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// `f`'s effect; None when no whole bucket lies inside it.
#[must_use]
pub fn effect(rec: &RunRecord, f: &FaultRecord) -> Option<FaultEffect> {
    let w = rec.bucket_s;
    let inside = |b: &&Bucket| b.t_s >= f.start_s - 1e-9 && b.t_s + w <= f.end_s + 1e-9;
    let in_any = |b: &Bucket| {
        rec.faults
            .iter()
            .any(|g| b.t_s + w > g.start_s && b.t_s < g.end_s)
    };
    // Buckets with traffic only: before the clients start nothing is sent.
    let active = |b: &&Bucket| b.client.sent > 0;
    let ins: Vec<&Bucket> = rec.buckets.iter().filter(inside).filter(active).collect();
    if ins.is_empty() {
        return None;
    }
    let outs: Vec<&Bucket> = rec
        .buckets
        .iter()
        .filter(|b| !in_any(b))
        .filter(active)
        .collect();
    let rate =
        |v: &[&Bucket]| v.iter().map(|b| errors(b) as f64).sum::<f64>() / (v.len() as f64 * w);
    let p99_out = median(outs.iter().map(|b| b.client.p99_ms).collect());
    let normal = |b: &Bucket| {
        let sent = b.client.sent.max(1) as f64;
        errors(b) as f64 / sent < RECOVERED_ERROR_RATE
            && p99_out.is_none_or(|p| b.client.p99_ms <= 1.5 * p + 1.0)
    };
    let recovered_after_s = rec
        .buckets
        .iter()
        .filter(|b| b.t_s >= f.end_s - 1e-9 && b.client.sent > 0)
        .find(|b| normal(b))
        .map(|b| (b.t_s - f.end_s).max(0.0));
    Some(FaultEffect {
        errors_per_s_in: rate(&ins),
        errors_per_s_out: (!outs.is_empty()).then(|| rate(&outs)),
        p99_in_ms: median(ins.iter().map(|b| b.client.p99_ms).collect()).unwrap_or(0.0),
        p99_out_ms: p99_out,
        recovered_after_s,
    })
}
