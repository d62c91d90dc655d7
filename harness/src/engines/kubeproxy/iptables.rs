//! kube-proxy's iptables proxier as `iptables-restore` input: the chains
//! and rules kube-proxy v1.30 writes for ClusterIP services
//! (kubernetes/kubernetes pkg/proxy/iptables/proxier.go, `syncProxyRules`
//! and `writeServiceToEndpointRules`), as one batch per sync, plus svclab's
//! per-endpoint counter chain (`SVCLAB-BACKENDS`, never flushed, so its
//! counters survive the syncs that rewrite `KUBE-SEP-*`).
//!
//! What kube-proxy writes and svclab leaves out: NodePort, LoadBalancer,
//! externalIPs, session affinity and `Local` traffic policies (svclab's
//! services are ClusterIP with `Cluster` policy), and the `KUBE-FIREWALL`
//! localhost rule (`localhostNodePorts` off, so no `route_localnet` sysctl
//! is set in the node netns).
use std::{collections::BTreeSet, fmt::Write as _, net::SocketAddrV4};

use data_encoding::BASE32;
use sha2::{Digest as _, Sha256};
use svclab_datapath::{Frontend, Protocol};

/// The pod CIDR kube-proxy's `--cluster-cidr` names: traffic from outside
/// it to a ClusterIP is masqueraded (`localDetector.IfNotLocal()`).
pub const CLUSTER_CIDR: &str = "198.18.0.0/16";

/// kube-proxy's default `--iptables-masquerade-bit` 14, written as
/// `fmt.Sprintf("%#08x", 1<<14)` (proxier.go `NewProxier`).
pub const MASQ_MARK: &str = "0x004000";

/// svclab's counter chain in the filter table.
pub const COUNTER_CHAIN: &str = "SVCLAB-BACKENDS";

/// A service as one sync sees it: its name, frontend and the endpoints its
/// `KUBE-SVC-*` chain dispatches to (see `cluster_endpoints`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRules {
    pub name: String,
    pub frontend: Frontend,
    pub endpoints: Vec<SocketAddrV4>,
    /// `sessionAffinity: ClientIP` with this timeout in seconds
    /// (`StickyMaxAgeSeconds`).
    pub affinity: Option<u32>,
    /// internalTrafficPolicy Local with no endpoint on this node while the
    /// service has some elsewhere.
    pub none_local: bool,
}

/// One sync's input beyond the services.
#[derive(Clone, Debug, Default)]
pub struct SyncPlan {
    /// Full sync (kube-proxy's `needFullSync`: the first one): also writes
    /// the jump rules from the built-in chains, and every service's chains.
    pub full: bool,
    /// Partial sync: only these services' `KUBE-SVC`/`KUBE-SEP` chains are
    /// rewritten (proxier.go: "If the SVC/SVL/EXT/FW/SEP chains have not
    /// changed since the last sync then we can omit them").
    pub changed: BTreeSet<Frontend>,
    /// Chains of the previous sync that no sync writes any more: flushed
    /// and deleted ("Delete chains no longer in use").
    pub stale: Vec<String>,
    /// (service, endpoint) pairs that get their counter rules now.
    pub new_counters: Vec<(Frontend, SocketAddrV4)>,
}

/// `svcPortName.String()` of a ClusterIP service in namespace `default`
/// with an unnamed port (proxy.ServicePortName: "ns/name" + ":port" only
/// when the port has a name).
pub fn svc_port_name(name: &str) -> String {
    format!("default/{name}")
}

fn proto_lower(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// proxier.go `portProtoHash`: sha256, base32 (std), first 16 characters.
fn hash16(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    BASE32.encode(&digest)[..16].to_owned()
}

/// `KUBE-SVC-` + portProtoHash(servicePortName, protocol)
/// (proxier.go `servicePortPolicyClusterChain`).
pub fn svc_chain(name: &str, proto: Protocol) -> String {
    format!(
        "KUBE-SVC-{}",
        hash16(&format!("{}{}", svc_port_name(name), proto_lower(proto)))
    )
}

/// `KUBE-SEP-` + hash(servicePortName + protocol + "ip:port")
/// (proxier.go `servicePortEndpointChainName`).
pub fn sep_chain(name: &str, proto: Protocol, ep: SocketAddrV4) -> String {
    format!(
        "KUBE-SEP-{}",
        hash16(&format!(
            "{}{}{ep}",
            svc_port_name(name),
            proto_lower(proto)
        ))
    )
}

/// proxier.go `computeProbability`: `fmt.Sprintf("%0.10f", 1.0/float64(n))`.
pub fn probability(n: usize) -> String {
    #[expect(clippy::cast_precision_loss, reason = "endpoint counts are small")]
    let p = 1.0 / n as f64;
    format!("{p:.10}")
}

/// Every chain a sync of `services` keeps (kube-proxy's `activeNATChains`).
pub fn active_chains(services: &[ServiceRules]) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for svc in services.iter().filter(|s| !s.endpoints.is_empty()) {
        s.insert(svc_chain(&svc.name, svc.frontend.proto));
        for ep in &svc.endpoints {
            s.insert(sep_chain(&svc.name, svc.frontend.proto, *ep));
        }
    }
    s
}

/// The comment of a counter rule: `svclab <kind> <frontend> <endpoint>`;
/// `counters.rs` parses it back out of `iptables-save -c`.
pub fn counter_comment(kind: &str, f: Frontend, ep: SocketAddrV4) -> String {
    format!("svclab {kind} {} {ep}", f.addr())
}

/// The restore input of one sync: `*filter` then `*nat`, for
/// `iptables-restore --noflush --counters` (kube-proxy's `RestoreAll(...,
/// NoFlushTables, RestoreCounters)`).
pub fn render(services: &[ServiceRules], plan: &SyncPlan) -> String {
    let mut filter_chains = String::new();
    let mut filter_rules = String::new();
    let mut nat_chains = String::new();
    let mut nat_rules = String::new();
    let line = |buf: &mut String, l: &str| {
        buf.push_str(l);
        buf.push('\n');
    };
    // proxier.go: "Write chain lines for all the top-level chains".
    for c in [
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-FIREWALL",
    ] {
        line(&mut filter_chains, &format!(":{c} - [0:0]"));
    }
    for c in [
        "KUBE-SERVICES",
        "KUBE-NODEPORTS",
        "KUBE-POSTROUTING",
        "KUBE-MARK-MASQ",
    ] {
        line(&mut nat_chains, &format!(":{c} - [0:0]"));
    }
    if plan.full {
        // svclab's counter chain: created once, never flushed.
        line(&mut filter_chains, &format!(":{COUNTER_CHAIN} - [0:0]"));
    }
    // KUBE-POSTROUTING and KUBE-MARK-MASQ, as proxier.go writes them.
    let m = MASQ_MARK;
    line(
        &mut nat_rules,
        &format!("-A KUBE-POSTROUTING -m mark ! --mark {m}/{m} -j RETURN"),
    );
    line(
        &mut nat_rules,
        &format!("-A KUBE-POSTROUTING -j MARK --xor-mark {m}"),
    );
    line(
        &mut nat_rules,
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
    );
    line(
        &mut nat_rules,
        &format!("-A KUBE-MARK-MASQ -j MARK --or-mark {m}"),
    );
    for svc in services {
        let name = svc_port_name(&svc.name);
        let proto = proto_lower(svc.frontend.proto);
        let vip = svc.frontend.vip;
        let port = svc.frontend.port;
        let svc_c = svc_chain(&svc.name, svc.frontend.proto);
        if svc.endpoints.is_empty() {
            // "The service has no endpoints at all": a filter REJECT; with
            // endpoints elsewhere and internalTrafficPolicy Local, the
            // internal traffic filter target is DROP ("has no local
            // endpoints").
            let (what, target) = if svc.none_local {
                ("has no local endpoints", "DROP")
            } else {
                ("has no endpoints", "REJECT")
            };
            line(
                &mut filter_rules,
                &format!(
                    "-A KUBE-SERVICES -m comment --comment \"{name} {what}\" -m {proto} -p {proto} -d {vip} --dport {port} -j {target}"
                ),
            );
            continue;
        }
        // "Capture the clusterIP."
        line(
            &mut nat_rules,
            &format!(
                "-A KUBE-SERVICES -m comment --comment \"{name} cluster IP\" -m {proto} -p {proto} -d {vip} --dport {port} -j {svc_c}"
            ),
        );
        if !(plan.full || plan.changed.contains(&svc.frontend)) {
            continue;
        }
        line(&mut nat_chains, &format!(":{svc_c} - [0:0]"));
        // "Set up internal traffic handling": masquerade off-cluster sources.
        line(
            &mut nat_rules,
            &format!(
                "-A {svc_c} -m comment --comment \"{name} cluster IP\" -m {proto} -p {proto} -d {vip} --dport {port} ! -s {CLUSTER_CIDR} -j KUBE-MARK-MASQ"
            ),
        );
        // writeServiceToEndpointRules: with ClientIP affinity, first a
        // `recent` check per endpoint (a client seen by that endpoint's
        // chain within the timeout goes there again; --reap drops the
        // oldest expired entry), then endpoint i with probability 1/(n-i),
        // the last one always. Only the dispatched endpoints get a check:
        // a terminating one is not pinned to while any is ready.
        if let Some(secs) = svc.affinity {
            for ep in &svc.endpoints {
                let sep = sep_chain(&svc.name, svc.frontend.proto, *ep);
                line(
                    &mut nat_rules,
                    &format!(
                        "-A {svc_c} -m comment --comment \"{name} -> {ep}\" -m recent --name {sep} --rcheck --seconds {secs} --reap -j {sep}"
                    ),
                );
            }
        }
        let n = svc.endpoints.len();
        for (i, ep) in svc.endpoints.iter().enumerate() {
            let sep = sep_chain(&svc.name, svc.frontend.proto, *ep);
            let stat = if i < n - 1 {
                format!(
                    " -m statistic --mode random --probability {}",
                    probability(n - i)
                )
            } else {
                String::new()
            };
            line(
                &mut nat_rules,
                &format!("-A {svc_c} -m comment --comment \"{name} -> {ep}\"{stat} -j {sep}"),
            );
        }
        // "Generate the per-endpoint chains": hairpin masquerade, then DNAT
        // (recording the client's source address for affinity first).
        let set = |sep: &str| {
            if svc.affinity.is_some() {
                format!(" -m recent --name {sep} --set")
            } else {
                String::new()
            }
        };
        for ep in &svc.endpoints {
            let sep = sep_chain(&svc.name, svc.frontend.proto, *ep);
            line(&mut nat_chains, &format!(":{sep} - [0:0]"));
            line(
                &mut nat_rules,
                &format!(
                    "-A {sep} -m comment --comment {name} -s {}/32 -j KUBE-MARK-MASQ",
                    ep.ip()
                ),
            );
            line(
                &mut nat_rules,
                &format!(
                    "-A {sep} -m comment --comment {name}{} -m {proto} -p {proto} -j DNAT --to-destination {ep}",
                    set(&sep)
                ),
            );
        }
    }
    for c in &plan.stale {
        line(&mut nat_chains, &format!(":{c} - [0:0]"));
        line(&mut nat_rules, &format!("-X {c}"));
    }
    // "Finally, tail-call to the nodePorts chain" (localhostNodePorts off).
    line(
        &mut nat_rules,
        "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS",
    );
    // KUBE-FORWARD (nf_conntrack_tcp_be_liberal is 0 in a fresh netns).
    line(
        &mut filter_rules,
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
    );
    line(
        &mut filter_rules,
        &format!(
            "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {m}/{m} -j ACCEPT"
        ),
    );
    line(
        &mut filter_rules,
        "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    );
    // Counter rules: every packet of a DNATed connection towards the
    // endpoint (packets, bytes), and the connection's first packet (a new
    // conntrack entry, i.e. one selection). No target: they only count.
    for (f, ep) in &plan.new_counters {
        let proto = proto_lower(f.proto);
        let orig = format!(
            "--ctorigdst {}/32 --ctorigdstport {} -p {proto} -d {}/32 -m {proto} --dport {}",
            f.vip,
            f.port,
            ep.ip(),
            ep.port()
        );
        for (kind, state) in [("packets", "DNAT"), ("new", "NEW")] {
            let _ = writeln!(
                filter_rules,
                "-A {COUNTER_CHAIN} -m comment --comment \"{}\" -m conntrack --ctstate {state} --ctproto {proto} {orig}",
                counter_comment(kind, *f, *ep)
            );
        }
    }
    let mut out = String::from("*filter\n");
    out.push_str(&filter_chains);
    if plan.full {
        // iptablesJumpChains, each prepended (EnsureRule(Prepend, ...)) in
        // list order, so the last one ends up first; svclab's counter jump
        // goes first of all.
        for (chain, extra, comment, target) in FILTER_JUMPS {
            let _ = writeln!(
                out,
                "-I {chain} 1{extra} -m comment --comment \"{comment}\" -j {target}"
            );
        }
        let _ = writeln!(
            out,
            "-I FORWARD 1 -m conntrack --ctstate DNAT -j {COUNTER_CHAIN}"
        );
    }
    out.push_str(&filter_rules);
    out.push_str("COMMIT\n*nat\n");
    out.push_str(&nat_chains);
    if plan.full {
        for (chain, comment, target) in NAT_JUMPS {
            let _ = writeln!(
                out,
                "-I {chain} 1 -m comment --comment \"{comment}\" -j {target}"
            );
        }
    }
    out.push_str(&nat_rules);
    out.push_str("COMMIT\n");
    out
}

const NEW: &str = " -m conntrack --ctstate NEW";

/// proxier.go `iptablesJumpChains`, filter table: (source chain, extra
/// match, comment, target).
const FILTER_JUMPS: &[(&str, &str, &str, &str)] = &[
    (
        "INPUT",
        NEW,
        "kubernetes externally-visible service portals",
        "KUBE-EXTERNAL-SERVICES",
    ),
    (
        "FORWARD",
        NEW,
        "kubernetes externally-visible service portals",
        "KUBE-EXTERNAL-SERVICES",
    ),
    (
        "INPUT",
        "",
        "kubernetes health check service ports",
        "KUBE-NODEPORTS",
    ),
    (
        "FORWARD",
        NEW,
        "kubernetes service portals",
        "KUBE-SERVICES",
    ),
    ("OUTPUT", NEW, "kubernetes service portals", "KUBE-SERVICES"),
    ("FORWARD", "", "kubernetes forwarding rules", "KUBE-FORWARD"),
    (
        "INPUT",
        NEW,
        "kubernetes load balancer firewall",
        "KUBE-PROXY-FIREWALL",
    ),
    (
        "OUTPUT",
        NEW,
        "kubernetes load balancer firewall",
        "KUBE-PROXY-FIREWALL",
    ),
    (
        "FORWARD",
        NEW,
        "kubernetes load balancer firewall",
        "KUBE-PROXY-FIREWALL",
    ),
];

/// proxier.go `iptablesJumpChains`, nat table.
const NAT_JUMPS: &[(&str, &str, &str)] = &[
    ("OUTPUT", "kubernetes service portals", "KUBE-SERVICES"),
    ("PREROUTING", "kubernetes service portals", "KUBE-SERVICES"),
    (
        "POSTROUTING",
        "kubernetes postrouting rules",
        "KUBE-POSTROUTING",
    ),
];

/// What both kube-proxy modes' unit tests build rules for.
#[cfg(test)]
pub(super) mod fixtures {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use svclab_datapath::Frontend;

    use super::ServiceRules;

    /// Endpoint `198.18.1.<h>:8080`.
    pub fn ep(h: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, h), 8080)
    }

    /// Service `web` at 198.19.0.10:80 with `eps`.
    pub fn web(eps: &[SocketAddrV4]) -> ServiceRules {
        ServiceRules {
            name: "web".into(),
            frontend: Frontend::tcp(Ipv4Addr::new(198, 19, 0, 10), 80),
            endpoints: eps.to_vec(),
            affinity: None,
            none_local: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::fixtures::{ep, web};

    #[test]
    fn chain_names_follow_kube_proxys_hash() {
        // Computed independently: printf default/webtcp | sha256sum, the
        // hex as bytes, base32, first 16 characters.
        assert_eq!(svc_chain("web", Protocol::Tcp), "KUBE-SVC-LOLE4ISW44XBNF3G");
        let s = sep_chain("web", Protocol::Tcp, ep(2));
        assert_eq!(s, "KUBE-SEP-XZ3O4FGFD7AGAPC3");
        assert_ne!(s, sep_chain("web", Protocol::Tcp, ep(3)));
    }

    /// writeServiceToEndpointRules with ClientIP affinity: one `recent
    /// --rcheck` per endpoint before the first probability rule, and the
    /// endpoint chain records the source with `--set` in its DNAT rule.
    #[test]
    fn affinity_checks_each_endpoint_first_and_records_the_client_on_dnat() {
        let mut svc = web(&[ep(2), ep(3)]);
        svc.affinity = Some(60);
        let out = render(
            &[svc],
            &SyncPlan {
                full: true,
                ..SyncPlan::default()
            },
        );
        let chain = svc_chain("web", Protocol::Tcp);
        let rules: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with(&format!("-A {chain} ")) && l.contains("KUBE-SEP-"))
            .collect();
        let (s2, s3) = (
            sep_chain("web", Protocol::Tcp, ep(2)),
            sep_chain("web", Protocol::Tcp, ep(3)),
        );
        assert_eq!(rules.len(), 4, "{out}");
        assert_eq!(
            rules[0],
            format!(
                "-A {chain} -m comment --comment \"default/web -> 198.18.1.2:8080\" -m recent --name {s2} --rcheck --seconds 60 --reap -j {s2}"
            )
        );
        assert!(rules[1].contains(&format!("--name {s3} --rcheck")));
        assert!(rules[2].contains("--probability 0.5000000000"));
        assert!(out.contains(&format!(
            "-A {s2} -m comment --comment default/web -m recent --name {s2} --set -m tcp -p tcp -j DNAT --to-destination 198.18.1.2:8080"
        )));
        // Without affinity, neither.
        let plain = render(
            &[web(&[ep(2), ep(3)])],
            &SyncPlan {
                full: true,
                ..SyncPlan::default()
            },
        );
        assert!(!plain.contains("recent"));
    }

    /// internalTrafficPolicy Local on a node without local endpoints:
    /// `internalTrafficFilterTarget` DROP, "has no local endpoints"; a
    /// service without endpoints anywhere is still REJECTed.
    #[test]
    fn no_local_endpoints_drop_no_endpoints_reject() {
        let mut svc = web(&[]);
        svc.none_local = true;
        let plan = SyncPlan {
            full: true,
            ..SyncPlan::default()
        };
        let out = render(&[svc], &plan);
        assert!(
            out.contains("-A KUBE-SERVICES -m comment --comment \"default/web has no local endpoints\" -m tcp -p tcp -d 198.19.0.10 --dport 80 -j DROP"),
            "{out}"
        );
        let out = render(&[web(&[])], &plan);
        assert!(
            out.contains("has no endpoints\" -m tcp -p tcp -d 198.19.0.10 --dport 80 -j REJECT")
        );
    }

    #[test]
    fn probability_is_one_over_the_endpoints_left() {
        assert_eq!(probability(3), "0.3333333333");
        assert_eq!(probability(2), "0.5000000000");
    }

    #[test]
    fn endpoint_i_of_n_matches_with_probability_one_over_n_minus_i() {
        let out = render(
            &[web(&[ep(2), ep(3), ep(4)])],
            &SyncPlan {
                full: true,
                ..SyncPlan::default()
            },
        );
        let svc = svc_chain("web", Protocol::Tcp);
        let rules: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with(&format!("-A {svc} ")) && l.contains("KUBE-SEP-"))
            .collect();
        assert_eq!(rules.len(), 3, "{out}");
        assert!(rules[0].contains("--probability 0.3333333333"));
        assert!(rules[1].contains("--probability 0.5000000000"));
        assert!(
            !rules[2].contains("statistic"),
            "the last endpoint always matches"
        );
        assert!(out.contains("-j DNAT --to-destination 198.18.1.3:8080"));
        assert!(out.contains(
            "-I PREROUTING 1 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
        ));
    }

    #[test]
    fn partial_sync_leaves_unchanged_service_chains_alone() {
        let out = render(&[web(&[ep(2)])], &SyncPlan::default());
        let svc = svc_chain("web", Protocol::Tcp);
        assert!(
            out.contains(&format!("-j {svc}")),
            "KUBE-SERVICES is always rewritten"
        );
        assert!(!out.contains(&format!(":{svc} ")), "{out}");
        assert!(!out.contains("-I "), "jump rules only on a full sync");
    }

    #[test]
    fn a_service_without_endpoints_is_rejected_in_filter() {
        let out = render(&[web(&[])], &SyncPlan::default());
        assert!(out.contains("\"default/web has no endpoints\""));
        assert!(out.contains("-j REJECT"));
        assert!(!out.contains("KUBE-SVC-"));
    }
}
