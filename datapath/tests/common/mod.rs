//! What the packet tests share: the addresses, a loaded datapath with one
//! service, sending one client packet, finding its service entry, and the
//! test clock (BPF_PROG_TEST_RUN with the config's clock offset).
#![allow(dead_code, reason = "each test binary uses a part")]

pub mod lab;

use std::{net::SocketAddrV4, time::Duration};

use svclab_datapath::{
    Backend, Config, CtEntryView, CtKind, Datapath, Frontend, Hook, NetnsRef, monotonic_ns, pktgen,
};
use svclab_testsupport::sa;

pub const VIP: [u8; 4] = [198, 19, 0, 10];
pub const CLIENT: [u8; 4] = [198, 18, 0, 10];

pub fn frontend() -> Frontend {
    Frontend::tcp(VIP.into(), 80)
}

pub fn backends(n: u8) -> Vec<SocketAddrV4> {
    (0..n).map(|i| sa([198, 18, 1, 20 + i], 8080)).collect()
}

pub fn load(config: Config) -> Datapath {
    Datapath::load(NetnsRef::current().expect("current netns"), config).expect("load datapath")
}

pub fn with_service(config: Config, n: u8) -> (Datapath, Vec<SocketAddrV4>) {
    let mut dp = load(config);
    dp.upsert_service(frontend()).expect("upsert service");
    let bs = backends(n);
    let set: Vec<Backend> = bs.iter().map(|a| Backend::active(*a)).collect();
    dp.set_backends(frontend(), &set).expect("set backends");
    (dp, bs)
}

/// Sends one client packet to the VIP; returns (verdict, destination after DNAT).
pub fn send(dp: &mut Datapath, sport: u16, flags: u8) -> (u32, SocketAddrV4) {
    let pkt = pktgen::tcp(sa(CLIENT, sport), frontend().addr(), flags, b"");
    let run = dp
        .run_packet(Hook::FromPod, &pkt, 1)
        .expect("test_run from_pod");
    let p = pktgen::parse(&run.data).expect("parse output");
    assert!(
        p.ip_csum_ok && p.l4_csum_ok,
        "bad checksum after from_pod: {p:?}"
    );
    (run.verdict, p.dst)
}

pub fn service_entry(dp: &Datapath, sport: u16) -> CtEntryView {
    find_service_entry(dp, sport).expect("service CT entry")
}

pub fn find_service_entry(dp: &Datapath, sport: u16) -> Option<CtEntryView> {
    dp.ct_entries()
        .expect("ct dump")
        .into_iter()
        .find(|e| e.kind == CtKind::Service && e.client == sa(CLIENT, sport))
}

/// The datapath's clock under test: an offset from CLOCK_MONOTONIC that the
/// programs, the GC and the views all add, moved in whole mono units
/// (seconds with the ktime clock, 256/HZ s with the jiffies one).
pub struct Clock {
    offset: Duration,
    /// One mono unit, ns.
    unit: u64,
}

impl Clock {
    /// Puts the datapath's clock 1 ms past the start of a mono unit (a
    /// whole second for `bpf_ktime_get_sec`), so the next ~999 ms of real
    /// time read as the same unit and boundary tests are exact.
    pub fn aligned(dp: &mut Datapath) -> Self {
        let unit = svclab_datapath_common::mono_to_ns(1, dp.config().clock.hz());
        let into = monotonic_ns() % unit;
        // Far enough ahead that the unit's boundary is ~999 ms away.
        let offset = Duration::from_nanos(unit - into + 1_000_000 + 1000 * unit);
        dp.set_clock_offset(offset).expect("set clock");
        Self { offset, unit }
    }

    /// Moves the clock `units` whole units forward, re-aligned to 1 ms
    /// past the unit's start.
    pub fn advance(&mut self, dp: &mut Datapath, units: u64) {
        let into = (monotonic_ns() + self.offset.as_nanos() as u64) % self.unit;
        let realign = self.unit - into + 1_000_000;
        self.offset += Duration::from_nanos(units * self.unit + realign - self.unit);
        dp.set_clock_offset(self.offset).expect("set clock");
    }
}
