//! The `datapath` section: backend selection, conntrack reuse, CT timeouts,
//! garbage collection and map size.
use std::time::Duration;

use super::checker::{Checker, HOUR};
use crate::{
    expected::{CT_SIZE, CT_TIMEOUT, GC, GRACE, MAGLEV, MIN_SYNC},
    model::{CtReuseSpec, DatapathSpec, EngineSpec, ProfileSpec, SelectionSpec},
};

/// The CT timeout overrides by key.
fn timeouts(dp: &DatapathSpec) -> [(&'static str, Option<crate::model::Dur>); 4] {
    let t = &dp.timeouts;
    [
        ("syn", t.syn),
        ("tcp", t.tcp),
        ("close", t.close),
        ("non_tcp", t.non_tcp),
    ]
}

/// Settings of the per-packet path that socket-LB does not have: Cilium
/// v1.16.0 with full socket-LB compiles per-packet service LB out of
/// bpf_lxc (bpf_lxc.c:64-70) and picks a random slot per TCP connect
/// (bpf_sock.c:106-110, :403) whatever the service's algorithm.
fn socket_lb(c: &mut Checker<'_>, dp: &DatapathSpec) {
    let why = "has no effect with engine `socket-lb`: the backend is chosen at connect() \
               (a random one, as Cilium's bpf_sock.c), and there is no service conntrack";
    if dp.selection != SelectionSpec::Random {
        c.fail("datapath.selection", why.to_owned());
    }
    if dp.ct_reuse.is_some() {
        c.fail("datapath.ct_reuse", why.to_owned());
    }
    if dp.rebalance_grace.is_some() {
        c.fail("datapath.rebalance_grace", why.to_owned());
    }
    for (key, v) in timeouts(dp) {
        if v.is_some() {
            c.fail(&format!("datapath.timeouts.{key}"), why.to_owned());
        }
    }
}

/// Whole seconds: the agent writes Cilium's CT macros as `int64(d.Seconds())`.
fn whole_secs(d: Duration) -> bool {
    d.subsec_nanos() == 0
}

/// Maglev needs a prime table size; these are Cilium's accepted values.
const MAGLEV_SIZES: &[u32] = &[251, 509, 1021, 2039, 4093, 8191, 16381];

pub(super) fn check(c: &mut Checker<'_>, dp: &DatapathSpec) {
    if let Some(p) = dp.min_sync_period {
        c.expect(p.0 <= HOUR, "datapath.min_sync_period", MIN_SYNC, p);
        if !dp.engine.is_kube_proxy() {
            c.fail(
                "datapath.min_sync_period",
                format!(
                    "has no effect with engine `{}`: it is kube-proxy's rule-sync limit; \
                     set `engine: kube-proxy-iptables` or remove it",
                    dp.engine.name()
                ),
            );
        }
    }
    if dp.engine == EngineSpec::SocketLb {
        socket_lb(c, dp);
    }
    c.expect(
        MAGLEV_SIZES.contains(&dp.maglev_table_size),
        "datapath.maglev_table_size",
        MAGLEV,
        dp.maglev_table_size,
    );
    if let Some(g) = dp.rebalance_grace {
        c.expect(
            g.0 <= HOUR && whole_secs(g.0),
            "datapath.rebalance_grace",
            GRACE,
            g,
        );
        let legacy = match dp.ct_reuse {
            Some(r) => r == CtReuseSpec::Legacy,
            None => dp.profile == ProfileSpec::Cilium1_11,
        };
        if legacy {
            c.fail(
                "datapath.rebalance_grace",
                "has no effect: CT reuse is `legacy` (the profile's or the suite's); \
                 set `ct_reuse: close-rebalance` or remove the grace"
                    .to_owned(),
            );
        }
    }
    // The 1.11 and 1.12 profiles count CT time in jiffies >> 8 (1.024 s at
    // the modelled HZ 250): 1 s is 0 units there.
    let jiffies = matches!(
        dp.profile,
        ProfileSpec::Cilium1_11 | ProfileSpec::Cilium1_12
    );
    for (key, v) in timeouts(dp) {
        if let Some(v) = v {
            let path = format!("datapath.timeouts.{key}");
            c.expect(
                v.0 >= Duration::from_secs(1) && whole_secs(v.0),
                &path,
                CT_TIMEOUT,
                v,
            );
            if jiffies && v.0 == Duration::from_secs(1) {
                c.fail(
                    &path,
                    "1s is 0 units of the jiffies clock of the cilium-1.11 and cilium-1.12 profiles (1.024 s each at HZ 250): an entry would expire as it is made; use at least 2s"
                        .to_owned(),
                );
            }
        }
    }
    if let Some(gc) = dp.gc_interval {
        c.expect(
            gc.0 >= Duration::from_millis(100),
            "datapath.gc_interval",
            GC,
            gc,
        );
    }
    c.expect(
        (16..=16_777_216).contains(&dp.ct_map_size),
        "datapath.ct_map_size",
        CT_SIZE,
        dp.ct_map_size,
    );
}
