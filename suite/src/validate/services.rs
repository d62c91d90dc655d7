//! The `services` section: names, ClusterIP frontends (inside the service
//! CIDR, each (ip, port) once) and the deployment each one selects.
use std::{
    collections::{HashMap, HashSet},
    net::Ipv4Addr,
};

use super::checker::Checker;
use crate::{
    expected::{CLUSTER_IP, PORT},
    model::{Service, SessionAffinity},
};

/// `deployments` are the deployment names a selector may refer to.
pub(super) fn check(c: &mut Checker<'_>, services: &[Service], deployments: &HashSet<&str>) {
    let mut seen = HashMap::new();
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
