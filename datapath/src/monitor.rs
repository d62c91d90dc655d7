//! `svclab monitor`'s reader: attaches to a datapath's monitor ring buffer
//! by map IDs (the run's process holds the maps), sets the in-kernel
//! filter, and turns [`MonitorEvent`]s into [`FlowEvent`]s. Detaching
//! (drop) turns the filter off, so the programs stop writing events.
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::AsFd as _,
    time::Duration,
};

use aya::maps::{Array, Map, MapData, RingBuf};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use svclab_datapath_common::{self as common, MonitorEvent, MonitorFilter, Reason};

use crate::{
    error::{Error, Result},
    frontend::Protocol,
    view::open,
};

/// What to report: each `None`/empty field matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonitorSpec {
    /// Client source port, service port or backend port.
    pub port: Option<u16>,
    pub backend: Option<Ipv4Addr>,
    pub verdicts: Vec<Reason>,
}

impl MonitorSpec {
    fn kernel(&self) -> MonitorFilter {
        MonitorFilter {
            enabled: 1,
            reasons: self
                .verdicts
                .iter()
                .fold(0, |m, r| m | 1u32 << (*r as u32 & 31)),
            backend_addr: self.backend.map_or(0, |a| u32::from(a).to_be()),
            port: self.port.map_or(0, u16::to_be),
            pad: 0,
        }
    }
}

/// One per-flow decision of the datapath.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowEvent {
    /// CLOCK_MONOTONIC, ns.
    pub time_ns: u64,
    pub client: SocketAddrV4,
    pub service: SocketAddrV4,
    /// The chosen backend; `None` when the service had none.
    pub backend: Option<SocketAddrV4>,
    pub backend_id: u32,
    pub proto: Protocol,
    pub verdict: Reason,
    /// TCP flags of the packet (0: UDP, or a socket-LB connect).
    pub tcp_flags: u8,
}

impl FlowEvent {
    fn from_kernel(e: &MonitorEvent) -> Option<Self> {
        let addr =
            |a: u32, p: u16| SocketAddrV4::new(Ipv4Addr::from(u32::from_be(a)), u16::from_be(p));
        Some(Self {
            time_ns: e.time_ns,
            client: addr(e.saddr, e.sport),
            service: addr(e.daddr, e.dport),
            backend: (e.backend_addr != 0).then(|| addr(e.backend_addr, e.backend_port)),
            backend_id: e.backend_id,
            proto: if e.proto == common::IPPROTO_UDP {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
            verdict: Reason::from_u8(e.verdict)?,
            tcp_flags: e.tcp_flags,
        })
    }
}

/// An attached monitor on one datapath.
pub struct Monitor {
    filter: Array<MapData, MonitorFilter>,
    ring: RingBuf<MapData>,
}

impl Monitor {
    /// Attaches to the datapath whose map IDs are `ids` and turns its
    /// events on with `spec`'s filter. One monitor per datapath at a time
    /// (the ring buffer has one reader): [`Error::MonitorBusy`] while
    /// another is attached, unless `force` (a monitor killed before it
    /// could turn the events off leaves them on).
    pub fn attach(ids: &BTreeMap<String, u32>, spec: &MonitorSpec, force: bool) -> Result<Self> {
        let mut filter: Array<MapData, MonitorFilter> =
            Array::try_from(Map::Array(open(ids, common::maps::MONITOR_FILTER)?))
                .map_err(|e| Error::map(common::maps::MONITOR_FILTER, "open", e))?;
        let current = filter
            .get(&0, 0)
            .map_err(|e| Error::map(common::maps::MONITOR_FILTER, "read", e))?;
        if current.enabled != 0 && !force {
            return Err(Error::MonitorBusy);
        }
        let mut ring = RingBuf::try_from(Map::RingBuf(open(ids, common::maps::MONITOR)?))
            .map_err(|e| Error::map(common::maps::MONITOR, "open", e))?;
        // Whatever an earlier monitor left unread is not this one's.
        while ring.next().is_some() {}
        filter
            .set(0, spec.kernel(), 0)
            .map_err(|e| Error::map(common::maps::MONITOR_FILTER, "write", e))?;
        Ok(Self { filter, ring })
    }

    /// The events written so far, waiting up to `timeout` for the first.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<FlowEvent>> {
        let mut out = self.drain();
        if out.is_empty() {
            let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.ring.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    return Err(Error::Host {
                        op: "poll the monitor ring buffer",
                        source: e.into(),
                    });
                }
            }
            out = self.drain();
        }
        Ok(out)
    }

    fn drain(&mut self) -> Vec<FlowEvent> {
        let mut out = Vec::new();
        while let Some(item) = self.ring.next() {
            if item.len() >= size_of::<MonitorEvent>() {
                // SAFETY: the kernel wrote a whole MonitorEvent (size
                // checked); read_unaligned makes no alignment assumption.
                let e = unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<MonitorEvent>()) };
                out.extend(FlowEvent::from_kernel(&e));
            }
        }
        out
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // Off again: the programs stop writing events.
        let _ = self.filter.set(0, MonitorFilter::default(), 0);
    }
}
