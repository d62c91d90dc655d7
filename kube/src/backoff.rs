//! kubelet's container restart back-off (client-go util/flowcontrol
//! Backoff as kuberuntime's doBackOff uses it): 10 s doubling to 5 min, an
//! entry expires when the container ran longer than 2 × max (10 min).
//!
//! One value holds one container's entry (kubelet keys its Backoff by pod
//! and container). Jitter is 0, as in kubelet's `NewBackOff`.
use std::time::Duration;

use crate::scale_duration;

/// kubelet's `backOffPeriod` (pkg/kubelet/kubelet.go).
const KUBELET_INITIAL: Duration = Duration::from_secs(10);
/// kubelet's `MaxContainerBackOff`.
const KUBELET_MAX: Duration = Duration::from_secs(300);

/// flowcontrol's `backoffEntry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    backoff: Duration,
    last_update: Duration,
}

#[derive(Clone, Debug)]
pub struct RestartBackoff {
    initial: Duration,
    max: Duration,
    entry: Option<Entry>,
}

impl RestartBackoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            entry: None,
        }
    }

    /// kubelet's constants (10 s, 5 min) multiplied by `scale`.
    pub fn kubelet(scale: f64) -> Self {
        Self::new(
            scale_duration(KUBELET_INITIAL, scale),
            scale_duration(KUBELET_MAX, scale),
        )
    }

    /// Earliest time a container that finished at `finished_at` may start
    /// again (`finished_at` itself when it is not in back-off).
    ///
    /// doBackOff asks `IsInBackOffSince(key, finishedAt)`, true while
    /// `now - finishedAt < backoff`; so the first `now` it lets through is
    /// `finishedAt + backoff`.
    pub fn restart_at(&self, finished_at: Duration) -> Duration {
        match self.live_entry(finished_at) {
            Some(entry) => finished_at.saturating_add(entry.backoff),
            None => finished_at,
        }
    }

    /// Records a start at `now` of a container that finished at
    /// `finished_at` (flowcontrol's Next, called by doBackOff with the
    /// finish time as the event time).
    pub fn record_start(&mut self, finished_at: Duration, now: Duration) {
        let backoff = match self.live_entry(finished_at) {
            Some(entry) => entry.backoff.saturating_mul(2).min(self.max),
            None => self.initial,
        };
        self.entry = Some(Entry {
            backoff,
            last_update: now,
        });
    }

    /// The current back-off, if any entry exists.
    pub fn current(&self) -> Option<Duration> {
        self.entry.map(|e| e.backoff)
    }

    /// The entry unless flowcontrol's `hasExpired(eventTime, lastUpdate,
    /// max)` says it is stale: `eventTime - lastUpdate > 2 × max`, i.e. the
    /// container ran (from its last recorded start to `finished_at`) for
    /// more than twice the maximum back-off.
    fn live_entry(&self, event_time: Duration) -> Option<Entry> {
        self.entry
            .filter(|e| event_time.saturating_sub(e.last_update) <= self.max.saturating_mul(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Drives a container that runs `run` each time before failing, and
    /// restarts as early as doBackOff allows; returns the waits and the
    /// last start.
    fn crash_loop(
        b: &mut RestartBackoff,
        run: Duration,
        restarts: usize,
    ) -> (Vec<Duration>, Duration) {
        let mut started = secs(0);
        let mut waits = Vec::new();
        for _ in 0..restarts {
            let finished = started + run;
            let at = b.restart_at(finished);
            waits.push(at - finished);
            b.record_start(finished, at);
            started = at;
        }
        (waits, started)
    }

    #[test]
    fn do_back_off_crash_loop_sequence_doubles_to_max() {
        // kuberuntime doBackOff + flowcontrol Next: no entry → not in
        // back-off and Next sets `initial`; then each Next doubles, capped.
        let mut b = RestartBackoff::kubelet(1.0);
        assert_eq!(b.current(), None);
        let (waits, _) = crash_loop(&mut b, secs(1), 9);
        let expect: Vec<_> = [0, 10, 20, 40, 80, 160, 300, 300, 300]
            .into_iter()
            .map(secs)
            .collect();
        assert_eq!(waits, expect);
        assert_eq!(b.current(), Some(secs(300)));
    }

    #[test]
    fn is_in_back_off_since_is_strict_at_finished_plus_backoff() {
        // IsInBackOffSince: `now - finishedAt < backoff`; at exactly
        // finishedAt + backoff the container may start.
        let mut b = RestartBackoff::new(secs(10), secs(300));
        b.record_start(secs(5), secs(5)); // first restart, backoff = 10 s
        assert_eq!(b.restart_at(secs(8)), secs(18));
    }

    #[test]
    fn has_expired_resets_after_running_longer_than_twice_max() {
        // hasExpired: `eventTime - lastUpdate > 2 × max` → entry re-initialised.
        let mut b = RestartBackoff::kubelet(1.0);
        let (_, last_start) = crash_loop(&mut b, secs(1), 5);
        assert_eq!(b.current(), Some(secs(160)));
        // Ran 601 s (> 600 s): restart immediately, next wait is 10 s again.
        let finished = last_start + secs(601);
        assert_eq!(b.restart_at(finished), finished);
        b.record_start(finished, finished);
        assert_eq!(b.current(), Some(secs(10)));
        let next_finish = finished + secs(1);
        assert_eq!(b.restart_at(next_finish), next_finish + secs(10));
    }

    #[test]
    fn has_expired_boundary_exactly_twice_max_keeps_the_entry() {
        // `>` not `>=`: a run of exactly 2 × max still counts as crashing.
        let mut b = RestartBackoff::new(secs(10), secs(300));
        b.record_start(secs(0), secs(0)); // backoff 10 s, last update 0
        assert_eq!(b.restart_at(secs(600)), secs(610));
        b.record_start(secs(600), secs(610));
        assert_eq!(b.current(), Some(secs(20)));
    }

    #[test]
    fn kubelet_constants_scale() {
        // backOffPeriod = 10 s, MaxContainerBackOff = 300 s, times scale.
        let mut b = RestartBackoff::kubelet(0.1);
        let (waits, _) = crash_loop(&mut b, Duration::from_millis(100), 8);
        let expect: Vec<_> = [0, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
            .into_iter()
            .map(Duration::from_millis)
            .collect();
        assert_eq!(waits, expect);
        // Expiry is 2 × the scaled max: 60 s.
        let mut b = RestartBackoff::kubelet(0.1);
        b.record_start(secs(0), secs(0));
        assert_eq!(b.restart_at(secs(60)), secs(61));
        assert_eq!(
            b.restart_at(Duration::from_millis(60_001)),
            Duration::from_millis(60_001)
        );
    }
}
