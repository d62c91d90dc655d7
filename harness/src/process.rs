//! What every process svclab spawns needs from its parent, in one place so
//! the kubelet, the probe handlers, the container shim and the pod server
//! share it without an arrow back up: the harness's pid as the child will
//! see it, and dying with the parent (PR_SET_PDEATHSIG plus the getppid
//! check the prctl(2) man page asks for).
/// This process's pid, taken before a fork for [`die_with_parent`].
pub(crate) fn parent_pid() -> libc::pid_t {
    libc::pid_t::try_from(std::process::id()).unwrap_or(0)
}

/// In a forked child before exec: SIGKILL when the parent dies, and exit
/// now if it already has. The prctl(2) man page's advice: a parent that
/// died between fork and the prctl sends no signal, and the child has been
/// reparented, so compare getppid() with the pid taken before the fork.
///
/// # Safety
/// Only between fork and exec (async-signal-safe calls only).
pub(crate) unsafe fn die_with_parent(parent: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: prctl and getppid are async-signal-safe and touch only the
    // calling process.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::getppid() != parent {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}
