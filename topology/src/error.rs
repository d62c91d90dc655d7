//! `TopologyError`: every failure names the operation, the namespace and
//! (for netlink work) the interface it was about, so a failed build says
//! exactly which kernel object refused and why. Netlink errors are carried
//! as `io::Error` with the kernel's errno, so callers can match on
//! `raw_os_error()` the same way for every source.
use std::io;

/// What went wrong while building, changing or tearing down a topology.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The spec was rejected before anything was created in the kernel.
    #[error("invalid topology spec: {reason}")]
    InvalidSpec { reason: String },

    /// A pod name, IP or netns this topology does not know.
    #[error("{op}: no such {what} {name:?} in this topology")]
    NotFound {
        op: &'static str,
        what: &'static str,
        name: String,
    },

    /// A system call (namespace, mount, file) failed.
    #[error("{op} (netns {netns}): {source}")]
    Sys {
        op: &'static str,
        netns: String,
        #[source]
        source: io::Error,
    },

    /// The kernel refused a netlink request (or the connection broke).
    #[error("netlink {op} on {ifname} (netns {netns}): {source}")]
    Netlink {
        op: &'static str,
        netns: String,
        ifname: String,
        #[source]
        source: io::Error,
    },

    /// Reading or writing `/proc/sys` inside a namespace failed.
    #[error("sysctl {key} (netns {netns}): {source}")]
    Sysctl {
        netns: String,
        key: String,
        #[source]
        source: io::Error,
    },

    /// A namespace worker thread is gone (it panicked or could not start).
    #[error("{op}: namespace worker thread is gone")]
    Worker { op: &'static str },

    /// Teardown (or the undo of a failed build) hit one or more failures;
    /// every one is listed, none is dropped.
    #[error("teardown left {} failure(s): {}", errors.len(), join(errors))]
    Teardown { errors: Vec<TopologyError> },
}

fn join(errors: &[TopologyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl TopologyError {
    pub(crate) fn sys(op: &'static str, netns: &str, source: io::Error) -> Self {
        Self::Sys {
            op,
            netns: netns.to_owned(),
            source,
        }
    }

    /// A failed system call's errno, carried as `io::Error` like the rest.
    pub(crate) fn errno(op: &'static str, netns: &str, errno: nix::errno::Errno) -> Self {
        Self::sys(op, netns, errno.into())
    }

    pub(crate) fn netlink(
        op: &'static str,
        netns: &str,
        ifname: &str,
        source: rtnetlink::Error,
    ) -> Self {
        let source = match source {
            rtnetlink::Error::NetlinkError(msg) => msg.to_io(),
            other => io::Error::other(other.to_string()),
        };
        Self::Netlink {
            op,
            netns: netns.to_owned(),
            ifname: ifname.to_owned(),
            source,
        }
    }

    /// The errno behind this error, if it came from the kernel.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Sys { source, .. }
            | Self::Netlink { source, .. }
            | Self::Sysctl { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
