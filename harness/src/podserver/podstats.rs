//! Pod server telemetry shared with the harness through one memfd page per
//! container: the harness creates it, the `svclab pod-server` process
//! inherits it as a file descriptor and updates atomics in it; the harness
//! reads them without a syscall or a request that would queue behind busy
//! workers. There is no file to clean up: the memory goes away with the
//! last mapping.
use std::{
    num::NonZeroUsize,
    os::fd::{AsFd, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd},
    ptr::NonNull,
    sync::atomic::{AtomicU32, AtomicU64},
};

use anyhow::Context as _;
use nix::sys::{
    memfd::MFdFlags,
    mman::{MapFlags, ProtFlags},
};

/// The shared counters. `#[repr(C)]`: both processes map the same layout
/// (same binary, so no versioning is needed).
#[repr(C)]
#[derive(Debug, Default)]
pub struct Counters {
    /// Serving-port workers holding a connection right now.
    pub busy: AtomicU32,
    /// Serving-port workers.
    pub workers: AtomicU32,
    /// Requests currently doing CPU work (they share the pod's `cpus`).
    pub working: AtomicU32,
    /// 1 once the serving listener is up (after any slow start).
    pub listening: AtomicU32,
    /// Requests completed on the serving port, health checks excluded.
    pub requests: AtomicU64,
    /// Health checks answered (either port).
    pub health: AtomicU64,
}

const LEN: usize = 4096;
const _: () = assert!(size_of::<Counters>() <= LEN);
const NZ_LEN: NonZeroUsize = NonZeroUsize::new(LEN).expect("LEN is not zero");

/// One mapping of a container's counters.
#[derive(Debug)]
pub struct StatsMap {
    ptr: NonNull<Counters>,
    fd: OwnedFd,
}

// SAFETY: the mapping holds only atomics; it is valid until Drop unmaps it.
unsafe impl Send for StatsMap {}
// SAFETY: as above; every access goes through atomics.
unsafe impl Sync for StatsMap {}

impl StatsMap {
    /// A fresh zeroed page (harness side).
    pub fn create() -> anyhow::Result<Self> {
        let fd = nix::sys::memfd::memfd_create(c"svclab-pod-stats", MFdFlags::MFD_CLOEXEC)
            .map_err(std::io::Error::from)
            .context("memfd_create for pod stats")?;
        nix::unistd::ftruncate(&fd, LEN as libc::off_t)
            .map_err(std::io::Error::from)
            .context("sizing the pod stats memfd")?;
        Self::map(fd)
    }

    /// Opens and maps the harness's page by path (server side), e.g.
    /// `/proc/<harness>/fd/<n>`: opening a memfd's /proc entry opens the
    /// same memory file.
    pub fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        // The harness keeps its fd open while the server runs; check that
        // the number still names the stats page (not a reused fd).
        let target = std::fs::read_link(path)
            .with_context(|| format!("reading the pod stats link {}", path.display()))?;
        anyhow::ensure!(
            target
                .to_string_lossy()
                .starts_with("/memfd:svclab-pod-stats"),
            "{} is {}, not the pod stats page",
            path.display(),
            target.display()
        );
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("opening the pod stats page {}", path.display()))?;
        Self::map(OwnedFd::from(f))
    }

    /// Maps an inherited descriptor (server side).
    pub fn from_fd(fd: RawFd) -> anyhow::Result<Self> {
        // SAFETY: the harness passed this descriptor for us to own.
        Self::map(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn map(fd: OwnedFd) -> anyhow::Result<Self> {
        // SAFETY: a new shared mapping (no address hint, so nothing
        // existing is replaced) of LEN bytes of a memfd of that size; Drop
        // unmaps it.
        let p = unsafe {
            nix::sys::mman::mmap(
                None,
                NZ_LEN,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &fd,
                0,
            )
        }
        .map_err(std::io::Error::from)
        .context("mapping pod stats")?;
        Ok(Self {
            ptr: p.cast::<Counters>(),
            fd,
        })
    }

    /// The descriptor to hand to the child (dup2'd to a fixed number there).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for StatsMap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl std::ops::Deref for StatsMap {
    type Target = Counters;
    fn deref(&self) -> &Counters {
        // SAFETY: mapped, aligned (page), zero-initialised atomics until Drop.
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for StatsMap {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once; no reference outlives self.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), LEN) };
    }
}

#[cfg(test)]
mod tests {
    use std::{os::fd::IntoRawFd as _, sync::atomic::Ordering};

    use super::*;

    #[test]
    fn two_mappings_share_counters() {
        let a = StatsMap::create().expect("create");
        // Dup the fd so the second mapping owns its own.
        let dup = nix::unistd::dup(&a).expect("dup").into_raw_fd();
        assert!(dup >= 0);
        let b = StatsMap::from_fd(dup).expect("map dup");
        a.requests.fetch_add(3, Ordering::Relaxed);
        b.busy.store(2, Ordering::Relaxed);
        assert_eq!(b.requests.load(Ordering::Relaxed), 3);
        assert_eq!(a.busy.load(Ordering::Relaxed), 2);
    }
}
