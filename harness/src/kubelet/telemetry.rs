//! kubelet's view of a pod's telemetry: probe outcomes and latencies, the
//! accept queue (sock_diag) and busy workers sampled within each bucket,
//! the busy-ratio and request-rate windows the autoscaler reads, and the
//! pod's phase and restart history for the run record.
use std::{sync::atomic::Ordering, time::Duration};

use svclab_report::record::{PhaseChange, PodBucket, Restart};

use svclab_suite::model;

use super::{Container, Kubelet};

impl Kubelet {
    pub(super) fn tel_requests_now(&self) -> u64 {
        self.stats
            .as_ref()
            .map_or(0, |s| s.requests.load(Ordering::Relaxed))
    }

    /// One telemetry sample: accept queue (sock_diag) and busy workers.
    /// `hpa_window`: how much history an autoscaler reads (None: no
    /// autoscaler, keep none).
    pub fn sample(&mut self, now: Duration, hpa_window: Option<Duration>) {
        self.note_phase(now);
        let port = self.spec.port;
        let q = match self.diag.as_mut() {
            Some(d) => d.listener(port).ok().flatten(),
            None => None,
        };
        let (busy, workers) = self.stats.as_ref().map_or((0, 0), |s| {
            (
                s.busy.load(Ordering::Relaxed),
                s.workers.load(Ordering::Relaxed),
            )
        });
        let t = &mut self.tel;
        if let Some(q) = q {
            t.queue_max = t.queue_max.max(q.depth);
            t.queue_sum += u64::from(q.depth);
            t.backlog = q.backlog;
        }
        t.busy_max = t.busy_max.max(busy);
        t.busy_sum += u64::from(busy);
        t.samples += 1;
        let Some(window) = hpa_window else {
            return;
        };
        if self.running() && workers > 0 {
            self.hpa_busy
                .push_back((now, f64::from(busy) / f64::from(workers)));
        }
        let total = self.requests_total();
        self.hpa_requests.push_back((now, total));
        // Only the autoscaler's window is ever read.
        let horizon = now.saturating_sub(window);
        while self.hpa_busy.front().is_some_and(|(t, _)| *t < horizon) {
            self.hpa_busy.pop_front();
        }
        while self.hpa_requests.front().is_some_and(|(t, _)| *t < horizon) {
            self.hpa_requests.pop_front();
        }
    }

    /// Requests completed by every container of this pod so far.
    pub(super) fn requests_total(&self) -> u64 {
        self.requests_done_before + self.tel_requests_now()
    }

    /// Closes the bucket: the pod's figures since the last call.
    pub fn take_bucket(&mut self) -> PodBucket {
        let t = std::mem::take(&mut self.tel);
        let total = self.requests_total();
        let requests = total.saturating_sub(self.requests_at_bucket);
        self.requests_at_bucket = total;
        self.tel.backlog = t.backlog;
        let n = f64::from(t.samples.max(1));
        PodBucket {
            phase: self.phase(),
            restarts: self.restarts,
            probes: t
                .probes
                .into_iter()
                .map(|(k, a)| {
                    let count = a.b.success + a.b.failure + a.b.timeout;
                    let mut b = a.b;
                    b.latency_ms_mean = if count > 0 {
                        a.latency_sum_ms / f64::from(count)
                    } else {
                        0.0
                    };
                    (k.to_owned(), b)
                })
                .collect(),
            accept_queue_max: t.queue_max,
            accept_queue_mean: t.queue_sum as f64 / n,
            backlog: t.backlog,
            busy_max: t.busy_max,
            busy_mean: t.busy_sum as f64 / n,
            requests,
        }
    }

    /// The autoscaler's view of this pod's metric over `window` ending now:
    /// None (missing) when the current container has not run for the whole window.
    pub fn hpa_metric(
        &self,
        kind: model::HpaMetricKind,
        now: Duration,
        window: Duration,
    ) -> Option<f64> {
        let Container::Running { since } = self.container else {
            return None;
        };
        let from = now.saturating_sub(window);
        if since > from {
            return None;
        }
        match kind {
            model::HpaMetricKind::BusyWorkers => {
                let (sum, n) = self
                    .hpa_busy
                    .iter()
                    .filter(|(t, _)| *t >= from)
                    .fold((0.0, 0u32), |(s, n), (_, v)| (s + v, n + 1));
                (n > 0).then(|| sum / f64::from(n))
            }
            model::HpaMetricKind::RequestRate => {
                let first = self.hpa_requests.iter().find(|(t, _)| *t >= from)?;
                let last = self.hpa_requests.back()?;
                let dt = last.0.saturating_sub(first.0).as_secs_f64();
                (dt > 0.0).then(|| last.1.saturating_sub(first.1) as f64 / dt)
            }
        }
    }

    /// Phase changes and restarts for the run record, times converted by `to_s`.
    pub fn record_parts(&self, to_s: impl Fn(Duration) -> f64) -> (Vec<PhaseChange>, Vec<Restart>) {
        (
            self.phases
                .iter()
                .map(|(t, p)| PhaseChange {
                    t_s: to_s(*t),
                    phase: *p,
                })
                .collect(),
            self.restart_log
                .iter()
                .map(|(t, c, r)| Restart {
                    t_s: to_s(*t),
                    count: *c,
                    reason: r.clone(),
                })
                .collect(),
        )
    }
}
