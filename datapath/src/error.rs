//! Typed errors of the datapath API: every variant names the operation and
//! the object it was about, so a caller can report it without guessing.
use std::{io, net::SocketAddrV4};

use crate::frontend::{Frontend, Protocol};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{op} needs root: the process lacks {missing} (run as root, e.g. `sudo just test`; \
         BPF needs CAP_BPF + CAP_NET_ADMIN, netns work CAP_SYS_ADMIN)"
    )]
    PermissionDenied { op: &'static str, missing: String },

    #[error("invalid datapath configuration: {0}")]
    Config(String),

    #[error(
        "kernel {kernel} has no TCX (needs Linux >= 6.6); the oldest kernel svclab runs on (TCX, and the helpers its programs use)"
    )]
    TcxUnsupported { kernel: String },

    #[error("loading the eBPF object failed: {source}")]
    Load {
        #[source]
        source: Box<aya::EbpfError>,
    },

    #[error("eBPF program `{prog}`: {op} failed: {source}")]
    Program {
        prog: &'static str,
        op: &'static str,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },

    #[error("eBPF map `{map}`: {op} failed: {source}")]
    Map {
        map: &'static str,
        op: &'static str,
        #[source]
        source: Box<aya::maps::MapError>,
    },

    #[error("eBPF object has no {kind} `{name}` (datapath/common and datapath/ebpf out of sync?)")]
    Missing {
        kind: &'static str,
        name: &'static str,
    },

    #[error("netns {netns}: {op} failed: {source}")]
    Netns {
        netns: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("{op} failed: {source}")]
    Host {
        op: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("netns {netns}: no interface named `{ifname}`")]
    InterfaceNotFound { netns: String, ifname: String },
    #[error(
        "a monitor is attached to this datapath already (the ring buffer has one reader); `--force` takes it over, e.g. after a monitor was killed"
    )]
    MonitorBusy,

    #[error("netns {netns}: datapath already attached to `{ifname}`")]
    AlreadyAttached { netns: String, ifname: String },

    #[error("netns {netns}: datapath is not attached to `{ifname}`")]
    NotAttached { netns: String, ifname: String },

    #[error("netns {netns}: attaching {hook} to `{ifname}` failed: {source}")]
    Attach {
        netns: String,
        ifname: String,
        hook: &'static str,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },

    #[error("service {frontend}: not found")]
    ServiceNotFound { frontend: Frontend },

    #[error("service table full: {capacity} services at most")]
    TooManyServices { capacity: u32 },

    #[error("service {frontend}: {requested} backends do not fit ({reason}; capacity {capacity})")]
    TooManyBackends {
        frontend: Frontend,
        requested: usize,
        capacity: usize,
        reason: &'static str,
    },

    #[error("service {frontend}: backend {backend} listed twice")]
    DuplicateBackend {
        frontend: Frontend,
        backend: SocketAddrV4,
    },

    #[error(
        "service {frontend}: backend {backend} has protocol {backend_proto}, service has {service_proto}"
    )]
    ProtocolMismatch {
        frontend: Frontend,
        backend: SocketAddrV4,
        backend_proto: Protocol,
        service_proto: Protocol,
    },

    #[error("detaching the datapath left errors: {}", .0.join("; "))]
    Teardown(Vec<String>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn map(map: &'static str, op: &'static str, source: aya::maps::MapError) -> Self {
        Error::Map {
            map,
            op,
            source: Box::new(source),
        }
    }
}

/// Whether a map operation failed only because the key is not there.
pub(crate) fn is_not_found(e: &aya::maps::MapError) -> bool {
    match e {
        aya::maps::MapError::KeyNotFound | aya::maps::MapError::ElementNotFound => true,
        aya::maps::MapError::SyscallError(s) => s.io_error.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}
