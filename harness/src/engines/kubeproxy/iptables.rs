//! kube-proxy's iptables proxier as `iptables-restore` input: the chains
//! and rules kube-proxy v1.30 writes for ClusterIP and NodePort services
//! (kubernetes/kubernetes pkg/proxy/iptables/proxier.go, `syncProxyRules`
//! and `writeServiceToEndpointRules`; the NodePort and traffic-policy parts
//! read in a v1.28 copy, kevinhehc/k8s-1.28@804fd5ef, and a later one,
//! danwinship/kubernetes@07c76c3a, which agree), as one batch per sync,
//! plus svclab's per-endpoint counter chain (`SVCLAB-BACKENDS`, never
//! flushed, so its counters survive the syncs that rewrite `KUBE-SEP-*`).
//!
//! Session affinity (`recent` rules), internalTrafficPolicy Local ("has no
//! local endpoints" DROP) and NodePorts with either externalTrafficPolicy
//! (`KUBE-NODEPORTS` → `KUBE-EXT-*` → `KUBE-SVC-*`/`KUBE-SVL-*`, the
//! `KUBE-EXTERNAL-SERVICES` DROP/REJECT) are written as kube-proxy writes
//! them; which chain holds which list is decided in `model.rs`
//! ([`super::model::layout`]: without a NodePort the engine is not told
//! the internal policy, and the internal list stays in `KUBE-SVC-*`).
//!
//! What kube-proxy writes and svclab leaves out: LoadBalancer (`KUBE-FW-*`,
//! `KUBE-PROXY-FIREWALL` rules), externalIPs, health check NodePorts
//! (svclab has no LoadBalancer services), `--nodeport-addresses` other than
//! "all" (the `KUBE-NODEPORTS` tail rule matches every local address), and
//! the `KUBE-FIREWALL` localhost rule with the `nfacct` localhost NodePort
//! rule (`localhostNodePorts` off, so no `route_localnet` sysctl is set in
//! the node netns).
use std::{collections::BTreeSet, fmt::Write as _, net::SocketAddrV4};

use data_encoding::BASE32;
use sha2::{Digest as _, Sha256};
use svclab_datapath::{Frontend, Protocol};

use super::model::{Layout, NodePortRules, Policy, layout};

/// The pod CIDR kube-proxy's `--cluster-cidr` names: traffic from outside
/// it to a ClusterIP is masqueraded (`localDetector.IfNotLocal()`).
pub const CLUSTER_CIDR: &str = "198.18.0.0/16";

/// kube-proxy's default `--iptables-masquerade-bit` 14, written as
/// `fmt.Sprintf("%#08x", 1<<14)` (proxier.go `NewProxier`).
pub const MASQ_MARK: &str = "0x004000";

/// svclab's counter chain in the filter table.
pub const COUNTER_CHAIN: &str = "SVCLAB-BACKENDS";

/// A service as one sync sees it: its name, frontend, the endpoints its
/// internal (pod → ClusterIP) traffic uses (see `cluster_endpoints`), and
/// its NodePort.
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
    /// `type: NodePort` and the endpoints its external traffic uses.
    pub node_port: Option<NodePortRules>,
}

impl ServiceRules {
    /// Which chains the service has and where its traffic goes.
    pub fn layout(&self) -> Layout {
        layout(&self.endpoints, self.none_local, self.node_port.as_ref())
    }

    /// svclab's counter keys for the service: (original destination,
    /// endpoint) of every connection it can DNAT, ClusterIP ones for its
    /// internal list and, with a NodePort, `node_addr:port` ones for every
    /// endpoint external traffic (or its short-circuit) reaches.
    pub fn counter_keys(&self) -> Vec<(Frontend, SocketAddrV4)> {
        let mut v: Vec<(Frontend, SocketAddrV4)> =
            self.endpoints.iter().map(|e| (self.frontend, *e)).collect();
        if let Some(np) = &self.node_port {
            let f = np.frontend(self.frontend.proto);
            v.extend(self.layout().reachable().into_iter().map(|e| (f, e)));
        }
        v
    }
}

/// One sync's input beyond the services.
#[derive(Clone, Debug, Default)]
pub struct SyncPlan {
    /// Full sync (kube-proxy's `needFullSync`: the first one): also writes
    /// the jump rules from the built-in chains, and every service's chains.
    pub full: bool,
    /// Partial sync: only these services' `KUBE-SVC`/`KUBE-SVL`/`KUBE-EXT`/
    /// `KUBE-SEP` chains are rewritten (proxier.go: "If the
    /// SVC/SVL/EXT/FW/SEP chains have not changed since the last sync then
    /// we can omit them").
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

/// proxier.go `portProtoHash(servicePortName, protocol)`.
fn port_proto_hash(name: &str, proto: Protocol) -> String {
    hash16(&format!("{}{}", svc_port_name(name), proto_lower(proto)))
}

/// `KUBE-SVC-` + portProtoHash(servicePortName, protocol)
/// (proxier.go `servicePortPolicyClusterChain`).
pub fn svc_chain(name: &str, proto: Protocol) -> String {
    format!("KUBE-SVC-{}", port_proto_hash(name, proto))
}

/// `KUBE-SVL-` + the same hash (proxier.go
/// `servicePortPolicyLocalChainName`): the node's own endpoints.
pub fn svl_chain(name: &str, proto: Protocol) -> String {
    format!("KUBE-SVL-{}", port_proto_hash(name, proto))
}

/// `KUBE-EXT-` + the same hash (proxier.go `serviceExternalChainName`):
/// where NodePort traffic enters.
pub fn ext_chain(name: &str, proto: Protocol) -> String {
    format!("KUBE-EXT-{}", port_proto_hash(name, proto))
}

/// The chain of `p`'s endpoint list.
pub fn policy_chain(name: &str, proto: Protocol, p: Policy) -> String {
    match p {
        Policy::Cluster => svc_chain(name, proto),
        Policy::Local => svl_chain(name, proto),
    }
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

/// Every chain a sync of `services` keeps (kube-proxy's `activeNATChains`):
/// `KUBE-EXT` (`usesExternalTrafficChain`), `KUBE-SVC` and `KUBE-SVL` when
/// their lists are not empty, and the `KUBE-SEP` of every reachable
/// endpoint.
pub fn active_chains(services: &[ServiceRules]) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for svc in services {
        let (name, proto) = (&svc.name, svc.frontend.proto);
        let lay = svc.layout();
        if lay.uses_external() {
            s.insert(ext_chain(name, proto));
        }
        for p in [Policy::Cluster, Policy::Local] {
            if !lay.list(p).is_empty() {
                s.insert(policy_chain(name, proto, p));
            }
        }
        for ep in lay.reachable() {
            s.insert(sep_chain(name, proto, ep));
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
        let lay = svc.layout();
        let chain = |p: Policy| policy_chain(&svc.name, svc.frontend.proto, p);
        let ext_c = ext_chain(&svc.name, svc.frontend.proto);
        // internalTrafficFilterTarget / externalTrafficFilterTarget: no
        // endpoints at all, REJECT; endpoints elsewhere only (a Local
        // policy), DROP.
        let (what, target) = if lay.has_endpoints {
            ("has no local endpoints", "DROP")
        } else {
            ("has no endpoints", "REJECT")
        };
        // "Capture the clusterIP."
        match lay.internal {
            Some(p) => line(
                &mut nat_rules,
                &format!(
                    "-A KUBE-SERVICES -m comment --comment \"{name} cluster IP\" -m {proto} -p {proto} -d {vip} --dport {port} -j {}",
                    chain(p)
                ),
            ),
            None => line(
                &mut filter_rules,
                &format!(
                    "-A KUBE-SERVICES -m comment --comment \"{name} {what}\" -m {proto} -p {proto} -d {vip} --dport {port} -j {target}"
                ),
            ),
        }
        // "Capture nodeports": to the external chain while the service has
        // endpoints anywhere; what it cannot take (no endpoints for
        // external traffic) is dropped or rejected in the filter table.
        if let Some(ext) = &lay.external {
            let np = ext.port;
            if lay.has_endpoints {
                line(
                    &mut nat_rules,
                    &format!(
                        "-A KUBE-NODEPORTS -m comment --comment {name} -m {proto} -p {proto} --dport {np} -j {ext_c}"
                    ),
                );
            }
            if ext.policy.is_none() {
                line(
                    &mut filter_rules,
                    &format!(
                        "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"{name} {what}\" -m addrtype --dst-type LOCAL -m {proto} -p {proto} --dport {np} -j {target}"
                    ),
                );
            }
        }
        if !(plan.full || plan.changed.contains(&svc.frontend)) {
            continue;
        }
        // "Set up internal traffic handling": masquerade off-cluster sources.
        if let Some(p) = lay.internal {
            line(
                &mut nat_rules,
                &format!(
                    "-A {} -m comment --comment \"{name} cluster IP\" -m {proto} -p {proto} -d {vip} --dport {port} ! -s {CLUSTER_CIDR} -j KUBE-MARK-MASQ",
                    chain(p)
                ),
            );
        }
        // "Set up external traffic handling": Cluster policy masquerades
        // (the endpoint may be on another node); Local keeps the client's
        // address, but pod traffic (localDetector.IfLocal) and traffic
        // from the node itself are short-circuited to the cluster-wide
        // chain, the node's own masqueraded; the rest goes to the policy
        // chain if it has endpoints.
        if let (Some(ext), true) = (&lay.external, lay.has_endpoints) {
            line(&mut nat_chains, &format!(":{ext_c} - [0:0]"));
            if ext.local {
                if let Some(sc) = ext.shortcut {
                    line(
                        &mut nat_rules,
                        &format!(
                            "-A {ext_c} -m comment --comment \"pod traffic for {name} external destinations\" -s {CLUSTER_CIDR} -j {}",
                            chain(sc)
                        ),
                    );
                }
                line(
                    &mut nat_rules,
                    &format!(
                        "-A {ext_c} -m comment --comment \"masquerade LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"
                    ),
                );
                if let Some(sc) = ext.shortcut {
                    line(
                        &mut nat_rules,
                        &format!(
                            "-A {ext_c} -m comment --comment \"route LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {}",
                            chain(sc)
                        ),
                    );
                }
            } else {
                line(
                    &mut nat_rules,
                    &format!(
                        "-A {ext_c} -m comment --comment \"masquerade traffic for {name} external destinations\" -j KUBE-MARK-MASQ"
                    ),
                );
            }
            if let Some(p) = ext.policy {
                line(&mut nat_rules, &format!("-A {ext_c} -j {}", chain(p)));
            }
        }
        // "If Cluster policy is in use, create the chain and create rules
        // jumping from clusterPolicyChain to the clusterEndpoints"; the same
        // for Local.
        for p in [Policy::Cluster, Policy::Local] {
            let eps = lay.list(p);
            if !eps.is_empty() {
                line(&mut nat_chains, &format!(":{} - [0:0]", chain(p)));
                write_service_to_endpoint_rules(&mut nat_rules, svc, &chain(p), eps);
            }
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
        for ep in lay.reachable() {
            let sep = sep_chain(&svc.name, svc.frontend.proto, ep);
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

/// proxier.go `writeServiceToEndpointRules` into `chain`: with ClientIP
/// affinity, first a `recent` check per endpoint (a client seen by that
/// endpoint's chain within the timeout goes there again; --reap drops the
/// oldest expired entry), then endpoint i with probability 1/(n-i), the
/// last one always. Only the dispatched endpoints get a check: a
/// terminating one is not pinned to while any is ready.
fn write_service_to_endpoint_rules(
    nat_rules: &mut String,
    svc: &ServiceRules,
    chain: &str,
    endpoints: &[SocketAddrV4],
) {
    let name = svc_port_name(&svc.name);
    if let Some(secs) = svc.affinity {
        for ep in endpoints {
            let sep = sep_chain(&svc.name, svc.frontend.proto, *ep);
            let _ = writeln!(
                nat_rules,
                "-A {chain} -m comment --comment \"{name} -> {ep}\" -m recent --name {sep} --rcheck --seconds {secs} --reap -j {sep}"
            );
        }
    }
    let n = endpoints.len();
    for (i, ep) in endpoints.iter().enumerate() {
        let sep = sep_chain(&svc.name, svc.frontend.proto, *ep);
        let stat = if i < n - 1 {
            format!(
                " -m statistic --mode random --probability {}",
                probability(n - i)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            nat_rules,
            "-A {chain} -m comment --comment \"{name} -> {ep}\"{stat} -j {sep}"
        );
    }
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

    use super::{NodePortRules, ServiceRules};

    /// Endpoint `198.18.1.<h>:8080`.
    pub fn ep(h: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, h), 8080)
    }

    /// NodePort 30080 on node 0 (198.19.255.1) whose external traffic uses
    /// `eps`, with externalTrafficPolicy Local or Cluster.
    pub fn node_port(eps: &[SocketAddrV4], external_local: bool) -> NodePortRules {
        NodePortRules {
            port: 30080,
            node_addr: Ipv4Addr::new(198, 19, 255, 1),
            external_local,
            internal_local: false,
            endpoints: eps.to_vec(),
            none_local: false,
            cluster: Vec::new(),
        }
    }

    /// Service `web` at 198.19.0.10:80 with `eps`.
    pub fn web(eps: &[SocketAddrV4]) -> ServiceRules {
        ServiceRules {
            name: "web".into(),
            frontend: Frontend::tcp(Ipv4Addr::new(198, 19, 0, 10), 80),
            endpoints: eps.to_vec(),
            affinity: None,
            none_local: false,
            node_port: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::fixtures::{ep, node_port, web};

    const SVC: &str = "KUBE-SVC-LOLE4ISW44XBNF3G";
    const SVL: &str = "KUBE-SVL-LOLE4ISW44XBNF3G";
    const EXT: &str = "KUBE-EXT-LOLE4ISW44XBNF3G";

    fn full() -> SyncPlan {
        SyncPlan {
            full: true,
            ..SyncPlan::default()
        }
    }

    /// The rules `out` appends to `chain`, in order.
    fn rules_of<'a>(out: &'a str, chain: &str) -> Vec<&'a str> {
        let head = format!("-A {chain} ");
        out.lines().filter(|l| l.starts_with(&head)).collect()
    }

    /// How often `out` declares (so creates or flushes) `chain`.
    fn declared(out: &str, chain: &str) -> usize {
        let decl = format!(":{chain} - [0:0]");
        out.lines().filter(|l| *l == decl).count()
    }

    fn sep(h: u8) -> String {
        sep_chain("web", Protocol::Tcp, ep(h))
    }

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

    /// The three chains of a service port share portProtoHash
    /// (proxier.go `servicePortPolicyClusterChain`,
    /// `servicePortPolicyLocalChainName`, `serviceExternalChainName`).
    #[test]
    fn svl_and_ext_chains_share_the_svc_chains_hash() {
        assert_eq!(svc_chain("web", Protocol::Tcp), SVC);
        assert_eq!(svl_chain("web", Protocol::Tcp), SVL);
        assert_eq!(ext_chain("web", Protocol::Tcp), EXT);
    }

    /// externalTrafficPolicy Cluster: KUBE-NODEPORTS → KUBE-EXT, which
    /// marks for masquerade and goes to KUBE-SVC; no KUBE-SVL, no filter
    /// rule.
    #[test]
    fn node_port_cluster_policy_masquerades_then_goes_to_kube_svc() {
        let mut svc = web(&[ep(2), ep(3)]);
        svc.node_port = Some(node_port(&[ep(2), ep(3)], false));
        let out = render(&[svc.clone()], &full());
        assert_eq!(
            rules_of(&out, "KUBE-NODEPORTS"),
            [format!(
                "-A KUBE-NODEPORTS -m comment --comment default/web -m tcp -p tcp --dport 30080 -j {EXT}"
            )],
            "{out}"
        );
        assert_eq!(declared(&out, EXT), 1);
        assert_eq!(
            rules_of(&out, EXT),
            [
                format!(
                    "-A {EXT} -m comment --comment \"masquerade traffic for default/web external destinations\" -j KUBE-MARK-MASQ"
                ),
                format!("-A {EXT} -j {SVC}"),
            ]
        );
        assert!(out.contains(&format!(
            "-A KUBE-SERVICES -m comment --comment \"default/web cluster IP\" -m tcp -p tcp -d 198.19.0.10 --dport 80 -j {SVC}"
        )));
        assert_eq!(rules_of(&out, SVC).len(), 3, "masquerade + 2 endpoints");
        assert!(!out.contains("KUBE-SVL-"));
        assert!(rules_of(&out, "KUBE-EXTERNAL-SERVICES").is_empty());
        let active: BTreeSet<String> = [EXT.into(), SVC.into(), sep(2), sep(3)].into();
        assert_eq!(active_chains(&[svc]), active);
    }

    /// externalTrafficPolicy Local: KUBE-EXT short-circuits pod traffic
    /// (`-s <cluster CIDR>`) and the node's own (masqueraded) to KUBE-SVC,
    /// the cluster-wide list; the rest goes to KUBE-SVL, the node's own
    /// endpoints, dispatched like KUBE-SVC (writeServiceToEndpointRules,
    /// affinity included). Every reachable endpoint's KUBE-SEP is written
    /// once.
    #[test]
    fn node_port_local_policy_short_circuits_pods_and_the_node_then_goes_to_kube_svl() {
        let mut svc = web(&[ep(2), ep(3), ep(4)]);
        svc.node_port = Some(node_port(&[ep(3)], true));
        let out = render(&[svc.clone()], &full());
        assert_eq!(
            rules_of(&out, EXT),
            [
                format!(
                    "-A {EXT} -m comment --comment \"pod traffic for default/web external destinations\" -s 198.18.0.0/16 -j {SVC}"
                ),
                format!(
                    "-A {EXT} -m comment --comment \"masquerade LOCAL traffic for default/web external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"
                ),
                format!(
                    "-A {EXT} -m comment --comment \"route LOCAL traffic for default/web external destinations\" -m addrtype --src-type LOCAL -j {SVC}"
                ),
                format!("-A {EXT} -j {SVL}"),
            ],
            "{out}"
        );
        assert_eq!(declared(&out, SVL), 1);
        assert_eq!(
            rules_of(&out, SVL),
            [format!(
                "-A {SVL} -m comment --comment \"default/web -> 198.18.1.3:8080\" -j {}",
                sep(3)
            )]
        );
        assert_eq!(rules_of(&out, SVC).len(), 4, "masquerade + 3 endpoints");
        for h in [2, 3, 4] {
            assert_eq!(declared(&out, &sep(h)), 1, "{h}");
        }
        assert!(rules_of(&out, "KUBE-EXTERNAL-SERVICES").is_empty());
        let active: BTreeSet<String> =
            [EXT.into(), SVC.into(), SVL.into(), sep(2), sep(3), sep(4)].into();
        assert_eq!(active_chains(&[svc.clone()]), active);
        // With affinity, KUBE-SVL checks its endpoints' `recent` lists too.
        svc.affinity = Some(60);
        let out = render(&[svc], &full());
        let s3 = sep(3);
        assert_eq!(
            rules_of(&out, SVL)[0],
            format!(
                "-A {SVL} -m comment --comment \"default/web -> 198.18.1.3:8080\" -m recent --name {s3} --rcheck --seconds 60 --reap -j {s3}"
            )
        );
    }

    /// externalTrafficPolicy Local on a node without local endpoints:
    /// `externalTrafficFilterTarget` DROP "has no local endpoints" for the
    /// NodePort on local addresses, while KUBE-EXT still short-circuits
    /// pod and node traffic (usesExternalTrafficChain: hasEndpoints). A
    /// service without endpoints anywhere: REJECT, and no nat rule.
    #[test]
    fn local_policy_without_local_endpoints_drops_the_node_port_no_endpoints_rejects() {
        let mut svc = web(&[ep(3)]);
        svc.node_port = Some(node_port(&[], true));
        svc.node_port.as_mut().unwrap().none_local = true;
        let out = render(&[svc.clone()], &full());
        assert_eq!(
            rules_of(&out, "KUBE-EXTERNAL-SERVICES"),
            [
                "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/web has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP"
            ],
            "{out}"
        );
        assert_eq!(rules_of(&out, "KUBE-NODEPORTS").len(), 1);
        let ext = rules_of(&out, EXT);
        assert_eq!(ext.len(), 3, "{out}");
        assert!(ext.iter().all(|r| !r.contains("KUBE-SVL")));
        assert!(!out.contains("KUBE-SVL-"));
        // No endpoints at all, either policy.
        for local in [true, false] {
            let mut none = web(&[]);
            none.node_port = Some(node_port(&[], local));
            let out = render(&[none.clone()], &full());
            assert_eq!(
                rules_of(&out, "KUBE-EXTERNAL-SERVICES"),
                [
                    "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/web has no endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT"
                ]
            );
            assert!(out.contains(
                "\"default/web has no endpoints\" -m tcp -p tcp -d 198.19.0.10 --dport 80 -j REJECT"
            ));
            assert!(rules_of(&out, "KUBE-NODEPORTS").is_empty());
            assert!(!out.contains("KUBE-EXT-"));
            assert!(active_chains(&[none]).is_empty());
        }
    }

    /// internalTrafficPolicy Local with a NodePort: ClusterIP traffic goes
    /// to KUBE-SVL (the node's own list, with the off-cluster masquerade
    /// rule), NodePort traffic under Cluster to KUBE-SVC; no local
    /// endpoint drops ClusterIP traffic only.
    #[test]
    fn internal_local_with_a_node_port_dispatches_cluster_ip_traffic_from_kube_svl() {
        let mut svc = web(&[ep(2)]);
        let mut np = node_port(&[ep(2), ep(3)], false);
        np.internal_local = true;
        svc.node_port = Some(np);
        let out = render(&[svc.clone()], &full());
        assert!(out.contains(&format!(
            "-A KUBE-SERVICES -m comment --comment \"default/web cluster IP\" -m tcp -p tcp -d 198.19.0.10 --dport 80 -j {SVL}"
        )));
        assert_eq!(
            rules_of(&out, SVL),
            [
                format!(
                    "-A {SVL} -m comment --comment \"default/web cluster IP\" -m tcp -p tcp -d 198.19.0.10 --dport 80 ! -s 198.18.0.0/16 -j KUBE-MARK-MASQ"
                ),
                format!(
                    "-A {SVL} -m comment --comment \"default/web -> 198.18.1.2:8080\" -j {}",
                    sep(2)
                ),
            ]
        );
        assert_eq!(
            rules_of(&out, SVC).len(),
            2,
            "no masquerade rule: 2 endpoints"
        );
        assert_eq!(rules_of(&out, EXT)[1], format!("-A {EXT} -j {SVC}"));
        // None here: ClusterIP traffic dropped, the NodePort still served.
        svc.endpoints.clear();
        svc.none_local = true;
        let out = render(&[svc], &full());
        assert!(out.contains(
            "\"default/web has no local endpoints\" -m tcp -p tcp -d 198.19.0.10 --dport 80 -j DROP"
        ));
        assert!(!out.contains(SVL));
        assert_eq!(rules_of(&out, "KUBE-NODEPORTS").len(), 1);
        assert!(rules_of(&out, "KUBE-EXTERNAL-SERVICES").is_empty());
    }

    /// Both policies Local: ClusterIP and external traffic use the node's
    /// own endpoints (KUBE-SVL), and the short-circuit rules for pod and
    /// node sources still go to KUBE-SVC with the cluster-wide list
    /// (`UsesClusterEndpoints()` under externalTrafficPolicy Local).
    #[test]
    fn both_policies_local_short_circuit_to_the_cluster_wide_chain() {
        let mut svc = web(&[ep(3)]);
        let mut np = node_port(&[ep(3)], true);
        np.internal_local = true;
        np.cluster = vec![ep(2), ep(3), ep(4)];
        svc.node_port = Some(np);
        let out = render(&[svc.clone()], &full());
        assert!(out.contains(&format!(
            "-A KUBE-SERVICES -m comment --comment \"default/web cluster IP\" -m tcp -p tcp -d 198.19.0.10 --dport 80 -j {SVL}"
        )));
        assert_eq!(rules_of(&out, EXT)[0].rsplit(' ').next(), Some(SVC));
        let last = format!("-A {EXT} -j {SVL}");
        assert_eq!(rules_of(&out, EXT).last(), Some(&last.as_str()));
        // The ClusterIP's masquerade rule is in the internal chain (SVL).
        assert_eq!(rules_of(&out, SVC).len(), 3, "3 endpoints");
        for h in [2, 3, 4] {
            assert_eq!(declared(&out, &sep(h)), 1, "{h}");
        }
        // Without the cluster-wide list there would be no KUBE-SVC at all.
        if let Some(np) = svc.node_port.as_mut() {
            np.cluster.clear();
        }
        assert!(!render(&[svc], &full()).contains(&format!(":{SVC} ")));
    }

    /// A service without a NodePort renders exactly as before NodePorts
    /// were written (the internal list in KUBE-SVC, nothing in
    /// KUBE-NODEPORTS).
    #[test]
    fn a_service_without_a_node_port_renders_as_before() {
        let svc = web(&[ep(2), ep(3)]);
        let plan = SyncPlan {
            changed: [svc.frontend].into(),
            ..SyncPlan::default()
        };
        let want = "\
*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x004000/0x004000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-LOLE4ISW44XBNF3G - [0:0]
:KUBE-SEP-XZ3O4FGFD7AGAPC3 - [0:0]
:KUBE-SEP-5YGQGYS4TCAS336Z - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x004000/0x004000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x004000
-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x004000
-A KUBE-SERVICES -m comment --comment \"default/web cluster IP\" -m tcp -p tcp -d 198.19.0.10 --dport 80 -j KUBE-SVC-LOLE4ISW44XBNF3G
-A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment \"default/web cluster IP\" -m tcp -p tcp -d 198.19.0.10 --dport 80 ! -s 198.18.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment \"default/web -> 198.18.1.2:8080\" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-XZ3O4FGFD7AGAPC3
-A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment \"default/web -> 198.18.1.3:8080\" -j KUBE-SEP-5YGQGYS4TCAS336Z
-A KUBE-SEP-XZ3O4FGFD7AGAPC3 -m comment --comment default/web -s 198.18.1.2/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-XZ3O4FGFD7AGAPC3 -m comment --comment default/web -m tcp -p tcp -j DNAT --to-destination 198.18.1.2:8080
-A KUBE-SEP-5YGQGYS4TCAS336Z -m comment --comment default/web -s 198.18.1.3/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-5YGQGYS4TCAS336Z -m comment --comment default/web -m tcp -p tcp -j DNAT --to-destination 198.18.1.3:8080
-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS
COMMIT
";
        assert_eq!(render(std::slice::from_ref(&svc), &plan), want);
        assert_eq!(
            svc.counter_keys(),
            [(svc.frontend, ep(2)), (svc.frontend, ep(3))]
        );
    }

    /// Partial syncs: a change of the NodePort's external list (Local
    /// policy) rewrites that service's KUBE-EXT/KUBE-SVC chains; its
    /// KUBE-SVL, now without endpoints, is flushed and deleted, and
    /// comes back when the node has an endpoint again. Another service's
    /// chains are left alone; KUBE-NODEPORTS and the filter chains are
    /// rewritten whole every sync.
    #[test]
    fn partial_sync_after_a_node_port_list_change_rewrites_its_chains() {
        let mut svc = web(&[ep(2), ep(3)]);
        svc.node_port = Some(node_port(&[ep(2)], true));
        let mut api = web(&[ep(5)]);
        api.name = "api".into();
        api.frontend = Frontend::tcp(std::net::Ipv4Addr::new(198, 19, 0, 11), 443);
        let api_svc = svc_chain("api", Protocol::Tcp);
        let sync = |before: &[ServiceRules], after: &[ServiceRules]| {
            let stale = active_chains(before)
                .difference(&active_chains(after))
                .cloned()
                .collect();
            let plan = SyncPlan {
                changed: [after[0].frontend].into(),
                stale,
                ..SyncPlan::default()
            };
            render(after, &plan)
        };
        let v1 = [svc.clone(), api.clone()];
        // The node's endpoint goes: KUBE-SVL is stale.
        let np = svc.node_port.as_mut().unwrap();
        np.endpoints.clear();
        np.none_local = true;
        let v2 = [svc.clone(), api.clone()];
        let out = sync(&v1, &v2);
        assert_eq!(declared(&out, SVL), 1, "flushed");
        assert!(out.contains(&format!("\n-X {SVL}\n")), "{out}");
        assert!(rules_of(&out, SVL).is_empty());
        assert_eq!(declared(&out, EXT), 1, "rewritten");
        assert_eq!(rules_of(&out, EXT).len(), 3);
        assert_eq!(declared(&out, SVC), 1);
        assert!(out.contains("has no local endpoints\" -m addrtype --dst-type LOCAL"));
        assert_eq!(rules_of(&out, "KUBE-NODEPORTS").len(), 1);
        assert_eq!(declared(&out, &api_svc), 0, "api is unchanged");
        assert!(out.contains(&format!("--dport 443 -j {api_svc}")));
        assert!(!out.contains("-X KUBE-SEP-"), "ep(2) is still in KUBE-SVC");
        // Another endpoint here: KUBE-SVL again, with it.
        let np = svc.node_port.as_mut().unwrap();
        np.endpoints = vec![ep(3)];
        np.none_local = false;
        let v3 = [svc.clone(), api];
        let out = sync(&v2, &v3);
        assert!(!out.contains("-X "), "{out}");
        assert_eq!(
            rules_of(&out, SVL),
            [format!(
                "-A {SVL} -m comment --comment \"default/web -> 198.18.1.3:8080\" -j {}",
                sep(3)
            )]
        );
        assert_eq!(
            rules_of(&out, EXT).last().unwrap(),
            &format!("-A {EXT} -j {SVL}")
        );
        assert!(rules_of(&out, "KUBE-EXTERNAL-SERVICES").is_empty());
        // Closing the NodePort: KUBE-EXT and KUBE-SVL are deleted.
        svc.node_port = None;
        let out = sync(&v3, &[svc]);
        assert!(out.contains(&format!("\n-X {EXT}\n")) && out.contains(&format!("\n-X {SVL}\n")));
        assert!(rules_of(&out, "KUBE-NODEPORTS").is_empty());
    }

    /// svclab's counter keys: NodePort connections have the node's
    /// address and NodePort as their original destination, one key per
    /// endpoint external traffic or its short-circuit can reach.
    #[test]
    fn node_port_connections_are_counted_by_node_address_and_port() {
        let mut svc = web(&[ep(2), ep(3)]);
        svc.node_port = Some(node_port(&[ep(3)], true));
        let np = Frontend::tcp(std::net::Ipv4Addr::new(198, 19, 255, 1), 30080);
        let f = svc.frontend;
        assert_eq!(
            svc.counter_keys(),
            [(f, ep(2)), (f, ep(3)), (np, ep(2)), (np, ep(3))]
        );
        let out = render(
            &[svc.clone()],
            &SyncPlan {
                full: true,
                new_counters: svc.counter_keys(),
                ..SyncPlan::default()
            },
        );
        assert!(out.contains(
            "-A SVCLAB-BACKENDS -m comment --comment \"svclab new 198.19.255.1:30080 198.18.1.3:8080\" -m conntrack --ctstate NEW --ctproto tcp --ctorigdst 198.19.255.1/32 --ctorigdstport 30080 -p tcp -d 198.18.1.3/32 -m tcp --dport 8080"
        ), "{out}");
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
