//! Socket-LB on a [`Datapath`]: loading the cgroup sock_addr programs
//! (connect4, sendmsg4, recvmsg4, getpeername4, as Cilium's `bpf_sock.c`)
//! and attaching them to a cgroup v2 directory, and reading the
//! reverse-translation map. The programs share the datapath's service and
//! backend maps, so [`Datapath::set_backends`] programs both paths.
//!
//! The attachments are fd-based links (`bpf_link_create`, Linux 5.7+) held
//! by the loaded programs: they go when the [`Datapath`] is dropped or the
//! process dies, so a crashed run leaves no program on a cgroup.
use std::{net::SocketAddrV4, os::fd::AsFd};

use aya::{
    maps::{HashMap, MapData},
    programs::{CgroupAttachMode, CgroupSockAddr},
};
use svclab_datapath_common as common;

use crate::{
    datapath::{Datapath, program_as},
    error::{Error, Result},
    frontend::ip_port,
};

/// One socket-LB reverse entry: a socket (by cookie) that asked for
/// `service` and was sent to `backend`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockRevnatView {
    pub cookie: u64,
    pub backend: SocketAddrV4,
    pub service: SocketAddrV4,
    pub rev_nat_index: u16,
}

impl Datapath {
    /// Attaches the socket-LB programs to the cgroup v2 directory `cgroup`
    /// (loaded on the first call): every socket a task in that cgroup or
    /// below it creates from then on is translated at connect. One
    /// attachment per cgroup ([`CgroupAttachMode::Single`]).
    pub fn attach_cgroup(&mut self, cgroup: impl AsFd) -> Result<()> {
        let fd = cgroup.as_fd();
        for name in common::progs::SOCK {
            let prog = sock_program(&mut self.ebpf, name)?;
            if !self.sock_loaded {
                prog.load().map_err(|e| Error::Program {
                    prog: name,
                    op: "load",
                    source: Box::new(e),
                })?;
            }
        }
        self.sock_loaded = true;
        for name in common::progs::SOCK {
            sock_program(&mut self.ebpf, name)?
                .attach(fd, CgroupAttachMode::Single)
                .map_err(|e| Error::Program {
                    prog: name,
                    op: "attach to cgroup",
                    source: Box::new(e),
                })?;
        }
        Ok(())
    }

    /// The socket-LB reverse-translation entries.
    pub fn sock_revnat_entries(&self) -> Result<Vec<SockRevnatView>> {
        revnat_entries(&self.sock_revnat)
    }
}

/// Every entry of a reverse-translation map (this process's or, through
/// [`DatapathView`](crate::view::DatapathView), another's).
pub(crate) fn revnat_entries(
    map: &HashMap<MapData, common::Sock4RevnatKey, common::Sock4RevnatEntry>,
) -> Result<Vec<SockRevnatView>> {
    let mut out = Vec::new();
    for kv in map.iter() {
        let (k, v) = kv.map_err(|e| Error::map(common::maps::SOCK_REVNAT, "iterate", e))?;
        out.push(SockRevnatView {
            cookie: k.cookie,
            backend: ip_port(k.address, k.port),
            service: ip_port(v.address, v.port),
            rev_nat_index: v.rev_nat_index,
        });
    }
    out.sort_by_key(|e| (e.service, e.backend, e.cookie));
    Ok(out)
}

fn sock_program<'a>(ebpf: &'a mut aya::Ebpf, name: &'static str) -> Result<&'a mut CgroupSockAddr> {
    program_as(ebpf, name)
}
