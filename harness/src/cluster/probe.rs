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
    fs::File,
    io,
    net::SocketAddrV4,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::{fs::MetadataExt as _, process::CommandExt as _},
    },
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
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
use tokio::{net::TcpSocket, runtime::Runtime, task::AbortHandle, time::MissedTickBehavior};

/// kubelet's `User-Agent` (`kube-probe/<major>.<minor>`).
const USER_AGENT: &str = "kube-probe/1.33";
/// kubelet reads at most this much of a probe response's body.
const MAX_BODY: usize = 10 * 1024;
/// Redirects kubelet follows (to the same host) before failing.
const MAX_REDIRECTS: usize = 10;
/// kubelet's probe dialer sets SO_LINGER on with this timeout.
const LINGER: Duration = Duration::from_secs(1);
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
        let due = ticker.tick().await.into_std();
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

fn timeout_detail(timeout: Duration) -> String {
    format!("timeout after {timeout:?}")
}

/// pkg/probe/tcp: dial with the timeout through kubelet's probe dialer
/// (SO_LINGER on, 1 s) and close at once.
async fn tcp_probe(addr: SocketAddrV4, timeout: Duration) -> (ProbeOutcome, String) {
    let sock = match TcpSocket::new_v4() {
        Ok(s) => s,
        Err(e) => return (ProbeOutcome::Failure, format!("socket: {e}")),
    };
    // The close below may wait (up to the linger time) for the FIN to be
    // acknowledged; on a local veth that is microseconds, and it is what
    // kubelet's dialer does.
    #[expect(deprecated, reason = "kubelet's probe dialer sets SO_LINGER {on, 1s}")]
    let linger = sock.set_linger(Some(LINGER));
    if let Err(e) = linger {
        return (ProbeOutcome::Failure, format!("SO_LINGER: {e}"));
    }
    match tokio::time::timeout(timeout, sock.connect(addr.into())).await {
        Err(_) => (
            ProbeOutcome::Timeout,
            format!("dial tcp {addr}: {}", timeout_detail(timeout)),
        ),
        Ok(Err(e)) => (ProbeOutcome::Failure, format!("dial tcp {addr}: {e}")),
        Ok(Ok(stream)) => {
            drop(stream);
            (ProbeOutcome::Success, String::new())
        }
    }
}

/// The headers kubelet sends: the handler's (in order, repeats kept), then
/// `User-Agent: kube-probe/1.33` and `Accept: */*` unless the handler names
/// them (names compare case-insensitively). An `Accept` whose first value
/// is empty removes the header, as kubelet does; reqwest then adds its own
/// `Accept: */*`, which means the same to a server.
fn probe_headers(extra: &[(String, String)]) -> Vec<(&str, &str)> {
    let named = |n: &str| extra.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    let first_accept_empty = extra
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("accept"))
        .is_some_and(|(_, v)| v.is_empty());
    let mut out: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(|(k, _)| !(first_accept_empty && k.eq_ignore_ascii_case("accept")))
        // Go sends no User-Agent when it is set to "".
        .filter(|(k, v)| !(k.eq_ignore_ascii_case("user-agent") && v.is_empty()))
        .collect();
    if !named("user-agent") {
        out.push(("User-Agent", USER_AGENT));
    }
    if !named("accept") {
        out.push(("Accept", "*/*"));
    }
    // Go's transport adds `Connection: close` with DisableKeepAlives unless
    // the request already asks for it.
    let asks_close = out.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("connection")
            && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
    });
    if !asks_close {
        out.push(("Connection", "close"));
    }
    out
}

/// kubelet's redirect checker with followNonLocalRedirects = false: a
/// redirect to another host is not followed (the 3xx itself is the
/// answer, which counts as success); more than 10 is an error.
fn redirect_policy(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let first_host = attempt
        .previous()
        .first()
        .and_then(|u| u.host_str())
        .map(str::to_owned);
    if attempt.url().host_str().map(str::to_owned) != first_host {
        attempt.stop()
    } else if attempt.previous().len() >= MAX_REDIRECTS {
        attempt.error(format!("stopped after {MAX_REDIRECTS} redirects"))
    } else {
        attempt.follow()
    }
}

/// The URL kubelet builds: http://<addr> + path (a missing leading slash added).
fn probe_url(addr: SocketAddrV4, path: &str) -> String {
    if path.starts_with('/') {
        format!("http://{addr}{path}")
    } else {
        format!("http://{addr}/{path}")
    }
}

/// An error and its causes, "a: b: c".
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// pkg/probe/http.
async fn http_probe(
    addr: SocketAddrV4,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
    http: &reqwest::Client,
) -> (ProbeOutcome, String) {
    let url = probe_url(addr, path);
    let attempt = async {
        let mut req = http.get(&url);
        for (k, v) in probe_headers(headers) {
            req = req.header(k, v);
        }
        let mut resp = req.send().await?;
        let status = resp.status();
        let mut read = 0usize;
        while read < MAX_BODY {
            match resp.chunk().await? {
                Some(c) => read += c.len(),
                None => break,
            }
        }
        Ok::<_, reqwest::Error>(status)
    };
    // One timer covers the whole attempt: connect, redirects, body.
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => (
            ProbeOutcome::Timeout,
            format!("Get {url}: {}", timeout_detail(timeout)),
        ),
        Ok(Err(e)) => (ProbeOutcome::Failure, format!("Get {url}: {}", chain(&e))),
        Ok(Ok(status)) if (200..400).contains(&status.as_u16()) => {
            (ProbeOutcome::Success, String::new())
        }
        Ok(Ok(status)) => (
            ProbeOutcome::Failure,
            format!("HTTP probe failed with statuscode: {}", status.as_u16()),
        ),
    }
}

/// pkg/probe/exec, with the pod netns standing in for the container.
async fn exec_probe(netns: &Path, command: &[String], timeout: Duration) -> (ProbeOutcome, String) {
    let (netns, command) = (netns.to_owned(), command.to_vec());
    // Fork and wait on a blocking thread, never inside async code.
    match tokio::task::spawn_blocking(move || exec_blocking(&netns, &command, timeout)).await {
        Ok(r) => r,
        Err(e) => (ProbeOutcome::Failure, format!("exec task: {e}")),
    }
}

fn exec_blocking(netns: &Path, command: &[String], timeout: Duration) -> (ProbeOutcome, String) {
    let Some((prog, args)) = command.split_first() else {
        return (ProbeOutcome::Failure, "empty command".to_owned());
    };
    let ns = match File::open(netns) {
        Ok(f) => f,
        Err(e) => {
            return (
                ProbeOutcome::Failure,
                format!("opening netns {}: {e}", netns.display()),
            );
        }
    };
    let ns_fd = ns.as_raw_fd();
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setns and prctl are async-signal-safe; `ns` outlives spawn().
    // PDEATHSIG fires when this (blocking) thread exits, and the thread
    // waits for the child, so the child never outlives its prober.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (ProbeOutcome::Failure, format!("exec {prog:?}: {e}")),
    };
    drop(ns);
    match wait_timeout(&mut child, timeout) {
        Ok(Some(status)) if status.success() => (ProbeOutcome::Success, String::new()),
        Ok(Some(status)) => (
            ProbeOutcome::Failure,
            match status.code() {
                Some(code) => format!("command {command:?} exited with {code}"),
                None => format!("command {command:?} ended by {status}"),
            },
        ),
        Ok(None) => {
            kill_and_reap(&mut child);
            (
                ProbeOutcome::Timeout,
                format!("command {command:?}: {}", timeout_detail(timeout)),
            )
        }
        Err(e) => {
            kill_and_reap(&mut child);
            (
                ProbeOutcome::Failure,
                format!("waiting for {command:?}: {e}"),
            )
        }
    }
}

/// SIGKILL our own child by PID, then reap it.
fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for `child` up to `timeout`: Some(status) if it exited, None if
/// it is still running. Sleeps on a pidfd (woken exactly at exit); falls
/// back to polling where pidfd_open is unavailable.
fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    // SAFETY: pidfd_open on our own child's pid; returns a new fd or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let pidfd = i32::try_from(raw)
        .ok()
        .filter(|&fd| fd >= 0)
        // SAFETY: a fresh fd owned by nobody else.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        match &pidfd {
            Some(fd) => {
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // Round up so a sub-millisecond remainder still sleeps.
                let ms = libc::c_int::try_from(left.as_micros().div_ceil(1000))
                    .unwrap_or(libc::c_int::MAX);
                // SAFETY: one valid pollfd. EINTR just loops.
                unsafe { libc::poll(&mut pfd, 1, ms) };
            }
            None => std::thread::sleep(left.min(Duration::from_millis(2))),
        }
    }
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
    // SAFETY: unshare affects only the calling thread's netns.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        let e = io::Error::last_os_error();
        let _ = io::Write::write_all(
            &mut io::stderr(),
            format!("svclab: {why}; isolating the thread failed too ({e}); aborting\n").as_bytes(),
        );
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_jitter_spreads_within_the_period() {
        let fracs: Vec<f64> = (0..200)
            .map(|i| start_jitter(&format!("web-{i}"), ProbeKind::Readiness))
            .collect();
        assert!(fracs.iter().all(|f| (0.0..1.0).contains(f)));
        let early = fracs.iter().filter(|f| **f < 0.5).count();
        assert!(
            (60..=140).contains(&early),
            "{early} of 200 in the first half"
        );
        assert_ne!(
            start_jitter("web-0", ProbeKind::Readiness),
            start_jitter("web-0", ProbeKind::Liveness)
        );
    }

    fn h(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    /// `probe_headers` as owned pairs, to compare with `h(..)`.
    fn headers(extra: &[(String, String)]) -> Vec<(String, String)> {
        probe_headers(extra)
            .into_iter()
            .map(|(k, v)| h(k, v))
            .collect()
    }

    #[test]
    fn gate_bits() {
        assert_eq!(kind_bit(ProbeKind::Startup), 1);
        assert_eq!(kind_bit(ProbeKind::Readiness), 2);
        assert_eq!(kind_bit(ProbeKind::Liveness), 4);
        let g = ProbeGate::default();
        for k in ProbeKind::ALL {
            assert!(!g.is_open(k));
        }
        g.set(&[ProbeKind::Startup], 3, 1_000);
        assert_eq!(g.kinds.load(Ordering::Relaxed), 1);
        assert!(g.is_open(ProbeKind::Startup));
        assert!(!g.is_open(ProbeKind::Readiness));
        assert_eq!(g.generation.load(Ordering::Relaxed), 3);
        assert_eq!(g.container_start_ns.load(Ordering::Relaxed), 1_000);
        // `set` opens exactly the given kinds.
        g.set(&[ProbeKind::Readiness, ProbeKind::Liveness], 4, 2_000);
        assert_eq!(g.kinds.load(Ordering::Relaxed), 0b110);
        assert!(!g.is_open(ProbeKind::Startup));
        assert!(g.is_open(ProbeKind::Readiness));
        assert!(g.is_open(ProbeKind::Liveness));
        assert_eq!(g.generation.load(Ordering::Relaxed), 4);
        g.close();
        assert_eq!(g.kinds.load(Ordering::Relaxed), 0);
        for k in ProbeKind::ALL {
            assert!(!g.is_open(k));
        }
        // The generation stays for reports of probes that were running.
        assert_eq!(g.generation.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn default_headers() {
        assert_eq!(
            headers(&[]),
            vec![
                h("User-Agent", USER_AGENT),
                h("Accept", "*/*"),
                h("Connection", "close")
            ]
        );
    }

    #[test]
    fn handler_headers_override_defaults_case_insensitively() {
        let got = headers(&[h("user-agent", "mine/1"), h("ACCEPT", "application/json")]);
        assert_eq!(
            got,
            vec![
                h("user-agent", "mine/1"),
                h("ACCEPT", "application/json"),
                h("Connection", "close")
            ]
        );
        // Extra headers are kept, in order, repeats too.
        let got = headers(&[h("X-A", "1"), h("X-A", "2"), h("Host", "example")]);
        assert_eq!(
            got,
            vec![
                h("X-A", "1"),
                h("X-A", "2"),
                h("Host", "example"),
                h("User-Agent", USER_AGENT),
                h("Accept", "*/*"),
                h("Connection", "close")
            ]
        );
    }

    #[test]
    fn empty_overrides_remove_the_header() {
        // kubelet deletes an Accept that was set to ""; Go sends no empty User-Agent.
        let got = headers(&[h("Accept", ""), h("User-Agent", "")]);
        assert_eq!(got, vec![h("Connection", "close")]);
    }

    #[test]
    fn connection_close_not_doubled() {
        let got = headers(&[h("connection", "Close")]);
        assert_eq!(
            got,
            vec![
                h("connection", "Close"),
                h("User-Agent", USER_AGENT),
                h("Accept", "*/*")
            ]
        );
    }

    #[test]
    fn url_gets_a_leading_slash() {
        let a: SocketAddrV4 = "198.18.0.5:8080".parse().unwrap();
        assert_eq!(probe_url(a, "/healthz"), "http://198.18.0.5:8080/healthz");
        assert_eq!(
            probe_url(a, "healthz?x=1"),
            "http://198.18.0.5:8080/healthz?x=1"
        );
        assert_eq!(probe_url(a, ""), "http://198.18.0.5:8080/");
    }

    #[test]
    fn exec_outcomes_without_netns_change() {
        // The caller's own netns: no root needed to enter it.
        let ns = PathBuf::from("/proc/thread-self/ns/net");
        let sh = |s: &str| vec!["/bin/sh".to_owned(), "-c".to_owned(), s.to_owned()];
        let t = Duration::from_secs(5);
        // setns into the namespace one is already in needs CAP_SYS_ADMIN;
        // without root the spawn fails, which is a Failure too.
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            let (o, _) = exec_blocking(&ns, &sh("exit 0"), t);
            assert_eq!(o, ProbeOutcome::Failure);
            return;
        }
        assert_eq!(
            exec_blocking(&ns, &sh("exit 0"), t).0,
            ProbeOutcome::Success
        );
        let (o, d) = exec_blocking(&ns, &sh("exit 3"), t);
        assert_eq!(o, ProbeOutcome::Failure);
        assert!(d.contains("exited with 3"), "{d}");
        let start = Instant::now();
        let (o, _) = exec_blocking(&ns, &sh("sleep 5"), Duration::from_millis(100));
        assert_eq!(o, ProbeOutcome::Timeout);
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(exec_blocking(&ns, &[], t).0, ProbeOutcome::Failure);
    }
}
