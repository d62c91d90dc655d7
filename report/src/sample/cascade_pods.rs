//! The pods of incident B's liveness cascade: each pod's script (start,
//! readiness, restarts and their reasons) and the phase lookups the
//! per-bucket figures are built from.

use crate::record::{PhaseChange, PodPhase, PodRecord, Restart};

/// Each pod of [`liveness_cascade`]: 4 workers of ~10 ms each.
pub(super) const CASCADE_WORKERS: u32 = 4;

pub(super) const CASCADE_BACKLOG: u32 = 64;

/// Requests per second one ready pod serves.
pub(super) const POD_CAPACITY: f64 = 400.0;

pub(super) const LIVENESS_TIMEOUT: &str =
    "liveness probe failed: timeout after 1s (http GET :8080/healthz)";

pub(super) const STARTUP_TIMEOUT: &str =
    "startup probe failed: timeout after 1s (http GET :8080/healthz)";

/// One pod's script in [`liveness_cascade`].
pub(super) struct PodScript {
    pub(super) name: &'static str,
    pub(super) node: u8,
    pub(super) created: f64,
    /// When its container first starts listening (slow start after
    /// `created`). The initial pods were ready when the run started (the
    /// runner starts the clock once the deployments are ready).
    pub(super) running: f64,
    /// When it first turns ready; None when its first start fails.
    pub(super) ready: Option<f64>,
    /// Container restarts: when, and why.
    pub(super) restarts: &'static [(f64, &'static str)],
    /// Readiness failing over this interval.
    pub(super) not_ready: Option<(f64, f64)>,
}

impl PodScript {
    /// Phase changes and restarts. A restart is kubelet killing the
    /// container (terminating, 0.5 s), waiting out the back-off (1 s
    /// doubling at time scale 0.1), starting it (running) and seeing
    /// readiness pass 0.6 s later.
    pub(super) fn lifecycle(&self) -> (Vec<PhaseChange>, Vec<Restart>) {
        let mut changes = vec![
            (self.created, PodPhase::Pending),
            (self.running, PodPhase::Running),
        ];
        changes.extend(self.ready.map(|t| (t, PodPhase::Ready)));
        let mut restarts = Vec::new();
        for (i, (t, reason)) in self.restarts.iter().enumerate() {
            let count = i as u32 + 1;
            let back_off = f64::from(1u32 << i);
            changes.push((*t, PodPhase::Terminating));
            changes.push((t + 0.5, PodPhase::BackOff));
            changes.push((t + 0.5 + back_off, PodPhase::Running));
            changes.push((t + 1.1 + back_off, PodPhase::Ready));
            restarts.push(Restart {
                t_s: *t,
                count,
                reason: (*reason).into(),
            });
        }
        if let Some((from, to)) = self.not_ready {
            changes.push((from, PodPhase::NotReady));
            changes.push((to, PodPhase::Ready));
        }
        changes.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Changes at the same instant: only the last one is a phase the pod was in.
        let mut phases: Vec<PhaseChange> = Vec::new();
        for (t_s, phase) in changes {
            if phases.last().is_some_and(|p| p.t_s == t_s) {
                phases.pop();
            }
            phases.push(PhaseChange { t_s, phase });
        }
        (phases, restarts)
    }
}

pub(super) const CASCADE_PODS: [PodScript; 4] = [
    PodScript {
        name: "web-0",
        node: 0,
        created: 0.0,
        running: 0.0,
        ready: Some(0.0),
        restarts: &[
            (26.2, LIVENESS_TIMEOUT),
            (36.4, LIVENESS_TIMEOUT),
            (47.0, LIVENESS_TIMEOUT),
        ],
        not_ready: None,
    },
    PodScript {
        name: "web-1",
        node: 1,
        created: 0.0,
        running: 0.0,
        ready: Some(0.0),
        restarts: &[
            (23.4, LIVENESS_TIMEOUT),
            (31.0, LIVENESS_TIMEOUT),
            (38.2, LIVENESS_TIMEOUT),
        ],
        not_ready: None,
    },
    PodScript {
        name: "web-2",
        node: 0,
        created: 0.0,
        running: 0.0,
        ready: Some(0.0),
        restarts: &[(27.8, LIVENESS_TIMEOUT), (45.0, LIVENESS_TIMEOUT)],
        not_ready: Some((40.0, 44.0)),
    },
    // Added by the autoscaler; slow start, and its first start fails its
    // startup probe under the load it joins.
    PodScript {
        name: "web-3",
        node: 1,
        created: 22.2,
        running: 23.7,
        ready: None,
        restarts: &[
            (24.7, STARTUP_TIMEOUT),
            (31.5, LIVENESS_TIMEOUT),
            (42.0, LIVENESS_TIMEOUT),
        ],
        not_ready: None,
    },
];

/// The phase of `pod` at `t` (the last change at or before it).
pub(super) fn phase_at(pod: &PodRecord, t: f64) -> Option<PodPhase> {
    pod.phases
        .iter()
        .take_while(|c| c.t_s <= t)
        .last()
        .map(|c| c.phase)
}

/// Seconds of `[from, to)` that `pod` spends in phases `pred` accepts.
pub(super) fn time_in(
    pod: &PodRecord,
    [from, to]: [f64; 2],
    pred: impl Fn(PodPhase) -> bool,
) -> f64 {
    crate::derive::phase_spans(pod, to)
        .iter()
        .filter(|s| pred(s.phase))
        .map(|s| (s.to.min(to) - s.from.max(from)).max(0.0))
        .sum()
}
