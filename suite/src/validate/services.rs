//! The `services` section: names, ClusterIP frontends (inside the service
//! CIDR, each (ip, port) once) and the deployment each one selects.
use std::{
    collections::{HashMap, HashSet},
    net::Ipv4Addr,
};

use super::checker::Checker;
use crate::{
    expected::{CLUSTER_IP, PORT},
    model::{NODE_PORT_RANGE, Service, ServiceType, SessionAffinity, TrafficPolicy},
};

/// `deployments` are the deployment names a selector may refer to.
/// `zoned`: the nodes carry zone labels.
pub(super) fn check(
    c: &mut Checker<'_>,
    services: &[Service],
    deployments: &HashSet<&str>,
    zoned: bool,
) {
    let mut seen = HashMap::new();
    let mut node_ports: HashMap<u16, usize> = HashMap::new();
    let mut frontends: HashMap<(Ipv4Addr, u16), usize> = HashMap::new();
    for (i, s) in services.iter().enumerate() {
        let p = format!("services[{i}]");
        c.name(&format!("{p}.name"), &s.name, "service", &mut seen);
        let [a, b, cc, d] = s.cluster_ip.octets();
        let ip_ok = [a, b, cc] == [198, 19, 0] && d != 0 && d != 255;
        c.expect(ip_ok, &format!("{p}.cluster_ip"), CLUSTER_IP, s.cluster_ip);
        c.expect(s.port != 0, &format!("{p}.port"), PORT, s.port);
        if let Some(tp) = s.target_port {
            c.expect(tp != 0, &format!("{p}.target_port"), PORT, tp);
        }
        if let Some(first) = frontends.get(&(s.cluster_ip, s.port)) {
            c.fail(
                &format!("{p}.cluster_ip"),
                format!(
                    "{}:{} is already the frontend of service `{}` (services[{first}]); each (cluster_ip, port) must be unique",
                    s.cluster_ip, s.port, services[*first].name
                ),
            );
        } else {
            frontends.insert((s.cluster_ip, s.port), i);
        }
        c.reference(
            &format!("{p}.selector"),
            &s.selector,
            "deployment",
            deployments,
        );
        if s.traffic_distribution.is_some() && !zoned {
            c.fail(
                &format!("{p}.traffic_distribution"),
                "PreferClose routes by zone: give the nodes zones (`cluster.zones`, one per node)"
                    .to_owned(),
            );
        }
        node_port(c, &p, s, i, services, &mut node_ports);
        if let Some(t) = s.session_affinity_timeout {
            // ValidateService: timeoutSeconds in (0, 86400], and the config
            // only with ClientIP (pkg/apis/core/validation/validation.go
            // validateClientIPAffinityConfig).
            let tp = format!("{p}.session_affinity_timeout");
            c.expect(
                (1..=86_400).contains(&t.0.as_secs()) && t.0.subsec_nanos() == 0,
                &tp,
                "whole seconds from 1s to 86400s",
                t,
            );
            if s.session_affinity != SessionAffinity::ClientIp {
                c.fail(
                    &tp,
                    "a timeout goes with `session_affinity: ClientIP` (Kubernetes rejects sessionAffinityConfig otherwise)".to_owned(),
                );
            }
        }
    }
}

/// `type: NodePort` and what goes with it (pkg/apis/core/validation
/// validation.go `ValidateService`: `externalTrafficPolicy` only for
/// NodePort/LoadBalancer, a nodePort only on those types; the port
/// allocator: inside the range, each port once).
fn node_port(
    c: &mut Checker<'_>,
    p: &str,
    s: &Service,
    i: usize,
    services: &[Service],
    seen: &mut HashMap<u16, usize>,
) {
    let node_port = s.service_type == ServiceType::NodePort;
    if !node_port {
        if s.node_port.is_some() {
            c.fail(
                &format!("{p}.node_port"),
                "a node_port goes with `type: NodePort`".to_owned(),
            );
        }
        if s.external_traffic_policy.is_some() {
            c.fail(
                &format!("{p}.external_traffic_policy"),
                "externalTrafficPolicy applies to `type: NodePort` (Kubernetes rejects it on a ClusterIP service)".to_owned(),
            );
        }
        return;
    }
    let Some(np) = s.node_port else {
        return;
    };
    c.expect(
        NODE_PORT_RANGE.contains(&np),
        &format!("{p}.node_port"),
        "a port in 30000..=32767 (the default --service-node-port-range)",
        np,
    );
    if let Some(first) = seen.get(&np) {
        c.fail(
            &format!("{p}.node_port"),
            format!(
                "{np} is already the NodePort of service `{}` (services[{first}]); each NodePort once",
                services[*first].name
            ),
        );
    } else {
        seen.insert(np, i);
    }
}

/// The Service features the engine's release does not have, as (field,
/// message) pairs: exit 2 with the release that added each. Cilium:
/// internalTrafficPolicy from v1.13.0 (commit 787cca32b6, "bpf: Add support
/// for internalTrafficPolicy=Local"; v1.11.0 and v1.12.0 pkg/k8s/service.go
/// do not read the field), so the cilium-1.11 and cilium-1.12 profiles lack
/// it; trafficDistribution from v1.16.0 (PR 32678; v1.16.0
/// pkg/k8s/service.go:69-73); NodePort and externalTrafficPolicy Local
/// before v1.11, so every profile has them. Socket-LB models v1.16.0 and
/// kube-proxy v1.31: both have every feature.
pub fn unsupported_features(
    services: &[Service],
    dp: &crate::model::DatapathSpec,
) -> Vec<(String, String)> {
    use crate::model::{EngineSpec, ProfileSpec};
    if dp.engine != EngineSpec::Ebpf {
        return Vec::new();
    }
    let old = |since: ProfileSpec| dp.profile < since;
    let name = serde_yaml::to_string(&dp.profile)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let mut v = Vec::new();
    for (i, s) in services.iter().enumerate() {
        let p = format!("services[{i}]");
        if s.internal_traffic_policy == TrafficPolicy::Local && old(ProfileSpec::Cilium1_15) {
            v.push((
                format!("{p}.internal_traffic_policy"),
                format!(
                    "profile {name} has no internalTrafficPolicy: Cilium added it in v1.13.0; use cilium-1.15 or later"
                ),
            ));
        }
        if s.traffic_distribution.is_some() && old(ProfileSpec::Cilium1_16) {
            v.push((
                format!("{p}.traffic_distribution"),
                format!(
                    "profile {name} has no trafficDistribution: Cilium added it in v1.16.0; use cilium-1.16"
                ),
            ));
        }
    }
    v
}
