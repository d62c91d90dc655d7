//! kube-proxy's nftables proxier as one `nft -f -` transaction per sync:
//! table `ip kube-proxy` with the base chains, the `services` dispatch
//! through the `service-ips` and `service-nodeports` verdict maps,
//! per-service chains (`service-*` for the cluster-wide endpoints,
//! `local-*` for the node's own) doing `numgen random mod N vmap`, the
//! NodePort's `external-*` chain (masquerade under externalTrafficPolicy
//! Cluster; short-circuit of pod and node traffic under Local),
//! per-endpoint chains doing `dnat to`, the `no-endpoint-services` and
//! `no-endpoint-nodeports` maps into `drop` or `reject-chain`, and the
//! masquerade chains (kubernetes/kubernetes pkg/proxy/nftables/proxier.go,
//! v1.33-era master: `setupNFTables`, `syncProxyRules`,
//! `writeServiceToEndpointRules`, `hashAndTruncate`; the NodePort parts
//! read in the stored copy at commit b0f823e6). Which chain holds which
//! list is decided in `model.rs` ([`super::model::layout`]). Left out: the
//! `no-endpoint-*` elements' `comment`s (they change nothing),
//! LoadBalancer (`firewall-*`) and externalIPs, and the `nodeport-ips` set
//! (`--nodeport-addresses` is "all"). Map and set elements are diffed
//! against the last sync as kube-proxy's `nftElementStorage` does; stale
//! chains are flushed now and deleted a sync later, at least 1 s on
//! ("kernels before 6.2 ... don't notice until a short amount of time
//! later that the chain is now unreferenced").
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

use super::{
    iptables::{CLUSTER_CIDR, ServiceRules, counter_comment},
    model::Policy,
};

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

/// servicePortChainNameBase: "ns/name/protocol/portName" (svclab's
/// service ports are unnamed), hashed and truncated.
fn chain_base(name: &str, proto: Protocol) -> String {
    hash_and_truncate(&format!("default/{name}/{}/", proto_lower(proto)))
}

/// `service-` + servicePortChainNameBase
/// (`servicePortPolicyClusterChainNamePrefix`).
pub fn svc_chain(name: &str, proto: Protocol) -> String {
    format!("service-{}", chain_base(name, proto))
}

/// `local-` + the same base (`servicePortPolicyLocalChainNamePrefix`):
/// the node's own endpoints.
pub fn local_chain(name: &str, proto: Protocol) -> String {
    format!("local-{}", chain_base(name, proto))
}

/// `external-` + the same base (`serviceExternalChainNamePrefix`): where
/// NodePort traffic enters.
pub fn ext_chain(name: &str, proto: Protocol) -> String {
    format!("external-{}", chain_base(name, proto))
}

/// The chain of `p`'s endpoint list.
pub fn policy_chain(name: &str, proto: Protocol, p: Policy) -> String {
    match p {
        Policy::Cluster => svc_chain(name, proto),
        Policy::Local => local_chain(name, proto),
    }
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
        let lay = s.layout();
        let chain = |pol: Policy| policy_chain(&s.name, s.frontend.proto, pol);
        let ext_c = ext_chain(&s.name, s.frontend.proto);
        // internalTrafficFilterVerdict / externalTrafficFilterVerdict: no
        // endpoints at all, reject; endpoints elsewhere only (a Local
        // policy), drop.
        let verdict = if lay.has_endpoints {
            "drop"
        } else {
            "goto reject-chain"
        };
        // "Capture the clusterIP."
        match lay.internal {
            Some(pol) => {
                want.insert(("service-ips".into(), key), format!("goto {}", chain(pol)));
            }
            None => {
                want.insert(("no-endpoint-services".into(), key), verdict.into());
            }
        }
        // "Capture nodeports."
        if let Some(ext) = &lay.external {
            let np = format!("{p} . {}", ext.port);
            if lay.has_endpoints {
                want.insert(
                    ("service-nodeports".into(), np.clone()),
                    format!("goto {ext_c}"),
                );
            }
            if ext.policy.is_none() {
                want.insert(("no-endpoint-nodeports".into(), np), verdict.into());
            }
        }
        let reachable = lay.reachable();
        for ep in &reachable {
            active.insert(ep_chain(&s.name, s.frontend.proto, *ep));
            if s.affinity.is_some() {
                sets.insert(affinity_set(&s.name, s.frontend.proto, *ep));
            }
        }
        let policies: Vec<Policy> = [Policy::Cluster, Policy::Local]
            .into_iter()
            .filter(|pol| !lay.list(*pol).is_empty())
            .collect();
        active.extend(policies.iter().map(|pol| chain(*pol)));
        if lay.uses_external() {
            active.insert(ext_c.clone());
        }
        if !(full || changed.contains(&s.frontend)) {
            continue;
        }
        // The per-endpoint affinity sets: client addresses with a timeout,
        // added to by the endpoint chain (syncProxyRules: Type ipv4_addr,
        // Flags dynamic + timeout, Timeout StickyMaxAgeSeconds).
        if let Some(secs) = s.affinity {
            for ep in &reachable {
                let _ = writeln!(
                    tx,
                    "add set {t} {} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {secs}s ; }}",
                    affinity_set(&s.name, s.frontend.proto, *ep)
                );
            }
        }
        // "Note the endpoint chains that will be used", then the policy
        // and external chains: created (and flushed) before any vmap or
        // rule names them.
        let mut chains: Vec<String> = reachable
            .iter()
            .map(|ep| ep_chain(&s.name, s.frontend.proto, *ep))
            .collect();
        chains.extend(policies.iter().map(|pol| chain(*pol)));
        if lay.uses_external() {
            chains.push(ext_c.clone());
        }
        for c in &chains {
            let _ = writeln!(tx, "add chain {t} {c}\nflush chain {t} {c}");
        }
        // "Set up internal traffic handling": masquerade off-cluster sources.
        if let Some(pol) = lay.internal {
            let _ = writeln!(
                tx,
                "add rule {t} {} ip daddr {vip} {p} dport {port} ip saddr != {CLUSTER_CIDR} jump mark-for-masquerade",
                chain(pol)
            );
        }
        // "Set up external traffic handling": Cluster policy masquerades
        // (the endpoint may be on another node); Local keeps the client's
        // address, but pod traffic (localDetector.IfLocalNFT) and traffic
        // from the node itself go to the cluster-wide chain, the node's own
        // masqueraded; the rest goes to the policy chain if it has
        // endpoints.
        if let (Some(ext), true) = (&lay.external, lay.uses_external()) {
            if ext.local {
                if let Some(sc) = ext.shortcut {
                    let _ = writeln!(
                        tx,
                        "add rule {t} {ext_c} ip saddr {CLUSTER_CIDR} goto {} comment \"short-circuit pod traffic\"",
                        chain(sc)
                    );
                }
                let _ = writeln!(
                    tx,
                    "add rule {t} {ext_c} fib saddr type local jump mark-for-masquerade comment \"masquerade local traffic\""
                );
                if let Some(sc) = ext.shortcut {
                    let _ = writeln!(
                        tx,
                        "add rule {t} {ext_c} fib saddr type local goto {} comment \"short-circuit local traffic\"",
                        chain(sc)
                    );
                }
            } else {
                let _ = writeln!(tx, "add rule {t} {ext_c} jump mark-for-masquerade");
            }
            if let Some(pol) = ext.policy {
                let _ = writeln!(tx, "add rule {t} {ext_c} goto {}", chain(pol));
            }
        }
        for pol in &policies {
            write_service_to_endpoint_rules(&mut tx, s, &chain(*pol), lay.list(*pol));
        }
        for ep in &reachable {
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

/// proxier.go `writeServiceToEndpointRules` into `chain`: a client in an
/// endpoint's affinity set goes there, before the random choice.
fn write_service_to_endpoint_rules(
    tx: &mut String,
    s: &ServiceRules,
    chain: &str,
    endpoints: &[SocketAddrV4],
) {
    let t = TABLE;
    if s.affinity.is_some() {
        for ep in endpoints {
            let _ = writeln!(
                tx,
                "add rule {t} {chain} ip saddr @{} goto {}",
                affinity_set(&s.name, s.frontend.proto, *ep),
                ep_chain(&s.name, s.frontend.proto, *ep)
            );
        }
    }
    let vmap: Vec<String> = endpoints
        .iter()
        .enumerate()
        .map(|(i, ep)| format!("{i} : goto {}", ep_chain(&s.name, s.frontend.proto, *ep)))
        .collect();
    let _ = writeln!(
        tx,
        "add rule {t} {chain} numgen random mod {} vmap {{ {} }}",
        endpoints.len(),
        vmap.join(", ")
    );
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

    use super::super::iptables::fixtures::{ep, node_port, web};

    /// The rules `tx` adds to `chain`, without the `add rule <table>
    /// <chain> ` head, in order.
    fn rules_of<'a>(tx: &'a str, chain: &str) -> Vec<&'a str> {
        let head = format!("add rule {TABLE} {chain} ");
        tx.lines().filter_map(|l| l.strip_prefix(&head)).collect()
    }

    fn chains() -> (String, String, String) {
        (
            svc_chain("web", Protocol::Tcp),
            local_chain("web", Protocol::Tcp),
            ext_chain("web", Protocol::Tcp),
        )
    }

    fn ep_c(h: u8) -> String {
        ep_chain("web", Protocol::Tcp, ep(h))
    }

    fn full(svcs: &[ServiceRules], st: &mut NftState) -> String {
        render(svcs, true, &BTreeSet::new(), &[], st, Instant::now()).main
    }

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

    /// `servicePortPolicyLocalChainNamePrefix` "local-" and
    /// `serviceExternalChainNamePrefix` "external-" on the service chain's
    /// base.
    #[test]
    fn local_and_external_chains_share_the_service_chains_base() {
        let (svc, local, ext) = chains();
        let base = svc.strip_prefix("service-").unwrap();
        assert_eq!(local, format!("local-{base}"));
        assert_eq!(ext, format!("external-{base}"));
        assert!(base.ends_with("-default/web/tcp/"));
    }

    /// externalTrafficPolicy Cluster: a `service-nodeports` element
    /// `tcp . 30080 : goto external-...`, whose chain marks for
    /// masquerade and goes to the service chain.
    #[test]
    fn node_port_cluster_policy_goes_through_the_external_chain_to_the_service_chain() {
        let (svc_c, _, ext_c) = chains();
        let mut svc = web(&[ep(2), ep(3)]);
        svc.node_port = Some(node_port(&[ep(2), ep(3)], false));
        let tx = full(&[svc], &mut NftState::default());
        assert!(
            tx.contains(&format!(
                "add element ip kube-proxy service-nodeports {{ tcp . 30080 : goto {ext_c} }}"
            )),
            "{tx}"
        );
        assert!(tx.contains(&format!(
            "add chain ip kube-proxy {ext_c}\nflush chain ip kube-proxy {ext_c}\n"
        )));
        assert_eq!(
            rules_of(&tx, &ext_c),
            [
                "jump mark-for-masquerade".to_owned(),
                format!("goto {svc_c}")
            ]
        );
        assert!(!tx.contains("local-"));
        assert!(!tx.contains("add element ip kube-proxy no-endpoint-nodeports"));
        assert!(tx.contains(&format!(
            "service-ips {{ 198.19.0.10 . tcp . 80 : goto {svc_c} }}"
        )));
    }

    /// externalTrafficPolicy Local: the external chain short-circuits pod
    /// traffic and the node's own (masqueraded) to the service chain, the
    /// rest to the `local-` chain with the node's endpoints.
    #[test]
    fn node_port_local_policy_short_circuits_then_goes_to_the_local_chain() {
        let (svc_c, local_c, ext_c) = chains();
        let mut svc = web(&[ep(2), ep(3)]);
        svc.node_port = Some(node_port(&[ep(3)], true));
        let tx = full(&[svc], &mut NftState::default());
        assert_eq!(
            rules_of(&tx, &ext_c),
            [
                format!("ip saddr 198.18.0.0/16 goto {svc_c} comment \"short-circuit pod traffic\""),
                "fib saddr type local jump mark-for-masquerade comment \"masquerade local traffic\"".to_owned(),
                format!("fib saddr type local goto {svc_c} comment \"short-circuit local traffic\""),
                format!("goto {local_c}"),
            ],
            "{tx}"
        );
        assert_eq!(
            rules_of(&tx, &local_c),
            [format!(
                "numgen random mod 1 vmap {{ 0 : goto {} }}",
                ep_c(3)
            )]
        );
        assert!(rules_of(&tx, &svc_c)[1].starts_with("numgen random mod 2 "));
        // Every chain is created before a rule or element names it, once.
        for c in [&ep_c(2), &ep_c(3), &svc_c, &local_c, &ext_c] {
            let add = format!("add chain ip kube-proxy {c}\n");
            assert_eq!(tx.matches(&add).count(), 1, "{c}");
            let first_use = tx.find(&format!("goto {c}")).unwrap();
            assert!(tx.find(&add).unwrap() < first_use, "{c}");
        }
    }

    /// externalTrafficPolicy Local with no endpoint here: the
    /// `no-endpoint-nodeports` element drops (reached from
    /// `nodeport-endpoints-check`), the NodePort still goes to the
    /// external chain for the short-circuit; no endpoints at all: reject,
    /// and no `service-nodeports` element.
    #[test]
    fn no_local_endpoints_drop_the_node_port_no_endpoints_reject_it() {
        let (_, local_c, ext_c) = chains();
        let mut svc = web(&[ep(3)]);
        svc.node_port = Some(node_port(&[], true));
        svc.node_port.as_mut().unwrap().none_local = true;
        let tx = full(&[svc], &mut NftState::default());
        assert!(
            tx.contains("add element ip kube-proxy no-endpoint-nodeports { tcp . 30080 : drop }"),
            "{tx}"
        );
        assert!(tx.contains(&format!(
            "service-nodeports {{ tcp . 30080 : goto {ext_c} }}"
        )));
        assert_eq!(rules_of(&tx, &ext_c).len(), 3);
        assert!(!tx.contains(&local_c));
        for local in [true, false] {
            let mut none = web(&[]);
            none.node_port = Some(node_port(&[], local));
            let tx = full(&[none], &mut NftState::default());
            assert!(tx.contains(
                "add element ip kube-proxy no-endpoint-nodeports { tcp . 30080 : goto reject-chain }"
            ));
            assert!(!tx.contains("add element ip kube-proxy service-nodeports"));
            assert!(!tx.contains("external-"));
        }
    }

    /// internalTrafficPolicy Local with a NodePort: ClusterIP traffic goes
    /// to the `local-` chain, which carries the masquerade rule.
    #[test]
    fn internal_local_with_a_node_port_sends_cluster_ip_traffic_to_the_local_chain() {
        let (svc_c, local_c, ext_c) = chains();
        let mut svc = web(&[ep(2)]);
        let mut np = node_port(&[ep(2), ep(3)], false);
        np.internal_local = true;
        svc.node_port = Some(np);
        let tx = full(&[svc], &mut NftState::default());
        assert!(tx.contains(&format!(
            "service-ips {{ 198.19.0.10 . tcp . 80 : goto {local_c} }}"
        )));
        assert_eq!(
            rules_of(&tx, &local_c)[0],
            "ip daddr 198.19.0.10 tcp dport 80 ip saddr != 198.18.0.0/16 jump mark-for-masquerade"
        );
        assert!(rules_of(&tx, &svc_c)[0].starts_with("numgen random mod 2 "));
        assert_eq!(rules_of(&tx, &ext_c)[1], format!("goto {svc_c}"));
    }

    /// A service without a NodePort: the same transaction as before
    /// NodePorts were written.
    #[test]
    fn a_service_without_a_node_port_renders_as_before() {
        let svc = web(&[ep(2), ep(3)]);
        let changed: BTreeSet<Frontend> = [svc.frontend].into();
        let tx = render(
            &[svc],
            false,
            &changed,
            &[],
            &mut NftState::default(),
            Instant::now(),
        );
        let want = "\
add chain ip kube-proxy endpoint-SSDGZBBQ-default/web/tcp/__198.18.1.2/8080
flush chain ip kube-proxy endpoint-SSDGZBBQ-default/web/tcp/__198.18.1.2/8080
add chain ip kube-proxy endpoint-TCX7QKHM-default/web/tcp/__198.18.1.3/8080
flush chain ip kube-proxy endpoint-TCX7QKHM-default/web/tcp/__198.18.1.3/8080
add chain ip kube-proxy service-PFISGYVC-default/web/tcp/
flush chain ip kube-proxy service-PFISGYVC-default/web/tcp/
add rule ip kube-proxy service-PFISGYVC-default/web/tcp/ ip daddr 198.19.0.10 tcp dport 80 ip saddr != 198.18.0.0/16 jump mark-for-masquerade
add rule ip kube-proxy service-PFISGYVC-default/web/tcp/ numgen random mod 2 vmap { 0 : goto endpoint-SSDGZBBQ-default/web/tcp/__198.18.1.2/8080, 1 : goto endpoint-TCX7QKHM-default/web/tcp/__198.18.1.3/8080 }
add rule ip kube-proxy endpoint-SSDGZBBQ-default/web/tcp/__198.18.1.2/8080 ip saddr 198.18.1.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-SSDGZBBQ-default/web/tcp/__198.18.1.2/8080 meta l4proto tcp dnat to 198.18.1.2:8080
add rule ip kube-proxy endpoint-TCX7QKHM-default/web/tcp/__198.18.1.3/8080 ip saddr 198.18.1.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-TCX7QKHM-default/web/tcp/__198.18.1.3/8080 meta l4proto tcp dnat to 198.18.1.3:8080
add element ip kube-proxy cluster-ips { 198.19.0.10 }
add element ip kube-proxy service-ips { 198.19.0.10 . tcp . 80 : goto service-PFISGYVC-default/web/tcp/ }
";
        assert_eq!(tx.main, want);
        assert!(tx.pre.is_none());
    }

    /// Partial syncs: the external list (Local policy) losing the node's
    /// endpoint rewrites the service's chains, flushes its `local-` chain
    /// (deleted a second later) and swaps the NodePort's elements by diff:
    /// `service-nodeports` is untouched, `no-endpoint-nodeports` gains the
    /// drop. Another service is left alone. The endpoint coming back
    /// brings the chain and removes the drop.
    #[test]
    fn partial_sync_after_a_node_port_list_change_rewrites_its_chains() {
        let (svc_c, local_c, ext_c) = chains();
        let mut st = NftState::default();
        let t0 = Instant::now();
        let mut svc = web(&[ep(2), ep(3)]);
        svc.node_port = Some(node_port(&[ep(2)], true));
        let mut api = web(&[ep(5)]);
        api.name = "api".into();
        api.frontend = Frontend::tcp(std::net::Ipv4Addr::new(198, 19, 0, 11), 443);
        render(
            &[svc.clone(), api.clone()],
            true,
            &BTreeSet::new(),
            &[],
            &mut st,
            t0,
        );
        let changed: BTreeSet<Frontend> = [svc.frontend].into();
        let np = svc.node_port.as_mut().unwrap();
        np.endpoints.clear();
        np.none_local = true;
        let tx = render(
            &[svc.clone(), api.clone()],
            false,
            &changed,
            &[],
            &mut st,
            t0,
        )
        .main;
        assert!(
            tx.contains(&format!("flush chain ip kube-proxy {local_c}\n")),
            "{tx}"
        );
        assert!(!tx.contains(&format!("add chain ip kube-proxy {local_c}")));
        assert!(tx.contains(&format!(
            "add chain ip kube-proxy {ext_c}\nflush chain ip kube-proxy {ext_c}\n"
        )));
        assert!(!rules_of(&tx, &ext_c).iter().any(|r| r.contains(&local_c)));
        assert!(tx.contains(&format!("add chain ip kube-proxy {svc_c}\n")));
        assert!(!tx.contains("api/"), "api is unchanged: {tx}");
        assert!(
            tx.contains("add element ip kube-proxy no-endpoint-nodeports { tcp . 30080 : drop }")
        );
        assert!(!tx.contains("service-nodeports"), "unchanged element");
        // A second on, the stale chain is deleted before the sync.
        let later = t0 + std::time::Duration::from_millis(1500);
        let tx = render(
            &[svc.clone(), api.clone()],
            false,
            &BTreeSet::new(),
            &[],
            &mut st,
            later,
        );
        assert_eq!(
            tx.pre.as_deref(),
            Some(format!("delete chain ip kube-proxy {local_c}\n").as_str())
        );
        // The node has an endpoint again.
        let np = svc.node_port.as_mut().unwrap();
        np.endpoints = vec![ep(3)];
        np.none_local = false;
        let tx = render(&[svc, api], false, &changed, &[], &mut st, later).main;
        assert_eq!(
            rules_of(&tx, &local_c),
            [format!(
                "numgen random mod 1 vmap {{ 0 : goto {} }}",
                ep_c(3)
            )]
        );
        assert_eq!(
            rules_of(&tx, &ext_c).last().unwrap(),
            &format!("goto {local_c}")
        );
        assert!(tx.contains("delete element ip kube-proxy no-endpoint-nodeports { tcp . 30080 }"));
    }

    /// svclab's counter rules for NodePort connections match the node's
    /// address and NodePort as the conntrack original destination.
    #[test]
    fn node_port_counter_rules_match_the_node_address() {
        let mut svc = web(&[ep(2)]);
        svc.node_port = Some(node_port(&[ep(2)], false));
        let keys = svc.counter_keys();
        let tx = render(
            &[svc],
            true,
            &BTreeSet::new(),
            &keys,
            &mut NftState::default(),
            Instant::now(),
        );
        assert!(tx.main.contains(
            "add rule ip svclab backends ct state new ct status dnat meta l4proto tcp ct original ip daddr 198.19.255.1 ct original proto-dst 30080 ip daddr 198.18.1.2 tcp dport 8080 counter comment \"svclab new 198.19.255.1:30080 198.18.1.2:8080\""
        ), "{}", tx.main);
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
