//! Session affinity under BPF_PROG_TEST_RUN, rule by rule from Cilium
//! v1.16.0 bpf/lib/lb.h:1400-1476 and lb4_local (:1513-1660): every
//! connection of one client address (any source port) goes to the backend
//! its first got; the pin lasts `timeout` after its last use and is
//! refreshed by every packet; it outlives a backend turning terminating
//! (the affinity path does not check the state) but not the backend
//! leaving the service (the match map); without affinity, new ports
//! spread.
mod common;

use std::{collections::BTreeSet, time::Duration};

use common::{CLIENT, Clock, backends, frontend, send, with_service};
use svclab_datapath::{Backend, BackendState, Config, TC_ACT_OK, pktgen};
use svclab_testsupport::{require_root, sa};

const SYN: u8 = pktgen::TCP_SYN;
const ACK: u8 = pktgen::TCP_ACK;

/// Backends the SYNs of `ports` went to.
fn spread(
    dp: &mut svclab_datapath::Datapath,
    ports: std::ops::Range<u16>,
) -> BTreeSet<std::net::SocketAddrV4> {
    ports
        .map(|p| {
            let (v, dst) = send(dp, p, SYN);
            assert_eq!(v, TC_ACT_OK);
            dst
        })
        .collect()
}

#[test]
fn one_client_address_keeps_its_backend_across_source_ports() {
    require_root!();
    let (mut dp, _) = with_service(Config::default(), 4);
    assert!(
        spread(&mut dp, 40000..40064).len() > 1,
        "without affinity new ports spread"
    );
    dp.set_affinity(frontend(), Some(Duration::from_secs(60)))
        .expect("affinity on");
    let to = spread(&mut dp, 41000..41064);
    assert_eq!(to.len(), 1, "one client address, one backend: {to:?}");
    let e = dp.affinity_entries().expect("entries");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        e[0].0,
        u64::from(u32::from(std::net::Ipv4Addr::from(CLIENT)).to_be()),
        "keyed by the client address alone"
    );
    // Another client address gets its own pin.
    let other = pktgen::tcp(sa([198, 18, 0, 11], 40000), frontend().addr(), SYN, b"");
    dp.run_packet(svclab_datapath::Hook::FromPod, &other, 1)
        .expect("run");
    assert_eq!(dp.affinity_entries().expect("entries").len(), 2);
    // Off again: the pins are ignored (the flag), new ports spread.
    dp.set_affinity(frontend(), None).expect("affinity off");
    assert!(spread(&mut dp, 42000..42064).len() > 1);
}

#[test]
fn a_pin_lasts_its_timeout_after_the_last_packet() {
    require_root!();
    let (mut dp, _) = with_service(Config::default(), 4);
    dp.set_affinity(frontend(), Some(Duration::from_secs(10)))
        .expect("affinity on");
    let mut clock = Clock::aligned(&mut dp);
    let (_, first) = send(&mut dp, 40000, SYN);
    // An established flow's packets refresh it (lb.h:1626-1629): 9 s, a
    // packet, 9 s more — still pinned, 18 s after the first.
    clock.advance(&mut dp, 9);
    send(&mut dp, 40000, ACK);
    clock.advance(&mut dp, 9);
    assert_eq!(send(&mut dp, 40001, SYN).1, first, "refreshed 9 s ago");
    // Sticky for [last_used, last_used + 10): at +10 the pin is gone and
    // the entry deleted (lb.h:1423-1427); the new SYN pins again.
    clock.advance(&mut dp, 10);
    let mut seen = BTreeSet::new();
    for p in 0..32u16 {
        clock.advance(&mut dp, 10);
        seen.insert(send(&mut dp, 41000 + p, SYN).1);
    }
    assert!(
        seen.len() > 1,
        "each expired pin gives a fresh selection: {seen:?}"
    );
}

#[test]
fn a_pin_survives_terminating_but_not_removal() {
    require_root!();
    let (mut dp, bs) = with_service(Config::default(), 3);
    dp.set_affinity(frontend(), Some(Duration::from_secs(60)))
        .expect("affinity on");
    let (_, pinned) = send(&mut dp, 40000, SYN);
    // Terminating: still a backend of the service (match map), so new
    // connections of the pinned client still go there (lb.h:1545-1557
    // checks only that the backend exists).
    let set: Vec<Backend> = bs
        .iter()
        .map(|b| {
            if *b == pinned {
                Backend {
                    addr: *b,
                    state: BackendState::Terminating,
                }
            } else {
                Backend::active(*b)
            }
        })
        .collect();
    dp.set_backends(frontend(), &set).expect("terminating");
    assert_eq!(
        send(&mut dp, 40001, SYN).1,
        pinned,
        "pinned to a terminating backend"
    );
    // Removed from this service but still another's (so still in the
    // backends map): only the match map can drop the pin now, at the next
    // lookup.
    let other = svclab_datapath::Frontend::tcp([198, 19, 0, 11].into(), 80);
    dp.upsert_service(other).expect("second service");
    dp.set_backends(other, &[Backend::active(pinned)])
        .expect("shared backend");
    let rest: Vec<Backend> = bs
        .iter()
        .filter(|b| **b != pinned)
        .map(|b| Backend::active(*b))
        .collect();
    dp.set_backends(frontend(), &rest).expect("removed");
    let (_, now) = send(&mut dp, 40002, SYN);
    assert_ne!(now, pinned);
    assert!(backends(3).contains(&now));
    // And the new choice is the new pin.
    for p in 40003..40010 {
        assert_eq!(send(&mut dp, p, SYN).1, now);
    }
}
