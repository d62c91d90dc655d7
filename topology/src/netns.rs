//! Named network namespaces, created and deleted the way iproute2 does it
//! (`ip netns add/del`), so `ip netns list` and `svclab clean` see ours:
//! `/run/netns` is a shared mount point, each namespace is a file in it with
//! `/proc/thread-self/ns/net` bind-mounted on top. Also per-thread namespace
//! switching (setns(2) moves only the calling thread) and `/proc/sys`
//! access, which resolves `net.*` keys against the calling thread's
//! namespace.
use std::{
    ffi::CString,
    fs::File,
    io,
    os::{fd::OwnedFd, unix::ffi::OsStrExt as _},
    path::{Path, PathBuf},
    sync::Mutex,
};

use nix::{
    errno::Errno,
    fcntl::OFlag,
    mount::{MntFlags, MsFlags},
    sched::CloneFlags,
    sys::stat::Mode,
};

use crate::error::TopologyError;

/// Where named namespaces live (iproute2's `NETNS_RUN_DIR`).
pub const NETNS_DIR: &str = "/run/netns";

/// `/run/netns/<name>`.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

fn cstr(path: &Path, netns: &str) -> Result<CString, TopologyError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        TopologyError::sys(
            "path with NUL byte",
            netns,
            io::Error::from(io::ErrorKind::InvalidInput),
        )
    })
}

/// Makes sure `/run/netns` exists and is a shared mount point, so mounts
/// below it propagate to every mount namespace (as `ip netns add` does:
/// make it shared; if it is not a mount point yet, bind it onto itself
/// first). Done once per process.
pub(crate) fn ensure_netns_dir() -> Result<(), TopologyError> {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return Ok(());
    }
    let dir = Path::new(NETNS_DIR);
    match std::fs::create_dir_all(dir) {
        Ok(()) => {}
        Err(e) => return Err(TopologyError::sys("create /run/netns", NETNS_DIR, e)),
    }
    let c = cstr(dir, NETNS_DIR)?;
    let c = c.as_c_str();
    let none = Some(c"none");
    let mut bound = false;
    loop {
        // A propagation change only.
        match nix::mount::mount(
            Some(c""),
            c,
            none,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&std::ffi::CStr>,
        ) {
            Ok(()) => break,
            Err(e) if e == Errno::EINVAL && !bound => {}
            Err(e) => {
                return Err(TopologyError::errno("make /run/netns shared", NETNS_DIR, e));
            }
        }
        // Not a mount point yet: bind it onto itself, then retry.
        nix::mount::mount(
            Some(c),
            c,
            none,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&std::ffi::CStr>,
        )
        .map_err(|e| TopologyError::errno("bind /run/netns onto itself", NETNS_DIR, e))?;
        bound = true;
    }
    *done = true;
    Ok(())
}

/// Creates the named namespace `name` and moves the calling thread into
/// it. The caller owns the thread's namespace afterwards: it must move the
/// thread back (see [`enter`]) or end it. On error nothing named is left
/// behind. Fails with `EEXIST` if the name is taken (by us or anyone).
pub(crate) fn create_and_enter(name: &str) -> Result<(), TopologyError> {
    let path = netns_path(name);
    let c = cstr(&path, name)?;
    // Creates an empty mount target, O_EXCL so a name that already exists
    // (ours or someone else's) is never reused; closed again at once.
    let created = nix::fcntl::open(
        c.as_c_str(),
        OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o444),
    )
    .map_err(|e| TopologyError::errno("create netns file", name, e))?;
    drop(created);
    // Affects only this thread.
    if let Err(e) = nix::sched::unshare(CloneFlags::CLONE_NEWNET) {
        let e = TopologyError::errno("unshare(CLONE_NEWNET)", name, e);
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    // Bind-mounts this thread's namespace on the file.
    if let Err(e) = nix::mount::mount(
        Some(c"/proc/thread-self/ns/net"),
        c.as_c_str(),
        Some(c"none"),
        MsFlags::MS_BIND,
        None::<&std::ffi::CStr>,
    ) {
        let e = TopologyError::errno("bind-mount netns", name, e);
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(())
}

/// Deletes the named namespace: detach its bind mount, remove the file
/// (`ip netns del`). The kernel frees the namespace, and with it every
/// link and route inside, once nothing else holds it.
pub(crate) fn delete(name: &str) -> Result<(), TopologyError> {
    let path = netns_path(name);
    let c = cstr(&path, name)?;
    let umount_err = nix::mount::umount2(c.as_c_str(), MntFlags::MNT_DETACH)
        .err()
        .map(io::Error::from);
    let unlink = std::fs::remove_file(&path);
    match (umount_err, unlink) {
        (None, Ok(())) => Ok(()),
        (Some(e), Err(u)) if u.kind() == io::ErrorKind::NotFound => Err(TopologyError::sys(
            "umount netns (file already gone)",
            name,
            e,
        )),
        (Some(e), _) => Err(TopologyError::sys("umount netns", name, e)),
        (None, Err(e)) => Err(TopologyError::sys("unlink netns file", name, e)),
    }
}

/// An open reference to a namespace (keeps it alive while held).
pub(crate) fn open(path: &Path, netns: &str) -> Result<OwnedFd, TopologyError> {
    File::open(path)
        .map(OwnedFd::from)
        .map_err(|e| TopologyError::sys("open netns", netns, e))
}

/// The calling thread's namespace.
pub(crate) fn current() -> Result<OwnedFd, TopologyError> {
    open(Path::new("/proc/thread-self/ns/net"), "(current thread)")
}

/// Moves the calling thread into the namespace behind `fd`.
pub(crate) fn enter(fd: &OwnedFd, netns: &str) -> Result<(), TopologyError> {
    // Affects only this thread.
    nix::sched::setns(fd, CloneFlags::CLONE_NEWNET)
        .map_err(|e| TopologyError::errno("setns", netns, e))
}

/// Runs `f` on a fresh OS thread that has entered the namespace at
/// `netns_path` (the caller's thread never moves) and returns its result.
/// Sockets `f` creates stay bound to that namespace wherever they are used
/// later, which is how tests and workloads bind listeners inside a pod.
pub fn in_netns<T: Send>(
    netns_path: &Path,
    f: impl FnOnce() -> T + Send,
) -> Result<T, TopologyError> {
    let name = netns_path.display().to_string();
    let fd = open(netns_path, &name)?;
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            enter(&fd, &name)?;
            Ok(f())
        });
        match h.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// `/proc/sys/<key with dots as slashes>`, for `net.*` keys only: those
/// are per namespace; anything else would change the whole machine.
pub(crate) fn sysctl_path(key: &str, netns: &str) -> Result<PathBuf, TopologyError> {
    let bad = |why: &str| TopologyError::Sysctl {
        netns: netns.to_owned(),
        key: key.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, why.to_owned()),
    };
    if !key.starts_with("net.") {
        return Err(bad("only per-namespace net.* keys may be set"));
    }
    let parts: Vec<&str> = key.split('.').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == ".." || p.contains('/') || p.contains('\0'))
    {
        return Err(bad("malformed key"));
    }
    Ok(Path::new("/proc/sys").join(parts.join("/")))
}

/// Writes a sysctl in the calling thread's namespace.
pub(crate) fn write_sysctl(netns: &str, key: &str, value: &str) -> Result<(), TopologyError> {
    let path = sysctl_path(key, netns)?;
    std::fs::write(&path, value).map_err(|source| TopologyError::Sysctl {
        netns: netns.to_owned(),
        key: key.to_owned(),
        source,
    })
}

/// Reads a sysctl in the calling thread's namespace (trailing newline
/// stripped).
pub(crate) fn read_sysctl(netns: &str, key: &str) -> Result<String, TopologyError> {
    let path = sysctl_path(key, netns)?;
    std::fs::read_to_string(&path)
        .map(|s| s.trim_end_matches('\n').to_owned())
        .map_err(|source| TopologyError::Sysctl {
            netns: netns.to_owned(),
            key: key.to_owned(),
            source,
        })
}

/// Names under `/run/netns` that start with `prefix`.
pub fn list_with_prefix(prefix: &str) -> Vec<String> {
    std::fs::read_dir(NETNS_DIR)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// True when this process runs as root (effective uid 0): the one check
/// before anything creates namespaces, loads eBPF or enters another netns.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_are_per_namespace_and_well_formed() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_local_port_range", "ns").expect("valid"),
            Path::new("/proc/sys/net/ipv4/ip_local_port_range")
        );
        for bad in [
            "kernel.pid_max",
            "vm.swappiness",
            "net..ipv4",
            "net.ipv4.",
            "net/../../kernel/x",
            "net.ipv4.conf.a/b.rp_filter",
        ] {
            assert!(sysctl_path(bad, "ns").is_err(), "{bad} accepted");
        }
    }
}
