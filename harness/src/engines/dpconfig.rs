//! The suite's `datapath` section as the eBPF datapath's config (the
//! Cilium profile's values, then the suite's overrides) and as the list of
//! effective values the report shows; for a kube-proxy engine, kube-proxy's
//! settings instead.
use std::time::Duration;

use svclab_datapath::{
    Config, CtReuse, CtTimeouts, DEFAULT_REBALANCE_GRACE, MonoClock, Profile, REPORT_INTERVAL,
    Selection,
};
use svclab_suite::{
    Dur,
    model::{CtReuseSpec, DatapathSpec, ProfileSpec, SelectionSpec, Suite},
};

use super::{engine::Engine, kubeproxy::Mode};

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

/// A kube-proxy engine's minSyncPeriod: the suite's, or kube-proxy's default.
fn min_sync(d: &DatapathSpec) -> Duration {
    d.min_sync_period
        .map_or(super::kubeproxy::DEFAULT_MIN_SYNC_PERIOD, |p| p.0)
}

/// The datapath in one line for a non-eBPF engine (None for eBPF).
fn engine_mode(suite: &Suite) -> Option<String> {
    let d = &suite.datapath;
    match Engine::of(d.engine) {
        Engine::Ebpf => None,
        Engine::KubeProxy(Mode::Iptables) => Some(format!(
            "kube-proxy v1.30 iptables mode (iptables-nft, the kernel's conntrack), \
             random DNAT per new conntrack entry, minSyncPeriod {:?}",
            min_sync(d)
        )),
        Engine::KubeProxy(Mode::Nftables) => Some(format!(
            "kube-proxy nftables mode (table ip kube-proxy, the kernel's conntrack), \
             numgen random per new conntrack entry, minSyncPeriod {:?}",
            min_sync(d)
        )),
        Engine::SocketLb => Some(
            "Cilium v1.16.0 socket-LB (cgroup connect4/sendmsg4/recvmsg4/getpeername4, bpf_sock.c): \
             a random backend per connect(), no per-packet service LB and no service conntrack"
                .to_owned(),
        ),
    }
}

/// Socket-LB's fixed behaviour as the report lists it.
fn socket_lb_settings() -> Vec<(String, String, &'static str)> {
    let fixed = |n: &str, v: &str| (n.to_owned(), v.to_owned(), "cilium v1.16.0");
    vec![
        ("engine".to_owned(), "socket-lb".to_owned(), "suite"),
        fixed(
            "hooks",
            "cgroup/connect4, sendmsg4, recvmsg4, getpeername4 on each node's cgroup; client pods' tasks in a cgroup below it",
        ),
        fixed(
            "selection",
            "random slot per TCP connect, socket cookie per UDP socket (sock_select_slot, bpf_sock.c:106-110)",
        ),
        fixed(
            "no backend",
            "connect() refused with EHOSTUNREACH (cil_sock4_connect, bpf_sock.c:459-479)",
        ),
        fixed(
            "reverse translation",
            "LB4_REVERSE_NAT_SK_MAP by socket cookie; stale entries deleted (bpf_sock.c:576-617)",
        ),
        fixed(
            "per-packet LB",
            "none: ENABLE_PER_PACKET_LB is compiled out with full socket-LB (bpf_lxc.c:64-70)",
        ),
    ]
}

/// kube-proxy's settings as the report lists them.
fn kube_proxy_settings(d: &DatapathSpec) -> Vec<(String, String, &'static str)> {
    let fixed = |n: &str, v: &str| (n.to_owned(), v.to_owned(), "kube-proxy");
    vec![
        ("engine".to_owned(), d.engine.name().to_owned(), "suite"),
        (
            "minSyncPeriod".to_owned(),
            format!("{:?}", min_sync(d)),
            if d.min_sync_period.is_some() {
                "suite"
            } else {
                "kube-proxy"
            },
        ),
        fixed("burstSyncs", "2"),
        fixed(
            "rules",
            if Engine::of(d.engine) == Engine::KubeProxy(Mode::Nftables) {
                "services → @service-ips vmap → service-* (numgen random mod n vmap) → endpoint-* dnat; one nft transaction per sync"
            } else {
                "KUBE-SERVICES → KUBE-SVC-* (statistic random 1/(n-i)) → KUBE-SEP-* DNAT; one iptables-nft-restore batch per sync"
            },
        ),
        fixed(
            "terminating endpoints",
            "used only when no endpoint is ready (KEP-1669)",
        ),
        fixed(
            "conntrack",
            "the kernel's nf_conntrack in the node netns (a SYN on a TIME_WAIT entry starts a new one and runs NAT again)",
        ),
        fixed(
            "conntrack timeouts",
            "nf_conntrack_tcp_timeout_established 86400 s, close_wait 3600 s, written in the node netns (conntrack.tcpEstablishedTimeout 24h, tcpCloseWaitTimeout 1h)",
        ),
        fixed(
            "nf_conntrack_max",
            "global (read-only outside the root namespace): the host's value applies; kube-proxy would write max(32768 x CPUs, 131072)",
        ),
        fixed("masquerade", "sources outside 198.18.0.0/16; hairpin"),
        fixed(
            "stale UDP entries",
            "deleted for endpoints removed from a UDP service",
        ),
    ]
}

/// What an engine says about itself for the report, taken once when the
/// run's cluster is built: its mode in one line and every effective
/// setting with where it came from (profile, suite, default, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineDescription {
    pub mode: String,
    pub settings: Vec<(String, String, &'static str)>,
}

/// The engine `suite` runs, described ([`EngineDescription`]).
pub fn describe(suite: &Suite) -> EngineDescription {
    EngineDescription {
        mode: mode_line(suite),
        settings: datapath_settings(suite),
    }
}

/// The datapath in one line: the engine's own line, or for eBPF the
/// profile, selection, CT reuse and service lifetime.
fn mode_line(suite: &Suite) -> String {
    if let Some(m) = engine_mode(suite) {
        return m;
    }
    let c = datapath_config(suite);
    let sel = match c.selection {
        Selection::Random => "random selection".to_owned(),
        Selection::Maglev { table_size } => format!("Maglev (M={table_size})"),
    };
    let reuse = match c.ct_reuse {
        CtReuse::Legacy => "legacy CT reuse".to_owned(),
        CtReuse::CloseRebalance { grace } => {
            format!("close-rebalance CT reuse (grace {}s)", grace.as_secs())
        }
        CtReuse::New { .. } => "new selection on every reused closing entry".to_owned(),
    };
    format!(
        "{}: {sel}, {reuse}, service TCP lifetime {}s",
        c.profile.name(),
        c.timeouts.tcp.as_secs()
    )
}

/// Every effective datapath value, and whether it is the profile's or the
/// suite's: what the report lists.
pub(crate) fn datapath_settings(suite: &Suite) -> Vec<(String, String, &'static str)> {
    let d = &suite.datapath;
    match Engine::of(d.engine) {
        Engine::KubeProxy(_) => return kube_proxy_settings(d),
        Engine::SocketLb => return socket_lb_settings(),
        Engine::Ebpf => {}
    }
    let c = datapath_config(suite);
    let p = c.profile;
    let from = |overridden: bool| if overridden { "suite" } else { "profile" };
    // Not a Cilium value: svclab's own default unless the suite sets it.
    let svclab_default = |default: bool| if default { "default" } else { "suite" };
    let secs = |v: Duration| format!("{}s", v.as_secs());
    // On the jiffies clock what runs is `(s * HZ) >> 8` units, not seconds.
    let in_units = |v: Duration| match c.clock {
        MonoClock::Ktime => secs(v),
        MonoClock::Jiffies { hz } => {
            let s = u32::try_from(v.as_secs()).unwrap_or(u32::MAX);
            let units = svclab_datapath::sec_to_mono(s, hz);
            format!(
                "{}s = {units} units of {:.3} s ({:.3} s)",
                v.as_secs(),
                256.0 / f64::from(hz),
                f64::from(units) * 256.0 / f64::from(hz)
            )
        }
    };
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
            if d.profile == ProfileSpec::default() {
                "default"
            } else {
                "suite"
            },
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
            in_units(g),
            from(d.rebalance_grace.is_some()),
        ));
    }
    v.extend([
        (
            "timeouts.syn".to_owned(),
            in_units(c.timeouts.syn),
            from(t.syn.is_some()),
        ),
        (
            "timeouts.tcp".to_owned(),
            in_units(c.timeouts.tcp),
            from(t.tcp.is_some()),
        ),
        (
            "timeouts.close".to_owned(),
            in_units(c.timeouts.close),
            from(t.close.is_some()),
        ),
        (
            "timeouts.non_tcp".to_owned(),
            in_units(c.timeouts.non_tcp),
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
            "all-terminating service: terminating backends take new flows (v1.14+)".to_owned(),
            yes(r.terminating_fallback),
            from(false),
        ),
        (
            "no backend: ICMP port unreachable (service-no-backend-response=reject, v1.15+)"
                .to_owned(),
            if r.no_backend_reject {
                "yes (connect fails with ECONNREFUSED at once)".to_owned()
            } else {
                "no: dropped (SYNs retransmit)".to_owned()
            },
            from(false),
        ),
        (
            "SYN reselects a non-active backend (PR 20407)".to_owned(),
            yes(r.inactive_reselect),
            from(false),
        ),
        (
            "clock".to_owned(),
            match c.clock {
                MonoClock::Ktime => {
                    "whole seconds of CLOCK_MONOTONIC (bpf_ktime_get_sec)".to_owned()
                }
                MonoClock::Jiffies { hz } => format!(
                    "jiffies >> 8 at HZ {hz}: units of {:.3} s (Helm renders enable-bpf-clock-probe: true)",
                    256.0 / f64::from(hz)
                ),
            },
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
            svclab_default(d.ct_map_size == DatapathSpec::default().ct_map_size),
        ),
        match d.gc_interval {
            Some(gc) => ("gc_interval".to_owned(), gc.to_string(), "suite"),
            None => (
                "gc_interval".to_owned(),
                format!(
                    "adaptive: first pass at start, then {}s, x1.5 while under 5% expires (10s..12h)",
                    svclab_datapath::GC_STARTING_INTERVAL.as_secs()
                ),
                "cilium (ctmap.go calculateInterval)",
            ),
        },
    ]);
    v
}

#[cfg(test)]
mod tests {
    use std::{path::Path, time::Duration};

    use svclab_datapath::{CtReuse, Profile};

    use super::{datapath_config, datapath_settings};

    fn suite(datapath: &str) -> svclab_suite::Suite {
        let text = format!(
            "duration: 5s\ndatapath: {datapath}\ndeployments:\n  - {{ name: web, replicas: 1 }}\n\
             services:\n  - {{ name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }}\n\
             clients:\n  - {{ name: c, service: web }}\n"
        );
        svclab_suite::parse(&text, Path::new("t.yaml"))
            .expect("valid suite")
            .suite
    }

    #[test]
    fn profile_values_then_overrides() {
        let c = datapath_config(&suite("{}"));
        assert_eq!(c.profile, Profile::Cilium1_16, "default profile");
        assert_eq!(
            c.ct_reuse,
            CtReuse::New {
                grace: Duration::from_secs(60)
            }
        );
        assert_eq!(c.timeouts.tcp, Duration::from_secs(8000));

        let c = datapath_config(&suite("{ profile: cilium-1.11 }"));
        assert_eq!(
            (c.ct_reuse, c.timeouts.tcp.as_secs()),
            (CtReuse::Legacy, 21600)
        );

        let c = datapath_config(&suite("{ profile: cilium-1.12, rebalance_grace: 5s }"));
        assert_eq!(
            c.ct_reuse,
            CtReuse::CloseRebalance {
                grace: Duration::from_secs(5)
            }
        );
        // An explicit rule on another release's profile: its grace is the
        // agent's default unless set.
        let c = datapath_config(&suite(
            "{ profile: cilium-1.11, ct_reuse: close-rebalance }",
        ));
        assert_eq!(
            (c.profile, c.ct_reuse),
            (
                Profile::Cilium1_11,
                CtReuse::CloseRebalance {
                    grace: Duration::from_secs(60)
                }
            )
        );
        let c = datapath_config(&suite(
            "{ ct_reuse: legacy, timeouts: { tcp: 6h, close: 3s } }",
        ));
        assert_eq!(c.ct_reuse, CtReuse::Legacy);
        assert_eq!(
            (
                c.timeouts.tcp.as_secs(),
                c.timeouts.close.as_secs(),
                c.timeouts.syn.as_secs()
            ),
            (21600, 3, 60)
        );
    }

    #[test]
    fn settings_say_where_each_value_came_from() {
        let s = datapath_settings(&suite("{ profile: cilium-1.12, timeouts: { tcp: 1h } }"));
        let get = |name: &str| {
            s.iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, v, f)| (v.clone(), *f))
                .unwrap_or_else(|| panic!("{name} missing: {s:?}"))
        };
        assert_eq!(get("profile").1, "suite");
        // cilium-1.12 runs the jiffies clock: what runs is in its units.
        assert_eq!(
            get("timeouts.tcp"),
            (
                "3600s = 3515 units of 1.024 s (3599.360 s)".to_owned(),
                "suite"
            )
        );
        assert_eq!(
            get("timeouts.syn"),
            ("60s = 58 units of 1.024 s (59.392 s)".to_owned(), "profile")
        );
        assert_eq!(
            get("rebalance_grace"),
            ("60s = 58 units of 1.024 s (59.392 s)".to_owned(), "profile")
        );
        let ktime = datapath_settings(&suite("{ profile: cilium-1.16 }"));
        assert!(
            ktime
                .iter()
                .any(|(n, v, _)| n == "timeouts.syn" && v == "60s"),
            "{ktime:?}"
        );
        assert_eq!(get("ct_map_size").1, "default");
        let legacy = datapath_settings(&suite("{ profile: cilium-1.11 }"));
        assert!(
            !legacy.iter().any(|(n, _, _)| n == "rebalance_grace"),
            "no grace without rebalance"
        );
    }
}
