//! What every process svclab spawns needs from its parent, in one place so
//! the kubelet, the probe handlers, the container shim and the pod server
//! share it without an arrow back up: the harness's pid as the child will
//! see it, and dying with the parent (PR_SET_PDEATHSIG plus the getppid
//! check the prctl(2) man page asks for).
use nix::{errno::Errno, sys::signal::Signal};

/// This process's pid, taken before a fork for [`die_with_parent`].
pub(crate) fn parent_pid() -> libc::pid_t {
    libc::pid_t::try_from(std::process::id()).unwrap_or(0)
}

/// SIGKILL when the parent dies, and exit now if it already has: see
/// [`die_with_parent_by`].
pub(crate) fn die_with_parent(parent: libc::pid_t) -> std::io::Result<()> {
    die_with_parent_by(parent, Signal::SIGKILL)
}

/// `signal` when the parent dies, and an error (ESRCH) now if it already
/// has. The prctl(2) man page's advice: a parent that died between fork
/// and the prctl sends no signal, and the child has been reparented, so
/// compare getppid() with the pid taken before the fork.
///
/// Async-signal-safe (two plain system calls, no allocation, an error made
/// from an errno), so a `pre_exec` hook may call it between fork and exec.
pub(crate) fn die_with_parent_by(parent: libc::pid_t, signal: Signal) -> std::io::Result<()> {
    nix::sys::prctl::set_pdeathsig(signal)?;
    if nix::unistd::getppid().as_raw() != parent {
        return Err(Errno::ESRCH.into());
    }
    Ok(())
}
