//! Attaching the programs to pod-facing veths and detaching them, in the
//! [`AttachMode`] the config names: a clsact qdisc with direct-action
//! cls_bpf filters (netlink), or TCX links. `attach` is both hooks or
//! neither; every netlink request runs inside the datapath's netns (an
//! ifindex means nothing elsewhere). `release` forgets an interface that
//! is about to be deleted (its filters go with it), `close` reports every
//! detach failure, and drop detaches whatever is left, logging what it
//! cannot report.
use aya::{
    Ebpf,
    programs::{
        SchedClassifier, TcAttachType,
        links::Link as _,
        tc::{NlOptions, SchedClassifierLink, TcAttachOptions, TcError},
    },
};

use crate::{
    config::AttachMode,
    datapath::{Attachment, Datapath, Hook, program},
    error::{Error, Result},
    netns::NetnsRef,
};

impl Datapath {
    /// Interfaces the programs are attached to.
    pub fn attached(&self) -> impl Iterator<Item = &str> {
        self.attached.iter().map(|a| a.ifname.as_str())
    }

    /// Attaches `from_pod` to tc ingress and `to_pod` to tc egress of
    /// `ifname` (in this datapath's netns). Both or neither: a failed egress
    /// attach undoes the ingress one.
    pub fn attach(&mut self, ifname: &str) -> Result<()> {
        self.attach_many(&[ifname])
    }

    /// [`Datapath::attach`] for each of `ifnames` in turn, from one thread
    /// in the netns (a batch of new pods). Stops at the first failure;
    /// the interfaces before it stay attached.
    pub fn attach_many(&mut self, ifnames: &[&str]) -> Result<()> {
        self.attach_many_with(ifnames, (Hook::FromPod, Hook::ToPod))
    }

    /// `hooks.0` on tc ingress and `hooks.1` on tc egress of `ifname`.
    pub(crate) fn attach_hooks(&mut self, ifname: &str, hooks: (Hook, Hook)) -> Result<()> {
        self.attach_many_with(&[ifname], hooks)
    }

    fn attach_many_with(&mut self, ifnames: &[&str], hooks: (Hook, Hook)) -> Result<()> {
        let netns_name = self.netns.name().to_owned();
        for ifname in ifnames {
            if self.attached.iter().any(|a| a.ifname == *ifname) {
                return Err(Error::AlreadyAttached {
                    netns: netns_name,
                    ifname: (*ifname).into(),
                });
            }
        }
        let mode = self.config.attach;
        let (ebpf, attached) = (&mut self.ebpf, &mut self.attached);
        self.netns.run(|| -> Result<()> {
            for ifname in ifnames {
                let (ingress, egress) = attach_here(ebpf, mode, &netns_name, ifname, hooks)?;
                attached.push(Attachment {
                    ifname: (*ifname).into(),
                    ingress,
                    egress,
                });
            }
            Ok(())
        })?
    }

    fn take_attachment(&mut self, ifname: &str) -> Result<Attachment> {
        let idx = self
            .attached
            .iter()
            .position(|a| a.ifname == ifname)
            .ok_or_else(|| Error::NotAttached {
                netns: self.netns.name().into(),
                ifname: ifname.into(),
            })?;
        Ok(self.attached.remove(idx))
    }

    /// Detaches both programs from `ifname` (deletes the filters, or closes
    /// the TCX links). An interface that is already gone took its filters
    /// with it: that is not an error.
    pub fn detach(&mut self, ifname: &str) -> Result<()> {
        let a = self.take_attachment(ifname)?;
        let (ingress, egress) = (a.ingress, a.egress);
        let errors = self.netns.run(|| {
            // It was attached by name, so the name has no NUL byte.
            let gone = std::ffi::CString::new(ifname)
                .is_ok_and(|c| nix::net::if_::if_nametoindex(c.as_c_str()).is_err());
            let mut errors = Vec::new();
            for (hook, link) in [("ingress", ingress), ("egress", egress)] {
                if gone {
                    // Nothing to delete; a TCX link's fd just closes.
                    std::mem::drop(link);
                } else if let Err(e) = link.detach() {
                    errors.push(format!("{ifname} {hook}: detach failed: {e}"));
                }
            }
            errors
        })?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown(errors))
        }
    }

    /// Forgets `ifname` without touching the kernel: the caller is about to
    /// delete the interface (a pod's namespace), and its clsact qdisc and
    /// filters go with it in the same RTNL section as the device. Deleting
    /// the filters first would cost one netlink round trip each for nothing.
    /// A TCX link's fd is closed (which detaches it).
    pub fn release(&mut self, ifname: &str) -> Result<()> {
        let a = self.take_attachment(ifname)?;
        for link in [a.ingress, a.egress] {
            match self.config.attach {
                // A netlink "link" is only (ifindex, priority, handle): no
                // fd or memory to free; dropping it would send the delete.
                AttachMode::Tc => std::mem::forget(link),
                AttachMode::Tcx => std::mem::drop(link),
            }
        }
        Ok(())
    }

    /// [`Datapath::release`] for every interface (the whole topology is
    /// about to be deleted).
    pub fn release_all(&mut self) {
        let names: Vec<String> = self.attached.iter().map(|a| a.ifname.clone()).collect();
        for ifname in names {
            let _ = self.release(&ifname);
        }
    }

    /// Detaches from every interface and unloads everything, reporting every
    /// failure (dropping a `Datapath` does the same but can only log).
    pub fn close(mut self) -> Result<()> {
        let mut errors = Vec::new();
        let names: Vec<String> = self.attached.iter().map(|a| a.ifname.clone()).collect();
        for ifname in names {
            if let Err(e) = self.detach(&ifname) {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown(errors))
        }
    }
}

/// Both hooks on `ifname`, from a thread inside the datapath's netns.
fn attach_here(
    ebpf: &mut Ebpf,
    mode: AttachMode,
    netns_name: &str,
    ifname: &str,
    (in_hook, out_hook): (Hook, Hook),
) -> Result<(SchedClassifierLink, SchedClassifierLink)> {
    let not_found = || Error::InterfaceNotFound {
        netns: netns_name.to_owned(),
        ifname: ifname.into(),
    };
    let cname = std::ffi::CString::new(ifname).map_err(|_| not_found())?;
    nix::net::if_::if_nametoindex(cname.as_c_str()).map_err(|_| not_found())?;
    let attach_err = |hook: &'static str, e: aya::programs::ProgramError| Error::Attach {
        netns: netns_name.to_owned(),
        ifname: ifname.into(),
        hook,
        source: Box::new(e),
    };
    if mode == AttachMode::Tc {
        // A fresh veth has no qdisc; one left by an earlier attach (a
        // detach deletes only the filters) is fine: EEXIST.
        match aya::programs::tc::qdisc_add_clsact(ifname) {
            Ok(()) | Err(TcError::AlreadyAttached) => {}
            Err(TcError::IoError(e)) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(attach_err("clsact qdisc", e.into())),
        }
    }
    let options = || match mode {
        AttachMode::Tc => TcAttachOptions::Netlink(NlOptions::default()),
        AttachMode::Tcx => TcAttachOptions::TcxOrder(Default::default()),
    };
    let attach = |ebpf: &mut Ebpf,
                  hook: Hook,
                  ty: TcAttachType,
                  name: &'static str|
     -> Result<SchedClassifierLink> {
        let prog = program(ebpf, hook.prog())?;
        let id = prog
            .attach_with_options(ifname, ty, options())
            .map_err(|e| attach_err(name, e))?;
        prog.take_link(id).map_err(|e| Error::Program {
            prog: hook.prog(),
            op: "take link",
            source: Box::new(e),
        })
    };
    let ingress = attach(ebpf, in_hook, TcAttachType::Ingress, "tc ingress")?;
    match attach(ebpf, out_hook, TcAttachType::Egress, "tc egress") {
        Ok(egress) => Ok((ingress, egress)),
        Err(e) => {
            if let Err(undo) = ingress.detach() {
                log::error!("undoing ingress attach on {ifname} failed: {undo}");
            }
            Err(e)
        }
    }
}

/// Names of the programs attached through TCX to `ifname` in `netns`, as
/// (ingress, egress). What `tc filter show` would list for a clsact setup.
pub fn tcx_programs(netns: &NetnsRef, ifname: &str) -> Result<(Vec<String>, Vec<String>)> {
    let query = |ty: TcAttachType| -> Result<Vec<String>> {
        let (_, progs) = SchedClassifier::query_tcx(ifname, ty).map_err(|e| Error::Attach {
            netns: netns.name().into(),
            ifname: ifname.into(),
            hook: "tcx query",
            source: Box::new(e),
        })?;
        Ok(progs
            .iter()
            .map(|p| p.name_as_str().unwrap_or("?").to_owned())
            .collect())
    };
    netns.run(|| Ok((query(TcAttachType::Ingress)?, query(TcAttachType::Egress)?)))?
}

impl Drop for Datapath {
    fn drop(&mut self) {
        let names: Vec<String> = self.attached.iter().map(|a| a.ifname.clone()).collect();
        for ifname in names {
            if let Err(e) = self.detach(&ifname) {
                log::error!("datapath drop: {e}");
            }
        }
    }
}
