//! Packet-level tests of the real eBPF programs with BPF_PROG_TEST_RUN, in
//! Cilium's pktgen → setup → check shape: build a frame, seed the maps
//! through the public API, run the classifier, check verdict, rewritten
//! headers (checksums verified independently) and conntrack state.

mod common;

use std::{collections::BTreeMap, net::SocketAddrV4, time::Duration};

use common::{CLIENT, Clock, VIP, backends, frontend, send, service_entry, with_service};
use svclab_datapath::{
    Backend, BackendState, Config, CtKind, Datapath, Error, Frontend, Hook, NetnsRef, Profile,
    Protocol, Reason, Selection, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, maglev, pktgen,
};
use svclab_datapath_common::{MAX_BACKENDS, hash_from_tuple_v4};
use svclab_testsupport::{require_root, sa};

#[test]
fn dnat_rewrites_headers_and_checksums_tcp_and_udp() {
    require_root!();
    let (mut dp, bs) = with_service(Config::default(), 1);
    let pkt = pktgen::tcp(
        sa(CLIENT, 40000),
        frontend().addr(),
        pktgen::TCP_SYN,
        b"GET / HTTP/1.1\r\n\r\n",
    );
    let run = dp.run_packet(Hook::FromPod, &pkt, 1).expect("run");
    assert_eq!(run.verdict, TC_ACT_OK);
    let p = pktgen::parse(&run.data).expect("parse");
    assert_eq!(p.dst, bs[0], "destination rewritten to the backend");
    assert_eq!(p.src, sa(CLIENT, 40000), "source untouched");
    assert!(p.ip_csum_ok, "IPv4 header checksum after DNAT");
    assert!(p.l4_csum_ok, "TCP checksum after DNAT");
    assert_eq!(run.data[34 + 20..], pkt[34 + 20..], "payload untouched");

    let ct = dp.ct_entries().expect("ct");
    assert_eq!(ct.len(), 2, "one service and one out entry: {ct:#?}");
    let svc = ct
        .iter()
        .find(|e| e.kind == CtKind::Service)
        .expect("service entry");
    assert_eq!(
        (svc.client, svc.target, svc.backend),
        (sa(CLIENT, 40000), frontend().addr(), Some(bs[0]))
    );
    let out = ct
        .iter()
        .find(|e| e.kind == CtKind::Out)
        .expect("out entry");
    assert_eq!((out.client, out.target), (sa(CLIENT, 40000), bs[0]));

    // UDP: a separate frontend and the mangled-0 checksum path.
    let udp_fe = Frontend {
        vip: VIP.into(),
        port: 53,
        proto: Protocol::Udp,
    };
    dp.upsert_service(udp_fe).expect("udp service");
    dp.set_backends(udp_fe, &[Backend::active(sa([198, 18, 1, 30], 5353))])
        .expect("udp backends");
    let pkt = pktgen::udp(sa(CLIENT, 5000), udp_fe.addr(), b"query");
    let run = dp.run_packet(Hook::FromPod, &pkt, 1).expect("run udp");
    let p = pktgen::parse(&run.data).expect("parse udp");
    assert_eq!(
        (run.verdict, p.dst),
        (TC_ACT_OK, sa([198, 18, 1, 30], 5353))
    );
    assert!(
        p.ip_csum_ok && p.l4_csum_ok,
        "UDP checksums after DNAT: {p:?}"
    );
    let c = dp.counters().expect("counters");
    assert_eq!(c.reason(Reason::CtNew), 2);
    assert_eq!(c.backends[&bs[0]].selections, 1);
    assert_eq!(c.backends[&bs[0]].packets, 1);
    assert_eq!(c.backends[&bs[0]].syns, 1, "a SYN counts as a connection");
}

#[test]
fn reverse_nat_restores_the_vip_as_source() {
    require_root!();
    let (mut dp, bs) = with_service(Config::default(), 1);
    send(&mut dp, 40001, pktgen::TCP_SYN);
    let reply = pktgen::tcp(
        bs[0],
        sa(CLIENT, 40001),
        pktgen::TCP_SYN | pktgen::TCP_ACK,
        b"",
    );
    let run = dp.run_packet(Hook::ToPod, &reply, 1).expect("run to_pod");
    assert_eq!(run.verdict, TC_ACT_OK);
    let p = pktgen::parse(&run.data).expect("parse");
    assert_eq!(p.src, frontend().addr(), "reply source is the VIP");
    assert_eq!(p.dst, sa(CLIENT, 40001));
    assert!(
        p.ip_csum_ok && p.l4_csum_ok,
        "checksums after reverse NAT: {p:?}"
    );
    assert_eq!(dp.counters().expect("counters").reason(Reason::RevNat), 1);

    // A packet from the backend to a client it has no service flow with is untouched.
    let stray = pktgen::tcp(bs[0], sa(CLIENT, 40999), pktgen::TCP_ACK, b"");
    let run = dp.run_packet(Hook::ToPod, &stray, 1).expect("run stray");
    assert_eq!((run.verdict, &run.data[..]), (TC_ACT_OK, &stray[..]));
}

#[test]
fn removed_and_terminating_backends() {
    require_root!();
    let (mut dp, bs) = with_service(Config::default(), 3);
    // Existing flows on every backend before the change.
    let mut on: BTreeMap<SocketAddrV4, u16> = BTreeMap::new();
    for sport in 43000..43300 {
        let (_, b) = send(&mut dp, sport, pktgen::TCP_SYN);
        send(&mut dp, sport, pktgen::TCP_ACK);
        on.entry(b).or_insert(sport);
    }
    assert_eq!(on.len(), 3, "all backends got flows");
    // bs[1] terminating, bs[2] removed.
    let set = [
        Backend::active(bs[0]),
        Backend {
            addr: bs[1],
            state: BackendState::Terminating,
        },
    ];
    dp.set_backends(frontend(), &set).expect("set backends");

    for sport in 44000..44600 {
        let (_, b) = send(&mut dp, sport, pktgen::TCP_SYN);
        assert_eq!(b, bs[0], "new flows only to the active backend");
    }
    // Existing flow to the terminating backend drains (keeps it) ...
    // A monitor hears of the draining flow once, not per packet.
    let ids = dp.map_ids().expect("ids");
    let mut m =
        svclab_datapath::Monitor::attach(&ids, &Default::default(), false).expect("monitor");
    let (_, b) = send(&mut dp, on[&bs[1]], pktgen::TCP_ACK);
    assert_eq!(b, bs[1], "established flow to a terminating backend drains");
    for _ in 0..5 {
        send(&mut dp, on[&bs[1]], pktgen::TCP_ACK);
    }
    let drains: Vec<_> = m
        .poll(std::time::Duration::from_millis(100))
        .expect("poll")
        .into_iter()
        .filter(|e| e.verdict == Reason::CtDrain)
        .collect();
    assert_eq!(drains.len(), 1, "{drains:#?}");
    assert_eq!(drains[0].backend, Some(bs[1]));
    drop(m);
    // ... but a SYN reusing that tuple is a new connection and moves.
    let (_, b) = send(&mut dp, on[&bs[1]], pktgen::TCP_SYN);
    assert_eq!(b, bs[0]);
    // Existing flow to the removed backend reselects on its next packet.
    let (_, b) = send(&mut dp, on[&bs[2]], pktgen::TCP_ACK);
    assert_eq!(b, bs[0], "flow to a removed backend reselects");
    assert_eq!(service_entry(&dp, on[&bs[2]]).backend, Some(bs[0]));
    let c = dp.counters().expect("counters");
    assert_eq!(c.reason(Reason::BackendGone), 2);
    assert_eq!(c.reason(Reason::CtDrain), 6, "counted per packet");
    assert!(
        !c.backends.contains_key(&bs[2]),
        "removed backend left the table"
    );
}

#[test]
fn maglev_is_consistent_excludes_daddr_and_splits_fairly() {
    require_root!();
    let m = 16381;
    let seed = 0xabcd;
    let config = Config {
        selection: Selection::Maglev { table_size: m },
        hash_seed: seed,
        ..Default::default()
    };
    let (mut dp, bs) = with_service(config, 4);
    let other = Frontend::tcp([198, 19, 0, 11].into(), 80);
    dp.upsert_service(other).expect("second service");
    let set: Vec<Backend> = bs.iter().map(|a| Backend::active(*a)).collect();
    dp.set_backends(other, &set).expect("backends");

    // The table user space computes independently of the kernel.
    let ids: Vec<(u32, String)> = dp.services()[0]
        .backends
        .iter()
        .map(|(id, b)| (*id, b.addr.to_string()))
        .collect();
    let table = maglev::populate(&ids, m, seed);

    let ports = 1024..21024u16;
    let mut per: BTreeMap<SocketAddrV4, u32> = BTreeMap::new();
    for sport in ports.clone() {
        let (_, b) = send(&mut dp, sport, pktgen::TCP_SYN);
        *per.entry(b).or_default() += 1;
        let h = hash_from_tuple_v4(
            u32::from_be_bytes(CLIENT).to_be(),
            sport.to_be(),
            80u16.to_be(),
            6,
            seed,
        );
        let expect = dp.backend_addr(table[(h % m) as usize]).expect("table id");
        assert_eq!(
            b, expect,
            "kernel slot = hash(saddr, ports, proto) % M for port {sport}"
        );
        // Same tuple to another VIP: daddr is not in the hash, same backend.
        let pkt = pktgen::tcp(sa(CLIENT, sport), other.addr(), pktgen::TCP_SYN, b"");
        let run = dp.run_packet(Hook::FromPod, &pkt, 1).expect("run");
        assert_eq!(
            pktgen::parse(&run.data).expect("parse").dst,
            b,
            "daddr changed the slot"
        );
    }
    // Same tuple → same backend even after CT is gone.
    let before: Vec<_> = (1024..1100)
        .map(|p| service_entry(&dp, p).backend)
        .collect();
    dp.ct_flush().expect("flush");
    let after: Vec<_> = (1024..1100)
        .map(|p| Some(send(&mut dp, p, pktgen::TCP_SYN).1))
        .collect();
    assert_eq!(
        before, after,
        "Maglev maps a tuple to the same backend after CT flush"
    );

    let fair = f64::from(ports.len() as u32) / 4.0;
    for (b, n) in &per {
        let dev = (f64::from(*n) - fair).abs() / fair;
        assert!(
            dev < 0.05,
            "backend {b} got {n} of {} flows ({:.1}% off fair)",
            ports.len(),
            dev * 100.0
        );
    }
}

#[test]
fn random_selection_passes_chi_square() {
    require_root!();
    let (mut dp, _) = with_service(Config::default(), 4);
    let n = 8000u32;
    let mut per: BTreeMap<SocketAddrV4, u32> = BTreeMap::new();
    for i in 0..n {
        let sport = 20000 + u16::try_from(i).expect("port");
        *per.entry(send(&mut dp, sport, pktgen::TCP_SYN).1)
            .or_default() += 1;
    }
    assert_eq!(per.len(), 4);
    let e = f64::from(n) / 4.0;
    let chi2: f64 = per.values().map(|&o| (f64::from(o) - e).powi(2) / e).sum();
    // 3 degrees of freedom, p = 0.0001.
    assert!(chi2 < 21.11, "chi-square {chi2:.2} over {per:?}");
    let c = dp.counters().expect("counters");
    assert_eq!(
        c.backends.values().map(|s| s.selections).sum::<u64>(),
        u64::from(n)
    );
}

/// The Internet checksum over `b` (RFC 1071), 0 when `b` carries a right one.
fn inet_csum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn no_backends_rejects_with_icmp_port_unreachable_from_1_15() {
    require_root!();
    // Cilium v1.15+: service-no-backend-response=reject (the default).
    for profile in [
        Profile::Cilium1_15,
        Profile::Cilium1_15_8,
        Profile::Cilium1_16,
    ] {
        let (mut dp, _) = with_service(Config::profile(profile), 0);
        for (pkt, what) in [
            (
                pktgen::tcp(sa(CLIENT, 45000), frontend().addr(), pktgen::TCP_SYN, b""),
                "tcp syn",
            ),
            (
                pktgen::tcp(
                    sa(CLIENT, 45001),
                    frontend().addr(),
                    pktgen::TCP_SYN,
                    &[7u8; 100],
                ),
                "tcp syn with 100 bytes",
            ),
        ] {
            let run = dp.run_packet(Hook::FromPod, &pkt, 1).expect("run");
            assert_eq!(run.verdict, TC_ACT_REDIRECT, "{profile:?} {what}");
            let f = &run.data;
            assert_eq!(f[0..6], pkt[6..12], "{what}: dst MAC = the pod's");
            assert_eq!(f[6..12], pkt[0..6], "{what}: src MAC = the host side's");
            assert_eq!(f[12..14], [0x08, 0x00]);
            let ip = &f[14..];
            let quoted = (pkt.len() - 14).min(64);
            assert_eq!(f.len(), 14 + 20 + 8 + quoted, "{what}: frame length");
            assert_eq!(ip[0], 0x45);
            assert_eq!(
                usize::from(u16::from_be_bytes([ip[2], ip[3]])),
                20 + 8 + quoted
            );
            assert_eq!((ip[8], ip[9]), (64, 1), "{what}: TTL 64, protocol ICMP");
            assert_eq!(ip[12..16], VIP, "{what}: from the service address");
            assert_eq!(ip[16..20], CLIENT, "{what}: to the client");
            assert_eq!(inet_csum(&ip[..20]), 0, "{what}: IPv4 checksum");
            let icmp = &ip[20..];
            assert_eq!((icmp[0], icmp[1]), (3, 3), "{what}: port unreachable");
            assert_eq!(inet_csum(icmp), 0, "{what}: ICMP checksum");
            assert_eq!(
                icmp[8..],
                pkt[14..14 + quoted],
                "{what}: the original datagram quoted"
            );
        }
        let c = dp.counters().expect("counters");
        assert_eq!(c.reason(Reason::RejectNoBackend), 2, "{profile:?}");
        assert_eq!(c.reason(Reason::DropNoBackend), 0, "{profile:?}");
        assert!(dp.ct_entries().expect("ct").is_empty());
    }
}

#[test]
fn no_backends_drops_and_counts() {
    require_root!();
    // Up to v1.14 a packet to a service without backends is dropped
    // (DROP_NO_SERVICE); the client retransmits its SYN.
    let (mut dp, _) = with_service(Config::profile(Profile::Cilium1_12), 0);
    let pkt = pktgen::tcp(sa(CLIENT, 45000), frontend().addr(), pktgen::TCP_SYN, b"");
    assert_eq!(
        dp.run_packet(Hook::FromPod, &pkt, 1).expect("run").verdict,
        TC_ACT_SHOT
    );
    // Only non-active backends is the same as none.
    let set = [Backend {
        addr: backends(1)[0],
        state: BackendState::Quarantined,
    }];
    dp.set_backends(frontend(), &set).expect("backends");
    assert_eq!(
        dp.run_packet(Hook::FromPod, &pkt, 1).expect("run").verdict,
        TC_ACT_SHOT
    );
    let c = dp.counters().expect("counters");
    assert_eq!(c.reason(Reason::DropNoBackend), 2);
    assert!(
        dp.ct_entries().expect("ct").is_empty(),
        "a drop creates no CT entry"
    );
}

#[test]
fn non_service_traffic_passes_untouched() {
    require_root!();
    let (mut dp, _) = with_service(Config::default(), 2);
    let mut arp = vec![0xffu8; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend_from_slice(&[0u8; 28]);
    let to_pod_ip = pktgen::tcp(
        sa(CLIENT, 1234),
        sa([198, 18, 1, 99], 80),
        pktgen::TCP_SYN,
        b"",
    );
    let other_port = pktgen::tcp(sa(CLIENT, 1234), sa(VIP, 81), pktgen::TCP_SYN, b"");
    let udp_to_tcp_vip = pktgen::udp(sa(CLIENT, 1234), frontend().addr(), b"x");
    for pkt in [&arp, &to_pod_ip, &other_port, &udp_to_tcp_vip] {
        let run = dp.run_packet(Hook::FromPod, pkt, 1).expect("run");
        assert_eq!((run.verdict, &run.data[..]), (TC_ACT_OK, &pkt[..]));
    }
    let c = dp.counters().expect("counters");
    assert_eq!(c.reason(Reason::NotService), 4);
    assert_eq!(c.reason(Reason::ServiceHit), 0);
}

#[test]
fn full_ct_map_evicts_and_counts_without_drops() {
    require_root!();
    let (mut dp, _) = with_service(
        Config {
            ct_map_size: 64,
            ..Default::default()
        },
        2,
    );
    for sport in 46000..46500 {
        assert_eq!(send(&mut dp, sport, pktgen::TCP_SYN).0, TC_ACT_OK);
    }
    let s = dp.ct_stats().expect("stats");
    assert!(s.live_service + s.live_out <= 64, "{s:?}");
    assert_eq!(s.created, 1000);
    assert!(s.evicted >= 1000 - 64, "LRU evictions counted: {s:?}");
    assert_eq!(
        dp.counters()
            .expect("counters")
            .reason(Reason::DropCtInsert),
        0
    );
}

#[test]
fn gc_deletes_expired_entries_only() {
    require_root!();
    let (mut dp, _) = with_service(Config::default(), 2);
    let mut clock = Clock::aligned(&mut dp);
    for sport in 47000..47010 {
        send(&mut dp, sport, pktgen::TCP_SYN); // SYN-only: 60 s
    }
    send(&mut dp, 47100, pktgen::TCP_SYN);
    send(&mut dp, 47100, pktgen::TCP_ACK); // established: 8000 s
    assert_eq!(dp.ct_gc().expect("gc").deleted, 0, "nothing expired yet");
    // At lifetime = now the entry is not yet expired (`Lifetime < now`).
    clock.advance(&mut dp, 60);
    assert_eq!(dp.ct_gc().expect("gc").deleted, 0, "expires strictly after");
    clock.advance(&mut dp, 1);
    let pass = dp.ct_gc().expect("gc");
    assert_eq!((pass.scanned, pass.deleted), (22, 20));
    assert_eq!(dp.ct_entries().expect("ct").len(), 2);

    // The periodic collector does the same on its own thread, on the same
    // (moved) clock.
    for sport in 47200..47210 {
        send(&mut dp, sport, pktgen::TCP_SYN);
    }
    clock.advance(&mut dp, 61);
    let gc = dp
        .start_gc(svclab_datapath::GcSchedule::Fixed(Duration::from_millis(
            50,
        )))
        .expect("start gc");
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        gc.totals()
            .deleted
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 20
    );
    drop(gc);
    assert_eq!(dp.ct_entries().expect("ct").len(), 2);
    assert_eq!(dp.ct_flush().expect("flush"), 2);
    assert!(dp.ct_entries().expect("ct").is_empty());
}

#[test]
fn bad_input_gives_typed_errors() {
    require_root!();
    let bad = Config {
        selection: Selection::Maglev { table_size: 1000 },
        ..Default::default()
    };
    assert!(matches!(
        Datapath::load(NetnsRef::current().expect("netns"), bad),
        Err(Error::Config(_))
    ));

    let (mut dp, _) = with_service(Config::default(), 1);
    match dp.attach("svl-nosuch0") {
        Err(Error::InterfaceNotFound { ifname, .. }) => assert_eq!(ifname, "svl-nosuch0"),
        other => panic!("expected InterfaceNotFound, got {other:?}"),
    }
    assert_eq!(dp.attached().count(), 0, "nothing half-attached");

    let too_many: Vec<Backend> = (0..MAX_BACKENDS)
        .map(|i| {
            Backend::active(SocketAddrV4::new(
                u32::from_be_bytes([198, 18, 0, 0]).wrapping_add(i).into(),
                80,
            ))
        })
        .collect();
    assert!(matches!(
        dp.set_backends(frontend(), &too_many),
        Err(Error::TooManyBackends { .. })
    ));
    let dup = [
        Backend::active(backends(1)[0]),
        Backend::active(backends(1)[0]),
    ];
    assert!(matches!(
        dp.set_backends(frontend(), &dup),
        Err(Error::DuplicateBackend { .. })
    ));
    assert!(matches!(
        dp.set_backends(Frontend::tcp([198, 19, 0, 99].into(), 1), &[]),
        Err(Error::ServiceNotFound { .. })
    ));
    // The failed calls left the service as it was.
    assert_eq!(send(&mut dp, 48000, pktgen::TCP_SYN).1, backends(1)[0]);
}

#[test]
fn loading_without_privileges_is_a_typed_error() {
    require_root!();
    // Capabilities are per thread: drop them on a scratch thread only.
    let r = std::thread::spawn(|| {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let header = Header {
            version: 0x2008_0522,
            pid: 0,
        };
        let data = [Data::default(); 2];
        // SAFETY: capset with a v3 header and two data words, this thread only.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
        assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
        Datapath::load(NetnsRef::current().expect("netns"), Config::default()).map(|_| ())
    })
    .join()
    .expect("thread");
    match r {
        Err(Error::PermissionDenied { missing, .. }) => {
            assert!(missing.contains("CAP_NET_ADMIN"), "{missing}")
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
}

#[test]
fn deleted_service_stops_translating() {
    require_root!();
    let (mut dp, bs) = with_service(
        Config {
            selection: Selection::Maglev { table_size: 251 },
            ..Default::default()
        },
        2,
    );
    let (_, b) = send(&mut dp, 49000, pktgen::TCP_SYN);
    assert!(bs.contains(&b));
    dp.delete_service(frontend()).expect("delete");
    assert!(dp.services().is_empty());
    assert!(
        dp.counters().expect("counters").backends.is_empty(),
        "backends released"
    );
    let (verdict, dst) = send(&mut dp, 49001, pktgen::TCP_SYN);
    assert_eq!(
        (verdict, dst),
        (TC_ACT_OK, frontend().addr()),
        "no DNAT once the service is gone"
    );
    // The old flow's reply is no longer rewritten: its service id is cleared.
    let reply = pktgen::tcp(b, sa(CLIENT, 49000), pktgen::TCP_SYN | pktgen::TCP_ACK, b"");
    let run = dp.run_packet(Hook::ToPod, &reply, 1).expect("run");
    assert_eq!(run.data, reply);
    assert_eq!(
        dp.counters()
            .expect("counters")
            .reason(Reason::RevNatMissing),
        1
    );
    assert!(matches!(
        dp.delete_service(frontend()),
        Err(Error::ServiceNotFound { .. })
    ));
}
