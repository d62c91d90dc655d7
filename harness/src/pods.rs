//! Pod processes: each pod runs `svclab pod-server` inside its netns. They
//! are children of the harness with PR_SET_PDEATHSIG = SIGKILL, so they die
//! with it even when it is SIGKILLed, and are ended by PID only.
use std::{
    net::{SocketAddrV4, TcpStream},
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use svclab_datapath::NetnsRef;
use svclab_suite::model::{Closer, ServerSpec};

#[derive(Debug)]
pub struct PodProcess {
    pub pid: u32,
    child: Option<Child>,
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
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(exe);
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting pod process {name}"))?;
        Ok(Self {
            pid: child.id(),
            child: Some(child),
        })
    }

    /// SIGKILL by PID and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL.
    pub fn terminate(&mut self, grace: Duration) {
        if let Some(mut c) = self.child.take() {
            if let Ok(pid) = i32::try_from(c.id()) {
                // SAFETY: signalling our own child by PID.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PodProcess {
    fn drop(&mut self) {
        self.kill();
    }
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
