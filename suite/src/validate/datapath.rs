//! The `datapath` section: backend selection, conntrack reuse, CT timeouts,
//! garbage collection and map size.
use std::time::Duration;

use super::checker::{Checker, HOUR};
use crate::{
    expected::{AT_MOST_1H, CT_SIZE, GC, MAGLEV, POSITIVE},
    model::DatapathSpec,
};

/// Maglev needs a prime table size; these are Cilium's accepted values.
const MAGLEV_SIZES: &[u32] = &[251, 509, 1021, 2039, 4093, 8191, 16381];

pub(super) fn check(c: &mut Checker<'_>, dp: &DatapathSpec) {
    c.expect(
        MAGLEV_SIZES.contains(&dp.maglev_table_size),
        "datapath.maglev_table_size",
        MAGLEV,
        dp.maglev_table_size,
    );
    c.expect(
        dp.rebalance_grace.0 <= HOUR,
        "datapath.rebalance_grace",
        AT_MOST_1H,
        dp.rebalance_grace,
    );
    let t = &dp.timeouts;
    for (key, v) in [
        ("syn", t.syn),
        ("tcp", t.tcp),
        ("close", t.close),
        ("non_tcp", t.non_tcp),
    ] {
        c.expect(
            !v.0.is_zero(),
            &format!("datapath.timeouts.{key}"),
            POSITIVE,
            v,
        );
    }
    c.expect(
        dp.gc_interval.0 >= Duration::from_millis(100),
        "datapath.gc_interval",
        GC,
        dp.gc_interval,
    );
    c.expect(
        (16..=16_777_216).contains(&dp.ct_map_size),
        "datapath.ct_map_size",
        CT_SIZE,
        dp.ct_map_size,
    );
}
