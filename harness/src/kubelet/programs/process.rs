//! Starting a real program under the `svclab container-run` shim: the
//! shim's PID is what kubelet signals (SIGTERM is forwarded to the
//! program), the program's PID is its process group, killed with SIGKILL
//! when the container is killed.
use std::{
    io::{BufRead as _, BufReader},
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};
use nix::sys::signal::Signal;

use super::ProgramSpec;
use crate::{
    kubelet::pods::PodProcess,
    process::{die_with_parent_by, parent_pid},
};

/// The environment variable every process of a container carries: the
/// pod's netns path (`/run/netns/svl-<run>-<pod>`).
pub const POD_NETNS_ENV: &str = "SVCLAB_POD_NETNS";

impl PodProcess {
    /// Starts `program` in the netns at `netns_path` under the shim `exe
    /// container-run`; returns once the program was started (or failed to).
    /// From the runner's main thread, like [`PodProcess::spawn`].
    pub fn spawn_program(
        exe: &Path,
        netns_path: &Path,
        name: &str,
        program: &ProgramSpec,
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(exe);
        cmd.arg("container-run")
            .arg("--netns")
            .arg(netns_path)
            .arg("--log")
            .arg(&program.log);
        if let Some(cg) = &program.cgroup {
            cmd.arg("--cgroup").arg(cg);
        }
        for (k, v) in &program.env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        // Inherited by everything the program starts, so a leftover of the
        // run is found by its environment even when it left the group.
        cmd.arg("--env")
            .arg(format!("{POD_NETNS_ENV}={}", netns_path.display()));
        cmd.arg("--")
            .args(&program.argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let parent = parent_pid();
        // SAFETY: the hook runs between fork and exec; die_with_parent_by
        // is async-signal-safe (prctl and getppid, no allocation). SIGHUP,
        // not SIGKILL: the shim catches it and kills the program's group.
        unsafe {
            cmd.pre_exec(move || die_with_parent_by(parent, Signal::SIGHUP));
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the container of {name}"))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let mut p = Self {
            pid: child.id(),
            child: Some(child),
            group: None,
            early_exit: None,
            _stats_page: None,
        };
        match line.trim().parse::<i32>() {
            Ok(g) => p.group = Some(g),
            // The shim reports "error …" and exits 127 when the program
            // cannot start: kubelet sees that exit. Anything else is ours.
            Err(_) if line.starts_with("error") => {}
            Err(_) => {
                p.kill();
                bail!("starting the container of {name}: the shim said {line:?}");
            }
        }
        Ok(p)
    }
}
