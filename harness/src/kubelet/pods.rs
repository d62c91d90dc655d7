//! Pod processes: each pod runs `svclab pod-server` inside its netns, or a
//! real program under the `svclab container-run` shim (`programs/`). They
//! are children of the harness with PR_SET_PDEATHSIG, so they die with it
//! even when it is SIGKILLed, and are ended by PID only (a program's whole
//! process group by its PGID).
use std::{
    net::{SocketAddrV4, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use nix::{
    sys::signal::{Signal, kill, killpg},
    unistd::Pid,
};
use svclab_datapath::NetnsRef;
use svclab_suite::model::{Closer, ServerSpec};

use crate::{podserver::podstats::StatsMap, process::parent_pid};

#[derive(Debug)]
pub struct PodProcess {
    pub pid: u32,
    pub(super) child: Option<Child>,
    /// A real program's process group (its PID), ended with the shim.
    pub(super) group: Option<i32>,
    /// An exit seen early (by [`PodProcess::exited`]), for `try_exit`.
    pub(super) early_exit: Option<String>,
    /// The pod server's stats page, held open while it runs: the server
    /// opens it by its /proc path.
    pub(super) _stats_page: Option<std::os::fd::OwnedFd>,
}

impl PodProcess {
    /// Starts the server for a pod. Must be called from a thread that lives
    /// as long as the pod (PDEATHSIG fires when the spawning thread exits):
    /// the runner's main thread.
    pub fn spawn(
        exe: &Path,
        netns_path: &Path,
        name: &str,
        server: &ServerSpec,
        stats: &StatsMap,
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(exe);
        // No pre_exec hook, so std spawns with posix_spawn (vfork: no copy
        // of the harness's page tables, which with 1000 pods cost more
        // than the exec). The server sets PR_SET_PDEATHSIG itself and
        // checks it still has this parent; it opens its stats page by path.
        let parent = parent_pid();
        let held = std::os::fd::AsFd::as_fd(stats)
            .try_clone_to_owned()
            .context("holding the pod stats page")?;
        let stats_path = format!(
            "/proc/{parent}/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&held)
        );
        cmd.arg("pod-server")
            .arg("--netns")
            .arg(netns_path)
            .args(["--name", name])
            .args(["--port", &server.port.to_string()])
            .args(["--workers", &server.workers.to_string()])
            .args(["--backlog", &server.backlog.to_string()])
            .args([
                "--service-time-us",
                &server.service_time.0.as_micros().to_string(),
            ])
            .args([
                "--close",
                if server.close == Closer::Server {
                    "server"
                } else {
                    "client"
                },
            ])
            .args(["--cpu-time-us", &server.cpu_time.0.as_micros().to_string()])
            .args(["--cpus", &server.cpus.to_string()])
            .args([
                "--startup-time-us",
                &server.startup_time.0.as_micros().to_string(),
            ])
            .args([
                "--read-timeout-ms",
                &server.read_timeout.0.as_millis().to_string(),
            ])
            .arg("--stats-path")
            .arg(&stats_path)
            .args(["--parent-pid", &parent.to_string()])
            .args(["--on-sigterm", server.on_sigterm.name()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(h) = &server.health {
            cmd.args(["--health-port", &h.port.to_string()])
                .args(["--health-workers", &h.workers.to_string()]);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting pod process {name}"))?;
        Ok(Self {
            pid: child.id(),
            child: Some(child),
            group: None,
            early_exit: None,
            _stats_page: Some(held),
        })
    }

    /// SIGTERM by PID without waiting (kubelet's kill starts the grace period).
    pub fn signal_term(&self) {
        if let Some(c) = &self.child
            && let Ok(pid) = i32::try_from(c.id())
        {
            // Our own, not yet reaped child, by PID.
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }

    /// Whether the process has ended (its exit kept for [`Self::try_exit`]).
    pub fn exited(&mut self) -> bool {
        if self.early_exit.is_none() {
            self.early_exit = self.reap();
        }
        self.early_exit.is_some()
    }

    /// The exit, if the process has ended (reaped here); "exit code 1",
    /// "signal 9", ... Later calls return None.
    pub fn try_exit(&mut self) -> Option<String> {
        self.early_exit.take().or_else(|| self.reap())
    }

    fn reap(&mut self) -> Option<String> {
        let c = self.child.as_mut()?;
        match c.try_wait() {
            Ok(Some(st)) => {
                self.child = None;
                Some(describe_exit(st))
            }
            Ok(None) => None,
            Err(e) => {
                self.child = None;
                Some(format!("wait failed: {e}"))
            }
        }
    }

    /// SIGKILL by PID (a program's group by PGID too) without waiting, so
    /// that many pods die at once; [`Self::kill`] reaps them after.
    pub fn signal_kill(&mut self) {
        self.kill_group();
        if let Some(c) = self.child.as_mut()
            && matches!(c.try_wait(), Ok(None))
        {
            let _ = c.kill();
        }
    }

    /// SIGKILL by PID (a program's whole group by PGID first) and reap.
    /// A program's shim is asked first (SIGINT: it kills the group and
    /// reaps every member), then both are SIGKILLed if it takes over 2 s.
    pub fn kill(&mut self) {
        if self.group.is_some()
            && let Some(c) = self.child.as_mut()
            && let Ok(pid) = i32::try_from(c.id())
            && matches!(c.try_wait(), Ok(None))
        {
            // Our own, not yet reaped child, by PID.
            let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.kill_group();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL.
    pub fn terminate(&mut self, grace: Duration) {
        self.signal_term();
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            self.child = Some(c);
            self.kill();
        }
    }

    /// SIGKILL to a program's process group while its shim runs: the shim
    /// reaps the group's leader only after killing the group, and exits
    /// right after, so while it runs the PGID is the program's. A shim that
    /// has exited already ended the group.
    fn kill_group(&mut self) {
        if let (Some(g), Some(c)) = (self.group, self.child.as_mut())
            && g > 1
            && matches!(c.try_wait(), Ok(None))
        {
            // The program's group, by its PGID.
            let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
        }
    }
}

fn describe_exit(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "exited".to_owned(),
    }
}

impl Drop for PodProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `addr` accepts a TCP connection from `netns` now (a refused or
/// unanswered connect within 200 ms is "not yet").
pub fn accepts(netns: &NetnsRef, addr: SocketAddrV4) -> anyhow::Result<bool> {
    Ok(accepting(netns, &[addr])?.first().copied().unwrap_or(false))
}

/// [`accepts`] for each of `addrs`, from one thread in `netns`.
pub fn accepting(netns: &NetnsRef, addrs: &[SocketAddrV4]) -> anyhow::Result<Vec<bool>> {
    Ok(netns.run(|| {
        addrs
            .iter()
            .map(|a| TcpStream::connect_timeout(&(*a).into(), Duration::from_millis(200)).is_ok())
            .collect()
    })?)
}

/// Waits until `addr` accepts TCP connections from `netns` (the node, as
/// kubelet would probe), up to `timeout`.
pub fn wait_listening(
    netns: &NetnsRef,
    addr: SocketAddrV4,
    timeout: Duration,
) -> anyhow::Result<()> {
    netns.run(|| {
        let deadline = Instant::now() + timeout;
        loop {
            match TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(anyhow::anyhow!(
                        "pod at {addr} not listening after {timeout:?}: {e}"
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    })?
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt as _;

    use super::*;
    use crate::process::die_with_parent;

    /// Spawns `true` with the pre-exec check expecting `parent`.
    fn spawn_expecting(parent: libc::pid_t) -> std::io::Result<std::process::ExitStatus> {
        let mut cmd = Command::new("true");
        // SAFETY: die_with_parent is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || die_with_parent(parent));
        }
        cmd.status()
    }

    #[test]
    fn a_child_whose_parent_is_already_gone_does_not_exec() {
        // Simulates the race: the child sees a getppid() other than the pid
        // its parent had at fork (as after reparenting to init).
        let e = spawn_expecting(parent_pid() + 1).expect_err("must not exec");
        assert_eq!(e.raw_os_error(), Some(libc::ESRCH), "{e}");
        assert!(spawn_expecting(parent_pid()).expect("spawn").success());
    }
}
