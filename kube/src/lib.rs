//! svclab-kube: the decision logic of kubelet and of the HPA controller, as
//! pure state machines over a monotonic clock (`Duration` since the run's
//! start). No I/O and no threads: the harness feeds in probe results, pod
//! views and metric samples, and acts on the decisions (mark ready, kill a
//! container, start it again, scale a deployment). Keeping it pure lets the
//! unit tests check each rule against Kubernetes' semantics directly.
use std::time::Duration;

pub mod backoff;
pub mod deployment;
pub mod hpa;
pub mod prober;

/// `d × scale`, rounded to the nanosecond. A negative or NaN scale gives
/// zero and an overflowing one saturates (`f64 as u64` does both), so a bad
/// scale cannot panic here; the suite validator rejects it earlier anyway.
pub(crate) fn scale_duration(d: Duration, scale: f64) -> Duration {
    // Exact for durations below 2^53 ns (104 days), far above any run.
    let nanos = d.as_nanos() as f64 * scale;
    Duration::from_nanos(nanos.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_duration_rounds_to_the_nanosecond_and_never_panics() {
        assert_eq!(
            scale_duration(Duration::from_secs(300), 0.1),
            Duration::from_secs(30)
        );
        assert_eq!(
            scale_duration(Duration::from_secs(10), 1.0),
            Duration::from_secs(10)
        );
        assert_eq!(
            scale_duration(Duration::from_secs(10), -1.0),
            Duration::ZERO
        );
        assert_eq!(
            scale_duration(Duration::from_secs(10), f64::NAN),
            Duration::ZERO
        );
        assert_eq!(
            scale_duration(Duration::from_secs(10), f64::INFINITY),
            Duration::from_nanos(u64::MAX)
        );
    }
}
