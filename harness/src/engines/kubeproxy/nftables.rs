//! kube-proxy's nftables proxier as one `nft -f -` transaction per sync:
//! table `ip kube-proxy` with the base chains, the `services` dispatch
//! through the `service-ips` verdict map, per-service chains doing
//! `numgen random mod N vmap`, per-endpoint chains doing `dnat to`, the
//! `no-endpoint-services` map into `reject-chain`, and the masquerade
//! chains (kubernetes/kubernetes pkg/proxy/nftables/proxier.go, v1.33-era
//! master: `setupNFTables`, `syncProxyRules`, `writeServiceToEndpointRules`,
//! `hashAndTruncate`). Map and set elements are diffed against the last
//! sync as kube-proxy's `nftElementStorage` does; stale chains are flushed
//! now and deleted a sync later, at least 1 s on ("kernels before 6.2 ...
//! don't notice until a short amount of time later that the chain is now
//! unreferenced").
//!
//! svclab's per-endpoint counters live in a table of their own (`ip
//! svclab`, never flushed), so every chart works as with the other engines.
//!
//! Base chain priorities are written as numbers (dstnat = -100, srcnat =
//! 100): Debian 12's nft 1.0.6 accepts the symbolic `dstnat` only in the
//! prerouting and output hooks. The values are kube-proxy's.
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    net::SocketAddrV4,
    time::Instant,
};

use data_encoding::BASE32;
use sha2::{Digest as _, Sha256};
use svclab_datapath::{Frontend, Protocol};

use super::iptables::{CLUSTER_CIDR, ServiceRules, counter_comment};

pub const TABLE: &str = "ip kube-proxy";
pub const COUNTER_TABLE: &str = "ip svclab";

/// kube-proxy's masquerade bit 14.
const MASQ_MARK: &str = "0x4000";

/// (name, type, hook, priority) of proxier.go `nftablesBaseChains`.
const BASE_CHAINS: &[(&str, &str, &str, i32)] = &[
    ("filter-prerouting", "filter", "prerouting", -110),
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("filter-output-post-dnat", "filter", "output", -90),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
];

/// proxier.go `nftablesJumpChains`: (destination, source, extra match).
const JUMP_CHAINS: &[(&str, &str, &str)] = &[
    ("nodeport-endpoints-check", "filter-input", "ct state new "),
    ("service-endpoints-check", "filter-input", "ct state new "),
    ("service-endpoints-check", "filter-forward", "ct state new "),
    ("service-endpoints-check", "filter-output", "ct state new "),
    ("firewall-check", "filter-prerouting", "ct state new "),
    ("firewall-check", "filter-output", "ct state new "),
    ("services", "nat-output", ""),
    ("services", "nat-prerouting", ""),
    ("masquerading", "nat-postrouting", ""),
    ("cluster-ips-check", "filter-forward", "ct state new "),
    (
        "cluster-ips-check",
        "filter-output-post-dnat",
        "ct state new ",
    ),
];

/// What an nftables sync remembers between syncs.
#[derive(Debug, Default)]
pub struct NftState {
    /// (container, key) → value of every map/set element last written.
    elements: BTreeMap<(String, String), String>,
    /// Service chains of the last sync.
    active: BTreeSet<String>,
    /// Flushed chains waiting to be deleted, since when.
    stale: BTreeMap<String, Instant>,
    /// Affinity sets of the last sync.
    affinity_sets: BTreeSet<String>,
}

fn proto_lower(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// proxier.go `hashAndTruncate` (names here never reach the 240 limit).
fn hash_and_truncate(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    format!("{}-{name}", &BASE32.encode(&digest)[..8])
}

/// `service-` + servicePortChainNameBase: "ns/name/protocol/portName"
/// (svclab's service ports are unnamed).
pub fn svc_chain(name: &str, proto: Protocol) -> String {
    format!(
        "service-{}",
        hash_and_truncate(&format!("default/{name}/{}/", proto_lower(proto)))
    )
}

/// `endpoint-` + servicePortEndpointChainNameBase:
/// "ns/name/protocol/portName__ip/port".
pub fn ep_chain(name: &str, proto: Protocol, ep: SocketAddrV4) -> String {
    format!(
        "endpoint-{}",
        hash_and_truncate(&format!(
            "default/{name}/{}/__{}/{}",
            proto_lower(proto),
            ep.ip(),
            ep.port()
        ))
    )
}

/// `affinity-` + the endpoint chain's name base
/// (`servicePortEndpointAffinityNamePrefix`): the set of client addresses
/// pinned to that endpoint.
pub fn affinity_set(name: &str, proto: Protocol, ep: SocketAddrV4) -> String {
    let c = ep_chain(name, proto, ep);
    format!("affinity-{}", c.trim_start_matches("endpoint-"))
}

/// One sync's transaction (and the deletions of chains that went stale
/// at least a second ago, which kube-proxy runs as a transaction of their
/// own first: `pre`).
pub struct Tx {
    pub pre: Option<String>,
    pub main: String,
}

/// Builds the sync. `full`: the first sync (table, base chains, maps);
/// `changed`: services whose chains are rewritten; `new_counters`: counter
/// rules to add.
pub fn render(
    services: &[ServiceRules],
    full: bool,
    changed: &BTreeSet<Frontend>,
    new_counters: &[(Frontend, SocketAddrV4)],
    st: &mut NftState,
    now: Instant,
) -> Tx {
    let t = TABLE;
    let mut pre = String::new();
    st.stale.retain(|c, since| {
        let old = now.saturating_duration_since(*since).as_secs_f64() >= 1.0;
        if old {
            let _ = writeln!(pre, "delete chain {t} {c}");
        }
        !old
    });
    let mut tx = String::new();
    if full {
        setup(&mut tx);
        let _ = writeln!(
            tx,
            "add table {COUNTER_TABLE} {{ comment \"svclab per-endpoint counters\" ; }}\n\
             add chain {COUNTER_TABLE} backends {{ type filter hook forward priority 0 ; }}"
        );
        st.elements.clear();
    }
    // The elements every service wants, then the diff against the last sync.
    let mut want: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut active = BTreeSet::new();
    let mut sets = BTreeSet::new();
    for s in services {
        let p = proto_lower(s.frontend.proto);
        let vip = s.frontend.vip;
        let port = s.frontend.port;
        let key = format!("{vip} . {p} . {port}");
        want.insert(("cluster-ips".into(), vip.to_string()), String::new());
        let svc_c = svc_chain(&s.name, s.frontend.proto);
        if s.endpoints.is_empty() {
            // No endpoints at all: reject; none on this node under
            // internalTrafficPolicy Local while some exist elsewhere: drop.
            let verdict = if s.none_local {
                "drop"
            } else {
                "goto reject-chain"
            };
            want.insert(("no-endpoint-services".into(), key), verdict.into());
            continue;
        }
        want.insert(("service-ips".into(), key), format!("goto {svc_c}"));
        active.insert(svc_c.clone());
        for ep in &s.endpoints {
            active.insert(ep_chain(&s.name, s.frontend.proto, *ep));
            if s.affinity.is_some() {
                sets.insert(affinity_set(&s.name, s.frontend.proto, *ep));
            }
        }
        if !(full || changed.contains(&s.frontend)) {
            continue;
        }
        // The per-endpoint affinity sets: client addresses with a timeout,
        // added to by the endpoint chain (syncProxyRules: Type ipv4_addr,
        // Flags dynamic + timeout, Timeout StickyMaxAgeSeconds).
        if let Some(secs) = s.affinity {
            for ep in &s.endpoints {
                let _ = writeln!(
                    tx,
                    "add set {t} {} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {secs}s ; }}",
                    affinity_set(&s.name, s.frontend.proto, *ep)
                );
            }
        }
        // "Note the endpoint chains that will be used": created (and
        // flushed) before the service chain's vmap names them.
        for ep in &s.endpoints {
            let c = ep_chain(&s.name, s.frontend.proto, *ep);
            let _ = writeln!(tx, "add chain {t} {c}\nflush chain {t} {c}");
        }
        let _ = writeln!(tx, "add chain {t} {svc_c}\nflush chain {t} {svc_c}");
        // "Set up internal traffic handling": masquerade off-cluster sources.
        let _ = writeln!(
            tx,
            "add rule {t} {svc_c} ip daddr {vip} {p} dport {port} ip saddr != {CLUSTER_CIDR} jump mark-for-masquerade"
        );
        // writeServiceToEndpointRules: a client in an endpoint's affinity
        // set goes there, before the random choice.
        if s.affinity.is_some() {
            for ep in &s.endpoints {
                let _ = writeln!(
                    tx,
                    "add rule {t} {svc_c} ip saddr @{} goto {}",
                    affinity_set(&s.name, s.frontend.proto, *ep),
                    ep_chain(&s.name, s.frontend.proto, *ep)
                );
            }
        }
        let vmap: Vec<String> = s
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, ep)| format!("{i} : goto {}", ep_chain(&s.name, s.frontend.proto, *ep)))
            .collect();
        let _ = writeln!(
            tx,
            "add rule {t} {svc_c} numgen random mod {} vmap {{ {} }}",
            s.endpoints.len(),
            vmap.join(", ")
        );
        for ep in &s.endpoints {
            let c = ep_chain(&s.name, s.frontend.proto, *ep);
            let _ = writeln!(
                tx,
                "add rule {t} {c} ip saddr {} jump mark-for-masquerade",
                ep.ip()
            );
            if s.affinity.is_some() {
                let _ = writeln!(
                    tx,
                    "add rule {t} {c} update @{} {{ ip saddr }}",
                    affinity_set(&s.name, s.frontend.proto, *ep)
                );
            }
            let _ = writeln!(tx, "add rule {t} {c} meta l4proto {p} dnat to {ep}");
        }
    }
    for ((container, k), v) in &want {
        let elem = element(k, v);
        match st.elements.get(&(container.clone(), k.clone())) {
            Some(old) if old == v => {}
            Some(_) => {
                let _ = writeln!(
                    tx,
                    "delete element {t} {container} {{ {k} }}\nadd element {t} {container} {{ {elem} }}"
                );
            }
            None => {
                let _ = writeln!(tx, "add element {t} {container} {{ {elem} }}");
            }
        }
    }
    for (container, k) in st.elements.keys() {
        if !want.contains_key(&(container.clone(), k.clone())) {
            let _ = writeln!(tx, "delete element {t} {container} {{ {k} }}");
        }
    }
    // "Figure out which chains are now stale": flush now, delete later.
    for c in st.active.difference(&active) {
        let _ = writeln!(tx, "flush chain {t} {c}");
        st.stale.insert(c.clone(), now);
    }
    for c in &active {
        st.stale.remove(c);
    }
    // "We can immediately delete any stale affinity sets": the chains that
    // used them were flushed above.
    for set in st.affinity_sets.difference(&sets) {
        let _ = writeln!(tx, "delete set {t} {set}");
    }
    st.affinity_sets = sets;
    for (f, ep) in new_counters {
        let p = proto_lower(f.proto);
        let m = format!(
            "meta l4proto {p} ct original ip daddr {} ct original proto-dst {} ip daddr {} {p} dport {}",
            f.vip,
            f.port,
            ep.ip(),
            ep.port()
        );
        for (kind, state) in [("packets", ""), ("new", "ct state new ")] {
            let _ = writeln!(
                tx,
                "add rule {COUNTER_TABLE} backends {state}ct status dnat {m} counter comment \"{}\"",
                counter_comment(kind, *f, *ep)
            );
        }
    }
    st.elements = want;
    st.active = active;
    Tx {
        pre: (!pre.is_empty()).then_some(pre),
        main: tx,
    }
}

fn element(k: &str, v: &str) -> String {
    if v.is_empty() {
        k.to_owned()
    } else {
        format!("{k} : {v}")
    }
}

/// proxier.go `setupNFTables` for IPv4 with `nodePortAddresses` matching
/// all and no service CIDRs configured.
fn setup(tx: &mut String) {
    let t = TABLE;
    let _ = writeln!(tx, "add table {t} {{ comment \"rules for kube-proxy\" ; }}");
    for (name, ty, hook, prio) in BASE_CHAINS {
        let _ = writeln!(
            tx,
            "add chain {t} {name} {{ type {ty} hook {hook} priority {prio} ; }}\nflush chain {t} {name}"
        );
    }
    let mut created = BTreeSet::new();
    for (dst, src, extra) in JUMP_CHAINS {
        if created.insert(*dst) {
            let _ = writeln!(tx, "add chain {t} {dst}\nflush chain {t} {dst}");
        }
        let _ = writeln!(tx, "add rule {t} {src} {extra}jump {dst}");
    }
    let _ = writeln!(
        tx,
        "add chain {t} mark-for-masquerade\nflush chain {t} mark-for-masquerade"
    );
    let m = MASQ_MARK;
    let _ = writeln!(
        tx,
        "add rule {t} mark-for-masquerade mark set mark or {m}\n\
         add rule {t} masquerading mark and {m} == 0 return\n\
         add rule {t} masquerading mark set mark xor {m}\n\
         add rule {t} masquerading masquerade fully-random\n\
         add set {t} cluster-ips {{ type ipv4_addr ; comment \"Active ClusterIPs\" ; }}\n\
         add rule {t} cluster-ips-check ip daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"\n\
         add map {t} no-endpoint-services {{ type ipv4_addr . inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to services with no endpoints\" ; }}\n\
         add map {t} no-endpoint-nodeports {{ type inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to service nodeports with no endpoints\" ; }}\n\
         add chain {t} reject-chain {{ comment \"helper for @no-endpoint-services / @no-endpoint-nodeports\" ; }}\n\
         flush chain {t} reject-chain\n\
         add rule {t} reject-chain reject\n\
         add rule {t} service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services\n\
         add rule {t} nodeport-endpoints-check ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports\n\
         add map {t} firewall-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ; comment \"destinations that are subject to LoadBalancerSourceRanges\" ; }}\n\
         add rule {t} firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips\n\
         add map {t} service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }}\n\
         add map {t} service-nodeports {{ type inet_proto . inet_service : verdict ; comment \"NodePort traffic\" ; }}\n\
         add rule {t} services ip daddr . meta l4proto . th dport vmap @service-ips\n\
         add rule {t} services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports"
    );
    for c in [
        "cluster-ips",
        "service-ips",
        "firewall-ips",
        "no-endpoint-services",
        "no-endpoint-nodeports",
        "service-nodeports",
    ] {
        let kind = if c == "cluster-ips" { "set" } else { "map" };
        let _ = writeln!(tx, "flush {kind} {t} {c}");
    }
}

/// svclab's counters from `nft list table ip svclab`: lines
/// `... counter packets N bytes M comment "svclab <kind> <frontend> <ep>"`.
pub fn parse_counters(list: &str) -> BTreeMap<SocketAddrV4, svclab_datapath::BackendStats> {
    let mut save = String::new();
    for l in list.lines() {
        let Some((_, rest)) = l.split_once("counter packets ") else {
            continue;
        };
        let mut w = rest.split_whitespace();
        let (Some(p), Some("bytes"), Some(b)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let Some(c) = rest.split_once("comment ").map(|x| x.1) else {
            continue;
        };
        let _ = writeln!(save, "[{p}:{b}] -A x -m comment --comment {c}");
    }
    super::tools::parse_counters(&save)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::iptables::fixtures::{ep, web};

    #[test]
    fn chain_names_are_hash_dash_name_as_kube_proxy_writes_them() {
        // printf default/web/tcp/ | sha256sum → base32, first 8.
        let c = svc_chain("web", Protocol::Tcp);
        assert!(
            c.starts_with("service-") && c.ends_with("-default/web/tcp/"),
            "{c}"
        );
        assert_eq!(c.len(), "service-".len() + 8 + "-default/web/tcp/".len());
        let e = ep_chain("web", Protocol::Tcp, ep(2));
        assert!(e.ends_with("-default/web/tcp/__198.18.1.2/8080"), "{e}");
    }

    #[test]
    fn numgen_vmap_picks_one_of_n_endpoints_uniformly() {
        let mut st = NftState::default();
        let now = Instant::now();
        let tx = render(
            &[web(&[ep(2), ep(3), ep(4)])],
            true,
            &BTreeSet::new(),
            &[],
            &mut st,
            now,
        );
        assert!(
            tx.main
                .contains("numgen random mod 3 vmap { 0 : goto endpoint-")
        );
        assert!(tx.main.contains("meta l4proto tcp dnat to 198.18.1.3:8080"));
        assert!(tx.main.contains(
            "add element ip kube-proxy service-ips { 198.19.0.10 . tcp . 80 : goto service-"
        ));
    }

    /// syncProxyRules with ClientIP affinity: a timeout set per endpoint,
    /// the endpoint chain adds the source before its DNAT, the service
    /// chain checks every set before `numgen`; a removed endpoint's set is
    /// deleted in the same transaction that flushes its chain.
    #[test]
    fn affinity_sets_are_per_endpoint_and_checked_before_the_random_choice() {
        let mut st = NftState::default();
        let now = Instant::now();
        let mut svc = web(&[ep(2), ep(3)]);
        svc.affinity = Some(10800);
        let tx = render(&[svc.clone()], true, &BTreeSet::new(), &[], &mut st, now);
        let (set2, c2) = (
            affinity_set("web", Protocol::Tcp, ep(2)),
            ep_chain("web", Protocol::Tcp, ep(2)),
        );
        assert_eq!(
            set2,
            format!("affinity-{}", c2.trim_start_matches("endpoint-"))
        );
        assert!(tx.main.contains(&format!(
            "add set ip kube-proxy {set2} {{ type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }}"
        )));
        let check = tx
            .main
            .find(&format!("ip saddr @{set2} goto {c2}"))
            .expect("the service chain checks the set");
        let numgen = tx.main.find("numgen random").expect("numgen");
        assert!(check < numgen, "{}", tx.main);
        let update = tx
            .main
            .find(&format!(
                "add rule ip kube-proxy {c2} update @{set2} {{ ip saddr }}"
            ))
            .expect("the endpoint chain adds the client");
        let dnat = tx.main.find("dnat to 198.18.1.2:8080").expect("dnat");
        assert!(update < dnat);
        // ep(3) leaves: its chain flushed, then its set deleted.
        svc.endpoints = vec![ep(2)];
        let changed: BTreeSet<Frontend> = [svc.frontend].into();
        let tx = render(&[svc], false, &changed, &[], &mut st, now);
        let set3 = affinity_set("web", Protocol::Tcp, ep(3));
        let flush = tx
            .main
            .find(&format!(
                "flush chain ip kube-proxy {}",
                ep_chain("web", Protocol::Tcp, ep(3))
            ))
            .expect("flush");
        let delete = tx
            .main
            .find(&format!("delete set ip kube-proxy {set3}"))
            .expect("delete set");
        assert!(flush < delete);
        assert!(
            !tx.main
                .contains(&format!("delete set ip kube-proxy {set2}"))
        );
    }

    /// No local endpoint under internalTrafficPolicy Local: the service's
    /// `no-endpoint-services` element drops instead of going to the
    /// reject chain.
    #[test]
    fn no_local_endpoints_drop_in_the_no_endpoint_map() {
        let mut st = NftState::default();
        let mut svc = web(&[]);
        svc.none_local = true;
        let tx = render(&[svc], true, &BTreeSet::new(), &[], &mut st, Instant::now());
        assert!(
            tx.main.contains(
                "add element ip kube-proxy no-endpoint-services { 198.19.0.10 . tcp . 80 : drop }"
            ),
            "{}",
            tx.main
        );
    }

    #[test]
    fn a_removed_endpoint_is_flushed_now_and_deleted_a_second_later() {
        let mut st = NftState::default();
        let t0 = Instant::now();
        render(
            &[web(&[ep(2), ep(3)])],
            true,
            &BTreeSet::new(),
            &[],
            &mut st,
            t0,
        );
        let f = web(&[]).frontend;
        let changed: BTreeSet<Frontend> = [f].into();
        let tx = render(&[web(&[ep(2)])], false, &changed, &[], &mut st, t0);
        let gone = ep_chain("web", Protocol::Tcp, ep(3));
        assert!(
            tx.main
                .contains(&format!("flush chain ip kube-proxy {gone}"))
        );
        assert!(tx.pre.is_none());
        let later = t0 + std::time::Duration::from_millis(1500);
        let tx = render(
            &[web(&[ep(2)])],
            false,
            &BTreeSet::new(),
            &[],
            &mut st,
            later,
        );
        assert_eq!(
            tx.pre.as_deref(),
            Some(format!("delete chain ip kube-proxy {gone}\n").as_str())
        );
        assert!(
            !tx.main.contains("add element"),
            "unchanged elements are not rewritten"
        );
    }

    #[test]
    fn a_service_without_endpoints_goes_to_the_reject_chain() {
        let mut st = NftState::default();
        let tx = render(
            &[web(&[])],
            true,
            &BTreeSet::new(),
            &[],
            &mut st,
            Instant::now(),
        );
        assert!(
            tx.main
                .contains("no-endpoint-services { 198.19.0.10 . tcp . 80 : goto reject-chain }")
        );
    }

    #[test]
    fn nft_counter_lines_parse() {
        let list = "\t\tct status dnat meta l4proto tcp ct original ip daddr 198.19.0.10 counter packets 7 bytes 420 comment \"svclab packets 198.19.0.10:80 198.18.1.2:8080\"\n\
                    \t\tct state new ct status dnat counter packets 3 bytes 180 comment \"svclab new 198.19.0.10:80 198.18.1.2:8080\"\n";
        let m = parse_counters(list);
        let s = &m[&ep(2)];
        assert_eq!((s.syns, s.packets, s.bytes), (3, 7, 420));
    }
}
