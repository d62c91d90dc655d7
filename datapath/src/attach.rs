//! Attaching the programs to pod-facing veths and detaching them: TCX links
//! only (no clsact qdisc), so nothing outlives the process. `attach` is both
//! hooks or neither, `close` reports every detach failure, and drop detaches
//! whatever is left, logging what it cannot report.
use aya::{
    Ebpf,
    programs::{SchedClassifier, TcAttachType, tc::TcAttachOptions},
};

use crate::{
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
    /// `ifname` (in this datapath's netns) through TCX links. Both or
    /// neither: a failed egress attach undoes the ingress one.
    pub fn attach(&mut self, ifname: &str) -> Result<()> {
        let netns_name = self.netns.name().to_owned();
        if self.attached.iter().any(|a| a.ifname == ifname) {
            return Err(Error::AlreadyAttached {
                netns: netns_name,
                ifname: ifname.into(),
            });
        }
        let ebpf = &mut self.ebpf;
        let (ingress, egress) = self.netns.run(|| -> Result<_> {
            let cname = std::ffi::CString::new(ifname).map_err(|_| Error::InterfaceNotFound {
                netns: netns_name.clone(),
                ifname: ifname.into(),
            })?;
            // SAFETY: valid NUL-terminated string.
            if unsafe { libc::if_nametoindex(cname.as_ptr()) } == 0 {
                return Err(Error::InterfaceNotFound {
                    netns: netns_name.clone(),
                    ifname: ifname.into(),
                });
            }
            let attach = |ebpf: &mut Ebpf,
                          hook: Hook,
                          ty: TcAttachType,
                          name: &'static str|
             -> Result<_> {
                program(ebpf, hook.prog())?
                    .attach_with_options(ifname, ty, TcAttachOptions::TcxOrder(Default::default()))
                    .map_err(|e| Error::Attach {
                        netns: netns_name.clone(),
                        ifname: ifname.into(),
                        hook: name,
                        source: Box::new(e),
                    })
            };
            let ingress = attach(ebpf, Hook::FromPod, TcAttachType::Ingress, "tc ingress")?;
            match attach(ebpf, Hook::ToPod, TcAttachType::Egress, "tc egress") {
                Ok(egress) => Ok((ingress, egress)),
                Err(e) => {
                    if let Err(undo) = program(ebpf, Hook::FromPod.prog()).and_then(|p| {
                        p.detach(ingress).map_err(|e| Error::Program {
                            prog: Hook::FromPod.prog(),
                            op: "detach",
                            source: Box::new(e),
                        })
                    }) {
                        log::error!("undoing ingress attach on {ifname} failed: {undo}");
                    }
                    Err(e)
                }
            }
        })??;
        self.attached.push(Attachment {
            ifname: ifname.into(),
            ingress,
            egress,
        });
        Ok(())
    }

    /// Detaches both programs from `ifname` (closes the TCX links).
    pub fn detach(&mut self, ifname: &str) -> Result<()> {
        let idx = self
            .attached
            .iter()
            .position(|a| a.ifname == ifname)
            .ok_or_else(|| Error::NotAttached {
                netns: self.netns.name().into(),
                ifname: ifname.into(),
            })?;
        let a = self.attached.remove(idx);
        let mut errors = Vec::new();
        if let Err(e) = program(&mut self.ebpf, Hook::FromPod.prog()).and_then(|p| {
            p.detach(a.ingress).map_err(|e| Error::Program {
                prog: Hook::FromPod.prog(),
                op: "detach",
                source: Box::new(e),
            })
        }) {
            errors.push(format!("{ifname} ingress: {e}"));
        }
        if let Err(e) = program(&mut self.ebpf, Hook::ToPod.prog()).and_then(|p| {
            p.detach(a.egress).map_err(|e| Error::Program {
                prog: Hook::ToPod.prog(),
                op: "detach",
                source: Box::new(e),
            })
        }) {
            errors.push(format!("{ifname} egress: {e}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown(errors))
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
