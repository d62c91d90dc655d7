//! kubelet for one pod: its container's lifecycle (start, liveness/startup
//! kill with SIGTERM → grace → SIGKILL, exit, CrashLoopBackOff, restart in
//! the same netns with the same IP), its probe tasks and their results, and
//! the telemetry the run records per bucket. The decisions themselves are
//! `svclab_kube`'s pure state machines; this module owns the processes and
//! the clock. The container is `svclab pod-server` or a real program
//! (`ContainerSpec::program`, run under the `svclab container-run` shim);
//! kubelet treats both alike. Runs on the runner's main thread (pod processes must be
//! spawned there: PDEATHSIG is tied to the spawning thread).
use std::{
    collections::{BTreeMap, VecDeque},
    net::SocketAddrV4,
    path::{Path, PathBuf},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use svclab_kube::{
    backoff::RestartBackoff,
    prober::{ContainerProbes, ProbeKind, ProbeOutcome, ProbeSpec},
};
use svclab_report::record::{PodPhase, ProbeBucket};
use svclab_suite::model::{self, ServerSpec};

use self::programs::ProgramSpec;

mod telemetry;

pub mod pods;
pub mod probe;
pub mod programs;

use self::{
    pods::PodProcess,
    probe::{Handler, ProbeGate, ProbeHandle, ProbeReport, ProbeTask, Prober},
};
use crate::podserver::{podstats::StatsMap, sockdiag::SockDiag};

/// The container's state as kubelet sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Container {
    /// Created, not started yet.
    Waiting,
    Running {
        since: Duration,
    },
    /// Being killed: SIGTERM sent, SIGKILL at `deadline`.
    Killing {
        deadline: Duration,
    },
    /// Exited; starts again at `until` (CrashLoopBackOff while waiting).
    BackOff {
        finished_at: Duration,
        until: Duration,
    },
}

/// What changed for the cluster to act on.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Ready(bool),
    /// A container was killed or exited and will restart; `count` is the
    /// new restart count.
    Restart {
        count: u32,
        reason: String,
    },
}

/// Everything needed to (re)start the pod's container.
#[derive(Clone, Debug)]
pub struct ContainerSpec {
    pub exe: PathBuf,
    pub netns_path: PathBuf,
    pub name: String,
    pub server: ServerSpec,
    /// A real program instead of the pod server.
    pub program: Option<ProgramSpec>,
    /// The serving port (probes' default, accept queue sampled).
    pub port: u16,
    /// The listener's backlog and worker count as configured (0: unknown).
    pub backlog: u32,
    pub workers: u32,
    /// Scaled terminationGracePeriodSeconds.
    pub grace: Duration,
}

/// Scaled kubelet timing for a probe spec from the suite.
pub fn probe_spec(p: &model::Probe, scale: f64) -> ProbeSpec {
    ProbeSpec {
        initial_delay: svclab_kube::prober::effective_initial_delay(p.initial_delay.0)
            .mul_f64(scale),
        period: p.period.0.mul_f64(scale),
        success_threshold: p.success_threshold,
        failure_threshold: p.failure_threshold,
    }
}

/// The probe handler for a pod at `ip` serving on `port`, netns `netns_path`.
pub fn handler(p: &model::Probe, port: u16, ip: std::net::Ipv4Addr, netns_path: &Path) -> Handler {
    if let Some(t) = &p.tcp {
        Handler::Tcp {
            addr: SocketAddrV4::new(ip, t.port.unwrap_or(port)),
        }
    } else if let Some(h) = &p.http {
        Handler::Http {
            addr: SocketAddrV4::new(ip, h.port.unwrap_or(port)),
            path: h.path.clone(),
            headers: h
                .headers
                .iter()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        }
    } else {
        Handler::Exec {
            netns: netns_path.to_owned(),
            command: p
                .exec
                .as_ref()
                .map(|e| e.command.clone())
                .unwrap_or_default(),
        }
    }
}

/// Per-kind probe figures of the current bucket.
#[derive(Default)]
struct ProbeAcc {
    b: ProbeBucket,
    latency_sum_ms: f64,
}

/// Samples of the current bucket.
#[derive(Default)]
struct Telemetry {
    probes: BTreeMap<&'static str, ProbeAcc>,
    queue_max: u32,
    queue_sum: u64,
    busy_max: u32,
    busy_sum: u64,
    samples: u32,
    backlog: u32,
}

pub struct Kubelet {
    pub spec: ContainerSpec,
    pub probes: ContainerProbes,
    gate: Arc<ProbeGate>,
    _handles: Vec<ProbeHandle>,
    pub container: Container,
    process: Option<PodProcess>,
    stats: Option<StatsMap>,
    diag: Option<SockDiag>,
    generation: u64,
    backoff: RestartBackoff,
    pub restarts: u32,
    /// A readiness result arrived for the current container.
    readiness_seen: bool,
    /// When Ready last changed (the Ready condition's lastTransitionTime).
    pub ready_transition: Duration,
    /// Set when the pod is being deleted.
    pub deleting: bool,
    pub phases: Vec<(Duration, PodPhase)>,
    pub restart_log: Vec<(Duration, u32, String)>,
    tel: Telemetry,
    /// Busy-worker ratio samples and request counts for the autoscaler.
    hpa_busy: VecDeque<(Duration, f64)>,
    hpa_requests: VecDeque<(Duration, u64)>,
    /// Requests completed by containers that have ended.
    requests_done_before: u64,
    /// `requests_total()` when the last bucket closed.
    requests_at_bucket: u64,
}

impl Kubelet {
    /// Sets up kubelet for a new pod and starts its first container.
    #[expect(
        clippy::too_many_arguments,
        reason = "one constructor for the pod's kubelet"
    )]
    pub fn start(
        spec: ContainerSpec,
        probes_spec: &model::Probes,
        scale: f64,
        ip: std::net::Ipv4Addr,
        prober: &Prober,
        backoff: RestartBackoff,
        diag: Option<SockDiag>,
        now: Duration,
    ) -> anyhow::Result<(Self, Vec<Change>)> {
        let probes = ContainerProbes::new(
            probes_spec.startup.as_ref().map(|p| probe_spec(p, scale)),
            probes_spec.readiness.as_ref().map(|p| probe_spec(p, scale)),
            probes_spec.liveness.as_ref().map(|p| probe_spec(p, scale)),
        );
        let gate = Arc::new(ProbeGate::default());
        let pod: Arc<str> = Arc::from(spec.name.as_str());
        let mut handles = Vec::new();
        for (kind, p) in [
            (ProbeKind::Startup, &probes_spec.startup),
            (ProbeKind::Readiness, &probes_spec.readiness),
            (ProbeKind::Liveness, &probes_spec.liveness),
        ] {
            if let Some(p) = p {
                let s = probe_spec(p, scale);
                handles.push(prober.spawn(ProbeTask {
                    pod: Arc::clone(&pod),
                    kind,
                    handler: handler(p, spec.port, ip, &spec.netns_path),
                    period: s.period,
                    timeout: p.timeout.0,
                    initial_delay: s.initial_delay,
                    gate: Arc::clone(&gate),
                }));
            }
        }
        let mut k = Kubelet {
            spec,
            probes,
            gate,
            _handles: handles,
            container: Container::Waiting,
            process: None,
            stats: None,
            diag,
            generation: 0,
            backoff,
            restarts: 0,
            readiness_seen: false,
            ready_transition: now,
            deleting: false,
            phases: vec![(now, PodPhase::Pending)],
            restart_log: Vec::new(),
            tel: Telemetry::default(),
            hpa_busy: VecDeque::new(),
            hpa_requests: VecDeque::new(),
            requests_done_before: 0,
            requests_at_bucket: 0,
        };
        let changes = k.start_container(now)?;
        Ok((k, changes))
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// Whether the container's process has exited (not yet acted on).
    pub fn container_exited(&mut self) -> bool {
        self.process.as_mut().is_none_or(PodProcess::exited)
    }

    fn start_container(&mut self, now: Duration) -> anyhow::Result<Vec<Change>> {
        if let Some(program) = &self.spec.program {
            self.process = Some(PodProcess::spawn_program(
                &self.spec.exe,
                &self.spec.netns_path,
                &self.spec.name,
                program,
            )?);
            self.stats = None;
        } else {
            let stats = StatsMap::create()?;
            let process = PodProcess::spawn(
                &self.spec.exe,
                &self.spec.netns_path,
                &self.spec.name,
                &self.spec.server,
                &stats,
            )?;
            self.stats = Some(stats);
            self.process = Some(process);
        }
        self.generation += 1;
        self.container = Container::Running { since: now };
        self.readiness_seen = false;
        let d = self.probes.container_started(now);
        self.sync_gate(now);
        let mut changes = Vec::new();
        if let Some(r) = d.ready_changed {
            self.ready_transition = now;
            changes.push(Change::Ready(r));
        }
        // The start is a pod sync: UpdatePodStatus triggers the readiness
        // probe at once (kubelet's PLEG relist, up to 1 s, is not modelled).
        self.trigger_readiness();
        self.note_phase(now);
        Ok(changes)
    }

    /// Runs the readiness probe now if kubelet's status sync would
    /// ([`ContainerProbes::readiness_trigger`]).
    fn trigger_readiness(&self) {
        if self.probes.readiness_trigger() {
            self.gate.trigger_readiness();
        }
    }

    /// Opens the gate for exactly the kinds kubelet would probe now.
    fn sync_gate(&self, now: Duration) {
        let kinds: Vec<ProbeKind> = ProbeKind::ALL
            .into_iter()
            .filter(|k| self.probes.gate_open(*k))
            .collect();
        let since = match self.container {
            Container::Running { since } => since,
            _ => now,
        };
        if kinds.is_empty() {
            self.gate.close();
        } else {
            self.gate.set(
                &kinds,
                self.generation,
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX),
            );
        }
    }

    /// Applies one probe result.
    pub fn on_probe(&mut self, r: &ProbeReport, now: Duration) -> Vec<Change> {
        self.count_probe(r);
        if r.generation != self.generation || !matches!(self.container, Container::Running { .. }) {
            return Vec::new();
        }
        if r.kind == ProbeKind::Readiness {
            self.readiness_seen = true;
        }
        let d = self.probes.observe(r.kind, r.result.outcome, now);
        let mut changes = Vec::new();
        if let Some(ready) = d.ready_changed {
            self.ready_transition = now;
            changes.push(Change::Ready(ready));
        }
        if d.started || d.ready_changed.is_some() {
            self.sync_gate(now);
            // A changed result is a pod sync (kubelet's syncLoop on the
            // results managers' updates), which may trigger readiness.
            self.trigger_readiness();
        }
        if let Some(kind) = d.kill {
            let why = if r.result.detail.is_empty() {
                r.result.outcome.name().to_owned()
            } else {
                r.result.detail.clone()
            };
            changes
                .extend(self.kill_container(now, format!("{} probe failed: {why}", kind.name())));
        }
        self.note_phase(now);
        changes
    }

    fn count_probe(&mut self, r: &ProbeReport) {
        let acc = self.tel.probes.entry(r.kind.name()).or_default();
        match r.result.outcome {
            ProbeOutcome::Success => acc.b.success += 1,
            ProbeOutcome::Failure => acc.b.failure += 1,
            ProbeOutcome::Timeout => acc.b.timeout += 1,
        }
        let ms = r.result.latency.as_secs_f64() * 1000.0;
        acc.latency_sum_ms += ms;
        acc.b.latency_ms_max = acc.b.latency_ms_max.max(ms);
    }

    /// kubelet's kill: not ready at once, SIGTERM, SIGKILL after the grace.
    fn kill_container(&mut self, now: Duration, reason: String) -> Vec<Change> {
        let mut changes = Vec::new();
        let d = self.probes.container_stopped();
        self.gate.close();
        if let Some(r) = d.ready_changed {
            self.ready_transition = now;
            changes.push(Change::Ready(r));
        }
        if let Some(p) = &self.process {
            p.signal_term();
        }
        self.restarts += 1;
        self.restart_log.push((now, self.restarts, reason.clone()));
        changes.push(Change::Restart {
            count: self.restarts,
            reason,
        });
        self.container = Container::Killing {
            deadline: now + self.spec.grace,
        };
        changes
    }

    /// Advances the container: exits, kill deadlines, back-off expiry.
    pub fn tick(&mut self, now: Duration) -> anyhow::Result<Vec<Change>> {
        let mut changes = Vec::new();
        if self.deleting {
            return Ok(changes);
        }
        match self.container {
            Container::Running { .. } => {
                if let Some(how) = self.process.as_mut().and_then(PodProcess::try_exit) {
                    // The container died on its own: kubelet restarts it.
                    let reason = format!("container exited: {how}");
                    changes.extend(self.kill_container(now, reason));
                    self.exited(now);
                }
            }
            Container::Killing { deadline } => {
                let gone = match self.process.as_mut() {
                    Some(p) => {
                        if p.try_exit().is_some() {
                            true
                        } else if now >= deadline {
                            p.kill();
                            true
                        } else {
                            false
                        }
                    }
                    None => true,
                };
                if gone {
                    self.exited(now);
                }
            }
            Container::BackOff { .. } | Container::Waiting => {}
        }
        // Also right after an exit: a back-off of zero (the first restart)
        // starts the new container in the same tick.
        if let Container::BackOff { finished_at, until } = self.container
            && now >= until
        {
            self.backoff.record_start(finished_at, now);
            changes.extend(self.start_container(now)?);
        }
        self.note_phase(now);
        Ok(changes)
    }

    fn exited(&mut self, now: Duration) {
        self.requests_done_before += self.tel_requests_now();
        self.process = None;
        self.stats = None;
        self.container = Container::BackOff {
            finished_at: now,
            until: self.backoff.restart_at(now),
        };
    }

    /// Marks the pod deleting: no more restarts, liveness and startup
    /// probes stop, readiness goes on until the container ends
    /// ([`ContainerProbes::pod_deleting`]); the cluster ends the process
    /// and removes the pod.
    pub fn begin_delete(&mut self, now: Duration) -> Vec<Change> {
        self.deleting = true;
        let d = self.probes.pod_deleting();
        self.sync_gate(now);
        let mut changes = Vec::new();
        if let Some(r) = d.ready_changed {
            self.ready_transition = now;
            changes.push(Change::Ready(r));
        }
        self.trigger_readiness();
        self.note_phase(now);
        changes
    }

    /// Ends the process: SIGTERM, up to the grace, SIGKILL (blocking).
    pub fn terminate(&mut self, grace: Duration) {
        if let Some(p) = self.process.as_mut() {
            p.terminate(grace);
        }
        self.process = None;
    }

    /// SIGTERM to the container (termination; no wait).
    pub fn signal_term(&self) {
        if let Some(p) = &self.process {
            p.signal_term();
        }
    }

    /// How the container ended, once it has (reaped here).
    pub fn exit_status(&mut self) -> Option<String> {
        match self.process.as_mut() {
            Some(p) => p.try_exit(),
            None => Some("gone".to_owned()),
        }
    }

    /// SIGKILL now (timeline `kill`, teardown).
    /// SIGKILL without waiting (teardown signals every pod, then reaps).
    pub fn signal_kill(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.signal_kill();
        }
    }

    pub fn kill_now(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.kill();
        }
        self.process = None;
    }

    pub fn ready(&self) -> bool {
        !self.deleting && self.probes.ready()
    }

    pub fn running(&self) -> bool {
        matches!(self.container, Container::Running { .. })
    }

    /// Whether [`Kubelet::phase`] is `Pending`.
    pub fn pending(&self) -> bool {
        self.phase() == PodPhase::Pending
    }

    pub fn phase(&self) -> PodPhase {
        if self.deleting {
            return PodPhase::Terminating;
        }
        match self.container {
            Container::Waiting => PodPhase::Pending,
            Container::Killing { .. } => PodPhase::Terminating,
            Container::BackOff { .. } => PodPhase::BackOff,
            Container::Running { .. } => {
                if self.probes.ready() {
                    PodPhase::Ready
                } else if !self.probes.started() || !self.readiness_seen {
                    // Slow start: the listener is not up yet.
                    if self
                        .stats
                        .as_ref()
                        .is_some_and(|s| s.listening.load(Ordering::Relaxed) == 0)
                    {
                        PodPhase::Pending
                    } else {
                        PodPhase::Running
                    }
                } else {
                    PodPhase::NotReady
                }
            }
        }
    }

    fn note_phase(&mut self, now: Duration) {
        let p = self.phase();
        if self.phases.last().is_none_or(|(_, last)| *last != p) {
            self.phases.push((now, p));
        }
    }
}
