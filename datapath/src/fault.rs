//! The network-fault program from user space: [`FaultProgram`] loads one
//! instance of the `svclab-fault` object per fault, attaches it first
//! (TCX, ahead of the service datapath and any clsact filter) to tc
//! ingress of each interface the fault covers, and owns those links:
//! dropping it detaches every one, and a killed process's links go with
//! its file descriptors. Loss models and their probabilities are netem's
//! (see the eBPF side, `datapath/ebpf/src/fault.rs`).
use aya::{
    Ebpf,
    maps::{Array, MapData, PerCpuArray},
    programs::{
        SchedClassifier, TcAttachType, TestRun as _, TestRunOptions,
        links::LinkOrder,
        tc::{SchedClassifierLink, TcAttachOptions},
    },
};
use svclab_datapath_common::{FaultConfig, FaultCounter, FaultState, fault as names};

use crate::{
    datapath::program,
    error::{Error, Result},
    netns::NetnsRef,
};

static OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/svclab-fault"));

/// A probability in `[0, 1]` as netem and the fault program keep it: a
/// fraction of `u32::MAX`.
pub fn probability(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * f64::from(u32::MAX)).round() as u32
}

/// One fault's program, its maps, and the links that attach it.
pub struct FaultProgram {
    ebpf: Ebpf,
    config: Array<MapData, FaultConfig>,
    state: Array<MapData, FaultState>,
    counters: PerCpuArray<MapData, u64>,
    links: Vec<(String, String, SchedClassifierLink)>,
}

impl std::fmt::Debug for FaultProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProgram")
            .field(
                "links",
                &self.links.iter().map(|l| (&l.0, &l.1)).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl FaultProgram {
    /// Loads a fresh instance (its own maps) with `cfg`; attaches nothing.
    pub fn load(cfg: FaultConfig) -> Result<Self> {
        let mut ebpf = Ebpf::load(OBJ).map_err(|e| Error::Load {
            source: Box::new(e),
        })?;
        program(&mut ebpf, names::PROG)?
            .load()
            .map_err(|e| Error::Program {
                prog: names::PROG,
                op: "load",
                source: Box::new(e),
            })?;
        let map = |ebpf: &mut Ebpf, name: &'static str| {
            ebpf.take_map(name)
                .ok_or(Error::Missing { kind: "map", name })
        };
        let map_err = |name: &'static str, op: &'static str| {
            move |e: aya::maps::MapError| Error::Map {
                map: name,
                op,
                source: Box::new(e),
            }
        };
        let config = Array::try_from(map(&mut ebpf, names::CONFIG)?)
            .map_err(map_err(names::CONFIG, "open"))?;
        let state = Array::try_from(map(&mut ebpf, names::STATE)?)
            .map_err(map_err(names::STATE, "open"))?;
        let counters = PerCpuArray::try_from(map(&mut ebpf, names::COUNTERS)?)
            .map_err(map_err(names::COUNTERS, "open"))?;
        let mut me = FaultProgram {
            ebpf,
            config,
            state,
            counters,
            links: Vec::new(),
        };
        me.set(cfg)?;
        Ok(me)
    }

    /// Replaces the fault's configuration (and resets the models' memory).
    pub fn set(&mut self, cfg: FaultConfig) -> Result<()> {
        self.state
            .set(0, FaultState::default(), 0)
            .map_err(|e| Error::Map {
                map: names::STATE,
                op: "reset",
                source: Box::new(e),
            })?;
        self.config.set(0, cfg, 0).map_err(|e| Error::Map {
            map: names::CONFIG,
            op: "write",
            source: Box::new(e),
        })
    }

    /// Attaches the program to tc ingress of `ifname` in `netns`, first
    /// in the TCX chain: it sees each packet before the service datapath.
    pub fn attach(&mut self, netns: &NetnsRef, ifname: &str) -> Result<()> {
        let netns_name = netns.name().to_owned();
        let prog: &mut SchedClassifier = program(&mut self.ebpf, names::PROG)?;
        let link = netns.run(|| -> Result<SchedClassifierLink> {
            let id = prog
                .attach_with_options(
                    ifname,
                    TcAttachType::Ingress,
                    TcAttachOptions::TcxOrder(LinkOrder::first()),
                )
                .map_err(|e| Error::Attach {
                    netns: netns_name.clone(),
                    ifname: ifname.into(),
                    hook: "tcx ingress (fault)",
                    source: Box::new(e),
                })?;
            prog.take_link(id).map_err(|e| Error::Program {
                prog: names::PROG,
                op: "take link",
                source: Box::new(e),
            })
        })??;
        self.links.push((netns_name, ifname.to_owned(), link));
        Ok(())
    }

    /// Where the program is attached: (netns, interface).
    pub fn attached(&self) -> impl Iterator<Item = (&str, &str)> {
        self.links.iter().map(|(n, i, _)| (n.as_str(), i.as_str()))
    }

    /// Packets that matched the filters and, of those, dropped (summed
    /// over CPUs).
    pub fn counters(&self) -> Result<(u64, u64)> {
        let read = |c: FaultCounter| -> Result<u64> {
            let v = self.counters.get(&(c as u32), 0).map_err(|e| Error::Map {
                map: names::COUNTERS,
                op: "read",
                source: Box::new(e),
            })?;
            Ok(v.iter().sum())
        };
        Ok((read(FaultCounter::Matched)?, read(FaultCounter::Dropped)?))
    }

    /// Runs the program once on `packet` (BPF_PROG_TEST_RUN); returns the
    /// verdict (`-1` = passed on, `TC_ACT_SHOT` = dropped).
    pub fn run_packet(&mut self, packet: &[u8]) -> Result<i32> {
        let prog: &mut SchedClassifier = program(&mut self.ebpf, names::PROG)?;
        let mut out = vec![0u8; packet.len() + 256];
        let r = prog
            .test_run(TestRunOptions {
                data_in: Some(packet),
                data_out: Some(&mut out),
                repeat: 1,
                ..Default::default()
            })
            .map_err(|e| Error::Program {
                prog: names::PROG,
                op: "test_run",
                source: Box::new(e),
            })?;
        Ok(r.return_value as i32)
    }
}
