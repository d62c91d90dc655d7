//! Probe execution the way kubelet's prober does it, from a node's netns.
//!
//! A [`Prober`] is one node's kubelet prober: a tokio runtime whose every
//! thread has entered the node netns before it runs anything, so each socket
//! a probe opens (the TCP dial, reqwest's connections, which are set up
//! inside the task polling them or in tasks spawned on this same runtime)
//! belongs to the node, as in Kubernetes, where kubelet dials pod IPs from
//! the host. Each periodic probe is one task on kubelet's schedule
//! (pkg/kubelet/prober/worker.go): first attempt at once, then on a ticker
//! that drops missed ticks; closed gates and the initial delay skip a tick.
//! One attempt ([`run_probe`]) follows pkg/probe/{tcp,http,exec}: a dial
//! with SO_LINGER 1 s closed at once; an HTTP GET without keep-alive whose
//! 200..=399 is success and whose redirects to another host are not
//! followed; a command in the pod netns. A timeout is a failure to kubelet;
//! it is reported apart ([`ProbeOutcome::Timeout`]) for telemetry.
use std::{
    io,
    net::SocketAddrV4,
    os::unix::fs::MetadataExt as _,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use svclab_datapath::NetnsRef;
pub use svclab_kube::prober::{ProbeKind, ProbeOutcome};
use tokio::{runtime::Runtime, task::AbortHandle, time::MissedTickBehavior};

pub(crate) mod handlers;

use self::handlers::{exec_probe, http_probe, redirect_policy, tcp_probe};

/// Threads of the blocking pool (exec probes each hold one while they run).
const BLOCKING_THREADS: usize = 8;
/// How long `Prober::new` waits for its worker threads to report in.
const STARTUP_WAIT: Duration = Duration::from_secs(5);
/// How long dropping a Prober waits for its tasks.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// What a probe does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handler {
    /// Connect with the timeout, SO_LINGER on with 1 s, close at once.
    Tcp { addr: SocketAddrV4 },
    /// GET `path`; success = status 200..=399.
    Http {
        addr: SocketAddrV4,
        path: String,
        headers: Vec<(String, String)>,
    },
    /// Run `command` (argv, no shell) inside the netns at `netns`; exit 0 = success.
    Exec {
        netns: PathBuf,
        command: Vec<String>,
    },
}

/// One attempt's result.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeResult {
    pub outcome: ProbeOutcome,
    pub latency: Duration,
    /// Why it failed ("connection refused", "HTTP 503", "timeout after 1s", ...); empty on success.
    pub detail: String,
}

/// Which of one pod's probes may run, shared by its probe tasks and the
/// kubelet loop (which opens and closes it as the container changes).
#[derive(Debug, Default)]
pub struct ProbeGate {
    /// [`kind_bit`] set = that kind may run.
    kinds: AtomicU8,
    /// The container generation the open kinds belong to.
    generation: AtomicU64,
    /// When that container started, ns since the prober's t0.
    container_start_ns: AtomicU64,
    /// The readiness worker's `manualTriggerCh` (a buffer of one, as a
    /// Notify's single permit): run the probe now, not at the next tick.
    readiness_now: tokio::sync::Notify,
}

/// The gate bit of `kind`: Startup 1, Readiness 2, Liveness 4.
pub fn kind_bit(kind: ProbeKind) -> u8 {
    match kind {
        ProbeKind::Startup => 1 << 0,
        ProbeKind::Readiness => 1 << 1,
        ProbeKind::Liveness => 1 << 2,
    }
}

impl ProbeGate {
    /// Opens exactly `kinds` for container `generation` started at `start_ns`.
    pub fn set(&self, kinds: &[ProbeKind], generation: u64, start_ns: u64) {
        // Generation and start first; the Release store of the bits publishes
        // them to a task that sees the bits with Acquire.
        self.generation.store(generation, Ordering::Relaxed);
        self.container_start_ns.store(start_ns, Ordering::Relaxed);
        let bits = kinds.iter().fold(0u8, |b, &k| b | kind_bit(k));
        self.kinds.store(bits, Ordering::Release);
    }
    /// Closes every kind (container stopped).
    pub fn close(&self) {
        self.kinds.store(0, Ordering::Release);
    }
    pub fn is_open(&self, kind: ProbeKind) -> bool {
        self.kinds.load(Ordering::Acquire) & kind_bit(kind) != 0
    }
    /// Asks the readiness task for a run now (kubelet's non-blocking send
    /// on `manualTriggerCh`: a trigger already pending absorbs this one).
    pub fn trigger_readiness(&self) {
        self.readiness_now.notify_one();
    }
    /// Resolves when a run of `kind` was triggered; never for the kinds
    /// kubelet has no trigger for.
    async fn triggered(&self, kind: ProbeKind) {
        if kind == ProbeKind::Readiness {
            self.readiness_now.notified().await;
        } else {
            std::future::pending::<()>().await;
        }
    }
}

/// One periodic probe of one pod.
#[derive(Clone, Debug)]
pub struct ProbeTask {
    pub pod: Arc<str>,
    pub kind: ProbeKind,
    pub handler: Handler,
    pub period: Duration,
    pub timeout: Duration,
    pub initial_delay: Duration,
    pub gate: Arc<ProbeGate>,
}

/// One finished attempt, sent to the kubelet loop. Times are ns since t0.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    pub pod: Arc<str>,
    pub kind: ProbeKind,
    pub generation: u64,
    pub due_ns: u64,
    pub start_ns: u64,
    pub result: ProbeResult,
}

/// A node's prober: a tokio runtime whose threads live in the node netns.
pub struct Prober {
    rt: Option<Runtime>,
    handle: tokio::runtime::Handle,
    http: reqwest::Client,
    t0: Instant,
    reports: mpsc::Sender<ProbeReport>,
    netns: String,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("netns", &self.netns)
            .finish_non_exhaustive()
    }
}

impl Prober {
    pub fn new(
        node: &NetnsRef,
        threads: usize,
        t0: Instant,
        reports: mpsc::Sender<ProbeReport>,
    ) -> anyhow::Result<Self> {
        let threads = threads.max(1);
        let name = node.name().to_owned();
        let expected = node
            .run(current_netns_inode)
            .with_context(|| format!("entering node netns {name}"))?
            .with_context(|| format!("reading the inode of node netns {name}"))?;
        let ns = node.try_clone()?;
        // Every thread that starts (workers now, blocking threads later)
        // reports whether it entered the netns; only the workers' reports
        // are read, later sends fail unseen.
        let (started_tx, started) = mpsc::channel::<Result<(), String>>();
        let ns_name = name.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_name("svclab-prober")
            .enable_io()
            .enable_time()
            .on_thread_start(move || {
                let r = enter_and_check(&ns, expected).map_err(|e| {
                    format!("prober thread could not enter node netns {ns_name}: {e}")
                });
                if let Err(msg) = &r {
                    isolate_or_abort(msg);
                }
                let _ = started_tx.send(r);
            })
            .build()
            .with_context(|| format!("building the prober runtime for {name}"))?;
        // Worker threads start while the runtime is built; wait until each
        // has entered the netns (or one failed) before any probe can run.
        let deadline = Instant::now() + STARTUP_WAIT;
        for entered in 0..threads {
            let left = deadline.saturating_duration_since(Instant::now());
            match started.recv_timeout(left) {
                Ok(Ok(())) => {}
                Ok(Err(msg)) => {
                    rt.shutdown_background();
                    bail!("{msg}");
                }
                Err(_) => {
                    rt.shutdown_background();
                    bail!(
                        "prober runtime for {name}: only {entered} of {threads} threads entered the node netns after {STARTUP_WAIT:?}"
                    );
                }
            }
        }
        let http = reqwest::Client::builder()
            // kubelet: DisableKeepAlives; a probe's connection is never reused.
            .pool_max_idle_per_host(0)
            // Never a proxy from the environment: probes go straight to the pod.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::custom(redirect_policy))
            .build()
            .context("building the probe HTTP client")?;
        Ok(Self {
            handle: rt.handle().clone(),
            rt: Some(rt),
            http,
            t0,
            reports,
            netns: name,
        })
    }

    /// Starts the task; it probes until the handle is dropped.
    pub fn spawn(&self, task: ProbeTask) -> ProbeHandle {
        let join = self.handle.spawn(probe_loop(
            task,
            self.http.clone(),
            self.t0,
            self.reports.clone(),
        ));
        ProbeHandle {
            abort: join.abort_handle(),
        }
    }

    /// One attempt on this prober's threads (in the node netns), waited for
    /// on the caller's thread. Not for async code (it blocks).
    pub fn probe_once(&self, handler: &Handler, timeout: Duration) -> ProbeResult {
        let start = Instant::now();
        let (handler, http) = (handler.clone(), self.http.clone());
        // Spawned, not `block_on`'d directly: a future given to block_on runs
        // on the calling thread, which is not in the node netns.
        let join = self
            .handle
            .spawn(async move { run_probe(&handler, timeout, &http).await });
        match self.handle.block_on(join) {
            Ok(r) => r,
            Err(e) => ProbeResult {
                outcome: ProbeOutcome::Failure,
                latency: start.elapsed(),
                detail: format!("probe task: {e}"),
            },
        }
    }

    /// The HTTP client probes use (its connections are made on this
    /// prober's threads).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // Waiting is not allowed inside another runtime; there, let go.
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(SHUTDOWN_WAIT);
            }
        }
    }
}

/// Stops its task when dropped.
#[derive(Debug)]
pub struct ProbeHandle {
    abort: AbortHandle,
}

impl Drop for ProbeHandle {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

/// One attempt, as kubelet runs it (callable on its own, e.g. in tests).
pub async fn run_probe(
    handler: &Handler,
    timeout: Duration,
    http: &reqwest::Client,
) -> ProbeResult {
    let start = Instant::now();
    let (outcome, detail) = match handler {
        Handler::Tcp { addr } => tcp_probe(*addr, timeout).await,
        Handler::Http {
            addr,
            path,
            headers,
        } => http_probe(*addr, path, headers, timeout, http).await,
        Handler::Exec { netns, command } => exec_probe(netns, command, timeout).await,
    };
    ProbeResult {
        outcome,
        latency: start.elapsed(),
        detail,
    }
}

fn ns_since(t0: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(t0).as_nanos()).unwrap_or(u64::MAX)
}

/// kubelet's worker loop for one probe.
async fn probe_loop(
    task: ProbeTask,
    http: reqwest::Client,
    t0: Instant,
    reports: mpsc::Sender<ProbeReport>,
) {
    // kubelet's worker: within a period of kubelet's own start, first wait
    // a random part of the period, so the probes of the pods that exist
    // when kubelet starts do not all fire in the same instant.
    if t0.elapsed() < task.period {
        let frac = start_jitter(&task.pod, task.kind);
        tokio::time::sleep(task.period.mul_f64(frac)).await;
    }
    // First tick at once; a probe longer than the period drops ticks and
    // the next one fires when it ends, as with Go's ticker (buffer of one).
    let mut ticker = tokio::time::interval(task.period.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let initial_delay = u64::try_from(task.initial_delay.as_nanos()).unwrap_or(u64::MAX);
    loop {
        // worker.go run (v1.31.0 :164-172): the next doProbe on the ticker
        // or on a manual trigger, whichever comes first.
        let due = tokio::select! {
            t = ticker.tick() => t.into_std(),
            () = task.gate.triggered(task.kind) => Instant::now(),
        };
        if !task.gate.is_open(task.kind) {
            continue;
        }
        let start = Instant::now();
        let start_ns = ns_since(t0, start);
        let container_start = task.gate.container_start_ns.load(Ordering::Relaxed);
        if start_ns.saturating_sub(container_start) < initial_delay {
            continue;
        }
        let generation = task.gate.generation.load(Ordering::Relaxed);
        let result = run_probe(&task.handler, task.timeout, &http).await;
        let report = ProbeReport {
            pod: Arc::clone(&task.pod),
            kind: task.kind,
            generation,
            due_ns: ns_since(t0, due),
            start_ns,
            result,
        };
        if reports.send(report).is_err() {
            // Nobody listens any more: the run is shutting down.
            return;
        }
    }
}

/// A fraction in [0, 1) from the pod name and probe kind (FNV-1a, then
/// splitmix64's finalizer so similar names spread): like kubelet's random
/// start delay, but the same on every run.
fn start_jitter(pod: &str, kind: ProbeKind) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pod.bytes().chain([kind_bit(kind)]) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The inode of the calling thread's netns.
fn current_netns_inode() -> io::Result<u64> {
    Ok(std::fs::metadata("/proc/thread-self/ns/net")?.ino())
}

/// Moves the calling thread into `ns` and checks that it arrived.
fn enter_and_check(ns: &NetnsRef, expected: u64) -> anyhow::Result<()> {
    ns.enter_current_thread()?;
    let now = current_netns_inode().context("reading /proc/thread-self/ns/net")?;
    if now != expected {
        bail!("netns inode {now} after setns, expected {expected}");
    }
    Ok(())
}

/// A prober thread that could not enter its node netns must not probe from
/// where it is (the root netns would route 198.18.0.0/15 to the default
/// gateway): move it into a fresh, empty netns, where every probe fails
/// loudly; if even that is impossible, stop the process.
fn isolate_or_abort(why: &str) {
    // Affects only the calling thread's netns.
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
        let e = io::Error::from(e);
        let _ = io::Write::write_all(
            &mut io::stderr(),
            format!("svclab: {why}; isolating the thread failed too ({e}); aborting\n").as_bytes(),
        );
        std::process::abort();
    }
}

#[cfg(test)]
mod tests;
