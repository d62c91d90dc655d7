//! One probe attempt per handler, as kubelet's pkg/probe does it: the TCP
//! dial with SO_LINGER 1 s closed at once (tcp), the GET with kubelet's
//! headers, body limit and redirect rule (http), the command in the pod
//! netns with its timeout (exec).
use std::{
    fs::File,
    io,
    net::SocketAddrV4,
    os::{
        fd::{AsFd as _, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd},
        unix::process::CommandExt as _,
    },
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use nix::{
    poll::{PollFd, PollFlags, PollTimeout},
    sched::CloneFlags,
};
use tokio::net::TcpSocket;

use svclab_kube::prober::ProbeOutcome;

/// kubelet's `User-Agent` (`kube-probe/<major>.<minor>`).
pub(super) const USER_AGENT: &str = "kube-probe/1.33";
/// kubelet reads at most this much of a probe response's body.
const MAX_BODY: usize = 10 * 1024;
/// Redirects kubelet follows (to the same host) before failing.
const MAX_REDIRECTS: usize = 10;
/// kubelet's probe dialer sets SO_LINGER on with this timeout.
const LINGER: Duration = Duration::from_secs(1);

pub(super) fn timeout_detail(timeout: Duration) -> String {
    format!("timeout after {timeout:?}")
}

/// pkg/probe/tcp: dial with the timeout through kubelet's probe dialer
/// (SO_LINGER on, 1 s) and close at once.
pub(super) async fn tcp_probe(addr: SocketAddrV4, timeout: Duration) -> (ProbeOutcome, String) {
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
pub(super) fn probe_headers(extra: &[(String, String)]) -> Vec<(&str, &str)> {
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
pub(super) fn redirect_policy(
    attempt: reqwest::redirect::Attempt<'_>,
) -> reqwest::redirect::Action {
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
pub(super) fn probe_url(addr: SocketAddrV4, path: &str) -> String {
    if path.starts_with('/') {
        format!("http://{addr}{path}")
    } else {
        format!("http://{addr}/{path}")
    }
}

/// An error and its causes, "a: b: c".
pub(super) fn chain(e: &dyn std::error::Error) -> String {
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
pub(super) async fn http_probe(
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
pub(super) async fn exec_probe(
    netns: &Path,
    command: &[String],
    timeout: Duration,
) -> (ProbeOutcome, String) {
    let (netns, command) = (netns.to_owned(), command.to_vec());
    // Fork and wait on a blocking thread, never inside async code.
    match tokio::task::spawn_blocking(move || exec_blocking(&netns, &command, timeout)).await {
        Ok(r) => r,
        Err(e) => (ProbeOutcome::Failure, format!("exec task: {e}")),
    }
}

pub(crate) fn exec_blocking(
    netns: &Path,
    command: &[String],
    timeout: Duration,
) -> (ProbeOutcome, String) {
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
    let parent = crate::process::parent_pid();
    // SAFETY: the hook runs between fork and exec; setns, prctl and
    // getppid are async-signal-safe (no allocation). `ns` outlives spawn(),
    // so borrowing its raw fd in the child is sound. PDEATHSIG fires when
    // this (blocking) thread exits, and the thread waits for the child, so
    // the child never outlives its prober.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::setns(BorrowedFd::borrow_raw(ns_fd), CloneFlags::CLONE_NEWNET)?;
            crate::process::die_with_parent(parent)
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
pub(super) fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for `child` up to `timeout`: Some(status) if it exited, None if
/// it is still running. Sleeps on a pidfd (woken exactly at exit); falls
/// back to polling where pidfd_open is unavailable.
pub(super) fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
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
                // Round up so a sub-millisecond remainder still sleeps.
                let ms = PollTimeout::try_from(left.as_micros().div_ceil(1000))
                    .unwrap_or(PollTimeout::MAX);
                // EINTR just loops.
                let _ = nix::poll::poll(&mut [PollFd::new(fd.as_fd(), PollFlags::POLLIN)], ms);
            }
            None => std::thread::sleep(left.min(Duration::from_millis(2))),
        }
    }
}
