//! kubelet's prober workers (pkg/kubelet/prober/worker.go): per container,
//! the startup, readiness and liveness results with their thresholds, the
//! startup gate, initial delays and the on-hold state after a kill.
//!
//! What the harness drives: `container_started` / `container_stopped` when
//! the container changes state, `gate_open` (or `should_probe`, which adds
//! the initial delay) on each probe tick, and `observe` with each probe's
//! outcome; it acts on the returned [`ProbeDecision`] (flip the endpoint's
//! readiness, kill the container).
//!
//! Two deliberate simplifications against worker.go: a new container
//! resets every worker's run (kubelet keeps `lastResult`/`resultRun` across
//! container IDs, so a restarted container could reach a success threshold
//! on runs begun by its predecessor), and a kill puts all three workers on
//! hold (kubelet holds only the worker that failed; the others stop
//! mattering once the runtime stops the container moments later).
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeKind {
    Startup,
    Readiness,
    Liveness,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 3] = [
        ProbeKind::Startup,
        ProbeKind::Readiness,
        ProbeKind::Liveness,
    ];
    /// "startup", "readiness", "liveness".
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "startup",
            ProbeKind::Readiness => "readiness",
            ProbeKind::Liveness => "liveness",
        }
    }
}

/// What one probe attempt saw. A timeout is a failure to kubelet; it is
/// kept apart for telemetry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeOutcome {
    Success,
    Failure,
    Timeout,
}

impl ProbeOutcome {
    pub fn is_success(self) -> bool {
        matches!(self, ProbeOutcome::Success)
    }
    /// "success", "failure", "timeout".
    pub fn name(self) -> &'static str {
        match self {
            ProbeOutcome::Success => "success",
            ProbeOutcome::Failure => "failure",
            ProbeOutcome::Timeout => "timeout",
        }
    }
}

/// One probe's timing and thresholds, already scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    pub initial_delay: Duration,
    pub period: Duration,
    /// Kubernetes validation requires 1 for startup and liveness probes, so
    /// for those two kinds it is treated as 1 whatever is set here.
    pub success_threshold: u32,
    /// 0 is treated as 1 (a result can only be published after one run).
    pub failure_threshold: u32,
}

/// The initial delay kubelet actually waits for a set `initialDelaySeconds`
/// (before the time scale): doProbe skips while
/// `int32(time.Since(StartedAt).Seconds()) < InitialDelaySeconds`
/// (kubernetes v1.31.0 pkg/kubelet/prober/worker.go:280-283), whole seconds
/// of the elapsed time against the setting, so the first probe may run once
/// the elapsed time reaches the setting rounded up to a whole second. The
/// API's field is whole seconds already; a suite may write `1.5s`, which
/// kubelet's comparison makes 2 s.
#[must_use]
pub fn effective_initial_delay(set: Duration) -> Duration {
    let whole = set.as_secs() + u64::from(set.subsec_nanos() > 0);
    Duration::from_secs(whole)
}

/// What a result changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeDecision {
    /// The container's readiness flipped to this value.
    pub ready_changed: Option<bool>,
    /// The container counts as started just now (readiness and liveness may
    /// run): the startup probe succeeded, or, from `container_started`, the
    /// container has no startup probe.
    pub started: bool,
    /// Liveness or startup failed `failure_threshold` times in a row: kubelet
    /// kills the container (and restarts it); every worker is on hold until
    /// a new container starts.
    pub kill: Option<ProbeKind>,
}

/// One worker's bookkeeping (worker.go's `lastResult` and `resultRun`).
#[derive(Clone, Debug)]
struct Worker {
    spec: ProbeSpec,
    /// `Some(true)` after a success, `Some(false)` after a failure.
    last: Option<bool>,
    run: u32,
}

impl Worker {
    fn new(spec: ProbeSpec) -> Self {
        Self {
            spec,
            last: None,
            run: 0,
        }
    }

    /// worker.doProbe: extends or restarts the run, and returns the result
    /// when it is published (the run reached its threshold).
    fn record(&mut self, kind: ProbeKind, success: bool) -> Option<bool> {
        if self.last == Some(success) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(success);
            self.run = 1;
        }
        let threshold = match (success, kind) {
            (false, _) => self.spec.failure_threshold,
            (true, ProbeKind::Readiness) => self.spec.success_threshold,
            (true, ProbeKind::Startup | ProbeKind::Liveness) => 1,
        };
        (self.run >= threshold.max(1)).then_some(success)
    }
}

/// kubelet's three prober workers of one container.
#[derive(Clone, Debug)]
pub struct ContainerProbes {
    startup: Option<Worker>,
    readiness: Option<Worker>,
    liveness: Option<Worker>,
    running: bool,
    started: bool,
    ready: bool,
    /// Set by a liveness or startup kill; cleared by the next container.
    on_hold: bool,
    /// When the current (or last) container started running.
    container_start: Duration,
    /// The pod has a deletion timestamp: liveness and startup stop,
    /// readiness goes on ([`ContainerProbes::pod_deleting`]).
    deleting: bool,
}

impl ContainerProbes {
    pub fn new(
        startup: Option<ProbeSpec>,
        readiness: Option<ProbeSpec>,
        liveness: Option<ProbeSpec>,
    ) -> Self {
        Self {
            startup: startup.map(Worker::new),
            readiness: readiness.map(Worker::new),
            liveness: liveness.map(Worker::new),
            running: false,
            started: false,
            ready: false,
            on_hold: false,
            container_start: Duration::ZERO,
            deleting: false,
        }
    }

    /// The pod got its deletion timestamp. worker.go doProbe (kubernetes
    /// v1.31.0 pkg/kubelet/prober/worker.go:257-262) then sets the liveness
    /// and startup results to Success and ends those two workers, while
    /// the readiness worker keeps probing until the container stops: a
    /// draining pod that starts failing readiness becomes `serving=false`.
    /// The startup Success also marks a container still in its startup
    /// probe as started (prober_manager.go UpdatePodStatus), so its
    /// readiness probe begins, or it is ready at once without one.
    pub fn pod_deleting(&mut self) -> ProbeDecision {
        let mut decision = ProbeDecision::default();
        if self.deleting {
            return decision;
        }
        self.deleting = true;
        if !self.running || self.on_hold {
            return decision;
        }
        if !self.started {
            self.started = true;
            decision.started = true;
            if self.readiness.is_none() && !self.ready {
                self.ready = true;
                decision.ready_changed = Some(true);
            }
        }
        decision
    }

    /// Whether the pod is being deleted ([`ContainerProbes::pod_deleting`]).
    pub fn deleting(&self) -> bool {
        self.deleting
    }

    /// A new container (first start or a restart) began running at `now`:
    /// results reset as kubelet does for a new container ID (the results
    /// managers go back to each worker's initial value: startup unknown,
    /// readiness failure, liveness success), and the workers leave hold.
    pub fn container_started(&mut self, now: Duration) -> ProbeDecision {
        let was_ready = self.ready;
        self.running = true;
        self.container_start = now;
        self.on_hold = false;
        for worker in [&mut self.startup, &mut self.readiness, &mut self.liveness]
            .into_iter()
            .flatten()
        {
            worker.last = None;
            worker.run = 0;
        }
        // Without a startup probe kubelet reports the container started as
        // soon as it runs; without a readiness probe, ready once started.
        self.started = self.startup.is_none();
        self.ready = self.started && self.readiness.is_none();
        ProbeDecision {
            ready_changed: (self.ready != was_ready).then_some(self.ready),
            started: self.started,
            kill: None,
        }
    }

    /// The container stopped (killed or exited): not ready, probes on hold.
    pub fn container_stopped(&mut self) -> ProbeDecision {
        let was_ready = self.ready;
        self.running = false;
        self.started = false;
        self.ready = false;
        ProbeDecision {
            ready_changed: was_ready.then_some(false),
            ..ProbeDecision::default()
        }
    }

    /// Whether kubelet runs probe `kind` now (the gates apart from time):
    /// the probe is configured, the container runs, the workers are not on
    /// hold, the startup gate is in the right state (startup probes only
    /// until started, the other two only after), and once the pod is being
    /// deleted only readiness runs.
    pub fn gate_open(&self, kind: ProbeKind) -> bool {
        if self.worker(kind).is_none() || !self.running || self.on_hold {
            return false;
        }
        match kind {
            ProbeKind::Startup => !self.started && !self.deleting,
            ProbeKind::Liveness => self.started && !self.deleting,
            ProbeKind::Readiness => self.started,
        }
    }

    /// Whether kubelet triggers a readiness run at once now: each pod
    /// status sync runs `UpdatePodStatus`, which for a started container
    /// whose readiness result is not Success sends the readiness worker's
    /// `manualTriggerCh` (kubernetes v1.31.0
    /// pkg/kubelet/prober/prober_manager.go:313-324); the worker then
    /// probes without waiting for its ticker (worker.go:164-172). The
    /// syncs svclab models are the ones a probe result or a container start
    /// causes, so the caller asks this after each of those.
    pub fn readiness_trigger(&self) -> bool {
        self.gate_open(ProbeKind::Readiness) && !self.ready
    }

    /// `gate_open` and the initial delay since the container start has passed.
    pub fn should_probe(&self, kind: ProbeKind, now: Duration) -> bool {
        // worker.doProbe skips while `time.Since(StartedAt) < InitialDelaySeconds`.
        self.gate_open(kind)
            && self
                .worker(kind)
                .is_some_and(|w| now.saturating_sub(self.container_start) >= w.spec.initial_delay)
    }

    /// Applies one probe result seen at `now`. A result for a closed gate
    /// (from a previous container, after a kill, before the startup gate
    /// opened) is stale and ignored. The initial delay is not re-checked
    /// here: it decides when to probe (`should_probe`), and a result always
    /// arrives after its probe began.
    pub fn observe(
        &mut self,
        kind: ProbeKind,
        outcome: ProbeOutcome,
        now: Duration,
    ) -> ProbeDecision {
        let mut decision = ProbeDecision::default();
        // `now` is part of the interface for symmetry with `should_probe`;
        // kubelet's bookkeeping itself does not depend on time.
        let _ = now;
        if !self.gate_open(kind) {
            return decision;
        }
        let Some(worker) = self.worker_mut(kind) else {
            return decision;
        };
        let Some(published) = worker.record(kind, outcome.is_success()) else {
            return decision;
        };
        match (kind, published) {
            (ProbeKind::Startup, true) => {
                self.started = true;
                decision.started = true;
                if self.readiness.is_none() && !self.ready {
                    self.ready = true;
                    decision.ready_changed = Some(true);
                }
            }
            (ProbeKind::Readiness, ready) => {
                if self.ready != ready {
                    self.ready = ready;
                    decision.ready_changed = Some(ready);
                }
            }
            (ProbeKind::Liveness, true) => {}
            (ProbeKind::Startup | ProbeKind::Liveness, false) => {
                // The container will be restarted: stop probing until a new
                // container ID shows up.
                worker.run = 0;
                self.on_hold = true;
                decision.kill = Some(kind);
            }
        }
        decision
    }

    pub fn started(&self) -> bool {
        self.started
    }
    pub fn ready(&self) -> bool {
        self.ready
    }
    pub fn running(&self) -> bool {
        self.running
    }

    /// The spec of probe `kind`, if configured.
    pub fn spec(&self, kind: ProbeKind) -> Option<&ProbeSpec> {
        self.worker(kind).map(|w| &w.spec)
    }

    fn worker(&self, kind: ProbeKind) -> Option<&Worker> {
        match kind {
            ProbeKind::Startup => self.startup.as_ref(),
            ProbeKind::Readiness => self.readiness.as_ref(),
            ProbeKind::Liveness => self.liveness.as_ref(),
        }
    }

    fn worker_mut(&mut self, kind: ProbeKind) -> Option<&mut Worker> {
        match kind {
            ProbeKind::Startup => self.startup.as_mut(),
            ProbeKind::Readiness => self.readiness.as_mut(),
            ProbeKind::Liveness => self.liveness.as_mut(),
        }
    }
}

#[cfg(test)]
mod tests;
