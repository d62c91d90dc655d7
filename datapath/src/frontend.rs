//! Services and backends as plain values: a frontend (ClusterIP, port,
//! protocol) and a backend (address, lifecycle state), what every other
//! module of the crate (and the harness) passes around.
use std::{
    fmt,
    net::{Ipv4Addr, SocketAddrV4},
};

use svclab_datapath_common as common;
pub use svclab_datapath_common::BackendState;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub const fn number(self) -> u8 {
        match self {
            Protocol::Tcp => common::IPPROTO_TCP,
            Protocol::Udp => common::IPPROTO_UDP,
        }
    }
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            common::IPPROTO_TCP => Some(Protocol::Tcp),
            common::IPPROTO_UDP => Some(Protocol::Udp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        })
    }
}

/// A service frontend: ClusterIP, port and protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frontend {
    pub vip: Ipv4Addr,
    pub port: u16,
    pub proto: Protocol,
}

impl Frontend {
    pub const fn tcp(vip: Ipv4Addr, port: u16) -> Self {
        Self {
            vip,
            port,
            proto: Protocol::Tcp,
        }
    }
    pub fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.vip, self.port)
    }
    pub(crate) fn key(&self, slot: u16) -> common::Lb4Key {
        common::Lb4Key {
            address: u32::from(self.vip).to_be(),
            dport: self.port.to_be(),
            backend_slot: slot,
            proto: self.proto.number(),
            scope: 0,
            pad: [0; 2],
        }
    }
}

impl fmt::Display for Frontend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.vip, self.port, self.proto)
    }
}

/// One backend of a service with its lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    pub addr: SocketAddrV4,
    pub state: BackendState,
}

impl Backend {
    pub const fn active(addr: SocketAddrV4) -> Self {
        Self {
            addr,
            state: BackendState::Active,
        }
    }
}

/// An address and port as the maps hold them (network order).
pub(crate) fn ip_port(address: u32, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(
        std::net::Ipv4Addr::from(u32::from_be(address)),
        u16::from_be(port),
    )
}
