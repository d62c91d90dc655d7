//! Packet tests of the Cilium release profiles, one rule at a time, with the
//! test clock (pktgen → setup → check under BPF_PROG_TEST_RUN): what FIN and
//! RST do to a service entry and its lifetime, reopen versus rebalance at
//! and around the grace in whole seconds, `last_tx_report` staleness, the
//! SYN-only lifetime, non-SYN misses, and PR 20407's inactive-backend
//! reselection. The rules and their Cilium source lines are in
//! docs/cilium-ct-semantics.md.

mod common;

use std::time::Duration;

use common::{Clock, find_service_entry, send, service_entry, with_service};
use svclab_datapath::{
    Backend, BackendState, Config, CtReuse, Datapath, MonoClock, Profile, Reason, TC_ACT_OK, pktgen,
};
use svclab_testsupport::require_root;

const SYN: u8 = pktgen::TCP_SYN;
const ACK: u8 = pktgen::TCP_ACK;
const FIN_ACK: u8 = pktgen::TCP_FIN | pktgen::TCP_ACK;
const RST: u8 = pktgen::TCP_RST;

fn secs(d: Option<Duration>) -> u64 {
    d.expect("entry not expired").as_secs()
}

/// A handshake and a request: SYN, ACK.
fn establish(dp: &mut Datapath, sport: u16) {
    send(dp, sport, SYN);
    send(dp, sport, ACK);
}

/// Profile `p` on the ktime clock: these tests check each release's rules
/// in whole seconds; the jiffies clock of the 1.11 and 1.12 profiles has
/// its own tests below.
fn profile(p: Profile, backends: u8) -> (Datapath, Clock) {
    let config = Config {
        clock: MonoClock::Ktime,
        ..Config::profile(p)
    };
    let (mut dp, _) = with_service(config, backends);
    let clock = Clock::aligned(&mut dp);
    (dp, clock)
}

fn reason(dp: &Datapath, r: Reason) -> u64 {
    dp.counters().expect("counters").reason(r)
}

#[test]
fn fin_on_a_service_entry_per_release() {
    require_root!();
    for p in Profile::ALL {
        let (mut dp, mut clock) = profile(p, 3);
        establish(&mut dp, 50000);
        send(&mut dp, 50000, FIN_ACK);
        let e = service_entry(&dp, 50000);
        let tcp = p.timeouts().tcp.as_secs();
        if p.rules().close_both {
            // PR 33907: both bits, no longer alive, CT_CLOSE_TIMEOUT.
            assert!(e.tx_closing && e.rx_closing, "{p:?}: {e:?}");
            assert_eq!(secs(e.expires_in), 10, "{p:?}: close timeout");
            // Not alive: a later ACK does not refresh the lifetime.
            clock.advance(&mut dp, 4);
            send(&mut dp, 50000, ACK);
            assert_eq!(secs(service_entry(&dp, 50000).expires_in), 6, "{p:?}");
            // Past it the GC deletes the entry and the next SYN is a miss.
            clock.advance(&mut dp, 7);
            // The out entry is only half-closed (the backend sent no FIN) and stays.
            assert_eq!(dp.ct_gc().expect("gc").deleted, 1, "{p:?}");
            assert!(find_service_entry(&dp, 50000).is_none());
            send(&mut dp, 50000, SYN);
            assert_eq!(reason(&dp, Reason::CtNew), 2, "{p:?}: a fresh selection");
        } else {
            // v1.11-v1.15.7: only tx_closing; still alive with the service
            // TCP lifetime, refreshed by every later packet.
            assert!(e.tx_closing && !e.rx_closing, "{p:?}: {e:?}");
            assert_eq!(secs(e.expires_in), tcp, "{p:?}: service lifetime");
            clock.advance(&mut dp, 100);
            send(&mut dp, 50000, ACK);
            assert_eq!(secs(service_entry(&dp, 50000).expires_in), tcp, "{p:?}");
            clock.advance(&mut dp, 11);
            dp.ct_gc().expect("gc");
            assert!(
                find_service_entry(&dp, 50000).is_some(),
                "{p:?}: a half-closed service entry outlives the close timeout"
            );
        }
    }
}

/// The GC deletes only what is still expired when it deletes: Cilium's
/// agent deletes each entry in its dump callback right after the filter
/// test (pkg/maps/ctmap/ctmap.go v1.16.0 `doGC4`). A reused source port's
/// SYN that rewrites an expired closing entry (1.16: CT_NEW) between the
/// walk and the deletes keeps its entry; before, the batch delete removed
/// it and the flow lost its service and out entries (scale-1000 on one
/// node: clients timed out once ports recurred, ~16 s into the run).
#[test]
fn gc_keeps_an_entry_a_syn_rewrote_after_the_walk() {
    require_root!();
    let (mut dp, mut clock) = profile(Profile::Cilium1_16, 3);
    establish(&mut dp, 50200);
    send(&mut dp, 50200, FIN_ACK);
    establish(&mut dp, 50201);
    send(&mut dp, 50201, FIN_ACK);
    clock.advance(&mut dp, 11);
    let scan = dp.ct_gc_scan().expect("scan");
    assert_eq!(scan.stale(), 2, "both closed service entries expired");
    // Port 50200 is reused before the deletes; 50201 is not.
    send(&mut dp, 50200, SYN);
    let pass = dp.ct_gc_sweep(scan).expect("sweep");
    assert_eq!(pass.deleted, 1, "only the entry still expired goes");
    assert_eq!(pass.refreshed, 1, "the reused one is counted as kept");
    let e = find_service_entry(&dp, 50200).expect("the rewritten entry stays");
    assert!(!e.tx_closing && !e.rx_closing, "{e:?}");
    assert_eq!(secs(e.expires_in), 60, "SYN lifetime of the new flow");
    assert!(find_service_entry(&dp, 50201).is_none());
}

#[test]
fn rst_on_a_service_entry_per_release() {
    require_root!();
    for p in Profile::ALL {
        let (mut dp, _) = profile(p, 2);
        establish(&mut dp, 50100);
        send(&mut dp, 50100, RST);
        let e = service_entry(&dp, 50100);
        if p.rules().close_both {
            assert!(e.tx_closing && e.rx_closing, "{p:?}: {e:?}");
            assert_eq!(secs(e.expires_in), 10, "{p:?}");
        } else {
            // `dir != CT_SERVICE` keeps a service entry out of the
            // RST-before-both-SYNs case: tx only.
            assert!(e.tx_closing && !e.rx_closing, "{p:?}: {e:?}");
            assert_eq!(secs(e.expires_in), p.timeouts().tcp.as_secs(), "{p:?}");
        }
        // An RST on a bare SYN: the out entry (not CT_SERVICE) has not seen
        // both SYNs, so it closes both ways and gets the close timeout.
        send(&mut dp, 50101, SYN);
        send(&mut dp, 50101, RST);
        let out = dp
            .ct_entries()
            .expect("ct")
            .into_iter()
            .find(|e| e.kind == svclab_datapath::CtKind::Out && e.client.port() == 50101)
            .expect("out entry");
        assert!(out.tx_closing && out.rx_closing, "{p:?}: {out:?}");
        assert_eq!(secs(out.expires_in), 10, "{p:?}");
    }
}

#[test]
fn syn_on_a_closing_entry_within_the_grace() {
    require_root!();
    for p in Profile::ALL {
        let (mut dp, mut clock) = profile(p, 5);
        let mut kept = 0;
        for sport in 51000..51040 {
            let (_, first) = send(&mut dp, sport, SYN);
            send(&mut dp, sport, ACK);
            send(&mut dp, sport, FIN_ACK);
            let (verdict, again) = send(&mut dp, sport, SYN);
            assert_eq!(verdict, TC_ACT_OK);
            if again == first {
                kept += 1;
            }
        }
        clock.advance(&mut dp, 1);
        let e = service_entry(&dp, 51000);
        assert!(!e.tx_closing && !e.rx_closing, "{p:?}: reopened: {e:?}");
        match p {
            Profile::Cilium1_16 => {
                // Any SYN on a closing entry is CT_NEW: a new selection
                // (random over 5: ~1/5 land on the old backend).
                assert_eq!(reason(&dp, Reason::CtReopenNew), 40, "{p:?}");
                assert_eq!(reason(&dp, Reason::CtReopen), 0, "{p:?}");
                assert!(kept < 20, "{p:?}: {kept}/40 kept their backend");
                assert_eq!(e.rebalanced, 1);
            }
            _ => {
                assert_eq!(reason(&dp, Reason::CtReopen), 40, "{p:?}");
                assert_eq!(kept, 40, "{p:?}: CT_REOPENED keeps the backend");
                assert_eq!(e.reopened, 1);
            }
        }
        if p.rules().reopen_reset {
            // v1.15+: seen flags and seen_non_syn reset: SYN-only lifetime.
            assert!(!e.seen_non_syn, "{p:?}");
            assert_eq!(e.tx_flags_seen, SYN, "{p:?}");
            assert_eq!(secs(e.expires_in), 59, "{p:?}: CT_SYN_TIMEOUT");
        } else {
            // v1.11-v1.14: only the closing bits reset; seen_non_syn stays,
            // so the reopened entry has the service lifetime at once.
            assert!(e.seen_non_syn, "{p:?}");
            assert_eq!(e.tx_flags_seen & pktgen::TCP_FIN, pktgen::TCP_FIN, "{p:?}");
            assert_eq!(secs(e.expires_in), 21599, "{p:?}");
        }
    }
}

#[test]
fn rebalance_exactly_at_the_grace_in_whole_seconds() {
    require_root!();
    for p in [
        Profile::Cilium1_12,
        Profile::Cilium1_15,
        Profile::Cilium1_15_8,
    ] {
        let (mut dp, mut clock) = profile(p, 4);
        assert_eq!(p.ct_reuse().grace(), Some(Duration::from_secs(60)));
        // FIN at report time R on two ports.
        for sport in [52000, 52001] {
            establish(&mut dp, sport);
            send(&mut dp, sport, FIN_ACK);
        }
        // R + 59: `R + 60 <= now` is false, the SYN reopens.
        clock.advance(&mut dp, 59);
        send(&mut dp, 52000, SYN);
        assert_eq!(reason(&dp, Reason::CtReopen), 1, "{p:?}");
        assert_eq!(reason(&dp, Reason::CtRebalance), 0, "{p:?}");
        // R + 60: true, a new selection that overwrites the entry.
        clock.advance(&mut dp, 1);
        send(&mut dp, 52001, SYN);
        assert_eq!(reason(&dp, Reason::CtRebalance), 1, "{p:?}");
        let e = service_entry(&dp, 52001);
        assert!(
            !e.tx_closing && !e.seen_non_syn && e.rebalanced == 1 && e.tx_packets == 1,
            "{p:?}: ct_create4 wrote a fresh entry: {e:?}"
        );
        assert_eq!(secs(e.expires_in), 60, "{p:?}: CT_SYN_TIMEOUT");
    }
    // v1.11 never rebalances, however long the entry was idle.
    let (mut dp, mut clock) = profile(Profile::Cilium1_11, 4);
    establish(&mut dp, 52100);
    send(&mut dp, 52100, FIN_ACK);
    clock.advance(&mut dp, 20000);
    send(&mut dp, 52100, SYN);
    assert_eq!(
        (
            reason(&dp, Reason::CtRebalance),
            reason(&dp, Reason::CtReopen)
        ),
        (0, 1)
    );
    // v1.16: past the grace it is the rebalance path, within it the reopen
    // path; both select anew.
    let (mut dp, mut clock) = profile(Profile::Cilium1_16, 4);
    for sport in [52200, 52201] {
        establish(&mut dp, sport);
        send(&mut dp, sport, FIN_ACK);
    }
    clock.advance(&mut dp, 59);
    send(&mut dp, 52200, SYN);
    clock.advance(&mut dp, 1);
    send(&mut dp, 52201, SYN);
    assert_eq!(
        (
            reason(&dp, Reason::CtReopenNew),
            reason(&dp, Reason::CtRebalance)
        ),
        (1, 1)
    );
}

#[test]
fn explicit_ct_reuse_and_grace_override_the_profile() {
    require_root!();
    let config = Config {
        ct_reuse: CtReuse::CloseRebalance {
            grace: Duration::from_secs(2),
        },
        ..Config::profile(Profile::Cilium1_11)
    };
    let (mut dp, _) = with_service(config, 4);
    let mut clock = Clock::aligned(&mut dp);
    establish(&mut dp, 52300);
    send(&mut dp, 52300, FIN_ACK);
    clock.advance(&mut dp, 2);
    send(&mut dp, 52300, SYN);
    assert_eq!(reason(&dp, Reason::CtRebalance), 1);
    // The profile's other rules stay: v1.11 closes only tx.
    send(&mut dp, 52300, ACK);
    send(&mut dp, 52300, FIN_ACK);
    assert!(!service_entry(&dp, 52300).rx_closing);
}

#[test]
fn last_tx_report_moves_on_new_flags_or_after_the_report_interval() {
    require_root!();
    for p in [Profile::Cilium1_12, Profile::Cilium1_16] {
        let (mut dp, mut clock) = profile(p, 2);
        establish(&mut dp, 53000);
        send(&mut dp, 53000, FIN_ACK); // FIN is a new flag: report = now
        assert_eq!(service_entry(&dp, 53000).since_report, Duration::ZERO);
        // ACKs add no flag. `last + 5 < now` is strict: 5 s later no report.
        clock.advance(&mut dp, 5);
        send(&mut dp, 53000, ACK);
        let at5 = service_entry(&dp, 53000).since_report.as_secs();
        clock.advance(&mut dp, 1);
        send(&mut dp, 53000, ACK);
        let at6 = service_entry(&dp, 53000).since_report.as_secs();
        if p.rules().close_both {
            // Not alive after the FIN: nothing refreshes the report.
            assert_eq!((at5, at6), (5, 6), "{p:?}");
        } else {
            // Alive: the 6 s-old report is refreshed.
            assert_eq!((at5, at6), (5, 0), "{p:?}");
            // So traffic after the FIN postpones the rebalance: 59 s after
            // this refresh the SYN still reopens, although the FIN was 65 s
            // ago.
            clock.advance(&mut dp, 59);
            send(&mut dp, 53000, SYN);
            assert_eq!(reason(&dp, Reason::CtReopen), 1, "{p:?}");
        }
    }
}

#[test]
fn syn_only_lifetime_until_a_non_syn_and_non_syn_misses() {
    require_root!();
    for p in Profile::ALL {
        let (mut dp, mut clock) = profile(p, 2);
        send(&mut dp, 54000, SYN);
        let e = service_entry(&dp, 54000);
        assert!(!e.seen_non_syn);
        assert_eq!(secs(e.expires_in), 60, "{p:?}");
        // A retransmitted SYN 30 s later: still SYN-only, 60 s again.
        clock.advance(&mut dp, 30);
        send(&mut dp, 54000, SYN);
        assert_eq!(secs(service_entry(&dp, 54000).expires_in), 60, "{p:?}");
        send(&mut dp, 54000, ACK);
        let e = service_entry(&dp, 54000);
        assert!(e.seen_non_syn);
        assert_eq!(secs(e.expires_in), p.timeouts().tcp.as_secs(), "{p:?}");

        // An ACK that misses gets a backend and an entry with SYN forced:
        // seen_non_syn = 0 and CT_SYN_TIMEOUT, until the next non-SYN hit.
        let (verdict, _) = send(&mut dp, 54001, ACK);
        assert_eq!(verdict, TC_ACT_OK);
        assert_eq!(reason(&dp, Reason::CtMissNonSyn), 1);
        let e = service_entry(&dp, 54001);
        assert!(!e.seen_non_syn && !e.tx_closing, "{p:?}: {e:?}");
        assert_eq!(secs(e.expires_in), 60, "{p:?}");
        // A FIN that misses closes nothing either.
        send(&mut dp, 54002, FIN_ACK);
        assert!(!service_entry(&dp, 54002).tx_closing, "{p:?}");
        send(&mut dp, 54001, ACK);
        assert!(service_entry(&dp, 54001).seen_non_syn);

        // The GC deletes SYN-only entries once their 60 s have passed.
        clock.advance(&mut dp, 61);
        dp.ct_gc().expect("gc");
        assert!(find_service_entry(&dp, 54002).is_none(), "{p:?}");
        assert!(find_service_entry(&dp, 54000).is_some(), "{p:?}");
    }
}

#[test]
fn inactive_backends_per_release() {
    require_root!();
    for p in Profile::ALL {
        let (mut dp, bs) = with_service(Config::profile(p), 3);
        // Flows on every backend, one per backend remembered.
        let mut on = std::collections::BTreeMap::new();
        for sport in 55000..55300 {
            let (_, b) = send(&mut dp, sport, SYN);
            send(&mut dp, sport, ACK);
            on.entry(b).or_insert(sport);
        }
        assert_eq!(on.len(), 3);
        let set = [
            Backend::active(bs[0]),
            Backend {
                addr: bs[1],
                state: BackendState::Terminating,
            },
        ];
        dp.set_backends(common::frontend(), &set).expect("set");
        // Existing traffic to the terminating backend drains in every release.
        assert_eq!(send(&mut dp, on[&bs[1]], ACK).1, bs[1], "{p:?}");
        // A SYN reusing that tuple: PR 20407 reselects an active backend;
        // v1.11 knows no backend state and keeps it.
        let (_, b) = send(&mut dp, on[&bs[1]], SYN);
        if p.rules().inactive_reselect {
            assert_eq!(b, bs[0], "{p:?}");
            assert_eq!(reason(&dp, Reason::CtDrain), 1, "{p:?}");
        } else {
            assert_eq!(b, bs[1], "{p:?}");
            assert_eq!(reason(&dp, Reason::CtDrain), 0, "{p:?}");
        }
        // A removed backend reselects on any packet in every release.
        assert_eq!(send(&mut dp, on[&bs[2]], ACK).1, bs[0], "{p:?}");
        // New flows only go to the active backend.
        for sport in 56000..56050 {
            assert_eq!(send(&mut dp, sport, SYN).1, bs[0], "{p:?}");
        }
    }
}

/// The 1.11 and 1.12 profiles keep CT time on the jiffies clock their Helm
/// charts end up with (`jiffies >> 8`, units of 1.024 s at HZ 250): the
/// agent's seconds become `(s * HZ) >> 8` units, so the service lifetime
/// is 21093 units (21599.232 s) and the 60 s rebalance grace 58 units: a
/// reused port rebalances 59.392 s after its FIN, not 60 s.
#[test]
fn jiffies_clock_of_the_1_11_and_1_12_profiles() {
    require_root!();
    let unit = Duration::from_nanos(1_024_000_000);
    for p in [Profile::Cilium1_11, Profile::Cilium1_12] {
        assert_eq!(p.clock(), MonoClock::Jiffies { hz: 250 }, "{p:?}");
        let (mut dp, _) = with_service(Config::profile(p), 3);
        let mut clock = Clock::aligned(&mut dp);
        establish(&mut dp, 50300);
        let e = service_entry(&dp, 50300);
        assert_eq!(e.expires_in, Some(unit * 21093), "{p:?}: 21600 s in units");
        if p.ct_reuse().grace().is_none() {
            continue;
        }
        // 1.12: close-rebalance after 58 units (59.392 s).
        establish(&mut dp, 50301);
        send(&mut dp, 50300, FIN_ACK);
        send(&mut dp, 50301, FIN_ACK);
        clock.advance(&mut dp, 57);
        send(&mut dp, 50300, SYN);
        assert_eq!(
            reason(&dp, Reason::CtReopen),
            1,
            "{p:?}: 58.368 s: within the grace"
        );
        clock.advance(&mut dp, 1);
        send(&mut dp, 50301, SYN);
        assert_eq!(
            reason(&dp, Reason::CtRebalance),
            1,
            "{p:?}: 59.392 s = 58 units: past the grace"
        );
    }
    // From 1.15 the ktime clock: whole seconds.
    assert_eq!(Profile::Cilium1_16.clock(), MonoClock::Ktime);
}
