//! Services → suite services: the selector matched against the workloads'
//! pod template labels, one suite service per (Service, port) (a suite
//! service has one port), named target ports resolved through the selected
//! pods' containers, type, traffic policies and session affinity, and the
//! ClusterIP remapped into svclab's sealed range with the original beside it.
//!
//! Decision on selectors: one that matches no workload of the input is bad
//! input (the suite would have no endpoints for it); one that matches
//! several maps to the first in input order and is listed as not mapped
//! (a suite service selects one deployment; Kubernetes would spread the
//! traffic over all of them).
use std::{collections::BTreeMap, net::Ipv4Addr};

use k8s_openapi::{api::core::v1::Service, apimachinery::pkg::util::intstr::IntOrString};
use svclab_suite::model::{self, ServiceType, SessionAffinity, TrafficDistribution, TrafficPolicy};

use super::{context::Context, error::ImportError, read::Object, workload::Workload};

/// The first ClusterIP handed out: 198.19.0.10, then .11, ...
const FIRST_IP: u8 = 10;
/// The last: 198.19.0.254 (the suite takes .1..=.254).
const LAST_IP: u8 = 254;

/// A Service as read.
#[derive(Clone, Debug)]
pub(crate) struct Read {
    pub obj: usize,
    pub svc: Service,
}

pub(crate) fn read(_cx: &mut Context, i: usize, o: &Object) -> Result<Read, ImportError> {
    Ok(Read {
        obj: i,
        svc: o.typed()?,
    })
}

/// A suite service with the comments its fields carry.
#[derive(Clone, Debug)]
pub(crate) struct Mapped {
    pub model: model::Service,
    pub head: Vec<String>,
    pub comments: BTreeMap<String, String>,
}

/// Maps every Service, and tells each selected workload which container
/// port serves (the first Service port that targets it).
pub(crate) fn map(
    cx: &mut Context,
    objects: &[Object],
    workloads: &mut [Workload],
    services: &[Read],
) -> Result<Vec<Mapped>, ImportError> {
    let mut out = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let mut next_ip = u16::from(FIRST_IP);
    for r in services {
        let (i, o) = (r.obj, &objects[r.obj]);
        let spec = r.svc.spec.clone().unwrap_or_default();
        let kind = spec.type_.clone().unwrap_or_else(|| "ClusterIP".to_owned());
        cx.used(i, "spec.type");
        if kind == "ExternalName" {
            cx.object_note(
                i,
                "an ExternalName Service is a DNS alias with no endpoints",
            );
            continue;
        }
        let selector = spec.selector.clone().unwrap_or_default();
        if selector.is_empty() {
            cx.object_note(
                i,
                "a Service without a selector has hand-made endpoints; svclab's services select a deployment",
            );
            continue;
        }
        cx.used(i, "spec.selector");
        if spec.cluster_ip.as_deref() == Some("None") {
            cx.object_note(
                i,
                "a headless Service (clusterIP: None) has no virtual IP: clients resolve pod IPs through DNS, which svclab does not model",
            );
            continue;
        }
        let matches: Vec<usize> = workloads
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                objects[w.obj].namespace() == o.namespace()
                    && selector.iter().all(|(k, v)| w.labels.get(k) == Some(v))
            })
            .map(|(k, _)| k)
            .collect();
        let shown = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let Some(&wi) = matches.first() else {
            let have: Vec<String> = workloads
                .iter()
                .map(|w| {
                    let ns = objects[w.obj].namespace();
                    format!(
                        "{} {} {{{}}}{}",
                        objects[w.obj].origin.kind,
                        objects[w.obj].origin.name,
                        shown(&w.labels),
                        if ns == "default" {
                            String::new()
                        } else {
                            format!(" in namespace {ns}")
                        }
                    )
                })
                .collect();
            return Err(o.bad(
                "spec.selector",
                format!(
                    "{{{}}} matches no pod template in namespace {} of the input; expected the labels of a Deployment, StatefulSet or ReplicaSet pod template: {}",
                    shown(&selector),
                    o.namespace(),
                    have.join("; ")
                ),
            ));
        };
        if matches.len() > 1 {
            let others: Vec<&str> = matches[1..]
                .iter()
                .map(|k| objects[workloads[*k].obj].origin.name.as_str())
                .collect();
            cx.warn(
                i,
                "spec.selector",
                format!(
                    "also selects the pods of {}: a suite service selects one deployment, so `{}` gets all the traffic Kubernetes would spread over them",
                    others.join(", "),
                    workloads[wi].name
                ),
            );
        }
        // The suite's ClusterIPs are 198.19.0.1..=254: .254 is the last.
        let ip_octet = u8::try_from(next_ip)
            .ok()
            .filter(|n| *n <= LAST_IP)
            .ok_or_else(|| {
                o.bad(
                    "spec.clusterIP",
                    format!("more Services than 198.19.0.{FIRST_IP}..={LAST_IP} holds"),
                )
            })?;
        next_ip += 1;
        let cluster_ip = Ipv4Addr::new(198, 19, 0, ip_octet);
        let ip_comment = match spec.cluster_ip.as_deref() {
            Some(ip) if !ip.is_empty() => format!("was {ip}"),
            _ => "the manifest has none (a render, not a live object)".to_owned(),
        };
        cx.used(i, "spec.clusterIP");
        cx.used(i, "spec.clusterIPs");
        let ports = spec.ports.clone().unwrap_or_default();
        let tcp: Vec<usize> = ports
            .iter()
            .enumerate()
            .filter(|(j, p)| {
                let tcp = p.protocol.as_deref().unwrap_or("TCP") == "TCP";
                if !tcp {
                    cx.why(
                        i,
                        format!("spec.ports[{j}]"),
                        format!(
                            "protocol {}: svclab's services are TCP only",
                            p.protocol.as_deref().unwrap_or_default()
                        ),
                    );
                }
                tcp
            })
            .map(|(j, _)| j)
            .collect();
        if tcp.is_empty() {
            return Err(o.bad("spec.ports", "expected at least one TCP port"));
        }
        let (service_type, lb) = match kind.as_str() {
            "ClusterIP" => (ServiceType::ClusterIP, false),
            "NodePort" => (ServiceType::NodePort, false),
            "LoadBalancer" => (ServiceType::NodePort, true),
            other => {
                return Err(o.bad(
                    "spec.type",
                    format!(
                        "expected ClusterIP, NodePort, LoadBalancer or ExternalName, got {other:?}"
                    ),
                ));
            }
        };
        if lb {
            cx.warn(
                i,
                "spec.type",
                "LoadBalancer is mapped to NodePort: svclab has no cloud load balancer; `external` clients send to a node's NodePort, as the load balancer would",
            );
            for key in [
                "loadBalancerIP",
                "loadBalancerSourceRanges",
                "loadBalancerClass",
                "allocateLoadBalancerNodePorts",
            ] {
                cx.why(
                    i,
                    format!("spec.{key}"),
                    "svclab has no cloud load balancer",
                );
            }
        }
        let session_affinity = match spec.session_affinity.as_deref() {
            Some("ClientIP") => SessionAffinity::ClientIp,
            Some("None") | None => SessionAffinity::None,
            Some(other) => {
                return Err(o.bad(
                    "spec.sessionAffinity",
                    format!("expected None or ClientIP, got {other:?}"),
                ));
            }
        };
        cx.used(i, "spec.sessionAffinity");
        let timeout = spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds);
        let session_affinity_timeout = match timeout {
            Some(t) if session_affinity == SessionAffinity::ClientIp => {
                let path = "spec.sessionAffinityConfig.clientIP.timeoutSeconds";
                cx.used(i, path);
                let t = u64::try_from(t)
                    .ok()
                    .filter(|t| (1..=86_400).contains(t))
                    .ok_or_else(|| {
                        o.bad(
                            path,
                            format!(
                                "expected seconds 1..=86400 (Kubernetes rejects others), got {t}"
                            ),
                        )
                    })?;
                Some(model::Dur::from_secs(t))
            }
            _ => None,
        };
        let policy = |path: &str, v: Option<&str>| match v {
            Some("Local") => Ok(TrafficPolicy::Local),
            Some("Cluster") | None => Ok(TrafficPolicy::Cluster),
            Some(other) => Err(o.bad(path, format!("expected Cluster or Local, got {other:?}"))),
        };
        let internal_traffic_policy = policy(
            "spec.internalTrafficPolicy",
            spec.internal_traffic_policy.as_deref(),
        )?;
        cx.used(i, "spec.internalTrafficPolicy");
        let external_traffic_policy = match service_type {
            ServiceType::NodePort => {
                cx.used(i, "spec.externalTrafficPolicy");
                Some(policy(
                    "spec.externalTrafficPolicy",
                    spec.external_traffic_policy.as_deref(),
                )?)
            }
            ServiceType::ClusterIP => None,
        };
        cx.why(
            i,
            "spec.healthCheckNodePort",
            "kube-proxy's health-check port for externalTrafficPolicy Local is not modelled",
        );
        let traffic_distribution = match spec.traffic_distribution.as_deref() {
            None => None,
            Some("PreferClose") => {
                cx.used(i, "spec.trafficDistribution");
                Some(TrafficDistribution::PreferClose)
            }
            Some(other) => {
                cx.why(
                    i,
                    "spec.trafficDistribution",
                    format!("{other}: svclab models PreferClose only"),
                );
                None
            }
        };
        for (key, why) in [
            (
                "externalIPs",
                "svclab's external clients reach a NodePort, not external IPs",
            ),
            (
                "publishNotReadyAddresses",
                "svclab's endpoints are the ready pods only",
            ),
        ] {
            cx.why(i, format!("spec.{key}"), why);
        }

        let w = &mut workloads[wi];
        let several = tcp.len() > 1;
        for &j in &tcp {
            let p = &ports[j];
            let pp = format!("spec.ports[{j}]");
            let port = u16::try_from(p.port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    o.bad(
                        &format!("{pp}.port"),
                        format!("expected 1..=65535, got {}", p.port),
                    )
                })?;
            cx.used(i, format!("{pp}.port"));
            cx.used(i, format!("{pp}.protocol"));
            cx.used(i, format!("{pp}.name"));
            let tpath = format!("{pp}.targetPort");
            let (target, container, target_note) =
                target(o, &tpath, w, p.target_port.as_ref(), port)?;
            cx.used(i, tpath);
            if w.serving.is_none() {
                w.serving = Some((container.unwrap_or(0), target));
            }
            let serving = w.serving.map(|(_, p)| p);
            if serving != Some(target) {
                cx.warn(
                    i,
                    format!("{pp}.targetPort"),
                    format!(
                        "targets port {target}, but the pod's server listens on {} only (the port the first Service targets)",
                        serving.unwrap_or_default()
                    ),
                );
            }
            let base = super::workload::label_name(&o.origin.name);
            let mut name = if several {
                let suffix = p.name.clone().unwrap_or_else(|| port.to_string());
                let suffix = super::workload::label_name(&suffix);
                let keep = 40 - suffix.len().min(39) - 1;
                format!(
                    "{}-{suffix}",
                    base.chars()
                        .take(keep)
                        .collect::<String>()
                        .trim_end_matches('-')
                )
            } else {
                base
            };
            let mut n = 2;
            let stem = name.clone();
            while !names.insert(name.clone()) {
                name = format!("{}-{n}", stem.chars().take(37).collect::<String>());
                n += 1;
            }
            let node_port = match (service_type, p.node_port) {
                (ServiceType::NodePort, Some(np)) => {
                    let npath = format!("{pp}.nodePort");
                    match u16::try_from(np)
                        .ok()
                        .filter(|n| model::NODE_PORT_RANGE.contains(n))
                    {
                        Some(n) => {
                            cx.used(i, npath);
                            Some(n)
                        }
                        None => {
                            cx.why(i, npath, format!("{np} is outside 30000..=32767, the range svclab's nodes serve; the lowest free one is used"));
                            None
                        }
                    }
                }
                _ => None,
            };
            if service_type == ServiceType::ClusterIP && p.node_port.is_some() {
                cx.why(
                    i,
                    format!("{pp}.nodePort"),
                    "a ClusterIP Service has no NodePort",
                );
            }
            cx.why(
                i,
                format!("{pp}.appProtocol"),
                "svclab's clients speak HTTP/1.1 whatever the app protocol",
            );
            let mut comments = BTreeMap::new();
            comments.insert("cluster_ip".into(), ip_comment.clone());
            comments.insert("port".into(), format!("{pp}.port; {target_note}"));
            comments.insert(
                "selector".into(),
                format!(
                    "selector {{{}}}: {} {}",
                    shown(&selector),
                    objects[w.obj].origin.kind,
                    objects[w.obj].origin.name
                ),
            );
            if lb {
                comments.insert("type".into(), "LoadBalancer in the manifest".into());
            }
            out.push(Mapped {
                model: model::Service {
                    name,
                    cluster_ip,
                    port,
                    target_port: (serving != Some(target)).then_some(target),
                    protocol: model::ProtocolSpec::Tcp,
                    selector: w.name.clone(),
                    session_affinity,
                    session_affinity_timeout,
                    internal_traffic_policy,
                    traffic_distribution,
                    service_type,
                    node_port,
                    external_traffic_policy,
                },
                head: vec![format!(
                    "from Service {} port {}, {} document {}{}",
                    o.origin.name,
                    p.name.as_deref().unwrap_or(&port.to_string()),
                    o.origin.file,
                    o.origin.doc,
                    o.origin.item()
                )],
                comments,
            });
        }
    }
    Ok(out)
}

/// The port a Service port sends to, the container declaring it, and a
/// note: absent → the Service port; a number as is; a name through the
/// selected pods' containers (any container, as the EndpointSlice
/// controller resolves it).
fn target(
    o: &Object,
    path: &str,
    w: &Workload,
    v: Option<&IntOrString>,
    port: u16,
) -> Result<(u16, Option<usize>, String), ImportError> {
    let declared = |n: u16| {
        w.pod.containers.iter().position(|c| {
            c.ports
                .iter()
                .flatten()
                .any(|p| u16::try_from(p.container_port).ok() == Some(n))
        })
    };
    // A numeric string is the number, as a probe's port reads it.
    let numeric = match v {
        Some(IntOrString::String(s)) => s.parse::<i32>().ok().map(IntOrString::Int),
        _ => None,
    };
    let v = numeric.as_ref().or(v);
    match v {
        // Kubernetes defaults an unset, 0 or "" targetPort to the port.
        None | Some(IntOrString::Int(0)) => {
            Ok((port, declared(port), format!("targetPort not set: {port}")))
        }
        Some(IntOrString::String(s)) if s.is_empty() => {
            Ok((port, declared(port), format!("targetPort not set: {port}")))
        }
        Some(IntOrString::Int(n)) => {
            let n = u16::try_from(*n).ok().filter(|n| *n > 0).ok_or_else(|| {
                o.bad(
                    path,
                    format!("expected a port 1..=65535 or a port name, got {n}"),
                )
            })?;
            Ok((n, declared(n), format!("targetPort {n}")))
        }
        Some(IntOrString::String(name)) => {
            for (ci, c) in w.pod.containers.iter().enumerate() {
                if let Some(p) = c
                    .ports
                    .iter()
                    .flatten()
                    .find(|p| p.name.as_deref() == Some(name.as_str()))
                    && let Ok(n) = u16::try_from(p.container_port)
                {
                    return Ok((
                        n,
                        Some(ci),
                        format!("targetPort {name} = {n} (container {})", c.name),
                    ));
                }
            }
            let names: Vec<String> = w
                .pod
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten().filter_map(|p| p.name.clone()))
                .collect();
            Err(o.bad(
                path,
                format!(
                    "no container port named {name:?} in the pods it selects ({}); expected one of: {}",
                    w.name,
                    if names.is_empty() {
                        "(their containers name no ports)".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ))
        }
    }
}
