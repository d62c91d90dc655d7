//! Network namespace handles and running work inside one. setns(2) changes
//! only the calling thread, so every call runs on a short-lived dedicated OS
//! thread and the caller's thread never moves.
use std::{fs::File, os::fd::OwnedFd, path::Path};

use crate::error::{Error, Result};

/// An open reference to a network namespace (keeps it alive while held).
#[derive(Debug)]
pub struct NetnsRef {
    fd: OwnedFd,
    name: String,
}

impl NetnsRef {
    /// Opens a namespace by path: `/run/netns/<name>` or `/proc/<pid>/ns/net`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| Error::Netns {
            netns: path.display().to_string(),
            op: "open",
            source,
        })?;
        let name = path
            .strip_prefix("/run/netns")
            .or_else(|_| path.strip_prefix("/var/run/netns"))
            .unwrap_or(path)
            .display()
            .to_string();
        Ok(Self {
            fd: file.into(),
            name,
        })
    }

    /// Opens a named namespace under `/run/netns`.
    pub fn named(name: &str) -> Result<Self> {
        let mut ns = Self::open(Path::new("/run/netns").join(name))?;
        ns.name = name.to_owned();
        Ok(ns)
    }

    /// The namespace of the calling thread.
    pub fn current() -> Result<Self> {
        let mut ns = Self::open("/proc/thread-self/ns/net")?;
        ns.name = "(current)".to_owned();
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn try_clone(&self) -> Result<Self> {
        let fd = self.fd.try_clone().map_err(|source| Error::Netns {
            netns: self.name.clone(),
            op: "dup",
            source,
        })?;
        Ok(Self {
            fd,
            name: self.name.clone(),
        })
    }

    /// Runs `f` on a fresh OS thread that has entered this namespace, and
    /// returns its result. `f` may borrow from the caller.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|s| {
            let handle = s.spawn(|| {
                self.enter_current_thread()?;
                Ok(f())
            });
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Moves the calling thread into this namespace. Only for threads that
    /// are dedicated to it (see [`NetnsRef::run`]).
    pub fn enter_current_thread(&self) -> Result<()> {
        // Affects only this thread.
        nix::sched::setns(&self.fd, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            Error::Netns {
                netns: self.name.clone(),
                op: "setns",
                source: e.into(),
            }
        })
    }
}

/// Capabilities the calling thread lacks out of `wanted` (bit numbers), read
/// from `/proc/thread-self/status` (capabilities are per thread).
pub(crate) fn missing_caps(wanted: &[(u32, &'static str)]) -> Vec<&'static str> {
    let eff = std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    wanted
        .iter()
        .filter(|(bit, _)| eff & (1u64 << bit) == 0)
        .map(|(_, name)| *name)
        .collect()
}

pub(crate) const CAP_NET_ADMIN: u32 = 12;
pub(crate) const CAP_SYS_ADMIN: u32 = 21;
pub(crate) const CAP_BPF: u32 = 39;
