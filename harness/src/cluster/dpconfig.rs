//! The suite's `datapath` section as the eBPF datapath's config (the
//! Cilium profile's values, then the suite's overrides) and as the list of
//! effective values the report shows.
use std::time::Duration;

use svclab_datapath::{
    Config, CtReuse, CtTimeouts, DEFAULT_REBALANCE_GRACE, Profile, REPORT_INTERVAL, Selection,
};
use svclab_suite::{
    Dur,
    model::{CtReuseSpec, ProfileSpec, SelectionSpec, Suite},
};

/// The suite's datapath section as the eBPF datapath's config: the
/// profile's values, then the suite's explicit overrides.
pub fn datapath_config(suite: &Suite) -> Config {
    let d = &suite.datapath;
    let mut c = Config::profile(profile(d.profile));
    c.selection = match d.selection {
        SelectionSpec::Random => Selection::Random,
        SelectionSpec::Maglev => Selection::Maglev {
            table_size: d.maglev_table_size,
        },
    };
    let grace = d
        .rebalance_grace
        .map(|g| g.0)
        .or(c.ct_reuse.grace())
        .unwrap_or(DEFAULT_REBALANCE_GRACE);
    c.ct_reuse = match d.ct_reuse {
        None => match c.ct_reuse {
            CtReuse::Legacy => CtReuse::Legacy,
            CtReuse::CloseRebalance { .. } => CtReuse::CloseRebalance { grace },
            CtReuse::New { .. } => CtReuse::New { grace },
        },
        Some(CtReuseSpec::Legacy) => CtReuse::Legacy,
        Some(CtReuseSpec::CloseRebalance) => CtReuse::CloseRebalance { grace },
        Some(CtReuseSpec::New) => CtReuse::New { grace },
    };
    let t = &d.timeouts;
    let over = |v: Option<Dur>, profile: Duration| v.map_or(profile, |v| v.0);
    c.timeouts = CtTimeouts {
        syn: over(t.syn, c.timeouts.syn),
        tcp: over(t.tcp, c.timeouts.tcp),
        close: over(t.close, c.timeouts.close),
        non_tcp: over(t.non_tcp, c.timeouts.non_tcp),
    };
    c.ct_map_size = d.ct_map_size;
    c.hash_seed = u32::try_from(suite.seed & 0xffff_ffff).unwrap_or(1);
    c
}

pub fn profile(p: ProfileSpec) -> Profile {
    match p {
        ProfileSpec::Cilium1_11 => Profile::Cilium1_11,
        ProfileSpec::Cilium1_12 => Profile::Cilium1_12,
        ProfileSpec::Cilium1_15 => Profile::Cilium1_15,
        ProfileSpec::Cilium1_15_8 => Profile::Cilium1_15_8,
        ProfileSpec::Cilium1_16 => Profile::Cilium1_16,
    }
}

/// Every effective datapath value, and whether it is the profile's or the
/// suite's: what the report lists.
pub fn datapath_settings(suite: &Suite) -> Vec<(String, String, &'static str)> {
    let d = &suite.datapath;
    let c = datapath_config(suite);
    let p = c.profile;
    let from = |overridden: bool| if overridden { "suite" } else { "profile" };
    let secs = |v: Duration| format!("{}s", v.as_secs());
    let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let reuse = match c.ct_reuse {
        CtReuse::Legacy => "legacy (SYN on a closing entry reopens it)",
        CtReuse::CloseRebalance { .. } => "close-rebalance (new selection past the grace)",
        CtReuse::New { .. } => "new (every SYN on a closing entry selects anew)",
    };
    let t = &d.timeouts;
    let r = p.rules();
    let mut v = vec![
        (
            "profile".to_owned(),
            format!("{} (Cilium {})", p.name(), p.releases()),
            from(true),
        ),
        (
            "selection".to_owned(),
            match c.selection {
                Selection::Random => "random".to_owned(),
                Selection::Maglev { table_size } => format!("maglev (M={table_size})"),
            },
            from(d.selection != SelectionSpec::Random),
        ),
        (
            "ct_reuse".to_owned(),
            reuse.to_owned(),
            from(d.ct_reuse.is_some()),
        ),
    ];
    if let Some(g) = c.ct_reuse.grace() {
        v.push((
            "rebalance_grace".to_owned(),
            secs(g),
            from(d.rebalance_grace.is_some()),
        ));
    }
    v.extend([
        (
            "timeouts.syn".to_owned(),
            secs(c.timeouts.syn),
            from(t.syn.is_some()),
        ),
        (
            "timeouts.tcp".to_owned(),
            secs(c.timeouts.tcp),
            from(t.tcp.is_some()),
        ),
        (
            "timeouts.close".to_owned(),
            secs(c.timeouts.close),
            from(t.close.is_some()),
        ),
        (
            "timeouts.non_tcp".to_owned(),
            secs(c.timeouts.non_tcp),
            from(t.non_tcp.is_some()),
        ),
        (
            "FIN/RST closes a service entry both ways (PR 33907)".to_owned(),
            yes(r.close_both),
            from(false),
        ),
        (
            "reopen resets seen flags and seen_non_syn".to_owned(),
            yes(r.reopen_reset),
            from(false),
        ),
        (
            "SYN reselects a non-active backend (PR 20407)".to_owned(),
            yes(r.inactive_reselect),
            from(false),
        ),
        (
            "clock".to_owned(),
            "whole seconds of CLOCK_MONOTONIC (bpf_ktime_get_sec)".to_owned(),
            from(false),
        ),
        (
            "CT_REPORT_INTERVAL".to_owned(),
            secs(REPORT_INTERVAL),
            from(false),
        ),
        (
            "ct_map_size".to_owned(),
            c.ct_map_size.to_string(),
            from(true),
        ),
        (
            "gc_interval".to_owned(),
            d.gc_interval.to_string(),
            from(true),
        ),
    ]);
    v
}
